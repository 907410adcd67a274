/*
 * test_pipeline.c - the exam-level calls (lib/pipeline/, issue 14):
 * nid_group_exam() gives the groups `noduleid group` printed before the
 * loop moved into the library (tests/data/sample-exam-groups.tsv, on the
 * sample exam with models/default.nidm); nid_model_embed_exam() equals
 * nid_model_embed_tracklet() per tracklet and, bit for bit, clips built
 * by nid_clip_build() per tracklet (the single decoding pass per video,
 * also with tracklets listed out of frame order); a model loading in the
 * background groups the same; the progress callback counts,
 * the abort and progress callbacks cancel with NID_ECANCELED; a frame
 * source holding the frames in memory gives the same result as the files;
 * the default-model lookup; bad options. Needs libtorch and FFmpeg for the
 * model parts (skipped otherwise); NID_SOURCE_DIR is the source tree.
 */
#include <check.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "noduleid.h"
#include "test_util.h"

static char src_dir[1024];
static nid_model *model;
static nid_exam *exam;
static size_t n_trk;

static int have_pipeline(void)
{
    unsigned f = nid_features();
    return (f & NID_FEATURE_TORCH) && (f & NID_FEATURE_VIDEO);
}

static void setup(void)
{
    const char *s = getenv("NID_SOURCE_DIR");
    snprintf(src_dir, sizeof src_dir, "%s", s ? s : "..");
    if (!have_pipeline()) return;
    char p[1200];
    snprintf(p, sizeof p, "%s/models/default.nidm", src_dir);
    nid_model_options mo;
    nid_model_options_init(&mo);
    mo.n_threads = 2;
    ck_assert_int_eq(nid_model_load(&model, p, &mo), NID_OK);
    snprintf(p, sizeof p, "%s/examples/sample-exam/P0001/P0001-E1.json",
             src_dir);
    ck_assert_int_eq(nid_exam_load(&exam, p), NID_OK);
    nid_exam_info ei;
    nid_exam_info_init(&ei);
    nid_exam_get_info(exam, &ei);
    n_trk = ei.n_tracklets;
}

static void teardown(void)
{
    nid_model_free(model);
    nid_exam_free(exam);
    model = NULL;
    exam = NULL;
}

/* The labels of `variant` in tests/data/sample-exam-groups.tsv. */
static size_t expected(const char *variant, int32_t *labels, size_t cap)
{
    char p[1200], line[1024];
    snprintf(p, sizeof p, "%s/tests/data/sample-exam-groups.tsv", src_dir);
    FILE *f = fopen(p, "r");
    ck_assert_msg(f != NULL, "cannot open %s", p);
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        char *tab1 = strchr(line, '\t');
        char *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
        if (!tab2) continue;
        *tab1 = '\0';
        if (strcmp(line, variant) != 0) continue;
        for (char *q = strtok(tab2 + 1, ",\n"); q && n < cap;
             q = strtok(NULL, ",\n"))
            labels[n++] = (int32_t)atoi(q);
    }
    fclose(f);
    ck_assert_msg(n > 0, "no variant %s in %s", variant, p);
    return n;
}

static nid_grouping *group(const nid_group_options *o)
{
    nid_grouping *g = NULL;
    int st = nid_group_exam(&g, model, exam, o);
    ck_assert_msg(st == NID_OK, "nid_group_exam: %s", nid_last_error());
    return g;
}

static void check_labels(const nid_grouping *g, const char *variant)
{
    int32_t want[256], got[256];
    size_t n = expected(variant, want, 256), need = 0;
    ck_assert_uint_eq(n, n_trk);
    ck_assert_int_eq(nid_grouping_labels(g, got, 256, &need), NID_OK);
    ck_assert_uint_eq(need, n_trk);
    for (size_t t = 0; t < n; t++)
        ck_assert_msg(got[t] == want[t], "%s: tracklet %zu: nodule %d, the "
                      "CLI said %d", variant, t, got[t], want[t]);
}

