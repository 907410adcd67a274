/*
 * noduleid.h - public C API of libnoduleid.
 *
 * libnoduleid tells which ultrasound video clips show the same nodule
 * (re-identification after Jiang et al. 2023). The pipeline is
 *
 *     video -> tracklet -> clip -> model -> compare -> cluster -> eval
 *
 * and this header is the whole public surface: C, C++, Python (cffi) and
 * Java (JNI) programs all go through it.
 *
 * Conventions (see docs/api-conventions.md for the full text):
 *
 *  - Every symbol starts with nid_ / NID_.
 *  - Functions that can fail return an int status: NID_OK (0) on success,
 *    a negative NID_E* code otherwise.  nid_status_str() names a code and
 *    nid_last_error() gives a message with context (file, frame, field,
 *    expected vs. got) for the last failure on the calling thread.
 *  - On failure, out-parameters are left untouched and nothing the caller
 *    owns is modified.
 *  - Objects are opaque handles created by nid_X_create/open/load(&out, ...)
 *    and released by nid_X_free(x); free functions accept NULL.
 *  - Numeric outputs go into caller-allocated buffers with an explicit
 *    capacity; a too-small buffer returns NID_EBUFSIZE and reports the size
 *    needed.
 *  - Structs the caller allocates start with a `struct_size` field and come
 *    with an nid_X_init() function that fills defaults; new fields are only
 *    ever appended.
 *  - Thread safety is stated for every function and handle below.
 *    Functions without handles are pure and may be called from any thread.
 *
 * ABI: within one major version (the SONAME) the ABI only grows: functions
 * and enum values are appended, signatures and struct layouts never change.
 */
#ifndef NODULEID_H
#define NODULEID_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Export macro                                                             */
/* ------------------------------------------------------------------------ */

#if defined(_WIN32) && defined(NID_BUILDING_LIBRARY)
#  define NID_API __declspec(dllexport)
#elif defined(_WIN32)
#  define NID_API __declspec(dllimport)
#elif defined(__GNUC__) && __GNUC__ >= 4
#  define NID_API __attribute__((visibility("default")))
#else
#  define NID_API
#endif

/* ------------------------------------------------------------------------ */
/* Version                                                                  */
/* ------------------------------------------------------------------------ */

#define NID_VERSION_MAJOR 0
#define NID_VERSION_MINOR 1
#define NID_VERSION_PATCH 0
#define NID_VERSION_NUMBER \
    (NID_VERSION_MAJOR * 10000 + NID_VERSION_MINOR * 100 + NID_VERSION_PATCH)
#define NID_VERSION_STRING "0.1.0"

/** Run-time version of the loaded library, as NID_VERSION_NUMBER.
 *  Compare with the macro to detect a header/library mismatch.
 *  Thread-safe. */
NID_API unsigned nid_version_number(void);

/** Run-time version string ("MAJOR.MINOR.PATCH"); static storage.
 *  Thread-safe. */
NID_API const char *nid_version_string(void);

/** Features usable in this process, as a bit set of NID_FEATURE_*: BLAS
 *  when compiled in, and each backend that is compiled in and whose module
 *  loads (see "Backend modules" below). Loads every backend module not yet
 *  loaded (libtorch takes a while); nid_features_ex(NID_FEATURES_LOADED)
 *  asks without loading. Thread-safe. */
NID_API unsigned nid_features(void);

#define NID_FEATURE_BLAS   (1u << 0) /* BLAS-backed distance computation */
#define NID_FEATURE_VIDEO  (1u << 1) /* FFmpeg video input               */
#define NID_FEATURE_DICOM  (1u << 2) /* DCMTK DICOM input                */
#define NID_FEATURE_TORCH  (1u << 3) /* libtorch inference               */
#define NID_FEATURE_CUDA   (1u << 4) /* CUDA-enabled libtorch            */

/* Backend modules. libnoduleid links no libtorch, FFmpeg or DCMTK: each is
 * wrapped by a private module (libnoduleid-torch.so, libnoduleid-ffmpeg.so,
 * libnoduleid-dicom.so) that the library loads (dlopen, RTLD_LOCAL) at the
 * first call that needs it: loading a model, opening a video file, opening
 * a DICOM file or buffer. Modules are looked for in $NODULEID_BACKEND_DIR
 * when set and non-empty, else in the directory noduleid-<major> next to
 * the loaded libnoduleid (<libdir>/noduleid-0). A program that only
 * clusters, evaluates or reads galleries never loads them. Without a
 * module, the calls that need it return NID_ENOTSUP with a message naming
 * the missing module, the directory and the loader's error; everything
 * else works. docs/backends.md has the details. */

/** Flags of nid_features_ex(). */
#define NID_FEATURES_LOADED (1u << 0) /* load nothing: the modules loaded so far */
#define NID_FEATURES_BUILT  (1u << 1) /* load nothing: what the build was configured with */

/** nid_features() with control over loading: flags 0 is nid_features();
 *  NID_FEATURES_LOADED reports BLAS and the backends already loaded;
 *  NID_FEATURES_BUILT the features this build was configured with, whether
 *  or not their modules are installed. Unknown flags are ignored.
 *  Thread-safe. */
NID_API unsigned nid_features_ex(unsigned flags);

/** Load backend module `name` ("torch", "ffmpeg" or "dicom") now instead
 *  of at its first use; loading happens once per process, later calls
 *  give the same answer. Returns NID_OK when it is loaded; NID_ENOTSUP
 *  when the build lacks it or the module cannot be loaded (message: the
 *  file tried and the dynamic loader's error); NID_EINVAL for another
 *  name. Thread-safe. */
NID_API int nid_backend_load(const char *name);

/** The directory searched for backend modules (see above), fixed at the
 *  first call of this function or the first load; static storage.
 *  Thread-safe. */
NID_API const char *nid_backend_dir(void);

/* ------------------------------------------------------------------------ */
/* Status codes and errors                                                  */
/* ------------------------------------------------------------------------ */

/** Status codes. 0 is success; every error is negative. Values are stable
 *  and only ever appended. */
typedef enum nid_status {
    NID_OK           =  0,  /* success                                       */
    NID_EINVAL       = -1,  /* invalid argument (NULL, zero size, NaN, ...)  */
    NID_ENOMEM       = -2,  /* out of memory                                 */
    NID_EIO          = -3,  /* a file could not be opened, read or written   */
    NID_EFORMAT      = -4,  /* malformed or unsupported content of a file    */
    NID_EBUFSIZE     = -5,  /* caller's buffer too small; size reported      */
    NID_ENOTSUP      = -6,  /* feature not compiled in or not supported      */
    NID_ECANCELED    = -7,  /* cancelled by a progress callback              */
    NID_ERANGE       = -8,  /* index or value out of range                   */
    NID_EMISMATCH    = -9,  /* inputs disagree (sizes, models, versions)     */
    NID_EINTERNAL    = -10  /* internal error (a bug); message says where    */
} nid_status;

/** Name and short description of a status code, e.g. "NID_EINVAL: invalid
 *  argument". Never NULL; static storage. Thread-safe. */
NID_API const char *nid_status_str(int status);

/** Message of the last failing call on the calling thread, with context
 *  (which argument, file, frame, field, expected vs. got). Returns "" when
 *  no call has failed on this thread. The pointer is valid until the next
 *  library call on the same thread. Thread-safe (thread-local storage). */
NID_API const char *nid_last_error(void);

/** Clear the calling thread's last error. Thread-safe. */
NID_API void nid_clear_error(void);

/* ------------------------------------------------------------------------ */
/* Limits                                                                   */
/* ------------------------------------------------------------------------ */

/* What the library reads, it reads within these limits; a larger input is
 * refused with NID_ERANGE and a message naming the file and the limit,
 * before the memory for it is committed (docs/api-conventions.md). */

/** Largest file read whole (exam JSON, COCO-VID JSON, gallery file, model
 *  metadata), and largest decompressed gallery payload: 1 GiB. */
#define NID_MAX_FILE_BYTES (1ull << 30)
/** Largest frame width and height, in pixels (video, DICOM, raw frames). */
#define NID_MAX_FRAME_SIDE 16384
/** Most frames in one video, and frame numbers are below it: 2^24
 *  (77 hours at 60 frames/s). */
#define NID_MAX_FRAMES (1ll << 24)
/** Longest tracklet, end - start + 1 frames: 2^20 (4.8 hours at 60/s). */
#define NID_MAX_TRACKLET_FRAMES (1ll << 20)
/** Most embeddings in one gallery file or gallery: 2^24. */
#define NID_MAX_EMBEDDINGS (1ull << 24)
/* ------------------------------------------------------------------------ */
/* Logging                                                                  */
/* ------------------------------------------------------------------------ */

typedef enum nid_log_level {
    NID_LOG_ERROR = 0,
    NID_LOG_WARN  = 1,
    NID_LOG_INFO  = 2,
    NID_LOG_DEBUG = 3
} nid_log_level;

/** Log callback: `level` is an nid_log_level, `msg` a NUL-terminated line
 *  without trailing newline, valid only during the call. May be called from
 *  any thread that calls into the library; it must be thread-safe. */
typedef void (*nid_log_fn)(int level, const char *msg, void *payload);

/** Install a process-wide log callback receiving messages with
 *  level <= max_level. fn == NULL restores the default, which is silent.
 *  Thread-safe, but messages being delivered concurrently may still reach
 *  the previous callback. */
NID_API void nid_set_log_callback(nid_log_fn fn, int max_level, void *payload);

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

/** Fill `opts` with defaults (and struct_size). NULL is ignored. */
NID_API void nid_cluster_options_init(nid_cluster_options *opts);

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
NID_API int nid_online_create(nid_online **out, size_t d,
                              const nid_cluster_options *opts);

/** Add one embedding of the dimension given at creation. Writes the item's
 *  cluster id to *cluster (may be NULL). Costs O(size * d): the distance to
 *  every earlier item, in double. Errors: NID_EINVAL (NULL, NaN,
 *  zero norm under cosine, clusterer made with d == 0), NID_ENOMEM; on
 *  error the clusterer is unchanged. */
NID_API int nid_online_add(nid_online *oc, const float *x, int32_t *cluster);

/** Add one item given its distances to every earlier item
 *  (dist[i] for item i, n_prev == nid_online_size(oc); dist may be NULL
 *  when n_prev == 0). Only for clusterers created with d == 0. Errors:
 *  NID_EINVAL (NULL, distance not finite or < 0), NID_EMISMATCH (n_prev
 *  differs from the number of items), NID_ENOMEM; on error the clusterer
 *  is unchanged. */
