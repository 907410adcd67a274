/* test_reliability.c - regressions for the defects hostile input found
 * (issue 16) and the documented limits (docs/api-conventions.md):
 *   - COCO-VID boxes that are valid as doubles but not as floats;
 *   - frame numbers and tracklets at INT64_MAX (signed overflow);
 *   - DICOM Number of Frames that disagrees with the pixel data;
 *   - non-regular files (FIFO, /dev/zero, directory) and files over the
 *     size limit, refused before their content is read;
 *   - gallery files with duplicate (patient, exam, label) entries;
 *   - nid_clip_build leaving the caller's buffer untouched on error. */
#include <check.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "noduleid.h"
#include "test_util.h"

static void setup(void)
{
    nid__test_scratch_setup("reliab");
    alarm(60);   /* a FIFO that blocks fails the test instead of hanging */
}

static void teardown(void)
{
    alarm(0);
    nid__test_scratch_teardown();
}

static const char *scratch(const char *name)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", nid_test_tmpdir, name);
    return p;
}

/* A COCO-VID document: one video (size given or not), one image, one
 * annotation with `bbox` and the image's frame_id. */
static const char *coco(const char *bbox, const char *frame_id, int sized)
{
    static char buf[1024];
    snprintf(buf, sizeof buf,
             "{\"videos\": [{\"id\": 1, \"name\": \"v.mp4\"%s}],"
             " \"images\": [{\"id\": 5, \"video_id\": 1, \"frame_id\": %s}],"
             " \"annotations\": [{\"id\": 9, \"image_id\": 5, "
             "\"instance_id\": 1, \"bbox\": %s}]}",
             sized ? ", \"width\": 640, \"height\": 480" : "", frame_id,
             bbox);
    return buf;
}

/* ---- 1. boxes valid as doubles, not as floats ------------------------- */

START_TEST(coco_boxes_must_be_valid_floats)
{
    nid_exam *e = NULL;
    /* 1e-50 becomes w = 0 as a float; 1e39 becomes infinity */
    const char *p = nid__test_write_file("tiny.json",
                                        coco("[1, 1, 1e-50, 5]", "0", 0));
    ASSERT_ERR(nid_exam_import_coco_vid(&e, p), NID_EFORMAT, "32-bit");
    HAS("annotations[0] (id 9)");
    ck_assert_ptr_null(e);
    p = nid__test_write_file("huge.json", coco("[1, 1, 1e39, 5]", "0", 0));
    ASSERT_ERR(nid_exam_import_coco_vid(&e, p), NID_EFORMAT, "32-bit");
    p = nid__test_write_file("hugex.json", coco("[1e39, 1, 5, 5]", "0", 0));
    ASSERT_ERR(nid_exam_import_coco_vid(&e, p), NID_EFORMAT, "32-bit");

    /* what imports, saves and reloads */
    p = nid__test_write_file("ok.json", coco("[1e-3, 1, 1e30, 5]", "0", 0));
    ck_assert_int_eq(nid_exam_import_coco_vid(&e, p), NID_OK);
    ck_assert_int_eq(nid_exam_save(e, scratch("ok.exam.json")), NID_OK);
    nid_exam *r = NULL;
    ck_assert_msg(nid_exam_load(&r, scratch("ok.exam.json")) == NID_OK,
                  "%s", nid_last_error());
    nid_box a, b;
    int64_t fa, fb;
    ck_assert_int_eq(nid_exam_key_frame(e, 0, 0, &fa, &a), NID_OK);
    ck_assert_int_eq(nid_exam_key_frame(r, 0, 0, &fb, &b), NID_OK);
    ck_assert(fa == fb && a.x == b.x && a.y == b.y && a.w == b.w &&
              a.h == b.h);
    nid_exam_free(r);
    nid_exam_free(e);
}
END_TEST

/* ---- 2. INT64_MAX frames and tracklets ---------------------------------- */

