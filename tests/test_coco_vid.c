/* test_coco_vid.c - COCO-VID import: videos, frame numbers, instance runs
 * split at gaps, linking without instance ids, clipping, errors. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "noduleid.h"
#include "test_util.h"

static void setup(void)
{
    nid__test_scratch_setup("coco");
}

static void teardown(void)
{
    nid__test_scratch_teardown();
}


/* Build the test document: video 1 has images 10..19 (frames 0..9),
 * video 2 images 30..35 without frame_id, listed out of order. */
static char *coco_doc(const char *extra_ann)
{
    static char buf[16384];
    size_t n = 0;
#define OUT(...) n += (size_t)snprintf(buf + n, sizeof buf - n, __VA_ARGS__)
    OUT("{\"info\": {\"description\": \"test\"}, \"categories\": "
        "[{\"id\": 1, \"name\": \"benign\"}, {\"id\": 2, \"name\": "
        "\"malignant\"}],\n\"videos\": [{\"id\": 1, \"name\": \"case1\", "
        "\"width\": 100, \"height\": 80, \"fps\": 30},\n {\"id\": 2, "
        "\"file_name\": \"clips/case2.mp4\"}],\n\"images\": [");
    for (int i = 0; i < 10; i++)
        OUT("{\"id\": %d, \"video_id\": 1, \"frame_id\": %d, \"file_name\": "
            "\"case1/%05d.jpg\", \"width\": 100, \"height\": 80},\n",
            10 + i, i, i);
    const int order[6] = {33, 30, 35, 31, 34, 32};
    for (int i = 0; i < 6; i++)
        OUT("{\"id\": %d, \"video_id\": 2, \"width\": 64, \"height\": 48}%s",
            order[i], i < 5 ? ",\n" : "],\n");
    OUT("\"annotations\": [");
    int aid = 100;
    /* instance 7 on frames 0-3 and 6-9 (gap on 4, 5) */
    for (int f = 0; f < 10; f++) {
        if (f == 4 || f == 5) continue;
        if (f == 9)
            OUT("{\"id\": %d, \"image_id\": %d, \"video_id\": 1, "
                "\"instance_id\": 7, \"category_id\": 2, \"bbox\": "
                "[90, 70, 20, 20], \"area\": 400, \"iscrowd\": 0},\n",
                aid++, 10 + f);
        else
            OUT("{\"id\": %d, \"image_id\": %d, \"video_id\": 1, "
                "\"instance_id\": 7, \"category_id\": 2, \"bbox\": "
                "[%d, 10, 20, 15]},\n", aid++, 10 + f, 10 + f);
    }
    /* instance 3 (as track_id) on frames 2-4, mixed categories */
    for (int f = 2; f <= 4; f++)
        OUT("{\"id\": %d, \"image_id\": %d, \"track_id\": 3, "
            "\"category_id\": %d, \"bbox\": [50, 50, 10.5, 10]},\n", aid++,
            10 + f, f == 4 ? 1 : 2);
    /* video 2, no instance ids: object P on images 30, 31, 32 (frames
     * 0-2), object Q on images 31, 32 far away */
    for (int r = 0; r < 3; r++)
        OUT("{\"id\": %d, \"image_id\": %d, \"bbox\": [%d, 5, 10, 10]},\n",
            aid++, 30 + r, 5 + r);
    for (int r = 1; r < 3; r++)
        OUT("{\"id\": %d, \"image_id\": %d, \"bbox\": [40, 30, 8, 8]}%s",
            aid++, 30 + r, r < 2 || extra_ann ? ",\n" : "");
    if (extra_ann) OUT("%s", extra_ann);
    OUT("]}\n");
#undef OUT
    return buf;
}

static void check_trk(const nid_exam *e, size_t t, const char *id,
                      size_t video, int32_t nodule, int64_t start,
                      int64_t end, size_t n_kf)
{
    nid_tracklet_info ti;
    nid_tracklet_info_init(&ti);
    ck_assert_int_eq(nid_exam_get_tracklet(e, t, &ti), NID_OK);
    ck_assert_str_eq(ti.id, id);
    ck_assert_uint_eq(ti.video, video);
    ck_assert_int_eq(ti.nodule, nodule);
    ck_assert_int_eq(ti.start, start);
    ck_assert_int_eq(ti.end, end);
    ck_assert_uint_eq(ti.n_key_frames, n_kf);
}

