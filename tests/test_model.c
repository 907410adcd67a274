/* test_model.c - the model stage: loading packages made by the project's
 * exporter (ctest fixture nid_models, py/make_model_packages.py), their
 * metadata, embedding clips of a synthetic video (and of an FFmpeg test
 * video), pooling, cosine and verification comparisons, distance
 * matrices feeding the clustering, one model shared by several threads,
 * and every kind of bad package. Equality with Python torch is checked by
 * py/check_model_python.py. Without libtorch only the NID_ENOTSUP path and
 * argument checks run. */
#include <check.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_fixture.h"
#include "noduleid.h"

#define HAS(sub) \
    ck_assert_msg(strstr(nid_last_error(), (sub)) != NULL, \
                  "error \"%s\" lacks \"%s\"", nid_last_error(), (sub))

#define D 128 /* embedding size of cm.nidm / vm.nidm */

static const char *model_path(const char *name)
{
    static __thread char buf[1024];
    const char *dir = getenv("NID_TEST_MODELS");
    ck_assert_msg(dir != NULL, "NID_TEST_MODELS is not set (run through ctest)");
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

static nid_model *load(const char *name, int threads)
{
    nid_model_options o;
    nid_model_options_init(&o);
    o.n_threads = threads;
    nid_model *m = NULL;
    int rc = nid_model_load(&m, model_path(name), &o);
    ck_assert_msg(rc == NID_OK, "%s: %s", name, nid_last_error());
    ck_assert_str_eq(nid_last_error(), "");
    return m;
}

static uint32_t rng = 2024;
static float urand(void) /* in [-1, 1) */
{
    rng = rng * 1664525u + 1013904223u;
    return (float)(rng >> 8) / (float)(1u << 23) - 1.0f;
}

static float *random_clips(size_t n, size_t clip_floats)
{
    float *x = malloc(n * clip_floats * sizeof *x);
    ck_assert_ptr_nonnull(x);
    for (size_t i = 0; i < n * clip_floats; i++)
        x[i] = urand();
    return x;
}

static double norm(const float *x, size_t d)
{
    double s = 0;
    for (size_t k = 0; k < d; k++) s += (double)x[k] * x[k];
    return sqrt(s);
}

static double cosd(const float *a, const float *b, size_t d)
{
    double s = 0;
    for (size_t k = 0; k < d; k++) s += (double)a[k] * b[k];
    return s / (norm(a, d) * norm(b, d));
}

/* Embeddings of the fixture's three tracklets (one uniform clip each). */
static void fixture_embeddings(nid_model *m, float *emb, size_t d)
{
    nid_video *v;
    uint8_t *px;
    nid_exam *ex;
    ck_assert_int_eq(fix_video(&v, &px), NID_OK);
    ck_assert_int_eq(fix_exam(&ex), NID_OK);
    for (size_t t = 0; t < 3; t++) {
        size_t nc = 99;
        ck_assert_msg(nid_model_embed_tracklet(m, v, ex, t, NULL, emb + t * d,
                                               d, &nc) == NID_OK,
                      "%s", nid_last_error());
        ck_assert_uint_eq(nc, 1);
    }
    nid_exam_free(ex);
    nid_video_free(v);
    free(px);
}

static int have_torch(void)
{
    return (nid_features() & NID_FEATURE_TORCH) != 0;
}

/* ------------------------------------------------------------------------ */

START_TEST(defaults_and_names)
{
    nid_model_options o;
    nid_model_options_init(&o);
    ck_assert_uint_eq(o.struct_size, sizeof o);
    ck_assert_str_eq(o.device, "cpu");
    ck_assert_int_eq(o.n_threads, 0);
    ck_assert_int_eq(o.optimize, 1);
    ck_assert_int_eq(o.max_batch, 4);
    nid_model_info in;
    memset(&in, 0x5a, sizeof in);
    nid_model_info_init(&in);
    ck_assert_uint_eq(in.struct_size, sizeof in);
    ck_assert_ptr_null(in.meta_json);
    (nid_model_options_init)(NULL);
    nid_model_options_init_sized(NULL, sizeof(nid_model_options));
    (nid_model_info_init)(NULL);
    nid_model_info_init_sized(NULL, sizeof(nid_model_info));
    nid_model_free(NULL);
    ck_assert_str_eq(nid_compare_mode_name(NID_COMPARE_COSINE), "cosine");
    ck_assert_str_eq(nid_compare_mode_name(NID_COMPARE_VERIFY), "verify");
    ck_assert_ptr_null(nid_compare_mode_name(7));
}
END_TEST

START_TEST(load_arguments)
{
    nid_model *m = (nid_model *)&m; /* sentinel: must stay untouched */
    nid_model *const sentinel = m;
    nid_model_options o;
    ck_assert_int_eq(nid_model_load(NULL, "x", NULL), NID_EINVAL);
    HAS("out");
    ck_assert_int_eq(nid_model_load(&m, NULL, NULL), NID_EINVAL);
    HAS("path");
    nid_model_options_init(&o);
    o.struct_size = 8;
    ck_assert_int_eq(nid_model_load(&m, "x", &o), NID_EINVAL);
    HAS("struct_size");
    nid_model_options_init(&o);
    strcpy(o.device, "gpu0");
    ck_assert_int_eq(nid_model_load(&m, "x", &o), NID_EINVAL);
    HAS("gpu0");
    strcpy(o.device, "cuda:x");
    ck_assert_int_eq(nid_model_load(&m, "x", &o), NID_EINVAL);
    HAS("cuda:x");
    memset(o.device, 'c', sizeof o.device); /* not terminated */
    ck_assert_int_eq(nid_model_load(&m, "x", &o), NID_EINVAL);
    HAS("device");
    if (have_torch()) {
        ck_assert_int_eq(nid_model_load(&m, "/nonexistent/dir/m.nidm", NULL),
                         NID_EIO);
        HAS("/nonexistent/dir/m.nidm");
        HAS("No such file");
    } else {
        /* without libtorch no file could load: say that, not "missing" */
        ck_assert_int_eq(nid_model_load(&m, "/nonexistent/dir/m.nidm", NULL),
                         NID_ENOTSUP);
        HAS("NID_WITH_TORCH");
    }
    ck_assert_ptr_eq(m, sentinel);
    /* the other calls reject a NULL model */
    float x[4] = {0}, y[4] = {0};
    nid_model_info in;
    nid_model_info_init(&in);
    nid_clip_options co;
    ck_assert_int_eq(nid_model_get_info(NULL, &in), NID_EINVAL);
    ck_assert_int_eq(nid_model_clip_options(NULL, &co), NID_EINVAL);
    ck_assert_int_eq(nid_model_embed(NULL, x, 1, 4, y, 4, NULL), NID_EINVAL);
    HAS("model");
    ck_assert_int_eq(nid_model_pool(NULL, x, 1, 4, y, 4), NID_EINVAL);
    ck_assert_int_eq(nid_model_verify(NULL, x, x, 1, 4, y, 4), NID_EINVAL);
    ck_assert_int_eq(nid_model_compare(NULL, x, x, 1, 4, 0, y, 4), NID_EINVAL);
    ck_assert_int_eq(nid_model_compare_matrix(NULL, x, 1, 4, 0, y, 4, NULL), NID_EINVAL);
    ck_assert_int_eq(nid_model_distance_matrix(NULL, x, 1, 4, 0, y, 4, NULL), NID_EINVAL);
    ck_assert_int_eq(nid_model_embed_tracklet(NULL, NULL, NULL, 0, NULL, y, 4, NULL),
                     NID_EINVAL);
}
END_TEST

START_TEST(without_torch)
{
    /* Built with NID_WITH_TORCH=OFF: loading says so. Any readable file
     * will do, as loading stops before reading it. */
    ck_assert(!have_torch());
    nid_model *m = NULL;
    const char *self = "/proc/self/exe";
    ck_assert_int_eq(nid_model_load(&m, self, NULL), NID_ENOTSUP);
    HAS("NID_WITH_TORCH");
    ck_assert_ptr_null(m);
}
END_TEST

START_TEST(info_and_clip_options)
{
    nid_model *m = load("cm.nidm", 2);
    nid_model_info in;
    nid_model_info_init(&in);
    ck_assert_int_eq(nid_model_get_info(m, &in), NID_OK);
    ck_assert_int_eq(in.format_version, 1);
    ck_assert_str_eq(in.arch, "r2plus1d_compact");
    ck_assert_int_eq(in.has_verify, 0);
    ck_assert_int_eq(in.frames, 4);
    ck_assert_int_eq(in.height, 32);
    ck_assert_int_eq(in.width, 16);
    ck_assert_int_eq(in.channels, 3);
    ck_assert(in.mean[0] == 0.5f && in.std[2] == 0.5f);
    ck_assert(fabsf(in.margin - 0.1f) < 1e-7f);
    ck_assert_int_eq(in.filter, NID_FILTER_AREA);
    ck_assert_int_eq(in.interp, NID_INTERP_UNION);
    ck_assert_int_eq(in.pad, NID_PAD_ZERO);
    ck_assert_int_eq(in.embed_dim, D);
    ck_assert_int_eq(in.normalized, 1);
    ck_assert_int_eq(in.compare, NID_COMPARE_COSINE);
    ck_assert(in.tau == 0.5f && in.pair_threshold == 0.5f);
    ck_assert_int_eq(in.calibrated, 0);
    ck_assert_uint_eq(strlen(in.model_id), 71);
    ck_assert(strncmp(in.model_id, "sha256:", 7) == 0);
    ck_assert_str_eq(in.device, "cpu");
    ck_assert_int_eq(in.n_threads, 2);
    ck_assert_ptr_nonnull(strstr(in.description, "seed 0"));
    ck_assert_ptr_nonnull(strstr(in.meta_json, in.model_id));
    ck_assert_str_eq(in.path, model_path("cm.nidm"));
    in.struct_size = 4;
    ck_assert_int_eq(nid_model_get_info(m, &in), NID_EINVAL);
    HAS("struct_size");

    nid_clip_options co;
    memset(&co, 0, sizeof co);
    ck_assert_int_eq(nid_model_clip_options(m, &co), NID_OK);
    ck_assert_uint_eq(co.struct_size, sizeof co);
    ck_assert_int_eq(co.frames, 4);
    ck_assert_int_eq(co.height, 32);
    ck_assert_int_eq(co.width, 16);
    ck_assert_int_eq(co.channels, 3);
    ck_assert_int_eq(co.sampling, NID_SAMPLE_UNIFORM);
    ck_assert(fabsf(co.margin - 0.1f) < 1e-7f);

    /* the VM: verification head, thresholds on the verify similarity */
    nid_model *vm = load("vm.nidm", 2);
    nid_model_info_init(&in);
    ck_assert_int_eq(nid_model_get_info(vm, &in), NID_OK);
    ck_assert_int_eq(in.has_verify, 1);
    ck_assert_int_eq(in.normalized, 0);
    ck_assert_int_eq(in.compare, NID_COMPARE_VERIFY);
    nid_model_free(vm);
    nid_model_free(m);
}
END_TEST

START_TEST(embed_clips_of_video)
{
    nid_model *m = load("cm.nidm", 2);
    nid_video *v;
    uint8_t *px;
    nid_exam *ex;
    ck_assert_int_eq(fix_video(&v, &px), NID_OK);
    ck_assert_int_eq(fix_exam(&ex), NID_OK);
    nid_clip_options co;
    nid_model_clip_options(m, &co);
    size_t nc, nf;
    ck_assert_int_eq(nid_clip_count(ex, 0, &co, &nc, &nf), NID_OK);
    ck_assert_uint_eq(nc, 1);
    ck_assert_uint_eq(nf, 3 * 4 * 32 * 16);
    float *clips = malloc(3 * nf * sizeof *clips);
    for (size_t t = 0; t < 3; t++)
        ck_assert_int_eq(nid_clip_build(v, ex, t, &co, clips + t * nf, nf, NULL,
                                        NULL), NID_OK);
    /* the three clips in one call (one batch) ... */
    float e[3 * D], et[3 * D];
    size_t needed = 0;
    ck_assert_int_eq(nid_model_embed(m, clips, 3, 3 * nf, e, 3 * D, &needed),
                     NID_OK);
    /* ... and one tracklet at a time: the optimised module gives the same
     * numbers whatever the batch */
    fixture_embeddings(m, et, D);
    for (size_t i = 0; i < 3 * D; i++)
        ck_assert_msg(e[i] == et[i], "element %zu: %g vs %g", i, (double)e[i],
                      (double)et[i]);
    for (size_t t = 0; t < 3; t++)
        ck_assert_msg(fabs(norm(e + t * D, D) - 1.0) < 1e-5, "norm %g",
                      norm(e + t * D, D));
    /* different clips, different embeddings */
    ck_assert(cosd(e, e + D, D) < 0.99999);
    ck_assert(cosd(e + D, e + 2 * D, D) < 0.99999);

    /* bad input: nothing written */
    float out[3 * D];
    for (size_t i = 0; i < 3 * D; i++) out[i] = 42.0f;
    ck_assert_int_eq(nid_model_embed(m, clips, 3, 3 * nf - 1, out, 3 * D, NULL),
                     NID_EMISMATCH);
    HAS("3 x 4 x 32 x 16");
    HAS("expected 3 x 6144 = 18432");
    HAS("got clips_len 18431");
    ck_assert_int_eq(nid_model_embed(m, clips, 2, 3 * nf, out, 3 * D, NULL),
                     NID_EMISMATCH);
    HAS("9216 per clip"); /* 3 clips' floats given as 2 */
    ck_assert_int_eq(nid_model_embed(m, clips, 3, 3 * nf, out, 3 * D - 1,
                                     &needed), NID_EBUFSIZE);
    ck_assert_uint_eq(needed, 3 * D);
    ck_assert_int_eq(nid_model_embed(m, clips, 0, 0, out, 3 * D, NULL), NID_EINVAL);
    HAS("n must be > 0");
    clips[nf + 17] = NAN;
    ck_assert_int_eq(nid_model_embed(m, clips, 3, 3 * nf, out, 3 * D, NULL),
                     NID_EINVAL);
    HAS("clip 1");
    HAS("float 17");
    clips[nf + 17] = 0.0f;
    clips[2 * nf + 5] = -INFINITY;
    ck_assert_int_eq(nid_model_embed(m, clips, 3, 3 * nf, out, 3 * D, NULL),
                     NID_EINVAL);
    HAS("clip 2");
    HAS("float 5 (-inf)");
    /* finite values whose sum overflows float: the cheap check on the
     * model's device raises the alarm, the scan finds nothing, and the
     * result is either finite embeddings or an error naming the clip */
    for (size_t i = 0; i < nf; i++) clips[2 * nf + i] = 3e38f;
    int rc = nid_model_embed(m, clips + 2 * nf, 1, nf, out, D, NULL);
    if (rc == NID_OK) {
        for (size_t i = 0; i < D; i++) ck_assert(isfinite(out[i]));
    } else {
        ck_assert_int_eq(rc, NID_EINVAL);
        HAS("embedding of clip 0 is not finite");
    }
    for (size_t i = 0; i < 3 * D; i++) out[i] = 42.0f;
    for (size_t i = 0; i < 3 * D; i++) ck_assert(out[i] == 42.0f);

    /* embed_tracklet: options that disagree with the model, small buffer */
    nid_clip_options bad = co;
    bad.frames = 8;
    ck_assert_int_eq(nid_model_embed_tracklet(m, v, ex, 0, &bad, out, D, NULL),
                     NID_EMISMATCH);
    HAS("opts->frames is 8");
    HAS("takes 4");
    bad = co;
    bad.channels = 1;
    ck_assert_int_eq(nid_model_embed_tracklet(m, v, ex, 0, &bad, out, D, NULL),
                     NID_EMISMATCH);
    HAS("channels");
    ck_assert_int_eq(nid_model_embed_tracklet(m, v, ex, 0, NULL, out, D - 1, NULL),
                     NID_EBUFSIZE);
    ck_assert_int_eq(nid_model_embed_tracklet(m, v, ex, 7, NULL, out, D, NULL),
                     NID_ERANGE);
    for (size_t i = 0; i < 3 * D; i++) ck_assert(out[i] == 42.0f);

    free(clips);
    nid_exam_free(ex);
    nid_video_free(v);
    free(px);
    nid_model_free(m);
}
END_TEST

START_TEST(windows_are_pooled)
{
    nid_model *m = load("cm.nidm", 2);
    nid_video *v;
    uint8_t *px;
    nid_exam *ex;
    ck_assert_int_eq(fix_video(&v, &px), NID_OK);
    ck_assert_int_eq(fix_exam(&ex), NID_OK);
    nid_clip_options wo;
    nid_model_clip_options(m, &wo);
    wo.sampling = NID_SAMPLE_WINDOWS;
    wo.window_stride = 3;
    size_t nw, nf, used = 0;
    /* tracklet 1: frames 4..23, 20 frames: windows of 4 every 3 */
    ck_assert_int_eq(nid_clip_count(ex, 1, &wo, &nw, &nf), NID_OK);
    ck_assert_uint_ge(nw, 6);
    float *w = malloc(nf * sizeof *w), *we = malloc(nw * D * sizeof *we);
    ck_assert_int_eq(nid_clip_build(v, ex, 1, &wo, w, nf, NULL, NULL), NID_OK);
    ck_assert_int_eq(nid_model_embed(m, w, nw, nf, we, nw * D, NULL), NID_OK);
    float pooled[D], ref[D], mine[D];
    ck_assert_int_eq(nid_model_embed_tracklet(m, v, ex, 1, &wo, pooled, D, &used),
                     NID_OK);
    ck_assert_uint_eq(used, nw);
    /* the reference: mean of the window embeddings, renormalised */
    double acc[D] = {0}, ss = 0;
    for (size_t i = 0; i < nw; i++)
        for (size_t k = 0; k < D; k++) acc[k] += we[i * D + k];
    for (size_t k = 0; k < D; k++) ss += acc[k] * acc[k];
    for (size_t k = 0; k < D; k++) ref[k] = (float)(acc[k] / sqrt(ss));
    ck_assert_int_eq(nid_model_pool(m, we, nw, D, mine, D), NID_OK);
    for (size_t k = 0; k < D; k++) {
        ck_assert_msg(fabsf(pooled[k] - ref[k]) < 1e-6f, "k %zu: %g vs %g", k,
                      (double)pooled[k], (double)ref[k]);
        ck_assert(pooled[k] == mine[k]);
    }
    ck_assert(fabs(norm(pooled, D) - 1.0) < 1e-6);
    /* pooling is not the embedding of any single window */
    ck_assert(cosd(pooled, we, D) < 0.99999);
    /* a tiny clip_memory: the windows are built and embedded two at a time
     * (chunks of max_batch clips, frames at chunk borders decoded twice) */
    nid_model_options co;
    nid_model_options_init(&co);
    ck_assert_uint_eq(co.clip_memory, 0);
    co.n_threads = 2;
    co.max_batch = 2;
    co.clip_memory = 1;
    nid_model *mc = NULL;
    ck_assert_int_eq(nid_model_load(&mc, model_path("cm.nidm"), &co), NID_OK);
    float chunked[D];
    size_t used2 = 0;
    ck_assert_int_eq(nid_model_embed_tracklet(mc, v, ex, 1, &wo, chunked, D,
                                              &used2), NID_OK);
    ck_assert_uint_eq(used2, nw);
    for (size_t k = 0; k < D; k++)
        ck_assert_msg(fabsf(chunked[k] - pooled[k]) < 1e-5f, "chunked k %zu: "
                      "%g vs %g", k, (double)chunked[k], (double)pooled[k]);
    nid_model_free(mc);
    free(w);
    free(we);
    nid_exam_free(ex);
    nid_video_free(v);
    free(px);
    nid_model_free(m);
}
END_TEST

START_TEST(pool_rules)
{
    nid_model *cm = load("cm.nidm", 1), *vm = load("vm.nidm", 1);
    float e[2 * D] = {0}, out[D];
    e[0] = 1.0f;     /* e0 = x axis */
    e[D + 1] = 1.0f; /* e1 = y axis */
    ck_assert_int_eq(nid_model_pool(cm, e, 2, D, out, D), NID_OK);
    ck_assert(fabsf(out[0] - (float)M_SQRT1_2) < 1e-7f);
    ck_assert(fabsf(out[1] - (float)M_SQRT1_2) < 1e-7f);
    ck_assert(out[2] == 0.0f);
    /* the VM's embeddings are not normalised: a plain mean */
    ck_assert_int_eq(nid_model_pool(vm, e, 2, D, out, D), NID_OK);
    ck_assert(out[0] == 0.5f && out[1] == 0.5f);
    /* opposite vectors have no normalised mean */
    e[D + 1] = 0.0f;
    e[D] = -1.0f;
    ck_assert_int_eq(nid_model_pool(cm, e, 2, D, out, D), NID_EINVAL);
    HAS("norm 0");
    ck_assert_int_eq(nid_model_pool(cm, e, 2, D - 1, out, D), NID_EMISMATCH);
    HAS("embedding dim 128");
    ck_assert_int_eq(nid_model_pool(cm, e, 2, D, out, D - 1), NID_EBUFSIZE);
    ck_assert_int_eq(nid_model_pool(cm, e, 0, D, out, D), NID_EINVAL);
    e[3] = INFINITY;
    ck_assert_int_eq(nid_model_pool(cm, e, 2, D, out, D), NID_EINVAL);
    HAS("non-finite");
    nid_model_free(cm);
    nid_model_free(vm);
}
END_TEST

START_TEST(compare_cosine)
{
    nid_model *m = load("cm.nidm", 2);
    float e[3 * D];
    fixture_embeddings(m, e, D);
    float sim[9], dist[9], pair[3], ref[9];
    size_t needed = 0;
    ck_assert_int_eq(nid_model_compare_matrix(m, e, 3, D, NID_COMPARE_COSINE, sim,
                                              9, &needed), NID_OK);
    ck_assert_int_eq(nid_model_distance_matrix(m, e, 3, D, NID_COMPARE_COSINE,
                                               dist, 9, NULL), NID_OK);
    ck_assert_int_eq(nid_distance_matrix(e, 3, D, NID_METRIC_COSINE, 1, ref, 9,
                                         NULL), NID_OK);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double c = i == j ? 1.0 : cosd(e + i * D, e + j * D, D);
            ck_assert_msg(fabs(sim[i * 3 + j] - c) < 1e-6, "%d %d: %g vs %g", i,
                          j, (double)sim[i * 3 + j], c);
            ck_assert(sim[i * 3 + j] == sim[j * 3 + i]);
            ck_assert(dist[i * 3 + j] == ref[i * 3 + j]); /* = the clustering's */
            ck_assert(fabsf(dist[i * 3 + j] - (1.0f - sim[i * 3 + j])) < 1e-6f);
        }
    ck_assert(dist[0] == 0.0f && sim[4] == 1.0f);
    /* pairs: (0,1), (1,2), (2,0) */
    float b[3 * D];
    memcpy(b, e + D, 2 * D * sizeof *b);
    memcpy(b + 2 * D, e, D * sizeof *b);
    ck_assert_int_eq(nid_model_compare(m, e, b, 3, D, NID_COMPARE_COSINE, pair, 3),
                     NID_OK);
    ck_assert(fabsf(pair[0] - sim[1]) < 1e-6f);
    ck_assert(fabsf(pair[1] - sim[5]) < 1e-6f);
    ck_assert(fabsf(pair[2] - sim[6]) < 1e-6f);

    /* clustering from the distance matrix = clustering the embeddings */
    nid_model_info in;
    nid_model_info_init(&in);
    nid_model_get_info(m, &in);
    nid_cluster_options co;
    nid_cluster_options_init(&co);
    co.method = NID_CLUSTER_SINGLE;
    int32_t l1[3], l2[3];
    for (float tau = 0.0f; tau < 2.0f; tau += 0.05f) {
        co.threshold = tau;
        ck_assert_int_eq(nid_cluster_dist(dist, 3, &co, l1, 3, NULL), NID_OK);
        ck_assert_int_eq(nid_cluster(e, 3, D, &co, l2, 3, NULL), NID_OK);
        ck_assert(memcmp(l1, l2, sizeof l1) == 0);
    }

    /* errors */
    float out[9];
    ck_assert_int_eq(nid_model_compare_matrix(m, e, 3, D, NID_COMPARE_COSINE, out,
                                              8, &needed), NID_EBUFSIZE);
    ck_assert_uint_eq(needed, 9);
    ck_assert_int_eq(nid_model_compare_matrix(m, e, 3, D - 1, NID_COMPARE_COSINE,
                                              out, 9, NULL), NID_EMISMATCH);
    HAS("d = 127");
    ck_assert_int_eq(nid_model_compare_matrix(m, e, 3, D, 5, out, 9, NULL),
                     NID_EINVAL);
    HAS("mode 5");
    ck_assert_int_eq(nid_model_compare_matrix(m, e, 3, D, NID_COMPARE_VERIFY, out,
                                              9, NULL), NID_ENOTSUP);
    HAS("no verification head");
    HAS("cm.nidm");
    ck_assert_int_eq(nid_model_verify(m, e, b, 3, D, out, 3), NID_ENOTSUP);
    HAS("no verification head");
    HAS("cm.nidm");
    ck_assert_int_eq(nid_model_compare(m, e, b, 3, D, NID_COMPARE_VERIFY, out, 3),
                     NID_ENOTSUP);
    ck_assert_int_eq(nid_model_compare(m, e, b, 3, D, NID_COMPARE_COSINE, out, 2),
                     NID_EBUFSIZE);
    float z[2 * D] = {0};
    z[D] = 1.0f;
    ck_assert_int_eq(nid_model_compare(m, z, z + D, 1, D, NID_COMPARE_COSINE, out,
                                       1), NID_EINVAL);
    HAS("zero-norm");
    ck_assert_int_eq(nid_model_distance_matrix(m, z, 2, D, NID_COMPARE_COSINE, out,
                                               4, NULL), NID_EINVAL);
    e[D + 5] = NAN;
    ck_assert_int_eq(nid_model_compare_matrix(m, e, 3, D, NID_COMPARE_COSINE, out,
                                              9, NULL), NID_EINVAL);
    HAS("row 1");
    nid_model_free(m);
}
END_TEST

