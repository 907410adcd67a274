/*
 * model.c - the public nid_model_* API: options, loading with metadata
 * checks, embedding (batched), tracklet embedding with window pooling,
 * the verification head, similarities and distance matrices.
 *
 * Everything that touches libtorch goes through torch_shim.cpp
 * (model_internal.h); this file keeps the argument checks, the error
 * messages and the arithmetic that needs no network. The model is
 * immutable after loading, so every function here may run on many
 * threads at once.
 */
#include "model_internal.h"

#include "clip/clip_internal.h"

/* Channels the network takes: those of the clips its crop settings make. */
#define NET_CHANNELS(me) \
    nid__input_channels((me)->channels, (me)->coords, (me)->context_margin)

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MAX_BATCH 4
/* Forward batches of the exam-level calls: at least max_batch clips, more
 * for small clips, up to this many bytes of input and EXAM_BATCH_MAX clips
 * (the default model's 3 x 8 x 48 x 64 clips: 14 per pass). */
#define EXAM_BATCH_BYTES ((size_t)4 << 20)
#define EXAM_BATCH_MAX   32

/* nid_model_embed_tracklet() builds the windows of a long tracklet a chunk
 * at a time: about this many bytes of clips, and at least max_batch clips
 * (R(2+1)D-18 clips are 6.3 MB: 2000 frames in windows of 16 every 8 would
 * otherwise need 1.6 GB at once). */
#define DEFAULT_CLIP_MEMORY ((size_t)128 << 20)
/* Pairs per verify call in the comparison functions: bounds the two
 * 2*K x D input matrices. */
#define VERIFY_CHUNK 2048

struct nid_model {
    nid_torch     *t;
    nid_model_meta meta;
    char          *path;
    char          *meta_json;
    char           device[32];
    int            n_threads;
    int            precision;   /* nid_precision in effect */
    int            max_batch;
    int            exam_batch;  /* clips per pass of the exam-level calls */
    size_t         clip_memory;  /* options.clip_memory, resolved */
    size_t         clip_floats; /* C*T*H*W */
    /* Background load (options.background): a loader thread does
     * everything after the metadata and writes t, device and precision;
     * they are read only after it has been joined (model_ready). */
    int            background;  /* a loader thread was started           */
    pthread_t      loader;
    pthread_mutex_t join_mu;    /* joins the loader once                  */
    int            joined;      /* under join_mu                          */
    atomic_int     done;        /* the loader has finished (release)      */
    int            load_rc;     /* its status, and message when failed    */
    char          *load_msg;
    char          *load_ctx;    /* "nid_model_load: PATH"                 */
    nid_model_options load_opts; /* the caller's options, resolved        */
};

/* The libtorch shim is the backend module libnoduleid-torch.so, loaded by
 * the first nid_model_load(). These wrappers call its table; a model
 * exists only once the module is loaded, so after nid__torch_load() the
 * table is there. */
static const nid_torch_api *torch_api(void)
{
    return (const nid_torch_api *)nid_backend_peek(NID_BACKEND_TORCH);
}

/* The module, loaded on first use; NULL after nid__fail(NID_ENOTSUP). */
static const nid_torch_api *torch_module(const char *ctx)
{
    const nid_backend_info *t = nid_backend_get(NID_BACKEND_TORCH, ctx);
    if (t && t->size < sizeof(nid_torch_api)) {
        nid__fail(NID_ENOTSUP, "%s: the libtorch backend module's table is "
                 "%u bytes, expected %zu (module of another version)", ctx,
                 (unsigned)t->size, sizeof(nid_torch_api));
        return NULL;
    }
    return (const nid_torch_api *)t;
}

static int nid__torch_load(nid_torch **out, const char *path,
                          const char *device, int n_threads, char **meta_json,
                          size_t *meta_len, int *has_verify, const char *ctx)
{
    const nid_torch_api *T = torch_module(ctx);
    if (!T) return NID_ENOTSUP;
    return T->load(out, path, device, n_threads, meta_json, meta_len,
                   has_verify, ctx);
}
static int nid__torch_optimize(nid_torch *t, const char *ctx)
{
    return torch_api()->optimize(t, ctx);
}
static int nid__torch_forward(const nid_torch *t, const float *x,
                             const int64_t shape[5], int check_finite,
                             float *out, size_t out_cap, int64_t got[2],
                             int status, const char *ctx)
{
    return torch_api()->forward(t, x, shape, check_finite, out, out_cap, got,
                                status, ctx);
}
static int nid__torch_verify(const nid_torch *t, const float *a,
                            const float *b, size_t n, size_t d, float *out,
                            int64_t *got_len, int status, const char *ctx)
{
    return torch_api()->verify(t, a, b, n, d, out, got_len, status, ctx);
}
static int nid__torch_cpu_has_bf16(void)
{
    return torch_api()->cpu_has_bf16();
}
static int nid__torch_to_bf16(nid_torch *t, const char *ctx)
{
    return torch_api()->to_bf16(t, ctx);
}
static int nid__torch_to_int8(nid_torch *t, const char *path, const char *ctx)
{
    return torch_api()->to_int8(t, path, ctx);
}
static int nid__torch_to_bf16_graph(nid_torch *t, const char *path,
                                    const char *ctx)
{
    return torch_api()->to_bf16_graph(t, path, ctx);
}
static int nid__torch_clone(const nid_torch *t, nid_torch **out,
                           const char *ctx)
{
    return torch_api()->clone(t, out, ctx);
}
static const char *nid__torch_device(const nid_torch *t)
{
    return torch_api()->device(t);
}
static void nid__torch_free(nid_torch *t)
{
    if (t) torch_api()->free(t);
}

/* ------------------------------------------------------------------------ */
/* Options, info, names                                                     */
/* ------------------------------------------------------------------------ */

static void model_options_defaults(nid_model_options *d)
{
    strcpy(d->device, "cpu");
    d->n_threads = 0;
    d->optimize = 1;
    d->max_batch = DEFAULT_MAX_BATCH;
}

NID__DEFINE_INIT(nid_model_options, model_options_defaults)

NID__DEFINE_INIT(nid_model_info, nid__no_defaults)

const char *nid_compare_mode_name(int mode)
{
    switch (mode) {
    case NID_COMPARE_COSINE: return "cosine";
    case NID_COMPARE_VERIFY: return "verify";
    default:                 return NULL;
    }
}

/* "cpu", "cuda" or "cuda:N" (N decimal, no sign, at most 4 digits). */
static int device_ok(const char *d)
{
    if (strcmp(d, "cpu") == 0 || strcmp(d, "cuda") == 0)
        return 1;
    if (strncmp(d, "cuda:", 5) != 0)
        return 0;
    size_t n = strlen(d + 5);
    if (n < 1 || n > 4)
        return 0;
    for (size_t i = 5; d[i]; i++)
        if (d[i] < '0' || d[i] > '9')
            return 0;
    return 1;
}

/* ------------------------------------------------------------------------ */
/* Loading                                                                  */
/* ------------------------------------------------------------------------ */

/* Join the background loader once (any thread; later callers wait for
 * the first). */