START_TEST(groups_equal_cli)
{
    if (!have_pipeline()) return;
    nid_group_options o;
    nid_group_options_init(&o);
    o.cannot_link = 0; /* the CLI before issue 14 had no constraints */
    nid_grouping *g = group(&o);
    check_labels(g, "default");
    nid_grouping_info in;
    nid_grouping_info_init(&in);
    ck_assert_int_eq(nid_grouping_get_info(g, &in), NID_OK);
    nid_model_info mi;
    nid_model_info_init(&mi);
    nid_model_get_info(model, &mi);
    ck_assert_uint_eq(in.n_tracklets, n_trk);
    ck_assert_int_eq(in.compare, mi.compare);
    ck_assert(in.threshold == mi.tau);
    ck_assert_int_eq(in.threshold_from, NID_FROM_MODEL);
    ck_assert_int_eq(in.method, NID_CLUSTER_PAPER);
    ck_assert_int_eq(in.has_similarity, 0);
    ck_assert_int_eq(in.has_truth, 1);
    ck_assert_uint_eq(in.n_truth_tracklets, n_trk);
    /* scores: the exam's nodule ids against the labels */
    nid_cluster_scores s, s2;
    nid_cluster_scores_init(&s);
    nid_cluster_scores_init(&s2);
    ck_assert_int_eq(nid_grouping_scores(g, &s), NID_OK);
    int32_t truth[256], lab[256];
    for (size_t t = 0; t < n_trk; t++) {
        nid_tracklet_info ti;
        nid_tracklet_info_init(&ti);
        nid_exam_get_tracklet(exam, t, &ti);
        truth[t] = ti.nodule;
    }
    nid_grouping_labels(g, lab, 256, NULL);
    ck_assert_int_eq(nid_eval_clusters(truth, lab, n_trk, &s2), NID_OK);
    ck_assert(s.pair_f == s2.pair_f && s.bcubed_f == s2.bcubed_f);
    ck_assert_uint_eq(s.n_pred_clusters, in.n_nodules);
    ck_assert_int_eq(in.exact, s.pair_f == 1.0);
    /* nodule embeddings: the normalised means of their tracklets' */
    size_t d = in.embed_dim, k = in.n_nodules;
    float *emb = malloc(n_trk * d * sizeof *emb);
    float *nod = malloc(k * d * sizeof *nod);
    int32_t sizes[64];
    ck_assert_int_eq(nid_grouping_embeddings(g, emb, n_trk * d, NULL), NID_OK);
    ck_assert_int_eq(nid_grouping_nodules(g, nod, k * d, sizes, NULL), NID_OK);
    for (size_t c = 0; c < k; c++) {
        double sum[512] = {0}, norm = 0;
        int cnt = 0;
        for (size_t t = 0; t < n_trk; t++)
            if (lab[t] == (int32_t)c) {
                cnt++;
                for (size_t j = 0; j < d; j++) sum[j] += emb[t * d + j];
            }
        for (size_t j = 0; j < d; j++) norm += sum[j] * sum[j];
        ck_assert_int_eq(sizes[c], cnt);
        for (size_t j = 0; j < d; j++)
            ck_assert(fabs(nod[c * d + j] - sum[j] / sqrt(norm)) < 1e-6);
    }
    /* timings: every stage measured */
    nid_timings tm;
    nid_timings_init(&tm);
    ck_assert_int_eq(nid_grouping_get_timings(g, &tm), NID_OK);
    ck_assert(tm.embed_s > 0 && tm.video_s > 0 && tm.compare_s >= 0);
    ck_assert(tm.total_s >= tm.embed_s + tm.video_s);
    /* no similarity unless asked */
    ASSERT_ERR(nid_grouping_similarity(g, emb, n_trk * d, NULL), NID_ENOTSUP,
               "keep_similarity");
    ASSERT_ERR(nid_grouping_online_steps(g, NULL, NULL, NULL, 100, NULL),
               NID_ENOTSUP, "online");
    size_t need = 0;
    ASSERT_ERR(nid_grouping_labels(g, lab, 2, &need), NID_EBUFSIZE, "needed");
    ck_assert_uint_eq(need, n_trk);
    free(emb);
    free(nod);
    nid_grouping_free(g);
}
END_TEST

START_TEST(variants_equal_cli)
{
    if (!have_pipeline()) return;
    nid_group_options o;
    nid_group_options_init(&o);
    o.cannot_link = 0;
    o.online = 1;
    o.keep_similarity = 1;
    nid_grouping *g = group(&o);
    check_labels(g, "online");
    int64_t order[256], count[256];
    int32_t stable[256];
    ck_assert_int_eq(nid_grouping_online_steps(g, order, stable, count, 256,
                                               NULL), NID_OK);
    int seen[256] = {0};
    for (size_t s = 0; s < n_trk; s++) {
        ck_assert(order[s] >= 0 && (size_t)order[s] < n_trk);
        ck_assert(!seen[order[s]]);
        seen[order[s]] = 1;
        ck_assert(count[s] >= 1 && count[s] <= (int64_t)s + 1);
    }
    float *sim = malloc(n_trk * n_trk * sizeof *sim);
    ck_assert_int_eq(nid_grouping_similarity(g, sim, n_trk * n_trk, NULL),
                     NID_OK);
    for (size_t i = 0; i < n_trk; i++) {
        ck_assert(sim[i * n_trk + i] == 1.0f);
        for (size_t j = 0; j < n_trk; j++)
            ck_assert(sim[i * n_trk + j] == sim[j * n_trk + i]);
    }
    free(sim);
    nid_grouping_free(g);

    nid_group_options_init(&o);
    o.cannot_link = 0;
    o.method = NID_CLUSTER_SINGLE;
    g = group(&o);
    check_labels(g, "single");
    nid_grouping_free(g);

    nid_clip_options co;
    nid_model_clip_options(model, &co);
    co.sampling = NID_SAMPLE_WINDOWS;
    nid_group_options_init(&o);
    o.cannot_link = 0;
    o.clip = &co;
    g = group(&o);
    check_labels(g, "windows");
    int32_t nc[256];
    ck_assert_int_eq(nid_grouping_n_clips(g, nc, 256, NULL), NID_OK);
    int more = 0;
    for (size_t t = 0; t < n_trk; t++) more |= nc[t] > 1;
    ck_assert_msg(more, "windows: every tracklet gave one clip");
    nid_grouping_free(g);
}
END_TEST

/* Make *v tracklet t's video (gray, as the pipeline opens it), reopening
 * only when t lies in another video than *cur. */
