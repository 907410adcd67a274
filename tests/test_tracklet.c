/* test_tracklet.c - exam JSON load/save, accessors, box interpolation and
 * every bad-input case of the annotation format. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "noduleid.h"
#include "test_util.h"

static void setup(void)
{
    nid__test_scratch_setup("tracklet");
}

static void teardown(void)
{
    nid__test_scratch_teardown();
}


static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

/* A valid exam: two videos, three tracklets, meta and x_ keys. */
static const char *GOOD =
    "{\"format\": \"noduleid-exam\", \"version\": 1,\n"
    " \"exam_id\": \"E1\", \"patient_id\": \"P7\", \"date\": \"2023-08-01\",\n"
    " \"x_scanner\": \"demo\",\n"
    " \"videos\": [\n"
    "  {\"id\": \"v0\", \"path\": \"v0.mp4\", \"n_frames\": 300, \"fps\": 25.0,\n"
    "   \"width\": 640, \"height\": 480, \"x_probe\": \"L12\",\n"
    "   \"tracklets\": [\n"
    "    {\"id\": \"v0-t0\", \"nodule\": 1, \"start\": 10, \"end\": 30,\n"
    "     \"key_frames\": [{\"frame\": 10, \"box\": [10, 20, 30, 40]},\n"
    "                    {\"frame\": 20, \"box\": [20, 10, 50, 20],\n"
    "                     \"x_note\": \"morphology change\"},\n"
    "                    {\"frame\": 30, \"box\": [0.5, 0.25, 10.1, 10]}]},\n"
    "    {\"id\": \"v0-t1\", \"start\": 40, \"end\": 40,\n"
    "     \"key_frames\": [{\"frame\": 40, \"box\": [100, 100, 50, 60]}],\n"
    "     \"x_tag\": [1, 2]}]},\n"
    "  {\"id\": \"v1\", \"path\": \"sub/v1.avi\",\n"
    "   \"tracklets\": [\n"
    "    {\"id\": \"v1-t0\", \"nodule\": 2, \"start\": 0, \"end\": 5,\n"
    "     \"key_frames\": [{\"frame\": 0, \"box\": [1, 2, 3, 4]},\n"
    "                    {\"frame\": 5, \"box\": [2, 3, 4, 5]}]}]}],\n"
    " \"meta\": {\"site\": \"A\", \"nested\": {\"k\": [1, 2.5, null]}}}\n";

static void assert_good_exam(const nid_exam *e)
{
    nid_exam_info info;
    nid_exam_info_init(&info);
    ck_assert_int_eq(nid_exam_get_info(e, &info), NID_OK);
    ck_assert_str_eq(info.exam_id, "E1");
    ck_assert_str_eq(info.patient_id, "P7");
    ck_assert_str_eq(info.date, "2023-08-01");
    ck_assert_ptr_nonnull(strstr(info.meta_json, "\"nested\""));
    ck_assert_uint_eq(info.n_videos, 2);
    ck_assert_uint_eq(info.n_tracklets, 3);

    nid_exam_video_info v;
    nid_exam_video_info_init(&v);
    ck_assert_int_eq(nid_exam_get_video(e, 0, &v), NID_OK);
    ck_assert_str_eq(v.id, "v0");
    ck_assert_str_eq(v.path, "v0.mp4");
    ck_assert_int_eq(v.n_frames, 300);
    ck_assert(v.fps == 25.0);
    ck_assert_int_eq(v.width, 640);
    ck_assert_int_eq(v.height, 480);
    ck_assert_uint_eq(v.first_tracklet, 0);
    ck_assert_uint_eq(v.n_tracklets, 2);
    ck_assert_int_eq(nid_exam_get_video(e, 1, &v), NID_OK);
    ck_assert_str_eq(v.path, "sub/v1.avi");
    ck_assert_int_eq(v.n_frames, -1);
    ck_assert(v.fps == 0.0);
    ck_assert_int_eq(v.width, 0);
    ck_assert_uint_eq(v.first_tracklet, 2);
    ck_assert_uint_eq(v.n_tracklets, 1);

    nid_tracklet_info t;
    nid_tracklet_info_init(&t);
    ck_assert_int_eq(nid_exam_get_tracklet(e, 0, &t), NID_OK);
    ck_assert_str_eq(t.id, "v0-t0");
    ck_assert_int_eq(t.nodule, 1);
    ck_assert_int_eq(t.start, 10);
    ck_assert_int_eq(t.end, 30);
    ck_assert_uint_eq(t.n_key_frames, 3);
    ck_assert_int_eq(nid_exam_get_tracklet(e, 1, &t), NID_OK);
    ck_assert_int_eq(t.nodule, -1);
    ck_assert_int_eq(t.start, 40);
    ck_assert_int_eq(t.end, 40);
    ck_assert_int_eq(nid_exam_get_tracklet(e, 2, &t), NID_OK);
    ck_assert_str_eq(t.id, "v1-t0");
    ck_assert_uint_eq(t.video, 1);

    int64_t f;
    nid_box b;
    ck_assert_int_eq(nid_exam_key_frame(e, 0, 2, &f, &b), NID_OK);
    ck_assert_int_eq(f, 30);
    ck_assert(b.x == 0.5f && b.y == 0.25f && b.w == 10.1f && b.h == 10.0f);
}