START_TEST(compare_verify)
{
    nid_model *m = load("vm.nidm", 2);
    float e[3 * D];
    fixture_embeddings(m, e, D);
    /* p(a, b) and p(b, a) for the pairs (0,1), (1,2), (2,0) */
    float b[3 * D], pab[3], pba[3], s[3], sim[9], dist[9];
    memcpy(b, e + D, 2 * D * sizeof *b);
    memcpy(b + 2 * D, e, D * sizeof *b);
    ck_assert_int_eq(nid_model_verify(m, e, b, 3, D, pab, 3), NID_OK);
    ck_assert_int_eq(nid_model_verify(m, b, e, 3, D, pba, 3), NID_OK);
    for (int i = 0; i < 3; i++) {
        ck_assert(pab[i] > 0.0f && pab[i] < 1.0f);
        ck_assert(pab[i] != pba[i]); /* the head sees concat(a, b): ordered */
    }
    ck_assert_int_eq(nid_model_compare(m, e, b, 3, D, NID_COMPARE_VERIFY, s, 3),
                     NID_OK);
    ck_assert_int_eq(nid_model_compare_matrix(m, e, 3, D, NID_COMPARE_VERIFY, sim,
                                              9, NULL), NID_OK);
    ck_assert_int_eq(nid_model_distance_matrix(m, e, 3, D, NID_COMPARE_VERIFY,
                                               dist, 9, NULL), NID_OK);
    const int pi[3] = {1, 5, 6}; /* (0,1), (1,2), (2,0) in the matrix */
    for (int i = 0; i < 3; i++) {
        ck_assert_msg(fabsf(s[i] - 0.5f * (pab[i] + pba[i])) < 1e-7f, "%g vs %g",
                      (double)s[i], 0.5 * (pab[i] + pba[i]));
        ck_assert(fabsf(sim[pi[i]] - s[i]) < 1e-7f);
        ck_assert(dist[pi[i]] == 1.0f - sim[pi[i]]);
    }
    for (int i = 0; i < 3; i++) {
        ck_assert(sim[i * 4] == 1.0f && dist[i * 4] == 0.0f);
        for (int j = 0; j < 3; j++)
            ck_assert(sim[i * 3 + j] == sim[j * 3 + i]);
    }
    /* the distance matrix feeds the clustering */
    nid_cluster_options co;
    nid_cluster_options_init(&co);
    co.threshold = 0.5f;
    int32_t lab[3];
    size_t k = 0;
    ck_assert_int_eq(nid_cluster_dist(dist, 3, &co, lab, 3, &k), NID_OK);
    ck_assert_uint_ge(k, 1);
    /* cosine works on a VM too */
    ck_assert_int_eq(nid_model_compare(m, e, b, 3, D, NID_COMPARE_COSINE, s, 3),
                     NID_OK);
    ck_assert(fabs(s[0] - cosd(e, e + D, D)) < 1e-6);
    /* errors */
    ck_assert_int_eq(nid_model_verify(m, e, b, 3, D, pab, 2), NID_EBUFSIZE);
    ck_assert_int_eq(nid_model_verify(m, e, b, 3, 64, pab, 3), NID_EMISMATCH);
    HAS("embedding dim 128");
    ck_assert_int_eq(nid_model_verify(m, e, NULL, 3, D, pab, 3), NID_EINVAL);
    b[2] = NAN;
    ck_assert_int_eq(nid_model_verify(m, e, b, 3, D, pab, 3), NID_EINVAL);
    HAS("row 0 of b");

    /* the same weights stored unfrozen: frozen at load, verify kept */
    nid_model *u = load("vm_unfrozen.nidm", 2);
    float eu[3 * D], pu[3];
    fixture_embeddings(u, eu, D);
    for (size_t i = 0; i < 3 * D; i++)
        ck_assert(fabsf(eu[i] - e[i]) <= 1e-5f * fmaxf(1.0f, fabsf(e[i])));
    memcpy(b, e + D, D * sizeof *b);
    ck_assert_int_eq(nid_model_verify(u, e, b, 1, D, pu, 1), NID_OK);
    ck_assert(fabsf(pu[0] - pab[0]) < 1e-6f);
    nid_model_free(u);
    nid_model_free(m);
}
END_TEST