static void video_of_tracklet(const nid_exam *e, size_t t, nid_video **v,
                              size_t *cur)
{
    nid_tracklet_info ti;
    nid_tracklet_info_init(&ti);
    nid_exam_get_tracklet(e, t, &ti);
    if (ti.video == *cur) return;
    nid_video_free(*v);
    *v = NULL;
    nid_exam_video_info vi;
    nid_exam_video_info_init(&vi);
    nid_exam_get_video(e, ti.video, &vi);
    nid_video_options vo;
    nid_video_options_init(&vo);
    vo.format = NID_PIX_GRAY8;
    ck_assert_int_eq(nid_video_open(v, vi.resolved_path, &vo), NID_OK);
    *cur = ti.video;
}

START_TEST(embed_exam_equals_tracklets)
{
    if (!have_pipeline()) return;
    nid_model_info mi;
    nid_model_info_init(&mi);
    nid_model_get_info(model, &mi);
    size_t d = (size_t)mi.embed_dim, need = 0;
    float *emb = malloc(n_trk * d * sizeof *emb);
    float one[512];
    int32_t nc[256];
    ASSERT_ERR(nid_model_embed_exam(model, exam, NULL, emb, d, &need, NULL,
                                    NULL), NID_EBUFSIZE, "needed");
    ck_assert_uint_eq(need, n_trk * d);
    nid_timings tm;
    nid_timings_init(&tm);
    ck_assert_int_eq(nid_model_embed_exam(model, exam, NULL, emb, n_trk * d,
                                          NULL, nc, &tm), NID_OK);
    ck_assert(tm.embed_s > 0 && tm.total_s > 0);
    nid_video *v = NULL;
    size_t cur = (size_t)-1;
    for (size_t t = 0; t < n_trk; t++) {
        video_of_tracklet(exam, t, &v, &cur);
        size_t k = 0;
        ck_assert_int_eq(nid_model_embed_tracklet(model, v, exam, t, NULL, one,
                                                  d, &k), NID_OK);
        ck_assert_int_eq((int)k, nc[t]);
        ck_assert_msg(!memcmp(one, emb + t * d, d * sizeof *one),
                      "tracklet %zu differs", t);
    }
    nid_video_free(v);
    free(emb);
}
END_TEST

/* ---- one decoding pass per video ---------------------------------------- */

/* Tracklet t's embedding the way it was made before the single-pass
 * builder: its own clips from nid_clip_build() (one pass over the video
 * per tracklet), nid_model_embed(), windows pooled by nid_model_pool(). */
static void reference_embedding(nid_model *m, const nid_exam *e, size_t t,
                                const nid_clip_options *co, nid_video **v,
                                size_t *cur, float *out, size_t d,
                                size_t *n_clips)
{
    video_of_tracklet(e, t, v, cur);
    size_t nc = 0, nf = 0;
    ck_assert_int_eq(nid_clip_count(e, t, co, &nc, &nf), NID_OK);
    float *clips = malloc(nf * sizeof *clips), *emb = malloc(nc * d * sizeof *emb);
    ck_assert_int_eq(nid_clip_build(*v, e, t, co, clips, nf, NULL, NULL),
                     NID_OK);
    ck_assert_msg(nid_model_embed(m, clips, nc, nf, emb, nc * d, NULL) ==
                  NID_OK, "%s", nid_last_error());
    if (nc == 1)
        memcpy(out, emb, d * sizeof *out);
    else
        ck_assert_int_eq(nid_model_pool(m, emb, nc, d, out, d), NID_OK);
    *n_clips = nc;
    free(clips);
    free(emb);
}

/* nid_model_embed_exam() (each video's tracklets in one decoding pass,
 * frames in increasing order) against the per-tracklet reference, bit for
 * bit: on the sample exam, whose videos have overlapping tracklets
 * (v0 10-25 / 17-50, v1 0-46 / 7-69 and 91-106 / 101-139), with one clip
 * per tracklet and with sliding windows every 2 frames (many windows
 * sharing frames, across tracklets). The exam pass builds its 3 videos'
 * clips side by side on the model's 2 inference threads (the network is
 * loaded), the reference one video at a time. */
static void check_exam_against_reference(nid_model *m, const nid_exam *e,
                                         const nid_clip_options *co)
{
    nid_model_info mi;
    nid_model_info_init(&mi);
    nid_model_get_info(m, &mi);
    nid_exam_info ei;
    nid_exam_info_init(&ei);
    nid_exam_get_info(e, &ei);
    const size_t d = (size_t)mi.embed_dim, n = ei.n_tracklets;
    float *emb = malloc(n * d * sizeof *emb), *one = malloc(d * sizeof *one);
    int32_t *nc = malloc(n * sizeof *nc);
    nid_group_options o;
    nid_group_options_init(&o);
    o.clip = co;
    ck_assert_msg(nid_model_embed_exam(m, e, &o, emb, n * d, NULL, nc, NULL)
                  == NID_OK, "%s", nid_last_error());
    nid_video *v = NULL;
    size_t cur = (size_t)-1;
    for (size_t t = 0; t < n; t++) {
        size_t k = 0;
        reference_embedding(m, e, t, co, &v, &cur, one, d, &k);
        ck_assert_int_eq((int)k, nc[t]);
        ck_assert_msg(!memcmp(one, emb + t * d, d * sizeof *one),
                      "tracklet %zu (%zu clips): the single pass differs from "
                      "nid_clip_build", t, k);
    }
    nid_video_free(v);
    free(emb);
    free(one);
    free(nc);
}