NID_API int nid_online_add_dist(nid_online *oc, const float *dist,
                                size_t n_prev, int32_t *cluster);

/** Number of items added so far (0 for NULL). */
NID_API size_t nid_online_size(const nid_online *oc);

/** Number of clusters now (0 for NULL). */
NID_API size_t nid_online_n_clusters(const nid_online *oc);

/** Current cluster of every item: labels[i] for item i. canonical != 0
 *  renumbers to 0..k-1 in order of first item (as nid_cluster()); 0 gives
 *  the stable ids. Errors: NID_EINVAL, NID_EBUFSIZE (labels_cap < size;
 *  needed size in *needed when needed != NULL). */
NID_API int nid_online_labels(const nid_online *oc, int canonical,
                              int32_t *labels, size_t labels_cap,
                              size_t *needed);

/** Forget all items; keeps dimension and options. Cluster ids start again
 *  at 0. NULL is ignored. */
NID_API void nid_online_reset(nid_online *oc);

/** Free the clusterer. NULL is ignored. */
NID_API void nid_online_free(nid_online *oc);

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

/** Zero `s` and set its struct_size. NULL is ignored. */
NID_API void nid_cluster_scores_init(nid_cluster_scores *s);

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

NID_API void nid_auc_result_init(nid_auc_result *r);

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

NID_API void nid_delong_result_init(nid_delong_result *r);

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

NID_API void nid_binary_result_init(nid_binary_result *r);

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

/* ------------------------------------------------------------------------ */
/* Video input (video/)                                                     */
/* ------------------------------------------------------------------------ */

/** Pixel formats of decoded frames: 8 bits per sample, packed rows. */
typedef enum nid_pixel_format {
    NID_PIX_GRAY8 = 0,   /* 1 byte per pixel                       */
    NID_PIX_RGB24 = 1    /* 3 bytes per pixel, R G B               */
} nid_pixel_format;

/** A view of one frame's pixels. Borrowed: who gives it to you says how
 *  long it stays valid. `stride` is the distance in bytes between rows
 *  (>= width * bytes per pixel). */
typedef struct nid_frame {
    const uint8_t *data;
    int32_t        width;
    int32_t        height;
    size_t         stride;
    int32_t        format;   /* nid_pixel_format */
} nid_frame;

/** A video: a file decoded by FFmpeg, a DICOM multi-frame image decoded by
 *  DCMTK, or frames the caller already has in memory.
 *
 *  Thread safety: one thread at a time per handle (decoder state). Open one
 *  handle per thread to decode the same file in parallel. */
typedef struct nid_video nid_video;

/** Options for nid_video_open(). Initialise with nid_video_options_init(). */
typedef struct nid_video_options {
    size_t  struct_size;  /* set by _init                                  */
    int32_t format;       /* output nid_pixel_format; default NID_PIX_GRAY8 */
    int32_t n_threads;    /* decoder threads; <= 0: library default (1)    */
} nid_video_options;

NID_API void nid_video_options_init(nid_video_options *opts);

/** Facts about an open video. */
typedef struct nid_video_info {
    size_t  struct_size;  /* set by nid_video_info_init                    */
    int64_t n_frames;     /* exact number of decodable frames              */
    double  fps;          /* frames per second (DICOM: from frame time);
                             0 when the file does not say                  */
    int32_t width;
    int32_t height;
    int32_t format;       /* nid_pixel_format of the frames returned       */
    char    source[16];   /* "ffmpeg", "dicom" or "frames"                 */
    char    codec[32];    /* decoder / transfer syntax name                */
} nid_video_info;

NID_API void nid_video_info_init(nid_video_info *info);

/** Open a video file. DICOM files (the "DICM" magic at offset 128) go to
 *  DCMTK, everything else to FFmpeg. The caller owns *out (nid_video_free).
 *  FFmpeg files are demuxed once here to index every frame's timestamp
 *  (no decoding: a few ms for a 1-minute 640x480 H.264 file, under 1% of
 *  decoding it), which makes n_frames exact and random access
 *  frame-accurate. GRAY8 output is full
 *  range (black 0, white 255) whatever the video's range. DICOM frames are
 *  decoded lazily, one at a time; the file must stay in place while open.
 *  Logging: the first open routes FFmpeg's and DCMTK's process-wide logs
 *  (av_log_set_callback, DCMTK's root logger) to nid_set_log_callback at
 *  NID_LOG_DEBUG, so nothing is printed by default.
 *  Errors: NID_EINVAL, NID_EIO (cannot open/read: message names the file),
 *  NID_EFORMAT (not a video, no video stream, undecodable frame: message
 *  names file and frame), NID_ENOTSUP (FFmpeg or DCMTK not compiled in),
 *  NID_ENOMEM. */
NID_API int nid_video_open(nid_video **out, const char *path,
                           const nid_video_options *opts);

/** Flags for nid_video_from_frames(). */
#define NID_FRAMES_COPY 1u  /* copy the pixels; else they are borrowed and
                               must outlive the video handle */

/** Wrap n frames the caller already decoded (e.g. a PACS plugin) as a
 *  video, so clips can be built without FFmpeg. All frames must share size
 *  and format. Without NID_FRAMES_COPY the pixels are borrowed. fps: frames
 *  per second, 0 when unknown. Frames come back in their own format unless
 *  nid_video_set_format() asks for the other one.
 *  Errors: NID_EINVAL (NULL, n == 0, size/format/stride differ or invalid,
 *  fps negative or not finite, unknown flags: message names the frame),
 *  NID_ENOMEM. */
NID_API int nid_video_from_frames(nid_video **out, const nid_frame *frames,
                                  size_t n, double fps, unsigned flags);

/** Fill *info (initialised by nid_video_info_init). */
NID_API int nid_video_get_info(const nid_video *v, nid_video_info *info);

/** Frame `index` (0-based, frame-accurate) as a borrowed view valid until
 *  the next call on `v` or nid_video_free(). Sequential access (index ==
 *  previous + 1) does not seek. Errors: NID_EINVAL, NID_ERANGE (index out
 *  of [0, n_frames)), NID_EFORMAT (decode failure: names file and frame). */
NID_API int nid_video_frame(nid_video *v, int64_t index, nid_frame *frame);

/** Copy frame `index` into dst as packed rows (stride = width * bytes per
 *  pixel); dst_cap in bytes. NID_EBUFSIZE (needed bytes in *needed when
 *  needed != NULL) if too small. Other errors as nid_video_frame(). */
NID_API int nid_video_read_frame(nid_video *v, int64_t index, uint8_t *dst,
                                 size_t dst_cap, size_t *needed);

/** Close the video. NULL is ignored. */
NID_API void nid_video_free(nid_video *v);

/** Return frames in `format` (nid_pixel_format) from now on, e.g. gray
 *  frames from an RGB24 nid_video_from_frames() video; info.format follows.
 *  RGB24 -> GRAY8 is BT.601 luma, GRAY8 -> RGB24 repeats the value. A view
 *  from nid_video_frame() taken before the call is invalid afterwards.
 *  Errors: NID_EINVAL (NULL, unknown format), NID_ENOMEM. */
NID_API int nid_video_set_format(nid_video *v, int32_t format);

/** Presentation time of frame `index` in seconds after frame 0, from the
 *  file's timestamps (FFmpeg), Frame Time / Frame Time Vector (DICOM) or
 *  index / fps. Errors: NID_EINVAL, NID_ERANGE, NID_ENOTSUP (no timing:
 *  info.fps is 0 and the file has no timestamps). */
NID_API int nid_video_frame_time(const nid_video *v, int64_t index,
                                 double *seconds);

/** Open a DICOM instance held in memory (e.g. read from a PACS's storage
 *  by a plugin), the same way nid_video_open() opens a DICOM file: same
 *  transfer syntaxes, photometric interpretations, timing and output. The
 *  `size` bytes at `data` (a DICOM file: 128-byte preamble, "DICM", meta
 *  header, dataset) are read during the call and not used afterwards: the
 *  caller may free them once it returns. `name` (may be NULL) labels the
 *  instance in error messages, e.g. its SOP Instance UID. Memory: the whole
 *  dataset stays in memory while the video is open (frames are still
 *  decoded one at a time). Caller owns *out (nid_video_free).
 *  Errors: NID_EINVAL (NULL out or data, bad opts), NID_EFORMAT (empty, not
 *  DICOM, truncated or corrupt, no pixel data, undecodable image: the
 *  message names `name`), NID_ENOTSUP (no DICOM support compiled in),
 *  NID_ENOMEM. Thread-safe (the new handle belongs to the caller). */
NID_API int nid_video_open_memory(nid_video **out, const void *data,
                                  size_t size, const char *name,
                                  const nid_video_options *opts);

/* (end of video section: video declarations go above this line) */

/* ------------------------------------------------------------------------ */
/* Tracklets and clips (tracklet/, clip/)                                   */
/* ------------------------------------------------------------------------ */

/* ---- Boxes and exams ---------------------------------------------------- */

/** An axis-aligned box in pixels, COCO convention: (x, y) is the top-left
 *  corner, (w, h) the size; the box covers [x, x + w) x [y, y + h). */
typedef struct nid_box {
    float x;
    float y;
    float w;
    float h;
} nid_box;

/** Intersection over union of two boxes, in [0, 1]; 0 when either box has
 *  no area or a value is not finite. Pure; thread-safe. */
NID_API float nid_box_iou(const nid_box *a, const nid_box *b);

/** How the box of a frame between two key frames is obtained. */
typedef enum nid_interp {
    /** The method's rule (Jiang et al. 2023): the union (bounding box) of
     *  the two adjacent key-frame boxes; a key frame gets its own box. */
    NID_INTERP_UNION  = 0,
    /** Linear interpolation of x, y, w, h in the frame number. */
    NID_INTERP_LINEAR = 1
} nid_interp;

/** The annotations of one exam: its videos and, per video, the tracklets
 *  (a run of frames in which one nodule is seen, with boxes on key frames).
 *  Stored as JSON, format "noduleid-exam" version 1 (docs/exam-format.md).
 *
 *  Tracklets are numbered 0..n-1 over the whole exam, grouped by video in
 *  video order and in insertion (file) order within a video; adding a
 *  tracklet to a video shifts the numbers of later videos' tracklets.
 *  Strings returned by the accessors are borrowed and stay valid until the
 *  exam is modified or freed.
 *
 *  Thread safety: functions taking a const nid_exam * may be called from
 *  many threads at once; a function that modifies the exam needs the
 *  handle to itself (no other call on it at the same time). */
typedef struct nid_exam nid_exam;

