/* eval/eval_clusters.c - agreement between a true and a predicted partition:
 * pairwise precision/recall/F (Jiang et al. 2023, Table 4) and BCubed
 * (Amigo et al. 2009).
 *
 * Everything is computed from the contingency table n_ij = |truth i and
 * pred j|, found by sorting (truth, pred) label pairs: O(n log n) time and
 * O(n) memory, so 10^5..10^7 items are cheap and no pair is enumerated.
 *
 *   pairs_true = sum_i C(a_i, 2)    a_i = size of true cluster i
 *   pairs_pred = sum_j C(b_j, 2)    b_j = size of predicted cluster j
 *   pairs_both = sum_ij C(n_ij, 2)
 *   BCubed P   = (1/n) sum_ij n_ij^2 / b_j
 *   BCubed R   = (1/n) sum_ij n_ij^2 / a_i
 */
#include "eval_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct label_pair {
    int32_t t;
    int32_t p;
} label_pair;

static int cmp_pair(const void *x, const void *y)
{
    const label_pair *a = (const label_pair *)x, *b = (const label_pair *)y;
    if (a->t != b->t) return a->t < b->t ? -1 : 1;
    if (a->p != b->p) return a->p < b->p ? -1 : 1;
    return 0;
}

static int cmp_i32(const void *x, const void *y)
{
    int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    return (a > b) - (a < b);
}

static uint64_t pairs_of(uint64_t c)
{
    /* c(c-1)/2 without overflow for any c < 2^64: halve the even factor */
    return (c % 2 == 0) ? (c / 2) * (c - 1) : c * ((c - 1) / 2);
}

/* Size of predicted cluster `label`, looking it up in the sorted unique
 * labels `ul` (k entries) with sizes `us`. The label is always present. */
static size_t pred_size(const int32_t *ul, const size_t *us, size_t k,
                        int32_t label)
{
    size_t lo = 0, hi = k;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (ul[mid] <= label) lo = mid; else hi = mid;
    }
    return us[lo];
}

/* Pairwise score with the documented all-singletons guard: a denominator
 * of 0 means this partition puts no pair together; that is a perfect score
 * only when the other partition does not either. */
static double guarded_ratio(uint64_t num, uint64_t den, uint64_t other)
{
    if (den == 0) return other == 0 ? 1.0 : 0.0;
    return (double)num / (double)den;
}

static double harmonic(double p, double r)
{
    return (p + r > 0.0) ? 2.0 * p * r / (p + r) : 0.0;
}

NID__DEFINE_INIT(nid_cluster_scores, nid__no_defaults)

/* Sorted unique predicted labels and their sizes; ul/us have room for n. */
static size_t count_pred(const int32_t *pred, size_t n, int32_t *ul,
                         size_t *us)
{
    memcpy(ul, pred, n * sizeof *ul);
    qsort(ul, n, sizeof *ul, cmp_i32);
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && ul[j] == ul[i]) j++;
        ul[k] = ul[i];
        us[k] = j - i;
        k++;
        i = j;
    }
    return k;
}

/* Walk the (truth, pred)-sorted pairs: one run of equal t is a true
 * cluster, one run of equal (t, p) inside it is a contingency cell. */
static void score_sorted(const label_pair *lp, size_t n, const int32_t *ul,
                         const size_t *us, size_t k_pred,
                         nid_cluster_scores *r)
{
    nid_ksum bp = {0, 0}, br = {0, 0};
    uint64_t pt = 0, pb = 0;
    size_t k_true = 0;
    for (size_t i = 0; i < n;) {
        size_t end = i;
        while (end < n && lp[end].t == lp[i].t) end++;
        double a = (double)(end - i); /* true cluster size */
        pt += pairs_of(end - i);
        k_true++;
        for (size_t c = i; c < end;) {
            size_t d = c;
            while (d < end && lp[d].p == lp[c].p) d++;
            double nij = (double)(d - c);
            double b = (double)pred_size(ul, us, k_pred, lp[c].p);
            pb += pairs_of(d - c);
            nid__ksum_add(&bp, nij * (nij / b));
            nid__ksum_add(&br, nij * (nij / a));
            c = d;
        }
        i = end;
    }
    uint64_t pp = 0;
    for (size_t j = 0; j < k_pred; j++) pp += pairs_of(us[j]);

    r->pairs_true = pt;
    r->pairs_pred = pp;
    r->pairs_both = pb;
    r->n_true_clusters = k_true;
    r->n_pred_clusters = k_pred;
    r->pair_precision = guarded_ratio(pb, pp, pt);
    r->pair_recall = guarded_ratio(pb, pt, pp);
    r->pair_f = harmonic(r->pair_precision, r->pair_recall);
    r->bcubed_precision = nid__ksum_value(&bp) / (double)n;
    r->bcubed_recall = nid__ksum_value(&br) / (double)n;
    r->bcubed_f = harmonic(r->bcubed_precision, r->bcubed_recall);
}

int nid_eval_clusters(const int32_t *truth, const int32_t *pred, size_t n,
                      nid_cluster_scores *out)
{
    if (truth == NULL || pred == NULL || out == NULL)
        return nid__fail(NID_EINVAL, "nid_eval_clusters: %s is NULL",
                        truth == NULL ? "truth" : pred == NULL ? "pred" : "out");
    if (n == 0)
        return nid__fail(NID_EINVAL, "nid_eval_clusters: n must be > 0");
    int rc = NID__STRUCT_CHECK("nid_eval_clusters", "out", nid_cluster_scores,
                               out);
    if (rc) return rc;

    size_t lp_bytes, ul_bytes, us_bytes;
    if (!nid__mul_size(n, sizeof(label_pair), &lp_bytes) ||
        !nid__mul_size(n, sizeof(int32_t), &ul_bytes) ||
        !nid__mul_size(n, sizeof(size_t), &us_bytes))
        return nid__fail(NID_ENOMEM, "nid_eval_clusters: n = %zu is too large", n);
    label_pair *lp = malloc(lp_bytes);
    int32_t *ul = malloc(ul_bytes);
    size_t *us = malloc(us_bytes);
    if (lp == NULL || ul == NULL || us == NULL) {
        free(lp); free(ul); free(us);
        return nid__fail(NID_ENOMEM,
                        "nid_eval_clusters: cannot allocate scratch for n = %zu",
                        n);
    }
    for (size_t i = 0; i < n; i++) {
        lp[i].t = truth[i];
        lp[i].p = pred[i];
    }
    qsort(lp, n, sizeof *lp, cmp_pair);
    size_t k_pred = count_pred(pred, n, ul, us);

    nid_cluster_scores r;
    nid_cluster_scores_init(&r);
    score_sorted(lp, n, ul, us, k_pred, &r);
    free(lp); free(ul); free(us);

    NID__STRUCT_OUT("nid_eval_clusters", "out", nid_cluster_scores, out, &r);
    nid_clear_error();
    return NID_OK;
}
