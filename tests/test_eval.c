/* test_eval.c - clustering and pair-score metrics on hand-computed cases,
 * documented guards, and bad input. Larger random cases are cross-checked
 * against scikit-learn / scipy / a DeLong O(mn) reference by
 * py/check_eval_reference.py. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "noduleid.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static void assert_close(double got, double want, double rel, const char *what)
{
    double tol = rel * fmax(1.0, fabs(want));
    ck_assert_msg(fabs(got - want) <= tol, "%s: got %.17g, want %.17g", what,
                  got, want);
}

static void assert_error(int rc, int want, const char *needle)
{
    ck_assert_int_eq(rc, want);
    ck_assert_msg(strstr(nid_last_error(), needle) != NULL,
                  "last error \"%s\" does not mention \"%s\"",
                  nid_last_error(), needle);
}

/* ------------------------------------------------------------------------ */
/* Clusterings                                                              */
/* ------------------------------------------------------------------------ */

static nid_cluster_scores eval_ok(const int32_t *t, const int32_t *p, size_t n)
{
    nid_cluster_scores s;
    nid_cluster_scores_init(&s);
    ck_assert_int_eq(nid_eval_clusters(t, p, n, &s), NID_OK);
    ck_assert_str_eq(nid_last_error(), "");
    return s;
}

START_TEST(clusters_small_partition)
{
    /* truth {0,1,2}{3,4}, pred {0,1}{2,3,4}: cells 2,1,2.
     * pairs: truth 3+1, pred 1+3, both 1+0+1.
     * BCubed P = (1+1+1/3+2/3+2/3)/5 = 11/15, R = (2/3+2/3+1/3+1+1)/5. */
    const int32_t t[] = {0, 0, 0, 1, 1}, p[] = {0, 0, 1, 1, 1};
    nid_cluster_scores s = eval_ok(t, p, 5);
    ck_assert_uint_eq(s.pairs_true, 4);
    ck_assert_uint_eq(s.pairs_pred, 4);
    ck_assert_uint_eq(s.pairs_both, 2);
    ck_assert_uint_eq(s.n_true_clusters, 2);
    ck_assert_uint_eq(s.n_pred_clusters, 2);
    assert_close(s.pair_precision, 0.5, 1e-15, "pair precision");
    assert_close(s.pair_recall, 0.5, 1e-15, "pair recall");
    assert_close(s.pair_f, 0.5, 1e-15, "pair F");
    assert_close(s.bcubed_precision, 11.0 / 15, 1e-15, "bcubed P");
    assert_close(s.bcubed_recall, 11.0 / 15, 1e-15, "bcubed R");
    assert_close(s.bcubed_f, 11.0 / 15, 1e-15, "bcubed F");
}
END_TEST

START_TEST(clusters_bcubed_asymmetric)
{
    /* truth T1={0,1,2,3} T2={4,5} T3={6}; pred A={0,1,2} B={3,4,5,6}.
     * cells (T1,A)=3 (T1,B)=1 (T2,B)=2 (T3,B)=1.
     * BCubed P = (9/3 + 1/4 + 4/4 + 1/4)/7 = 9/14
     * BCubed R = (9/4 + 1/4 + 4/2 + 1/1)/7 = 11/14, F = 99/140.
     * pairs: truth 6+1 = 7, pred 3+6 = 9, both 3+1 = 4. Labels are
     * arbitrary, including the int32 extremes. */
    const int32_t t[] = {-7, -7, -7, -7, INT32_MAX, INT32_MAX, 0};
    const int32_t p[] = {INT32_MIN, INT32_MIN, INT32_MIN, 42, 42, 42, 42};
    nid_cluster_scores s = eval_ok(t, p, 7);
    ck_assert_uint_eq(s.pairs_true, 7);
    ck_assert_uint_eq(s.pairs_pred, 9);
    ck_assert_uint_eq(s.pairs_both, 4);
    ck_assert_uint_eq(s.n_true_clusters, 3);
    ck_assert_uint_eq(s.n_pred_clusters, 2);
    assert_close(s.pair_precision, 4.0 / 9, 1e-15, "pair precision");
    assert_close(s.pair_recall, 4.0 / 7, 1e-15, "pair recall");
    assert_close(s.pair_f, 2.0 * (4.0 / 9) * (4.0 / 7) / (4.0 / 9 + 4.0 / 7),
                 1e-15, "pair F");
    assert_close(s.bcubed_precision, 9.0 / 14, 1e-15, "bcubed P");
    assert_close(s.bcubed_recall, 11.0 / 14, 1e-15, "bcubed R");
    assert_close(s.bcubed_f, 99.0 / 140, 1e-15, "bcubed F");

    /* swapping the roles of truth and pred swaps precision and recall */
    nid_cluster_scores r = eval_ok(p, t, 7);
    assert_close(r.pair_precision, s.pair_recall, 1e-15, "swap pair");
    assert_close(r.bcubed_precision, s.bcubed_recall, 1e-15, "swap bcubed");
}
END_TEST