START_TEST(frame_numbers_are_bounded)
{
    nid_exam *e = NULL;
    const char *p = nid__test_write_file(
        "fmax.json", coco("[1, 1, 5, 5]", "9223372036854775807", 0));
    ASSERT_ERR(nid_exam_import_coco_vid(&e, p), NID_EFORMAT,
               "NID_MAX_FRAMES");
    HAS("images[0]");
    /* the largest frame number within the limit imports and reloads */
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)NID_MAX_FRAMES - 1);
    p = nid__test_write_file("flast.json", coco("[1, 1, 5, 5]", num, 0));
    ck_assert_msg(nid_exam_import_coco_vid(&e, p) == NID_OK, "%s",
                  nid_last_error());
    ck_assert_int_eq(nid_exam_save(e, scratch("flast.exam.json")), NID_OK);
    nid_exam *r = NULL;
    ck_assert_msg(nid_exam_load(&r, scratch("flast.exam.json")) == NID_OK,
                  "%s", nid_last_error());
    nid_exam_free(r);
    nid_exam_free(e);

    /* [0, INT64_MAX] without n_frames was accepted; end - start + 1
     * overflowed in `noduleid tracklets` */
    static const char *fmt =
        "{\"format\": \"noduleid-exam\", \"version\": 1, \"videos\": "
        "[{\"id\": \"v\", \"path\": \"v.mp4\", \"tracklets\": [{\"id\": "
        "\"t\", \"start\": 0, \"end\": %s, \"key_frames\": [{\"frame\": 0, "
        "\"box\": [1, 1, 5, 5]}, {\"frame\": %s, \"box\": [1, 1, 5, 5]}]}]}]}";
    char doc[1024];
    snprintf(doc, sizeof doc, fmt, "9223372036854775807",
             "9223372036854775807");
    ASSERT_ERR(nid_exam_load(&e, nid__test_write_file("big.json", doc)),
               NID_EFORMAT, "end");
    HAS("videos[0].tracklets[0]");
    /* a tracklet longer than NID_MAX_TRACKLET_FRAMES */
    snprintf(num, sizeof num, "%lld", (long long)NID_MAX_TRACKLET_FRAMES);
    snprintf(doc, sizeof doc, fmt, num, num);
    ASSERT_ERR(nid_exam_load(&e, nid__test_write_file("long.json", doc)),
               NID_EFORMAT, "NID_MAX_TRACKLET_FRAMES");
    snprintf(num, sizeof num, "%lld", (long long)NID_MAX_TRACKLET_FRAMES - 1);
    snprintf(doc, sizeof doc, fmt, num, num);
    ck_assert_msg(nid_exam_load(&e, nid__test_write_file("ok.json", doc)) ==
                      NID_OK, "%s", nid_last_error());
    nid_exam_free(e);

    /* the same limits through the API */
    ck_assert_int_eq(nid_exam_create(&e, NULL, NULL, NULL), NID_OK);
    nid_exam_video_info vi;
    nid_exam_video_info_init(&vi);
    vi.id = "v";
    vi.path = "v.mp4";
    vi.n_frames = NID_MAX_FRAMES + 1;
    ASSERT_ERR(nid_exam_add_video(e, &vi, NULL), NID_ERANGE,
               "NID_MAX_FRAMES");
    vi.n_frames = -1;
    vi.width = NID_MAX_FRAME_SIDE + 1;
    vi.height = 10;
    ASSERT_ERR(nid_exam_add_video(e, &vi, NULL), NID_ERANGE,
               "NID_MAX_FRAME_SIDE");
    vi.width = vi.height = 0;
    ck_assert_int_eq(nid_exam_add_video(e, &vi, NULL), NID_OK);
    int64_t fr[2] = {0, INT64_MAX};
    nid_box bx[2] = {{1, 1, 5, 5}, {1, 1, 5, 5}};
    ASSERT_ERR(nid_exam_add_tracklet(e, 0, "t", -1, fr, bx, 2, NULL),
               NID_EINVAL, "NID_MAX_FRAMES");
    fr[1] = NID_MAX_TRACKLET_FRAMES;
    ASSERT_ERR(nid_exam_add_tracklet(e, 0, "t", -1, fr, bx, 2, NULL),
               NID_EINVAL, "NID_MAX_TRACKLET_FRAMES");
    nid_exam_free(e);
}
END_TEST