START_TEST(gray_model)
{
    nid_model *m = load("cm_gray.nidm", 1);
    nid_model_info in;
    nid_model_info_init(&in);
    ck_assert_int_eq(nid_model_get_info(m, &in), NID_OK);
    ck_assert_int_eq(in.channels, 1);
    ck_assert_int_eq(in.embed_dim, 32);
    ck_assert(in.mean[1] == in.mean[0] && in.std[2] == in.std[0]);
    float e[3 * 32];
    fixture_embeddings(m, e, 32);
    for (int t = 0; t < 3; t++)
        ck_assert(fabs(norm(e + t * 32, 32) - 1.0) < 1e-5);
    nid_model_free(m);
}
END_TEST

/* Context channels (crop.context_margin, nid_clip_options.context_margin):
 * cm_ctx.nidm (exported with --context-margin 0.5) reports the margin,
 * gives clip options that build 3 + 3 channels, and embeds them: the
 * tracklet calls (clips of several tracklets built in one pass over the
 * video) equal nid_model_embed() of nid_clip_build()'s clips, on the
 * synthetic video and on an FFmpeg-decoded one (whose frames are
 * converted only inside the crops asked for); the network reads the
 * context channels; options without them are refused naming the field. */
START_TEST(context_model)
{
    nid_model *m = load("cm_ctx.nidm", 2);
    nid_model_info in;
    nid_model_info_init(&in);
    ck_assert_int_eq(nid_model_get_info(m, &in), NID_OK);
    ck_assert(in.context_margin == 0.5f);
    ck_assert_int_eq(in.channels, 3);
    ck_assert_ptr_nonnull(strstr(in.meta_json, "\"context_margin\": 0.5"));
    /* an older caller's struct (up to precision): the field is not written */
    nid_model_info_init(&in);
    in.struct_size = offsetof(nid_model_info, context_margin);
    in.context_margin = -3.0f;
    ck_assert_int_eq(nid_model_get_info(m, &in), NID_OK);
    ck_assert(in.context_margin == -3.0f);
    nid_clip_options co;
    nid_clip_options_init(&co);
    ck_assert_int_eq(nid_model_clip_options(m, &co), NID_OK);
    ck_assert(co.context_margin == 0.5f);
    ck_assert_int_eq(co.coords, NID_COORDS_NONE);
    /* a model without context: 0 */
    nid_model *plain = load("cm.nidm", 1);
    nid_model_info_init(&in);
    ck_assert_int_eq(nid_model_get_info(plain, &in), NID_OK);
    ck_assert(in.context_margin == 0.0f);

    nid_video *v;
    uint8_t *px;
    nid_exam *ex;
    ck_assert_int_eq(fix_video(&v, &px), NID_OK);
    ck_assert_int_eq(fix_exam(&ex), NID_OK);
    size_t nc, nf;
    ck_assert_int_eq(nid_clip_count(ex, 0, &co, &nc, &nf), NID_OK);
    ck_assert_uint_eq(nf, 6 * 4 * 32 * 16);
    float *clips = malloc(3 * nf * sizeof *clips);
    for (size_t t = 0; t < 3; t++)
        ck_assert_int_eq(nid_clip_build(v, ex, t, &co, clips + t * nf, nf, NULL,
                                        NULL), NID_OK);
    float e[3 * D], et[3 * D], ez[D];
    ck_assert_msg(nid_model_embed(m, clips, 3, 3 * nf, e, 3 * D, NULL) == NID_OK,
                  "%s", nid_last_error());
    fixture_embeddings(m, et, D);
    for (size_t i = 0; i < 3 * D; i++)
        ck_assert_msg(e[i] == et[i], "element %zu: %g vs %g", i, (double)e[i],
                      (double)et[i]);
    ck_assert(fabs(norm(e, D) - 1.0) < 1e-5);
    /* the network reads the context channels: zeroing them changes the
     * embedding */
    memset(clips + nf / 2, 0, nf / 2 * sizeof *clips);
    ck_assert_int_eq(nid_model_embed(m, clips, 1, nf, ez, D, NULL), NID_OK);
    ck_assert(cosd(e, ez, D) < 0.99999);
    /* the clips of a model without context do not fit */
    ck_assert_int_eq(nid_model_embed(m, clips, 2, nf, ez, D, NULL),
                     NID_EMISMATCH);
    HAS("6 x 4 x 32 x 16");

    /* options whose context channels disagree with the model */
    float out[D];
    for (size_t i = 0; i < D; i++) out[i] = 42.0f;
    nid_clip_options bad = co;
    bad.context_margin = 0.0f;
    ck_assert_int_eq(nid_model_embed_tracklet(m, v, ex, 0, &bad, out, D, NULL),
                     NID_EMISMATCH);
    HAS("opts->context_margin is 0");
    HAS("takes context channels (context_margin 0.5");
    HAS("6 x 4 x 32 x 16");
    bad.struct_size = offsetof(nid_clip_options, context_margin);
    bad.context_margin = 0.5f; /* past an old caller's struct: not read */
    ck_assert_int_eq(nid_model_embed_tracklet(m, v, ex, 0, &bad, out, D, NULL),
                     NID_EMISMATCH);
    HAS("context_margin");
    nid_clip_options pco;
    nid_model_clip_options(plain, &pco);
    pco.context_margin = 0.5f;
    ck_assert_int_eq(nid_model_embed_tracklet(plain, v, ex, 0, &pco, out, D,
                                              NULL), NID_EMISMATCH);
    HAS("opts->context_margin is 0.5");
    HAS("takes no context channels");
    bad = co;
    bad.context_margin = NAN;
    ck_assert_int_eq(nid_model_embed_tracklet(m, v, ex, 0, &bad, out, D, NULL),
                     NID_EMISMATCH);
    for (size_t i = 0; i < D; i++) ck_assert(out[i] == 42.0f);
    /* another context margin is the caller's choice, like margin */
    bad = co;
    bad.context_margin = 1.5f;
    ck_assert_int_eq(nid_model_embed_tracklet(m, v, ex, 0, &bad, out, D, NULL),
                     NID_OK);
    ck_assert(cosd(out, e, D) < 0.99999);
    free(clips);
    nid_exam_free(ex);
    nid_video_free(v);
    free(px);

    /* an FFmpeg-decoded video, windows (several clips per tracklet), two
     * tracklets sharing frames: nid_model_embed_exam (both tracklets' clips
     * built in one pass over the video) and nid_model_embed_tracklet
     * against nid_clip_build on a handle of its own */
    if (nid_features() & NID_FEATURE_VIDEO) {
        const char *dir = getenv("NID_TEST_VIDEOS");
        ck_assert_ptr_nonnull(dir);
        char path[1024];
        snprintf(path, sizeof path, "%s/h264.mp4", dir);
        nid_video_options vo;
        nid_video_options_init(&vo);
        vo.format = NID_PIX_GRAY8; /* as nid_model_embed_exam opens it */
        nid_video *fv = NULL, *rv = NULL;
        ck_assert_msg(nid_video_open(&fv, path, &vo) == NID_OK, "%s",
                      nid_last_error());
        ck_assert_int_eq(nid_video_open(&rv, path, &vo), NID_OK);
        ck_assert_int_eq(nid_exam_create(&ex, "e", NULL, NULL), NID_OK);
        nid_exam_video_info vi;
        nid_exam_video_info_init(&vi);
        vi.id = "v";
        vi.path = path;
        ck_assert_int_eq(nid_exam_add_video(ex, &vi, NULL), NID_OK);
        int64_t fr[2] = {3, 20}, fr2[2] = {10, 30};
        nid_box bx[2] = {{4, 6, 30, 24}, {60, 40, 36, 30}};
        nid_box bx2[2] = {{110, 80, 40, 30}, {120, 84, 36, 30}};
        ck_assert_int_eq(nid_exam_add_tracklet(ex, 0, "t", 1, fr, bx, 2, NULL),
                         NID_OK);
        ck_assert_int_eq(nid_exam_add_tracklet(ex, 0, "u", 2, fr2, bx2, 2, NULL),
                         NID_OK);
        co.sampling = NID_SAMPLE_WINDOWS;
        co.window_stride = 2;
        nid_group_options go;
        nid_group_options_init(&go);
        go.clip = &co;
        float all[2 * D], one[D];
        int32_t ncl[2] = {0, 0};
        ck_assert_msg(nid_model_embed_exam(m, ex, &go, all, 2 * D, NULL, ncl,
                                           NULL) == NID_OK,
                      "%s", nid_last_error());
        for (size_t t = 0; t < 2; t++) {
            size_t n = 0, nfl = 0, n1 = 0;
            ck_assert_int_eq(nid_clip_count(ex, t, &co, &n, &nfl), NID_OK);
            ck_assert_uint_ge(n, 6);
            ck_assert_int_eq(ncl[t], (int32_t)n);
            float *c = malloc(nfl * sizeof *c), *ew = malloc(n * D * sizeof *ew);
            ck_assert_int_eq(nid_clip_build(rv, ex, t, &co, c, nfl, NULL, NULL),
                             NID_OK);
            ck_assert_int_eq(nid_model_embed(m, c, n, nfl, ew, n * D, NULL),
                             NID_OK);
            float want[D];
            ck_assert_int_eq(nid_model_pool(m, ew, n, D, want, D), NID_OK);
            ck_assert_msg(nid_model_embed_tracklet(m, fv, ex, t, &co, one, D,
                                                   &n1) == NID_OK,
                          "%s", nid_last_error());
            ck_assert_uint_eq(n1, n);
            double worst = 0;
            for (size_t i = 0; i < D; i++)
                worst = fmax(worst, fmax(fabs((double)all[t * D + i] - want[i]),
                                         fabs((double)one[i] - want[i])));
            ck_assert_msg(worst < 1e-6, "tracklet %zu: off by %g", t, worst);
            free(c);
            free(ew);
        }
        nid_exam_free(ex);
        nid_video_free(fv);
        nid_video_free(rv);
    }
    nid_model_free(plain);
    nid_model_free(m);
}
END_TEST