START_TEST(clusters_relabel_invariant)
{
    enum { N = 500 };
    int32_t t[N], p[N], t2[N], p2[N];
    uint32_t x = 12345;
    for (int i = 0; i < N; i++) {
        x = x * 1664525u + 1013904223u;
        t[i] = (int32_t)(x >> 26);          /* 64 true clusters  */
        p[i] = (int32_t)((x >> 20) & 31);   /* 32 pred clusters  */
        t2[i] = t[i] * -1000003 + 17;       /* injective relabel */
        p2[i] = p[i] ^ 0x5a5a5a5a;
    }
    nid_cluster_scores a = eval_ok(t, p, N), b = eval_ok(t2, p2, N);
    ck_assert_uint_eq(a.pairs_both, b.pairs_both);
    ck_assert_uint_eq(a.pairs_true, b.pairs_true);
    ck_assert_uint_eq(a.pairs_pred, b.pairs_pred);
    ck_assert(a.bcubed_precision == b.bcubed_precision);
    ck_assert(a.bcubed_recall == b.bcubed_recall);
}
END_TEST

START_TEST(clusters_all_singletons_guard)
{
    const int32_t single[] = {1, 2, 3, 4}, merged[] = {9, 9, 9, 9};
    /* both all singletons: no together-pair anywhere -> perfect */
    nid_cluster_scores s = eval_ok(single, single, 4);
    ck_assert_uint_eq(s.pairs_true, 0);
    ck_assert_uint_eq(s.pairs_pred, 0);
    ck_assert(s.pair_precision == 1.0 && s.pair_recall == 1.0 && s.pair_f == 1.0);
    ck_assert(s.bcubed_precision == 1.0 && s.bcubed_recall == 1.0);
    /* truth singletons, pred one cluster: P = 0/6, R guarded to 0 */
    s = eval_ok(single, merged, 4);
    ck_assert_uint_eq(s.pairs_pred, 6);
    ck_assert(s.pair_precision == 0.0 && s.pair_recall == 0.0 && s.pair_f == 0.0);
    assert_close(s.bcubed_precision, 0.25, 1e-15, "bcubed P");
    ck_assert(s.bcubed_recall == 1.0);
    /* pred singletons, truth one cluster: P guarded to 0, R = 0/6 */
    s = eval_ok(merged, single, 4);
    ck_assert(s.pair_precision == 0.0 && s.pair_recall == 0.0 && s.pair_f == 0.0);
    ck_assert(s.bcubed_precision == 1.0);
    assert_close(s.bcubed_recall, 0.25, 1e-15, "bcubed R");
    /* a single item */
    s = eval_ok(single, merged, 1);
    ck_assert(s.pair_f == 1.0 && s.bcubed_f == 1.0);
    ck_assert_uint_eq(s.n_true_clusters, 1);
}
END_TEST

START_TEST(clusters_large_n_is_fast_and_exact)
{
    /* 10^6 items: an O(n^2) pair loop would take minutes */
    enum { N = 1000000 };
    int32_t *t = malloc(N * sizeof *t), *p = malloc(N * sizeof *p);
    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_nonnull(p);
    for (int i = 0; i < N; i++) {
        t[i] = i % 1000;                 /* 1000 clusters of 1000        */
        p[i] = (i % 1000) / 2 * 2;       /* pred merges them in pairs    */
    }
    nid_cluster_scores s = eval_ok(t, p, N);
    ck_assert_uint_eq(s.pairs_true, 1000ull * (1000ull * 999 / 2));
    ck_assert_uint_eq(s.pairs_pred, 500ull * (2000ull * 1999 / 2));
    ck_assert_uint_eq(s.pairs_both, s.pairs_true);
    ck_assert(s.pair_recall == 1.0);
    assert_close(s.pair_precision, 999.0 / 1999, 1e-14, "pair precision");
    assert_close(s.bcubed_precision, 0.5, 1e-14, "bcubed P");
    ck_assert(s.bcubed_recall == 1.0);
    free(t);
    free(p);
}
END_TEST