START_TEST(single_pass_equals_clip_build)
{
    if (!have_pipeline()) return;
    nid_clip_options co;
    nid_clip_options_init(&co);
    nid_model_clip_options(model, &co);
    check_exam_against_reference(model, exam, &co);
    co.sampling = NID_SAMPLE_WINDOWS;
    co.window_stride = 2;
    check_exam_against_reference(model, exam, &co);
}
END_TEST

/* The sample exam with every video's tracklets listed in reverse order
 * (later starts first, overlaps kept): each tracklet's embedding equals
 * the original's, bit for bit, and the grouping is the same partition. */
START_TEST(out_of_order_tracklets)
{
    if (!have_pipeline()) return;
    nid_exam *r = NULL;
    ck_assert_int_eq(nid_exam_create(&r, "reversed", NULL, NULL), NID_OK);
    nid_exam_info ei;
    nid_exam_info_init(&ei);
    nid_exam_get_info(exam, &ei);
    size_t map[256]; /* tracklet of r -> tracklet of exam */
    size_t nr = 0;
    for (size_t v = 0; v < ei.n_videos; v++) {
        nid_exam_video_info vi;
        nid_exam_video_info_init(&vi);
        nid_exam_get_video(exam, v, &vi);
        nid_exam_video_info add;
        nid_exam_video_info_init(&add);
        add.id = vi.id;
        add.path = vi.resolved_path;
        add.n_frames = vi.n_frames;
        add.fps = vi.fps;
        add.width = vi.width;
        add.height = vi.height;
        size_t rv = 0;
        ck_assert_int_eq(nid_exam_add_video(r, &add, &rv), NID_OK);
        for (size_t k = vi.n_tracklets; k-- > 0;) {
            size_t t = vi.first_tracklet + k;
            nid_tracklet_info ti;
            nid_tracklet_info_init(&ti);
            nid_exam_get_tracklet(exam, t, &ti);
            int64_t fr[512];
            nid_box bx[512];
            ck_assert(ti.n_key_frames <= 512);
            for (size_t j = 0; j < ti.n_key_frames; j++)
                ck_assert_int_eq(nid_exam_key_frame(exam, t, j, &fr[j], &bx[j]),
                                 NID_OK);
            size_t idx = 0;
            ck_assert_int_eq(nid_exam_add_tracklet(r, rv, ti.id, ti.nodule, fr,
                                                   bx, ti.n_key_frames, &idx),
                             NID_OK);
            map[idx] = t;
            nr++;
        }
    }
    ck_assert_uint_eq(nr, n_trk);
    nid_model_info mi;
    nid_model_info_init(&mi);
    nid_model_get_info(model, &mi);
    const size_t d = (size_t)mi.embed_dim;
    float *e0 = malloc(n_trk * d * sizeof *e0), *e1 = malloc(n_trk * d * sizeof *e1);
    int32_t c0[256], c1[256];
    ck_assert_int_eq(nid_model_embed_exam(model, exam, NULL, e0, n_trk * d,
                                          NULL, c0, NULL), NID_OK);
    ck_assert_msg(nid_model_embed_exam(model, r, NULL, e1, n_trk * d, NULL, c1,
                                       NULL) == NID_OK, "%s", nid_last_error());
    int reordered = 0;
    for (size_t i = 0; i < n_trk; i++) {
        reordered |= map[i] != i;
        ck_assert_int_eq(c1[i], c0[map[i]]);
        ck_assert_msg(!memcmp(e1 + i * d, e0 + map[i] * d, d * sizeof *e0),
                      "tracklet %zu (%zu in the exam) differs", i, map[i]);
    }
    ck_assert(reordered);
    /* and the grouping: the same partition */
    nid_group_options o;
    nid_group_options_init(&o);
    nid_grouping *g0 = group(&o), *g1 = NULL;
    ck_assert_int_eq(nid_group_exam(&g1, model, r, &o), NID_OK);
    int32_t l0[256], l1[256];
    nid_grouping_labels(g0, l0, 256, NULL);
    nid_grouping_labels(g1, l1, 256, NULL);
    for (size_t i = 0; i < n_trk; i++)
        for (size_t j = 0; j < n_trk; j++)
            ck_assert((l1[i] == l1[j]) == (l0[map[i]] == l0[map[j]]));
    nid_grouping_free(g0);
    nid_grouping_free(g1);
    free(e0);
    free(e1);
    nid_exam_free(r);
}
END_TEST

/* A model loaded in the background (nid_model_options.background): the
 * pipeline builds the first videos' clips while the network loads (the
 * debug log says so), and the grouping equals the foreground model's:
 * the same embeddings bit for bit, the same labels. */
static atomic_int ahead_msgs;

static void count_ahead(int level, const char *msg, void *p)
{
    (void)level;
    (void)p;
    if (strstr(msg, "built while the model loads"))
        atomic_fetch_add(&ahead_msgs, 1);
}