/* An FFmpeg-decoded video (tests/gen_videos.sh: h264.mp4, 160x120, 50
 * frames) through the clip builder into the model. */
START_TEST(ffmpeg_video)
{
    const char *dir = getenv("NID_TEST_VIDEOS");
    ck_assert_ptr_nonnull(dir);
    char path[1024];
    snprintf(path, sizeof path, "%s/h264.mp4", dir);
    nid_video *v = NULL;
    nid_video_options vo;
    nid_video_options_init(&vo);
    ck_assert_msg(nid_video_open(&v, path, &vo) == NID_OK, "%s", nid_last_error());
    nid_exam *ex;
    ck_assert_int_eq(nid_exam_create(&ex, "e", NULL, NULL), NID_OK);
    nid_exam_video_info vi;
    nid_exam_video_info_init(&vi);
    vi.id = "v";
    vi.path = path;
    ck_assert_int_eq(nid_exam_add_video(ex, &vi, NULL), NID_OK);
    int64_t fr[2] = {3, 40};
    nid_box bx[2] = {{20, 20, 40, 30}, {60, 50, 50, 40}};
    ck_assert_int_eq(nid_exam_add_tracklet(ex, 0, "t", 1, fr, bx, 2, NULL), NID_OK);
    nid_model *m = load("cm.nidm", 2);
    float e[D], w[D];
    ck_assert_msg(nid_model_embed_tracklet(m, v, ex, 0, NULL, e, D, NULL) == NID_OK,
                  "%s", nid_last_error());
    ck_assert(fabs(norm(e, D) - 1.0) < 1e-5);
    nid_clip_options wo;
    nid_model_clip_options(m, &wo);
    wo.sampling = NID_SAMPLE_WINDOWS;
    size_t nw = 0, want = 0;
    ck_assert_int_eq(nid_clip_count(ex, 0, &wo, &want, NULL), NID_OK);
    ck_assert_uint_ge(want, 9); /* 38 frames, windows of 4, stride 4 */
    ck_assert_int_eq(nid_model_embed_tracklet(m, v, ex, 0, &wo, w, D, &nw), NID_OK);
    ck_assert_uint_eq(nw, want);
    ck_assert(fabs(norm(w, D) - 1.0) < 1e-5);
    nid_model_free(m);
    nid_exam_free(ex);
    nid_video_free(v);
}
END_TEST

