/*
 * noduleid/model.h - model packages: loading, embedding, comparing (model/).
 *
 * Part of the public C API of libnoduleid; include <noduleid.h>, which includes
 * every module header, or this header alone. Conventions: docs/api-conventions.md.
 *
 * The functions and structs here follow the ABI rule of noduleid.h (the
 * structs grow by appended fields). What is still moving is the model
 * package behind them: the metadata under "training" (e.g.
 * training.grouping) and new input options; the package format has its
 * own format_version (docs/model-package.md, docs/api-conventions.md).
 */
#ifndef NODULEID_MODEL_H
#define NODULEID_MODEL_H

#include "core.h"
#include "video.h"
#include "tracklet.h"
#include "clip.h"

#ifdef __cplusplus
extern "C" {
#endif

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
 *  NID_PRECISION_BF16 runs the package's bf16 graph where it has one (below),
 *  else the network under CPU autocast: convolutions and matrix products in
 *  bfloat16 (oneDNN), the rest and the embeddings in float32; either
 *  replaces nid_model_options.optimize (autocast does not reach the
 *  optimised graph). It needs AVX-512 BF16 or AMX-BF16 (checked at load
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
 *  results/bench/precision-int8*.txt.
 *  A package may also hold a bf16 graph (extra file noduleid-bf16.pt,
 *  `python3 -m training quantize --precision bf16`: the CNN in bfloat16 on
 *  oneDNN's blocked layout from clip to pooled features, the rest fp32,
 *  with its cosine to fp32 on check clips in the metadata). With it, and a
 *  CPU with AVX-512 BW/VL/DQ, NID_PRECISION_BF16 runs that graph instead of
 *  autocast: 1.7x fp32 for the default model, 2.1-2.7x for R(2+1)D-18 with
 *  AVX-512 BF16 (results/bench/precision.txt), where autocast, which
 *  converts every convolution's input and output, gained nothing.
 *  NID_PRECISION_AUTO is the fastest precision whose accuracy bound holds
 *  (issue 19: embeddings within cosine 0.999 of fp32): bf16 on a CPU with
 *  AVX-512 BF16 or AMX-BF16 when the package's bf16 graph recorded a
 *  cosine of at least 0.999 on its check clips, fp32 otherwise (no
 *  warning). int8 is never chosen: its cosine bound does not hold.
 *  Embeddings then differ between machines by that bound; pass
 *  NID_PRECISION_FP32 where results must be the same everywhere. */
typedef enum nid_precision {
    NID_PRECISION_FP32 = 0, /* float32 (default)                         */
    NID_PRECISION_BF16 = 1, /* bfloat16 convolutions and matmuls         */
    /* Added in 0.2: */
    NID_PRECISION_INT8 = 2, /* the package's int8 CNN graph (see above)  */
    NID_PRECISION_AUTO = 3  /* bf16 where it holds the bound, else fp32  */
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
    int32_t background;  /* 1: nid_model_load() returns once the metadata
                            is read and checked, and the network (libtorch
                            and its start-up, the graph, optimisation, the
                            trial run) loads on a thread of its own; the
                            calls that run it wait for it, and
                            nid_group_exam() builds clips meanwhile.
                            0 (default): all of it before returning. See
                            nid_model_wait()                              */
} nid_model_options;

/** Fill `opts` with defaults (and struct_size). NULL is ignored.
 *  The _init macro passes sizeof *p to _init_sized(); the exported
 *  function _init fills the first published fields only (core.h,
 *  "Extensible structs"). */
NID_API void nid_model_options_init_sized(nid_model_options *opts,
                                          size_t size);
NID_API void (nid_model_options_init)(nid_model_options *opts);
#define nid_model_options_init(p) \
    nid_model_options_init_sized((p), sizeof *(p))

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
    float       context_margin; /* crop.context_margin: > 0, its clips have
                                   context channels (nid_clip_options);
                                   0: none                                 */
} nid_model_info;

/** Zero `info` and set its struct_size. NULL is ignored.
 *  The _init macro passes sizeof *p to _init_sized(); the exported
 *  function _init fills the first published fields only (core.h,
 *  "Extensible structs"). */
NID_API void nid_model_info_init_sized(nid_model_info *info, size_t size);
NID_API void (nid_model_info_init)(nid_model_info *info);
#define nid_model_info_init(p) nid_model_info_init_sized((p), sizeof *(p))

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
 *  NID_ENOMEM. Thread-safe.
 *  Process-wide, at the first load: glibc's malloc keeps blocks up to
 *  32 MiB in its heap and up to 64 MiB of free heap top (mallopt
 *  M_MMAP_THRESHOLD, M_TRIM_THRESHOLD), so that a forward pass reuses its
 *  activation memory instead of mapping and faulting it in afresh (3.4x
 *  faster passes of the default model); not when the process chose its
 *  own (GLIBC_TUNABLES with glibc.malloc settings, MALLOC_MMAP_THRESHOLD_,
 *  MALLOC_TRIM_THRESHOLD_) or NODULEID_MALLOC_TUNE=0 is set. */
NID_API int nid_model_load(nid_model **out, const char *path,
                           const nid_model_options *opts);

/** Wait for the network of a model loaded with options.background = 1
 *  (at once for any other model). Returns NID_OK once it runs, else the
 *  error the load would have returned in the foreground (NID_ENOTSUP,
 *  NID_EFORMAT, NID_EMISMATCH, NID_ENOMEM, with its message); every call
 *  that runs the network (the embed calls, nid_model_verify, verify
 *  comparisons, nid_group_exam) returns that error too. Until the load is
 *  done nid_model_get_info() gives the device and precision that were
 *  asked for, afterwards those in effect (precision may fall back to
 *  fp32). Errors: NID_EINVAL (NULL). Thread-safe. Added in 0.2. */
NID_API int nid_model_wait(const nid_model *m);

/** Free the model. NULL is ignored. No call on it may be running. */
NID_API void nid_model_free(nid_model *m);

/** Fill *info (initialised by nid_model_info_init). Errors: NID_EINVAL.
 *  Thread-safe. */
NID_API int nid_model_get_info(const nid_model *m, nid_model_info *info);

/** Clip builder options matching the model: frames, height, width,
 *  channels, mean, std, margin, filter, interp, pad, coords and
 *  context_margin from the metadata, other fields (sampling, window_stride) as
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
 *  pooled as nid_model_pool() does. opts's frames, height, width,
 *  channels and coords must be the model's, and it must have context
 *  channels (context_margin > 0) exactly when the model has (their margin,
 *  like margin, may differ). Writes D floats to emb (emb_cap >= D)
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

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* NODULEID_MODEL_H */