START_TEST(background_model_groups)
{
    if (!have_pipeline()) return;
    char p[1200];
    snprintf(p, sizeof p, "%s/models/default.nidm", src_dir);
    nid_group_options o;
    nid_group_options_init(&o);
    nid_grouping *g0 = group(&o);
    nid_grouping_info in;
    nid_grouping_info_init(&in);
    nid_grouping_get_info(g0, &in);
    const size_t d = in.embed_dim;
    float *e0 = malloc(n_trk * d * sizeof *e0), *e1 = malloc(n_trk * d * sizeof *e1);
    int32_t l0[256], l1[256];
    nid_grouping_embeddings(g0, e0, n_trk * d, NULL);
    nid_grouping_labels(g0, l0, 256, NULL);
    nid_set_log_callback(count_ahead, NID_LOG_DEBUG, NULL);
    int ahead = 0;
    for (int attempt = 0; attempt < 3 && !ahead; attempt++) {
        nid_model_options mo;
        nid_model_options_init(&mo);
        mo.n_threads = 2;
        mo.background = 1;
        nid_model *bg = NULL;
        ck_assert_int_eq(nid_model_load(&bg, p, &mo), NID_OK);
        atomic_store(&ahead_msgs, 0);
        nid_grouping *g1 = NULL;
        ck_assert_msg(nid_group_exam(&g1, bg, exam, &o) == NID_OK, "%s",
                      nid_last_error());
        ahead = atomic_load(&ahead_msgs) > 0;
        ck_assert_int_eq(nid_grouping_embeddings(g1, e1, n_trk * d, NULL),
                         NID_OK);
        ck_assert_int_eq(nid_grouping_labels(g1, l1, 256, NULL), NID_OK);
        for (size_t t = 0; t < n_trk; t++) {
            ck_assert_msg(!memcmp(e0 + t * d, e1 + t * d, d * sizeof *e0),
                          "tracklet %zu: the background model's embedding "
                          "differs", t);
            ck_assert_int_eq(l0[t], l1[t]);
        }
        nid_grouping_free(g1);
        nid_model_free(bg);
    }
    nid_set_log_callback(NULL, 0, NULL);
    ck_assert_msg(ahead, "no clips were built while the model loaded");
    /* clip options the model does not take (larger clips): refused as in
     * the foreground, nothing built ahead into a buffer of the model's
     * clip size (ASan) */
    nid_clip_options co;
    nid_model_clip_options(model, &co);
    co.frames *= 2;
    o.clip = &co;
    nid_model_options mo;
    nid_model_options_init(&mo);
    mo.background = 1;
    nid_model *bg = NULL;
    ck_assert_int_eq(nid_model_load(&bg, p, &mo), NID_OK);
    nid_grouping *g1 = (nid_grouping *)&g1;
    ASSERT_ERR(nid_group_exam(&g1, bg, exam, &o), NID_EMISMATCH, "frames");
    ck_assert(g1 == (nid_grouping *)&g1);
    nid_model_free(bg);
    nid_grouping_free(g0);
    free(e0);
    free(e1);
}
END_TEST

/* ---- callbacks ---------------------------------------------------------- */

typedef struct prog {
    size_t calls, last_done, total;
    int sane;
    size_t cancel_at; /* cancel when done reaches this (0: never) */
} prog;

static int on_progress(size_t done, size_t total, const char *id, void *p)
{
    prog *pr = p;
    if (pr->calls > 0 && done != pr->last_done + 1) pr->sane = 0;
    if (pr->calls == 0 && done != 0) pr->sane = 0;
    if ((done < total) != (id != NULL)) pr->sane = 0;
    pr->calls++;
    pr->last_done = done;
    pr->total = total;
    return pr->cancel_at && done == pr->cancel_at;
}

static int abort_after(void *p)
{
    int *left = p;
    return (*left)-- <= 0;
}

START_TEST(callbacks)
{
    if (!have_pipeline()) return;
    prog pr = {0, 0, 0, 1, 0};
    nid_group_options o;
    nid_group_options_init(&o);
    o.progress = on_progress;
    o.progress_payload = &pr;
    nid_grouping *g = group(&o);
    nid_grouping_free(g);
    ck_assert_uint_eq(pr.calls, n_trk + 1); /* before each, and at the end */
    ck_assert_uint_eq(pr.last_done, n_trk);
    ck_assert_uint_eq(pr.total, n_trk);
    ck_assert(pr.sane);

    /* the progress callback cancels */
    memset(&pr, 0, sizeof pr);
    pr.sane = 1;
    pr.cancel_at = 3;
    g = (nid_grouping *)&pr; /* must stay untouched */
    ASSERT_ERR(nid_group_exam(&g, model, exam, &o), NID_ECANCELED,
               "progress callback");
    ck_assert(g == (nid_grouping *)&pr);
    ck_assert_uint_eq(pr.calls, 4);

    /* the abort callback cancels: after 5 polls */
    nid_group_options_init(&o);
    int left = 5;
    o.abort = abort_after;
    o.abort_payload = &left;
    g = NULL;
    ASSERT_ERR(nid_group_exam(&g, model, exam, &o), NID_ECANCELED,
               "abort callback");
    ck_assert(g == NULL);
    ck_assert_int_lt(left, 0);
    /* and for the embedding alone, with the caller's buffer untouched */
    left = 0;
    nid_model_info mi;
    nid_model_info_init(&mi);
    nid_model_get_info(model, &mi);
    float *emb = malloc(n_trk * (size_t)mi.embed_dim * sizeof *emb);
    emb[0] = 7;
    ASSERT_ERR(nid_model_embed_exam(model, exam, &o, emb,
                                    n_trk * (size_t)mi.embed_dim, NULL, NULL,
                                    NULL), NID_ECANCELED, "abort");
    ck_assert(emb[0] == 7);
    free(emb);
}
END_TEST