/** One video of an exam. nid_exam_add_video() reads id, path, n_frames,
 *  fps, width, height; nid_exam_get_video() fills every field.
 *  Initialise with nid_exam_video_info_init(). */
typedef struct nid_exam_video_info {
    size_t      struct_size;   /* set by _init                              */
    const char *id;            /* unique within the exam, non-empty        */
    const char *path;          /* as written in the file, non-empty        */
    const char *resolved_path; /* path resolved against the directory of
                                  the JSON file (output only)              */
    int64_t     n_frames;      /* -1: unknown (default)                    */
    double      fps;           /* 0: unknown (default)                     */
    int32_t     width;         /* 0: unknown (default)                     */
    int32_t     height;        /* 0: unknown (default)                     */
    size_t      first_tracklet;/* index of its first tracklet (output)     */
    size_t      n_tracklets;   /* number of its tracklets (output)         */
} nid_exam_video_info;

/** Fill `info` with defaults (unknown sizes, NULL strings) and set its
 *  struct_size. NULL is ignored. */
NID_API void nid_exam_video_info_init(nid_exam_video_info *info);

/** One tracklet, as filled by nid_exam_get_tracklet(). */
typedef struct nid_tracklet_info {
    size_t      struct_size;  /* set by _init                              */
    const char *id;           /* unique within the exam                    */
    size_t      video;        /* index of its video                        */
    int32_t     nodule;       /* nodule identity; -1: unknown              */
    int64_t     start;        /* first frame (0-based, inclusive)          */
    int64_t     end;          /* last frame (inclusive), >= start          */
    size_t      n_key_frames; /* >= 1; the first is start, the last end    */
} nid_tracklet_info;

/** Zero `info` and set its struct_size. NULL is ignored. */
NID_API void nid_tracklet_info_init(nid_tracklet_info *info);

/** Facts about an exam, as filled by nid_exam_get_info(). */
typedef struct nid_exam_info {
    size_t      struct_size;  /* set by _init                              */
    const char *exam_id;      /* NULL when absent                          */
    const char *patient_id;   /* NULL when absent                          */
    const char *date;         /* "YYYY-MM-DD" or NULL when absent          */
    const char *meta_json;    /* the "meta" object as compact JSON, or NULL */
    const char *source;       /* file it was loaded from, or NULL          */
    size_t      n_videos;
    size_t      n_tracklets;
} nid_exam_info;

/** Zero `info` and set its struct_size. NULL is ignored. */
NID_API void nid_exam_info_init(nid_exam_info *info);

/** Create an empty exam. Each of exam_id, patient_id, date may be NULL
 *  (absent); date must look like "YYYY-MM-DD". Relative video paths of a
 *  created exam are resolved against the current directory. The caller owns
 *  *out (nid_exam_free). Errors: NID_EINVAL (bad date), NID_ENOMEM. */
NID_API int nid_exam_create(nid_exam **out, const char *exam_id,
                            const char *patient_id, const char *date);

/** Load an exam from a "noduleid-exam" JSON file, checking everything
 *  docs/exam-format.md requires. The caller owns *out (nid_exam_free).
 *  Errors: NID_EINVAL (NULL), NID_EIO (cannot open or read the file),
 *  NID_EFORMAT (not JSON, unknown field, wrong type, bad value: the message
 *  names the file, the JSON path such as
 *  videos[1].tracklets[3].key_frames[2].box, and what was expected),
 *  NID_ENOMEM. */
NID_API int nid_exam_load(nid_exam **out, const char *path);

/** Parse an exam from `len` bytes of "noduleid-exam" JSON text in memory
 *  (e.g. a request body), with the checks of nid_exam_load(). `name` (may
 *  be NULL) stands for the file name in messages. Relative video paths
 *  are kept as written (nothing is resolved against a directory), so a
 *  caller may use them as keys of its own, e.g. PACS instance ids.
 *  Errors: NID_EINVAL (NULL out or json), NID_EFORMAT (as nid_exam_load:
 *  names `name` and the JSON path), NID_ENOMEM. Thread-safe. */
NID_API int nid_exam_load_json(nid_exam **out, const char *json, size_t len,
                               const char *name);

/** Write the exam to `path` as "noduleid-exam" version 1 JSON. Atomic: the
 *  text goes to a temporary file in the same directory, which is flushed to
 *  disk and renamed over `path`, so `path` holds either the old or the new
 *  content, never a partial file. Video paths are written as stored (they
 *  are relative to the file's directory when read back). Errors:
 *  NID_EINVAL, NID_EIO (message names the file and the system error),
 *  NID_ENOMEM. Thread-safe with respect to other const calls. */
NID_API int nid_exam_save(const nid_exam *exam, const char *path);

/** Import a COCO-VID style annotation file (videos / images / annotations,
 *  as public ultrasound video data sets ship them) as an exam; the mapping
 *  is documented in docs/exam-format.md. Unknown fields are ignored.
 *  The caller owns *out. Errors: NID_EINVAL, NID_EIO, NID_EFORMAT (message
 *  names file and JSON path), NID_ENOMEM. */
NID_API int nid_exam_import_coco_vid(nid_exam **out, const char *path);

/** Free the exam. NULL is ignored. No other call may be using it. */
NID_API void nid_exam_free(nid_exam *exam);

/** Fill *info (initialised by nid_exam_info_init). Errors: NID_EINVAL. */
NID_API int nid_exam_get_info(const nid_exam *exam, nid_exam_info *info);

/** Replace the exam's free-form "meta" object with `json` (a JSON object
 *  as text), or remove it when json == NULL. Errors: NID_EINVAL (not a
 *  JSON object: the message says where), NID_ENOMEM. */
NID_API int nid_exam_set_meta(nid_exam *exam, const char *json);

/** Append a video described by info->id, path, n_frames, fps, width,
 *  height (other fields ignored). Its index goes to *index (may be NULL).
 *  Errors: NID_EINVAL (NULL or empty id/path, id already used, negative or
 *  non-finite size/fps), NID_ENOMEM. */
NID_API int nid_exam_add_video(nid_exam *exam,
                               const nid_exam_video_info *info,
                               size_t *index);

/** Add a tracklet to video `video`: key frames frames[0..n-1] (strictly
 *  increasing, >= 0) with boxes[0..n-1]; the tracklet runs from frames[0]
 *  to frames[n-1]. nodule is its nodule identity or -1. Boxes need w > 0,
 *  h > 0, finite values, and must lie inside the frame when the video's
 *  size is known (1 pixel of slack); frames must be < n_frames when that is
 *  known. The new tracklet's index goes to *index (may be NULL).
 *  Errors: NID_EINVAL (NULL, n == 0, duplicate id, bad frame or box: the
 *  message names the tracklet and the frame), NID_ERANGE (no such video),
 *  NID_ENOMEM. */
NID_API int nid_exam_add_tracklet(nid_exam *exam, size_t video,
                                  const char *id, int32_t nodule,
                                  const int64_t *frames,
                                  const nid_box *boxes, size_t n,
                                  size_t *index);

/** Fill *info for video `v` (info initialised by
 *  nid_exam_video_info_init). Errors: NID_EINVAL, NID_ERANGE. */
NID_API int nid_exam_get_video(const nid_exam *exam, size_t v,
                               nid_exam_video_info *info);

/** Fill *info for tracklet `t` (initialised by nid_tracklet_info_init).
 *  Errors: NID_EINVAL, NID_ERANGE. */
NID_API int nid_exam_get_tracklet(const nid_exam *exam, size_t t,
                                  nid_tracklet_info *info);

/** Index of the tracklet with id `id`. Errors: NID_EINVAL, NID_ERANGE (no
 *  such tracklet: the message names the id). */
NID_API int nid_exam_find_tracklet(const nid_exam *exam, const char *id,
                                   size_t *t);

/** Key frame k (0 <= k < n_key_frames) of tracklet t: its frame number
 *  and box (either pointer may be NULL). Errors: NID_EINVAL, NID_ERANGE. */
NID_API int nid_exam_key_frame(const nid_exam *exam, size_t t, size_t k,
                               int64_t *frame, nid_box *box);

/** The box of tracklet t on `frame` (start <= frame <= end): the key
 *  frame's box on a key frame, else obtained from the two adjacent key
 *  frames by `interp` (nid_interp). Errors: NID_EINVAL (NULL, unknown
 *  interp), NID_ERANGE (no such tracklet, frame outside the tracklet). */
NID_API int nid_exam_tracklet_box(const nid_exam *exam, size_t t,
                                  int64_t frame, int interp, nid_box *box);

/** Cannot-link constraints that the exam gives for free: the pairs of
 *  tracklets (t1 < t2) of the same video that are visible in common frames
 *  and whose boxes there stay apart (median IoU over the common frames <
 *  max_iou; boxes by NID_INTERP_UNION): one nodule is not seen twice at
 *  once, so such tracklets are different nodules. Two tracks of one nodule
 *  (a detector's duplicate) overlap strongly and are not paired; max_iou
 *  <= 0 uses 0.5. Writes up to pairs_cap pairs (2 * pairs_cap uint32
 *  indices) to pairs, in (t1, t2) order, and the number of pairs to
 *  *n_pairs; pairs may be NULL with pairs_cap 0 to count. Feed them to
 *  nid_cluster_options.cannot_link. Errors: NID_EINVAL (NULL exam or
 *  n_pairs), NID_EBUFSIZE (pairs_cap < *n_pairs; *n_pairs is set),
 *  NID_ENOMEM. Thread-safe for a const exam. */
NID_API int nid_exam_cannot_link(const nid_exam *exam, float max_iou,
                                 uint32_t *pairs, size_t pairs_cap,
                                 size_t *n_pairs);

/* ---- Linking per-frame detections into tracklets ------------------------ */

/** One detected box on one frame (e.g. from a nodule detector). */
typedef struct nid_detection {
    int64_t frame;  /* 0-based frame number */
    nid_box box;
    float   score;  /* detector confidence; compared with min_score */
} nid_detection;

/** Options for nid_link_detections(). Initialise with
 *  nid_link_options_init(). */
typedef struct nid_link_options {
    size_t  struct_size;   /* set by _init                                */
    float   iou_threshold; /* link when IoU >= this; default 0.3           */
    int32_t max_gap;       /* frames without a detection a track may skip;
                              default 5                                   */
    int32_t min_length;    /* drop tracks spanning fewer frames
                              (end - start + 1); default 8                */
    float   min_score;     /* ignore detections scoring below; default 0  */
} nid_link_options;

NID_API void nid_link_options_init(nid_link_options *opts);