static void join_loader(nid_model *m)
{
    pthread_mutex_lock(&m->join_mu);
    if (!m->joined) {
        pthread_join(m->loader, NULL);
        m->joined = 1;
    }
    pthread_mutex_unlock(&m->join_mu);
}

/* NID_OK once the network is loaded (at once for a model loaded in the
 * foreground); else the background load's error, recorded again for this
 * thread. */
static int model_ready(const nid_model *mc)
{
    nid_model *m = (nid_model *)mc;
    if (!m->background) return NID_OK;
    join_loader(m);
    if (m->load_rc)
        return nid__fail(m->load_rc, "%s", m->load_msg ? m->load_msg
                                                       : "nid_model_load: "
                                                         "the network did not "
                                                         "load");
    return NID_OK;
}

int nid_model_wait(const nid_model *m)
{
    if (!m) return nid__fail(NID_EINVAL, "nid_model_wait: model is NULL");
    int rc = model_ready(m);
    if (!rc) nid_clear_error();
    return rc;
}

int nid__model_loading(const nid_model *m)
{
    return m->background &&
           !atomic_load_explicit(&((nid_model *)m)->done, memory_order_acquire);
}

void nid_model_free(nid_model *m)
{
    if (!m) return;
    if (m->background) {
        join_loader(m);
        pthread_mutex_destroy(&m->join_mu);
    }
    free(m->load_msg);
    free(m->load_ctx);
    nid__torch_free(m->t);
    free(m->meta.description);
    free(m->meta_json);
    free(m->path);
    free(m);
}

/* The file must exist and be a readable regular file: reported as NID_EIO
 * here, so that libtorch's errors mean "not a valid archive". */
static int check_file(const char *path)
{
    int fd;
    size_t size;
    int rc = nid__open_regular("nid_model_load", path, UINT64_MAX, &fd, &size);
    if (rc == NID_OK) close(fd);
    return rc;
}

/* Run forward on one zero clip of the declared shape (and verify on its
 * embedding): the network must accept the metadata's input and produce
 * its embedding size. This is also the warm-up run. */
static int check_network(nid_model *m, const char *ctx)
{
    const nid_model_meta *me = &m->meta;
    float *zero = calloc(m->clip_floats, sizeof *zero);
    float *e = malloc((size_t)me->embed_dim * sizeof *e);
    if (!zero || !e) {
        free(zero);
        free(e);
        return nid__fail(NID_ENOMEM, "%s: out of memory", ctx);
    }
    int64_t shape[5] = {1, NET_CHANNELS(me), me->frames, me->height, me->width};
    int64_t got[2] = {0, 0};
    char c2[600];
    snprintf(c2, sizeof c2, "%s: the network rejects the metadata's input "
             "shape 1 x %d x %d x %d x %d (input.channels%s%s/frames/height/"
             "width)", ctx, (int)NET_CHANNELS(me), (int)me->frames,
             (int)me->height, (int)me->width,
             me->coords == NID_COORDS_FRAME ? ", input.coords" : "",
             me->context_margin > 0.0f ? ", crop.context_margin" : "");
    int rc = nid__torch_forward(m->t, zero, shape, 0, e, (size_t)me->embed_dim,
                               got, NID_EMISMATCH, c2);
    if (rc == NID__TORCH_SHAPE)
        rc = nid__fail(NID_EMISMATCH, "%s: forward on 1 clip gives a %lld x "
                      "%lld tensor, the metadata says 1 x %d (embedding.dim)",
                      ctx, (long long)got[0], (long long)got[1],
                      (int)me->embed_dim);
    if (rc == NID_OK && me->normalized) {
        /* F.normalize maps a zero vector to zero; anything else must have
         * unit norm when the metadata says so. */
        double ss = 0;
        for (int32_t k = 0; k < me->embed_dim; k++) ss += (double)e[k] * e[k];
        if (ss > 0 && fabs(sqrt(ss) - 1.0) > 1e-3)
            rc = nid__fail(NID_EMISMATCH, "%s: embedding.normalized is true, but "
                          "forward gives an embedding of norm %g", ctx, sqrt(ss));
    }
    if (rc == NID_OK && me->verification) {
        float p = NAN;
        int64_t len = 0;
        rc = nid__torch_verify(m->t, e, e, 1, (size_t)me->embed_dim, &p, &len,
                              NID_EMISMATCH, ctx);
        if (rc == NID__TORCH_SHAPE)
            rc = nid__fail(NID_EMISMATCH, "%s: verify on 1 pair gives %lld "
                          "values, expected 1", ctx, (long long)len);
        else if (rc == NID_OK && !(p >= 0.0f && p <= 1.0f))
            rc = nid__fail(NID_EFORMAT, "%s: verify gives %g, not a probability "
                          "(verify.output is \"probability\")", ctx, (double)p);
    }
    free(zero);
    free(e);
    return rc;
}

/* What the metadata implies: the clip size and the exam-level batch. */
static void derive(nid_model *m)
{
    const nid_model_meta *me = &m->meta;
    m->clip_floats = (size_t)NET_CHANNELS(me) * (size_t)me->frames *
                     (size_t)me->height * (size_t)me->width;
    /* Small clips: per-call costs dominate a forward pass of a few clips,
     * so the exam-level calls pass clips of several tracklets at once, up
     * to EXAM_BATCH_BYTES of them (bench/bench_embed.sh). */
    size_t fit = EXAM_BATCH_BYTES / (m->clip_floats * sizeof(float));
    if (fit > EXAM_BATCH_MAX) fit = EXAM_BATCH_MAX;
    if (fit > (size_t)m->exam_batch) m->exam_batch = (int)fit;
    /* NID_EXAM_BATCH=N sets it (benchmarks: 1 is the one-tracklet-per-pass
     * path of before) */
    const char *eb = getenv("NID_EXAM_BATCH");
    if (eb && atoi(eb) > 0 && atoi(eb) <= 4096) m->exam_batch = atoi(eb);
}

/* Everything of a load that needs libtorch: the module, the network, the
 * metadata (parsed here unless have_meta: then the archive's copy must be
 * the one already parsed), the precision, optimisation and the trial run.
 * Sets m->t, m->device and m->precision. */
/* Swap the package's bf16 graph into m->t: 1 when it runs now. What keeps
 * it out is logged with `instead` appended: a package without one or a CPU
 * that cannot run it at info level; a graph that does not load, a defect
 * of the package, as a warning. */
static int use_bf16_graph(nid_model *m, const char *path, const char *ctx,
                          const char *instead)
{
    int g = nid__torch_to_bf16_graph(m->t, path, ctx);
    if (g != NID_OK)
        nid__log(g == NID_ENOTSUP ? NID_LOG_INFO : NID_LOG_WARN, "%s%s",
                nid_last_error(), instead);
    return g == NID_OK;
}