/* ---- one model, many threads -------------------------------------------- */

#define NT 4       /* threads */
#define NB 3       /* batches of clips */
#define BATCH 3    /* clips per batch */
#define ROUNDS 4

typedef struct shared {
    nid_model *cm, *vm;
    const float *clips;  /* NB * BATCH clips */
    size_t clip_floats;
    const float *ref_cm; /* single-thread results */
    const float *ref_vm;
    const float *ref_p;  /* verify matrix of the VM embeddings */
    int tid;
    int mismatches;
    int errors;
} shared;

static void *worker(void *arg)
{
    shared *s = arg;
    float e[BATCH * D], p[NB * BATCH * NB * BATCH];
    for (int r = 0; r < ROUNDS; r++)
        for (int k = 0; k < NB; k++) {
            int b = (k + s->tid + r) % NB; /* each thread its own order */
            const float *x = s->clips + (size_t)b * BATCH * s->clip_floats;
            nid_model *m = (b + r) % 2 ? s->vm : s->cm;
            const float *ref = m == s->vm ? s->ref_vm : s->ref_cm;
            if (nid_model_embed(m, x, BATCH, BATCH * s->clip_floats, e,
                                BATCH * D, NULL) != NID_OK) {
                s->errors++;
                continue;
            }
            if (memcmp(e, ref + (size_t)b * BATCH * D, sizeof e) != 0)
                s->mismatches++;
        }
    size_t n = NB * BATCH;
    if (nid_model_compare_matrix(s->vm, s->ref_vm, n, D, NID_COMPARE_VERIFY, p,
                                 n * n, NULL) != NID_OK)
        s->errors++;
    else if (memcmp(p, s->ref_p, n * n * sizeof *p) != 0)
        s->mismatches++;
    return NULL;
}