/** Link the detections of one video into tracklets and add them to the
 *  exam (nid_exam_add_tracklet rules; ids "<video id>-t<k>" with the first
 *  free k). Greedy, frame by frame in increasing frame order, a frame's
 *  detections ordered by box (x, y, w, h) then score: each open track is
 *  compared with its last box; (track, detection) pairs with IoU > 0 and
 *  IoU >= iou_threshold are taken highest IoU first (ties: older track,
 *  then earlier detection), each track and detection at most once; a
 *  detection left over starts a new track; a track with no detection for
 *  more than max_gap frames is closed. This is not the optimal (Hungarian)
 *  assignment. Key frames are the frames with a detection; tracks spanning
 *  fewer than min_length frames (end - start + 1) are dropped. The result
 *  does not depend on the order of `dets`; tracklets are added by start
 *  frame, then by creation order.
 *  The number of tracklets added goes to *n_added (may be NULL); nodule
 *  ids are -1. n == 0 adds nothing. On error the exam is unchanged.
 *  Errors: NID_EINVAL (NULL with n > 0, bad options, a detection with a
 *  negative frame or one past a known n_frames, a box not finite, with
 *  w/h <= 0 or outside a known frame size: the message names the
 *  detection), NID_ERANGE (no such video), NID_ENOMEM. Modifies the exam:
 *  needs the handle to itself. */
NID_API int nid_link_detections(nid_exam *exam, size_t video,
                                const nid_detection *dets, size_t n,
                                const nid_link_options *opts,
                                size_t *n_added);

/* ---- Clips --------------------------------------------------------------- */

/** Resampling filter used to resize a crop. */
typedef enum nid_filter {
    /** Per axis: exact box filter (area average, = OpenCV INTER_AREA) when
     *  shrinking, bilinear when enlarging. */
    NID_FILTER_AREA     = 0,
    /** Bilinear, align_corners=False semantics, identical to
     *  torch.nn.functional.interpolate(mode="bilinear",
     *  align_corners=False) (no antialiasing). */
    NID_FILTER_BILINEAR = 1,
    /** Nearest neighbour, pixel centres: source index
     *  floor((dst + 0.5) * in / out), as torch "nearest-exact". */
    NID_FILTER_NEAREST  = 2
} nid_filter;

/** How frames are picked from a tracklet. */
typedef enum nid_sampling {
    /** One clip of T frames evenly spaced over [start, end]:
     *  frame_i = start + floor(i * (L - 1) / (T - 1) + 1/2) for L =
     *  end - start + 1 (T == 1: start + (L - 1) / 2); short tracklets
     *  repeat frames. */
    NID_SAMPLE_UNIFORM = 0,
    /** Sliding windows of T consecutive frames every window_stride frames;
     *  the last window ends at `end`. A tracklet shorter than T gives one
     *  window sampled as NID_SAMPLE_UNIFORM. */
    NID_SAMPLE_WINDOWS = 1
} nid_sampling;

/** What lies outside the image when the crop goes past its edge. */
typedef enum nid_pad {
    NID_PAD_ZERO      = 0, /* black pixels (value 0 before normalising) */
    NID_PAD_REPLICATE = 1  /* the nearest edge pixel                   */
} nid_pad;

/** Options for nid_clip_count() / nid_clip_build() / nid_crop_resize().
 *  Initialise with nid_clip_options_init(). */
typedef struct nid_clip_options {
    size_t  struct_size;   /* set by _init                                 */
    int32_t frames;        /* T, frames per clip; default 16              */
    int32_t height;        /* H of each frame; default 256                */
    int32_t width;         /* W of each frame; default 128                */
    int32_t channels;      /* 3 (gray replicated, or RGB) or 1 (gray, or
                              BT.601 luma of RGB); default 3             */
    float   margin;        /* context added on each side, relative to the
                              box size; default 0.1                       */
    int32_t filter;        /* nid_filter; default NID_FILTER_AREA         */
    int32_t interp;        /* nid_interp; default NID_INTERP_UNION        */
    int32_t sampling;      /* nid_sampling; default NID_SAMPLE_UNIFORM    */
    int32_t window_stride; /* NID_SAMPLE_WINDOWS step; <= 0: T (default 0) */
    int32_t pad;           /* nid_pad; default NID_PAD_ZERO               */
    float   mean[3];       /* value = (pixel / 255 - mean[c]) / std[c];   */
    float   std[3];        /* defaults 0.5 and 0.5, giving [-1, 1]        */
    /* Added in 0.2 (read only when struct_size covers it): */
    int32_t coords;        /* nid_coords; default NID_COORDS_NONE         */
} nid_clip_options;

/** Coordinate channels of a clip (nid_clip_options.coords). Cropping and
 *  resizing to H x W throws away where the box was and how large it was;
 *  with NID_COORDS_FRAME every clip frame gets two more channels after the
 *  image channel(s), so a clip has channels + 2 channels:
 *    Y = 2 y / frame_height - 1 and X = 2 (x - cx) / frame_height,
 *  where (x, y) is the output pixel's centre mapped back into the frame
 *  (crop rectangle, see nid_crop_resize) and cx the box's centre x. Y is
 *  the depth below the top of the image (-1 at the skin line, +1 at the
 *  bottom), X spans the crop's width in the same scale: together they
 *  carry the nodule's depth and size, which the image channels cannot.
 *  Not normalised by mean/std. */
typedef enum nid_coords {
    NID_COORDS_NONE  = 0,
    NID_COORDS_FRAME = 1
} nid_coords;

NID_API void nid_clip_options_init(nid_clip_options *opts);

/** Crop `box` (grown by opts->margin) out of `frame` and resize it to
 *  opts->height x opts->width with opts->filter, normalised. The crop is
 *  the pixel rectangle [floor(x - m*w), ceil(x + w + m*w)) x [floor(y -
 *  m*h), ceil(y + h + m*h)) (m = opts->margin; m*w and m*h rounded to
 *  float, the rest in double), at least 1 pixel, aspect ratio not kept,
 *  padded per opts->pad where it leaves the image. Writes C x H x W float32 (C = opts->channels)
 *  to out; out_cap in floats. NID_EBUFSIZE (needed floats in *needed when
 *  needed != NULL) if too small. opts == NULL uses the defaults.
 *  Errors: NID_EINVAL (NULL, bad frame or box, bad options: the message
 *  names the field), NID_EBUFSIZE, NID_ENOMEM. Thread-safe. */
NID_API int nid_crop_resize(const nid_frame *frame, const nid_box *box,
                            const nid_clip_options *opts, float *out,
                            size_t out_cap, size_t *needed);

/** How many clips tracklet t gives under opts (1 for NID_SAMPLE_UNIFORM)
 *  and how many floats nid_clip_build() writes for them (either pointer may
 *  be NULL). Errors: NID_EINVAL, NID_ERANGE (no such tracklet), NID_ENOMEM
 *  (size overflows). Thread-safe. */
NID_API int nid_clip_count(const nid_exam *exam, size_t t,
                           const nid_clip_options *opts, size_t *n_clips,
                           size_t *n_floats);

/** Build the clips of tracklet t from `video` (the video the tracklet's
 *  video entry refers to). Writes N x C x T x H x W float32, row-major
 *  (clip, channel, frame, row, column, the layout of PyTorch video
 *  models), N = nid_clip_count(); out_cap in floats. Each frame is decoded
 *  once even when windows overlap, in increasing frame order. Sets
 *  *n_clips (may be NULL). NID_EBUFSIZE (needed floats in *needed when
 *  needed != NULL) if out_cap is too small. Errors: NID_EINVAL, NID_ERANGE
 *  (no such tracklet), NID_EMISMATCH (tracklet runs past the video's last
 *  frame, or a box lies outside the video's frames: the message names the
 *  tracklet and the frame), NID_EBUFSIZE, video decode errors, NID_ENOMEM.
 *  On any error `out` is untouched: the clips are built in scratch memory
 *  of the output's size and copied to `out` at the end.
 *  Thread safety: as the video handle (one thread at a time per video). */
NID_API int nid_clip_build(nid_video *video, const nid_exam *exam, size_t t,
                           const nid_clip_options *opts, float *out,
                           size_t out_cap, size_t *n_clips, size_t *needed);

/** The frame numbers of clip `clip` of tracklet t: writes T int64 values
 *  to frames (frames_cap >= T). Errors: NID_EINVAL, NID_ERANGE (no such
 *  tracklet or clip), NID_EBUFSIZE (needed count in *needed). Thread-safe
 *  (const exam). */
NID_API int nid_clip_frames(const nid_exam *exam, size_t t,
                            const nid_clip_options *opts, size_t clip,
                            int64_t *frames, size_t frames_cap,
                            size_t *needed);

/* (end of tracklet/clip section: declarations go above this line) */

/* ------------------------------------------------------------------------ */
/* Model (model/)                                                           */
/* ------------------------------------------------------------------------ */
/* A model package (docs/model-package.md) is one TorchScript file holding
 * the network that maps clips to embeddings (forward) and, for a
 * verification model, the head that maps two embeddings to the probability
 * that they show the same nodule (verify), plus JSON metadata: input size,
 * normalisation, crop margin, embedding size, thresholds, model id.
 *
 * Similarity and distance. nid_model_compare*() give similarities, higher
 * meaning "more likely the same nodule":
 *   NID_COMPARE_COSINE  s = cos(a, b), in [-1, 1];
 *   NID_COMPARE_VERIFY  s = (p(a, b) + p(b, a)) / 2, in [0, 1], where p is
 *                       the verification head's probability "same" (the
 *                       head sees concat(a, b), so the order matters; the
 *                       mean of both orders makes s symmetric).
 * The matching distance is d = 1 - s (clamped at 0), in [0, 2] for cosine
 * (= nid_distance_matrix() with NID_METRIC_COSINE) and [0, 1] for verify;
 * nid_model_distance_matrix() writes it, ready for nid_cluster_dist(). The
 * package's thresholds refer to these: a pair is "same" when
 * s >= info.pair_threshold, and clustering links items when d < info.tau,
 * both under the compare mode info.compare.
 *
 * Threads: libtorch's intra-op thread pool is process-wide. Loading a model
 * sets it to options.n_threads, and every call re-applies its model's count
 * on the calling thread when it differs, so give all models of a process
 * the same n_threads. A forward pass of the optimised module (option
 * optimize) or the int8 graph uses at most one thread per MiB of clips (one
 * for a single small clip, where more threads only cost CPU time; the
 * embeddings do not depend on it). Inter-op threads (not used by these models) are set
 * to 1 once per process, unless the process set them before. */

