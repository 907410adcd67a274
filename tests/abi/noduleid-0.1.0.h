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

/** Features compiled into this build, as a bit set of NID_FEATURE_*.
 *  Thread-safe. */
NID_API unsigned nid_features(void);

#define NID_FEATURE_BLAS   (1u << 0) /* BLAS-backed distance computation */
#define NID_FEATURE_VIDEO  (1u << 1) /* FFmpeg video input               */
#define NID_FEATURE_DICOM  (1u << 2) /* DCMTK DICOM input                */
#define NID_FEATURE_TORCH  (1u << 3) /* libtorch inference               */
#define NID_FEATURE_CUDA   (1u << 4) /* CUDA-enabled libtorch            */

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
} nid_clip_options;

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
 *  Everything but decoding is checked before `out` is touched; a decode
 *  error part-way leaves `out` partly written (buffering the clips to avoid
 *  that would double the memory of long tracklets).
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
 * the same n_threads. Inter-op threads (not used by these models) are set
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

/** Options for nid_model_load(). Initialise with nid_model_options_init(). */
typedef struct nid_model_options {
    size_t  struct_size; /* set by _init                                   */
    char    device[32];  /* "cpu" (default), "cuda" or "cuda:N"            */
    int32_t n_threads;   /* intra-op threads; <= 0: all cores (default 0) */
    int32_t optimize;    /* 1 (default): on the CPU, run the module through
                            torch.jit.optimize_for_inference at load (about
                            1.5x faster for R(2+1)D-18); 0: run as stored */
    int32_t max_batch;   /* clips per forward pass in the embed calls,
                            bounding activation memory; <= 0: 4 (default) */
    size_t  clip_memory; /* bytes of clips nid_model_embed_tracklet() holds
                            at once: the windows of a long tracklet are
                            built and embedded a chunk at a time (at least
                            max_batch clips); 0: 128 MiB (default)       */
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
 *  channels, mean, std, margin, filter, interp and pad from the metadata,
 *  other fields (sampling, window_stride) as nid_clip_options_init() sets
 *  them. `opts` is overwritten whole. Errors: NID_EINVAL. Thread-safe. */
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
 *  and the number of clips pooled to *n_clips (may be NULL). Memory: all
 *  clips of the tracklet are built at once (n_clips * C*T*H*W floats).
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

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* NODULEID_H */