/* A frame source: the "PACS" decodes each video itself into memory and
 * hands the library frames, as RGB (the library converts to gray). */
typedef struct pacs {
    int calls;
    int fail;
} pacs;

static int from_memory(nid_video **out, const nid_exam *e, size_t v, void *p)
{
    pacs *pc = p;
    pc->calls++;
    if (pc->fail) {
        nid_video *bad = NULL;
        return nid_video_open(&bad, "/nonexistent/pacs-video.mp4", NULL);
    }
    nid_exam_video_info vi;
    nid_exam_video_info_init(&vi);
    nid_exam_get_video(e, v, &vi);
    nid_video_options vo;
    nid_video_options_init(&vo);
    vo.format = NID_PIX_GRAY8;
    nid_video *file = NULL;
    int st = nid_video_open(&file, vi.resolved_path, &vo);
    if (st) return st;
    nid_video_info info;
    nid_video_info_init(&info);
    nid_video_get_info(file, &info);
    size_t one = (size_t)info.width * (size_t)info.height;
    uint8_t *pix = malloc(one * (size_t)info.n_frames);
    nid_frame *fr = malloc((size_t)info.n_frames * sizeof *fr);
    for (int64_t i = 0; !st && i < info.n_frames; i++) {
        st = nid_video_read_frame(file, i, pix + (size_t)i * one, one, NULL);
        fr[i] = (nid_frame){pix + (size_t)i * one, info.width, info.height,
                            (size_t)info.width, NID_PIX_GRAY8};
    }
    if (!st)
        st = nid_video_from_frames(out, fr, (size_t)info.n_frames, info.fps,
                                   NID_FRAMES_COPY);
    free(pix);
    free(fr);
    nid_video_free(file);
    return st;
}

START_TEST(frame_source)
{
    if (!have_pipeline()) return;
    nid_grouping *a = group(NULL);
    pacs pc = {0, 0};
    nid_group_options o;
    nid_group_options_init(&o);
    o.video_source = from_memory;
    o.video_payload = &pc;
    nid_grouping *b = group(&o);
    nid_exam_info ei;
    nid_exam_info_init(&ei);
    nid_exam_get_info(exam, &ei);
    ck_assert_int_eq(pc.calls, (int)ei.n_videos);
    nid_grouping_info ia, ib;
    nid_grouping_info_init(&ia);
    nid_grouping_info_init(&ib);
    nid_grouping_get_info(a, &ia);
    nid_grouping_get_info(b, &ib);
    size_t nd = n_trk * ia.embed_dim;
    float *ea = malloc(nd * sizeof *ea), *eb = malloc(nd * sizeof *eb);
    int32_t la[256], lb[256];
    nid_grouping_embeddings(a, ea, nd, NULL);
    nid_grouping_embeddings(b, eb, nd, NULL);
    nid_grouping_labels(a, la, 256, NULL);
    nid_grouping_labels(b, lb, 256, NULL);
    ck_assert_msg(!memcmp(ea, eb, nd * sizeof *ea),
                  "frames from memory embed differently from the files");
    ck_assert(!memcmp(la, lb, n_trk * sizeof *la));
    ck_assert_uint_eq(ia.n_nodules, ib.n_nodules);
    free(ea);
    free(eb);
    nid_grouping_free(a);
    nid_grouping_free(b);
    /* a failing source: the message names the video and keeps the cause */
    pc.fail = 1;
    nid_grouping *g = NULL;
    ASSERT_ERR(nid_group_exam(&g, model, exam, &o), NID_EIO,
               "video 'v0' (frame source callback)");
    HAS("pacs-video.mp4");
    ck_assert(g == NULL);
}
END_TEST