/** A loaded model. Immutable after nid_model_load(): any number of threads
 *  may call nid_model_* functions on one model at the same time (the
 *  results equal those of one thread). Free it once no call is running. */
typedef struct nid_model nid_model;

/** Comparison modes of nid_model_compare() and friends. */
typedef enum nid_compare_mode {
    NID_COMPARE_COSINE = 0, /* cosine of the embeddings                  */
    NID_COMPARE_VERIFY = 1  /* the verification head (VM packages only)  */
} nid_compare_mode;

/** Arithmetic precision of the network (nid_model_options.precision).
 *  NID_PRECISION_BF16 runs the network under CPU autocast: convolutions and
 *  matrix products in bfloat16 (oneDNN), the rest and the embeddings in
 *  float32; it replaces nid_model_options.optimize (autocast does not reach
 *  the optimised graph). It needs AVX-512 BF16 or AMX-BF16 (checked at load
 *  in /proc/cpuinfo): without them, and on CUDA, the model runs in fp32 and
 *  nid_model_load() logs a warning. The environment variable
 *  NID_BF16_FORCE=1 skips the check, for accuracy tests (emulated bf16 is
 *  slower than fp32). nid_model_info.precision says which one runs.
 *  NID_PRECISION_INT8 runs the int8 graph that `python3 -m training
 *  quantize` stores in a package (extra file noduleid-int8.pt; statically
 *  quantised CNN with int8 weights and activations, calibrated on clips;
 *  projection, normalisation and geometry kernels in fp32; libtorch's
 *  oneDNN quantized engine, made the process's engine). Without such a
 *  graph, without the engine, and on CUDA, the model runs in fp32 and
 *  nid_model_load() logs a warning. Its accuracy against fp32: see
 *  results/bench/precision-int8*.txt. */
typedef enum nid_precision {
    NID_PRECISION_FP32 = 0, /* float32 (default)                         */
    NID_PRECISION_BF16 = 1, /* bfloat16 convolutions and matmuls         */
    /* Added in 0.2: */
    NID_PRECISION_INT8 = 2  /* the package's int8 CNN graph (see above)  */
} nid_precision;

/** Options for nid_model_load(). Initialise with nid_model_options_init(). */
typedef struct nid_model_options {
    size_t  struct_size; /* set by _init                                   */
    char    device[32];  /* "cpu" (default), "cuda" or "cuda:N"            */
    int32_t n_threads;   /* intra-op threads; <= 0: all cores (default 0) */
    int32_t optimize;    /* 1 (default): on the CPU, run the module through
                            torch.jit.optimize_for_inference at load (about
                            1.5x faster for R(2+1)D-18); 0: run as stored */
    int32_t max_batch;   /* clips per forward pass in the embed calls,
                            bounding activation memory; <= 0: 4 (default).
                            The exam-level calls (nid_model_embed_exam,
                            nid_group_exam) pass the clips of several
                            tracklets at once: max_batch clips, more for
                            small clips (up to 4 MiB of them, 32 clips; the
                            default model: 14); NID_EXAM_BATCH=N in the
                            environment sets that count              */
    size_t  clip_memory; /* bytes of clips nid_model_embed_tracklet() holds
                            at once: the windows of a long tracklet are
                            built and embedded a chunk at a time (at least
                            max_batch clips); 0: 128 MiB (default)       */
    /* Added in 0.2 (read only when struct_size covers it): */
    int32_t precision;   /* nid_precision of the network's arithmetic
                            (default NID_PRECISION_FP32)                  */
} nid_model_options;

NID_API void nid_model_options_init(nid_model_options *opts);

/** Facts about a model, from its package metadata. */
typedef struct nid_model_info {
    size_t      struct_size;    /* set by nid_model_info_init              */
    int32_t     format_version; /* package format version (1)             */
    char        arch[32];       /* e.g. "r2plus1d_18"                      */
    int32_t     has_verify;     /* 1: verification model (verify head)     */
    int32_t     frames;         /* input clip: T x H x W, C channels       */
    int32_t     height;
    int32_t     width;
    int32_t     channels;       /* 1 or 3                                  */
    float       mean[3];        /* input normalisation (as nid_clip_options;
                                   a 1-channel model repeats its value)   */
    float       std[3];
    float       margin;         /* crop margin                            */
    int32_t     filter;         /* nid_filter, nid_interp, nid_pad of the  */
    int32_t     interp;         /* clips it was trained on                */
    int32_t     pad;
    int32_t     embed_dim;      /* D, floats per embedding                 */
    int32_t     normalized;     /* 1: embeddings have unit L2 norm         */
    int32_t     compare;        /* nid_compare_mode the thresholds are for */
    float       tau;            /* clustering threshold on d = 1 - s       */
    float       pair_threshold; /* pair "same" when s >= this              */
    int32_t     calibrated;     /* 1: thresholds calibrated on validation
                                   data; 0: defaults (e.g. random weights) */
    char        model_id[72];   /* "sha256:<64 hex digits>" of the weights */
    char        device[32];     /* device it runs on                       */
    int32_t     n_threads;      /* intra-op threads it uses               */
    const char *description;    /* training data description; borrowed,
                                   valid while the model lives            */
    const char *meta_json;      /* the whole metadata JSON; borrowed       */
    const char *path;           /* the package file; borrowed              */
    /* Added in 0.2 (written only when struct_size covers it): */
    int32_t     coords;         /* nid_coords of its input clips           */
    int32_t     precision;      /* nid_precision it runs in (after any
                                   fallback to fp32)                       */
} nid_model_info;

/** Zero `info` and set its struct_size. NULL is ignored. */
NID_API void nid_model_info_init(nid_model_info *info);

/** Load a model package. Checks the metadata (every field of
 *  docs/model-package.md: format, version, types, ranges) and then runs
 *  forward once on a zero clip of the declared input size (and verify on
 *  its output), so a package whose network disagrees with its metadata
 *  fails here, not later. opts == NULL uses the defaults. The caller owns
 *  *out (nid_model_free).
 *  Errors: NID_EINVAL (NULL path, bad options), NID_EIO (cannot open or
 *  read the file: message names it), NID_EFORMAT (not a TorchScript archive
 *  or truncated, no metadata, bad metadata: the message names the field,
 *  e.g. "input.frames", and what was expected), NID_EMISMATCH (the network
 *  rejects the declared input size or gives another embedding size: the
 *  message gives expected vs. got shapes), NID_ENOTSUP (built without
 *  libtorch, or without CUDA for a "cuda" device, or no such GPU),
 *  NID_ENOMEM. Thread-safe. */
NID_API int nid_model_load(nid_model **out, const char *path,
                           const nid_model_options *opts);

/** Free the model. NULL is ignored. No call on it may be running. */
NID_API void nid_model_free(nid_model *m);

/** Fill *info (initialised by nid_model_info_init). Errors: NID_EINVAL.
 *  Thread-safe. */
NID_API int nid_model_get_info(const nid_model *m, nid_model_info *info);

/** Clip builder options matching the model: frames, height, width,
 *  channels, mean, std, margin, filter, interp, pad and coords from the
 *  metadata, other fields (sampling, window_stride) as
 *  nid_clip_options_init() sets them. `opts` is overwritten whole, except
 *  that a struct_size already set to an older, shorter layout (by that
 *  header's _init) limits what is written. Errors: NID_EINVAL.
 *  Thread-safe. */
NID_API int nid_model_clip_options(const nid_model *m, nid_clip_options *opts);

/** Embed n clips (N x C x T x H x W float32, as nid_clip_build() writes
 *  them; clips_len = total floats, which must be n * C*T*H*W of the
 *  model) into n x D embeddings in emb (emb_cap floats >= n * D; else
 *  NID_EBUFSIZE with the size in *needed when needed != NULL). Runs at
 *  most options.max_batch clips per forward pass.
 *  Errors: NID_EINVAL (NULL, n == 0, non-finite input: names the clip),
 *  NID_EMISMATCH (clips_len does not match: message gives expected vs. got
 *  shape), NID_EBUFSIZE, NID_EINTERNAL (libtorch failed: its message),
 *  NID_ENOMEM. emb is untouched on error. Thread-safe. */
NID_API int nid_model_embed(const nid_model *m, const float *clips, size_t n,
                            size_t clips_len, float *emb, size_t emb_cap,
                            size_t *needed);

/** Embed tracklet t of `exam` from `video` (the video its video entry
 *  refers to): builds its clips with nid_clip_build() under `opts` (NULL:
 *  nid_model_clip_options(), one uniformly sampled clip) and embeds them;
 *  with opts->sampling == NID_SAMPLE_WINDOWS the window embeddings are
 *  pooled as nid_model_pool() does. opts's frames, height, width and
 *  channels must be the model's. Writes D floats to emb (emb_cap >= D)
 *  and the number of clips pooled to *n_clips (may be NULL). Memory: the
 *  clips are built and embedded a chunk at a time (about
 *  nid_model_options.clip_memory bytes, at least max_batch clips).
 *  Errors: those of nid_clip_build() and nid_model_embed(), NID_EMISMATCH
 *  (opts disagree with the model: names the field, expected vs. got),
 *  NID_EBUFSIZE (emb_cap < D). Thread safety: as the video handle (one
 *  thread at a time per video); the model may be shared. */
NID_API int nid_model_embed_tracklet(const nid_model *m, nid_video *video,
                                     const nid_exam *exam, size_t t,
                                     const nid_clip_options *opts,
                                     float *emb, size_t emb_cap,
                                     size_t *n_clips);

/** Pool n embeddings (n x d, d == D) of one tracklet's windows into one:
 *  their mean, L2-normalised again when the model's embeddings are
 *  normalised. Writes d floats to out (out_cap >= d). Errors: NID_EINVAL
 *  (NULL, n == 0, non-finite value, zero mean of normalised embeddings),
 *  NID_EMISMATCH (d != D), NID_EBUFSIZE. Thread-safe. */
NID_API int nid_model_pool(const nid_model *m, const float *emb, size_t n,
                           size_t d, float *out, size_t out_cap);

/** The verification head on n pairs: p_same[i] = p(a_i, b_i), the
 *  probability that embeddings a_i and b_i (rows of n x d, d == D) show the
 *  same nodule, in [0, 1], in this order (not symmetrised; see
 *  nid_model_compare()). Writes n floats (p_cap >= n).
 *  Errors: NID_EINVAL (NULL, n == 0, non-finite value), NID_EMISMATCH
 *  (d != D), NID_EBUFSIZE, NID_ENOTSUP (the model has no verification
 *  head: the message names the model), NID_EINTERNAL. Thread-safe. */
