/* test_cluster.c - nid_distance_matrix, nid_cluster, nid_cluster_dist:
 * bad input, hand-made cases with known answers, consistency between the
 * embedding and matrix paths, thread counts and threads. The comparison
 * with scikit-learn / scipy is in py/check_cluster_sklearn.py. */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "noduleid.h"
#include "test_util.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#  define NID__TEST_SANITIZED 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#    define NID__TEST_SANITIZED 1
#  endif
#endif

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static uint64_t rng_state = 1;

static double urand(void) /* xorshift64*, in [0, 1) */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * UINT64_C(2685821657736338717)) >> 11) *
           0x1.0p-53;
}

static double nrand(void)
{
    double u = urand() + 1e-12, v = urand();
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* k Gaussian blobs around random centres; item i is in blob i % k. */
static float *blobs(size_t n, size_t d, size_t k, double spread, double off)
{
    float *c = malloc(k * d * sizeof *c), *x = malloc(n * d * sizeof *x);
    for (size_t i = 0; i < k * d; i++) c[i] = (float)nrand();
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            x[i * d + j] = (float)(off + c[(i % k) * d + j] + spread * nrand());
    free(c);
    return x;
}

static double ref_dist(const float *a, const float *b, size_t d, int metric)
{
    double ab = 0, aa = 0, bb = 0, ee = 0;
    for (size_t k = 0; k < d; k++) {
        ab += (double)a[k] * b[k];
        aa += (double)a[k] * a[k];
        bb += (double)b[k] * b[k];
        ee += ((double)a[k] - b[k]) * ((double)a[k] - b[k]);
    }
    return metric == NID_METRIC_COSINE ? 1.0 - ab / sqrt(aa * bb) : sqrt(ee);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A threshold in the middle of the widest gap between pairwise distances
 * near quantile q, so no pair lies within rounding error of it. */
static float gap_tau(const float *x, size_t n, size_t d, int metric, double q)
{
    size_t m = n * (n - 1) / 2, t = 0;
    double *v = malloc(m * sizeof *v);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            v[t++] = ref_dist(x + i * d, x + j * d, d, metric);
    qsort(v, m, sizeof *v, cmp_double);
    size_t lo = (size_t)(q * m * 0.9), hi = (size_t)(q * m * 1.1) + 1;
    if (hi >= m) hi = m - 1;
    size_t best = lo;
    for (size_t i = lo; i < hi; i++)
        if (v[i + 1] - v[i] > v[best + 1] - v[best]) best = i;
    float tau = (float)(0.5 * (v[best] + v[best + 1]));
    /* float32 distances are good to ~1e-7 relative */
    ck_assert_msg(v[best + 1] - v[best] > 4e-6 * (v[best] > 1 ? v[best] : 1),
                  "no clear gap near q=%g", q);
    free(v);
    return tau;
}

/* Same partition? (Labels are canonical, so equal partitions must give
 * equal arrays; this also checks canonicity.) */
static int canonical_ok(const int32_t *l, size_t n, size_t k)
{
    int32_t next = 0;
    for (size_t i = 0; i < n; i++) {
        if (l[i] < 0 || l[i] > next) return 0;
        if (l[i] == next) next++;
    }
    return (size_t)next == k;
}

static nid_cluster_options opts_of(int method, int metric, float tau)
{
    nid_cluster_options o;
    nid_cluster_options_init(&o);
    o.method = method;
    o.metric = metric;
    o.threshold = tau;
    return o;
}

static size_t run(const float *x, size_t n, size_t d, int method, int metric,
                  float tau, int32_t *labels)
{
    nid_cluster_options o = opts_of(method, metric, tau);
    size_t k = 12345;
    int rc = nid_cluster(x, n, d, &o, labels, n, &k);
    ck_assert_msg(rc == NID_OK, "nid_cluster: %s", nid_last_error());
    ck_assert_str_eq(nid_last_error(), "");
    ck_assert(canonical_ok(labels, n, k));
    return k;
}

/* (Check writes a record per passing assertion without fork: loops
 * find the first difference and assert once.) */
static void assert_labels(const int32_t *got, const int32_t *want, size_t n)
{
    size_t i = 0;
    while (i < n && got[i] == want[i]) i++;
    ck_assert_msg(i == n, "label %zu: got %d want %d", i, got[i], want[i]);
}

static void assert_untouched(const int32_t *l, size_t n)
{
    size_t i = 0;
    while (i < n && l[i] == 77) i++;
    ck_assert_msg(i == n, "labels[%zu] was overwritten", i);
}

/* ------------------------------------------------------------------------ */
/* Options                                                                  */
/* ------------------------------------------------------------------------ */

START_TEST(options_defaults)
{
    nid_cluster_options o;
    memset(&o, 0xab, sizeof o);
    nid_cluster_options_init(&o);
    ck_assert_uint_eq(o.struct_size, sizeof o);
    ck_assert_int_eq(o.method, NID_CLUSTER_PAPER);
    ck_assert_int_eq(o.metric, NID_METRIC_COSINE);
    ck_assert(o.threshold == 0.5f);
    ck_assert_uint_eq(o.seed, 0);
    ck_assert_int_eq(o.n_threads, 0);
    (nid_cluster_options_init)(NULL); /* ignored */
    nid_cluster_options_init_sized(NULL, sizeof(nid_cluster_options));
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Bad input                                                                */
/* ------------------------------------------------------------------------ */

START_TEST(bad_input_cluster)
{
    float x[6] = {1, 0, 0, 1, 1, 1};
    int32_t l[3] = {77, 77, 77};
    size_t k = 77;
    nid_cluster_options o = opts_of(NID_CLUSTER_SINGLE, NID_METRIC_COSINE, 0.5f);
    ASSERT_ERR(nid_cluster(NULL, 3, 2, &o, l, 3, &k), NID_EINVAL, "x is NULL");
    ASSERT_ERR(nid_cluster(x, 3, 2, &o, NULL, 3, &k), NID_EINVAL,
               "labels is NULL");
    ASSERT_ERR(nid_cluster(x, 0, 2, &o, l, 3, &k), NID_EINVAL, "n is 0");
    ASSERT_ERR(nid_cluster(x, 3, 0, &o, l, 3, &k), NID_EINVAL, "d is 0");
    ASSERT_ERR(nid_cluster(x, 3, 2, &o, l, 2, &k), NID_EBUFSIZE, "labels_cap");
    /* non-finite values name the element */
    float bad[6] = {1, 0, 0, NAN, 1, 1};
    ASSERT_ERR(nid_cluster(bad, 3, 2, &o, l, 3, &k), NID_EINVAL, "x[1][1]");
    bad[3] = INFINITY;
    ASSERT_ERR(nid_cluster(bad, 3, 2, &o, l, 3, &k), NID_EINVAL,
               "not finite");
    /* zero-norm row: an error under cosine only */
    float zero[6] = {1, 0, 0, 0, 1, 1};
    ASSERT_ERR(nid_cluster(zero, 3, 2, &o, l, 3, &k), NID_EINVAL,
               "row 1 of x has zero norm");
    assert_untouched(l, 3);
    ck_assert_uint_eq(k, 77);
    o.metric = NID_METRIC_EUCLIDEAN;
    ck_assert_int_eq(nid_cluster(zero, 3, 2, &o, l, 3, &k), NID_OK);
    /* options */
    l[0] = l[1] = l[2] = 77;
    k = 77;
    o = opts_of(NID_CLUSTER_SINGLE, NID_METRIC_COSINE, -0.1f);
    ASSERT_ERR(nid_cluster(x, 3, 2, &o, l, 3, &k), NID_EINVAL, "threshold");
    o.threshold = NAN;
    ASSERT_ERR(nid_cluster(x, 3, 2, &o, l, 3, &k), NID_EINVAL, "threshold");
    o.threshold = INFINITY;
    ASSERT_ERR(nid_cluster(x, 3, 2, &o, l, 3, &k), NID_EINVAL, "threshold");
    o = opts_of(4, NID_METRIC_COSINE, 0.5f);
    ASSERT_ERR(nid_cluster(x, 3, 2, &o, l, 3, &k), NID_EINVAL, "method 4");
    o.method = -1;
    ASSERT_ERR(nid_cluster(x, 3, 2, &o, l, 3, &k), NID_EINVAL, "method");
    o = opts_of(NID_CLUSTER_SINGLE, 2, 0.5f);
    ASSERT_ERR(nid_cluster(x, 3, 2, &o, l, 3, &k), NID_EINVAL, "metric 2");
    o = opts_of(NID_CLUSTER_SINGLE, NID_METRIC_COSINE, 0.5f);
    o.struct_size = sizeof(size_t) + sizeof(int);
    ASSERT_ERR(nid_cluster(x, 3, 2, &o, l, 3, &k), NID_EINVAL,
               "struct_size");
    assert_untouched(l, 3);
    ck_assert_uint_eq(k, 77);
    /* NULL opts means defaults; NULL n_clusters is allowed */
    ck_assert_int_eq(nid_cluster(x, 3, 2, NULL, l, 3, NULL), NID_OK);
    ck_assert_str_eq(nid_last_error(), "");
}
END_TEST

START_TEST(bad_input_cluster_dist)
{
    float D[9] = {0, 0.2f, 0.9f, 0.2f, 0, 0.9f, 0.9f, 0.9f, 0};
    int32_t l[3] = {77, 77, 77};
    size_t k = 77;
    nid_cluster_options o = opts_of(NID_CLUSTER_PAPER, 99, 0.5f);
    ASSERT_ERR(nid_cluster_dist(NULL, 3, &o, l, 3, &k), NID_EINVAL,
               "dist is NULL");
    ASSERT_ERR(nid_cluster_dist(D, 3, &o, NULL, 3, &k), NID_EINVAL,
               "labels is NULL");
    ASSERT_ERR(nid_cluster_dist(D, 0, &o, l, 3, &k), NID_EINVAL, "n is 0");
    ASSERT_ERR(nid_cluster_dist(D, 3, &o, l, 1, &k), NID_EBUFSIZE,
               "labels_cap = 1");
    float asym[9];
    memcpy(asym, D, sizeof D);
    asym[5] = 0.8f; /* dist[1][2] != dist[2][1] */
    ASSERT_ERR(nid_cluster_dist(asym, 3, &o, l, 3, &k), NID_EINVAL,
               "not symmetric: dist[1][2]");
    float neg[9];
    memcpy(neg, D, sizeof D);
    neg[1] = neg[3] = -0.2f;
    ASSERT_ERR(nid_cluster_dist(neg, 3, &o, l, 3, &k), NID_EINVAL,
               "dist[0][1] = -0.2");
    neg[1] = neg[3] = NAN;
    ASSERT_ERR(nid_cluster_dist(neg, 3, &o, l, 3, &k), NID_EINVAL,
               "finite");
    o.threshold = -1.0f;
    ASSERT_ERR(nid_cluster_dist(D, 3, &o, l, 3, &k), NID_EINVAL, "threshold");
    o.threshold = 0.5f;
    o.method = 9;
    ASSERT_ERR(nid_cluster_dist(D, 3, &o, l, 3, &k), NID_EINVAL, "method 9");
    o.method = NID_CLUSTER_SINGLE;
    o.struct_size = 4;
    ASSERT_ERR(nid_cluster_dist(D, 3, &o, l, 3, &k), NID_EINVAL,
               "struct_size is 4, smaller than the first published "
               "nid_cluster_options");
    assert_untouched(l, 3);
    ck_assert_uint_eq(k, 77);
    /* the metric is ignored; the diagonal too, even NaN; tiny asymmetry
     * (1e-7) is accepted */
    o.struct_size = sizeof o;
    float diag[9];
    memcpy(diag, D, sizeof D);
    diag[0] = NAN;
    diag[4] = -3.0f;
    diag[1] = 0.2f + 1e-7f;
    ck_assert_int_eq(nid_cluster_dist(diag, 3, &o, l, 3, &k), NID_OK);
    int32_t want[3] = {0, 0, 1};
    assert_labels(l, want, 3);
    ck_assert_uint_eq(k, 2);
}
END_TEST

START_TEST(bad_input_distance_matrix)
{
    float x[6] = {1, 0, 0, 1, 1, 1};
    float out[9], guard[9];
    for (int i = 0; i < 9; i++) out[i] = guard[i] = 77.0f;
    size_t need = 0;
    ASSERT_ERR(nid_distance_matrix(NULL, 3, 2, 0, 1, out, 9, &need),
               NID_EINVAL, "x is NULL");
    ASSERT_ERR(nid_distance_matrix(x, 3, 2, 0, 1, NULL, 9, &need),
               NID_EINVAL, "out is NULL");
    ASSERT_ERR(nid_distance_matrix(x, 0, 2, 0, 1, out, 9, &need),
               NID_EINVAL, "n is 0");
    ASSERT_ERR(nid_distance_matrix(x, 3, 0, 0, 1, out, 9, &need),
               NID_EINVAL, "d is 0");
    ASSERT_ERR(nid_distance_matrix(x, 3, 2, 5, 1, out, 9, &need),
               NID_EINVAL, "metric 5");
    ck_assert_uint_eq(need, 0);
    ASSERT_ERR(nid_distance_matrix(x, 3, 2, 0, 1, out, 8, &need),
               NID_EBUFSIZE, "needs 9");
    ck_assert_uint_eq(need, 9);
    float zero[6] = {1, 0, 0, 0, 1, 1};
    ASSERT_ERR(nid_distance_matrix(zero, 3, 2, 0, 1, out, 9, NULL),
               NID_EINVAL, "row 1 of x has zero norm");
    float bad[6] = {1, 0, 0, 1, -INFINITY, 1};
    ASSERT_ERR(nid_distance_matrix(bad, 3, 2, 1, 1, out, 9, NULL),
               NID_EINVAL, "x[2][0]");
    ck_assert_mem_eq(out, guard, sizeof out);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Distances                                                                */
/* ------------------------------------------------------------------------ */

static void check_matrix_against_reference(size_t n, size_t d, double off,
                                           int metric, int threads)
{
    float *x = blobs(n, d, 5, 0.05, off);
    float *D = malloc(n * n * sizeof *D);
    size_t need = 0;
    int rc = nid_distance_matrix(x, n, d, metric, threads, D, n * n, &need);
    ck_assert_msg(rc == NID_OK, "%s", nid_last_error());
    ck_assert_uint_eq(need, n * n);
    double worst = 0;
    size_t bad_diag = 0, asym = 0;
    for (size_t i = 0; i < n; i++) {
        bad_diag += D[i * n + i] != 0.0f;
        for (size_t j = 0; j < n; j++) {
            asym += D[i * n + j] != D[j * n + i]; /* exactly symmetric */
            if (i == j) continue;
            double r = ref_dist(x + i * d, x + j * d, d, metric);
            double e = fabs(D[i * n + j] - r) / (1.0 > r ? 1.0 : r);
            if (e > worst) worst = e;
        }
    }
    ck_assert_msg(worst < 1e-5, "n=%zu d=%zu metric=%d: max rel err %g", n,
                  d, metric, worst);
    ck_assert_uint_eq(bad_diag, 0);
    ck_assert_uint_eq(asym, 0);
    free(x);
    free(D);
}

START_TEST(distance_matrix_matches_reference)
{
    /* sizes around the panel (64) and chunk (2048) boundaries, odd d for
     * the kernel tails, an offset to provoke cancellation in euclidean */
    check_matrix_against_reference(1, 3, 0.0, NID_METRIC_COSINE, 1);
    check_matrix_against_reference(65, 7, 0.0, NID_METRIC_COSINE, 2);
    check_matrix_against_reference(130, 512, 0.0, NID_METRIC_COSINE, 0);
    check_matrix_against_reference(130, 33, 0.0, NID_METRIC_EUCLIDEAN, 3);
    check_matrix_against_reference(200, 64, 50.0, NID_METRIC_EUCLIDEAN, 2);
    check_matrix_against_reference(2100, 9, 0.0, NID_METRIC_COSINE, 2);
}
END_TEST

START_TEST(distance_matrix_known_values)
{
    /* unit vectors at 0, 60, 90, 180 degrees; (3,4) scaled */
    float x[10] = {1, 0, 0.5f, 0.8660254f, 0, 2, -3, 0, 3, 4};
    float D[25];
    ck_assert_int_eq(nid_distance_matrix(x, 5, 2, NID_METRIC_COSINE, 1, D,
                                         25, NULL), NID_OK);
    ck_assert_float_eq_tol(D[0 * 5 + 1], 0.5f, 1e-6f);
    ck_assert_float_eq_tol(D[0 * 5 + 2], 1.0f, 1e-6f);
    ck_assert_float_eq_tol(D[0 * 5 + 3], 2.0f, 1e-6f);
    ck_assert_float_eq_tol(D[0 * 5 + 4], 0.4f, 1e-6f);
    ck_assert_int_eq(nid_distance_matrix(x, 5, 2, NID_METRIC_EUCLIDEAN, 1, D,
                                         25, NULL), NID_OK);
    ck_assert_float_eq_tol(D[0 * 5 + 3], 4.0f, 1e-6f);
    ck_assert_float_eq_tol(D[3 * 5 + 4], 7.2111026f, 1e-5f);
    ck_assert_float_eq_tol(D[0 * 5 + 4], 4.4721360f, 1e-5f);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Hand-made cases                                                          */
/* ------------------------------------------------------------------------ */

START_TEST(single_line_groups)
{
    float x[6] = {0, 1, 2, 10, 11, 30};
    int32_t l[6];
    ck_assert_uint_eq(run(x, 6, 1, NID_CLUSTER_SINGLE, NID_METRIC_EUCLIDEAN,
                          1.5f, l), 3);
    int32_t want[6] = {0, 0, 0, 1, 1, 2};
    assert_labels(l, want, 6);
    /* canonical numbering follows the first item, whatever the order */
    float y[6] = {30, 10, 0, 11, 1, 2};
    ck_assert_uint_eq(run(y, 6, 1, NID_CLUSTER_SINGLE, NID_METRIC_EUCLIDEAN,
                          1.5f, l), 3);
    int32_t want_y[6] = {0, 1, 2, 1, 2, 2};
    assert_labels(l, want_y, 6);
    /* a single item is one cluster under every method */
    for (int m = 0; m < 4; m++) {
        l[0] = 77;
        ck_assert_uint_eq(run(x, 1, 6, m, NID_METRIC_COSINE, 0.5f, l), 1);
        ck_assert_int_eq(l[0], 0);
    }
}
END_TEST

START_TEST(ties_at_tau_do_not_link)
{
    /* distances exactly 1: strict '<' keeps them apart */
    float x[3] = {0, 1, 2};
    int32_t l[4];
    for (int m = 0; m < 4; m++)
        ck_assert_uint_eq(run(x, 3, 1, m, NID_METRIC_EUCLIDEAN, 1.0f, l), 3);
    /* one ulp more links them; average/complete then stop at 1.5 / 2 */
    const float up = nextafterf(1.0f, 2.0f);
    ck_assert_uint_eq(run(x, 3, 1, NID_CLUSTER_SINGLE, 1, up, l), 1);
    ck_assert_uint_eq(run(x, 3, 1, NID_CLUSTER_AVERAGE, 1, up, l), 2);
    ck_assert_uint_eq(run(x, 3, 1, NID_CLUSTER_COMPLETE, 1, up, l), 2);
    /* threshold 0 links nothing, not even duplicates */
    float dup[4] = {5, 5, 5, 5};
    ck_assert_uint_eq(run(dup, 4, 1, NID_CLUSTER_SINGLE, NID_METRIC_EUCLIDEAN,
                          0.0f, l), 4);
    /* matrix path: exactly 0.5 at tau = 0.5 */
    float D[9] = {0, 0.5f, 0.25f, 0.5f, 0, 0.75f, 0.25f, 0.75f, 0};
    nid_cluster_options o = opts_of(NID_CLUSTER_SINGLE, 0, 0.5f);
    size_t k;
    for (int m = 0; m < 4; m++) {
        o.method = m;
        ck_assert_int_eq(nid_cluster_dist(D, 3, &o, l, 3, &k), NID_OK);
        int32_t want[3] = {0, 1, 0};
        assert_labels(l, want, 3);
    }
}
END_TEST

START_TEST(cosine_angles)
{
    /* directions at 0, 8, 20 and 90, 100 degrees (any length); cosine
     * distances 1 - cos(8 deg) = 0.0097, 1 - cos(12 deg) = 0.0219,
     * 1 - cos(10 deg) = 0.0152, 1 - cos(20 deg) = 0.0603 */
    float x[10];
    const double deg[5] = {0, 8, 20, 90, 100}, len[5] = {1, 3, 0.5, 2, 7};
    for (int i = 0; i < 5; i++) {
        x[2 * i] = (float)(len[i] * cos(deg[i] * M_PI / 180));
        x[2 * i + 1] = (float)(len[i] * sin(deg[i] * M_PI / 180));
    }
    int32_t l[5];
    ck_assert_uint_eq(run(x, 5, 2, NID_CLUSTER_SINGLE, NID_METRIC_COSINE,
                          0.025f, l), 2);
    int32_t want[5] = {0, 0, 0, 1, 1};
    assert_labels(l, want, 5);
    /* 0 and 20 degrees (0.0603) are too far apart for complete linkage at
     * 0.05; single linkage at 0.02 loses the 12-degree link */
    ck_assert_uint_eq(run(x, 5, 2, NID_CLUSTER_COMPLETE, NID_METRIC_COSINE,
                          0.05f, l), 3);
    int32_t want_c[5] = {0, 0, 1, 2, 2};
    assert_labels(l, want_c, 5);
    ck_assert_uint_eq(run(x, 5, 2, NID_CLUSTER_SINGLE, NID_METRIC_COSINE,
                          0.02f, l), 3);
    assert_labels(l, want_c, 5);
}
END_TEST

START_TEST(linkages_differ_as_expected)
{
    /* points 0, 1, 3, 6 on a line (hand-computed merges):
     *   single:   0-1 at 1, {0,1}-3 at 2, -6 at 3
     *   average:  0-1 at 1, {0,1}-3 at 2.5, -6 at 14/3
     *   complete: 0-1 at 1, then 3 and 6 are 3 from each other/{0,1}:
     *             {0,1}-3 at 3 is tied with 3-6 at 3. */
    float x[4] = {0, 1, 3, 6};
    int32_t l[4];
    int32_t a[4] = {0, 0, 0, 1}, b[4] = {0, 0, 1, 2};
    ck_assert_uint_eq(run(x, 4, 1, NID_CLUSTER_SINGLE, 1, 2.4f, l), 2);
    assert_labels(l, a, 4);
    ck_assert_uint_eq(run(x, 4, 1, NID_CLUSTER_AVERAGE, 1, 2.4f, l), 3);
    assert_labels(l, b, 4);
    ck_assert_uint_eq(run(x, 4, 1, NID_CLUSTER_AVERAGE, 1, 2.6f, l), 2);
    assert_labels(l, a, 4);
    ck_assert_uint_eq(run(x, 4, 1, NID_CLUSTER_COMPLETE, 1, 2.6f, l), 3);
    assert_labels(l, b, 4);
    ck_assert_uint_eq(run(x, 4, 1, NID_CLUSTER_COMPLETE, 1, 0.5f, l), 4);
    ck_assert_uint_eq(run(x, 4, 1, NID_CLUSTER_AVERAGE, 1, 100.0f, l), 1);
    ck_assert_uint_eq(run(x, 4, 1, NID_CLUSTER_COMPLETE, 1, 6.5f, l), 1);
}
END_TEST

/* The generator documented for NID_CLUSTER_PAPER, written out again. */
static uint64_t ref_splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

START_TEST(paper_chain_depends_on_seed)
{
    /* items at 0, 2, 1 (tau 1.5): 0-2 and 1-2 link, 0-1 does not. A pass
     * seeded at item 0 meets item 1 before item 2 joins: two clusters.
     * Seeded at item 2 it takes both. Single linkage: one cluster. */
    float x[3] = {0, 2, 1};
    int32_t l[3];
    const int32_t want[3][3] = {{0, 1, 0}, {0, 1, 1}, {0, 0, 0}};
    int seen[3] = {0, 0, 0};
    for (uint64_t seed = 0; seed < 64; seed++) {
        nid_cluster_options o = opts_of(NID_CLUSTER_PAPER, 1, 1.5f);
        o.seed = seed;
        size_t k;
        ck_assert_int_eq(nid_cluster(x, 3, 1, &o, l, 3, &k), NID_OK);
        /* first seed = draw mod 3 (rejection never triggers for m = 3
         * unless the draw is below 2^64 mod 3 = 1, i.e. 0) */
        uint64_t s = seed, r;
        do r = ref_splitmix(&s); while (r < 1);
        int first = (int)(r % 3);
        seen[first]++;
        assert_labels(l, want[first], 3);
        ck_assert_uint_eq(k, first == 2 ? 1 : 2);
    }
    ck_assert(seen[0] && seen[1] && seen[2]);
    ck_assert_uint_eq(run(x, 3, 1, NID_CLUSTER_SINGLE, 1, 1.5f, l), 1);
}
END_TEST

START_TEST(paper_equals_single_when_separated)
{
    rng_state = 7;
    size_t n = 300, d = 24;
    float *x = blobs(n, d, 12, 0.02, 0.0);
    int32_t *s = malloc(n * sizeof *s), *p = malloc(n * sizeof *p);
    size_t ks = run(x, n, d, NID_CLUSTER_SINGLE, NID_METRIC_COSINE, 0.1f, s);
    ck_assert_uint_eq(ks, 12);
    for (uint64_t seed = 0; seed < 20; seed++) {
        nid_cluster_options o = opts_of(NID_CLUSTER_PAPER, 0, 0.1f);
        o.seed = seed * 1000003u;
        size_t k;
        ck_assert_int_eq(nid_cluster(x, n, d, &o, p, n, &k), NID_OK);
        ck_assert_uint_eq(k, ks);
        assert_labels(p, s, n);
    }
    free(x);
    free(s);
    free(p);
}
END_TEST

START_TEST(paper_refines_single_and_is_reproducible)
{
    /* dense data where paper and single differ: every paper cluster lies
     * inside one single-linkage cluster; the same seed gives the same
     * labels with any number of threads */
    rng_state = 11;
    size_t n = 400, d = 8;
    float *x = blobs(n, d, 40, 0.6, 0.0);
    float tau = gap_tau(x, n, d, NID_METRIC_COSINE, 0.02);
    int32_t *s = malloc(n * sizeof *s), *p = malloc(n * sizeof *p),
            *q = malloc(n * sizeof *q);
    size_t ks = run(x, n, d, NID_CLUSTER_SINGLE, NID_METRIC_COSINE, tau, s);
    int differs = 0;
    for (uint64_t seed = 0; seed < 8; seed++) {
        nid_cluster_options o = opts_of(NID_CLUSTER_PAPER, 0, tau);
        o.seed = seed;
        size_t kp, kq;
        o.n_threads = 1;
        ck_assert_int_eq(nid_cluster(x, n, d, &o, p, n, &kp), NID_OK);
        o.n_threads = 3;
        ck_assert_int_eq(nid_cluster(x, n, d, &o, q, n, &kq), NID_OK);
        ck_assert_uint_eq(kp, kq);
        assert_labels(q, p, n);
        ck_assert_uint_ge(kp, ks);
        size_t split = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++)
                split += p[i] == p[j] && s[i] != s[j];
        ck_assert_uint_eq(split, 0);
        differs |= kp != ks;
    }
    ck_assert_msg(differs, "expected paper != single for some seed");
    free(x);
    free(s);
    free(p);
    free(q);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Consistency                                                              */
/* ------------------------------------------------------------------------ */

/* nid_cluster(x) == nid_cluster_dist(nid_distance_matrix(x)), for every
 * method and any thread count. */
static void check_paths_agree(size_t n, size_t d, int metric, double q)
{
    float *x = blobs(n, d, n / 10 + 1, 0.4, metric == 1 ? 3.0 : 0.0);
    float tau = gap_tau(x, n, d, metric, q);
    float *D = malloc(n * n * sizeof *D);
    ck_assert_int_eq(nid_distance_matrix(x, n, d, metric, 0, D, n * n, NULL),
                     NID_OK);
    int32_t *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    for (int m = 0; m < 4; m++) {
        nid_cluster_options o = opts_of(m, metric, tau);
        o.seed = 42;
        size_t ka, kb;
        o.n_threads = 1;
        ck_assert_int_eq(nid_cluster(x, n, d, &o, a, n, &ka), NID_OK);
        ck_assert_int_eq(nid_cluster_dist(D, n, &o, b, n, &kb), NID_OK);
        ck_assert_msg(ka == kb, "%s: %zu vs %zu clusters",
                      nid_cluster_method_name(m), ka, kb);
        assert_labels(a, b, n);
        o.n_threads = 4;
        ck_assert_int_eq(nid_cluster(x, n, d, &o, b, n, &kb), NID_OK);
        assert_labels(a, b, n);
        ck_assert_msg(ka > 1 && ka < n, "%s: k = %zu of %zu", /* non-trivial */
                      nid_cluster_method_name(m), ka, n);
    }
    free(x);
    free(D);
    free(a);
    free(b);
}

START_TEST(embedding_and_matrix_paths_agree)
{
    rng_state = 3;
    check_paths_agree(150, 16, NID_METRIC_COSINE, 0.05);
    check_paths_agree(300, 100, NID_METRIC_COSINE, 0.02);
    check_paths_agree(257, 5, NID_METRIC_EUCLIDEAN, 0.05);
    /* with BLAS (not AVX-512), tall panels: 128 rows on one thread, 64 on
     * four, the last one partial (small enough for ThreadSanitizer) */
    check_paths_agree(1100, 16, NID_METRIC_COSINE, 0.003);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Cannot-link constraints                                                  */
/* ------------------------------------------------------------------------ */

/* Points on a line 0, 1, 2, 3 (spacing 1, Euclidean), tau 1.5: every method
 * gives one cluster; with 0 and 3 cannot-linked the hand-derived answers
 * below. */
START_TEST(cannot_link_line)
{
    const float x[4] = {0.0f, 1.0f, 2.0f, 3.0f};
    const uint32_t cl[2] = {0, 3};
    int32_t l[4];
    size_t k;
    for (int m = 0; m < 4; m++) {
        nid_cluster_options o = opts_of(m, NID_METRIC_EUCLIDEAN, 1.5f);
        o.threshold = m >= 2 ? 3.5f : 1.5f; /* average/complete: all merge */
        ck_assert_int_eq(nid_cluster(x, 4, 1, &o, l, 4, &k), NID_OK);
        /* (Algorithm 1 makes one pass per seed, so it may split a line) */
        ck_assert_msg(k == 1 || m == NID_CLUSTER_PAPER,
                      "%s without constraints: k = %zu",
                      nid_cluster_method_name(m), k);
        o.cannot_link = cl;
        o.n_cannot_link = 1;
        ck_assert_int_eq(nid_cluster(x, 4, 1, &o, l, 4, &k), NID_OK);
        ck_assert_msg(k >= 2 && l[0] != l[3], "%s: k = %zu, l = %d %d %d %d",
                      nid_cluster_method_name(m), k, l[0], l[1], l[2], l[3]);
    }
    /* single (Kruskal, ties by index): 0-1, 1-2 merge, 2-3 is refused */
    nid_cluster_options o = opts_of(NID_CLUSTER_SINGLE, NID_METRIC_EUCLIDEAN,
                                    1.5f);
    o.cannot_link = cl;
    o.n_cannot_link = 1;
    ck_assert_int_eq(nid_cluster(x, 4, 1, &o, l, 4, &k), NID_OK);
    const int32_t want_single[4] = {0, 0, 0, 1};
    assert_labels(l, want_single, 4);
    /* paper: whatever the seed, 0 and 3 end apart and each cluster is a
     * run of the line */
    o.method = NID_CLUSTER_PAPER;
    for (uint64_t seed = 0; seed < 8; seed++) {
        o.seed = seed;
        ck_assert_int_eq(nid_cluster(x, 4, 1, &o, l, 4, &k), NID_OK);
        ck_assert(k >= 2 && l[0] != l[3]);
        ck_assert(l[1] == l[0] || l[1] == l[2]);
        ck_assert(l[2] == l[1] || l[2] == l[3]);
    }
    /* the caller's old struct (without the fields) reads no constraints */
    o.method = NID_CLUSTER_SINGLE;
    o.struct_size = offsetof(nid_cluster_options, cannot_link);
    ck_assert_int_eq(nid_cluster(x, 4, 1, &o, l, 4, &k), NID_OK);
    ck_assert_uint_eq(k, 1);
}
END_TEST

START_TEST(cannot_link_bad_input)
{
    const float x[4] = {0.0f, 1.0f, 2.0f, 3.0f};
    const uint32_t out_of_range[2] = {0, 4}, self[2] = {2, 2};
    int32_t l[4] = {77, 77, 77, 77};
    size_t k;
    nid_cluster_options o = opts_of(NID_CLUSTER_SINGLE, NID_METRIC_EUCLIDEAN,
                                    1.5f);
    o.n_cannot_link = 1;
    ck_assert_int_eq(nid_cluster(x, 4, 1, &o, l, 4, &k), NID_EINVAL);
    ck_assert(strstr(nid_last_error(), "cannot_link is NULL"));
    o.cannot_link = out_of_range;
    ck_assert_int_eq(nid_cluster(x, 4, 1, &o, l, 4, &k), NID_EINVAL);
    ck_assert(strstr(nid_last_error(), "pair 0 = (0, 4)"));
    o.cannot_link = self;
    float D[16] = {0};
    ck_assert_int_eq(nid_cluster_dist(D, 4, &o, l, 4, &k), NID_EINVAL);
    ck_assert(strstr(nid_last_error(), "with itself"));
    assert_untouched(l, 4);
    nid_online *oc = NULL;
    const uint32_t ok_pair[2] = {0, 1};
    o.cannot_link = ok_pair;
    ck_assert_int_eq(nid_online_create(&oc, 1, &o), NID_EINVAL);
    ck_assert(oc == NULL && strstr(nid_last_error(), "online"));
}
END_TEST

/* Random blobs with random constraints: no cluster of any method, on
 * either path, holds a constrained pair; both paths agree; an empty
 * constraint list changes nothing. */
START_TEST(cannot_link_random)
{
    rng_state = 11;
    const size_t n = 120, d = 8, nc = 60;
    float *x = blobs(n, d, 12, 0.4, 0.0);
    float tau = gap_tau(x, n, d, NID_METRIC_COSINE, 0.05);
    float *D = malloc(n * n * sizeof *D);
    ck_assert_int_eq(nid_distance_matrix(x, n, d, NID_METRIC_COSINE, 0, D,
                                         n * n, NULL), NID_OK);
    uint32_t cl[2 * 60];
    for (size_t c = 0; c < nc; c++) {
        cl[2 * c] = (uint32_t)(urand() * n);
        do cl[2 * c + 1] = (uint32_t)(urand() * n);
        while (cl[2 * c + 1] == cl[2 * c]);
    }
    int32_t a[120], b[120], u[120];
    for (int m = 0; m < 4; m++) {
        nid_cluster_options o = opts_of(m, NID_METRIC_COSINE, tau);
        size_t ka, kb, ku;
        ck_assert_int_eq(nid_cluster(x, n, d, &o, u, n, &ku), NID_OK);
        o.cannot_link = cl;
        o.n_cannot_link = 0;
        ck_assert_int_eq(nid_cluster(x, n, d, &o, a, n, &ka), NID_OK);
        assert_labels(a, u, n);
        o.n_cannot_link = nc;
        ck_assert_int_eq(nid_cluster(x, n, d, &o, a, n, &ka), NID_OK);
        ck_assert_int_eq(nid_cluster_dist(D, n, &o, b, n, &kb), NID_OK);
        size_t bad = nc;
        for (size_t c = 0; c < nc && bad == nc; c++)
            if (a[cl[2 * c]] == a[cl[2 * c + 1]] ||
                b[cl[2 * c]] == b[cl[2 * c + 1]]) bad = c;
        ck_assert_msg(bad == nc, "%s: constraint %zu (%u, %u) violated",
                      nid_cluster_method_name(m), bad, cl[2 * bad],
                      cl[2 * bad + 1]);
        ck_assert_msg(ka >= ku, "%s: constraints merged clusters (%zu < %zu)",
                      nid_cluster_method_name(m), ka, ku);
        ck_assert_msg(ka > ku || m == NID_CLUSTER_COMPLETE,
                      "%s: constraints had no effect", nid_cluster_method_name(m));
        if (m != NID_CLUSTER_PAPER) { /* paper links by exact distance */
            ck_assert_uint_eq(ka, kb);
            assert_labels(a, b, n);
        }
    }
    free(x);
    free(D);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Threads                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct shared_input {
    const float   *x;
    size_t         n, d;
    float          tau;
    const int32_t *want[4];
    int            ok;
} shared_input;

static void *cluster_thread(void *arg)
{
    shared_input *s = (shared_input *)arg;
    int32_t *l = malloc(s->n * sizeof *l);
    int ok = 1;
    for (int rep = 0; rep < 3; rep++)
        for (int m = 0; m < 4; m++) {
            nid_cluster_options o = opts_of(m, NID_METRIC_COSINE, s->tau);
            o.n_threads = 2;
            o.seed = 5;
            if (nid_cluster(s->x, s->n, s->d, &o, l, s->n, NULL) != NID_OK ||
                memcmp(l, s->want[m], s->n * sizeof *l) != 0)
                ok = 0;
        }
    free(l);
    return (void *)(intptr_t)ok;
}

START_TEST(threads_share_inputs)
{
    rng_state = 5;
    size_t n = 700, d = 64;
    float *x = blobs(n, d, 50, 0.5, 0.0);
    shared_input s = {x, n, d, gap_tau(x, n, d, 0, 0.03), {0}, 1};
    int32_t *want[4];
    for (int m = 0; m < 4; m++) {
        want[m] = malloc(n * sizeof(int32_t));
        nid_cluster_options o = opts_of(m, 0, s.tau);
        o.n_threads = 1;
        o.seed = 5;
        ck_assert_int_eq(nid_cluster(x, n, d, &o, want[m], n, NULL), NID_OK);
        s.want[m] = want[m];
    }
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, cluster_thread, &s), 0);
    for (int i = 0; i < 4; i++) {
        void *ok;
        pthread_join(t[i], &ok);
        ck_assert_msg((intptr_t)ok == 1, "thread %d got other labels", i);
    }
    for (int m = 0; m < 4; m++) free(want[m]);
    free(x);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Out of memory                                                            */
/* ------------------------------------------------------------------------ */

START_TEST(out_of_memory_is_clean)
{
#ifdef NID__TEST_SANITIZED
    /* sanitizers reserve terabytes of address space and abort on failed
     * allocations: RLIMIT_AS cannot be used under them */
    return;
#else
    struct rlimit old;
    ck_assert_int_eq(getrlimit(RLIMIT_AS, &old), 0);
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%ld", &pages), 1);
    fclose(f);
    size_t n = 60000;
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (float)i;
    int32_t *l = malloc(n * sizeof *l);
    for (size_t i = 0; i < n; i++) l[i] = 77;
    struct rlimit lim = old;
    lim.rlim_cur = (rlim_t)pages * 4096 + (rlim_t)(256u << 20);
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &lim), 0);
    nid_cluster_options o = opts_of(NID_CLUSTER_AVERAGE, 1, 0.5f);
    int rc1 = nid_cluster(x, n, 1, &o, l, n, NULL);
    char msg1[256];
    snprintf(msg1, sizeof msg1, "%s", nid_last_error());
    o.method = NID_CLUSTER_PAPER; /* bit matrix: 450 MB */
    int rc2 = nid_cluster(x, n, 1, &o, l, n, NULL);
    char msg2[256];
    snprintf(msg2, sizeof msg2, "%s", nid_last_error());
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &old), 0);
    ck_assert_int_eq(rc1, NID_ENOMEM);
    ck_assert_msg(strstr(msg1, "distance matrix"), "%s", msg1);
    ck_assert_int_eq(rc2, NID_ENOMEM);
    ck_assert_msg(strstr(msg2, "bit matrix"), "%s", msg2);
    assert_untouched(l, n);
    free(x);
    free(l);
#endif
}
END_TEST

Suite *nid__test_suite(void)
{
    Suite *s = suite_create("cluster");
    TCase *tc = tcase_create("cluster");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, options_defaults);
    tcase_add_test(tc, bad_input_cluster);
    tcase_add_test(tc, bad_input_cluster_dist);
    tcase_add_test(tc, bad_input_distance_matrix);
    tcase_add_test(tc, distance_matrix_matches_reference);
    tcase_add_test(tc, distance_matrix_known_values);
    tcase_add_test(tc, single_line_groups);
    tcase_add_test(tc, ties_at_tau_do_not_link);
    tcase_add_test(tc, cosine_angles);
    tcase_add_test(tc, linkages_differ_as_expected);
    tcase_add_test(tc, paper_chain_depends_on_seed);
    tcase_add_test(tc, paper_equals_single_when_separated);
    tcase_add_test(tc, paper_refines_single_and_is_reproducible);
    tcase_add_test(tc, embedding_and_matrix_paths_agree);
    tcase_add_test(tc, cannot_link_line);
    tcase_add_test(tc, cannot_link_bad_input);
    tcase_add_test(tc, cannot_link_random);
    tcase_add_test(tc, threads_share_inputs);
    tcase_add_test(tc, out_of_memory_is_clean);
    suite_add_tcase(s, tc);
    return s;
}