static int load_network(nid_model *m, const nid_model_options *opts,
                        int have_meta, const char *ctx)
{
    const char *path = m->path;
    int32_t precision = opts->precision;
    if (have_meta) {
        /* Say what is missing before looking at the file: without libtorch
         * no path could ever load, so "file not found" would mislead. */
        char what[64 + 4096];
        snprintf(what, sizeof what, "%s: models cannot be loaded", ctx);
        if (!torch_module(what)) return NID_ENOTSUP;
    }
    size_t meta_len = 0;
    int has_verify = 0;
    char *json = NULL;
    int rc = nid__torch_load(&m->t, path, opts->device, m->n_threads, &json,
                            &meta_len, &has_verify, ctx);
    if (!rc && !json)
        rc = nid__fail(NID_EFORMAT, "%s: no %s in the archive: a TorchScript "
                      "file, but not a libnoduleid model package "
                      "(docs/model-package.md)", ctx, NID__MODEL_META_NAME);
    if (!rc && have_meta) {
        if (meta_len != strlen(m->meta_json) ||
            memcmp(json, m->meta_json, meta_len) != 0)
            rc = nid__fail(NID_EFORMAT, "%s: %s changed while the package "
                          "was loaded", ctx, NID__MODEL_META_NAME);
        free(json);
    } else if (!rc) {
        m->meta_json = json;
        rc = nid__model_meta_parse(m->meta_json, meta_len, path, &m->meta);
        if (!rc) derive(m);
    } else {
        free(json);
    }
    if (!rc && m->meta.verification != has_verify)
        rc = nid__fail(NID_EFORMAT, "%s: kind is \"%s\" but the module has %s "
                      "verify method", ctx,
                      m->meta.verification ? "verification" : "classification",
                      has_verify ? "a" : "no");
    if (!rc && precision == NID_PRECISION_AUTO) {
        /* The fastest precision whose accuracy bound holds: bf16 where the
         * CPU has native bf16 and the package's bf16 graph passed its check
         * (producer.bf16.cosine_min >= NID__BF16_COSINE_BOUND); otherwise
         * fp32, quietly: auto asks for nothing in particular. */
        int cpu = strcmp(opts->device, "cpu") == 0;
        if (cpu && m->meta.bf16_cosine_min >= NID__BF16_COSINE_BOUND &&
            nid__torch_cpu_has_bf16()) {
            if (use_bf16_graph(m, path, ctx, " (precision auto: running in fp32)"))
                m->precision = NID_PRECISION_BF16;
        }
    }
    if (!rc && precision == NID_PRECISION_BF16) {
        /* bf16 is a speed-up, not a requirement: without native bf16
         * arithmetic (emulated bf16 is slower than fp32) or when libtorch
         * cannot convert the module, run in fp32 and say so. The package's
         * bf16 graph where it has one and the CPU can run it; CPU autocast
         * of the fp32 graph otherwise. */
        const char *force = getenv("NID_BF16_FORCE");
        if (strcmp(opts->device, "cpu") == 0 && !nid__torch_cpu_has_bf16() &&
            !(force && strcmp(force, "1") == 0))
            nid__log(NID_LOG_WARN, "%s: precision bf16: this CPU has no "
                    "AVX-512 BF16 or AMX-BF16 (/proc/cpuinfo), and emulated "
                    "bf16 is slower than fp32; running in fp32", ctx);
        else if (use_bf16_graph(m, path, ctx, "; autocast instead") ||
                 nid__torch_to_bf16(m->t, ctx) == NID_OK)
            m->precision = NID_PRECISION_BF16;
        else
            nid__log(NID_LOG_WARN, "%s (precision bf16: running in fp32)",
                    nid_last_error());
    }
    if (!rc && precision == NID_PRECISION_INT8) {
        /* int8 is a speed-up, not a requirement: a package without an int8
         * graph, a libtorch without the oneDNN quantized engine or a GPU
         * device runs in fp32, with a warning. */
        if (nid__torch_to_int8(m->t, path, ctx) != NID_OK)
            nid__log(NID_LOG_WARN, "%s; running in fp32", nid_last_error());
        else
            m->precision = NID_PRECISION_INT8;
    }
    if (!rc && opts->optimize && m->precision == NID_PRECISION_FP32) {
        /* Optimising is an improvement, not a requirement: keep the module
         * as stored if libtorch cannot optimise it. */
        if (nid__torch_optimize(m->t, ctx) != NID_OK)
            nid__log(NID_LOG_WARN, "%s (running the module as stored)",
                    nid_last_error());
    }
    if (!rc) {
        /* The trial runs on a clone: TorchScript's executor specialises a
         * module to the shapes of its first calls, which should be the
         * caller's batches, not this one zero clip. */
        nid_torch *real = m->t, *probe = NULL;
        rc = nid__torch_clone(real, &probe, ctx);
        if (!rc) {
            m->t = probe;
            rc = check_network(m, ctx);
            m->t = real;
            nid__torch_free(probe);
        }
    }
    if (!rc)
        snprintf(m->device, sizeof m->device, "%s", nid__torch_device(m->t));
    return rc;
}

static void *loader_main(void *arg)
{
    nid_model *m = arg;
    /* glibc runs one dlopen() at a time, initialisers included: the
     * caller's first video would wait the whole libtorch start-up for its
     * reader module (bench: 0.75 s instead of 0.2 s for the first video).
     * The reader modules load in a few tens of ms, so load them first
     * (a missing one is reported again when a video needs it). */
    nid_backend_get(NID_BACKEND_FFMPEG, "nid_model_load");
    nid_backend_get(NID_BACKEND_DICOM, "nid_model_load");
    nid_clear_error();
    int rc = load_network(m, &m->load_opts, 1, m->load_ctx);
    if (rc) {
        const char *msg = nid_last_error();
        m->load_msg = strdup(msg && msg[0] ? msg : nid_status_str(rc));
    }
    m->load_rc = rc;
    atomic_store_explicit(&m->done, 1, memory_order_release);
    return NULL;
}