START_TEST(import_maps_everything)
{
    const char *p = nid__test_write_file("coco.json", coco_doc(NULL));
    nid_exam *e = NULL;
    ck_assert_int_eq(nid_exam_import_coco_vid(&e, p), NID_OK);
    nid_exam_info info;
    nid_exam_info_init(&info);
    nid_exam_get_info(e, &info);
    ck_assert_uint_eq(info.n_videos, 2);
    ck_assert_uint_eq(info.n_tracklets, 5);
    ck_assert_ptr_nonnull(strstr(info.meta_json, "\"source\":\"coco-vid\""));
    ck_assert_ptr_nonnull(strstr(info.meta_json, "malignant"));

    nid_exam_video_info v;
    nid_exam_video_info_init(&v);
    nid_exam_get_video(e, 0, &v);
    ck_assert_str_eq(v.id, "v1");
    ck_assert_str_eq(v.path, "case1");
    ck_assert_int_eq(v.n_frames, 10);
    ck_assert(v.fps == 30.0);
    ck_assert_int_eq(v.width, 100);
    ck_assert_int_eq(v.height, 80);
    nid_exam_get_video(e, 1, &v);
    ck_assert_str_eq(v.id, "v2");
    ck_assert_str_eq(v.path, "clips/case2.mp4");
    char want[512];
    snprintf(want, sizeof want, "%s/clips/case2.mp4", nid_test_tmpdir);
    ck_assert_str_eq(v.resolved_path, want);
    ck_assert_int_eq(v.n_frames, 6);        /* ranks 0..5 */
    ck_assert_int_eq(v.width, 64);          /* from the images */
    ck_assert_int_eq(v.height, 48);

    /* instances in id order; instance 7 split at the gap */
    check_trk(e, 0, "v1-i3-r0", 0, 3, 2, 4, 3);
    check_trk(e, 1, "v1-i7-r0", 0, 7, 0, 3, 4);
    check_trk(e, 2, "v1-i7-r1", 0, 7, 6, 9, 4);
    check_trk(e, 3, "v2-t0", 1, -1, 0, 2, 3);
    check_trk(e, 4, "v2-t1", 1, -1, 1, 2, 2);
    int64_t f;
    nid_box b;
    nid_exam_key_frame(e, 1, 2, &f, &b);
    ck_assert_int_eq(f, 2);
    ck_assert(b.x == 12 && b.y == 10 && b.w == 20 && b.h == 15);
    /* the box poking out of the 100x80 frame is clipped */
    nid_exam_key_frame(e, 2, 3, &f, &b);
    ck_assert_int_eq(f, 9);
    ck_assert(b.x == 90 && b.y == 70 && b.w == 10 && b.h == 10);
    nid_exam_key_frame(e, 0, 0, NULL, &b);
    ck_assert(b.w == 10.5f);
    nid_exam_key_frame(e, 3, 2, &f, &b);
    ck_assert_int_eq(f, 2);
    ck_assert(b.x == 7);

    /* saved as a noduleid-exam that loads again; category kept as x_ */
    char out[512];
    snprintf(out, sizeof out, "%s/exam.json", nid_test_tmpdir);
    ck_assert_int_eq(nid_exam_save(e, out), NID_OK);
    nid_exam *e2 = NULL;
    ck_assert_int_eq(nid_exam_load(&e2, out), NID_OK);
    nid_exam_info i2;
    nid_exam_info_init(&i2);
    nid_exam_get_info(e2, &i2);
    ck_assert_uint_eq(i2.n_tracklets, 5);
    FILE *fp = fopen(out, "r");
    char text[16384];
    size_t got = fread(text, 1, sizeof text - 1, fp);
    text[got] = '\0';
    fclose(fp);
    /* instance 7 is all category 2; instance 3 mixed: no category */
    const char *i7 = strstr(text, "\"v1-i7-r0\"");
    const char *i3 = strstr(text, "\"v1-i3-r0\"");
    ck_assert_ptr_nonnull(i7);
    ck_assert_ptr_nonnull(i3);
    const char *cat = strstr(text, "\"x_category_id\": 2");
    ck_assert_ptr_nonnull(cat);
    ck_assert(cat > i7);
    nid_exam_free(e);
    nid_exam_free(e2);
}
END_TEST

START_TEST(per_video_instance_ids)
{
    /* instance 1 in both videos: ids are numbered per video, so they do
     * not name nodules */
    const char *doc =
        "{\"videos\": [{\"id\": 1, \"name\": \"a\"}, {\"id\": 2, "
        "\"name\": \"b\"}], \"images\": [{\"id\": 1, \"video_id\": 1, "
        "\"frame_id\": 0}, {\"id\": 2, \"video_id\": 2, \"frame_id\": 0}],"
        " \"annotations\": [{\"image_id\": 1, \"instance_id\": 1, "
        "\"bbox\": [1, 1, 4, 4]}, {\"image_id\": 2, \"instance_id\": 1, "
        "\"bbox\": [1, 1, 4, 4]}]}";
    nid_exam *e = NULL;
    ck_assert_int_eq(nid_exam_import_coco_vid(&e, nid__test_write_file("pv.json", doc)),
                     NID_OK);
    check_trk(e, 0, "v1-i1-r0", 0, -1, 0, 0, 1);
    check_trk(e, 1, "v2-i1-r0", 1, -1, 0, 0, 1);
    nid_exam_free(e);
}
END_TEST