/* Intra-op threads per call: 2, or NID_TEST_MODEL_THREADS (1 for the
 * ThreadSanitizer run: libgomp is not instrumented, so TSan cannot see its
 * hand-offs between a caller and its OpenMP team and would report them). */
static int intra_threads(void)
{
    const char *e = getenv("NID_TEST_MODEL_THREADS");
    return e && atoi(e) > 0 ? atoi(e) : 2;
}

START_TEST(threads_share_one_model)
{
    nid_model *cm = load("cm.nidm", intra_threads());
    nid_model *vm = load("vm.nidm", intra_threads());
    const size_t cf = 3 * 4 * 32 * 16, n = NB * BATCH;
    float *clips = random_clips(n, cf);
    float *rc = malloc(n * D * sizeof *rc), *rv = malloc(n * D * sizeof *rv);
    float *rp = malloc(n * n * sizeof *rp);
    for (int b = 0; b < NB; b++) {
        const float *x = clips + (size_t)b * BATCH * cf;
        ck_assert_int_eq(nid_model_embed(cm, x, BATCH, BATCH * cf,
                                         rc + (size_t)b * BATCH * D, BATCH * D,
                                         NULL), NID_OK);
        ck_assert_int_eq(nid_model_embed(vm, x, BATCH, BATCH * cf,
                                         rv + (size_t)b * BATCH * D, BATCH * D,
                                         NULL), NID_OK);
    }
    ck_assert_int_eq(nid_model_compare_matrix(vm, rv, n, D, NID_COMPARE_VERIFY, rp,
                                              n * n, NULL), NID_OK);
    shared s[NT];
    pthread_t th[NT];
    for (int t = 0; t < NT; t++) {
        s[t] = (shared){cm, vm, clips, cf, rc, rv, rp, t, 0, 0};
        ck_assert_int_eq(pthread_create(&th[t], NULL, worker, &s[t]), 0);
    }
    for (int t = 0; t < NT; t++) {
        ck_assert_int_eq(pthread_join(th[t], NULL), 0);
        ck_assert_int_eq(s[t].errors, 0);
        ck_assert_msg(s[t].mismatches == 0, "thread %d: %d results differ from "
                      "one thread's", t, s[t].mismatches);
    }
    free(clips);
    free(rc);
    free(rv);
    free(rp);
    nid_model_free(cm);
    nid_model_free(vm);
}
END_TEST

/* ---- bad packages ------------------------------------------------------- */

typedef struct bad_case {
    const char *file;
    int status;
    const char *says[3];
} bad_case;

START_TEST(bad_packages)
{
    static const bad_case cases[] = {
        {"missing.nidm.none", NID_EIO, {"missing.nidm.none", "No such file"}},
        {"truncated.nidm", NID_EFORMAT, {"truncated.nidm", "zip archive"}},
        {"notzip.nidm", NID_EFORMAT, {"notzip.nidm", "torch::jit::load"}},
        {"nometa.nidm", NID_EFORMAT, {"no noduleid.json", "not a libnoduleid"}},
        {"badjson.nidm", NID_EFORMAT, {"not valid JSON", "line 1"}},
        {"version.nidm", NID_EFORMAT, {"\"format_version\"", "version 2",
                                       "reads version 1"}},
        {"format.nidm", NID_EFORMAT, {"\"format\"", "something-else"}},
        {"type.nidm", NID_EFORMAT, {"\"input.frames\"", "expected an integer",
                                    "got a string"}},
        {"range.nidm", NID_EFORMAT, {"\"embedding.dim\"", "got 0"}},
        {"missing.nidm", NID_EFORMAT, {"\"crop.margin\"", "missing"}},
        {"unknown.nidm", NID_EFORMAT, {"\"colour\"", "unknown field"}},
        {"modelid.nidm", NID_EFORMAT, {"\"model_id\"", "md5:0123"}},
        {"kind.nidm", NID_EFORMAT, {"verification", "no verify method"}},
        {"compare.nidm", NID_EFORMAT, {"\"thresholds.compare\"", "verify"}},
        {"input.nidm", NID_EMISMATCH, {"1 x 3 x 8 x 32 x 16",
                                       "expects clips N x 3 x 4 x 32 x 16",
                                       "got [1, 3, 8, 32, 16]"}},
        {"dim.nidm", NID_EMISMATCH, {"1 x 4 tensor", "1 x 64",
                                     "embedding.dim"}},
        {"norm.nidm", NID_EMISMATCH, {"embedding.normalized is true",
                                      "of norm"}},
        /* metadata with context channels, a network without */
        {"context.nidm", NID_EMISMATCH, {"1 x 6 x 4 x 32 x 16 (input.channels, "
                                         "crop.context_margin/",
                                         "expects clips N x 3 x 4 x 32 x 16",
                                         "got [1, 6, 4, 32, 16]"}},
        {"context_range.nidm", NID_EFORMAT, {"\"crop.context_margin\"",
                                             "[0, 16]", "got 17"}},
        /* what NID_PRECISION_AUTO trusts must be a cosine */
        {"bf16_range.nidm", NID_EFORMAT, {"\"producer.bf16.cosine_min\"",
                                          "[-1, 1]"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const bad_case *c = &cases[i];
        nid_model *m = NULL;
        int rc = nid_model_load(&m, model_path(c->file), NULL);
        ck_assert_msg(rc == c->status, "%s: %s, expected %s (%s)", c->file,
                      nid_status_str(rc), nid_status_str(c->status),
                      nid_last_error());
        ck_assert_ptr_null(m);
        if (c->status != NID_EIO) HAS(c->file); /* every message names the file */
        for (int k = 0; k < 3 && c->says[k]; k++) HAS(c->says[k]);
    }
    /* a directory */
    const char *dir = getenv("NID_TEST_MODELS");
    nid_model *m = NULL;
    ck_assert_int_eq(nid_model_load(&m, dir, NULL), NID_EIO);
    HAS("not a regular file");
    /* the bases of the broken ones load */
    nid_model_free(load("tiny.nidm", 1));
    nid_model_free(load("tiny_vm.nidm", 1));
}
END_TEST

START_TEST(devices)
{
    nid_model_options o;
    nid_model_options_init(&o);
    nid_model *m = NULL;
    strcpy(o.device, "cuda:0");
    int rc = nid_model_load(&m, model_path("cm.nidm"), &o);
    if (!(nid_features() & NID_FEATURE_CUDA)) {
        ck_assert_int_eq(rc, NID_ENOTSUP);
        HAS("NID_WITH_CUDA");
        ck_assert_ptr_null(m);
    } else {
        /* a CUDA build: either it runs there, or there is no GPU */
        ck_assert(rc == NID_OK || rc == NID_ENOTSUP);
        nid_model_free(m);
    }
    strcpy(o.device, "cuda:99999");
    ck_assert_int_eq(nid_model_load(&m, model_path("cm.nidm"), &o), NID_EINVAL);
    strcpy(o.device, "cpu");
    o.optimize = 0;
    o.max_batch = 1;
    m = NULL;
    ck_assert_int_eq(nid_model_load(&m, model_path("cm.nidm"), &o), NID_OK);
    nid_model_info in;
    nid_model_info_init(&in);
    nid_model_get_info(m, &in);
    ck_assert_str_eq(in.device, "cpu");
    ck_assert_int_gt(in.n_threads, 0); /* 0 means all cores */
    nid_model_free(m);
}
END_TEST

/* nid_model_options.precision (issue 19): bad values, an older caller's
 * struct, the fallback to fp32 on a CPU without bf16, and bf16 forced
 * (NID_BF16_FORCE=1, emulated where the CPU lacks it) close to fp32 for
 * forward and verify. The accuracy bound on real clips is the
 * model_precision test. */
static int cpu_has_bf16(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[8192];
    int yes = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "flags", 5) == 0) {
            yes = strstr(line, " avx512_bf16") || strstr(line, " amx_bf16");
            break;
        }
    if (f) fclose(f);
    return yes;
}