NID_API int nid_model_verify(const nid_model *m, const float *a,
                             const float *b, size_t n, size_t d,
                             float *p_same, size_t p_cap);

/** Similarity of n pairs (a_i, b_i), rows of n x d (d == D), under `mode`
 *  (nid_compare_mode; see the top of this section). Writes n floats
 *  (sim_cap >= n). Errors: NID_EINVAL (NULL, n == 0, non-finite value,
 *  zero-norm row under cosine, unknown mode), NID_EMISMATCH (d != D),
 *  NID_EBUFSIZE, NID_ENOTSUP (NID_COMPARE_VERIFY on a model without a
 *  head), NID_EINTERNAL. Thread-safe. */
NID_API int nid_model_compare(const nid_model *m, const float *a,
                              const float *b, size_t n, size_t d, int mode,
                              float *sim, size_t sim_cap);

/** All-pairs similarity of n embeddings (n x d, d == D) under `mode`:
 *  writes n*n floats (row-major, symmetric; sim[i][j] equals
 *  nid_model_compare() of rows i and j; diagonal 1). NID_EBUFSIZE (needed
 *  floats in *needed when needed != NULL) if sim_cap < n*n. Verify mode
 *  runs the head on all n*(n-1) ordered pairs. Errors as
 *  nid_model_compare(), NID_ENOMEM. Thread-safe. */
NID_API int nid_model_compare_matrix(const nid_model *m, const float *emb,
                                     size_t n, size_t d, int mode,
                                     float *sim, size_t sim_cap,
                                     size_t *needed);

/** As nid_model_compare_matrix() but writes distances d = max(0, 1 - s)
 *  with a zero diagonal: the input of nid_cluster_dist(), whose threshold
 *  is then info.tau. Errors as nid_model_compare_matrix(). Thread-safe. */
NID_API int nid_model_distance_matrix(const nid_model *m, const float *emb,
                                      size_t n, size_t d, int mode,
                                      float *dist, size_t dist_cap,
                                      size_t *needed);

/** Name of a compare mode ("cosine", "verify") or NULL. */
NID_API const char *nid_compare_mode_name(int mode);

/* (end of model section: model declarations go above this line) */

/* ------------------------------------------------------------------------ */
/* Gallery (gallery/)                                                       */
/* ------------------------------------------------------------------------ */
/* A gallery keeps a patient's nodules from earlier exams for the next one:
 * one entry per nodule (patient id, exam id, exam date, nodule label and
 * the nodule's embedding: the mean of its tracklet embeddings, L2-
 * normalised). All embeddings of a gallery come from one model, recorded
 * as its model id (nid_model_info.model_id); matching embeddings of
 * another model is refused. The file format is docs/gallery-format.md
 * (versioned, zlib-compressed, CRC-checked); nid_gallery_save() replaces
 * the file atomically, so a crash while saving leaves the old gallery. */

/** A gallery in memory. Mutation (nid_gallery_add) needs one thread at a
 *  time; const calls may run concurrently on one gallery when no mutation
 *  runs. */
typedef struct nid_gallery nid_gallery;

/** Facts about a gallery. */
typedef struct nid_gallery_info {
    size_t   struct_size;    /* set by nid_gallery_info_init               */
    int32_t  format_version; /* file format version (1)                   */
    char     model_id[72];   /* model whose embeddings it holds           */
    size_t   embed_dim;      /* D, floats per embedding                    */
    size_t   n_entries;      /* number of entries (nodules)               */
} nid_gallery_info;

/** Zero `info` and set its struct_size. NULL is ignored. */
NID_API void nid_gallery_info_init(nid_gallery_info *info);

/** One entry. The strings are borrowed from the gallery: valid until the
 *  next nid_gallery_add() or nid_gallery_free() on it. */
typedef struct nid_gallery_entry {
    size_t      struct_size; /* set by nid_gallery_entry_init              */
    const char *patient_id;
    const char *exam_id;
    const char *date;        /* exam date, "YYYY-MM-DD"                    */
    const char *label;       /* nodule label within the exam, e.g. "N1"   */
    int32_t     n_tracklets; /* tracklets averaged into the embedding     */
} nid_gallery_entry;

/** Zero `e` and set its struct_size. NULL is ignored. */
NID_API void nid_gallery_entry_init(nid_gallery_entry *e);

/** Create an empty gallery for embeddings of `model_id` (1 to 71
 *  printable ASCII characters, e.g. nid_model_info.model_id) with
 *  embed_dim floats each. The caller owns *out (nid_gallery_free).
 *  Errors: NID_EINVAL (NULL, bad model id, embed_dim 0 or > 65536),
 *  NID_ENOMEM. Thread-safe. */
NID_API int nid_gallery_create(nid_gallery **out, const char *model_id,
                               size_t embed_dim);

/** Load a gallery file (docs/gallery-format.md). Checks everything: magic,
 *  version, header CRC, sizes, payload CRCs, decompression, every field
 *  of every entry. Temporary files of interrupted saves are never read.
 *  Errors: NID_EINVAL (NULL), NID_EIO (cannot open or read: names the
 *  path), NID_EFORMAT (not a gallery, unsupported version, CRC mismatch,
 *  truncated, decompression failure, bad field: names the path and the
 *  field or offset), NID_ENOMEM. Thread-safe. */
NID_API int nid_gallery_load(nid_gallery **out, const char *path);

/** Save the gallery to `path` atomically: written to a temporary file in
 *  the same directory (".<name>.tmp-XXXXXX"), fsync'ed, renamed over
 *  `path`, and the directory fsync'ed. On failure or a crash `path` keeps
 *  its old content; a crash may leave the temporary file, which loading
 *  ignores. A new file gets mode 0644; an existing file's mode is kept.
 *  Test-only hook: the environment variable NID_GALLERY_TEST_SLOW_WRITE=MS
 *  sleeps MS milliseconds after each 4 KiB written (tests use it to kill a
 *  process mid-save); do not set it otherwise.
 *  Errors: NID_EINVAL (NULL), NID_EIO (cannot create, write, sync or
 *  rename: names the path and the errno text), NID_ENOMEM. Thread safety:
 *  a const call; two saves to one path from different threads or
 *  processes leave one of the two complete files. */
NID_API int nid_gallery_save(const nid_gallery *g, const char *path);

/** Free the gallery. NULL is ignored. */
NID_API void nid_gallery_free(nid_gallery *g);

/** Fill *info (initialised by nid_gallery_info_init). Errors: NID_EINVAL.
 *  Const call. */
NID_API int nid_gallery_get_info(const nid_gallery *g, nid_gallery_info *info);

/** Add one nodule: its embedding emb (d floats, d == embed_dim) is stored
 *  L2-normalised. Strings: 1 to 255 bytes without control characters;
 *  date a valid calendar date "YYYY-MM-DD"; n_tracklets >= 1 (how many
 *  tracklet embeddings were averaged, kept for information). The index of
 *  the new entry is n_entries - 1. (patient, exam, label) must be new.
 *  Errors: NID_EINVAL (NULL, bad string or date, non-finite or zero
 *  embedding, n_tracklets < 1, duplicate entry: the message names it),
 *  NID_EMISMATCH (d != embed_dim), NID_ENOMEM. The gallery is unchanged
 *  on error. One thread at a time. */
NID_API int nid_gallery_add(nid_gallery *g, const char *patient_id,
                            const char *exam_id, const char *date,
                            const char *label, const float *emb, size_t d,
                            int32_t n_tracklets);

/** Entry i (0 <= i < n_entries) into *e (initialised by
 *  nid_gallery_entry_init). Errors: NID_EINVAL, NID_ERANGE. Const call. */
NID_API int nid_gallery_get_entry(const nid_gallery *g, size_t i,
                                  nid_gallery_entry *e);

/** Copy entry i's embedding (embed_dim floats, unit norm) to out
 *  (out_cap >= embed_dim, else NID_EBUFSIZE). Errors: NID_EINVAL,
 *  NID_ERANGE, NID_EBUFSIZE. Const call. */
NID_API int nid_gallery_get_embedding(const nid_gallery *g, size_t i,
                                      float *out, size_t out_cap);

/** Options for nid_gallery_match(). Initialise with
 *  nid_match_options_init(). */
typedef struct nid_match_options {
    size_t struct_size;   /* set by _init                                  */
    float  threshold;     /* match when cosine distance < threshold;
                             default 0.5 (as nid_cluster_options); use the
                             model's info.tau for a calibrated model       */
    char   model_id[72];  /* model of the embeddings; must equal the
                             gallery's (required; default "")              */
} nid_match_options;

/** Fill `opts` with defaults (and struct_size). NULL is ignored. */
NID_API void nid_match_options_init(nid_match_options *opts);

/** Assign n nodule embeddings of a new exam (n x d, one row per nodule,
 *  e.g. cluster means) of patient `patient_id` to the gallery's nodules.
 *  Candidates are the patient's entries of its most recent exam (latest
 *  date; on equal dates the exam added last); other patients' entries
 *  never match. Cosine distances between the (normalised) rows and the
 *  candidates are assigned one-to-one greedily: repeatedly the closest
 *  free pair with distance < threshold is matched (ties: lower row, then
 *  lower entry index). Greedy equals the optimal assignment when every
 *  nodule has at most one candidate below the threshold, the usual case.
 *  Writes match[i] = the matched entry's index or -1 (a new nodule) and,
 *  when distance != NULL, distance[i] = the distance to the matched entry,
 *  or for a new nodule to its nearest candidate (+infinity without one).
 *  Errors: NID_EINVAL (NULL, n == 0, non-finite or zero row, threshold
 *  not finite or < 0, empty opts->model_id), NID_EMISMATCH (model id
 *  differs: "gallery made by model X, embeddings from model Y"; d !=
 *  embed_dim), NID_ENOMEM. Outputs untouched on error. Const call. */
NID_API int nid_gallery_match(const nid_gallery *g, const char *patient_id,
                              const float *emb, size_t n, size_t d,
                              const nid_match_options *opts,
                              int64_t *match, float *distance);

/* (end of gallery section: gallery declarations go above this line) */

/* ------------------------------------------------------------------------ */
/* Gallery store (gallery/store.c, gallery/store_sqlite.c)                  */
/* ------------------------------------------------------------------------ */
/* A gallery store is a gallery on disk that grows exam by exam, for a
 * site's whole archive (10^6 nodules and more): an SQLite database
 * (docs/gallery-store.md) in WAL mode, indexed by patient. Adding an exam
 * is one transaction (all of its nodules or none, also when the process
 * is killed) and writes only that exam's rows; matching reads only the
 * patient's rows. Several threads and processes may open one store and
 * add and match at once: writers take turns (waiting up to
 * busy_timeout_ms), readers never wait. Entries have a stable id (>= 1,
 * increasing in the order added). The gallery file format
 * (docs/gallery-format.md) stays for exchange: nid_gallery_store_import()
 * and nid_gallery_store_export(). A store handle belongs to one thread at
 * a time; open one handle per thread. */