START_TEST(load_good)
{
    const char *p = nid__test_write_file("good.json", GOOD);
    nid_exam *e = NULL;
    ck_assert_int_eq(nid_exam_load(&e, p), NID_OK);
    ck_assert_str_eq(nid_last_error(), "");
    assert_good_exam(e);
    /* relative paths resolve against the JSON file's directory */
    nid_exam_video_info v;
    nid_exam_video_info_init(&v);
    ck_assert_int_eq(nid_exam_get_video(e, 1, &v), NID_OK);
    char want[512];
    snprintf(want, sizeof want, "%s/sub/v1.avi", nid_test_tmpdir);
    ck_assert_str_eq(v.resolved_path, want);
    size_t t;
    ck_assert_int_eq(nid_exam_find_tracklet(e, "v1-t0", &t), NID_OK);
    ck_assert_uint_eq(t, 2);
    t = 99;
    ck_assert_int_eq(nid_exam_find_tracklet(e, "nope", &t), NID_ERANGE);
    ck_assert_uint_eq(t, 99);
    HAS("nope");
    nid_exam_free(e);
}
END_TEST

START_TEST(round_trip)
{
    const char *p = nid__test_write_file("good.json", GOOD);
    char p1[512], p2[512];
    snprintf(p1, sizeof p1, "%s/saved1.json", nid_test_tmpdir);
    snprintf(p2, sizeof p2, "%s/saved2.json", nid_test_tmpdir);
    nid_exam *a = NULL, *b = NULL, *c = NULL;
    ck_assert_int_eq(nid_exam_load(&a, p), NID_OK);
    ck_assert_int_eq(nid_exam_save(a, p1), NID_OK);
    ck_assert_int_eq(nid_exam_load(&b, p1), NID_OK);
    assert_good_exam(b);
    /* every key frame and box equal, bit for bit */
    nid_exam_info ia, ib;
    nid_exam_info_init(&ia);
    nid_exam_info_init(&ib);
    nid_exam_get_info(a, &ia);
    nid_exam_get_info(b, &ib);
    ck_assert_str_eq(ia.meta_json, ib.meta_json);
    for (size_t t = 0; t < ia.n_tracklets; t++) {
        nid_tracklet_info ta, tb;
        nid_tracklet_info_init(&ta);
        nid_tracklet_info_init(&tb);
        nid_exam_get_tracklet(a, t, &ta);
        nid_exam_get_tracklet(b, t, &tb);
        ck_assert_str_eq(ta.id, tb.id);
        ck_assert_uint_eq(ta.n_key_frames, tb.n_key_frames);
        for (size_t k = 0; k < ta.n_key_frames; k++) {
            int64_t fa, fb;
            nid_box ba, bb;
            nid_exam_key_frame(a, t, k, &fa, &ba);
            nid_exam_key_frame(b, t, k, &fb, &bb);
            ck_assert_int_eq(fa, fb);
            ck_assert(memcmp(&ba, &bb, sizeof ba) == 0);
        }
    }
    /* a second save writes the same bytes; x_ keys survive */
    ck_assert_int_eq(nid_exam_save(b, p2), NID_OK);
    char *s1 = read_text(p1), *s2 = read_text(p2);
    ck_assert_str_eq(s1, s2);
    ck_assert_ptr_nonnull(strstr(s1, "\"x_note\": \"morphology change\""));
    ck_assert_ptr_nonnull(strstr(s1, "\"x_scanner\""));
    ck_assert_ptr_nonnull(strstr(s1, "\"x_probe\""));
    ck_assert_ptr_nonnull(strstr(s1, "\"x_tag\""));
    ck_assert_ptr_nonnull(strstr(s1, "10.1,"));  /* shortest float text */
    free(s1);
    free(s2);
    /* an exam built in memory round-trips too */
    nid_exam *m = NULL;
    ck_assert_int_eq(nid_exam_create(&m, "E2", NULL, "2024-02-29"), NID_OK);
    nid_exam_video_info vi;
    nid_exam_video_info_init(&vi);
    vi.id = "a";
    vi.path = "a.mp4";
    vi.width = 100;
    vi.height = 80;
    ck_assert_int_eq(nid_exam_add_video(m, &vi, NULL), NID_OK);
    int64_t fr[2] = {3, 9};
    nid_box bx[2] = {{1.25f, 2, 3, 4}, {5, 6, 7.75f, 8}};
    ck_assert_int_eq(nid_exam_add_tracklet(m, 0, "a-0", 4, fr, bx, 2, NULL),
                     NID_OK);
    ck_assert_int_eq(nid_exam_set_meta(m, "{\"k\": 1}"), NID_OK);
    ck_assert_int_eq(nid_exam_save(m, p2), NID_OK);
    ck_assert_int_eq(nid_exam_load(&c, p2), NID_OK);
    nid_exam_info ic;
    nid_exam_info_init(&ic);
    nid_exam_get_info(c, &ic);
    ck_assert_str_eq(ic.exam_id, "E2");
    ck_assert_ptr_null(ic.patient_id);
    ck_assert_str_eq(ic.meta_json, "{\"k\":1}");
    nid_box got;
    ck_assert_int_eq(nid_exam_key_frame(c, 0, 1, NULL, &got), NID_OK);
    ck_assert(memcmp(&got, &bx[1], sizeof got) == 0);
    nid_exam_free(a);
    nid_exam_free(b);
    nid_exam_free(c);
    nid_exam_free(m);
}
END_TEST

