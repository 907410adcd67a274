/* test_memory.c - in-memory inputs for PACS integrations:
 * nid_video_open_memory (a DICOM instance from a buffer) and
 * nid_exam_load_json (an exam from a request body).
 *   NID_TEST_DATA  tests/data (US-MONO2-8-8x-execho.dcm)
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "noduleid.h"

static unsigned char *slurp(const char *name, size_t *n, char *path,
                            size_t cap)
{
    const char *d = getenv("NID_TEST_DATA");
    ck_assert_msg(d && d[0], "NID_TEST_DATA is not set");
    snprintf(path, cap, "%s/%s", d, name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len);
    ck_assert(b != NULL);
    ck_assert_uint_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

START_TEST(memory_equals_file)
{
    if (!(nid_features() & NID_FEATURE_DICOM)) return;
    char path[4096];
    size_t n;
    unsigned char *buf = slurp("US-MONO2-8-8x-execho.dcm", &n, path,
                               sizeof path);
    nid_video *vf = NULL, *vm = NULL;
    ck_assert_int_eq(nid_video_open(&vf, path, NULL), NID_OK);
    ck_assert_int_eq(nid_video_open_memory(&vm, buf, n, "mono", NULL),
                     NID_OK);
    memset(buf, 0xAB, n);   /* the buffer is not used after the call */
    free(buf);
    nid_video_info a, b;
    nid_video_info_init(&a);
    nid_video_info_init(&b);
    nid_video_get_info(vf, &a);
    nid_video_get_info(vm, &b);
    ck_assert_int_eq(a.n_frames, b.n_frames);
    ck_assert_int_eq(a.width, b.width);
    ck_assert_int_eq(a.height, b.height);
    ck_assert(a.fps == b.fps);
    ck_assert_str_eq(b.source, "dicom");
    size_t fb = (size_t)a.width * (size_t)a.height;
    unsigned char *x = malloc(fb), *y = malloc(fb);
    for (int64_t i = a.n_frames - 1; i >= 0; i--) {   /* random access */
        ck_assert_int_eq(nid_video_read_frame(vf, i, x, fb, NULL), NID_OK);
        ck_assert_int_eq(nid_video_read_frame(vm, i, y, fb, NULL), NID_OK);
        ck_assert_msg(memcmp(x, y, fb) == 0, "frame %lld differs",
                      (long long)i);
    }
    free(x);
    free(y);
    nid_video_free(vf);
    nid_video_free(vm);
}
END_TEST

START_TEST(memory_bad_input)
{
    nid_video *v = NULL;
    char path[4096];
    size_t n;
    unsigned char *buf = slurp("US-MONO2-8-8x-execho.dcm", &n, path,
                               sizeof path);
    ck_assert_int_eq(nid_video_open_memory(NULL, buf, n, "x", NULL),
                     NID_EINVAL);
    ck_assert_int_eq(nid_video_open_memory(&v, NULL, n, "x", NULL),
                     NID_EINVAL);
    ck_assert_int_eq(nid_video_open_memory(&v, buf, 0, "empty", NULL),
                     NID_EFORMAT);
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "empty"));
    ck_assert_int_eq(nid_video_open_memory(&v, "hello", 5, "text.txt", NULL),
                     NID_EFORMAT);
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "text.txt"));
    if (nid_features() & NID_FEATURE_DICOM) {
        /* truncated in the pixel data, and in the header */
        ck_assert_int_eq(nid_video_open_memory(&v, buf, n / 2, "half", NULL),
                         NID_EFORMAT);
        ck_assert_ptr_nonnull(strstr(nid_last_error(), "half"));
        ck_assert_int_eq(nid_video_open_memory(&v, buf, 200, "head", NULL),
                         NID_EFORMAT);
        /* garbage after the magic */
        memset(buf + 132, 0xFF, 256);
        ck_assert_int_eq(nid_video_open_memory(&v, buf, n, "junk", NULL),
                         NID_EFORMAT);
    }
    ck_assert_ptr_null(v);
    free(buf);
}
END_TEST

START_TEST(exam_from_json)
{
    const char *j =
        "{\"format\": \"noduleid-exam\", \"version\": 1, \"patient_id\": "
        "\"P1\", \"videos\": [{\"id\": \"v0\", \"path\": \"1.2.3.4\", "
        "\"tracklets\": [{\"id\": \"t0\", \"start\": 0, \"end\": 2, "
        "\"key_frames\": [{\"frame\": 0, \"box\": [1, 2, 3, 4]}, "
        "{\"frame\": 2, \"box\": [1, 2, 3, 4]}]}]}]}";
    nid_exam *e = NULL;
    ck_assert_int_eq(nid_exam_load_json(&e, j, strlen(j), "body"), NID_OK);
    nid_exam_video_info vi;
    nid_exam_video_info_init(&vi);
    ck_assert_int_eq(nid_exam_get_video(e, 0, &vi), NID_OK);
    ck_assert_str_eq(vi.path, "1.2.3.4");
    ck_assert_str_eq(vi.resolved_path, "1.2.3.4");
    nid_exam_info ei;
    nid_exam_info_init(&ei);
    nid_exam_get_info(e, &ei);
    ck_assert_uint_eq(ei.n_tracklets, 1);
    ck_assert_str_eq(ei.patient_id, "P1");
    nid_exam_free(e);
    e = NULL;
    ck_assert_int_eq(nid_exam_load_json(&e, "{x", 2, "body"), NID_EFORMAT);
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "body"));
    const char *b = "{\"format\": \"noduleid-exam\", \"version\": 1, "
                    "\"videos\": [{\"id\": \"v0\", \"path\": \"p\", "
                    "\"tracklets\": [{\"id\": \"t0\", \"start\": \"a\"}]}]}";
    ck_assert_int_eq(nid_exam_load_json(&e, b, strlen(b), NULL), NID_EFORMAT);
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "videos[0].tracklets[0]"));
    ck_assert_int_eq(nid_exam_load_json(&e, j, 0, NULL), NID_EFORMAT);
    ck_assert_int_eq(nid_exam_load_json(NULL, j, strlen(j), NULL),
                     NID_EINVAL);
    ck_assert_ptr_null(e);
}
END_TEST

Suite *nid__test_suite(void)
{
    Suite *s = suite_create("memory");
    TCase *tc = tcase_create("memory");
    tcase_add_test(tc, memory_equals_file);
    tcase_add_test(tc, memory_bad_input);
    tcase_add_test(tc, exam_from_json);
    suite_add_tcase(s, tc);
    return s;
}