/* ---- 3. DICOM frame counts ---------------------------------------------- */

static const char *dicom(const char *name)
{
    static char p[512];
    const char *dir = getenv("NID_TEST_DICOMS");
    if (!dir) return NULL;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

/* Read a whole file (test data). */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n);
    ck_assert(b && fread(b, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

START_TEST(dicom_frames_counted_from_pixel_data)
{
    if (!(nid_features() & NID_FEATURE_DICOM) || !dicom("x")) return;
    /* an 8-frame loop whose Number of Frames says otherwise (made by
     * tests/gen_dicoms.sh with dcmodify), native, RLE and JPEG */
    static const char *const files[] = {
        "claims_100.dcm", "claims_1.dcm", "claims_0.dcm", "claims_neg5.dcm",
        "claims_abc.dcm", "rle_claims_100.dcm", "rle_claims_1.dcm",
        "jpeg_claims_3.dcm", "mono_rle.dcm"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        const char *p = dicom(files[i]);
        for (int mem = 0; mem < 2; mem++) {
            nid_video *v = NULL;
            unsigned char *buf = NULL;
            size_t len = 0;
            if (mem) {
                buf = slurp(p, &len);
                ck_assert_msg(nid_video_open_memory(&v, buf, len, files[i],
                                                    NULL) == NID_OK,
                              "%s: %s", files[i], nid_last_error());
            } else {
                ck_assert_msg(nid_video_open(&v, p, NULL) == NID_OK, "%s: %s",
                              files[i], nid_last_error());
            }
            nid_video_info vi;
            nid_video_info_init(&vi);
            ck_assert_int_eq(nid_video_get_info(v, &vi), NID_OK);
            ck_assert_msg(vi.n_frames == 8, "%s: %lld frames, want 8",
                          files[i], (long long)vi.n_frames);
            /* every frame promised decodes, in any order */
            nid_frame f;
            for (int64_t k = 7; k >= 0; k -= 3)
                ck_assert_msg(nid_video_frame(v, k, &f) == NID_OK,
                              "%s: frame %lld: %s", files[i], (long long)k,
                              nid_last_error());
            ck_assert_int_eq(f.width, 128);
            ck_assert_int_eq(f.height, 120);
            nid_video_free(v);
            free(buf);
        }
    }
}
END_TEST

/* mono_rle.dcm with the RLE header of frame `k` made invalid (16 segments,
 * more than the 15 RLE allows): opens (frames 0 and 7 decode), frame k
 * does not. Written to the scratch directory. */
static const char *rle_with_bad_frame(int k)
{
    size_t len;
    unsigned char *b = slurp(dicom("mono_rle.dcm"), &len);
    static const unsigned char item[4] = {0xFE, 0xFF, 0x00, 0xE0};
    int seen = -1;   /* item 0 is the offset table, item 1 frame 0 */
    size_t at = 0;
    for (size_t i = 0; i + 12 < len; i++)
        if (!memcmp(b + i, item, 4) && ++seen == k + 1) {
            at = i + 8;
            break;
        }
    ck_assert_msg(at > 0, "no fragment for frame %d", k);
    ck_assert_int_eq(b[at], 1);   /* one segment: 8-bit monochrome */
    b[at] = 16;
    const char *p = scratch("rle_bad.dcm");
    FILE *f = fopen(p, "wb");
    ck_assert(f && fwrite(b, 1, len, f) == len);
    fclose(f);
    free(b);
    return p;
}

START_TEST(clip_build_leaves_buffer_untouched)
{
    if (!(nid_features() & NID_FEATURE_DICOM) || !dicom("x")) return;
    const char *p = rle_with_bad_frame(4);
    nid_video *v = NULL;
    ck_assert_msg(nid_video_open(&v, p, NULL) == NID_OK, "%s",
                  nid_last_error());
    nid_frame f;
    ck_assert_int_ne(nid_video_frame(v, 4, &f), NID_OK);
    nid_exam *e = NULL;
    ck_assert_int_eq(nid_exam_create(&e, NULL, NULL, NULL), NID_OK);
    nid_exam_video_info vi;
    nid_exam_video_info_init(&vi);
    vi.id = "v";
    vi.path = p;
    ck_assert_int_eq(nid_exam_add_video(e, &vi, NULL), NID_OK);
    int64_t fr[2] = {0, 7};
    nid_box bx[2] = {{10, 10, 40, 30}, {12, 10, 40, 30}};
    ck_assert_int_eq(nid_exam_add_tracklet(e, 0, "t", -1, fr, bx, 2, NULL),
                     NID_OK);
    nid_clip_options o;
    nid_clip_options_init(&o);
    o.frames = 8;
    o.height = o.width = 16;
    size_t need = 0;
    ck_assert_int_eq(nid_clip_count(e, 0, &o, NULL, &need), NID_OK);
    float *out = malloc(need * sizeof *out);
    for (size_t i = 0; i < need; i++) out[i] = 1234.5f;
    ck_assert_int_eq(nid_clip_build(v, e, 0, &o, out, need, NULL, NULL),
                     NID_EFORMAT);
    HAS("frame 4");
    for (size_t i = 0; i < need; i++)
        ck_assert_msg(out[i] == 1234.5f, "out[%zu] = %g was written", i,
                      out[i]);
    free(out);
    nid_exam_free(e);
    nid_video_free(v);
}
END_TEST

/* ---- 4. non-regular files, size limits ---------------------------------- */

static long max_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

START_TEST(only_regular_files_are_read)
{
    const char *fifo = scratch("fifo");
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    static const char *const paths[] = {NULL, "/dev/zero", NULL};
    char fifo_path[512], dir_path[512];
    snprintf(fifo_path, sizeof fifo_path, "%s", fifo);
    snprintf(dir_path, sizeof dir_path, "%s", nid_test_tmpdir);
    const char *bad[3] = {fifo_path, paths[1], dir_path};
    const char *what[3] = {"a FIFO", "a character device", "a directory"};
    for (int i = 0; i < 3; i++) {
        nid_gallery *g = NULL;
        nid_exam *e = NULL;
        nid_video *v = NULL;
        nid_model *m = NULL;
        ASSERT_ERR(nid_gallery_load(&g, bad[i]), NID_EIO, what[i]);
        HAS("not a regular file");
        ASSERT_ERR(nid_exam_load(&e, bad[i]), NID_EIO, what[i]);
        ASSERT_ERR(nid_exam_import_coco_vid(&e, bad[i]), NID_EIO, what[i]);
        ASSERT_ERR(nid_video_open(&v, bad[i], NULL), NID_EIO, what[i]);
        int rc = nid_model_load(&m, bad[i], NULL);
        ck_assert_msg(rc == NID_EIO || rc == NID_ENOTSUP, "model: %d", rc);
        if (rc == NID_EIO) HAS(what[i]);
    }
}
END_TEST

START_TEST(files_over_the_limit_are_refused_unread)
{
    /* sparse files: no disk, and reading them would cost their size */
    const char *big = scratch("big");
    int fd = open(big, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "\x89NIDGAL\n", 8), 8);
    ck_assert_int_eq(ftruncate(fd, (off_t)NID_MAX_FILE_BYTES + 1), 0);
    close(fd);
    nid_gallery *g = NULL;
    nid_exam *e = NULL;
    long rss0 = max_rss_kb();
    ASSERT_ERR(nid_gallery_load(&g, big), NID_ERANGE, "limit");
    ASSERT_ERR(nid_exam_load(&e, big), NID_ERANGE, "limit");
    ASSERT_ERR(nid_exam_import_coco_vid(&e, big), NID_ERANGE, "limit");
    /* within the limit but not a gallery: the magic is checked first */
    const char *half = scratch("half");
    fd = open(half, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, (off_t)(NID_MAX_FILE_BYTES / 2)), 0);
    close(fd);
    ASSERT_ERR(nid_gallery_load(&g, half), NID_EFORMAT, "bad magic");
    long grew = max_rss_kb() - rss0;
    ck_assert_msg(grew < 64 * 1024, "memory grew by %ld KiB", grew);
}
END_TEST