START_TEST(clusters_bad_input)
{
    const int32_t t[] = {0, 1}, p[] = {0, 0};
    nid_cluster_scores s, before;
    nid_cluster_scores_init(&s);
    s.pair_f = -123.0; /* sentinel: must survive every failure */
    before = s;
    assert_error(nid_eval_clusters(NULL, p, 2, &s), NID_EINVAL, "truth");
    assert_error(nid_eval_clusters(t, NULL, 2, &s), NID_EINVAL, "pred");
    assert_error(nid_eval_clusters(t, p, 2, NULL), NID_EINVAL, "out");
    assert_error(nid_eval_clusters(t, p, 0, &s), NID_EINVAL, "n must be > 0");
    ck_assert(memcmp(&s, &before, sizeof s) == 0);
    s.struct_size = sizeof(size_t);
    before = s;
    assert_error(nid_eval_clusters(t, p, 2, &s), NID_EINVAL, "struct_size");
    ck_assert(memcmp(&s, &before, sizeof s) == 0);
    (nid_cluster_scores_init)(NULL); /* ignored */
    nid_cluster_scores_init_sized(NULL, sizeof(nid_cluster_scores));
}
END_TEST

/* ------------------------------------------------------------------------ */
/* AUC and DeLong                                                           */
/* ------------------------------------------------------------------------ */

static nid_auc_result auc_ok(const int32_t *l, const double *s, size_t n)
{
    nid_auc_result r;
    nid_auc_result_init(&r);
    ck_assert_int_eq(nid_eval_auc(l, s, n, &r), NID_OK);
    ck_assert_str_eq(nid_last_error(), "");
    return r;
}

START_TEST(auc_perfect_inverted_tied)
{
    const int32_t l[] = {1, 1, 1, 0, 0};
    const double up[] = {5, 4, 3, 2, 1}, down[] = {1, 2, 3, 4, 5},
                 flat[] = {7, 7, 7, 7, 7};
    nid_auc_result r = auc_ok(l, up, 5);
    ck_assert(r.auc.value == 1.0 && r.variance == 0.0);
    ck_assert(r.auc.lo == 1.0 && r.auc.hi == 1.0);
    ck_assert_uint_eq(r.n_pos, 3);
    ck_assert_uint_eq(r.n_neg, 2);
    r = auc_ok(l, down, 5);
    ck_assert(r.auc.value == 0.0 && r.variance == 0.0);
    ck_assert(r.auc.lo == 0.0 && r.auc.hi == 0.0);
    r = auc_ok(l, flat, 5);
    ck_assert(r.auc.value == 0.5 && r.variance == 0.0);
}
END_TEST

START_TEST(auc_ties_and_delong_variance_by_hand)
{
    /* pos {0.9, 0.5}, neg {0.5, 0.1}: pair wins 1, 1, 1/2, 1 -> 0.875.
     * V10 = {1, 0.75}, V01 = {0.75, 1}; S10 = S01 = 0.03125;
     * Var = S10/2 + S01/2 = 0.03125. */
    const int32_t l[] = {1, 0, 1, 0};
    const double s[] = {0.9, 0.5, 0.5, 0.1};
    nid_auc_result r = auc_ok(l, s, 4);
    assert_close(r.auc.value, 0.875, 1e-15, "auc");
    assert_close(r.variance, 0.03125, 1e-15, "variance");
    assert_close(r.auc.lo, 0.875 - 1.959963984540054 * sqrt(0.03125), 1e-12, "lo");
    ck_assert(r.auc.hi == 1.0); /* clamped */
}
END_TEST

