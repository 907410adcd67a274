/*
 * model_internal.h - between the C side of the model stage (model.c:
 * public API, checks, pooling, comparisons; package.c: metadata) and the
 * libtorch shim (torch_shim.cpp, the only file that includes libtorch).
 *
 * The shim is the backend module libnoduleid-torch.so (lib/core/backend.h),
 * loaded at the first nid_model_load(): its functions reach model.c
 * through the table nid_torch_api, returned by its entry
 * nid_backend_torch_v1. Every function catches every C++ exception and
 * reports it through nid__fail() with the message prefix `ctx` (e.g.
 * "nid_model_embed: model cm.nidm"). Without the module (not built, not
 * installed), nid_model_load() returns NID_ENOTSUP naming what is missing.
 */
#ifndef NID__MODEL_INTERNAL_H
#define NID__MODEL_INTERNAL_H

#include "internal.h"
#include "backend.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- package.c: metadata ------------------------------------------------ */

#define NID__MODEL_FORMAT         "noduleid-model"
#define NID__MODEL_FORMAT_VERSION 1
#define NID__MODEL_META_NAME      "noduleid.json"
/* Optional extra file: the int8 TorchScript graph (training/quantize.py) */
#define NID__MODEL_INT8_NAME      "noduleid-int8.pt"
/* Optional extra file: the bf16 TorchScript graph (quantize --precision bf16) */
#define NID__MODEL_BF16_NAME      "noduleid-bf16.pt"

/* NID_PRECISION_AUTO picks the bf16 graph when its recorded check
 * (producer.bf16.cosine_min) is at least this (issue 19's bound; the same
 * constant as training/quantize.py's BF16_COSINE_BOUND). */
#define NID__BF16_COSINE_BOUND    0.999f

/* The metadata of a package, parsed and range-checked. */
typedef struct nid_model_meta {
    int32_t format_version;
    char    arch[32];
    int     verification;     /* kind: 1 verification, 0 classification  */
    int32_t frames, height, width, channels;
    int32_t coords;      /* nid_coords: + 2 network input channels */
    float   mean[3], std[3];
    float   margin;
    float   context_margin; /* > 0: + channels network input channels,
                               the frames cropped again (0: none)      */
    int32_t filter, interp, pad;
    int32_t embed_dim;
    int     normalized;
    int32_t compare;
    float   tau, pair_threshold;
    int     calibrated;
    char    model_id[72];
    char   *description;      /* malloc'd */
    float   bf16_cosine_min;  /* producer.bf16.cosine_min: the bf16 graph's
                                 lowest cosine to fp32 on its check clips;
                                 -1 where the metadata has none          */
} nid_model_meta;

/* Parse and check `json` (len bytes, need not be NUL-terminated) as the
 * metadata of package `path`. On error returns NID_EFORMAT (or NID_ENOMEM)
 * after nid__fail() naming the package and the field. On success the
 * caller frees out->description. */
int nid__model_meta_parse(const char *json, size_t len, const char *path,
                         nid_model_meta *out);

/* The package's metadata file read straight from the archive (a zip file
 * whose extra files are stored uncompressed), without libtorch: 1 with a
 * malloc'd NUL-terminated copy in *json (length *len); 0 when it cannot be
 * read this way (no such entry, compressed, larger than 1 MiB, not a zip
 * file): then only libtorch can tell. Records no error. */
int nid__model_meta_read(const char *path, char **json, size_t *len);

/* ---- model.c: for the exam-level calls (pipeline/) ---------------------- */

/* What nid__model_embed_tracklet_hooked() adds to nid_model_embed_tracklet():
 * time spent building clips (decoding included) and in the network, added
 * to t_clips and t_embed, and an abort check between chunks of clips
 * (abort may be NULL; non-zero cancels with NID_ECANCELED). */
typedef struct nid_embed_hooks {
    double t_clips, t_embed;
    int (*abort)(void *payload);
    void *payload;
} nid_embed_hooks;

/* nid_model_embed_tracklet() with hooks (h may be NULL). */
int nid__model_embed_tracklet_hooked(const nid_model *m, nid_video *video,
                                    const nid_exam *exam, size_t t,
                                    const nid_clip_options *opts, float *emb,
                                    size_t emb_cap, size_t *n_clips,
                                    nid_embed_hooks *h);

