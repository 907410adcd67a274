/* test_online.c - the online clusterer: bad input leaves it unchanged,
 * stable ids by hand, and after any sequence of adds (random data, many
 * orders) the partition equals nid_cluster() with NID_CLUSTER_SINGLE. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "noduleid.h"
#include "test_util.h"

static uint64_t rng_state = 1;

static double urand(void) /* xorshift64*, in [0, 1) */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * UINT64_C(2685821657736338717)) >> 11) *
           0x1.0p-53;
}

static float *blobs(size_t n, size_t d, size_t k, double spread)
{
    float *c = malloc(k * d * sizeof *c), *x = malloc(n * d * sizeof *x);
    for (size_t i = 0; i < k * d; i++) c[i] = (float)(2 * urand() - 1);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            x[i * d + j] = c[(i % k) * d + j] + (float)(spread * (2 * urand() - 1));
    free(c);
    return x;
}

static void shuffle(size_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) p[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(urand() * i);
        size_t t = p[i - 1];
        p[i - 1] = p[j];
        p[j] = t;
    }
}

/* canonical relabelling of arbitrary label values */
static void canon(const int32_t *in, size_t n, int32_t *out)
{
    int32_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < i && in[j] != in[i]) j++;
        out[i] = j < i ? out[j] : k++;
    }
}

static nid_cluster_options opts_of(int metric, float tau)
{
    nid_cluster_options o;
    nid_cluster_options_init(&o);
    o.metric = metric;
    o.threshold = tau;
    o.method = NID_CLUSTER_AVERAGE; /* ignored by the online clusterer */
    return o;
}

static void assert_stable(const nid_online *oc, const int32_t *want, size_t n)
{
    int32_t got[16];
    size_t need = 0;
    ck_assert_int_eq(nid_online_labels(oc, 0, got, 16, &need), NID_OK);
    ck_assert_uint_eq(need, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "item %zu: id %d, want %d", i,
                      got[i], want[i]);
}

START_TEST(bad_input)
{
    nid_online *oc = (nid_online *)(intptr_t)1;
    nid_cluster_options o = opts_of(NID_METRIC_COSINE, 0.3f);
    ASSERT_ERR(nid_online_create(NULL, 2, &o), NID_EINVAL, "out is NULL");
    o.threshold = NAN;
    ASSERT_ERR(nid_online_create(&oc, 2, &o), NID_EINVAL, "threshold");
    o.threshold = 0.3f;
    o.metric = 7;
    ASSERT_ERR(nid_online_create(&oc, 2, &o), NID_EINVAL, "metric 7");
    o.metric = 0;
    o.struct_size = 8;
    ASSERT_ERR(nid_online_create(&oc, 2, &o), NID_EINVAL, "struct_size");
    ck_assert_ptr_eq(oc, (nid_online *)(intptr_t)1); /* untouched */

    o = opts_of(NID_METRIC_COSINE, 0.3f);
    ck_assert_int_eq(nid_online_create(&oc, 3, &o), NID_OK);
    float a[3] = {1, 0, 0};
    int32_t id = 77;
    ck_assert_int_eq(nid_online_add(oc, a, &id), NID_OK);
    ck_assert_int_eq(id, 0);
    id = 77;
    ASSERT_ERR(nid_online_add(NULL, a, &id), NID_EINVAL, "oc is NULL");
    ASSERT_ERR(nid_online_add(oc, NULL, &id), NID_EINVAL, "x is NULL");
    float nan3[3] = {1, 0, NAN};
    ASSERT_ERR(nid_online_add(oc, nan3, &id), NID_EINVAL, "x[2]");
    float zero[3] = {0, 0, 0};
    ASSERT_ERR(nid_online_add(oc, zero, &id), NID_EINVAL, "zero norm");
    float dist[1] = {0.1f};
    ASSERT_ERR(nid_online_add_dist(oc, dist, 1, &id), NID_EINVAL,
               "use nid_online_add");
    ck_assert_int_eq(id, 77);
    ck_assert_uint_eq(nid_online_size(oc), 1);
    ck_assert_uint_eq(nid_online_n_clusters(oc), 1);
    int32_t l[2] = {77, 77};
    size_t need = 0;
    ASSERT_ERR(nid_online_labels(oc, 1, l, 0, &need), NID_EBUFSIZE,
               "labels_cap = 0");
    ck_assert_uint_eq(need, 1);
    ASSERT_ERR(nid_online_labels(oc, 1, NULL, 2, &need), NID_EINVAL,
               "labels is NULL");
    ASSERT_ERR(nid_online_labels(NULL, 1, l, 2, &need), NID_EINVAL,
               "oc is NULL");
    ck_assert_int_eq(l[0], 77);
    nid_online_free(oc);

    /* the distance-fed mode */
    o.metric = 99; /* ignored when d == 0 */
    ck_assert_int_eq(nid_online_create(&oc, 0, &o), NID_OK);
    ASSERT_ERR(nid_online_add(oc, a, &id), NID_EINVAL, "d = 0");
    ck_assert_int_eq(nid_online_add_dist(oc, NULL, 0, &id), NID_OK);
    ASSERT_ERR(nid_online_add_dist(oc, dist, 0, &id), NID_EMISMATCH,
               "n_prev = 0 but the clusterer holds 1");
    ASSERT_ERR(nid_online_add_dist(oc, NULL, 1, &id), NID_EINVAL,
               "dist is NULL");
    float neg[1] = {-0.5f};
    ASSERT_ERR(nid_online_add_dist(oc, neg, 1, &id), NID_EINVAL,
               "dist[0] = -0.5");
    neg[0] = INFINITY;
    ASSERT_ERR(nid_online_add_dist(oc, neg, 1, &id), NID_EINVAL,
               "finite");
    ASSERT_ERR(nid_online_add_dist(NULL, dist, 1, &id), NID_EINVAL,
               "oc is NULL");
    ck_assert_uint_eq(nid_online_size(oc), 1);
    ck_assert_int_eq(nid_online_add_dist(oc, dist, 1, NULL), NID_OK);
    ck_assert_uint_eq(nid_online_n_clusters(oc), 1);
    ck_assert_str_eq(nid_last_error(), "");
    nid_online_free(oc);
    nid_online_free(NULL);
    ck_assert_uint_eq(nid_online_size(NULL), 0);
    ck_assert_uint_eq(nid_online_n_clusters(NULL), 0);
    nid_online_reset(NULL);
}
END_TEST

