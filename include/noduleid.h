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
 *  Writes n*n floats to `out` (row-major, symmetric, zero diagonal);
 *  `out_cap` is its capacity in floats. With NID_METRIC_COSINE a row of zero
 *  norm is an error. Returns NID_EBUFSIZE (needed size in *out_needed when
 *  out_needed != NULL) if out_cap < n*n. n_threads <= 0 means all cores.
 *  Errors: NID_EINVAL (NULL, n == 0, d == 0, non-finite value, zero-norm
 *  row), NID_EBUFSIZE, NID_ENOMEM. Thread-safe. */
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
     *  Result depends on the seed. */
    NID_CLUSTER_PAPER    = 0,
    /** Single linkage cut at tau: connected components of the graph
     *  d < tau. Order independent; the closure of NID_CLUSTER_PAPER. */
    NID_CLUSTER_SINGLE   = 1,
    /** Average linkage (UPGMA) agglomeration, merging while the average
     *  inter-cluster distance is < tau. O(n^2) memory. */
    NID_CLUSTER_AVERAGE  = 2,
    /** Complete linkage agglomeration, merging while the largest
     *  inter-cluster distance is < tau. O(n^2) memory. */
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
 *  Errors: NID_EINVAL (NULL x/labels, n == 0, d == 0, non-finite value,
 *  zero-norm row under cosine, threshold not finite or < 0, unknown method
 *  or metric), NID_EBUFSIZE (labels_cap < n), NID_ENOMEM. Thread-safe. */
NID_API int nid_cluster(const float *x, size_t n, size_t d,
                        const nid_cluster_options *opts,
                        int32_t *labels, size_t labels_cap,
                        size_t *n_clusters);

/** Cluster from a precomputed n x n distance matrix (row-major float32,
 *  e.g. 1 - verification probability). The matrix must be symmetric within
 *  1e-5 relative, finite and >= 0; the diagonal is ignored. opts->metric is
 *  ignored. Output as nid_cluster(). Thread-safe. */
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
 *  cluster id to *cluster (may be NULL). Errors: NID_EINVAL (NULL, NaN,
 *  zero norm under cosine, clusterer made with d == 0), NID_ENOMEM; on
 *  error the clusterer is unchanged. */
NID_API int nid_online_add(nid_online *oc, const float *x, int32_t *cluster);

/** Add one item given its distances to every earlier item
 *  (dist[i] for item i, n_prev == nid_online_size(oc)). Only for
 *  clusterers created with d == 0. Errors: NID_EINVAL, NID_EMISMATCH
 *  (n_prev differs from the number of items), NID_ENOMEM. */
NID_API int nid_online_add_dist(nid_online *oc, const float *dist,
                                size_t n_prev, int32_t *cluster);

/** Number of items added so far. */
NID_API size_t nid_online_size(const nid_online *oc);

/** Number of clusters now. */
NID_API size_t nid_online_n_clusters(const nid_online *oc);

/** Current cluster of every item: labels[i] for item i. canonical != 0
 *  renumbers to 0..k-1 in order of first item (as nid_cluster()); 0 gives
 *  the stable ids. Errors: NID_EINVAL, NID_EBUFSIZE (labels_cap < size;
 *  needed size in *needed when needed != NULL). */
NID_API int nid_online_labels(const nid_online *oc, int canonical,
                              int32_t *labels, size_t labels_cap,
                              size_t *needed);

/** Forget all items; keeps dimension and options. */
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
 *  nid_cluster_scores_init(). Errors: NID_EINVAL (NULL, n == 0),
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
 *  approximation value +- 1.959964 * sqrt(variance), clamped to [0, 1]. */
typedef struct nid_auc_result {
    size_t       struct_size;  /* set by nid_auc_result_init */
    nid_estimate auc;
    double       variance;     /* DeLong variance of the AUC  */
    size_t       n_pos;
    size_t       n_neg;
} nid_auc_result;

NID_API void nid_auc_result_init(nid_auc_result *r);

/** ROC AUC of `scores` for binary `labels` (0/1) over n pairs.
 *  Errors: NID_EINVAL (NULL, n == 0, label not 0/1, non-finite score, no
 *  positives or no negatives). Thread-safe. */
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

NID_API void nid_delong_result_init(nid_delong_result *r);

/** DeLong test between scores_a and scores_b on the same n labelled pairs.
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
 *  Errors: NID_EINVAL (NULL, n == 0, label not 0/1, non-finite score or
 *  threshold). A rate whose denominator is 0 is NaN with NaN bounds.
 *  Thread-safe. */
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
 *  trials. Errors: NID_EINVAL (n == 0, k > n, NULL). Thread-safe. */
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
    double  fps;          /* frames per second (DICOM: from frame time)    */
    int32_t width;
    int32_t height;
    int32_t format;       /* nid_pixel_format of the frames returned       */
    char    source[16];   /* "ffmpeg", "dicom" or "frames"                 */
    char    codec[32];    /* decoder / transfer syntax name                */
} nid_video_info;

NID_API void nid_video_info_init(nid_video_info *info);

/** Open a video file. DICOM files (the "DICM" magic at offset 128) go to
 *  DCMTK, everything else to FFmpeg. The caller owns *out (nid_video_free).
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
 *  and format. Without NID_FRAMES_COPY the pixels are borrowed.
 *  Errors: NID_EINVAL (NULL, n == 0, size/format/stride differ or invalid:
 *  message names the frame), NID_ENOMEM. */
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

/* (end of video section: video declarations go above this line) */

/* ------------------------------------------------------------------------ */
/* Tracklets and clips (tracklet/, clip/)                                   */
/* ------------------------------------------------------------------------ */

/* (end of tracklet/clip section: declarations go above this line) */

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* NODULEID_H */