static void box_eq(nid_box b, float x, float y, float w, float h)
{
    ck_assert_msg(fabsf(b.x - x) < 1e-5f && fabsf(b.y - y) < 1e-5f &&
                  fabsf(b.w - w) < 1e-5f && fabsf(b.h - h) < 1e-5f,
                  "box [%g %g %g %g] != [%g %g %g %g]", b.x, b.y, b.w, b.h,
                  x, y, w, h);
}

START_TEST(union_and_linear_boxes)
{
    nid_exam *e = NULL;
    ck_assert_int_eq(nid_exam_load(&e, nid__test_write_file("g.json", GOOD)), NID_OK);
    nid_box b;
    /* key frames get their own box under both rules */
    ck_assert_int_eq(nid_exam_tracklet_box(e, 0, 10, NID_INTERP_UNION, &b),
                     NID_OK);
    box_eq(b, 10, 20, 30, 40);
    nid_exam_tracklet_box(e, 0, 20, NID_INTERP_LINEAR, &b);
    box_eq(b, 20, 10, 50, 20);
    /* between 10 [10,20,30,40] and 20 [20,10,50,20]: corners (10,20)-(40,60)
     * and (20,10)-(70,30); union (10,10)-(70,60) */
    nid_exam_tracklet_box(e, 0, 15, NID_INTERP_UNION, &b);
    box_eq(b, 10, 10, 60, 50);
    nid_exam_tracklet_box(e, 0, 11, NID_INTERP_UNION, &b);
    box_eq(b, 10, 10, 60, 50);
    /* linear at 12: s = 0.2 */
    nid_exam_tracklet_box(e, 0, 12, NID_INTERP_LINEAR, &b);
    box_eq(b, 12, 18, 34, 36);
    nid_exam_tracklet_box(e, 0, 15, NID_INTERP_LINEAR, &b);
    box_eq(b, 15, 15, 40, 30);
    /* between 20 and 30 [0.5,0.25,10.1,10]: union (0.5,0.25)-(70,30) */
    nid_exam_tracklet_box(e, 0, 25, NID_INTERP_UNION, &b);
    box_eq(b, 0.5f, 0.25f, 69.5f, 29.75f);
    nid_exam_tracklet_box(e, 0, 29, NID_INTERP_LINEAR, &b);
    box_eq(b, 20 + 0.9f * (0.5f - 20), 10 + 0.9f * (0.25f - 10),
           50 + 0.9f * (10.1f - 50), 20 + 0.9f * (10 - 20));
    /* single-frame tracklet */
    nid_exam_tracklet_box(e, 1, 40, NID_INTERP_UNION, &b);
    box_eq(b, 100, 100, 50, 60);
    /* out of the tracklet, unknown rule, bad index */
    nid_box keep = {7, 7, 7, 7};
    ck_assert_int_eq(nid_exam_tracklet_box(e, 0, 9, NID_INTERP_UNION, &keep),
                     NID_ERANGE);
    HAS("v0-t0");
    ck_assert_int_eq(nid_exam_tracklet_box(e, 0, 31, NID_INTERP_UNION,
                                           &keep), NID_ERANGE);
    ck_assert_int_eq(nid_exam_tracklet_box(e, 0, 15, 7, &keep), NID_EINVAL);
    ck_assert_int_eq(nid_exam_tracklet_box(e, 3, 15, 0, &keep), NID_ERANGE);
    ck_assert(keep.x == 7 && keep.w == 7);
    nid_exam_free(e);
}
END_TEST

START_TEST(iou)
{
    nid_box a = {0, 0, 10, 10}, b = {5, 0, 10, 10}, c = {20, 20, 5, 5};
    ck_assert(fabsf(nid_box_iou(&a, &b) - 50.0f / 150.0f) < 1e-6f);
    ck_assert(nid_box_iou(&a, &a) == 1.0f);
    ck_assert(nid_box_iou(&a, &c) == 0.0f);
    nid_box z = {0, 0, 0, 10}, n = {NAN, 0, 1, 1};
    ck_assert(nid_box_iou(&a, &z) == 0.0f);
    ck_assert(nid_box_iou(&a, &n) == 0.0f);
    ck_assert(nid_box_iou(NULL, &a) == 0.0f);
}
END_TEST

