/*
 * noduleid/cluster.h - clustering, offline and online (cluster/).
 *
 * Part of the public C API of libnoduleid; include <noduleid.h>, which includes
 * every module header, or this header alone. Conventions: docs/api-conventions.md.
 *
 * The online clusterer (nid_online_*) is experimental (NID_EXPERIMENTAL):
 * its calls may still change in a minor release; offline clustering
 * follows the ABI rule of noduleid.h (docs/api-conventions.md).
 */
#ifndef NODULEID_CLUSTER_H
#define NODULEID_CLUSTER_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Clustering                                                               */
/* ------------------------------------------------------------------------ */

/** Clustering methods. All link two items when their distance is < the
 *  threshold (strictly less) and need no preset number of clusters. */
typedef enum nid_cluster_method {
    /** Algorithm 1 of Jiang et al. 2023 exactly as published: pick a seed at
     *  random among unassigned items (RNG seeded by options.seed), make it a
     *  cluster, then one pass over the remaining items in index order,
     *  adding each item closer than tau to ANY current member; repeat.
     *  Result depends on the seed. The RNG is splitmix64 (Steele et al.
     *  2014) with state = options.seed: each draw adds 0x9E3779B97F4A7C15
     *  to the state and returns z ^ (z >> 31) after
     *  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9 and
     *  z = (z ^ (z >> 27)) * 0x94D049BB133111EB. With m items unassigned,
     *  draws below 2^64 mod m are rejected and the seed is the
     *  (draw mod m)-th unassigned item in index order (0-based). Same seed,
     *  same input: same labels (see nid_cluster()). Memory n^2/8 bytes (a
     *  bit matrix of the links; n = 10 000: 12.5 MB). */
    NID_CLUSTER_PAPER    = 0,
    /** Single linkage cut at tau: connected components of the graph
     *  d < tau. Order independent; the closure of NID_CLUSTER_PAPER.
     *  Memory O(n): the distances are never stored. */
    NID_CLUSTER_SINGLE   = 1,
    /** Average linkage (UPGMA) agglomeration, merging while the average
     *  inter-cluster distance is < tau. Memory 4 n^2 bytes (a float
     *  matrix; n = 10 000: 400 MB; NID_ENOMEM when it cannot be had). */
    NID_CLUSTER_AVERAGE  = 2,
    /** Complete linkage agglomeration, merging while the largest
     *  inter-cluster distance is < tau. Memory as NID_CLUSTER_AVERAGE. */
    NID_CLUSTER_COMPLETE = 3
} nid_cluster_method;

/** Options for nid_cluster() / nid_cluster_dist() / nid_online_create().
 *  Initialise with nid_cluster_options_init() then set fields. */
typedef struct nid_cluster_options {
    size_t   struct_size; /* = sizeof(nid_cluster_options), set by _init   */
    int      method;      /* nid_cluster_method; default NID_CLUSTER_PAPER  */
    int      metric;      /* nid_metric for embeddings; default COSINE      */
    float    threshold;   /* tau: link when distance < tau; default 0.5     */
    uint64_t seed;        /* RNG seed for NID_CLUSTER_PAPER; default 0      */
    int      n_threads;   /* <= 0: all cores; default 0                     */
    /* Added in 0.2 (read only when struct_size covers them): */
    /** Cannot-link constraints: n_cannot_link pairs of item indices
     *  (cannot_link[2k], cannot_link[2k + 1]) known to be different
     *  nodules, e.g. two tracklets visible in the same frames of one video
     *  (nid_exam_cannot_link()). No cluster ever holds both items of a
     *  pair: paper grows a cluster only by items not cannot-linked to a
     *  member; single merges the linked pairs in increasing distance order
     *  (ties by index) and skips a merge that would join a pair (Kruskal
     *  with constraints); average/complete never merge two clusters that
     *  hold a pair. With constraints, paper and single need the n x n
     *  distance matrix (4 n^2 bytes) and O(links x pairs) time: meant for
     *  one exam's tracklets. Default NULL / 0: none. Refused (NID_EINVAL)
     *  by the online clusterer. */
    const uint32_t *cannot_link;
    size_t          n_cannot_link;
} nid_cluster_options;

/** Fill `opts` with defaults (and struct_size). NULL is ignored.
 *  The _init macro passes sizeof *p to _init_sized(); the exported
 *  function _init fills the first published fields only (core.h,
 *  "Extensible structs"). */
NID_API void nid_cluster_options_init_sized(nid_cluster_options *opts,
                                            size_t size);
NID_API void (nid_cluster_options_init)(nid_cluster_options *opts);
#define nid_cluster_options_init(p) \
    nid_cluster_options_init_sized((p), sizeof *(p))

/** Cluster n embeddings (row-major n x d float32) under opts->metric.
 *  Writes one label per item to labels[0..n-1] (labels_cap >= n) and the
 *  number of clusters k to *n_clusters (may be NULL). Labels are canonical:
 *  0..k-1 numbered in order of each cluster's first item, so equal
 *  partitions give equal label arrays. opts == NULL uses the defaults.
 *  For paper and single, "distance < tau" is decided from float32
 *  products and, for pairs within their rounding error of tau, from the
 *  distance recomputed in double: results do not depend on BLAS, on
 *  n_threads or on the CPU's vector extensions, and equal the online
 *  clusterer's.
 *  Average/complete merge on float32 distances (as nid_distance_matrix).
 *  Errors: NID_EINVAL (NULL x/labels, n == 0, d == 0, non-finite value,
 *  zero-norm row under cosine, threshold not finite or < 0, unknown method
 *  or metric), NID_EBUFSIZE (labels_cap < n), NID_ENOMEM. Thread-safe. */
