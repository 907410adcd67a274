/*
 * test_abi_010.c - a program built against the 0.1.0 header keeps working.
 *
 * Compiled against tests/abi/noduleid-0.1.0.h, the frozen public header of
 * 0.1.0 (include/noduleid.h at commit 3d74a4a, the last before fields were
 * appended for 0.2), never against include/noduleid.h. Every function of
 * 0.1.0 that takes or fills a struct_size struct is called with the 0.1.0
 * sizes. Each struct lies in a buffer with guard bytes after the end of its
 * last 0.1.0 field: the library must accept it, write nothing past it, and
 * give the same results as with a struct of the current size. A
 * struct_size below the first published layout is NID_EINVAL with a
 * message naming the struct.
 *
 * Old-size structs are initialised by the 0.1.0 symbols nid_X_init (this
 * header declares functions, not the current header's macros): each must
 * write nothing past the struct's 0.1.0 fields, set struct_size to their
 * end and give the same defaults as the current header's init. The
 * current-size twin of each struct is initialised through the current
 * header's macro (abi_current.c), which also checks nid_X_init_sized for
 * every struct (core.h, "Extensible structs").
 *
 * Model calls need libtorch and the nid_models fixture (NID_TEST_MODELS);
 * without them they are skipped, and say so.
 */
#include "noduleid-0.1.0.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t abi_current_sizeof(const char *name);
int abi_current_init(const char *name, void *p);
size_t abi_current_check_sized(void (*check)(int ok, const char *what,
                                             const char *name));
size_t abi_current_delong_a(void);
size_t abi_current_delong_b(void);
size_t abi_current_delong_p(void);

static int failures, checks;