START_TEST(auc_hanley_mcneil_1982)
{
    /* Hanley & McNeil (1982), Table 1: 58 normal and 51 abnormal CT
     * images rated 1..5. Published area 0.8932 = 2642 / 2958. */
    const int nneg[5] = {33, 6, 6, 11, 2}, npos[5] = {3, 2, 2, 11, 33};
    int32_t l[109];
    double s[109];
    size_t n = 0;
    for (int r = 0; r < 5; r++) {
        for (int i = 0; i < nneg[r]; i++) { l[n] = 0; s[n++] = r + 1; }
        for (int i = 0; i < npos[r]; i++) { l[n] = 1; s[n++] = r + 1; }
    }
    ck_assert_uint_eq(n, 109);
    nid_auc_result a = auc_ok(l, s, n);
    assert_close(a.auc.value, 2642.0 / 2958.0, 1e-15, "auc");
    ck_assert_int_eq((int)lround(a.auc.value * 10000), 8932);
    ck_assert_uint_eq(a.n_pos, 51);
    ck_assert_uint_eq(a.n_neg, 58);
    ck_assert(a.variance > 0 && a.auc.lo < a.auc.value && a.auc.hi > a.auc.value);
}
END_TEST

START_TEST(auc_single_positive_has_nan_variance)
{
    const int32_t l[] = {0, 1, 0, 0};
    const double s[] = {0.1, 0.5, 0.7, 0.2};
    nid_auc_result r = auc_ok(l, s, 4);
    assert_close(r.auc.value, 2.0 / 3, 1e-15, "auc");
    ck_assert(isnan(r.variance) && isnan(r.auc.lo) && isnan(r.auc.hi));
}
END_TEST

START_TEST(auc_bad_input)
{
    const int32_t l[] = {1, 0, 1}, l2[] = {1, 2, 0}, lneg[] = {0, -1, 1},
                  all0[] = {0, 0, 0}, all1[] = {1, 1, 1};
    const double s[] = {0.3, 0.2, 0.1};
    const double snan[] = {0.3, NAN, 0.1}, sinf[] = {0.3, 0.2, -INFINITY};
    nid_auc_result r, before;
    nid_auc_result_init(&r);
    r.variance = -5.0;
    before = r;
    assert_error(nid_eval_auc(NULL, s, 3, &r), NID_EINVAL, "labels is NULL");
    assert_error(nid_eval_auc(l, NULL, 3, &r), NID_EINVAL, "scores is NULL");
    assert_error(nid_eval_auc(l, s, 3, NULL), NID_EINVAL, "out is NULL");
    assert_error(nid_eval_auc(l, s, 0, &r), NID_EINVAL, "n must be > 0");
    assert_error(nid_eval_auc(l2, s, 3, &r), NID_EINVAL, "labels[1] = 2");
    assert_error(nid_eval_auc(lneg, s, 3, &r), NID_EINVAL, "labels[1] = -1");
    assert_error(nid_eval_auc(l, snan, 3, &r), NID_EINVAL, "scores[1] = nan");
    assert_error(nid_eval_auc(l, sinf, 3, &r), NID_EINVAL, "scores[2] = -inf");
    assert_error(nid_eval_auc(all0, s, 3, &r), NID_EINVAL, "no positive");
    assert_error(nid_eval_auc(all1, s, 3, &r), NID_EINVAL, "no negative");
    ck_assert(memcmp(&r, &before, sizeof r) == 0);
    r.struct_size = 8;
    before = r;
    assert_error(nid_eval_auc(l, s, 3, &r), NID_EINVAL, "struct_size is 8");
    ck_assert(memcmp(&r, &before, sizeof r) == 0);
}
END_TEST

static nid_delong_result delong_ok(const int32_t *l, const double *a,
                                   const double *b, size_t n)
{
    nid_delong_result r;
    nid_delong_result_init(&r);
    ck_assert_uint_eq(r.a.struct_size, sizeof(nid_auc_result));
    ck_assert_int_eq(nid_eval_delong(l, a, b, n, &r), NID_OK);
    ck_assert_str_eq(nid_last_error(), "");
    return r;
}