/* Load `text` and expect `status` with every fragment in the message. */
static void expect_bad(const char *text, int status, const char *frag1,
                       const char *frag2)
{
    const char *p = nid__test_write_file("bad.json", text);
    nid_exam *e = (nid_exam *)0x1;  /* untouched on failure */
    int rc = nid_exam_load(&e, p);
    ck_assert_msg(rc == status, "status %d (%s), want %d for:\n%s", rc,
                  nid_last_error(), status, text);
    ck_assert_ptr_eq(e, (nid_exam *)0x1);
    HAS("bad.json");
    if (frag1) HAS(frag1);
    if (frag2) HAS(frag2);
    if (getenv("NID_TEST_VERBOSE")) printf("%s\n", nid_last_error());
}

/* GOOD-like document with one tracklet whose body is `trk`. */
static char *with_tracklet(const char *trk)
{
    static char buf[4096];
    snprintf(buf, sizeof buf,
             "{\"format\": \"noduleid-exam\", \"version\": 1, \"videos\": ["
             "{\"id\": \"v0\", \"path\": \"v0.mp4\", \"width\": 640, "
             "\"height\": 480, \"n_frames\": 100, \"tracklets\": ["
             "{\"id\": \"ok\", \"start\": 0, \"end\": 1, \"key_frames\": ["
             "{\"frame\": 0, \"box\": [1, 1, 5, 5]}, {\"frame\": 1, \"box\": "
             "[1, 1, 5, 5]}]}, %s]}]}", trk);
    return buf;
}