static void expect_bad(const char *doc, int status, const char *f1,
                       const char *f2)
{
    const char *p = nid__test_write_file("bad.json", doc);
    nid_exam *e = (nid_exam *)0x1;
    int rc = nid_exam_import_coco_vid(&e, p);
    ck_assert_msg(rc == status, "status %d (%s), want %d", rc,
                  nid_last_error(), status);
    ck_assert_ptr_eq(e, (nid_exam *)0x1);
    HAS("bad.json");
    if (f1) HAS(f1);
    if (f2) HAS(f2);
}

START_TEST(bad_input)
{
    char missing[512];
    snprintf(missing, sizeof missing, "%s/none.json", nid_test_tmpdir);
    nid_exam *e = NULL;
    ck_assert_int_eq(nid_exam_import_coco_vid(&e, missing), NID_EIO);
    HAS("none.json");
    ck_assert_int_eq(nid_exam_import_coco_vid(NULL, missing), NID_EINVAL);
    expect_bad("{\"videos\": [", NID_EFORMAT, "not valid JSON", NULL);
    expect_bad("{\"images\": []}", NID_EFORMAT, "videos", "COCO-VID");
    expect_bad("{\"videos\": [{\"id\": \"a\"}], \"images\": []}",
               NID_EFORMAT, "videos[0]", "integer");
    expect_bad(coco_doc("{\"id\": 900, \"image_id\": 999, \"bbox\": "
                        "[1, 1, 2, 2]}"),
               NID_EFORMAT, "(id 900)", "image_id 999");
    expect_bad(coco_doc("{\"id\": 901, \"image_id\": 11, \"bbox\": "
                        "[1, 1, 0, 2]}"),
               NID_EFORMAT, "(id 901)", "w > 0");
    expect_bad(coco_doc("{\"id\": 902, \"image_id\": 11, \"bbox\": "
                        "[1, 1, 2]}"),
               NID_EFORMAT, "(id 902)", "bbox");
    expect_bad(coco_doc("{\"id\": 903, \"image_id\": 11, \"bbox\": "
                        "[200, 1, 5, 5]}"),
               NID_EFORMAT, "(id 903)", "outside");
    expect_bad(coco_doc("{\"id\": 904, \"image_id\": 11, \"video_id\": 2, "
                        "\"bbox\": [1, 1, 5, 5]}"),
               NID_EFORMAT, "(id 904)", "video_id 2");
    expect_bad(coco_doc("{\"id\": 905, \"image_id\": 11, \"instance_id\": "
                        "7, \"bbox\": [1, 1, 5, 5]}"),
               NID_EFORMAT, "instance 7 twice", "frame 1");
    expect_bad(coco_doc("{\"id\": 906, \"image_id\": 11, \"instance_id\": "
                        "\"x\", \"bbox\": [1, 1, 5, 5]}"),
               NID_EFORMAT, "(id 906)", "instance_id");
    expect_bad("{\"videos\": [{\"id\": 1}], \"images\": [{\"id\": 1, "
               "\"video_id\": 1, \"frame_id\": 0}, {\"id\": 2, "
               "\"video_id\": 1, \"frame_id\": 0}]}",
               NID_EFORMAT, "same frame_id", NULL);
    expect_bad("{\"videos\": [{\"id\": 1}], \"images\": [{\"id\": 1, "
               "\"video_id\": 5}]}", NID_EFORMAT, "images[0]",
               "video_id 5");
    expect_bad("{\"videos\": [{\"id\": 1}], \"images\": [{\"id\": 1, "
               "\"video_id\": 1}, {\"id\": 1, \"video_id\": 1}]}",
               NID_EFORMAT, "image id 1 is used twice", NULL);
}
END_TEST

Suite *nid__test_suite(void)
{
    Suite *s = suite_create("coco_vid");
    TCase *tc = tcase_create("coco_vid");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, import_maps_everything);
    tcase_add_test(tc, per_video_instance_ids);
    tcase_add_test(tc, bad_input);
    suite_add_tcase(s, tc);
    return s;
}