NID_API int nid_cluster(const float *x, size_t n, size_t d,
                        const nid_cluster_options *opts,
                        int32_t *labels, size_t labels_cap,
                        size_t *n_clusters);

/** Cluster from a precomputed n x n distance matrix (row-major float32,
 *  e.g. 1 - verification probability). Off the diagonal the matrix must be
 *  finite, >= 0 and symmetric: |d[i][j] - d[j][i]| <= 1e-5 *
 *  max(1, d[i][j], d[j][i]) (relative above 1, absolute below); the upper
 *  triangle (d[i][j], i < j) is used; the diagonal is ignored, whatever it
 *  holds. opts->metric and opts->n_threads are ignored. Output and errors
 *  as nid_cluster() (NID_EINVAL names the offending entry). Thread-safe. */
NID_API int nid_cluster_dist(const float *dist, size_t n,
                             const nid_cluster_options *opts,
                             int32_t *labels, size_t labels_cap,
                             size_t *n_clusters);

/** Name of a method ("paper", "single", "average", "complete") or NULL. */
NID_API const char *nid_cluster_method_name(int method);

/** Parse a method name into *method. Errors: NID_EINVAL. */
NID_API int nid_cluster_method_parse(const char *name, int *method);

/* ------------------------------------------------------------------------ */
/* Online clustering                                                        */
/* ------------------------------------------------------------------------ */

/** An online clusterer: items arrive one at a time (e.g. each tracklet as
 *  soon as it ends, during scanning) and each gets a cluster id at once.
 *
 *  Rule: the new item joins the cluster of its nearest earlier item when
 *  that distance is < tau, else starts a new cluster. When the item is also
 *  closer than tau to members of other clusters, those clusters are merged
 *  into the oldest one (single linkage), so after any sequence of adds the
 *  partition equals nid_cluster() with NID_CLUSTER_SINGLE on the same items;
 *  ids of earlier items can therefore change, and nid_online_labels() gives
 *  the current ones. Cluster ids are stable numbers (the id of a merged-away
 *  cluster is never reused); nid_online_labels() can also return them
 *  renumbered canonically.
 *
 *  Thread safety: one thread at a time per handle (no internal locking).
 *  Different handles are independent. */
typedef struct nid_online nid_online;

/** Create an online clusterer for d-dimensional embeddings compared under
 *  opts->metric with threshold opts->threshold (opts->method is ignored).
 *  d == 0 creates a clusterer fed with distances (nid_online_add_dist).
 *  The caller owns *out and frees it with nid_online_free().
 *  Errors: NID_EINVAL, NID_ENOMEM. */
NID_EXPERIMENTAL
NID_API int nid_online_create(nid_online **out, size_t d,
                              const nid_cluster_options *opts);

/** Add one embedding of the dimension given at creation. Writes the item's
 *  cluster id to *cluster (may be NULL). Costs O(size * d): the distance to
 *  every earlier item, in double. Errors: NID_EINVAL (NULL, NaN,
 *  zero norm under cosine, clusterer made with d == 0), NID_ENOMEM; on
 *  error the clusterer is unchanged. */
NID_EXPERIMENTAL
NID_API int nid_online_add(nid_online *oc, const float *x, int32_t *cluster);

/** Add one item given its distances to every earlier item
 *  (dist[i] for item i, n_prev == nid_online_size(oc); dist may be NULL
 *  when n_prev == 0). Only for clusterers created with d == 0. Errors:
 *  NID_EINVAL (NULL, distance not finite or < 0), NID_EMISMATCH (n_prev
 *  differs from the number of items), NID_ENOMEM; on error the clusterer
 *  is unchanged. */
NID_EXPERIMENTAL
NID_API int nid_online_add_dist(nid_online *oc, const float *dist,
                                size_t n_prev, int32_t *cluster);

/** Number of items added so far (0 for NULL). */
NID_EXPERIMENTAL
NID_API size_t nid_online_size(const nid_online *oc);

/** Number of clusters now (0 for NULL). */
NID_EXPERIMENTAL
NID_API size_t nid_online_n_clusters(const nid_online *oc);

/** Current cluster of every item: labels[i] for item i. canonical != 0
 *  renumbers to 0..k-1 in order of first item (as nid_cluster()); 0 gives
 *  the stable ids. Errors: NID_EINVAL, NID_EBUFSIZE (labels_cap < size;
 *  needed size in *needed when needed != NULL). */
NID_EXPERIMENTAL
NID_API int nid_online_labels(const nid_online *oc, int canonical,
                              int32_t *labels, size_t labels_cap,
                              size_t *needed);

/** Forget all items; keeps dimension and options. Cluster ids start again
 *  at 0. NULL is ignored. */
NID_EXPERIMENTAL
NID_API void nid_online_reset(nid_online *oc);

/** Free the clusterer. NULL is ignored. */
NID_EXPERIMENTAL
NID_API void nid_online_free(nid_online *oc);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* NODULEID_CLUSTER_H */