START_TEST(delong_same_ranking_and_extremes)
{
    const int32_t l[] = {1, 0, 1, 0, 1, 0, 0};
    const double a[] = {0.9, 0.4, 0.35, 0.5, 0.7, 0.1, 0.35};
    double b[7], inv[7];
    for (int i = 0; i < 7; i++) {
        b[i] = exp(3 * a[i]) - 10;   /* same ranking: same placements */
        inv[i] = -a[i];
    }
    nid_delong_result r = delong_ok(l, a, b, 7);
    ck_assert(r.a.auc.value == r.b.auc.value);
    assert_close(r.covariance, r.a.variance, 1e-15, "cov = var");
    ck_assert(r.z == 0.0 && r.p_value == 1.0);

    /* a perfect, b inverted: both have zero variance, difference 1 */
    const int32_t l2[] = {1, 1, 0, 0};
    const double up[] = {4, 3, 2, 1}, down[] = {1, 2, 3, 4};
    r = delong_ok(l2, up, down, 4);
    ck_assert(r.a.auc.value == 1.0 && r.b.auc.value == 0.0);
    ck_assert(isinf(r.z) && r.z > 0 && r.p_value == 0.0);

    /* swapping the scorers flips z and keeps p */
    nid_delong_result s1 = delong_ok(l, a, inv, 7), s2 = delong_ok(l, inv, a, 7);
    assert_close(s1.z, -s2.z, 1e-14, "z antisymmetric");
    assert_close(s1.p_value, s2.p_value, 1e-14, "p symmetric");
    ck_assert(s1.p_value > 0.0 && s1.p_value < 1.0);
    /* b = -a: placements mirror, so cov = -var and AUCs add to 1 */
    assert_close(s1.a.auc.value + s1.b.auc.value, 1.0, 1e-15, "mirror auc");
    assert_close(s1.covariance, -s1.a.variance, 1e-14, "mirror cov");
    assert_close(s1.z, (s1.a.auc.value - s1.b.auc.value) /
                 sqrt(4 * s1.a.variance), 1e-12, "mirror z");
    assert_close(s1.p_value, erfc(fabs(s1.z) / sqrt(2.0)), 1e-12, "p");
}
END_TEST