/* ---- 5. a directory as the exam is an I/O error --------------------------- */

START_TEST(directory_as_exam_is_io_error)
{
    nid_exam *e = NULL;
    ASSERT_ERR(nid_exam_load(&e, nid_test_tmpdir), NID_EIO, "a directory");
}
END_TEST

/* ---- 7. duplicate gallery entries --------------------------------------- */

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static size_t put_str(unsigned char *p, const char *s)
{
    size_t n = strlen(s);
    p[0] = (unsigned char)n;
    p[1] = 0;
    memcpy(p + 2, s, n);
    return n + 2;
}

/* A gallery file written by hand (docs/gallery-format.md), dim 2, with
 * entries (patient P, exam E, labels[i]). */
static const char *write_gallery(const char *name, const char *const *labels,
                                 int n)
{
    unsigned char raw[1024];
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        len += put_str(raw + len, "P");
        len += put_str(raw + len, "E");
        len += put_str(raw + len, "2024-01-02");
        len += put_str(raw + len, labels[i]);
        put32(raw + len, 1);
        float emb[2] = {0.6f, 0.8f};
        memcpy(raw + len + 4, emb, 8);   /* little-endian host */
        len += 12;
    }
    unsigned char file[2048] = {0};
    uLongf clen = sizeof file - 132;
    ck_assert_int_eq(compress2(file + 132, &clen, raw, len, 6), Z_OK);
    memcpy(file, "\x89NIDGAL\n", 8);
    put32(file + 8, 1);
    put32(file + 16, 2);
    put64(file + 24, (uint64_t)n);
    put64(file + 32, len);
    put64(file + 40, clen);
    put32(file + 48, (uint32_t)crc32(0, raw, (uInt)len));
    put32(file + 52, (uint32_t)crc32(0, file + 132, (uInt)clen));
    memcpy(file + 56, "test-model", 10);
    put32(file + 128, (uint32_t)crc32(0, file, 128));
    const char *p = scratch(name);
    FILE *f = fopen(p, "wb");
    ck_assert(f && fwrite(file, 1, 132 + clen, f) == 132 + clen);
    fclose(f);
    return p;
}