/* Buffers of nid__model_embed_tracklets_hooked() kept between its calls
 * (zero-initialise; nid__embed_scratch_free), so that an exam's videos
 * reuse one set of allocations. */
typedef struct nid_embed_scratch {
    float  *clips; size_t clips_cap; /* floats, 64-byte aligned */
    float  *emb;   size_t emb_cap;   /* floats */
    size_t *nc;    size_t nc_cap;    /* clip counts */
} nid_embed_scratch;

void nid__embed_scratch_free(nid_embed_scratch *s);

/* 1 while the network of a model loaded with options.background is still
 * loading (the calls that run it would wait). */
int nid__model_loading(const nid_model *m);

/* Clips per forward pass of nid__model_embed_tracklets_hooked(). */
size_t nid__model_exam_batch(const nid_model *m);

/* Tracklets first .. first + count - 1 of one video, as count calls of
 * nid__model_embed_tracklet_hooked() would embed them (emb: count x D,
 * n_clips: count), but with the clips of several tracklets in each
 * forward pass: the model's exam batch (max_batch, more for small clips);
 * each chunk's clips built in one pass over the video
 * (nid__clip_build_pieces). prebuilt, when not NULL, holds all their
 * clips already (in tracklet order, at most nid__model_exam_chunk() of
 * them; video may then be NULL): they are embedded in the same forward
 * passes as clips built here would be. scratch may be NULL. */
int nid__model_embed_tracklets_hooked(const nid_model *m, nid_video *video,
                                     const nid_exam *exam, size_t first,
                                     size_t count,
                                     const nid_clip_options *opts,
                                     const float *prebuilt, float *emb,
                                     size_t *n_clips, nid_embed_hooks *h,
                                     nid_embed_scratch *scratch);

/* Clips per chunk of nid__model_embed_tracklets_hooked() (whole exam
 * batches within options.clip_memory), and floats per clip. */
size_t nid__model_exam_chunk(const nid_model *m);
size_t nid__model_clip_floats(const nid_model *m);

/* The clip options in effect for m: opts when not NULL, else the model's
 * own (nid_model_clip_options: its input, one uniformly sampled clip),
 * written to *own. opts is returned unchecked. */
const nid_clip_options *nid__model_clip_opts(const nid_model *m,
                                             const nid_clip_options *opts,
                                             nid_clip_options *own);

/* ---- torch_shim.cpp ------------------------------------------------------ */

typedef struct nid_torch nid_torch;

/* Returned (positive, no message recorded) by nid__torch_forward() and
 * nid__torch_verify() when the network's output has an unexpected shape;
 * the caller reports it with the shape it expected. */
#define NID__TORCH_SHAPE 1
/* Returned (no message) by nid__torch_forward() with check_finite when the
 * sum of the input is not finite: a NaN or Inf somewhere, or (rarely) a
 * finite sum that overflows; the caller scans the input to tell. */
#define NID__TORCH_NONFINITE 2

/* The module's functions (defined in torch_shim.cpp, compiled only into
 * the module with NID_TORCH_MODULE; model.c calls them through
 * nid_torch_api). */
#ifdef NID_TORCH_MODULE

/* Device check and load. `device` is "cpu", "cuda" or "cuda:N".
 * *meta_json receives a malloc'd NUL-terminated copy of the package's
 * noduleid.json (NULL when the archive has none) and *meta_len its length;
 * *has_verify whether the module has a `verify` method. Errors:
 * NID_EFORMAT (not a TorchScript archive), NID_ENOTSUP (CUDA), NID_EINVAL
 * (bad device string), NID_ENOMEM. */
int nid__torch_load(nid_torch **out, const char *path, const char *device,
                   int n_threads, char **meta_json, size_t *meta_len,
                   int *has_verify, const char *ctx);

/* torch.jit.optimize_for_inference (keeping `verify` when present) on a
 * CPU model; nothing on other devices. */
int nid__torch_optimize(nid_torch *t, const char *ctx);

/* Whether this CPU has native bfloat16 arithmetic (AVX-512 BF16 or
 * AMX-BF16 in /proc/cpuinfo's flags); 0 when unknown. */
int nid__torch_cpu_has_bf16(void);

/* Run forward and verify under CPU autocast to bfloat16 (convolutions and
 * matrix products in bf16, the rest in fp32). Call instead of
 * nid__torch_optimize (whose oneDNN-converted graph autocast does not
 * reach). Errors: NID_ENOTSUP (not a CPU model), with a message. */