int nid_model_load(nid_model **out, const char *path,
                   const nid_model_options *opts)
{
    static const char fn[] = "nid_model_load";
    nid_model_options own;
    if (!out || !path)
        return nid__fail(NID_EINVAL, "%s: %s is NULL", fn, !out ? "out" : "path");
    nid_model_options_init(&own);
    int rc0 = NID__STRUCT_IN(fn, "opts", nid_model_options, &own, opts);
    if (rc0) return rc0;
    opts = &own;
    if (!memchr(opts->device, '\0', sizeof opts->device) ||
        !device_ok(opts->device))
        return nid__fail(NID_EINVAL, "%s: opts->device \"%.31s\": expected "
                        "\"cpu\", \"cuda\" or \"cuda:N\"", fn, opts->device);
    /* precision and background were appended in 0.2: an older caller's
     * struct lacks them and `own` holds the defaults */
    int32_t precision = opts->precision;
    if (precision != NID_PRECISION_FP32 && precision != NID_PRECISION_BF16 &&
        precision != NID_PRECISION_INT8 && precision != NID_PRECISION_AUTO)
        return nid__fail(NID_EINVAL, "%s: opts->precision %d: expected "
                        "NID_PRECISION_FP32 (0), NID_PRECISION_BF16 (1), "
                        "NID_PRECISION_INT8 (2) or NID_PRECISION_AUTO (3)", fn,
                        (int)precision);
    if (opts->background != 0 && opts->background != 1)
        return nid__fail(NID_EINVAL, "%s: opts->background is %d, expected 0 "
                        "or 1", fn, (int)opts->background);
    /* In the background, libtorch loads on the loader thread: a missing
     * module is reported by nid_model_wait() and the calls that run the
     * network. In the foreground, say what is missing before looking at
     * the file. */
    if (!opts->background || nid_backend_peek(NID_BACKEND_TORCH)) {
        char what[64 + 4096];
        snprintf(what, sizeof what, "%s: %s: models cannot be loaded", fn,
                 path);
        if (!torch_module(what)) return NID_ENOTSUP;
    }
    int rc = check_file(path);
    if (rc) return rc;

    nid_model *m = calloc(1, sizeof *m);
    char *ctx = malloc(strlen(path) + sizeof fn + 4);
    if (!m || !ctx || !(m->path = strdup(path))) {
        free(ctx);
        nid_model_free(m);
        return nid__fail(NID_ENOMEM, "%s: out of memory", fn);
    }
    sprintf(ctx, "%s: %s", fn, path);
    m->precision = NID_PRECISION_FP32;
    m->n_threads = opts->n_threads > 0 ? opts->n_threads : nid__default_threads();
    m->clip_memory = opts->clip_memory > 0 ? opts->clip_memory : DEFAULT_CLIP_MEMORY;
    m->max_batch = opts->max_batch > 0 ? opts->max_batch : DEFAULT_MAX_BATCH;
    m->exam_batch = m->max_batch;

    size_t meta_len = 0;
    if (opts->background &&
        nid__model_meta_read(path, &m->meta_json, &meta_len)) {
        /* The metadata now, from the archive; the network on a thread of
         * its own, while the caller builds clips. */
        rc = nid__model_meta_parse(m->meta_json, meta_len, path, &m->meta);
        if (!rc) {
            derive(m);
            m->load_opts = *opts;
            m->load_ctx = ctx;
            ctx = NULL;
            pthread_mutex_init(&m->join_mu, NULL);
            atomic_init(&m->done, 0);
            if (pthread_create(&m->loader, NULL, loader_main, m) == 0) {
                m->background = 1;
            } else {
                /* no thread: load here */
                pthread_mutex_destroy(&m->join_mu);
                rc = load_network(m, opts, 1, m->load_ctx);
            }
        }
    } else {
        free(m->meta_json);
        m->meta_json = NULL;
        rc = load_network(m, opts, 0, ctx);
    }
    free(ctx);
    if (rc) {
        nid_model_free(m);
        return rc;
    }
    *out = m;
    nid_clear_error();
    return NID_OK;
}

int nid_model_get_info(const nid_model *m, nid_model_info *info)
{
    if (!m || !info)
        return nid__fail(NID_EINVAL, "nid_model_get_info: %s is NULL",
                        !m ? "model" : "info");
    int rc = NID__STRUCT_CHECK("nid_model_get_info", "info", nid_model_info,
                               info);
    if (rc) return rc;
    const nid_model_meta *me = &m->meta;
    nid_model_info r;
    nid_model_info_init(&r);
    r.format_version = me->format_version;
    memcpy(r.arch, me->arch, sizeof r.arch);
    r.has_verify = me->verification;
    r.frames = me->frames;
    r.height = me->height;
    r.width = me->width;
    r.channels = me->channels;
    memcpy(r.mean, me->mean, sizeof r.mean);
    memcpy(r.std, me->std, sizeof r.std);
    r.margin = me->margin;
    r.filter = me->filter;
    r.interp = me->interp;
    r.pad = me->pad;
    r.embed_dim = me->embed_dim;
    r.normalized = me->normalized;
    r.compare = me->compare;
    r.tau = me->tau;
    r.pair_threshold = me->pair_threshold;
    r.calibrated = me->calibrated;
    memcpy(r.model_id, me->model_id, sizeof r.model_id);
    /* while a background load runs: what was asked for */
    const int loading = nid__model_loading(m);
    memcpy(r.device, loading ? m->load_opts.device : m->device,
           sizeof r.device);
    r.n_threads = m->n_threads;
    r.description = me->description;
    r.meta_json = m->meta_json;
    r.path = m->path;
    r.coords = me->coords;
    r.precision = loading ? m->load_opts.precision : m->precision;
    r.context_margin = me->context_margin;
    /* a caller built against an older header has a shorter struct: only
     * the fields its struct_size covers are written */
    NID__STRUCT_OUT("nid_model_get_info", "info", nid_model_info, info, &r);
    nid_clear_error();
    return NID_OK;
}

int nid_model_clip_options(const nid_model *m, nid_clip_options *opts)
{
    if (!m || !opts)
        return nid__fail(NID_EINVAL, "nid_model_clip_options: %s is NULL",
                        !m ? "model" : "opts");
    const nid_model_meta *me = &m->meta;
    nid_clip_options o;
    nid_clip_options_init(&o);
    o.frames = me->frames;
    o.height = me->height;
    o.width = me->width;
    o.channels = me->channels;
    o.margin = me->margin;
    o.filter = me->filter;
    o.interp = me->interp;
    o.pad = me->pad;
    memcpy(o.mean, me->mean, sizeof o.mean);
    memcpy(o.std, me->std, sizeof o.std);
    o.coords = me->coords;
    o.context_margin = me->context_margin;
    /* opts is an output, filled whole unless its struct_size says it is
     * an older, shorter layout (an initialised struct of an older header) */
    NID__STRUCT_FILL(nid_clip_options, opts, &o);
    nid_clear_error();
    return NID_OK;
}

/* ------------------------------------------------------------------------ */
/* Embedding                                                                */
/* ------------------------------------------------------------------------ */

/* Index of the first non-finite value of x[0..n-1], or n. */
static size_t first_nonfinite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return i;
    return n;
}

/* Embed n clips into e (n x D), `batch` clips per forward pass. Input
 * values are checked on the model's device (nid__torch_forward's sum), which
 * costs far less than a scan here: a GPU embeds a batch of R(2+1)D-18
 * clips in about the time one thread needs to read them. No other checks:
 * the callers have made them. */
static int embed_batches(const nid_model *m, const float *clips, size_t n,
                         size_t batch, float *e, const char *fn,
                         const char *ctx)
{
    const nid_model_meta *me = &m->meta;
    const size_t dim = (size_t)me->embed_dim;
    int rc0 = model_ready(m);
    if (rc0) return rc0;
    for (size_t i = 0; i < n; i += batch) {
        size_t b = n - i < batch ? n - i : batch;
        int64_t shape[5] = {(int64_t)b, NET_CHANNELS(me), me->frames, me->height,
                            me->width};
        int64_t got[2] = {-1, -1};
        const float *x = clips + i * m->clip_floats;
        int rc = nid__torch_forward(m->t, x, shape, 1, e + i * dim, b * dim, got,
                                   NID_EINTERNAL, ctx);
        if (rc == NID__TORCH_NONFINITE) {
            size_t len = b * m->clip_floats, bad = first_nonfinite(x, len);
            if (bad < len)
                return nid__fail(NID_EINVAL, "%s: clip %zu has a non-finite value "
                                "at float %zu (%g)", fn, i + bad / m->clip_floats,
                                bad % m->clip_floats, (double)x[bad]);
            /* all finite, but their sum overflowed */
            rc = nid__torch_forward(m->t, x, shape, 0, e + i * dim, b * dim, got,
                                   NID_EINTERNAL, ctx);
        }
        if (rc == NID__TORCH_SHAPE)
            return nid__fail(NID_EINTERNAL, "%s: forward on %zu clips gives "
                            "%lld x %lld, expected %zu x %zu", ctx, b,
                            (long long)got[0], (long long)got[1], b, dim);
        if (rc) return rc;
        /* Finite clips can still overflow inside the network. */
        size_t bad = first_nonfinite(e + i * dim, b * dim);
        if (bad < b * dim)
            return nid__fail(NID_EINVAL, "%s: the embedding of clip %zu is not "
                            "finite (input values too large?)", fn,
                            i + bad / dim);
    }
    return NID_OK;
}