START_TEST(bad_input)
{
    /* missing file */
    char missing[512];
    snprintf(missing, sizeof missing, "%s/none.json", nid_test_tmpdir);
    nid_exam *e = NULL;
    ck_assert_int_eq(nid_exam_load(&e, missing), NID_EIO);
    HAS("none.json");
    ck_assert_ptr_null(e);
    ck_assert_int_eq(nid_exam_load(NULL, missing), NID_EINVAL);
    ck_assert_int_eq(nid_exam_load(&e, NULL), NID_EINVAL);

    /* truncated JSON: cut the good file in half */
    char half[2048];
    size_t nh = strlen(GOOD) / 2;
    memcpy(half, GOOD, nh);
    half[nh] = '\0';
    expect_bad(half, NID_EFORMAT, "not valid JSON", "line");
    expect_bad("", NID_EFORMAT, "not valid JSON", NULL);
    expect_bad("[1, 2]", NID_EFORMAT, "expected an object", NULL);

    /* header fields */
    expect_bad("{\"format\": \"other\", \"version\": 1, \"videos\": []}",
               NID_EFORMAT, "format", "noduleid-exam");
    expect_bad("{\"format\": \"noduleid-exam\", \"version\": 2, "
               "\"videos\": []}", NID_EFORMAT, "version", "not supported");
    expect_bad("{\"format\": \"noduleid-exam\", \"version\": 1}",
               NID_EFORMAT, "videos", "missing");
    expect_bad("{\"format\": \"noduleid-exam\", \"version\": 1, "
               "\"videos\": [], \"date\": \"1/2/2023\"}", NID_EFORMAT,
               "date", "YYYY-MM-DD");
    expect_bad("{\"format\": \"noduleid-exam\", \"version\": 1, "
               "\"videos\": [], \"meta\": 3}", NID_EFORMAT, "meta",
               "expected an object");
    /* duplicate key in an object */
    expect_bad("{\"format\": \"noduleid-exam\", \"version\": 1, "
               "\"version\": 1, \"videos\": []}", NID_EFORMAT, "duplicate",
               NULL);

    /* unknown fields, at each level; x_ keys and meta are free */
    expect_bad("{\"format\": \"noduleid-exam\", \"version\": 1, "
               "\"videos\": [], \"colour\": 1}", NID_EFORMAT, "colour",
               "unknown field");
    expect_bad("{\"format\": \"noduleid-exam\", \"version\": 1, \"videos\": "
               "[{\"id\": \"a\", \"path\": \"a\", \"fsp\": 25}]}",
               NID_EFORMAT, "videos[0].fsp", "unknown field");
    expect_bad(with_tracklet("{\"id\": \"t\", \"start\": 0, \"end\": 0, "
                             "\"colour\": 1, \"key_frames\": []}"),
               NID_EFORMAT, "videos[0].tracklets[1].colour", "unknown");
    expect_bad(with_tracklet("{\"id\": \"t\", \"start\": 0, \"end\": 0, "
                             "\"key_frames\": [{\"frame\": 0, \"box\": "
                             "[1, 1, 2, 2], \"bx\": 0}]}"),
               NID_EFORMAT, "videos[0].tracklets[1].key_frames[0].bx",
               "unknown");

    /* wrong JSON types */
    expect_bad(with_tracklet("{\"id\": \"t\", \"start\": \"0\", \"end\": 0,"
                             " \"key_frames\": []}"),
               NID_EFORMAT, "videos[0].tracklets[1].start",
               "expected an integer, got a string");
    expect_bad(with_tracklet("{\"id\": 5, \"start\": 0, \"end\": 0,"
                             " \"key_frames\": []}"),
               NID_EFORMAT, "videos[0].tracklets[1].id", "expected a string");
    expect_bad(with_tracklet("{\"id\": \"t\", \"start\": 0, \"end\": 1, "
                             "\"key_frames\": [{\"frame\": 0, \"box\": "
                             "[1, 1, 2, 2]}, {\"frame\": 1, \"box\": "
                             "[1, 1, \"2\", 2]}]}"),
               NID_EFORMAT, "videos[0].tracklets[1].key_frames[1].box",
               "expected a number");
    expect_bad(with_tracklet("{\"id\": \"t\", \"start\": 0, \"end\": 0, "
                             "\"key_frames\": [{\"frame\": 0, \"box\": "
                             "[1, 1, 2]}]}"),
               NID_EFORMAT, "key_frames[0].box", "4 numbers");
    expect_bad(with_tracklet("{\"id\": \"t\", \"start\": 0, \"end\": 0, "
                             "\"key_frames\": {}}"),
               NID_EFORMAT, "tracklets[1].key_frames", "expected an array");
    expect_bad(with_tracklet("{\"id\": \"t\", \"start\": 0, \"end\": 0, "
                             "\"key_frames\": [{\"frame\": 0.5, \"box\": "
                             "[1, 1, 2, 2]}]}"),
               NID_EFORMAT, "key_frames[0].frame", "got a real number");

    /* zero-area box */
    expect_bad(with_tracklet("{\"id\": \"t\", \"start\": 0, \"end\": 1, "
                             "\"key_frames\": [{\"frame\": 0, \"box\": "
                             "[1, 1, 2, 2]}, {\"frame\": 1, \"box\": "
                             "[1, 1, 0, 2]}]}"),
               NID_EFORMAT, "videos[0].tracklets[1].key_frames[1].box",
               "w > 0");
    /* key frames out of order */
    expect_bad(with_tracklet("{\"id\": \"t\", \"start\": 0, \"end\": 9, "
                             "\"key_frames\": [{\"frame\": 0, \"box\": "
                             "[1, 1, 2, 2]}, {\"frame\": 6, \"box\": "
                             "[1, 1, 2, 2]}, {\"frame\": 4, \"box\": "
                             "[1, 1, 2, 2]}, {\"frame\": 9, \"box\": "
                             "[1, 1, 2, 2]}]}"),
               NID_EFORMAT, "videos[0].tracklets[1].key_frames[2].frame",
               "strictly increasing");
    /* repeated key frame */
    expect_bad(with_tracklet("{\"id\": \"t\", \"start\": 0, \"end\": 9, "
                             "\"key_frames\": [{\"frame\": 0, \"box\": "
                             "[1, 1, 2, 2]}, {\"frame\": 0, \"box\": "
                             "[1, 1, 2, 2]}, {\"frame\": 9, \"box\": "
                             "[1, 1, 2, 2]}]}"),
               NID_EFORMAT, "key_frames[1].frame", "strictly increasing");
    /* key frame outside [start, end] */
    expect_bad(with_tracklet("{\"id\": \"t\", \"start\": 10, \"end\": 20, "
                             "\"key_frames\": [{\"frame\": 10, \"box\": "
                             "[1, 1, 2, 2]}, {\"frame\": 25, \"box\": "
                             "[1, 1, 2, 2]}]}"),
               NID_EFORMAT, "tracklets[1].key_frames[1].frame",
               "outside the tracklet's [start, end] = [10, 20]");
    /* start / end not key frames */
    expect_bad(with_tracklet("{\"id\": \"t\", \"start\": 10, \"end\": 20, "
                             "\"key_frames\": [{\"frame\": 12, \"box\": "
                             "[1, 1, 2, 2]}, {\"frame\": 20, \"box\": "
                             "[1, 1, 2, 2]}]}"),
               NID_EFORMAT, "tracklets[1].key_frames", "start frame 10");
    expect_bad(with_tracklet("{\"id\": \"t\", \"start\": 10, \"end\": 20, "
                             "\"key_frames\": [{\"frame\": 10, \"box\": "
                             "[1, 1, 2, 2]}, {\"frame\": 19, \"box\": "
                             "[1, 1, 2, 2]}]}"),
               NID_EFORMAT, "tracklets[1].key_frames", "end frame 20");
    expect_bad(with_tracklet("{\"id\": \"t\", \"start\": 10, \"end\": 20, "
                             "\"key_frames\": []}"),
               NID_EFORMAT, "tracklets[1].key_frames", "empty");
    /* tracklet shorter than one frame */
    expect_bad(with_tracklet("{\"id\": \"t\", \"start\": 10, \"end\": 9, "
                             "\"key_frames\": [{\"frame\": 10, \"box\": "
                             "[1, 1, 2, 2]}]}"),
               NID_EFORMAT, "videos[0].tracklets[1].end",
               "end 9 < start 10");
    /* past the video's end */
    expect_bad(with_tracklet("{\"id\": \"t\", \"start\": 10, \"end\": 100, "
                             "\"key_frames\": [{\"frame\": 10, \"box\": "
                             "[1, 1, 2, 2]}, {\"frame\": 100, \"box\": "
                             "[1, 1, 2, 2]}]}"),
               NID_EFORMAT, "tracklets[1].end", "last frame 99");
    /* box outside the frame: names the tracklet and the frame */
    expect_bad(with_tracklet("{\"id\": \"t7\", \"start\": 10, \"end\": 40, "
                             "\"key_frames\": [{\"frame\": 10, \"box\": "
                             "[1, 1, 2, 2]}, {\"frame\": 40, \"box\": "
                             "[600, 10, 100, 50]}]}"),
               NID_EFORMAT, "tracklets[1].key_frames[1].box",
               "tracklet \"t7\", frame 40");
    HAS("640x480");
    /* within the one-pixel slack is fine */
    const char *p = nid__test_write_file("slack.json", with_tracklet(
        "{\"id\": \"t\", \"start\": 0, \"end\": 0, \"key_frames\": "
        "[{\"frame\": 0, \"box\": [-0.5, 0, 640.5, 480.9]}]}"));
    ck_assert_int_eq(nid_exam_load(&e, p), NID_OK);
    nid_exam_free(e);
    /* negative nodule other than -1, negative frame */
    expect_bad(with_tracklet("{\"id\": \"t\", \"nodule\": -2, \"start\": 0, "
                             "\"end\": 0, \"key_frames\": [{\"frame\": 0, "
                             "\"box\": [1, 1, 2, 2]}]}"),
               NID_EFORMAT, "tracklets[1].nodule", "out of range");
    /* duplicate ids */
    expect_bad(with_tracklet("{\"id\": \"ok\", \"start\": 0, \"end\": 0, "
                             "\"key_frames\": [{\"frame\": 0, \"box\": "
                             "[1, 1, 2, 2]}]}"),
               NID_EFORMAT, "videos[0].tracklets[1].id", "used twice");
    expect_bad("{\"format\": \"noduleid-exam\", \"version\": 1, \"videos\": "
               "[{\"id\": \"a\", \"path\": \"a\"}, {\"id\": \"a\", \"path\": "
               "\"b\"}]}", NID_EFORMAT, "videos[1].id", "used twice");
    /* width without height */
    expect_bad("{\"format\": \"noduleid-exam\", \"version\": 1, \"videos\": "
               "[{\"id\": \"a\", \"path\": \"a\", \"width\": 5}]}",
               NID_EFORMAT, "videos[0].height", "both");
}
END_TEST