START_TEST(delong_bad_input)
{
    const int32_t l[] = {1, 0, 1, 0};
    const double a[] = {0.3, 0.2, 0.1, 0.0}, bnan[] = {0.3, 0.2, NAN, 0.0};
    nid_delong_result r, before;
    nid_delong_result_init(&r);
    r.z = 99;
    before = r;
    assert_error(nid_eval_delong(l, a, NULL, 4, &r), NID_EINVAL, "scores_b is NULL");
    assert_error(nid_eval_delong(l, NULL, a, 4, &r), NID_EINVAL, "scores_a is NULL");
    assert_error(nid_eval_delong(l, a, bnan, 4, &r), NID_EINVAL, "scores_b[2] = nan");
    assert_error(nid_eval_delong(l, a, a, 0, &r), NID_EINVAL, "n must be > 0");
    assert_error(nid_eval_delong(l, a, a, 4, NULL), NID_EINVAL, "out is NULL");
    ck_assert(memcmp(&r, &before, sizeof r) == 0);
    r.struct_size = 16;
    before = r;
    assert_error(nid_eval_delong(l, a, a, 4, &r), NID_EINVAL, "struct_size");
    ck_assert(memcmp(&r, &before, sizeof r) == 0);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Threshold metrics, Clopper-Pearson, Youden                               */
/* ------------------------------------------------------------------------ */

START_TEST(clopper_pearson_known_values)
{
    nid_estimate e;
    /* scipy.stats.binomtest(3, 10).proportion_ci(method="exact") */
    ck_assert_int_eq(nid_eval_clopper_pearson(3, 10, &e), NID_OK);
    assert_close(e.value, 0.3, 1e-15, "value");
    assert_close(e.lo, 0.06673951117773447, 1e-10, "lo(3,10)");
    assert_close(e.hi, 0.652452850060008, 1e-10, "hi(3,10)");
    /* closed forms: k = 0, 1, n-1, n */
    const uint64_t ns[] = {1, 2, 7, 100, 12345, 1000000000ull};
    for (size_t i = 0; i < N_OF(ns); i++) {
        double n = (double)ns[i];
        ck_assert_int_eq(nid_eval_clopper_pearson(0, ns[i], &e), NID_OK);
        ck_assert(e.lo == 0.0 && e.value == 0.0);
        ck_assert_msg(fabs(e.hi / -expm1(log(0.025) / n) - 1) < 1e-12,
                      "hi(0,%g) = %.17g", n, e.hi);
        ck_assert_int_eq(nid_eval_clopper_pearson(ns[i], ns[i], &e), NID_OK);
        ck_assert(e.hi == 1.0 && e.value == 1.0);
        ck_assert_msg(fabs(e.lo / exp(log(0.025) / n) - 1) < 1e-12,
                      "lo(n,%g) = %.17g", n, e.lo);
        if (ns[i] < 2) continue;
        ck_assert_int_eq(nid_eval_clopper_pearson(1, ns[i], &e), NID_OK);
        ck_assert_msg(fabs(e.lo / -expm1(log1p(-0.025) / n) - 1) < 1e-12,
                      "lo(1,%g) = %.17g", n, e.lo);
        ck_assert_int_eq(nid_eval_clopper_pearson(ns[i] - 1, ns[i], &e), NID_OK);
        ck_assert_msg(fabs(e.hi / exp(log1p(-0.025) / n) - 1) < 1e-12,
                      "hi(n-1,%g) = %.17g", n, e.hi);
    }
    /* symmetry: lo(k, n) = 1 - hi(n - k, n) */
    nid_estimate f;
    ck_assert_int_eq(nid_eval_clopper_pearson(37, 101, &e), NID_OK);
    ck_assert_int_eq(nid_eval_clopper_pearson(64, 101, &f), NID_OK);
    assert_close(e.lo, 1.0 - f.hi, 1e-13, "symmetry");
    ck_assert_str_eq(nid_last_error(), "");
}
END_TEST

START_TEST(clopper_pearson_bad_input)
{
    nid_estimate e = {-1, -2, -3};
    assert_error(nid_eval_clopper_pearson(5, 4, &e), NID_EINVAL, "k = 5 exceeds n = 4");
    assert_error(nid_eval_clopper_pearson(0, 0, &e), NID_EINVAL, "n must be > 0");
    assert_error(nid_eval_clopper_pearson(1, 4, NULL), NID_EINVAL, "out is NULL");
    ck_assert(e.value == -1 && e.lo == -2 && e.hi == -3);
}
END_TEST

START_TEST(threshold_counts_and_rates)
{
    const int32_t l[] = {1, 1, 1, 0, 0};
    const double s[] = {0.9, 0.6, 0.3, 0.6, 0.1};
    nid_binary_result r;
    nid_binary_result_init(&r);
    ck_assert_int_eq(nid_eval_threshold(l, s, 5, 0.6, &r), NID_OK);
    ck_assert(r.threshold == 0.6);
    ck_assert_uint_eq(r.tp, 2); /* score >= threshold is "same" */
    ck_assert_uint_eq(r.fp, 1);
    ck_assert_uint_eq(r.tn, 1);
    ck_assert_uint_eq(r.fn, 1);
    assert_close(r.accuracy.value, 0.6, 1e-15, "accuracy");
    assert_close(r.sensitivity.value, 2.0 / 3, 1e-15, "sensitivity");
    assert_close(r.specificity.value, 0.5, 1e-15, "specificity");
    assert_close(r.precision.value, 2.0 / 3, 1e-15, "precision");
    nid_estimate e;
    nid_eval_clopper_pearson(3, 5, &e);
    ck_assert(e.lo == r.accuracy.lo && e.hi == r.accuracy.hi);
    nid_eval_clopper_pearson(1, 2, &e);
    ck_assert(e.lo == r.specificity.lo && e.hi == r.specificity.hi);

    /* nothing predicted "same": precision is NaN with NaN bounds */
    ck_assert_int_eq(nid_eval_threshold(l, s, 5, 2.0, &r), NID_OK);
    ck_assert_uint_eq(r.tp + r.fp, 0);
    ck_assert(isnan(r.precision.value) && isnan(r.precision.lo) &&
              isnan(r.precision.hi));
    ck_assert(r.specificity.value == 1.0 && r.sensitivity.value == 0.0);
    /* no positives at all is allowed here: sensitivity is NaN */
    const int32_t zeros[] = {0, 0};
    ck_assert_int_eq(nid_eval_threshold(zeros, s, 2, 0.5, &r), NID_OK);
    ck_assert(isnan(r.sensitivity.value) && r.specificity.value == 0.0);
}
END_TEST

START_TEST(threshold_bad_input)
{
    const int32_t l[] = {1, 0}, lbad[] = {1, 3};
    const double s[] = {0.5, 0.4}, sbad[] = {INFINITY, 0.4};
    nid_binary_result r, before;
    nid_binary_result_init(&r);
    r.tp = 77;
    before = r;
    assert_error(nid_eval_threshold(l, s, 2, NAN, &r), NID_EINVAL, "threshold = nan");
    assert_error(nid_eval_threshold(l, s, 2, INFINITY, &r), NID_EINVAL, "threshold = inf");
    assert_error(nid_eval_threshold(lbad, s, 2, 0.5, &r), NID_EINVAL, "labels[1] = 3");
    assert_error(nid_eval_threshold(l, sbad, 2, 0.5, &r), NID_EINVAL, "scores[0] = inf");
    assert_error(nid_eval_threshold(l, s, 0, 0.5, &r), NID_EINVAL, "n must be > 0");
    assert_error(nid_eval_threshold(NULL, s, 2, 0.5, &r), NID_EINVAL, "labels is NULL");
    assert_error(nid_eval_threshold(l, s, 2, 0.5, NULL), NID_EINVAL, "out is NULL");
    ck_assert(memcmp(&r, &before, sizeof r) == 0);
    r.struct_size = 0;
    before = r;
    assert_error(nid_eval_threshold(l, s, 2, 0.5, &r), NID_EINVAL, "struct_size is 0");
    ck_assert(memcmp(&r, &before, sizeof r) == 0);
}
END_TEST

START_TEST(youden_ties_take_highest_threshold)
{
    /* thresholds 0.9 .. 0.4 give J = 1/3, 2/3, 1/3, 2/3, 1/3, 0:
     * the maximum 2/3 is reached at 0.8 and 0.6, and 0.8 wins. */
    const int32_t l[] = {1, 1, 0, 1, 0, 0};
    const double s[] = {0.9, 0.8, 0.7, 0.6, 0.55, 0.4};
    double t = -1, j = -1;
    ck_assert_int_eq(nid_eval_youden(l, s, 6, &t, &j), NID_OK);
    ck_assert(t == 0.8);
    assert_close(j, 2.0 / 3, 1e-15, "J");
    ck_assert_int_eq(nid_eval_youden(l, s, 6, NULL, &j), NID_OK);
    ck_assert_int_eq(nid_eval_youden(l, s, 6, &t, NULL), NID_OK);
    ck_assert(t == 0.8);

    /* inverted scorer: best J is 0 at the lowest threshold (all "same") */
    const double inv[] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6};
    const int32_t l2[] = {1, 1, 1, 0, 0, 0};
    ck_assert_int_eq(nid_eval_youden(l2, inv, 6, &t, &j), NID_OK);
    ck_assert(t == 0.1 && j == 0.0);
}
END_TEST