int nid_model_embed(const nid_model *m, const float *clips, size_t n,
                    size_t clips_len, float *emb, size_t emb_cap,
                    size_t *needed)
{
    static const char fn[] = "nid_model_embed";
    if (!m || !clips)
        return nid__fail(NID_EINVAL, "%s: %s is NULL", fn, !m ? "model" : "clips");
    if (n == 0)
        return nid__fail(NID_EINVAL, "%s: n must be > 0", fn);
    const nid_model_meta *me = &m->meta;
    size_t want, need;
    if (!nid__mul_size(n, m->clip_floats, &want) ||
        !nid__mul_size(n, (size_t)me->embed_dim, &need))
        return nid__fail(NID_EINVAL, "%s: n = %zu clips is too many", fn, n);
    if (clips_len != want) {
        char per[64] = "";
        if (clips_len % n == 0)
            snprintf(per, sizeof per, " (%zu per clip)", clips_len / n);
        return nid__fail(NID_EMISMATCH, "%s: model %s takes clips of C x T x H x "
                        "W = %d x %d x %d x %d = %zu floats: expected %zu x %zu "
                        "= %zu floats for n = %zu, got clips_len %zu%s", fn,
                        m->path, (int)NET_CHANNELS(me), (int)me->frames,
                        (int)me->height, (int)me->width, m->clip_floats, n,
                        m->clip_floats, want, n, clips_len, per);
    }
    if (!emb || emb_cap < need) {
        if (needed) *needed = need;
        return nid__fail(NID_EBUFSIZE, "%s: emb holds %zu floats, %zu clips x %d "
                        "need %zu", fn, emb ? emb_cap : 0, n, (int)me->embed_dim,
                        need);
    }
    float *e = malloc(need * sizeof *e);
    if (!e)
        return nid__fail(NID_ENOMEM, "%s: out of memory", fn);
    char ctx[512];
    snprintf(ctx, sizeof ctx, "%s: model %s", fn, m->path);
    int rc = embed_batches(m, clips, n, (size_t)m->max_batch, e, fn, ctx);
    if (!rc) {
        memcpy(emb, e, need * sizeof *e);
        nid_clear_error();
    }
    free(e);
    return rc;
}

/* Mean of n rows of e (n x dim) in double, renormalised when the model's
 * embeddings are normalised; into out. */
static int pool_rows(const nid_model *m, const float *e, size_t n, size_t dim,
                     float *out, const char *fn)
{
    double *acc = calloc(dim, sizeof *acc);
    if (!acc)
        return nid__fail(NID_ENOMEM, "%s: out of memory", fn);
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < dim; k++)
            acc[k] += e[i * dim + k];
    double ss = 0.0;
    for (size_t k = 0; k < dim; k++) {
        acc[k] /= (double)n;
        ss += acc[k] * acc[k];
    }
    double scale = 1.0;
    if (m->meta.normalized) {
        if (!(ss > 0.0) || !isfinite(ss)) {
            free(acc);
            return nid__fail(NID_EINVAL, "%s: the mean of the %zu embeddings has "
                            "norm 0 and cannot be normalised", fn, n);
        }
        scale = 1.0 / sqrt(ss);
    }
    for (size_t k = 0; k < dim; k++)
        out[k] = (float)(acc[k] * scale);
    free(acc);
    return NID_OK;
}

