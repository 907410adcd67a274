/* test_link.c - linking per-frame detections into tracklets: known tracks,
 * gaps, crossing tracks, short tracks dropped, determinism, bad input. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "noduleid.h"

#define HAS(sub) \
    ck_assert_msg(strstr(nid_last_error(), (sub)) != NULL, \
                  "error \"%s\" lacks \"%s\"", nid_last_error(), (sub))

static nid_exam *make_exam(int32_t w, int32_t h, int64_t n_frames)
{
    nid_exam *e = NULL;
    ck_assert_int_eq(nid_exam_create(&e, "E", NULL, NULL), NID_OK);
    nid_exam_video_info vi;
    nid_exam_video_info_init(&vi);
    vi.id = "v0";
    vi.path = "v0.mp4";
    vi.width = w;
    vi.height = h;
    vi.n_frames = n_frames;
    ck_assert_int_eq(nid_exam_add_video(e, &vi, NULL), NID_OK);
    return e;
}

/* Ground truth track: frames [first, last] minus a skipped range, box
 * moving by (dx, dy) per frame. */
typedef struct gt {
    int64_t first, last, skip_from, skip_to;
    float x, y, dx, dy, size;
} gt;

static size_t gen(const gt *g, size_t ng, nid_detection *d)
{
    size_t n = 0;
    for (size_t i = 0; i < ng; i++) {
        for (int64_t f = g[i].first; f <= g[i].last; f++) {
            if (f >= g[i].skip_from && f <= g[i].skip_to) continue;
            float t = (float)(f - g[i].first);
            d[n++] = (nid_detection){f, {g[i].x + t * g[i].dx,
                                         g[i].y + t * g[i].dy, g[i].size,
                                         g[i].size}, 0.9f};
        }
    }
    return n;
}

/* Tracklet t must have exactly the key frames of ground truth g. */
static void assert_track(const nid_exam *e, size_t t, const gt *g)
{
    nid_tracklet_info ti;
    nid_tracklet_info_init(&ti);
    ck_assert_int_eq(nid_exam_get_tracklet(e, t, &ti), NID_OK);
    ck_assert_int_eq(ti.start, g->first);
    ck_assert_int_eq(ti.end, g->last);
    size_t want = 0;
    for (int64_t f = g->first; f <= g->last; f++)
        if (f < g->skip_from || f > g->skip_to) want++;
    ck_assert_uint_eq(ti.n_key_frames, want);
    size_t k = 0;
    for (int64_t f = g->first; f <= g->last; f++) {
        if (f >= g->skip_from && f <= g->skip_to) continue;
        int64_t kf;
        nid_box b;
        ck_assert_int_eq(nid_exam_key_frame(e, t, k++, &kf, &b), NID_OK);
        ck_assert_int_eq(kf, f);
        float tt = (float)(f - g->first);
        ck_assert(fabsf(b.x - (g->x + tt * g->dx)) < 1e-4f);
        ck_assert(fabsf(b.y - (g->y + tt * g->dy)) < 1e-4f);
    }
}