int nid__torch_to_bf16(nid_torch *t, const char *ctx);

/* forward on x (shape[0] x ... x shape[4], float32 contiguous, host
 * memory). The output must be a 2-D tensor: its shape goes to got[0..1]
 * and, when it is 2-D with exactly out_cap elements, it is copied to out;
 * else NID__TORCH_SHAPE is returned (nothing written). An exception (TorchScript
 * raised, libtorch failed) returns `status` with its message. */
int nid__torch_forward(const nid_torch *t, const float *x,
                      const int64_t shape[5], int check_finite, float *out,
                      size_t out_cap, int64_t got[2], int status,
                      const char *ctx);

/* verify(a, b) on n x d embeddings; the output (n probabilities) goes to
 * out, which holds n floats. A non-1-D output or one of another length
 * returns NID__TORCH_SHAPE (*got_len: its length, -1 when not 1-D). Exceptions as nid__torch_forward(). */
int nid__torch_verify(const nid_torch *t, const float *a, const float *b,
                     size_t n, size_t d, float *out, int64_t *got_len,
                     int status, const char *ctx);

/* A copy of the module with its own TorchScript executors (frozen
 * weights are shared), for a trial run that must not leave its input
 * shapes in the real module's profile. */
int nid__torch_clone(const nid_torch *t, nid_torch **out, const char *ctx);

/* The device the model runs on, e.g. "cpu" or "cuda:0". */
const char *nid__torch_device(const nid_torch *t);

void nid__torch_free(nid_torch *t);

/* Replace the module by the package's int8 graph (the extra file
 * NID__MODEL_INT8_NAME of `path`, written by python3 -m training quantize),
 * loaded with libtorch's oneDNN quantized engine (made the process's
 * engine). Call instead of nid__torch_optimize. Errors, with a message and
 * the module left as it was: NID_ENOTSUP (not a CPU model, no oneDNN
 * quantized engine, no int8 graph in the package, a VM's graph without
 * verify), NID_EFORMAT (the graph does not load). */
int nid__torch_to_int8(nid_torch *t, const char *path, const char *ctx);

/* Replace the module by the package's bf16 graph (the extra file
 * NID__MODEL_BF16_NAME of `path`, written by python3 -m training quantize
 * --precision bf16: the CNN in bfloat16 on oneDNN's blocked layout, the
 * rest fp32), run without autocast. Call instead of nid__torch_optimize and
 * nid__torch_to_bf16. Errors, with a message and the module left as it
 * was: NID_ENOTSUP (not a CPU model, a CPU without AVX-512 BW/VL/DQ, no
 * bf16 graph in the package, a VM's graph without verify), NID_EFORMAT (the
 * graph does not load). */
int nid__torch_to_bf16_graph(nid_torch *t, const char *path, const char *ctx);

#endif /* NID_TORCH_MODULE */

/* The module's table (NID__BACKEND_ABI 1): the functions above, in order. */
typedef struct nid_torch_api {
    nid_backend_info info;   /* name "torch"; features TORCH (+ CUDA) */
    int (*load)(nid_torch **out, const char *path, const char *device,
                int n_threads, char **meta_json, size_t *meta_len,
                int *has_verify, const char *ctx);
    int (*optimize)(nid_torch *t, const char *ctx);
    int (*cpu_has_bf16)(void);
    int (*to_bf16)(nid_torch *t, const char *ctx);
    int (*forward)(const nid_torch *t, const float *x, const int64_t shape[5],
                   int check_finite, float *out, size_t out_cap,
                   int64_t got[2], int status, const char *ctx);
    int (*verify)(const nid_torch *t, const float *a, const float *b,
                  size_t n, size_t d, float *out, int64_t *got_len,
                  int status, const char *ctx);
    int (*clone)(const nid_torch *t, nid_torch **out, const char *ctx);
    const char *(*device)(const nid_torch *t);
    void (*free)(nid_torch *t);
    int (*to_int8)(nid_torch *t, const char *path, const char *ctx);
    int (*to_bf16_graph)(nid_torch *t, const char *path, const char *ctx);
} nid_torch_api;

#ifdef __cplusplus
}
#endif

#endif /* NID__MODEL_INTERNAL_H */