START_TEST(save_is_atomic)
{
    nid_exam *e = NULL;
    ck_assert_int_eq(nid_exam_load(&e, nid__test_write_file("g.json", GOOD)), NID_OK);
    /* a directory that does not exist */
    char bad_path[512];
    snprintf(bad_path, sizeof bad_path, "%s/no/such/dir/x.json", nid_test_tmpdir);
    ck_assert_int_eq(nid_exam_save(e, bad_path), NID_EIO);
    HAS("no/such/dir/x.json");
    ck_assert_int_eq(nid_exam_save(e, NULL), NID_EINVAL);
    ck_assert_int_eq(nid_exam_save(NULL, bad_path), NID_EINVAL);

    /* a write that fails part-way (file size limit) leaves the old file
     * as it was and no temporary file behind */
    const char *old = nid__test_write_file("old.json", "old content\n");
    char old_path[512];
    snprintf(old_path, sizeof old_path, "%s", old);
    struct rlimit saved, lim;
    getrlimit(RLIMIT_FSIZE, &saved);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = saved;
    lim.rlim_cur = 100;  /* the exam text is ~1.5 kB */
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc = nid_exam_save(e, old_path);
    setrlimit(RLIMIT_FSIZE, &saved);
    signal(SIGXFSZ, prev);
    ck_assert_int_eq(rc, NID_EIO);
    HAS("old.json");
    char *s = read_text(old_path);
    ck_assert_str_eq(s, "old content\n");
    free(s);
    DIR *d = opendir(nid_test_tmpdir);
    struct dirent *de;
    while ((de = readdir(d)))
        ck_assert_msg(strstr(de->d_name, ".tmp.") == NULL,
                      "temporary file %s left behind", de->d_name);
    closedir(d);
    /* and a successful save replaces it */
    ck_assert_int_eq(nid_exam_save(e, old_path), NID_OK);
    nid_exam *again = NULL;
    ck_assert_int_eq(nid_exam_load(&again, old_path), NID_OK);
    assert_good_exam(again);
    nid_exam_free(again);
    nid_exam_free(e);
}
END_TEST