START_TEST(bad_input)
{
    nid_group_options o;
    nid_group_options_init(&o);
    nid_grouping *g = NULL;
    ck_assert_int_eq(nid_group_exam(&g, NULL, NULL, &o), NID_EINVAL);
    ck_assert_int_eq(nid_model_embed_exam(NULL, NULL, NULL, NULL, 0, NULL,
                                          NULL, NULL), NID_EINVAL);
    nid_grouping_free(NULL);
    ck_assert_str_eq(nid_model_source_name(NID_MODEL_FROM_ENV),
                     "NODULEID_MODEL");
    ck_assert_ptr_null(nid_model_source_name(0));
    if (!have_pipeline()) return;
    o.struct_size = 8;
    ASSERT_ERR(nid_group_exam(&g, model, exam, &o), NID_EINVAL, "struct_size");
    nid_group_options_init(&o);
    o.method = 42;
    ASSERT_ERR(nid_group_exam(&g, model, exam, &o), NID_EINVAL, "method");
    nid_group_options_init(&o);
    o.threshold = NAN;
    ASSERT_ERR(nid_group_exam(&g, model, exam, &o), NID_EINVAL, "threshold");
    nid_group_options_init(&o);
    o.compare = NID_COMPARE_VERIFY; /* the default model has no head */
    ASSERT_ERR(nid_group_exam(&g, model, exam, &o), NID_ENOTSUP,
               "verification head");
    ck_assert(g == NULL);
    nid_exam *empty = NULL;
    ck_assert_int_eq(nid_exam_create(&empty, "E", "P", NULL), NID_OK);
    ASSERT_ERR(nid_group_exam(&g, model, empty, NULL), NID_EINVAL,
               "no tracklets");
    nid_exam_free(empty);
    /* a video that is not there: named */
    nid_exam *e2 = NULL;
    nid_exam_video_info vi;
    nid_exam_video_info_init(&vi);
    vi.id = "gone";
    vi.path = "/nonexistent/gone.mp4";
    int64_t fr[2] = {0, 20};
    nid_box bx[2] = {{10, 10, 20, 20}, {10, 10, 20, 20}};
    ck_assert_int_eq(nid_exam_create(&e2, NULL, NULL, NULL), NID_OK);
    ck_assert_int_eq(nid_exam_add_video(e2, &vi, NULL), NID_OK);
    ck_assert_int_eq(nid_exam_add_tracklet(e2, 0, "t", -1, fr, bx, 2, NULL),
                     NID_OK);
    ASSERT_ERR(nid_group_exam(&g, model, e2, NULL), NID_EIO, "video 'gone'");
    HAS("gone.mp4");
    nid_exam_free(e2);
    /* the same among good videos, whose clips are built side by side on
     * the model's 2 threads (a loaded model): first, in the middle, last;
     * the call still names it (the regular path meets it again) */
    {
        nid_exam_video_info good;
        nid_exam_video_info_init(&good);
        nid_exam_get_video(exam, 0, &good);
        const char *path0 = good.resolved_path;
        for (int bad = 0; bad < 3; bad++) {
            ck_assert_int_eq(nid_exam_create(&e2, NULL, NULL, NULL), NID_OK);
            for (int k = 0; k < 3; k++) {
                nid_exam_video_info_init(&vi);
                char id[8];
                snprintf(id, sizeof id, "w%d", k);
                vi.id = k == bad ? "gone" : id;
                vi.path = k == bad ? "/nonexistent/gone.mp4" : path0;
                ck_assert_int_eq(nid_exam_add_video(e2, &vi, NULL), NID_OK);
                char tid[8];
                snprintf(tid, sizeof tid, "t%d", k);
                ck_assert_int_eq(nid_exam_add_tracklet(e2, (size_t)k, tid, -1,
                                                       fr, bx, 2, NULL),
                                 NID_OK);
            }
            ASSERT_ERR(nid_group_exam(&g, model, e2, NULL), NID_EIO,
                       "video 'gone'");
            ck_assert(g == NULL);
            nid_exam_free(e2);
        }
    }
    /* a tracklet past the video's end among good ones (one forward group):
     * the message names that tracklet and keeps the clip builder's cause */
    nid_exam_video_info v0;
    nid_exam_video_info_init(&v0);
    nid_exam_get_video(exam, 0, &v0);
    vi.id = "v0";
    vi.path = v0.resolved_path;
    int64_t past[2] = {0, 1000000};
    ck_assert_int_eq(nid_exam_create(&e2, NULL, NULL, NULL), NID_OK);
    ck_assert_int_eq(nid_exam_add_video(e2, &vi, NULL), NID_OK);
    ck_assert_int_eq(nid_exam_add_tracklet(e2, 0, "ok1", -1, fr, bx, 2, NULL),
                     NID_OK);
    ck_assert_int_eq(nid_exam_add_tracklet(e2, 0, "past", -1, past, bx, 2,
                                           NULL), NID_OK);
    ck_assert_int_eq(nid_exam_add_tracklet(e2, 0, "ok2", -1, fr, bx, 2, NULL),
                     NID_OK);
    ASSERT_ERR(nid_group_exam(&g, model, e2, NULL), NID_EMISMATCH,
               "tracklet 'past' (video 'v0')");
    HAS("but the video has");
    nid_exam_free(e2);
}
END_TEST

START_TEST(default_model)
{
    char path[4096], want[4096], real[4096];
    size_t need = 0;
    int src = 0;
    snprintf(want, sizeof want, "%s/models/default.nidm", src_dir);
    setenv("NODULEID_MODEL", want, 1);
    ck_assert_int_eq(nid_default_model_path(path, sizeof path, &need, &src),
                     NID_OK);
    ck_assert_str_eq(path, want);
    ck_assert_int_eq(src, NID_MODEL_FROM_ENV);
    ck_assert_uint_eq(need, strlen(want) + 1);
    ASSERT_ERR(nid_default_model_path(path, 4, &need, &src), NID_EBUFSIZE,
               "needed");
    ck_assert_uint_eq(need, strlen(want) + 1);
    setenv("NODULEID_MODEL", "/nonexistent/m.nidm", 1);
    ASSERT_ERR(nid_default_model_path(path, sizeof path, NULL, NULL), NID_EIO,
               "/nonexistent/m.nidm (NODULEID_MODEL)");
    unsetenv("NODULEID_MODEL");
    /* this test runs against the library in its build tree */
    int st = nid_default_model_path(path, sizeof path, NULL, &src);
    if (realpath(want, real)) {
        ck_assert_msg(st == NID_OK, "%s", nid_last_error());
        ck_assert_str_eq(path, real);
        ck_assert_int_eq(src, NID_MODEL_FROM_BUILD_TREE);
    } else {
        ck_assert_int_eq(st, NID_EIO);
        HAS("no default model");
    }
}
END_TEST

