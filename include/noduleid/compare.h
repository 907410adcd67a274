/*
 * noduleid/compare.h - distances between embeddings (the compare stage without
 * a model; a model's own comparisons are in model.h).
 *
 * Part of the public C API of libnoduleid; include <noduleid.h>, which includes
 * every module header, or this header alone. Conventions: docs/api-conventions.md.
 */
#ifndef NODULEID_COMPARE_H
#define NODULEID_COMPARE_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Distances                                                                */
/* ------------------------------------------------------------------------ */

/** Distance between two embeddings. */
typedef enum nid_metric {
    NID_METRIC_COSINE    = 0, /* 1 - cos(a, b), in [0, 2]            */
    NID_METRIC_EUCLIDEAN = 1  /* ||a - b||_2                          */
} nid_metric;

/** All-pairs distance matrix of n embeddings x (row-major n x d float32).
 *  Writes n*n floats to `out` (row-major, exactly symmetric, zero
 *  diagonal); `out_cap` is its capacity in floats. With NID_METRIC_COSINE a
 *  row of zero norm is an error. Returns NID_EBUFSIZE (needed size in
 *  *out_needed when out_needed != NULL) if out_cap < n*n; on success
 *  *out_needed = n*n. n_threads <= 0 means all cores (small inputs use
 *  fewer threads). Computed in float32 with BLAS (or a blocked C kernel):
 *  within about 1e-6 (relative above 1) of the exact distance; euclidean
 *  pairs that are close next to their norms are recomputed in double.
 *  Errors: NID_EINVAL (NULL, n == 0, d == 0, unknown metric, non-finite
 *  value, zero-norm row), NID_EBUFSIZE, NID_ENOMEM. Thread-safe. */
NID_API int nid_distance_matrix(const float *x, size_t n, size_t d,
                                int metric, int n_threads,
                                float *out, size_t out_cap,
                                size_t *out_needed);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* NODULEID_COMPARE_H */