START_TEST(build_in_memory)
{
    nid_exam *e = NULL;
    ck_assert_int_eq(nid_exam_create(&e, NULL, NULL, "2023-13-01"),
                     NID_EINVAL);
    HAS("2023-13-01");
    ck_assert_ptr_null(e);
    ck_assert_int_eq(nid_exam_create(&e, "x", "p", NULL), NID_OK);
    nid_exam_video_info vi;
    nid_exam_video_info_init(&vi);
    vi.id = "v0";
    vi.path = "/data/v0.mp4";
    vi.width = 64;
    vi.height = 48;
    vi.n_frames = 50;
    size_t idx = 77;
    ck_assert_int_eq(nid_exam_add_video(e, &vi, &idx), NID_OK);
    ck_assert_uint_eq(idx, 0);
    ck_assert_int_eq(nid_exam_add_video(e, &vi, &idx), NID_EINVAL);
    HAS("v0");
    vi.id = "v1";
    vi.path = "v1.mp4";
    vi.width = 0;
    vi.height = 0;
    vi.n_frames = -1;
    ck_assert_int_eq(nid_exam_add_video(e, &vi, &idx), NID_OK);
    ck_assert_uint_eq(idx, 1);
    vi.id = "v2";
    vi.fps = NAN;
    ck_assert_int_eq(nid_exam_add_video(e, &vi, &idx), NID_EINVAL);
    HAS("fps");
    vi.fps = 0;
    vi.width = 5;  /* height missing */
    ck_assert_int_eq(nid_exam_add_video(e, &vi, &idx), NID_EINVAL);

    nid_exam_video_info got;
    nid_exam_video_info_init(&got);
    nid_exam_get_video(e, 0, &got);
    ck_assert_str_eq(got.resolved_path, "/data/v0.mp4");
    nid_exam_get_video(e, 1, &got);
    ck_assert_str_eq(got.resolved_path, "v1.mp4");

    int64_t fr[3] = {5, 10, 20};
    nid_box bx[3] = {{1, 1, 10, 10}, {2, 2, 10, 10}, {3, 3, 10, 10}};
    ck_assert_int_eq(nid_exam_add_tracklet(e, 1, "b", -1, fr, bx, 3, &idx),
                     NID_OK);
    ck_assert_uint_eq(idx, 0);
    /* adding to an earlier video puts it first */
    ck_assert_int_eq(nid_exam_add_tracklet(e, 0, "a", 3, fr, bx, 3, &idx),
                     NID_OK);
    ck_assert_uint_eq(idx, 0);
    nid_tracklet_info ti;
    nid_tracklet_info_init(&ti);
    nid_exam_get_tracklet(e, 1, &ti);
    ck_assert_str_eq(ti.id, "b");
    ck_assert_int_eq(ti.start, 5);
    ck_assert_int_eq(ti.end, 20);

    /* bad tracklets: each names the tracklet and the frame */
    int64_t unordered[3] = {5, 20, 10};
    ck_assert_int_eq(nid_exam_add_tracklet(e, 0, "c", -1, unordered, bx, 3,
                                           NULL), NID_EINVAL);
    HAS("\"c\"");
    HAS("frame 10");
    nid_box outside[3] = {{1, 1, 10, 10}, {60, 2, 10, 10}, {3, 3, 10, 10}};
    ck_assert_int_eq(nid_exam_add_tracklet(e, 0, "c", -1, fr, outside, 3,
                                           NULL), NID_EINVAL);
    HAS("frame 10");
    HAS("64x48");
    nid_box zero[3] = {{1, 1, 10, 10}, {2, 2, 10, 0}, {3, 3, 10, 10}};
    ck_assert_int_eq(nid_exam_add_tracklet(e, 1, "c", -1, fr, zero, 3,
                                           NULL), NID_EINVAL);
    HAS("w > 0");
    int64_t late[3] = {5, 10, 50};
    ck_assert_int_eq(nid_exam_add_tracklet(e, 0, "c", -1, late, bx, 3,
                                           NULL), NID_EINVAL);
    HAS("frame 50");
    ck_assert_int_eq(nid_exam_add_tracklet(e, 0, "a", -1, fr, bx, 3, NULL),
                     NID_EINVAL);
    HAS("used twice");
    ck_assert_int_eq(nid_exam_add_tracklet(e, 2, "c", -1, fr, bx, 3, NULL),
                     NID_ERANGE);
    ck_assert_int_eq(nid_exam_add_tracklet(e, 0, "c", -1, fr, bx, 0, NULL),
                     NID_EINVAL);
    ck_assert_int_eq(nid_exam_add_tracklet(e, 0, "c", -1, NULL, bx, 3, NULL),
                     NID_EINVAL);
    ck_assert_int_eq(nid_exam_set_meta(e, "[1]"), NID_EINVAL);
    ck_assert_int_eq(nid_exam_set_meta(e, "{bad"), NID_EINVAL);
    nid_exam_info info;
    nid_exam_info_init(&info);
    nid_exam_get_info(e, &info);
    ck_assert_uint_eq(info.n_tracklets, 2);   /* failures added nothing */
    ck_assert_ptr_null(info.meta_json);
    ck_assert_ptr_null(info.source);

    /* accessors on bad indices and NULL */
    ck_assert_int_eq(nid_exam_get_tracklet(e, 2, &ti), NID_ERANGE);
    ck_assert_int_eq(nid_exam_get_video(e, 2, &got), NID_ERANGE);
    ck_assert_int_eq(nid_exam_key_frame(e, 0, 3, NULL, NULL), NID_ERANGE);
    ck_assert_int_eq(nid_exam_get_info(NULL, &info), NID_EINVAL);
    got.struct_size = 3;
    ck_assert_int_eq(nid_exam_get_video(e, 0, &got), NID_EINVAL);
    HAS("struct_size");
    nid_exam_free(e);
    nid_exam_free(NULL);
}
END_TEST