/** A gallery store (an open database). */
typedef struct nid_gallery_store nid_gallery_store;

/** Options for nid_gallery_store_open(). Initialise with
 *  nid_store_options_init(). */
typedef struct nid_store_options {
    size_t  struct_size;      /* set by _init                              */
    int32_t create;           /* 1: create the store if it does not exist
                                 (needs model_id and embed_dim); default 0 */
    int32_t read_only;        /* 1: open for reading only; default 0       */
    int32_t busy_timeout_ms;  /* how long a writer waits for another's
                                 transaction; default 60000                */
    char    model_id[72];     /* for create; if set for an existing store,
                                 it must equal the store's (else
                                 NID_EMISMATCH); default ""                */
    size_t  embed_dim;        /* for create; if != 0 for an existing store,
                                 it must equal the store's; default 0      */
} nid_store_options;

/** Fill `opts` with defaults (and struct_size). NULL is ignored. */
NID_API void nid_store_options_init(nid_store_options *opts);

/** Open the gallery store at `path` (opts NULL: defaults, an existing
 *  store read-write). The caller owns *out (nid_gallery_store_free).
 *  Errors: NID_EINVAL (NULL path, bad options: names the field), NID_EIO
 *  (missing without create, cannot open or create: names the path),
 *  NID_EFORMAT (not a gallery store, e.g. a gallery file: names the path),
 *  NID_EMISMATCH (model id or embed_dim differ from the options'). */
NID_API int nid_gallery_store_open(nid_gallery_store **out, const char *path,
                                   const nid_store_options *opts);

/** Close the store. NULL is ignored. */
NID_API void nid_gallery_store_free(nid_gallery_store *s);

/** Fill *info (nid_gallery_info_init): model id, embed_dim, n_entries
 *  (counted now), format_version (the store's schema version, 1).
 *  Errors: NID_EINVAL, NID_EIO. */
NID_API int nid_gallery_store_get_info(nid_gallery_store *s,
                                       nid_gallery_info *info);

/** Add one exam's k >= 1 nodules in one transaction: labels[j] and row j
 *  of emb (k x d, stored L2-normalised); n_tracklets[j] (NULL: all 1).
 *  The same checks as nid_gallery_add(); (patient, exam, label) must be
 *  new. On success ids (k, may be NULL) receives the new entries' ids.
 *  Errors: NID_EINVAL (NULL, k == 0, bad string/date/embedding, duplicate
 *  entry: names it), NID_EMISMATCH (d), NID_EIO (database error, or the
 *  store is read-only), NID_ENOMEM. On error nothing is added. */
NID_API int nid_gallery_store_add_exam(nid_gallery_store *s,
                                       const char *patient_id,
                                       const char *exam_id, const char *date,
                                       size_t k, const char *const *labels,
                                       const float *emb, size_t d,
                                       const int32_t *n_tracklets,
                                       int64_t *ids);

/** *found = 1 if the store has an entry of (patient_id, exam_id), else 0.
 *  Errors: NID_EINVAL, NID_EIO. */
NID_API int nid_gallery_store_has_exam(nid_gallery_store *s,
                                       const char *patient_id,
                                       const char *exam_id, int *found);

/** nid_gallery_match() against the store: candidates are the patient's
 *  entries of its most recent exam (on equal dates the exam added last).
 *  match[i] = the matched entry's id, or -1 for a new nodule; distance as
 *  nid_gallery_match(). Reads only the patient's rows. Errors: those of
 *  nid_gallery_match(), NID_EIO, NID_EFORMAT (a corrupt row: names its
 *  id). Outputs untouched on error. */
NID_API int nid_gallery_store_match(nid_gallery_store *s,
                                    const char *patient_id, const float *emb,
                                    size_t n, size_t d,
                                    const nid_match_options *opts,
                                    int64_t *match, float *distance);

/** Entry `id` as an in-memory gallery of one entry (*out, caller owns:
 *  nid_gallery_get_entry/get_embedding index 0). Errors: NID_EINVAL,
 *  NID_ERANGE (no such id), NID_EIO, NID_EFORMAT, NID_ENOMEM. */
NID_API int nid_gallery_store_get(nid_gallery_store *s, int64_t id,
                                  nid_gallery **out);

/** Copy the entries of patient_id (NULL: every entry), in id order, into
 *  a new in-memory gallery (*out, caller owns); nid_gallery_save() then
 *  writes the gallery file format. ids (may be NULL) receives a malloc'ed
 *  array of their ids (free with nid_free_ids). Errors: NID_EINVAL,
 *  NID_EIO, NID_EFORMAT, NID_ENOMEM. */
NID_API int nid_gallery_store_export(nid_gallery_store *s,
                                     const char *patient_id,
                                     nid_gallery **out, int64_t **ids);

/** Free an id array returned by nid_gallery_store_export. NULL ignored. */
NID_API void nid_free_ids(int64_t *ids);

/** Import every entry of g (e.g. a gallery file, nid_gallery_load) in one
 *  transaction, in g's order; the model id and embed_dim must equal the
 *  store's. With skip_existing != 0, entries whose (patient, exam, label)
 *  the store already has are skipped (a re-run of an interrupted or
 *  finished import adds nothing twice); else they fail the import.
 *  *n_added (may be NULL) receives how many were added. Errors:
 *  NID_EINVAL (NULL, duplicate), NID_EMISMATCH, NID_EIO, NID_ENOMEM. On
 *  error nothing is added. */
NID_API int nid_gallery_store_import(nid_gallery_store *s,
                                     const nid_gallery *g, int skip_existing,
                                     size_t *n_added);

/* (end of gallery store section) */

/* ------------------------------------------------------------------------ */
/* Exams end to end (pipeline/)                                             */
/* ------------------------------------------------------------------------ */
/* The main job in one call. nid_group_exam() runs the whole pipeline on one
 * exam: opens each video once, builds and embeds every tracklet's clips
 * (nid_model_embed_tracklet, a chunk of clips at a time), compares every
 * pair under the model's comparison mode, clusters with the package's
 * calibrated tau and training.cluster_method under the exam's cannot-link
 * constraints, and scores the nodules against the exam's nodule ids when it
 * has them. nid_model_embed_exam() stops after the embeddings.
 *
 *     nid_model *m;  nid_exam *e;  nid_grouping *g;
 *     char path[4096];
 *     nid_default_model_path(path, sizeof path, NULL, NULL);
 *     nid_model_load(&m, path, NULL);
 *     nid_exam_load(&e, "exam.json");
 *     nid_group_exam(&g, m, e, NULL);      (check every status)
 *     nid_grouping_info info;
 *     nid_grouping_info_init(&info);
 *     nid_grouping_get_info(g, &info);     (info.n_nodules, ...)
 *     nid_grouping_labels(g, labels, n, NULL);  (tracklet t -> nodule)
 *
 * Threads: both calls may run on many threads at once with one shared
 * model (each call opens its own videos); callbacks run on the calling
 * thread. */

/** Where the default model package is (nid_default_model_path). */
typedef enum nid_model_source {
    NID_MODEL_FROM_ENV        = 1, /* $NODULEID_MODEL                      */
    NID_MODEL_FROM_INSTALL    = 2, /* <datadir>/noduleid/default.nidm of the
                                      installed library (found relative to
                                      the library file, so a moved tree
                                      still finds it)                      */
    NID_MODEL_FROM_BUILD_TREE = 3  /* the source tree's models/default.nidm,
                                      for a library run from its build tree */
} nid_model_source;

/** The default model package: $NODULEID_MODEL when set (it must name a
 *  regular file), else the one installed with this library
 *  (<libdir>/../share/noduleid/default.nidm, found relative to the library
 *  file, or to the running program's <bindir>), else, for a library in its
 *  build tree, the source tree's models/default.nidm. Writes the path
 *  (NUL-terminated) to path (cap bytes; needed bytes including the NUL in
 *  *needed when needed != NULL) and where it came from to *source (may be
 *  NULL). Errors: NID_EINVAL (NULL path with cap > 0), NID_EIO
 *  ($NODULEID_MODEL is not a regular file, or no default model: the
 *  message lists the places searched), NID_EBUFSIZE. Thread-safe. */
NID_API int nid_default_model_path(char *path, size_t cap, size_t *needed,
                                   int *source);

/** Name of a nid_model_source ("NODULEID_MODEL", "installed default",
 *  "build tree default") or NULL. */
NID_API const char *nid_model_source_name(int source);

/** Progress of an exam-level call: called before each tracklet is
 *  embedded with done = tracklets embedded so far, total = the exam's
 *  tracklets and tracklet_id its id (borrowed, valid during the call), and
 *  once at the end with done == total and tracklet_id NULL. Return 0 to go
 *  on, non-zero to cancel: the call then returns NID_ECANCELED. */
typedef int (*nid_progress_fn)(size_t done, size_t total,
                               const char *tracklet_id, void *payload);

/** Abort check of an exam-level call (llama.cpp's abort_callback): polled
 *  before each tracklet, between chunks of a long tracklet's clips and
 *  between stages; non-zero cancels the call (NID_ECANCELED). */
typedef int (*nid_abort_fn)(void *payload);

/** Frame source of an exam-level call: open exam video `video` (its index;
 *  nid_exam_get_video() gives its id and path, which the caller may use as
 *  a key of its own, e.g. a PACS instance id) when the frames are not in a
 *  file the library can open: e.g. nid_video_from_frames() on frames
 *  already in memory, or nid_video_open_memory() on DICOM bytes. Store a
 *  new handle in *out and return NID_OK; the library owns it from then
 *  on, converts it to gray frames as it does files (nid_video_set_format,
 *  NID_PIX_GRAY8: what the models are trained on), reads that video's
 *  tracklets from it and frees it before asking for the next video. Return
 *  a negative NID_E* status to fail the call; the message then names the
 *  video and keeps nid_last_error() of the failing library call, if any.
 *  Called once per video that has tracklets, in video order. */
typedef int (*nid_video_source_fn)(nid_video **out, const nid_exam *exam,
                                   size_t video, void *payload);

/** Options of nid_group_exam() and nid_model_embed_exam() (which reads
 *  only clip and the callbacks). Initialise with nid_group_options_init();
 *  the defaults do what the model package says. */