START_TEST(known_tracks_gaps_crossing)
{
    /* A: left -> right, gap of 3 frames (bridged, max_gap 5).
     * B: right -> left, crosses A around frame 30.
     * C: 5 frames long: dropped (min_length 8).
     * D: gap of 7 frames: split into two tracks. */
    const gt g[] = {
        {0, 59, 20, 22, 10, 100, 3, 0, 40},
        {10, 69, -1, -1, 190, 110, -3, 0, 40},
        {5, 9, -1, -1, 300, 300, 0, 0, 20},
        {0, 9, -1, -1, 400, 10, 0.5f, 0, 30},
        {17, 30, -1, -1, 408.5f, 10, 0.5f, 0, 30},
    };
    nid_detection *d = malloc(400 * sizeof *d);
    size_t n = gen(g, 5, d);
    nid_exam *e = make_exam(640, 480, 100);
    size_t added = 99;
    ck_assert_int_eq(nid_link_detections(e, 0, d, n, NULL, &added), NID_OK);
    ck_assert_str_eq(nid_last_error(), "");
    ck_assert_uint_eq(added, 4);
    /* order: by start frame, then creation: A (0), D1 (0), B (10), D2 */
    assert_track(e, 0, &g[0]);
    assert_track(e, 1, &g[3]);
    assert_track(e, 2, &g[1]);
    assert_track(e, 3, &g[4]);
    nid_tracklet_info ti;
    nid_tracklet_info_init(&ti);
    nid_exam_get_tracklet(e, 0, &ti);
    ck_assert_str_eq(ti.id, "v0-t0");
    ck_assert_int_eq(ti.nodule, -1);
    nid_exam_get_tracklet(e, 3, &ti);
    ck_assert_str_eq(ti.id, "v0-t3");

    /* the same detections in another input order give the same tracks */
    nid_exam *e2 = make_exam(640, 480, 100);
    for (size_t i = 0; i + 1 < n; i += 2) {   /* swap neighbours, reverse */
        nid_detection t = d[i];
        d[i] = d[n - 1 - i];
        d[n - 1 - i] = t;
    }
    ck_assert_int_eq(nid_link_detections(e2, 0, d, n, NULL, &added), NID_OK);
    ck_assert_uint_eq(added, 4);
    assert_track(e2, 0, &g[0]);
    assert_track(e2, 1, &g[3]);
    assert_track(e2, 2, &g[1]);
    assert_track(e2, 3, &g[4]);

    /* a second call adds more tracklets with fresh ids */
    ck_assert_int_eq(nid_link_detections(e2, 0, d, n, NULL, &added), NID_OK);
    nid_exam_get_tracklet(e2, 4, &ti);
    ck_assert_str_eq(ti.id, "v0-t4");
    nid_exam_free(e);
    nid_exam_free(e2);
    free(d);
}
END_TEST

START_TEST(options)
{
    /* one steady track with one gap of 6 frames */
    const gt g[] = {{0, 29, 10, 15, 50, 50, 1, 1, 30}};
    nid_detection d[64];
    size_t n = gen(g, 1, d);
    nid_link_options o;
    nid_link_options_init(&o);
    ck_assert(o.iou_threshold == 0.3f && o.max_gap == 5 &&
              o.min_length == 8 && o.min_score == 0.0f);
    nid_exam *e = make_exam(0, 0, -1);
    size_t added;
    /* default max_gap 5: split into [0, 9] and [16, 29] */
    ck_assert_int_eq(nid_link_detections(e, 0, d, n, &o, &added), NID_OK);
    ck_assert_uint_eq(added, 2);
    o.max_gap = 6;
    ck_assert_int_eq(nid_link_detections(e, 0, d, n, &o, &added), NID_OK);
    ck_assert_uint_eq(added, 1);
    /* min_length: [0, 9] is 10 frames long, [16, 29] 14 */
    o.max_gap = 5;
    o.min_length = 11;
    ck_assert_int_eq(nid_link_detections(e, 0, d, n, &o, &added), NID_OK);
    ck_assert_uint_eq(added, 1);
    nid_tracklet_info ti;
    nid_tracklet_info_init(&ti);
    nid_exam_get_tracklet(e, 3, &ti);
    ck_assert_int_eq(ti.start, 16);
    /* min_score drops every detection */
    o.min_length = 1;
    o.min_score = 0.95f;
    ck_assert_int_eq(nid_link_detections(e, 0, d, n, &o, &added), NID_OK);
    ck_assert_uint_eq(added, 0);
    /* an IoU threshold above the frame-to-frame overlap breaks the track
     * into single frames: IoU of a 30 box moved by (1, 1) is 841/959 */
    o.min_score = 0;
    o.iou_threshold = 0.9f;
    ck_assert_int_eq(nid_link_detections(e, 0, d, 3, &o, &added), NID_OK);
    ck_assert_uint_eq(added, 3);
    o.iou_threshold = 0.87f;
    ck_assert_int_eq(nid_link_detections(e, 0, d, 3, &o, &added), NID_OK);
    ck_assert_uint_eq(added, 1);
    /* n == 0 adds nothing */
    ck_assert_int_eq(nid_link_detections(e, 0, NULL, 0, &o, &added), NID_OK);
    ck_assert_uint_eq(added, 0);
    nid_exam_free(e);
}
END_TEST