/* Const calls from several threads at once (run under TSan/helgrind in
 * the sanitizer builds). */
static void *reader(void *arg)
{
    const nid_exam *e = arg;
    float acc = 0;
    char path[512];
    snprintf(path, sizeof path, "%s/th_%lu.json", nid_test_tmpdir,
             (unsigned long)pthread_self());
    for (int i = 0; i < 200; i++) {
        nid_box b;
        for (int64_t f = 10; f <= 30; f++)
            if (nid_exam_tracklet_box(e, 0, f, i & 1, &b) == NID_OK)
                acc += b.w;
    }
    int ok = nid_exam_save(e, path) == NID_OK && acc > 0;
    unlink(path);
    return (void *)(intptr_t)ok;
}

START_TEST(const_calls_from_threads)
{
    nid_exam *e = NULL;
    ck_assert_int_eq(nid_exam_load(&e, nid__test_write_file("g.json", GOOD)), NID_OK);
    pthread_t th[4];
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, reader, e);
    for (int i = 0; i < 4; i++) {
        void *ok;
        pthread_join(th[i], &ok);
        ck_assert(ok);
    }
    nid_exam_free(e);
}
END_TEST

/* Cannot-link pairs: tracklets of one video seen at once with boxes apart
 * are paired; a duplicate track of the same box is not; other videos and
 * disjoint frame ranges are not. */
START_TEST(cannot_link_pairs)
{
    nid_exam *e = NULL;
    ck_assert_int_eq(nid_exam_create(&e, "E", "P", NULL), NID_OK);
    nid_exam_video_info vi;
    nid_exam_video_info_init(&vi);
    vi.id = "v0";
    vi.path = "v0.mp4";
    ck_assert_int_eq(nid_exam_add_video(e, &vi, NULL), NID_OK);
    vi.id = "v1";
    vi.path = "v1.mp4";
    ck_assert_int_eq(nid_exam_add_video(e, &vi, NULL), NID_OK);
    int64_t f_a[2] = {0, 10}, f_b[2] = {5, 15}, f_c[2] = {8, 12},
            f_d[2] = {20, 30};
    nid_box left[2] = {{10, 10, 20, 20}, {10, 10, 20, 20}};
    nid_box right[2] = {{100, 10, 20, 20}, {100, 10, 20, 20}};
    nid_box left2[2] = {{11, 10, 20, 20}, {11, 10, 20, 20}};
    ck_assert_int_eq(nid_exam_add_tracklet(e, 0, "a", -1, f_a, left, 2, NULL), 0);
    ck_assert_int_eq(nid_exam_add_tracklet(e, 0, "b", -1, f_b, right, 2, NULL), 0);
    ck_assert_int_eq(nid_exam_add_tracklet(e, 0, "c", -1, f_c, left2, 2, NULL), 0);
    ck_assert_int_eq(nid_exam_add_tracklet(e, 0, "d", -1, f_d, right, 2, NULL), 0);
    ck_assert_int_eq(nid_exam_add_tracklet(e, 1, "e", -1, f_a, right, 2, NULL), 0);
    size_t n = 99;
    ck_assert_int_eq(nid_exam_cannot_link(e, 0.0f, NULL, 0, &n), NID_EBUFSIZE);
    ck_assert_uint_eq(n, 2);
    uint32_t small[2] = {77, 77};
    ck_assert_int_eq(nid_exam_cannot_link(e, 0.0f, small, 1, &n), NID_EBUFSIZE);
    ck_assert(small[0] == 77 && small[1] == 77); /* untouched */
    uint32_t p[8];
    ck_assert_int_eq(nid_exam_cannot_link(e, 0.0f, p, 4, &n), NID_OK);
    ck_assert_uint_eq(n, 2);
    /* a-b (frames 5..10, apart), b-c (8..12, apart); a-c overlap (same
     * nodule's duplicate), d shares no frame, e is in another video */
    ck_assert(p[0] == 0 && p[1] == 1 && p[2] == 1 && p[3] == 2);
    /* a stricter overlap rule pairs the near-duplicate too */
    ck_assert_int_eq(nid_exam_cannot_link(e, 0.99f, p, 4, &n), NID_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(nid_exam_cannot_link(NULL, 0.0f, p, 4, &n), NID_EINVAL);
    nid_exam_free(e);
}
END_TEST

Suite *nid__test_suite(void)
{
    Suite *s = suite_create("tracklet");
    TCase *tc = tcase_create("exam");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, load_good);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, union_and_linear_boxes);
    tcase_add_test(tc, iou);
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, save_is_atomic);
    tcase_add_test(tc, build_in_memory);
    tcase_add_test(tc, const_calls_from_threads);
    tcase_add_test(tc, cannot_link_pairs);
    suite_add_tcase(s, tc);
    return s;
}