static nid_model *load_prec(const char *name, int precision)
{
    nid_model_options o;
    nid_model_options_init(&o);
    o.n_threads = 2;
    o.precision = precision;
    nid_model *m = NULL;
    int rc = nid_model_load(&m, model_path(name), &o);
    ck_assert_msg(rc == NID_OK, "%s: %s", name, nid_last_error());
    return m;
}

START_TEST(precision)
{
    nid_model_options o;
    nid_model_options_init(&o);
    ck_assert_int_eq(o.precision, NID_PRECISION_FP32);
    nid_model *m = NULL;
    o.precision = 7;
    ck_assert_int_eq(nid_model_load(&m, model_path("cm.nidm"), &o), NID_EINVAL);
    HAS("precision");
    ck_assert_ptr_null(m);
    /* a caller built before precision existed: fp32, and its shorter info
     * struct is not written past its end */
    o.struct_size = offsetof(nid_model_options, precision);
    ck_assert_int_eq(nid_model_load(&m, model_path("cm.nidm"), &o), NID_OK);
    nid_model_info in;
    nid_model_info_init(&in);
    in.precision = 42;
    in.struct_size = offsetof(nid_model_info, precision);
    ck_assert_int_eq(nid_model_get_info(m, &in), NID_OK);
    ck_assert_int_eq(in.precision, 42);
    nid_model_free(m);

    unsetenv("NID_BF16_FORCE");
    m = load_prec("cm.nidm", NID_PRECISION_BF16);
    nid_model_info_init(&in);
    ck_assert_int_eq(nid_model_get_info(m, &in), NID_OK);
    ck_assert_int_eq(in.precision, cpu_has_bf16() ? NID_PRECISION_BF16
                                                  : NID_PRECISION_FP32);
    nid_model_free(m);

    setenv("NID_BF16_FORCE", "1", 1);
    const char *names[2] = {"cm.nidm", "vm.nidm"};
    for (int k = 0; k < 2; k++) {
        nid_model *m32 = load_prec(names[k], NID_PRECISION_FP32);
        nid_model *m16 = load_prec(names[k], NID_PRECISION_BF16);
        nid_model_info_init(&in);
        ck_assert_int_eq(nid_model_get_info(m16, &in), NID_OK);
        ck_assert_int_eq(in.precision, NID_PRECISION_BF16);
        float e32[3 * D], e16[3 * D];
        fixture_embeddings(m32, e32, D);
        fixture_embeddings(m16, e16, D);
        int differ = 0;
        for (int i = 0; i < 3; i++) {
            double ab = 0, aa = 0, bb = 0;
            for (int j = 0; j < D; j++) {
                ab += (double)e32[i * D + j] * e16[i * D + j];
                aa += (double)e32[i * D + j] * e32[i * D + j];
                bb += (double)e16[i * D + j] * e16[i * D + j];
                differ |= e32[i * D + j] != e16[i * D + j];
            }
            double c = ab / sqrt(aa * bb);
            /* random weights amplify rounding (about 0.93 here); the
             * bound on trained weights and real clips: model_precision */
            ck_assert_msg(c > 0.8, "%s: clip %d: cosine %g", names[k], i, c);
        }
        ck_assert_msg(differ, "%s: bf16 equals fp32 bit for bit", names[k]);
        if (k == 1) {
            float p32[3], p16[3];
            ck_assert_int_eq(nid_model_verify(m32, e32, e32 + D, 2, D, p32, 3),
                             NID_OK);
            ck_assert_int_eq(nid_model_verify(m16, e32, e32 + D, 2, D, p16, 3),
                             NID_OK);
            for (int i = 0; i < 2; i++)
                ck_assert_msg(fabsf(p32[i] - p16[i]) < 0.02f, "%g vs %g",
                              (double)p32[i], (double)p16[i]);
        }
        nid_model_free(m32);
        nid_model_free(m16);
    }
    unsetenv("NID_BF16_FORCE");
}
END_TEST

/* Package `name` loaded with precision `prec` runs in fp32 (info says so) and
 * gives the embeddings, and for a VM the verify scores, of package `ref`
 * loaded in fp32, bit for bit: a precision's fallback. */
static void assert_runs_fp32(const char *name, const char *ref, int prec)
{
    nid_model *m32 = load_prec(ref, NID_PRECISION_FP32);
    nid_model *mp = load_prec(name, prec);
    nid_model_info in;
    nid_model_info_init(&in);
    ck_assert_int_eq(nid_model_get_info(mp, &in), NID_OK);
    ck_assert_int_eq(in.precision, NID_PRECISION_FP32);
    float e32[3 * D], ep[3 * D];
    fixture_embeddings(m32, e32, D);
    fixture_embeddings(mp, ep, D);
    ck_assert_msg(memcmp(e32, ep, sizeof e32) == 0,
                  "%s: the fallback of precision %d differs from fp32", name,
                  prec);
    if (in.has_verify) {
        float p32[2], pp[2];
        ck_assert_int_eq(nid_model_verify(m32, e32, e32 + D, 2, D, p32, 2),
                         NID_OK);
        ck_assert_int_eq(nid_model_verify(mp, e32, e32 + D, 2, D, pp, 2),
                         NID_OK);
        ck_assert(memcmp(p32, pp, sizeof p32) == 0);
    }
    nid_model_free(m32);
    nid_model_free(mp);
}

/* NID_PRECISION_INT8 on packages without an int8 graph (the fixtures):
 * the model loads, runs in fp32 (info says so) and gives fp32's
 * embeddings bit for bit. The int8 graph itself (made by python3 -m
 * training quantize) and its accuracy bound: the model_precision test. */
START_TEST(precision_int8_fallback)
{
    assert_runs_fp32("cm.nidm", "cm.nidm", NID_PRECISION_INT8);
    assert_runs_fp32("vm.nidm", "vm.nidm", NID_PRECISION_INT8);
    nid_model_options o;
    nid_model_options_init(&o);
    o.precision = NID_PRECISION_AUTO + 1;
    nid_model *m = NULL;
    ck_assert_int_eq(nid_model_load(&m, model_path("cm.nidm"), &o), NID_EINVAL);
    HAS("NID_PRECISION_AUTO (3)");
}
END_TEST

static void count_warnings(int level, const char *msg, void *payload)
{
    (void)msg;
    if (level == NID_LOG_WARN) ++*(int *)payload;
}

/* NID_PRECISION_AUTO on packages without a bf16 graph (the fixtures): fp32,
 * fp32's embeddings and verify scores bit for bit, on any CPU, even with
 * NID_BF16_FORCE=1 (auto only takes a graph whose recorded check holds).
 * With the default model's bf16 graph: the model_precision test. */