int nid_model_pool(const nid_model *m, const float *emb, size_t n, size_t d,
                   float *out, size_t out_cap)
{
    static const char fn[] = "nid_model_pool";
    if (!m || !emb || !out)
        return nid__fail(NID_EINVAL, "%s: %s is NULL", fn,
                        !m ? "model" : !emb ? "emb" : "out");
    if (n == 0)
        return nid__fail(NID_EINVAL, "%s: n must be > 0", fn);
    if (d != (size_t)m->meta.embed_dim)
        return nid__fail(NID_EMISMATCH, "%s: d = %zu, but model %s has embedding "
                        "dim %d", fn, d, m->path, (int)m->meta.embed_dim);
    if (out_cap < d)
        return nid__fail(NID_EBUFSIZE, "%s: out holds %zu floats, need %zu", fn,
                        out_cap, d);
    size_t total;
    if (!nid__mul_size(n, d, &total))
        return nid__fail(NID_EINVAL, "%s: n = %zu is too many", fn, n);
    size_t bad = first_nonfinite(emb, total);
    if (bad < total)
        return nid__fail(NID_EINVAL, "%s: embedding %zu has a non-finite value at "
                        "%zu", fn, bad / d, bad % d);
    float *tmp = malloc(d * sizeof *tmp);
    if (!tmp)
        return nid__fail(NID_ENOMEM, "%s: out of memory", fn);
    int rc = pool_rows(m, emb, n, d, tmp, fn);
    if (!rc) {
        memcpy(out, tmp, d * sizeof *tmp);
        nid_clear_error();
    }
    free(tmp);
    return rc;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int embed_tracklets(const nid_model *m, nid_video *video,
                           const nid_exam *exam, size_t first, size_t count,
                           const nid_clip_options *opts, size_t batch,
                           const float *prebuilt, float *emb, size_t *n_clips,
                           nid_embed_hooks *h, nid_embed_scratch *sc,
                           const char *fn);

int nid_model_embed_tracklet(const nid_model *m, nid_video *video,
                             const nid_exam *exam, size_t t,
                             const nid_clip_options *opts, float *emb,
                             size_t emb_cap, size_t *n_clips)
{
    return nid__model_embed_tracklet_hooked(m, video, exam, t, opts, emb,
                                           emb_cap, n_clips, NULL);
}

int nid__model_embed_tracklet_hooked(const nid_model *m, nid_video *video,
                                    const nid_exam *exam, size_t t,
                                    const nid_clip_options *opts, float *emb,
                                    size_t emb_cap, size_t *n_clips,
                                    nid_embed_hooks *h)
{
    static const char fn[] = "nid_model_embed_tracklet";
    if (!m || !video || !exam || !emb)
        return nid__fail(NID_EINVAL, "%s: %s is NULL", fn,
                        !m ? "model" : !video ? "video" : !exam ? "exam" : "emb");
    if (emb_cap < (size_t)m->meta.embed_dim)
        return nid__fail(NID_EBUFSIZE, "%s: emb holds %zu floats, need %zu", fn,
                        emb_cap, (size_t)m->meta.embed_dim);
    size_t nc = 0;
    int rc = embed_tracklets(m, video, exam, t, 1, opts, (size_t)m->max_batch,
                             NULL, emb, &nc, h, NULL, fn);
    if (!rc && n_clips) *n_clips = nc;
    return rc;
}

int nid__model_embed_tracklets_hooked(const nid_model *m, nid_video *video,
                                     const nid_exam *exam, size_t first,
                                     size_t count,
                                     const nid_clip_options *opts,
                                     const float *prebuilt, float *emb,
                                     size_t *n_clips, nid_embed_hooks *h,
                                     nid_embed_scratch *scratch)
{
    static const char fn[] = "nid_model_embed_tracklet";
    if (!m || (!video && !prebuilt) || !exam || !emb || !n_clips || count == 0)
        return nid__fail(NID_EINVAL, "%s: %s", fn, count == 0 ? "no tracklets" :
                        "NULL argument");
    return embed_tracklets(m, video, exam, first, count, opts,
                           (size_t)m->exam_batch, prebuilt, emb, n_clips, h,
                           scratch, fn);
}

size_t nid__model_exam_batch(const nid_model *m)
{
    return (size_t)m->exam_batch;
}

/* Clips per chunk of embed_tracklets() at `batch` clips per pass: whole
 * batches within clip_memory, at least one batch. */
static size_t chunk_clips(const nid_model *m, size_t batch)
{
    size_t chunk = m->clip_memory / (m->clip_floats * sizeof(float));
    return chunk < batch ? batch : chunk / batch * batch;
}

size_t nid__model_exam_chunk(const nid_model *m)
{
    return chunk_clips(m, (size_t)m->exam_batch);
}

const nid_clip_options *nid__model_clip_opts(const nid_model *m,
                                             const nid_clip_options *opts,
                                             nid_clip_options *own)
{
    if (opts) return opts;
    nid_clip_options_init(own);
    nid_model_clip_options(m, own);
    return own;
}

size_t nid__model_clip_floats(const nid_model *m)
{
    return m->clip_floats;
}

void nid__embed_scratch_free(nid_embed_scratch *s)
{
    if (!s) return;
    free(s->clips);
    free(s->emb);
    free(s->nc);
    memset(s, 0, sizeof *s);
}

/* Grow *p to hold n elements of `size` bytes (64-byte aligned when
 * `aligned`: the network reads clips straight from it, and oneDNN is
 * slower on unaligned input); *cap in elements. Contents are not kept. */
static int grow(void **p, size_t *cap, size_t n, size_t size, int aligned)
{
    if (n <= *cap) return 1;
    size_t bytes;
    if (!nid__mul_size(n, size, &bytes)) return 0;
    free(*p);
    *p = aligned ? aligned_alloc(64, (bytes + 63) / 64 * 64) : malloc(bytes);
    *cap = *p ? n : 0;
    return *p != NULL;
}

/* Tracklets first .. first + count - 1 (one video): every clip built and
 * embedded `batch` clips per forward pass, the clips of several tracklets
 * in one pass (small models run far faster on batches than on single
 * clips), at most clip_memory bytes of clips at once; each tracklet's
 * window embeddings pooled into emb + i * D, its clip count in n_clips[i].
 * Buffers come from `sc` (kept for the next call) or are freed here. */
static int embed_tracklets(const nid_model *m, nid_video *video,
                           const nid_exam *exam, size_t first, size_t count,
                           const nid_clip_options *opts, size_t batch,
                           const float *prebuilt, float *emb, size_t *n_clips,
                           nid_embed_hooks *h, nid_embed_scratch *sc,
                           const char *fn)
{
    const nid_model_meta *me = &m->meta;
    const size_t dim = (size_t)me->embed_dim;
    nid_clip_options own;
    if (opts) {
        int rc = NID__STRUCT_CHECK(fn, "opts", nid_clip_options, opts);
        if (rc) return rc;
        const int32_t want[5] = {me->frames, me->height, me->width, me->channels,
                                 me->coords};
        const int32_t got[5] = {opts->frames, opts->height, opts->width,
                                opts->channels, nid__clip_coords(opts)};
        static const char *const names[5] = {"frames", "height", "width",
                                             "channels", "coords"};
        for (int i = 0; i < 5; i++)
            if (want[i] != got[i])
                return nid__fail(NID_EMISMATCH, "%s: opts->%s is %d, model %s "
                                "takes %d (clips %d x %d x %d x %d, C x T x H x "
                                "W; use nid_model_clip_options)", fn, names[i],
                                (int)got[i], m->path, (int)want[i],
                                (int)NET_CHANNELS(me), (int)me->frames,
                                (int)me->height, (int)me->width);
        /* context channels or none, as the network's input; their margin,
         * like margin itself, is the caller's choice */
        const float ctx = nid__clip_context(opts);
        if ((ctx > 0.0f) != (me->context_margin > 0.0f))
            return nid__fail(NID_EMISMATCH, "%s: opts->context_margin is %g, "
                            "model %s takes %s (context_margin %g; clips %d x "
                            "%d x %d x %d, C x T x H x W; use "
                            "nid_model_clip_options)", fn, (double)ctx,
                            m->path, me->context_margin > 0.0f
                                         ? "context channels"
                                         : "no context channels",
                            (double)me->context_margin, (int)NET_CHANNELS(me),
                            (int)me->frames, (int)me->height, (int)me->width);
    }
    opts = nid__model_clip_opts(m, opts, &own);
    nid_embed_scratch local;
    memset(&local, 0, sizeof local);
    if (!sc) sc = &local;
    int rc = NID_OK;
    const size_t per = m->clip_floats;
    size_t total = 0;
    if (!grow((void **)&sc->nc, &sc->nc_cap, count, sizeof *sc->nc, 0))
        rc = nid__fail(NID_ENOMEM, "%s: out of memory", fn);
    for (size_t i = 0; i < count && !rc; i++) {
        size_t nf = 0;
        rc = nid_clip_count(exam, first + i, opts, &sc->nc[i], &nf);
        if (!rc && sc->nc[i] == 0)
            rc = nid__fail(NID_EINTERNAL, "%s: tracklet %zu gives no clips", fn,
                          first + i);
        if (!rc && sc->nc[i] > SIZE_MAX / 2 - total)
            rc = nid__fail(NID_EINVAL, "%s: too many clips", fn);
        if (!rc) total += sc->nc[i];
    }
    /* clips per chunk: whole batches, within clip_memory (prebuilt: all,
     * which the caller has kept within one chunk) */
    size_t chunk = prebuilt ? total : chunk_clips(m, batch);
    if (!rc && chunk > total) chunk = total;
    size_t ne = 0;
    if (!rc && (!nid__mul_size(total, dim, &ne) ||
                (!prebuilt && !grow((void **)&sc->clips, &sc->clips_cap,
                                    chunk * per, sizeof(float), 1)) ||
                !grow((void **)&sc->emb, &sc->emb_cap, ne + dim, sizeof(float), 0)))
        rc = nid__fail(NID_ENOMEM, "%s: out of memory for %zu clips of "
                      "tracklets %zu..%zu (%zu floats)", fn, chunk, first,
                      first + count - 1, chunk * per);
    /* a chunk's clips: at most one piece (a run of clips) per tracklet */
    nid_clip_piece *pieces = NULL;
    if (!rc && !(pieces = malloc(count * sizeof *pieces)))
        rc = nid__fail(NID_ENOMEM, "%s: out of memory", fn);
    float *clips = prebuilt ? (float *)prebuilt : sc->clips, *e = sc->emb;
    char ctx[512];
    snprintf(ctx, sizeof ctx, "%s: model %s, tracklet %zu", fn, m->path, first);
    size_t pos = 0, fill = 0; /* clips embedded; clips waiting in the chunk */
    size_t np = 0;            /* pieces waiting to be built */
    for (size_t i = 0; i < count && !rc; i++) {
        const size_t t = first + i, nc = sc->nc[i];
        if (count > 1)
            snprintf(ctx, sizeof ctx, "%s: model %s, tracklet %zu", fn,
                     m->path, t);
        for (size_t k = 0; k < nc && !rc;) {
            size_t take = nc - k < chunk - fill ? nc - k : chunk - fill;
            pieces[np++] = (nid_clip_piece){t, k, k + take, clips + fill * per};
            k += take;
            fill += take;
            if (fill < chunk && (k < nc || i + 1 < count))
                continue; /* the chunk is not full and more clips follow */
            /* the chunk's clips, all its tracklets in one pass over the
             * video (each sampled frame decoded once, in frame order) */
            double t0 = h ? now_s() : 0;
            if (!prebuilt)
                rc = nid__clip_build_pieces(video, exam, opts, pieces, np);
            np = 0;
            if (h) h->t_clips += now_s() - t0;
            if (rc) break;
            t0 = h ? now_s() : 0;
            rc = embed_batches(m, clips, fill, batch, e + pos * dim, fn, ctx);
            if (h) h->t_embed += now_s() - t0;
            pos += fill;
            fill = 0;
            if (!rc && h && h->abort && pos < total && h->abort(h->payload))
                rc = nid__fail(NID_ECANCELED, "%s: cancelled by the abort "
                              "callback after %zu of %zu clips", ctx, pos, total);
        }
    }
    free(pieces);
    for (size_t i = 0, off = 0; i < count && !rc; off += sc->nc[i], i++) {
        float *pooled = e + ne; /* one spare row */
        if (sc->nc[i] == 1)
            memcpy(pooled, e + off * dim, dim * sizeof *pooled);
        else
            rc = pool_rows(m, e + off * dim, sc->nc[i], dim, pooled, fn);
        if (!rc) {
            memcpy(emb + i * dim, pooled, dim * sizeof *pooled);
            n_clips[i] = sc->nc[i];
        }
    }
    if (!rc) nid_clear_error();
    nid__embed_scratch_free(&local);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Verification and comparison                                              */
/* ------------------------------------------------------------------------ */

/* Common checks of the comparison functions: model, pointers, d, finite
 * rows (n rows each of a and, when non-NULL, b). */
static int check_embeddings(const nid_model *m, const float *a, const float *b,
                            size_t n, size_t d, const char *fn)
{
    if (!m || !a)
        return nid__fail(NID_EINVAL, "%s: %s is NULL", fn, !m ? "model" : "a");
    if (n == 0)
        return nid__fail(NID_EINVAL, "%s: n must be > 0", fn);
    if (d != (size_t)m->meta.embed_dim)
        return nid__fail(NID_EMISMATCH, "%s: d = %zu, but model %s has embedding "
                        "dim %d", fn, d, m->path, (int)m->meta.embed_dim);
    size_t total;
    if (!nid__mul_size(n, d, &total))
        return nid__fail(NID_EINVAL, "%s: n = %zu is too many", fn, n);
    size_t bad = first_nonfinite(a, total);
    if (bad < total)
        return nid__fail(NID_EINVAL, "%s: row %zu of %s has a non-finite value",
                        fn, bad / d, b ? "a" : "emb");
    if (b) {
        bad = first_nonfinite(b, total);
        if (bad < total)
            return nid__fail(NID_EINVAL, "%s: row %zu of b has a non-finite "
                            "value", fn, bad / d);
    }
    return NID_OK;
}

static int no_head(const nid_model *m, const char *fn)
{
    return nid__fail(NID_ENOTSUP, "%s: model %s (%s, kind \"classification\") "
                    "has no verification head; compare its embeddings with "
                    "NID_COMPARE_COSINE", fn, m->path, m->meta.arch);
}

/* verify(a, b) on n pairs into p, checking that the outputs are
 * probabilities. */
static int run_verify(const nid_model *m, const float *a, const float *b,
                      size_t n, float *p, const char *fn)
{
    int rc0 = model_ready(m);
    if (rc0) return rc0;
    char ctx[512];
    snprintf(ctx, sizeof ctx, "%s: model %s", fn, m->path);
    int64_t len = -1;
    int rc = nid__torch_verify(m->t, a, b, n, (size_t)m->meta.embed_dim, p, &len,
                              NID_EINTERNAL, ctx);
    if (rc == NID__TORCH_SHAPE)
        return nid__fail(NID_EINTERNAL, "%s: verify on %zu pairs gives %lld "
                        "values", ctx, n, (long long)len);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++)
        if (!(p[i] >= 0.0f && p[i] <= 1.0f))
            return nid__fail(NID_EINTERNAL, "%s: verify gives %g for pair %zu, "
                            "not a probability", ctx, (double)p[i], i);
    return NID_OK;
}

int nid_model_verify(const nid_model *m, const float *a, const float *b,
                     size_t n, size_t d, float *p_same, size_t p_cap)
{
    static const char fn[] = "nid_model_verify";
    if (m && !m->meta.verification)
        return no_head(m, fn);
    if (!b || !p_same)
        return nid__fail(NID_EINVAL, "%s: %s is NULL", fn, !b ? "b" : "p_same");
    int rc = check_embeddings(m, a, b, n, d, fn);
    if (rc) return rc;
    if (p_cap < n)
        return nid__fail(NID_EBUFSIZE, "%s: p_same holds %zu floats, need %zu",
                        fn, p_cap, n);
    float *p = malloc(n * sizeof *p);
    if (!p)
        return nid__fail(NID_ENOMEM, "%s: out of memory", fn);
    rc = run_verify(m, a, b, n, p, fn);
    if (!rc) {
        memcpy(p_same, p, n * sizeof *p);
        nid_clear_error();
    }
    free(p);
    return rc;
}

/* Cosine of two rows in double. */
static int cosine(const float *a, const float *b, size_t d, double *out)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t k = 0; k < d; k++) {
        ab += (double)a[k] * b[k];
        aa += (double)a[k] * a[k];
        bb += (double)b[k] * b[k];
    }
    if (!(aa > 0) || !(bb > 0))
        return -1;
    double c = ab / (sqrt(aa) * sqrt(bb));
    *out = c > 1.0 ? 1.0 : (c < -1.0 ? -1.0 : c);
    return 0;
}