/* The package's exam grouping (training.grouping: method and tau calibrated
 * under cannot-links) is what the defaults use; an explicit threshold, or
 * cannot-links off, falls back to the model's tau and Algorithm 1. */
START_TEST(package_grouping)
{
    if (!have_pipeline()) return;
    nid_model_info mi;
    nid_model_info_init(&mi);
    nid_model_get_info(model, &mi);
    const char *gj = mi.meta_json ? strstr(mi.meta_json, "\"grouping\"") : NULL;
    nid_group_options o;
    nid_group_options_init(&o);
    nid_grouping *g = group(&o);
    nid_grouping_info in;
    nid_grouping_info_init(&in);
    ck_assert_int_eq(nid_grouping_get_info(g, &in), NID_OK);
    int32_t lab[256];
    ck_assert_int_eq(nid_grouping_labels(g, lab, 256, NULL), NID_OK);
    /* the sample exam has cannot-link pairs; none ends up in one nodule */
    size_t np = 0;
    ck_assert_int_eq(nid_exam_cannot_link(exam, 0.5f, NULL, 0, &np),
                     NID_EBUFSIZE);
    uint32_t pairs[512];
    ck_assert(np > 0 && np <= 256);
    ck_assert_int_eq(nid_exam_cannot_link(exam, 0.5f, pairs, 256, &np), NID_OK);
    ck_assert_uint_eq(in.n_cannot_link, np);
    for (size_t k = 0; k < np; k++)
        ck_assert(lab[pairs[2 * k]] != lab[pairs[2 * k + 1]]);
    /* the labels are nid_cluster_dist's with the settings reported */
    static float sim[256 * 256], dist[256 * 256];
    nid_grouping_free(g);
    o.keep_similarity = 1;
    g = group(&o);
    ck_assert_int_eq(nid_grouping_similarity(g, sim, n_trk * n_trk, NULL), NID_OK);
    for (size_t i = 0; i < n_trk * n_trk; i++)
        dist[i] = sim[i] < 1.0f ? 1.0f - sim[i] : 0.0f;
    for (size_t i = 0; i < n_trk; i++) dist[i * n_trk + i] = 0.0f;
    nid_cluster_options co;
    nid_cluster_options_init(&co);
    co.method = in.method;
    co.threshold = in.threshold;
    co.cannot_link = pairs;
    co.n_cannot_link = np;
    int32_t want[256];
    size_t k = 0;
    ck_assert_int_eq(nid_cluster_dist(dist, n_trk, &co, want, n_trk, &k), NID_OK);
    for (size_t t = 0; t < n_trk; t++) ck_assert_int_eq(lab[t], want[t]);
    nid_grouping_free(g);
    if (gj) {
        ck_assert_int_eq(in.method_from, NID_FROM_MODEL);
        ck_assert_int_eq(in.threshold_from, NID_FROM_MODEL);
        ck_assert(in.threshold != mi.tau); /* the grouping's own tau */
    } else {
        ck_assert(in.threshold == mi.tau);
    }
    /* an explicit threshold: the grouping's method no longer applies */
    nid_group_options_init(&o);
    o.threshold = 0.05f;
    g = group(&o);
    nid_grouping_info_init(&in);
    nid_grouping_get_info(g, &in);
    ck_assert_int_eq(in.threshold_from, NID_FROM_OPTIONS);
    if (!mi.meta_json || !strstr(mi.meta_json, "\"cluster_method\"")) {
        ck_assert_int_eq(in.method, NID_CLUSTER_PAPER);
        ck_assert_int_eq(in.method_from, NID_FROM_DEFAULT);
    }
    ck_assert(in.threshold == 0.05f);
    nid_grouping_free(g);
    /* cannot-links off: the model's tau (Algorithm 1 unless the package
     * names training.cluster_method) */
    nid_group_options_init(&o);
    o.cannot_link = 0;
    g = group(&o);
    nid_grouping_info_init(&in);
    nid_grouping_get_info(g, &in);
    ck_assert(in.threshold == mi.tau);
    ck_assert_uint_eq(in.n_cannot_link, 0);
    nid_grouping_free(g);
}
END_TEST

Suite *nid__test_suite(void)
{
    Suite *s = suite_create("pipeline");
    TCase *tc = tcase_create("pipeline");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, groups_equal_cli);
    tcase_add_test(tc, variants_equal_cli);
    tcase_add_test(tc, embed_exam_equals_tracklets);
    tcase_add_test(tc, single_pass_equals_clip_build);
    tcase_add_test(tc, out_of_order_tracklets);
    tcase_add_test(tc, callbacks);
    tcase_add_test(tc, frame_source);
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, default_model);
    tcase_add_test(tc, package_grouping);
    suite_add_tcase(s, tc);
    /* CK_RUN_CASE=background: the model's loader thread beside the clips
     * built ahead (scripts/tsan) */
    TCase *bg = tcase_create("background");
    tcase_add_checked_fixture(bg, setup, teardown);
    tcase_set_timeout(bg, 300);
    tcase_add_test(bg, background_model_groups);
    suite_add_tcase(s, bg);
    return s;
}
