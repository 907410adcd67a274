/*
 * noduleid/eval.h - scores of clusterings and of pair scores (eval/).
 *
 * Part of the public C API of libnoduleid; include <noduleid.h>, which includes
 * every module header, or this header alone. Conventions: docs/api-conventions.md.
 */
#ifndef NODULEID_EVAL_H
#define NODULEID_EVAL_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Evaluation: clusterings                                                  */
/* ------------------------------------------------------------------------ */

/** Agreement between a true and a predicted partition of the same items.
 *  Pairwise scores count unordered item pairs: TP = pairs together in both.
 *  precision = TP / pairs together in pred, recall = TP / pairs together in
 *  truth; when a denominator is 0 (all singletons) the score is 1 if the
 *  other partition also has no together-pair, else 0 (documented guard).
 *  BCubed scores average per-item precision/recall (Amigo et al. 2009). */
typedef struct nid_cluster_scores {
    size_t   struct_size;      /* set by nid_cluster_scores_init          */
    double   pair_precision;
    double   pair_recall;
    double   pair_f;           /* harmonic mean; 0 when both are 0        */
    double   bcubed_precision;
    double   bcubed_recall;
    double   bcubed_f;
    uint64_t pairs_true;       /* pairs together in truth                 */
    uint64_t pairs_pred;       /* pairs together in pred                  */
    uint64_t pairs_both;       /* pairs together in both (TP)             */
    size_t   n_true_clusters;
    size_t   n_pred_clusters;
} nid_cluster_scores;

/** Zero `s` and set its struct_size. NULL is ignored.
 *  The _init macro passes sizeof *p to _init_sized(); the exported
 *  function _init fills the first published fields only (core.h,
 *  "Extensible structs"). */
NID_API void nid_cluster_scores_init_sized(nid_cluster_scores *s, size_t size);
NID_API void (nid_cluster_scores_init)(nid_cluster_scores *s);
#define nid_cluster_scores_init(p) \
    nid_cluster_scores_init_sized((p), sizeof *(p))

/** Score predicted labels against true labels (n items, any int32 label
 *  values, not necessarily contiguous). `out` must have been initialised by
 *  nid_cluster_scores_init(). O(n log n) time, O(n) scratch memory (pairs
 *  are counted from the contingency table, never enumerated).
 *  Errors: NID_EINVAL (NULL, n == 0, out->struct_size too small),
 *  NID_ENOMEM. Thread-safe. */
NID_API int nid_eval_clusters(const int32_t *truth, const int32_t *pred,
                              size_t n, nid_cluster_scores *out);

/* ------------------------------------------------------------------------ */
/* Evaluation: pair scores (re-identification)                              */
/* ------------------------------------------------------------------------ */
/* Pairs have a label (1 = same nodule, 0 = different) and a score where
 * higher means "more likely the same" (a similarity; negate distances).    */

/** A proportion or AUC with its 95% confidence interval. */
typedef struct nid_estimate {
    double value;
    double lo;   /* lower bound of the 95% CI */
    double hi;   /* upper bound of the 95% CI */
} nid_estimate;

/** ROC AUC with DeLong's variance. Ties count one half. CI: normal
 *  approximation value +- 1.959964 * sqrt(variance), clamped to [0, 1].
 *  With a single positive or a single negative the variance cannot be
 *  estimated: variance, lo and hi are then NaN (the AUC itself is valid). */
typedef struct nid_auc_result {
    size_t       struct_size;  /* set by nid_auc_result_init */
    nid_estimate auc;
    double       variance;     /* DeLong variance of the AUC  */
    size_t       n_pos;
    size_t       n_neg;
} nid_auc_result;

/** Zero `r` and set its struct_size. NULL is ignored.
 *  The _init macro passes sizeof *p to _init_sized(); the exported
 *  function _init fills the first published fields only (core.h,
 *  "Extensible structs"). */
NID_API void nid_auc_result_init_sized(nid_auc_result *r, size_t size);
NID_API void (nid_auc_result_init)(nid_auc_result *r);
#define nid_auc_result_init(p) nid_auc_result_init_sized((p), sizeof *(p))

/** ROC AUC of `scores` for binary `labels` (0/1) over n pairs, with
 *  DeLong's variance by the O(n log n) midrank method of Sun & Xu (2014).
 *  `out` must have been initialised by nid_auc_result_init().
 *  Errors: NID_EINVAL (NULL, n == 0, label not 0/1, non-finite score, no
 *  positives or no negatives, out->struct_size too small), NID_ENOMEM.
 *  Thread-safe. */