/* Symmetrised verify similarity of K pairs given by row indices
 * (ia[k], ib[k]) of x: s[k] = (p(x_ia, x_ib) + p(x_ib, x_ia)) / 2.
 * Runs VERIFY_CHUNK pairs (2 * VERIFY_CHUNK head inputs) per call. */
static int verify_pairs(const nid_model *m, const float *xa, const float *xb,
                        const size_t *ia, const size_t *ib, size_t k,
                        float *s, const char *fn)
{
    const size_t d = (size_t)m->meta.embed_dim;
    size_t chunk = k < VERIFY_CHUNK ? k : VERIFY_CHUNK;
    float *A = malloc(2 * chunk * d * sizeof *A);
    float *B = malloc(2 * chunk * d * sizeof *B);
    float *p = malloc(2 * chunk * sizeof *p);
    int rc = NID_OK;
    if (!A || !B || !p)
        rc = nid__fail(NID_ENOMEM, "%s: out of memory", fn);
    for (size_t s0 = 0; !rc && s0 < k; s0 += chunk) {
        size_t c = k - s0 < chunk ? k - s0 : chunk;
        for (size_t j = 0; j < c; j++) {
            const float *u = xa + ia[s0 + j] * d, *v = xb + ib[s0 + j] * d;
            memcpy(A + j * d, u, d * sizeof *A);
            memcpy(B + j * d, v, d * sizeof *B);
            memcpy(A + (c + j) * d, v, d * sizeof *A);
            memcpy(B + (c + j) * d, u, d * sizeof *B);
        }
        rc = run_verify(m, A, B, 2 * c, p, fn);
        for (size_t j = 0; !rc && j < c; j++)
            s[s0 + j] = 0.5f * (p[j] + p[c + j]);
    }
    free(A);
    free(B);
    free(p);
    return rc;
}