START_TEST(precision_auto_fallback)
{
    for (int f = 0; f < 2; f++) {
        if (f) setenv("NID_BF16_FORCE", "1", 1);
        assert_runs_fp32("cm.nidm", "cm.nidm", NID_PRECISION_AUTO);
        assert_runs_fp32("vm.nidm", "vm.nidm", NID_PRECISION_AUTO);
    }
    unsetenv("NID_BF16_FORCE");

    /* A bf16 graph that does not load (its recorded check holds): auto and
     * bf16 still load; auto runs fp32 (fp32's numbers), warning where the
     * CPU would have taken the graph; bf16 (forced) falls back to autocast. */
    int warnings = 0;
    nid_set_log_callback(count_warnings, NID_LOG_WARN, &warnings);
    assert_runs_fp32("cm_bf16_broken.nidm", "cm.nidm", NID_PRECISION_AUTO);
    ck_assert_int_eq(warnings, cpu_has_bf16() ? 1 : 0);
    setenv("NID_BF16_FORCE", "1", 1);
    nid_model *mb = load_prec("cm_bf16_broken.nidm", NID_PRECISION_BF16);
    nid_model_info in;
    nid_model_info_init(&in);
    ck_assert_int_eq(nid_model_get_info(mb, &in), NID_OK);
    ck_assert_int_eq(in.precision, NID_PRECISION_BF16); /* autocast */
    unsetenv("NID_BF16_FORCE");
    nid_set_log_callback(NULL, NID_LOG_ERROR, NULL);
    nid_model_free(mb);
}
END_TEST

/* nid_model_options.background: the metadata at load, the network on a
 * thread of its own. Its embeddings equal a foreground load's bit for bit;
 * info says what was asked for until the load is done; a network that
 * disagrees with its (valid) metadata fails in nid_model_wait() and in the
 * calls that run it, with the foreground load's status and message; a
 * model freed while it still loads frees cleanly (ASan); packages whose
 * metadata is bad fail at load as in the foreground. */
static nid_model *load_bg(const char *name, int *rc)
{
    nid_model_options o;
    nid_model_options_init(&o);
    o.n_threads = 2;
    o.background = 1;
    nid_model *m = NULL;
    *rc = nid_model_load(&m, model_path(name), &o);
    return m;
}

START_TEST(background_load)
{
    int rc;
    nid_model_options o;
    nid_model_options_init(&o);
    ck_assert_int_eq(o.background, 0);
    nid_model *m = load_bg("cm.nidm", &rc);
    ck_assert_msg(rc == NID_OK, "%s", nid_last_error());
    nid_model_info in;
    nid_model_info_init(&in);
    ck_assert_int_eq(nid_model_get_info(m, &in), NID_OK);
    ck_assert_int_eq(in.embed_dim, D); /* the metadata, at once */
    ck_assert_str_eq(in.device, "cpu");
    nid_clip_options co;
    nid_clip_options_init(&co);
    ck_assert_int_eq(nid_model_clip_options(m, &co), NID_OK);
    ck_assert_int_eq(co.frames, in.frames);
    float e_bg[3 * D], e_fg[3 * D];
    fixture_embeddings(m, e_bg, D); /* waits for the network */
    ck_assert_int_eq(nid_model_wait(m), NID_OK);
    ck_assert_str_eq(nid_last_error(), "");
    nid_model *f = load("cm.nidm", 2);
    fixture_embeddings(f, e_fg, D);
    ck_assert_msg(memcmp(e_bg, e_fg, sizeof e_bg) == 0,
                  "a background load embeds differently");
    nid_model_free(f);
    nid_model_free(m);
    ck_assert_int_eq(nid_model_wait(NULL), NID_EINVAL);

    /* freed while loading: nothing waits on it, nothing leaks */
    m = load_bg("vm.nidm", &rc);
    ck_assert_int_eq(rc, NID_OK);
    nid_model_free(m);

    /* the network rejects the metadata's input shape: load succeeds (the
     * metadata is fine), the first call that runs it fails as a
     * foreground load does */
    const char *says[3] = {"input.nidm", "1 x 3 x 8 x 32 x 16",
                           "expects clips N x 3 x 4 x 32 x 16"};
    nid_model *bad = NULL;
    ck_assert_int_eq(nid_model_load(&bad, model_path("input.nidm"), NULL),
                     NID_EMISMATCH);
    char fg_msg[2048];
    snprintf(fg_msg, sizeof fg_msg, "%s", nid_last_error());
    m = load_bg("input.nidm", &rc);
    ck_assert_msg(rc == NID_OK, "%s", nid_last_error());
    ck_assert_int_eq(nid_model_wait(m), NID_EMISMATCH);
    ck_assert_str_eq(nid_last_error(), fg_msg);
    for (int k = 0; k < 3; k++) HAS(says[k]);
    nid_model_info_init(&in);
    ck_assert_int_eq(nid_model_get_info(m, &in), NID_OK);
    float x[3 * 4 * 32 * 16] = {0}, y[64];
    nid_clear_error();
    ck_assert_int_eq(nid_model_embed(m, x, 1, (size_t)in.channels * in.frames *
                                     in.height * in.width, y, 64, NULL),
                     NID_EMISMATCH);
    ck_assert_str_eq(nid_last_error(), fg_msg);
    nid_model_free(m);

    /* bad metadata: refused at load, in the background as in front */
    m = (nid_model *)&m;
    ck_assert_int_eq(nid_model_load(&m, model_path("range.nidm"), NULL),
                     NID_EFORMAT);
    snprintf(fg_msg, sizeof fg_msg, "%s", nid_last_error());
    nid_model *m2 = load_bg("range.nidm", &rc);
    ck_assert_int_eq(rc, NID_EFORMAT);
    ck_assert_ptr_null(m2);
    ck_assert_str_eq(nid_last_error(), fg_msg);
    /* not a zip file: left to libtorch, at load */
    m2 = load_bg("notzip.nidm", &rc);
    ck_assert_int_eq(rc, NID_EFORMAT);
    ck_assert_ptr_null(m2);
    HAS("torch::jit::load");
    o.background = 2;
    ck_assert_int_eq(nid_model_load(&m2, model_path("cm.nidm"), &o),
                     NID_EINVAL);
    HAS("background");
}
END_TEST

/* The first model load fixes glibc's malloc thresholds (torch_shim.cpp,
 * tune_malloc): a 16 MiB block then comes from the heap, not from a fresh
 * mmap() (whose pages every forward pass faulted in again: 3.4x slower
 * passes for the default model). Not under the sanitizers, whose
 * allocators replace glibc's. */
START_TEST(malloc_thresholds)
{
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) && \
    !defined(__SANITIZE_THREAD__)
    if (getenv("GLIBC_TUNABLES") || getenv("NODULEID_MALLOC_TUNE")) return;
    nid_model *m = load("cm.nidm", 2);
    struct mallinfo2 a = mallinfo2();
    char *p = malloc((size_t)16 << 20);
    ck_assert_ptr_nonnull(p);
    memset(p, 1, (size_t)16 << 20);
    struct mallinfo2 b = mallinfo2();
    ck_assert_msg(b.hblkhd == a.hblkhd, "a 16 MiB block was mmap()ed "
                  "(%zu -> %zu bytes in mmap()ed blocks)", a.hblkhd, b.hblkhd);
    free(p);
    nid_model_free(m);
#endif
}
END_TEST

Suite *nid__test_suite(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("model");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, defaults_and_names);
    tcase_add_test(tc, load_arguments);
    if (!have_torch()) {
        tcase_add_test(tc, without_torch);
    } else {
        tcase_add_test(tc, info_and_clip_options);
        tcase_add_test(tc, embed_clips_of_video);
        tcase_add_test(tc, windows_are_pooled);
        tcase_add_test(tc, pool_rules);
        tcase_add_test(tc, compare_cosine);
        tcase_add_test(tc, compare_verify);
        tcase_add_test(tc, gray_model);
        tcase_add_test(tc, context_model);
        tcase_add_test(tc, precision_int8_fallback);
        tcase_add_test(tc, precision_auto_fallback);
        if (nid_features() & NID_FEATURE_VIDEO)
            tcase_add_test(tc, ffmpeg_video);
        tcase_add_test(tc, bad_packages);
        tcase_add_test(tc, devices);
        tcase_add_test(tc, precision);
        tcase_add_test(tc, malloc_thresholds);
    }
    suite_add_tcase(s, tc);
    if (have_torch()) {
        /* its own case, so that CK_RUN_CASE=threads runs it alone */
        TCase *th = tcase_create("threads");
        tcase_set_timeout(th, 120);
        tcase_add_test(th, threads_share_one_model);
        suite_add_tcase(s, th);
        /* CK_RUN_CASE=background: the loader thread alone (scripts/tsan) */
        TCase *bg = tcase_create("background");
        tcase_set_timeout(bg, 120);
        tcase_add_test(bg, background_load);
        suite_add_tcase(s, bg);
    }
    return s;
}