NID_API int nid_eval_auc(const int32_t *labels, const double *scores,
                         size_t n, nid_auc_result *out);

/** DeLong's test for two correlated AUCs (two scorers on the same pairs). */
typedef struct nid_delong_result {
    size_t         struct_size; /* set by nid_delong_result_init */
    nid_auc_result a;
    nid_auc_result b;
    double         covariance;  /* DeLong covariance of the two AUCs       */
    double         z;           /* (auc_a - auc_b) / sd of the difference  */
    double         p_value;     /* two-sided; 1 when the difference has
                                   zero variance and zero difference       */
} nid_delong_result;
/* When the difference has zero variance but the AUCs differ, z is +-Inf
 * and p_value 0. With a single positive or negative, z and p_value are NaN
 * (as are the variances and the covariance). */

/** Zero `r` and set its struct_size and those of r->a and r->b. NULL is
 *  ignored.
 *  The _init macro passes sizeof *p to _init_sized(); the exported
 *  function _init fills the first published fields only (core.h,
 *  "Extensible structs"). */
NID_API void nid_delong_result_init_sized(nid_delong_result *r, size_t size);
NID_API void (nid_delong_result_init)(nid_delong_result *r);
#define nid_delong_result_init(p) \
    nid_delong_result_init_sized((p), sizeof *(p))

/** DeLong test between scores_a and scores_b on the same n labelled pairs.
 *  `out` must have been initialised by nid_delong_result_init().
 *  Errors as nid_eval_auc(). Thread-safe. */
NID_API int nid_eval_delong(const int32_t *labels, const double *scores_a,
                            const double *scores_b, size_t n,
                            nid_delong_result *out);

/** Confusion counts and rates at a threshold: a pair is predicted "same"
 *  when score >= threshold. CIs are exact Clopper-Pearson 95% intervals. */
typedef struct nid_binary_result {
    size_t       struct_size;  /* set by nid_binary_result_init */
    double       threshold;
    uint64_t     tp, fp, tn, fn;
    nid_estimate accuracy;     /* (tp + tn) / n              */
    nid_estimate sensitivity;  /* tp / (tp + fn)             */
    nid_estimate specificity;  /* tn / (tn + fp)             */
    nid_estimate precision;    /* tp / (tp + fp); NaN if none predicted */
} nid_binary_result;

/** Zero `r` and set its struct_size. NULL is ignored.
 *  The _init macro passes sizeof *p to _init_sized(); the exported
 *  function _init fills the first published fields only (core.h,
 *  "Extensible structs"). */
NID_API void nid_binary_result_init_sized(nid_binary_result *r, size_t size);
NID_API void (nid_binary_result_init)(nid_binary_result *r);
#define nid_binary_result_init(p) \
    nid_binary_result_init_sized((p), sizeof *(p))

/** Accuracy, sensitivity, specificity, precision at `threshold`.
 *  `out` must have been initialised by nid_binary_result_init().
 *  Errors: NID_EINVAL (NULL, n == 0, label not 0/1, non-finite score or
 *  threshold, out->struct_size too small). A rate whose denominator is 0
 *  is NaN with NaN bounds (one class may be absent). Thread-safe. */
NID_API int nid_eval_threshold(const int32_t *labels, const double *scores,
                               size_t n, double threshold,
                               nid_binary_result *out);

/** The threshold maximising Youden's J = sensitivity + specificity - 1
 *  over all distinct scores (ties: the highest such threshold). Writes the
 *  threshold and J (either pointer may be NULL). Errors as nid_eval_auc().
 *  Thread-safe. */
NID_API int nid_eval_youden(const int32_t *labels, const double *scores,
                            size_t n, double *threshold, double *j);

/** Exact (Clopper-Pearson) two-sided 95% interval for k successes in n
 *  trials: value k/n, lo = 0 when k = 0, hi = 1 when k = n, otherwise beta
 *  quantiles (~1e-12 relative against 60-digit references up to n = 2^40).
 *  Errors: NID_EINVAL (n == 0,
 *  k > n, NULL), NID_EINTERNAL (quantile search failed; not expected).
 *  Thread-safe. */
NID_API int nid_eval_clopper_pearson(uint64_t k, uint64_t n,
                                     nid_estimate *out);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* NODULEID_EVAL_H */