START_TEST(greedy_highest_iou_first)
{
    /* two tracks side by side; on frame 1 one detection overlaps both, the
     * one it overlaps more takes it, the other track closes */
    nid_detection d[] = {
        {0, {0, 0, 10, 10}, 1}, {0, {12, 0, 10, 10}, 1},
        {1, {9, 0, 10, 10}, 1},     /* IoU 1/19 with first, 7/13 second */
    };
    nid_link_options o;
    nid_link_options_init(&o);
    o.iou_threshold = 0.01f;
    o.min_length = 1;
    nid_exam *e = make_exam(100, 100, 10);
    size_t added;
    ck_assert_int_eq(nid_link_detections(e, 0, d, 3, &o, &added), NID_OK);
    ck_assert_uint_eq(added, 2);
    nid_tracklet_info ti;
    nid_tracklet_info_init(&ti);
    nid_exam_get_tracklet(e, 0, &ti);
    ck_assert_int_eq(ti.end, 0);          /* first track: frame 0 only */
    nid_exam_get_tracklet(e, 1, &ti);
    ck_assert_int_eq(ti.end, 1);
    nid_box b;
    nid_exam_key_frame(e, 1, 0, NULL, &b);
    ck_assert(b.x == 12);
    nid_exam_free(e);
}
END_TEST

START_TEST(bad_input)
{
    nid_exam *e = make_exam(100, 80, 50);
    nid_detection d[] = {{0, {1, 1, 10, 10}, 1}, {1, {1, 1, 10, 10}, 1}};
    size_t added = 42;
    ck_assert_int_eq(nid_link_detections(NULL, 0, d, 2, NULL, &added),
                     NID_EINVAL);
    ck_assert_int_eq(nid_link_detections(e, 0, NULL, 2, NULL, &added),
                     NID_EINVAL);
    ck_assert_int_eq(nid_link_detections(e, 1, d, 2, NULL, &added),
                     NID_ERANGE);
    d[1].frame = -1;
    ck_assert_int_eq(nid_link_detections(e, 0, d, 2, NULL, &added),
                     NID_EINVAL);
    HAS("detection 1");
    d[1].frame = 1;
    d[1].box.w = NAN;
    ck_assert_int_eq(nid_link_detections(e, 0, d, 2, NULL, &added),
                     NID_EINVAL);
    HAS("detection 1");
    d[1].box.w = 10;
    d[1].score = NAN;
    ck_assert_int_eq(nid_link_detections(e, 0, d, 2, NULL, &added),
                     NID_EINVAL);
    d[1].score = 1;
    d[1].box.x = 95;
    ck_assert_int_eq(nid_link_detections(e, 0, d, 2, NULL, &added),
                     NID_EINVAL);
    HAS("100x80");
    d[1].box.x = 1;
    d[1].frame = 50;
    ck_assert_int_eq(nid_link_detections(e, 0, d, 2, NULL, &added),
                     NID_EINVAL);
    HAS("frame 50");
    d[1].frame = 1;
    nid_link_options o;
    nid_link_options_init(&o);
    o.iou_threshold = 1.5f;
    ck_assert_int_eq(nid_link_detections(e, 0, d, 2, &o, &added),
                     NID_EINVAL);
    HAS("iou_threshold");
    nid_link_options_init(&o);
    o.max_gap = -1;
    ck_assert_int_eq(nid_link_detections(e, 0, d, 2, &o, &added),
                     NID_EINVAL);
    nid_link_options_init(&o);
    o.min_length = 0;
    ck_assert_int_eq(nid_link_detections(e, 0, d, 2, &o, &added),
                     NID_EINVAL);
    nid_link_options_init(&o);
    o.struct_size = 4;
    ck_assert_int_eq(nid_link_detections(e, 0, d, 2, &o, &added),
                     NID_EINVAL);
    ck_assert_uint_eq(added, 42);
    nid_exam_info info;
    nid_exam_info_init(&info);
    nid_exam_get_info(e, &info);
    ck_assert_uint_eq(info.n_tracklets, 0);   /* exam unchanged */
    nid_exam_free(e);
}
END_TEST

Suite *nid__test_suite(void)
{
    Suite *s = suite_create("link");
    TCase *tc = tcase_create("link");
    tcase_add_test(tc, known_tracks_gaps_crossing);
    tcase_add_test(tc, options);
    tcase_add_test(tc, greedy_highest_iou_first);
    tcase_add_test(tc, bad_input);
    suite_add_tcase(s, tc);
    return s;
}