#define CHECK(c, ...) do { \
    checks++; \
    if (!(c)) { \
        failures++; \
        fprintf(stderr, "%s:%d: FAIL %s: ", __FILE__, __LINE__, #c); \
        fprintf(stderr, __VA_ARGS__); \
        fprintf(stderr, " (last error: %s)\n", nid_last_error()); \
    } \
} while (0)
#define OK(call) do { int rc_ = (call); \
    CHECK(rc_ == NID_OK, "%s returned %d", #call, rc_); } while (0)

#define GUARD 64
#define FILL 0xA5

/* An old-size struct followed by GUARD guard bytes, initialised by the
 * 0.1.0 symbol nid_X_init, and a current-size one initialised through the
 * current header. The 0.1.0 fields end at `pub` (the struct's first
 * published size; sizeof(old T) may add tail padding): nothing from there
 * on, padding included, may be written. */
typedef struct pair {
    unsigned char *old;  /* sizeof(old T) + GUARD */
    unsigned char *cur;  /* current sizeof(T)     */
    size_t old_size, pub, cur_size;
    const char *name;
} pair;

static void guard_ok(const pair *p, const char *call);

static pair make_pair(const char *name, size_t old_size, size_t pub,
                      void (*init)(void *))
{
    pair p = {0};
    p.name = name;
    p.old_size = old_size;
    p.pub = pub;
    p.cur_size = abi_current_sizeof(name);
    CHECK(p.cur_size >= old_size, "%s: current size %zu < 0.1.0 size %zu "
          "(a struct may only grow)", name, p.cur_size, old_size);
    p.old = malloc(old_size + GUARD);
    p.cur = malloc(p.cur_size + GUARD);
    if (!p.old || !p.cur) { perror("malloc"); exit(1); }
    memset(p.old, FILL, old_size + GUARD);
    memset(p.cur, FILL, p.cur_size + GUARD);
    CHECK(abi_current_init(name, p.cur), "%s: not in abi_current.c", name);
    init(p.old);
    guard_ok(&p, "the 0.1.0 init");
    CHECK(memcmp(p.old + sizeof(size_t), p.cur + sizeof(size_t),
                 pub - sizeof(size_t)) == 0, "the 0.1.0 init of %s gives "
          "other defaults than the current header's", name);
    return p;
}

static void guard_ok(const pair *p, const char *call)
{
    for (size_t i = p->pub; i < p->old_size + GUARD; i++)
        if (p->old[i] != FILL) {
            CHECK(0, "%s wrote byte %zu of %s, past the end of its 0.1.0 "
                  "fields (%zu bytes; sizeof %zu)", call, i, p->name, p->pub,
                  p->old_size);
            return;
        }
    checks++;
    CHECK(*(size_t *)p->old == p->pub, "after %s, %s.struct_size is %zu, not "
          "its first published size %zu", call, p->name, *(size_t *)p->old,
          p->pub);
}

/* The 0.1.0 fields (after struct_size) are the same in both. */
static void same_fields(const pair *p, const char *call)
{
    CHECK(memcmp(p->old + sizeof(size_t), p->cur + sizeof(size_t),
                 p->pub - sizeof(size_t)) == 0,
          "%s: the 0.1.0 fields of %s differ between the 0.1.0 size and the "
          "current size", call, p->name);
}

static void free_pair(pair *p) { free(p->old); free(p->cur); }

/* A struct_size below the first published layout is refused, naming the
 * struct. */
static void too_small(int rc, const char *call, const char *name)
{
    CHECK(rc == NID_EINVAL, "%s with struct_size 4 returned %d", call, rc);
    CHECK(strstr(nid_last_error(), name) != NULL, "%s: message \"%s\" does "
          "not name %s", call, nid_last_error(), name);
}

/* The end of T's last 0.1.0 field: its first published size. */
#define END(T, f) (offsetof(T, f) + sizeof(((T *)0)->f))
#define LAST_nid_cluster_options  n_threads
#define LAST_nid_cluster_scores   n_pred_clusters
#define LAST_nid_auc_result       n_neg
#define LAST_nid_delong_result    p_value
#define LAST_nid_binary_result    precision
#define LAST_nid_video_options    n_threads
#define LAST_nid_video_info       codec
#define LAST_nid_exam_video_info  n_tracklets
#define LAST_nid_tracklet_info    n_key_frames
#define LAST_nid_exam_info        n_tracklets
#define LAST_nid_link_options     min_score
#define LAST_nid_clip_options     std
#define LAST_nid_model_options    clip_memory
#define LAST_nid_model_info       path
#define LAST_nid_gallery_info     n_entries
#define LAST_nid_gallery_entry    n_tracklets
#define LAST_nid_match_options    model_id

/* The 0.1.0 init called through a function of the right type. */
#define INIT_010(T) static void init_##T(void *p) { T##_init((T *)p); }
INIT_010(nid_cluster_options) INIT_010(nid_cluster_scores)
INIT_010(nid_auc_result) INIT_010(nid_delong_result)
INIT_010(nid_binary_result) INIT_010(nid_video_options)
INIT_010(nid_video_info) INIT_010(nid_exam_video_info)
INIT_010(nid_tracklet_info) INIT_010(nid_exam_info)
INIT_010(nid_link_options) INIT_010(nid_clip_options)
INIT_010(nid_model_options) INIT_010(nid_model_info)
INIT_010(nid_gallery_info) INIT_010(nid_gallery_entry)
INIT_010(nid_match_options)

#define LAST(T) LAST_##T
#define PAIR_END(T, f) END(T, f)
#define PAIR(T) make_pair(#T, sizeof(T), PAIR_END(T, LAST(T)), init_##T)
#define OLD(T, p) ((T *)(p).old)
#define CUR(T, p) ((T *)(p).cur)
#define SMALL(T, p) (*(size_t *)(p).old = 4, (T *)(p).old)
#define RESET(p) (*(size_t *)(p).old = (p).pub)

/* ---- layout ------------------------------------------------------------- */

static void test_layout(void)
{
    /* nid_auc_result is nested by value: frozen, so nid_delong_result's
     * 0.1.0 fields stay where they were. */
    CHECK(abi_current_sizeof("nid_auc_result") == sizeof(nid_auc_result),
          "nid_auc_result grew (%zu -> %zu) but is nested by value in "
          "nid_delong_result", sizeof(nid_auc_result),
          abi_current_sizeof("nid_auc_result"));
    CHECK(abi_current_delong_a() == offsetof(nid_delong_result, a) &&
          abi_current_delong_b() == offsetof(nid_delong_result, b) &&
          abi_current_delong_p() == offsetof(nid_delong_result, p_value),
          "nid_delong_result's 0.1.0 fields moved");
}

/* ---- cluster, online, eval --------------------------------------------- */

static const float X[6 * 2] = {0, 0, 0.05f, 0, 0, 0.05f, 5, 5, 5.05f, 5, 5, 5.05f};

static void test_cluster(void)
{
    pair p = PAIR(nid_cluster_options);
    OLD(nid_cluster_options, p)->method = NID_CLUSTER_SINGLE;
    CUR(nid_cluster_options, p)->method = NID_CLUSTER_SINGLE;
    OLD(nid_cluster_options, p)->metric = NID_METRIC_EUCLIDEAN;
    CUR(nid_cluster_options, p)->metric = NID_METRIC_EUCLIDEAN;
    OLD(nid_cluster_options, p)->threshold = 1.0f;
    CUR(nid_cluster_options, p)->threshold = 1.0f;
    int32_t lo[6], lc[6];
    size_t ko = 0, kc = 0;
    OK(nid_cluster(X, 6, 2, OLD(nid_cluster_options, p), lo, 6, &ko));
    OK(nid_cluster(X, 6, 2, CUR(nid_cluster_options, p), lc, 6, &kc));
    CHECK(ko == 2 && kc == 2 && memcmp(lo, lc, sizeof lo) == 0,
          "nid_cluster: %zu vs %zu clusters", ko, kc);
    guard_ok(&p, "nid_cluster");

    float dist[36];
    for (size_t i = 0; i < 6; i++)
        for (size_t j = 0; j < 6; j++)
            dist[i * 6 + j] = hypotf(X[2 * i] - X[2 * j],
                                     X[2 * i + 1] - X[2 * j + 1]);
    OK(nid_cluster_dist(dist, 6, OLD(nid_cluster_options, p), lo, 6, &ko));
    OK(nid_cluster_dist(dist, 6, CUR(nid_cluster_options, p), lc, 6, &kc));
    CHECK(ko == kc && memcmp(lo, lc, sizeof lo) == 0, "nid_cluster_dist");
    guard_ok(&p, "nid_cluster_dist");

    nid_online *oc = NULL;
    OK(nid_online_create(&oc, 2, OLD(nid_cluster_options, p)));
    CHECK(oc != NULL, "nid_online_create gave no handle");
    nid_online_free(oc);
    guard_ok(&p, "nid_online_create");

    too_small(nid_cluster(X, 6, 2, SMALL(nid_cluster_options, p), lo, 6, &ko),
              "nid_cluster", "nid_cluster_options");
    oc = NULL;
    too_small(nid_online_create(&oc, 2, SMALL(nid_cluster_options, p)),
              "nid_online_create", "nid_cluster_options");
    RESET(p);
    free_pair(&p);
}

static const int32_t LAB[8] = {1, 0, 1, 1, 0, 0, 1, 0};
static const double SA[8] = {0.9, 0.2, 0.7, 0.4, 0.5, 0.1, 0.8, 0.6};
static const double SB[8] = {0.6, 0.3, 0.8, 0.7, 0.2, 0.4, 0.5, 0.1};

static void test_eval(void)
{
    static const int32_t truth[6] = {0, 0, 1, 1, 2, 2};
    static const int32_t pred[6] = {0, 0, 1, 1, 1, 2};
    pair p = PAIR(nid_cluster_scores);
    OK(nid_eval_clusters(truth, pred, 6, OLD(nid_cluster_scores, p)));
    OK(nid_eval_clusters(truth, pred, 6, CUR(nid_cluster_scores, p)));
    guard_ok(&p, "nid_eval_clusters");
    same_fields(&p, "nid_eval_clusters");
    CHECK(OLD(nid_cluster_scores, p)->n_true_clusters == 3,
          "nid_eval_clusters: n_true_clusters %zu",
          OLD(nid_cluster_scores, p)->n_true_clusters);
    too_small(nid_eval_clusters(truth, pred, 6, SMALL(nid_cluster_scores, p)),
              "nid_eval_clusters", "nid_cluster_scores");
    free_pair(&p);

    p = PAIR(nid_auc_result);
    OK(nid_eval_auc(LAB, SA, 8, OLD(nid_auc_result, p)));
    OK(nid_eval_auc(LAB, SA, 8, CUR(nid_auc_result, p)));
    guard_ok(&p, "nid_eval_auc");
    same_fields(&p, "nid_eval_auc");
    CHECK(OLD(nid_auc_result, p)->n_pos == 4 &&
          OLD(nid_auc_result, p)->auc.value > 0.5, "nid_eval_auc values");
    too_small(nid_eval_auc(LAB, SA, 8, SMALL(nid_auc_result, p)),
              "nid_eval_auc", "nid_auc_result");
    free_pair(&p);

    p = PAIR(nid_delong_result);
    OK(nid_eval_delong(LAB, SA, SB, 8, OLD(nid_delong_result, p)));
    OK(nid_eval_delong(LAB, SA, SB, 8, CUR(nid_delong_result, p)));
    guard_ok(&p, "nid_eval_delong");
    same_fields(&p, "nid_eval_delong");
    CHECK(OLD(nid_delong_result, p)->b.n_neg == 4 &&
          OLD(nid_delong_result, p)->p_value > 0 &&
          OLD(nid_delong_result, p)->p_value <= 1, "nid_eval_delong values");
    too_small(nid_eval_delong(LAB, SA, SB, 8, SMALL(nid_delong_result, p)),
              "nid_eval_delong", "nid_delong_result");
    free_pair(&p);

    p = PAIR(nid_binary_result);
    OK(nid_eval_threshold(LAB, SA, 8, 0.55, OLD(nid_binary_result, p)));
    OK(nid_eval_threshold(LAB, SA, 8, 0.55, CUR(nid_binary_result, p)));
    guard_ok(&p, "nid_eval_threshold");
    same_fields(&p, "nid_eval_threshold");
    too_small(nid_eval_threshold(LAB, SA, 8, 0.55, SMALL(nid_binary_result, p)),
              "nid_eval_threshold", "nid_binary_result");
    free_pair(&p);
}

/* ---- video, exam, tracklets, clips ------------------------------------- */

#define W 64
#define H 48
#define NF 12
static uint8_t pixels[NF][H * W];

static nid_video *make_video(void)
{
    nid_frame f[NF];
    for (int i = 0; i < NF; i++) {
        for (int j = 0; j < H * W; j++) pixels[i][j] = (uint8_t)(i * 7 + j);
        f[i].data = pixels[i];
        f[i].width = W;
        f[i].height = H;
        f[i].stride = W;
        f[i].format = NID_PIX_GRAY8;
    }
    nid_video *v = NULL;
    OK(nid_video_from_frames(&v, f, NF, 25.0, 0));
    return v;
}

static void test_video(nid_video *v)
{
    pair p = PAIR(nid_video_info);
    OK(nid_video_get_info(v, OLD(nid_video_info, p)));
    OK(nid_video_get_info(v, CUR(nid_video_info, p)));
    guard_ok(&p, "nid_video_get_info");
    same_fields(&p, "nid_video_get_info");
    CHECK(OLD(nid_video_info, p)->width == W &&
          OLD(nid_video_info, p)->n_frames == NF, "nid_video_get_info values");
    too_small(nid_video_get_info(v, SMALL(nid_video_info, p)),
              "nid_video_get_info", "nid_video_info");
    free_pair(&p);

    /* the options are checked before the file is looked at: a missing file
     * is not NID_EINVAL (NID_EIO, or NID_ENOTSUP without FFmpeg) */
    p = PAIR(nid_video_options);
    nid_video *x = NULL;
    int rc = nid_video_open(&x, "no such file.mp4", OLD(nid_video_options, p));
    CHECK(rc == NID_EIO || rc == NID_ENOTSUP, "nid_video_open with 0.1.0 "
          "options on a missing file returned %d", rc);
    guard_ok(&p, "nid_video_open");
    too_small(nid_video_open(&x, "no such file.mp4",
                             SMALL(nid_video_options, p)),
              "nid_video_open", "nid_video_options");
    free_pair(&p);
}

static nid_exam *make_exam(void)
{
    nid_exam *e = NULL;
    OK(nid_exam_create(&e, "E1", "P1", "2024-01-02"));
    pair p = PAIR(nid_exam_video_info);
    OLD(nid_exam_video_info, p)->id = "v0";
    OLD(nid_exam_video_info, p)->path = "v0.mp4";
    OLD(nid_exam_video_info, p)->n_frames = NF;
    OLD(nid_exam_video_info, p)->width = W;
    OLD(nid_exam_video_info, p)->height = H;
    size_t vi = 9;
    OK(nid_exam_add_video(e, OLD(nid_exam_video_info, p), &vi));
    CHECK(vi == 0, "nid_exam_add_video index %zu", vi);
    guard_ok(&p, "nid_exam_add_video");
    too_small(nid_exam_add_video(e, SMALL(nid_exam_video_info, p), &vi),
              "nid_exam_add_video", "nid_exam_video_info");
    free_pair(&p);

    int64_t fr[NF];
    nid_box bx[NF];
    for (int i = 0; i < NF; i++) {
        fr[i] = i;
        bx[i] = (nid_box){10.0f + i, 8.0f, 20.0f, 16.0f};
    }
    size_t ti;
    OK(nid_exam_add_tracklet(e, 0, "t0", 3, fr, bx, NF, &ti));
    return e;
}

static void test_exam(nid_exam *e)
{
    pair p = PAIR(nid_exam_info);
    OK(nid_exam_get_info(e, OLD(nid_exam_info, p)));
    OK(nid_exam_get_info(e, CUR(nid_exam_info, p)));
    guard_ok(&p, "nid_exam_get_info");
    same_fields(&p, "nid_exam_get_info");
    CHECK(OLD(nid_exam_info, p)->n_tracklets >= 1 &&
          strcmp(OLD(nid_exam_info, p)->patient_id, "P1") == 0,
          "nid_exam_get_info values");
    too_small(nid_exam_get_info(e, SMALL(nid_exam_info, p)),
              "nid_exam_get_info", "nid_exam_info");
    free_pair(&p);

    p = PAIR(nid_exam_video_info);
    OK(nid_exam_get_video(e, 0, OLD(nid_exam_video_info, p)));
    OK(nid_exam_get_video(e, 0, CUR(nid_exam_video_info, p)));
    guard_ok(&p, "nid_exam_get_video");
    same_fields(&p, "nid_exam_get_video");
    CHECK(strcmp(OLD(nid_exam_video_info, p)->id, "v0") == 0,
          "nid_exam_get_video id");
    too_small(nid_exam_get_video(e, 0, SMALL(nid_exam_video_info, p)),
              "nid_exam_get_video", "nid_exam_video_info");
    free_pair(&p);

    p = PAIR(nid_tracklet_info);
    OK(nid_exam_get_tracklet(e, 0, OLD(nid_tracklet_info, p)));
    OK(nid_exam_get_tracklet(e, 0, CUR(nid_tracklet_info, p)));
    guard_ok(&p, "nid_exam_get_tracklet");
    same_fields(&p, "nid_exam_get_tracklet");
    CHECK(OLD(nid_tracklet_info, p)->nodule == 3 &&
          OLD(nid_tracklet_info, p)->end == NF - 1,
          "nid_exam_get_tracklet values");
    too_small(nid_exam_get_tracklet(e, 0, SMALL(nid_tracklet_info, p)),
              "nid_exam_get_tracklet", "nid_tracklet_info");
    free_pair(&p);
}

static void test_link(void)
{
    nid_detection d[NF];
    for (int i = 0; i < NF; i++)
        d[i] = (nid_detection){i, {5.0f + i, 5.0f, 20.0f, 20.0f}, 0.9f};
    size_t added[2] = {0, 0};
    pair p = PAIR(nid_link_options);
    for (int k = 0; k < 2; k++) {
        nid_exam *e = NULL;
        OK(nid_exam_create(&e, "L", "P", "2024-01-01"));
        pair vp = PAIR(nid_exam_video_info);
        OLD(nid_exam_video_info, vp)->id = "v";
        OLD(nid_exam_video_info, vp)->path = "v.mp4";
        OK(nid_exam_add_video(e, OLD(nid_exam_video_info, vp), NULL));
        free_pair(&vp);
        OK(nid_link_detections(e, 0, d, NF,
                               k == 0 ? OLD(nid_link_options, p)
                                      : CUR(nid_link_options, p),
                               &added[k]));
        nid_exam_free(e);
    }
    CHECK(added[0] == 1 && added[1] == 1, "nid_link_detections added %zu "
          "and %zu tracklets", added[0], added[1]);
    guard_ok(&p, "nid_link_detections");
    nid_exam *e = NULL;
    OK(nid_exam_create(&e, "L", "P", "2024-01-01"));
    too_small(nid_link_detections(e, 0, d, NF, SMALL(nid_link_options, p),
                                  NULL),
              "nid_link_detections", "nid_link_options");
    nid_exam_free(e);
    free_pair(&p);
}

static void test_clip(nid_video *v, nid_exam *e)
{
    pair p = PAIR(nid_clip_options);
    nid_clip_options *o = OLD(nid_clip_options, p),
                     *c = CUR(nid_clip_options, p);
    o->frames = c->frames = 4;
    o->height = c->height = 16;
    o->width = c->width = 8;
    o->channels = c->channels = 1;

    size_t no, nc, fo, fc;
    OK(nid_clip_count(e, 0, o, &no, &fo));
    OK(nid_clip_count(e, 0, c, &nc, &fc));
    CHECK(no == nc && fo == fc && no >= 1, "nid_clip_count %zu/%zu vs "
          "%zu/%zu", no, fo, nc, fc);
    guard_ok(&p, "nid_clip_count");

    float *bo = calloc(fo, sizeof *bo), *bc = calloc(fc, sizeof *bc);
    size_t n1, n2, need;
    OK(nid_clip_build(v, e, 0, o, bo, fo, &n1, &need));
    OK(nid_clip_build(v, e, 0, c, bc, fc, &n2, &need));
    CHECK(n1 == n2 && memcmp(bo, bc, fo * sizeof *bo) == 0,
          "nid_clip_build: clips differ");
    guard_ok(&p, "nid_clip_build");

    int64_t fro[4], frc[4];
    OK(nid_clip_frames(e, 0, o, 0, fro, 4, &need));
    OK(nid_clip_frames(e, 0, c, 0, frc, 4, &need));
    CHECK(memcmp(fro, frc, sizeof fro) == 0, "nid_clip_frames differ");
    guard_ok(&p, "nid_clip_frames");

    nid_frame f = {pixels[0], W, H, W, NID_PIX_GRAY8};
    nid_box b = {10, 10, 20, 20};
    OK(nid_crop_resize(&f, &b, o, bo, 16 * 8, &need));
    OK(nid_crop_resize(&f, &b, c, bc, 16 * 8, &need));
    CHECK(memcmp(bo, bc, 16 * 8 * sizeof *bo) == 0, "nid_crop_resize differ");
    guard_ok(&p, "nid_crop_resize");

    too_small(nid_clip_count(e, 0, SMALL(nid_clip_options, p), &no, &fo),
              "nid_clip_count", "nid_clip_options");
    too_small(nid_clip_build(v, e, 0, SMALL(nid_clip_options, p), bo, fo,
                             &n1, &need), "nid_clip_build", "nid_clip_options");
    RESET(p);
    free(bo);
    free(bc);
    free_pair(&p);
}

/* ---- gallery ------------------------------------------------------------ */

static void test_gallery(void)
{
    const char *mid = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef"
                      "0123456789abcdef";
    nid_gallery *g = NULL;
    OK(nid_gallery_create(&g, mid, 2));
    const float e1[2] = {1, 0}, e2[2] = {0, 1};
    OK(nid_gallery_add(g, "P", "E0", "2023-01-01", "a", e1, 2, 2));
    OK(nid_gallery_add(g, "P", "E0", "2023-01-01", "b", e2, 2, 1));

    pair p = PAIR(nid_gallery_info);
    OK(nid_gallery_get_info(g, OLD(nid_gallery_info, p)));
    OK(nid_gallery_get_info(g, CUR(nid_gallery_info, p)));
    guard_ok(&p, "nid_gallery_get_info");
    same_fields(&p, "nid_gallery_get_info");
    CHECK(OLD(nid_gallery_info, p)->n_entries == 2, "n_entries");
    too_small(nid_gallery_get_info(g, SMALL(nid_gallery_info, p)),
              "nid_gallery_get_info", "nid_gallery_info");
    free_pair(&p);

    p = PAIR(nid_gallery_entry);
    OK(nid_gallery_get_entry(g, 1, OLD(nid_gallery_entry, p)));
    OK(nid_gallery_get_entry(g, 1, CUR(nid_gallery_entry, p)));
    guard_ok(&p, "nid_gallery_get_entry");
    same_fields(&p, "nid_gallery_get_entry");
    CHECK(strcmp(OLD(nid_gallery_entry, p)->label, "b") == 0, "entry label");
    too_small(nid_gallery_get_entry(g, 1, SMALL(nid_gallery_entry, p)),
              "nid_gallery_get_entry", "nid_gallery_entry");
    free_pair(&p);

    p = PAIR(nid_match_options);
    strcpy(OLD(nid_match_options, p)->model_id, mid);
    strcpy(CUR(nid_match_options, p)->model_id, mid);
    const float q[4] = {0.9f, 0.1f, 0.1f, 0.9f};
    int64_t mo[2], mc[2];
    float dol[2], dcu[2];
    OK(nid_gallery_match(g, "P", q, 2, 2, OLD(nid_match_options, p), mo, dol));
    OK(nid_gallery_match(g, "P", q, 2, 2, CUR(nid_match_options, p), mc, dcu));
    CHECK(mo[0] == 0 && mo[1] == 1 && memcmp(mo, mc, sizeof mo) == 0 &&
          memcmp(dol, dcu, sizeof dol) == 0, "nid_gallery_match %lld %lld",
          (long long)mo[0], (long long)mo[1]);
    guard_ok(&p, "nid_gallery_match");
    too_small(nid_gallery_match(g, "P", q, 2, 2, SMALL(nid_match_options, p),
                                mo, dol), "nid_gallery_match",
              "nid_match_options");
    free_pair(&p);
    nid_gallery_free(g);
}

/* ---- model (libtorch and the nid_models fixture) ------------------------ */

static void test_model(nid_video *v, nid_exam *e)
{
    const char *dir = getenv("NID_TEST_MODELS");
    char path[1024];
    snprintf(path, sizeof path, "%s/cm.nidm", dir ? dir : ".");
    pair p = PAIR(nid_model_options);
    OLD(nid_model_options, p)->n_threads = 1;
    nid_model *m = NULL;
    int rc = nid_model_load(&m, path, OLD(nid_model_options, p));
    guard_ok(&p, "nid_model_load");
    if (rc == NID_ENOTSUP || (!dir && rc != NID_OK)) {
        printf("model calls skipped: %s\n", dir ? "no libtorch backend"
                                                : "NID_TEST_MODELS not set");
        free_pair(&p);
        return;
    }
    CHECK(rc == NID_OK, "nid_model_load(%s) with 0.1.0 options: %d", path, rc);
    nid_model *m2 = NULL;
    too_small(nid_model_load(&m2, path, SMALL(nid_model_options, p)),
              "nid_model_load", "nid_model_options");
    free_pair(&p);
    if (rc != NID_OK) return;

    p = PAIR(nid_model_info);
    OK(nid_model_get_info(m, OLD(nid_model_info, p)));
    OK(nid_model_get_info(m, CUR(nid_model_info, p)));
    guard_ok(&p, "nid_model_get_info");
    same_fields(&p, "nid_model_get_info");
    size_t dim = (size_t)OLD(nid_model_info, p)->embed_dim;
    CHECK(dim > 0, "embed_dim %zu", dim);
    too_small(nid_model_get_info(m, SMALL(nid_model_info, p)),
              "nid_model_get_info", "nid_model_info");
    free_pair(&p);

    p = PAIR(nid_clip_options);
    OK(nid_model_clip_options(m, OLD(nid_clip_options, p)));
    OK(nid_model_clip_options(m, CUR(nid_clip_options, p)));
    guard_ok(&p, "nid_model_clip_options");
    same_fields(&p, "nid_model_clip_options");

    float *eo = calloc(dim, sizeof *eo), *ec = calloc(dim, sizeof *ec);
    size_t n1 = 0, n2 = 0;
    OK(nid_model_embed_tracklet(m, v, e, 0, OLD(nid_clip_options, p), eo, dim,
                                &n1));
    OK(nid_model_embed_tracklet(m, v, e, 0, CUR(nid_clip_options, p), ec, dim,
                                &n2));
    CHECK(n1 == n2 && memcmp(eo, ec, dim * sizeof *eo) == 0,
          "nid_model_embed_tracklet: embeddings differ");
    guard_ok(&p, "nid_model_embed_tracklet");
    too_small(nid_model_embed_tracklet(m, v, e, 0, SMALL(nid_clip_options, p),
                                       eo, dim, &n1),
              "nid_model_embed_tracklet", "nid_clip_options");
    RESET(p);
    free(eo);
    free(ec);
    free_pair(&p);
    nid_model_free(m);
}

/* ---- nid_X_init_sized (current header, abi_current.c) ----------------- */

static void sized_check(int ok, const char *what, const char *name)
{
    CHECK(ok, "%s: %s", name, what);
}

static void test_init_sized(void)
{
    size_t n = abi_current_check_sized(sized_check);
    CHECK(n == 21, "nid_X_init_sized checked for %zu structs, not 21", n);
}

int main(void)
{
    test_layout();
    test_init_sized();
    test_cluster();
    test_eval();
    nid_video *v = make_video();
    nid_exam *e = make_exam();
    test_video(v);
    test_exam(e);
    test_link();
    test_clip(v, e);
    test_gallery();
    test_model(v, e);
    nid_exam_free(e);
    nid_video_free(v);
    printf("%d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