START_TEST(stable_ids_by_hand)
{
    /* 1-D euclidean, tau 6 */
    nid_cluster_options o = opts_of(NID_METRIC_EUCLIDEAN, 6.0f);
    nid_online *oc;
    ck_assert_int_eq(nid_online_create(&oc, 1, &o), NID_OK);
    const float v[6] = {0, 10, 20, 15, 100, 5};
    const int32_t ret[6] = {0, 1, 2, 1, 3, 0};
    const size_t k[6] = {1, 2, 3, 2, 3, 2};
    for (int i = 0; i < 6; i++) {
        int32_t id;
        ck_assert_int_eq(nid_online_add(oc, &v[i], &id), NID_OK);
        ck_assert_int_eq(id, ret[i]);
        ck_assert_uint_eq(nid_online_n_clusters(oc), k[i]);
        ck_assert_uint_eq(nid_online_size(oc), (size_t)i + 1);
        if (i == 3) {
            /* 15 links 10 and 20: cluster 2 merged into the older 1 */
            const int32_t want[4] = {0, 1, 1, 1};
            assert_stable(oc, want, 4);
        }
        if (i == 4) {
            /* id 2 is never reused */
            const int32_t want[5] = {0, 1, 1, 1, 3};
            assert_stable(oc, want, 5);
        }
    }
    const int32_t stable[6] = {0, 0, 0, 0, 3, 0};
    assert_stable(oc, stable, 6);
    int32_t l[6];
    ck_assert_int_eq(nid_online_labels(oc, 1, l, 6, NULL), NID_OK);
    const int32_t canonical[6] = {0, 0, 0, 0, 1, 0};
    for (int i = 0; i < 6; i++) ck_assert_int_eq(l[i], canonical[i]);
    /* ties at tau do not link; reset starts over */
    nid_online_reset(oc);
    ck_assert_uint_eq(nid_online_size(oc), 0);
    ck_assert_uint_eq(nid_online_n_clusters(oc), 0);
    ck_assert_int_eq(nid_online_labels(oc, 1, NULL, 0, NULL), NID_OK);
    const float w[2] = {1, 7};
    int32_t id;
    ck_assert_int_eq(nid_online_add(oc, &w[0], &id), NID_OK);
    ck_assert_int_eq(id, 0);
    ck_assert_int_eq(nid_online_add(oc, &w[1], &id), NID_OK);
    ck_assert_int_eq(id, 1);
    nid_online_free(oc);
}
END_TEST

/* Feed x in `order`; after every `step` adds compare with nid_cluster
 * (single) on the items added so far, and check that stable ids only
 * ever decrease (merges keep the oldest id). */