static int check_mode(const nid_model *m, int mode, const char *fn)
{
    if (mode != NID_COMPARE_COSINE && mode != NID_COMPARE_VERIFY)
        return nid__fail(NID_EINVAL, "%s: unknown compare mode %d (expected "
                        "NID_COMPARE_COSINE or NID_COMPARE_VERIFY)", fn, mode);
    if (mode == NID_COMPARE_VERIFY && m && !m->meta.verification)
        return no_head(m, fn);
    return NID_OK;
}

int nid_model_compare(const nid_model *m, const float *a, const float *b,
                      size_t n, size_t d, int mode, float *sim, size_t sim_cap)
{
    static const char fn[] = "nid_model_compare";
    int rc = check_mode(m, mode, fn);
    if (rc) return rc;
    if (!b || !sim)
        return nid__fail(NID_EINVAL, "%s: %s is NULL", fn, !b ? "b" : "sim");
    rc = check_embeddings(m, a, b, n, d, fn);
    if (rc) return rc;
    if (sim_cap < n)
        return nid__fail(NID_EBUFSIZE, "%s: sim holds %zu floats, need %zu", fn,
                        sim_cap, n);
    float *s = malloc(n * sizeof *s);
    size_t *idx = mode == NID_COMPARE_VERIFY ? malloc(n * sizeof *idx) : NULL;
    if (!s || (mode == NID_COMPARE_VERIFY && !idx)) {
        free(s);
        free(idx);
        return nid__fail(NID_ENOMEM, "%s: out of memory", fn);
    }
    if (mode == NID_COMPARE_COSINE) {
        for (size_t i = 0; !rc && i < n; i++) {
            double c;
            if (cosine(a + i * d, b + i * d, d, &c))
                rc = nid__fail(NID_EINVAL, "%s: pair %zu: a zero-norm embedding "
                              "has no cosine", fn, i);
            else
                s[i] = (float)c;
        }
    } else {
        for (size_t i = 0; i < n; i++)
            idx[i] = i;
        rc = verify_pairs(m, a, b, idx, idx, n, s, fn);
    }
    if (!rc) {
        memcpy(sim, s, n * sizeof *s);
        nid_clear_error();
    }
    free(s);
    free(idx);
    return rc;
}

/* The all-pairs similarity (as_distance == 0) or distance matrix. */
static int compare_all(const nid_model *m, const float *emb, size_t n,
                       size_t d, int mode, float *out, size_t cap,
                       size_t *needed, int as_distance, const char *fn)
{
    int rc = check_mode(m, mode, fn);
    if (rc) return rc;
    rc = check_embeddings(m, emb, NULL, n, d, fn);
    if (rc) return rc;
    size_t nn;
    if (!nid__mul_size(n, n, &nn))
        return nid__fail(NID_EINVAL, "%s: n = %zu is too many", fn, n);
    if (!out || cap < nn) {
        if (needed) *needed = nn;
        return nid__fail(NID_EBUFSIZE, "%s: the output holds %zu floats, n x n "
                        "= %zu needed", fn, out ? cap : 0, nn);
    }
    float *r = malloc(nn * sizeof *r);
    if (!r)
        return nid__fail(NID_ENOMEM, "%s: out of memory for %zu x %zu floats",
                        fn, n, n);
    if (mode == NID_COMPARE_COSINE) {
        /* The distance 1 - cos of the clustering code, so that clustering
         * from this matrix equals nid_cluster() with the cosine metric. */
        rc = nid_distance_matrix(emb, n, d, NID_METRIC_COSINE, m->n_threads, r,
                                 nn, NULL); /* its error names a zero row */
        if (!rc && !as_distance)
            for (size_t i = 0; i < nn; i++)
                r[i] = 1.0f - r[i];
    } else {
        size_t k = n * (n - 1) / 2;
        size_t *ia = malloc((k ? k : 1) * sizeof *ia);
        size_t *ib = malloc((k ? k : 1) * sizeof *ib);
        float *s = malloc((k ? k : 1) * sizeof *s);
        if (!ia || !ib || !s)
            rc = nid__fail(NID_ENOMEM, "%s: out of memory for %zu pairs", fn, k);
        size_t q = 0;
        for (size_t i = 0; !rc && i < n; i++)
            for (size_t j = i + 1; j < n; j++, q++) {
                ia[q] = i;
                ib[q] = j;
            }
        if (!rc && k) rc = verify_pairs(m, emb, emb, ia, ib, k, s, fn);
        for (size_t q2 = 0; !rc && q2 < k; q2++) {
            float v = as_distance ? (1.0f - s[q2] > 0.0f ? 1.0f - s[q2] : 0.0f)
                                  : s[q2];
            r[ia[q2] * n + ib[q2]] = v;
            r[ib[q2] * n + ia[q2]] = v;
        }
        free(ia);
        free(ib);
        free(s);
    }
    if (!rc) {
        for (size_t i = 0; i < n; i++)
            r[i * n + i] = as_distance ? 0.0f : 1.0f;
        memcpy(out, r, nn * sizeof *r);
        nid_clear_error();
    }
    free(r);
    return rc;
}

int nid_model_compare_matrix(const nid_model *m, const float *emb, size_t n,
                             size_t d, int mode, float *sim, size_t sim_cap,
                             size_t *needed)
{
    return compare_all(m, emb, n, d, mode, sim, sim_cap, needed, 0,
                       "nid_model_compare_matrix");
}

int nid_model_distance_matrix(const nid_model *m, const float *emb, size_t n,
                              size_t d, int mode, float *dist, size_t dist_cap,
                              size_t *needed)
{
    return compare_all(m, emb, n, d, mode, dist, dist_cap, needed, 1,
                       "nid_model_distance_matrix");
}