START_TEST(gallery_duplicates_refused)
{
    static const char *const ok[] = {"N1", "N2", "N3"};
    static const char *const dup[] = {"N1", "N2", "N1"};
    nid_gallery *g = NULL;
    ck_assert_msg(nid_gallery_load(&g, write_gallery("ok.gal", ok, 3)) ==
                      NID_OK, "%s", nid_last_error());
    nid_gallery_info gi;
    nid_gallery_info_init(&gi);
    ck_assert_int_eq(nid_gallery_get_info(g, &gi), NID_OK);
    ck_assert_uint_eq(gi.n_entries, 3);
    nid_gallery_free(g);
    g = NULL;
    ASSERT_ERR(nid_gallery_load(&g, write_gallery("dup.gal", dup, 3)),
               NID_EFORMAT, "entries 0 and 2");
    HAS("'N1'");
    ck_assert_ptr_null(g);
}
END_TEST

Suite *nid__test_suite(void)
{
    Suite *s = suite_create("reliability");
    TCase *tc = tcase_create("reliability");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, coco_boxes_must_be_valid_floats);
    tcase_add_test(tc, frame_numbers_are_bounded);
    tcase_add_test(tc, dicom_frames_counted_from_pixel_data);
    tcase_add_test(tc, clip_build_leaves_buffer_untouched);
    tcase_add_test(tc, only_regular_files_are_read);
    tcase_add_test(tc, files_over_the_limit_are_refused_unread);
    tcase_add_test(tc, directory_as_exam_is_io_error);
    tcase_add_test(tc, gallery_duplicates_refused);
    suite_add_tcase(s, tc);
    return s;
}