typedef struct nid_group_options {
    size_t   struct_size;  /* set by _init                                 */
    /** Clip options (not copied: read during the call). NULL (default):
     *  nid_model_clip_options(), one uniformly sampled clip per tracklet.
     *  Set to sliding windows (NID_SAMPLE_WINDOWS) to pool windows; frames,
     *  height, width, channels and coords must be the model's. */
    const nid_clip_options *clip;
    int32_t  compare;      /* nid_compare_mode; -1 (default): the model's
                              info.compare, the mode its tau is for       */
    int32_t  method;       /* nid_cluster_method; -1 (default): the
                              package's exam grouping (below), else its
                              training.cluster_method, else
                              NID_CLUSTER_PAPER (what tau is calibrated
                              for)                                         */
    float    threshold;    /* tau, link when distance < tau; < 0
                              (default): the package's exam grouping
                              (below), else the model's info.tau when
                              compare is the model's mode, else 0.5.
                              Exam grouping: when method and threshold are
                              both defaults, compare is the model's,
                              cannot_link is 1 and online 0, a package
                              with training.grouping (method and tau
                              calibrated on validation exams under their
                              cannot-links, docs/model-package.md) gives
                              both                                         */
    uint64_t seed;         /* RNG seed of NID_CLUSTER_PAPER; default 0     */
    int32_t  online;       /* 1: cluster online, tracklets in the order
                              they end during scanning (video order, then
                              end frame, then start frame), as nid_online
                              (single linkage, no constraints); default 0 */
    int32_t  cannot_link;  /* 1 (default): offline clustering honours the
                              exam's cannot-link pairs (nid_exam_cannot_link
                              with max_iou 0.5); 0: none                  */
    int32_t  keep_similarity; /* 1: keep the n x n similarity matrix for
                              nid_grouping_similarity(); default 0        */
    nid_progress_fn     progress;  /* may be NULL (default)                */
    void               *progress_payload;
    nid_abort_fn        abort;     /* may be NULL (default)                */
    void               *abort_payload;
    nid_video_source_fn video_source; /* NULL (default): open each video's
                                         resolved_path (nid_video_open)   */
    void               *video_payload;
} nid_group_options;

/** Fill `opts` with defaults (and struct_size). NULL is ignored. */
NID_API void nid_group_options_init(nid_group_options *opts);

/** Seconds spent per stage of an exam-level call. */
typedef struct nid_timings {
    size_t struct_size; /* set by nid_timings_init                         */
    double video_s;     /* opening videos, decoding, building clips        */
    double embed_s;     /* the network                                     */
    double compare_s;   /* all-pairs similarities and distances            */
    double cluster_s;   /* constraints and clustering                      */
    double score_s;     /* scoring against the nodule ids                  */
    double total_s;     /* the whole call                                  */
} nid_timings;

/** Zero `t` and set its struct_size. NULL is ignored. */
NID_API void nid_timings_init(nid_timings *t);

/** Embed every tracklet of `exam` with `m`: row t of emb (n x D floats,
 *  n = the exam's tracklets, D = info.embed_dim; emb_cap >= n * D, else
 *  NID_EBUFSIZE with n * D in *needed when needed != NULL) is tracklet t's
 *  embedding, exactly as nid_model_embed_tracklet() gives it. Each video is
 *  opened once (gray frames) or taken from opts->video_source. n_clips (may
 *  be NULL; n entries) receives the clips pooled per tracklet, timings (may
 *  be NULL; nid_timings_init) the video and network time. opts NULL: the
 *  defaults. Errors: NID_EINVAL (NULL, an exam without tracklets, bad
 *  options: names the field), NID_EBUFSIZE, NID_ECANCELED (progress or
 *  abort callback), the errors of nid_video_open() and
 *  nid_model_embed_tracklet() (the message names the video or tracklet).
 *  emb is untouched on error. Thread-safe (the model may be shared). */
NID_API int nid_model_embed_exam(const nid_model *m, const nid_exam *exam,
                                 const nid_group_options *opts, float *emb,
                                 size_t emb_cap, size_t *needed,
                                 int32_t *n_clips, nid_timings *timings);

/** The result of nid_group_exam(): immutable, so any number of threads may
 *  read one at once. Free with nid_grouping_free(). */
typedef struct nid_grouping nid_grouping;

/** Where a setting of a grouping came from. */
typedef enum nid_setting_source {
    NID_FROM_DEFAULT = 0,  /* the library's default                        */
    NID_FROM_OPTIONS = 1,  /* the caller's nid_group_options               */
    NID_FROM_MODEL   = 2   /* the model package                            */
} nid_setting_source;

/** Facts about a grouping. */
typedef struct nid_grouping_info {
    size_t   struct_size;      /* set by nid_grouping_info_init             */
    size_t   n_tracklets;      /* n                                         */
    size_t   n_nodules;        /* k, clusters found                         */
    size_t   embed_dim;        /* D                                         */
    int32_t  compare;          /* nid_compare_mode used                     */
    int32_t  method;           /* nid_cluster_method used (offline), or
                                  NID_CLUSTER_SINGLE when online           */
    int32_t  online;           /* 1: online clustering                      */
    float    threshold;        /* tau used                                  */
    uint64_t seed;             /* paper's seed                              */
    int32_t  method_from;      /* nid_setting_source of the method          */
    int32_t  threshold_from;   /* nid_setting_source of tau (DEFAULT when
                                  compare is not the model's mode)         */
    size_t   n_cannot_link;    /* cannot-link pairs honoured                */
    int32_t  has_similarity;   /* 1: nid_grouping_similarity() has it       */
    int32_t  has_truth;        /* 1: some tracklets have nodule ids, and
                                  nid_grouping_scores() has the scores     */
    size_t   n_truth_tracklets;/* tracklets with a nodule id                */
    int32_t  exact;            /* 1: on those, the nodules equal the truth  */
} nid_grouping_info;

/** Zero `info` and set its struct_size. NULL is ignored. */
NID_API void nid_grouping_info_init(nid_grouping_info *info);

/** Group the tracklets of `exam` into nodules with model `m` (see the top
 *  of this section). opts NULL: the defaults. The caller owns *out
 *  (nid_grouping_free). Labels are canonical (nid_cluster()), so the same
 *  exam, model and options give the same nodules N1..Nk. Memory: the
 *  n x D embeddings, two n x n float matrices while comparing and
 *  clustering (one kept with keep_similarity), and one tracklet's clips
 *  (at most nid_model_options.clip_memory bytes) at a time.
 *  Errors: those of nid_model_embed_exam(), NID_EINVAL (bad options:
 *  unknown compare mode or method, threshold not finite), NID_ENOTSUP
 *  (verify on a model without a head), the errors of the comparison and
 *  clustering calls, NID_ENOMEM. Thread-safe (the model may be shared). */
NID_API int nid_group_exam(nid_grouping **out, const nid_model *m,
                           const nid_exam *exam,
                           const nid_group_options *opts);

/** Free a grouping. NULL is ignored. */
NID_API void nid_grouping_free(nid_grouping *g);

/** Fill *info (initialised by nid_grouping_info_init). Errors: NID_EINVAL. */
NID_API int nid_grouping_get_info(const nid_grouping *g,
                                  nid_grouping_info *info);

/** Fill *t (initialised by nid_timings_init) with the stage times.
 *  Errors: NID_EINVAL. */
NID_API int nid_grouping_get_timings(const nid_grouping *g, nid_timings *t);

/** The scores against the exam's nodule ids, over the tracklets that have
 *  one (nid_eval_clusters; s initialised by nid_cluster_scores_init).
 *  Errors: NID_EINVAL, NID_ENOTSUP (the exam has no nodule ids). */
NID_API int nid_grouping_scores(const nid_grouping *g, nid_cluster_scores *s);

/** Nodule of every tracklet: labels[t] in 0..k-1 (cap >= n). The array
 *  functions below share these rules: NID_EBUFSIZE (the count needed in
 *  *needed when needed != NULL) when cap is too small; NID_EINVAL (NULL
 *  g or buffer). */
NID_API int nid_grouping_labels(const nid_grouping *g, int32_t *labels,
                                size_t cap, size_t *needed);

/** The tracklet embeddings, n x D floats (row t: tracklet t). */
NID_API int nid_grouping_embeddings(const nid_grouping *g, float *emb,
                                    size_t cap, size_t *needed);

/** Clips pooled into each tracklet's embedding, n values. */
NID_API int nid_grouping_n_clips(const nid_grouping *g, int32_t *n_clips,
                                 size_t cap, size_t *needed);

/** Each nodule's embedding, k x D floats: the mean of its tracklets'
 *  embeddings, L2-normalised (nid_cluster_means; what a gallery stores);
 *  sizes (may be NULL, k values) receives its number of tracklets. */
NID_API int nid_grouping_nodules(const nid_grouping *g, float *emb,
                                 size_t cap, int32_t *sizes, size_t *needed);

/** The n x n similarity matrix (nid_model_compare_matrix() under the
 *  compare mode used; diagonal 1). Errors as above, NID_ENOTSUP (not kept:
 *  set options.keep_similarity). */
NID_API int nid_grouping_similarity(const nid_grouping *g, float *sim,
                                    size_t cap, size_t *needed);

/** Steps of an online grouping, n of each: step s added tracklet
 *  tracklet[s], which got stable cluster id cluster[s] (nid_online_add;
 *  ids of merged clusters are never reused) and left n_clusters[s]
 *  clusters. Any of the three arrays may be NULL. Errors as above,
 *  NID_ENOTSUP (not an online grouping). */
NID_API int nid_grouping_online_steps(const nid_grouping *g,
                                      int64_t *tracklet, int32_t *cluster,
                                      int64_t *n_clusters, size_t cap,
                                      size_t *needed);

/** Mean embedding of each of k clusters: row c of out (k x d) is the mean
 *  of the rows i of x (n x d) with labels[i] == c, computed in double and
 *  L2-normalised (a zero mean stays zero). counts (may be NULL, k values)
 *  receives the rows per cluster. Every label must lie in [0, k) and
 *  every cluster have a row. Errors: NID_EINVAL (NULL, n, d or k zero,
 *  non-finite value, label out of range or empty cluster: names it),
 *  NID_EBUFSIZE (out_cap < k * d), NID_ENOMEM. Thread-safe. */
NID_API int nid_cluster_means(const float *x, size_t n, size_t d,
                              const int32_t *labels, size_t k, float *out,
                              size_t out_cap, int32_t *counts);

/* (end of exam-level section) */

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* NODULEID_H */