START_TEST(youden_bad_input)
{
    const int32_t l[] = {1, 1}, lok[] = {1, 0};
    const double s[] = {0.5, 0.4}, snan[] = {0.5, NAN};
    double t = -1, j = -1;
    assert_error(nid_eval_youden(l, s, 2, &t, &j), NID_EINVAL, "no negative");
    assert_error(nid_eval_youden(lok, snan, 2, &t, &j), NID_EINVAL, "scores[1] = nan");
    assert_error(nid_eval_youden(lok, s, 0, &t, &j), NID_EINVAL, "n must be > 0");
    assert_error(nid_eval_youden(lok, NULL, 2, &t, &j), NID_EINVAL, "scores is NULL");
    ck_assert(t == -1 && j == -1);
}
END_TEST

Suite *nid__test_suite(void)
{
    Suite *s = suite_create("eval");
    TCase *tc = tcase_create("clusters");
    tcase_add_test(tc, clusters_small_partition);
    tcase_add_test(tc, clusters_bcubed_asymmetric);
    tcase_add_test(tc, clusters_relabel_invariant);
    tcase_add_test(tc, clusters_all_singletons_guard);
    tcase_add_test(tc, clusters_large_n_is_fast_and_exact);
    tcase_add_test(tc, clusters_bad_input);
    suite_add_tcase(s, tc);
    tc = tcase_create("pairs");
    tcase_add_test(tc, auc_perfect_inverted_tied);
    tcase_add_test(tc, auc_ties_and_delong_variance_by_hand);
    tcase_add_test(tc, auc_hanley_mcneil_1982);
    tcase_add_test(tc, auc_single_positive_has_nan_variance);
    tcase_add_test(tc, auc_bad_input);
    tcase_add_test(tc, delong_same_ranking_and_extremes);
    tcase_add_test(tc, delong_bad_input);
    tcase_add_test(tc, clopper_pearson_known_values);
    tcase_add_test(tc, clopper_pearson_bad_input);
    tcase_add_test(tc, threshold_counts_and_rates);
    tcase_add_test(tc, threshold_bad_input);
    tcase_add_test(tc, youden_ties_take_highest_threshold);
    tcase_add_test(tc, youden_bad_input);
    suite_add_tcase(s, tc);
    return s;
}