static void check_against_single(const float *x, size_t n, size_t d,
                                 int metric, float tau, const size_t *order,
                                 size_t step)
{
    nid_cluster_options o = opts_of(metric, tau);
    nid_online *oc;
    ck_assert_int_eq(nid_online_create(&oc, d, &o), NID_OK);
    float *sub = malloc(n * d * sizeof *sub);
    int32_t *on = malloc(n * sizeof *on), *prev = malloc(n * sizeof *prev),
            *batch = malloc(n * sizeof *batch);
    o.method = NID_CLUSTER_SINGLE;
    int32_t next_new = 0;
    for (size_t t = 0; t < n; t++) {
        memcpy(sub + t * d, x + order[t] * d, d * sizeof *sub);
        size_t k_before = nid_online_n_clusters(oc);
        int32_t id;
        ck_assert_int_eq(nid_online_add(oc, sub + t * d, &id), NID_OK);
        if (nid_online_n_clusters(oc) == k_before + 1)
            ck_assert_int_eq(id, next_new++); /* fresh ids in sequence */
        else
            ck_assert_int_lt(id, next_new);
        ck_assert_int_eq(nid_online_labels(oc, 0, on, n, NULL), NID_OK);
        ck_assert_int_eq(on[t], id);
        size_t grew = 0;
        for (size_t i = 0; i < t; i++) grew += on[i] > prev[i];
        ck_assert_uint_eq(grew, 0);
        memcpy(prev, on, (t + 1) * sizeof *on);
        if ((t + 1) % step && t + 1 != n) continue;
        size_t m = t + 1, kb;
        ck_assert_int_eq(nid_cluster(sub, m, d, &o, batch, n, &kb), NID_OK);
        ck_assert_int_eq(nid_online_labels(oc, 1, on, n, NULL), NID_OK);
        ck_assert_uint_eq(nid_online_n_clusters(oc), kb);
        size_t i = 0;
        while (i < m && on[i] == batch[i]) i++;
        ck_assert_msg(i == m, "after %zu adds item %zu: online %d, single "
                      "%d", m, i, on[i], batch[i]);
    }
    nid_online_free(oc);
    free(sub);
    free(on);
    free(prev);
    free(batch);
}

START_TEST(online_equals_single_random_orders)
{
    rng_state = 99;
    const size_t n = 240;
    size_t order[240];
    for (int metric = 0; metric < 2; metric++) {
        size_t d = metric ? 3 : 12;
        float *x = blobs(n, d, 30, 0.35);
        /* thresholds at a few levels, not tuned away from any distance:
         * both sides use the same canonical predicate */
        const float taus[3][2] = {{0.02f, 0.2f}, {0.06f, 0.45f},
                                  {0.15f, 0.8f}};
        for (int ti = 0; ti < 3; ti++) {
            for (int rep = 0; rep < 6; rep++) {
                shuffle(order, n);
                check_against_single(x, n, d, metric, taus[ti][metric],
                                     order, rep == 0 ? 1 : 37);
            }
        }
        free(x);
    }
}
END_TEST

START_TEST(online_dist_mode_equals_single)
{
    rng_state = 123;
    const size_t n = 150, d = 6;
    float *x = blobs(n, d, 15, 0.3);
    float *D = malloc(n * n * sizeof *D);
    ck_assert_int_eq(nid_distance_matrix(x, n, d, NID_METRIC_COSINE, 1, D,
                                         n * n, NULL), NID_OK);
    nid_cluster_options o = opts_of(NID_METRIC_COSINE, 0.05f);
    o.method = NID_CLUSTER_SINGLE;
    int32_t *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    size_t ka;
    ck_assert_int_eq(nid_cluster_dist(D, n, &o, a, n, &ka), NID_OK);
    ck_assert(ka > 1 && ka < n);
    nid_online *oc;
    ck_assert_int_eq(nid_online_create(&oc, 0, &o), NID_OK);
    float *row = malloc(n * sizeof *row);
    for (size_t i = 0; i < n; i++) {
        /* item i's distances to items 0..i-1: the upper triangle, as
         * nid_cluster_dist reads it */
        for (size_t j = 0; j < i; j++) row[j] = D[j * n + i];
        ck_assert_int_eq(nid_online_add_dist(oc, row, i, NULL), NID_OK);
    }
    ck_assert_int_eq(nid_online_labels(oc, 1, b, n, NULL), NID_OK);
    ck_assert_uint_eq(nid_online_n_clusters(oc), ka);
    ck_assert_mem_eq(a, b, n * sizeof *a);
    /* the partition does not depend on the order of arrival */
    size_t order[150];
    shuffle(order, n);
    nid_online_reset(oc);
    for (size_t t = 0; t < n; t++) {
        for (size_t s = 0; s < t; s++) {
            size_t i = order[t], j = order[s];
            row[s] = i < j ? D[i * n + j] : D[j * n + i];
        }
        ck_assert_int_eq(nid_online_add_dist(oc, row, t, NULL), NID_OK);
    }
    int32_t *c = malloc(n * sizeof *c), *back = malloc(n * sizeof *back);
    ck_assert_int_eq(nid_online_labels(oc, 0, c, n, NULL), NID_OK);
    for (size_t t = 0; t < n; t++) back[order[t]] = c[t];
    canon(back, n, c);
    ck_assert_mem_eq(a, c, n * sizeof *a);
    nid_online_free(oc);
    free(x);
    free(D);
    free(a);
    free(b);
    free(c);
    free(back);
    free(row);
}
END_TEST

Suite *nid__test_suite(void)
{
    Suite *s = suite_create("online");
    TCase *tc = tcase_create("online");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, stable_ids_by_hand);
    tcase_add_test(tc, online_equals_single_random_orders);
    tcase_add_test(tc, online_dist_mode_equals_single);
    suite_add_tcase(s, tc);
    return s;
}
