/*
 * noduleid/pipeline.h - exams end to end: nid_group_exam() and friends
 * (pipeline/).
 *
 * Part of the public C API of libnoduleid; include <noduleid.h>, which includes
 * every module header, or this header alone. Conventions: docs/api-conventions.md.
 */
#ifndef NODULEID_PIPELINE_H
#define NODULEID_PIPELINE_H

#include "core.h"
#include "video.h"
#include "tracklet.h"
#include "clip.h"
#include "model.h"
#include "eval.h"

#ifdef __cplusplus
extern "C" {
#endif

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
 * thread. Videos opened from files use the model's inference threads
 * (nid_model_options.n_threads) for their decoding: with the network
 * loaded, the clips of several videos are built side by side, one video
 * per thread; a video alone gets that many FFmpeg frame threads; while the
 * network still loads in the background (nid_model_options.background),
 * one. The clips are the same either way. */

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
     *  height, width, channels, coords and whether context_margin > 0
     *  must be the model's. */
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

/** Fill `opts` with defaults (and struct_size). NULL is ignored.
 *  The _init macro passes sizeof *p to _init_sized(); the exported
 *  function _init fills the first published fields only (core.h,
 *  "Extensible structs"). */
NID_API void nid_group_options_init_sized(nid_group_options *opts,
                                          size_t size);
NID_API void (nid_group_options_init)(nid_group_options *opts);
#define nid_group_options_init(p) \
    nid_group_options_init_sized((p), sizeof *(p))

/** Seconds spent per stage of an exam-level call. */
typedef struct nid_timings {
    size_t struct_size; /* set by nid_timings_init                         */
    double video_s;     /* opening videos, decoding, building clips        */
    double embed_s;     /* the network                                     */
    double compare_s;   /* all-pairs similarities and distances            */
    double cluster_s;   /* constraints and clustering                      */
    double score_s;     /* scoring against the nodule ids                  */
    double total_s;     /* the whole call                                  */
    /* Added in 0.2 (written only when struct_size covers it): */
    double model_wait_s; /* waiting for the network of a model still
                            loading in the background
                            (nid_model_options.background); meanwhile
                            clips were built (video_s)                  */
} nid_timings;

/** Zero `t` and set its struct_size. NULL is ignored.
 *  The _init macro passes sizeof *p to _init_sized(); the exported
 *  function _init fills the first published fields only (core.h,
 *  "Extensible structs"). */
NID_API void nid_timings_init_sized(nid_timings *t, size_t size);
NID_API void (nid_timings_init)(nid_timings *t);
#define nid_timings_init(p) nid_timings_init_sized((p), sizeof *(p))

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

/** Zero `info` and set its struct_size. NULL is ignored.
 *  The _init macro passes sizeof *p to _init_sized(); the exported
 *  function _init fills the first published fields only (core.h,
 *  "Extensible structs"). */
NID_API void nid_grouping_info_init_sized(nid_grouping_info *info,
                                          size_t size);
NID_API void (nid_grouping_info_init)(nid_grouping_info *info);
#define nid_grouping_info_init(p) \
    nid_grouping_info_init_sized((p), sizeof *(p))

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

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* NODULEID_PIPELINE_H */
