/* test_video.c - video input: raw frames, FFmpeg files, DICOM cine loops.
 *
 * Environment (set by tests/CMakeLists.txt):
 *   NID_TEST_VIDEOS        videos made by tests/gen_videos.sh (fixture)
 *   NID_TEST_DATA          tests/data (US-MONO2-8-8x-execho.dcm)
 *   NID_TEST_OCTAVE_DICOM  US-PAL-8-10x-echo.dcm fetched from Debian's
 *                          octave-dicom by tests/fetch_octave_dicom.sh
 *   NID_TEST_DICOMS        RLE / JPEG re-encodings made by
 *                          tests/gen_dicoms.sh (fixture)
 *
 * Independent references: ffv1_gray.mkv is lossless and encodes frames
 * whose pixels are a known formula; the levels videos are flat black /
 * white / gray; decoded DICOM pixels are compared with pydicom by
 * tests/py/check_video_decode.py. Here: counts, sizes, fps, and that random
 * access returns exactly what sequential decoding does. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "noduleid.h"
#include "test_util.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static int has_video(void) { return (nid_features() & NID_FEATURE_VIDEO) != 0; }
static int has_dicom(void) { return (nid_features() & NID_FEATURE_DICOM) != 0; }

static const char *env_or_die(const char *name)
{
    const char *v = getenv(name);
    ck_assert_msg(v && v[0], "environment variable %s is not set (run the "
                  "tests through ctest)", name);
    return v;
}

/* Path of a generated video (static buffer, one at a time). */
static const char *video_path(const char *name)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", env_or_die("NID_TEST_VIDEOS"), name);
    return buf;
}

static const char *dicom_path(const char *name)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", env_or_die("NID_TEST_DICOMS"), name);
    return buf;
}

static const char *data_path(const char *name)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", env_or_die("NID_TEST_DATA"), name);
    return buf;
}

static const char *palette_dicom_path(void)
{
    const char *p = getenv("NID_TEST_OCTAVE_DICOM");
    ck_assert_msg(p && p[0], "NID_TEST_OCTAVE_DICOM is not set: the fixture "
                  "tests/fetch_octave_dicom.sh did not run");
    FILE *f = fopen(p, "rb");
    ck_assert_msg(f != NULL, "%s is missing: tests/fetch_octave_dicom.sh "
                  "could not get it from Debian's octave-dicom package", p);
    fclose(f);
    return p;
}

static nid_video *open_ok(const char *path, int format, int threads)
{
    nid_video_options o;
    nid_video_options_init(&o);
    o.format = format;
    o.n_threads = threads;
    nid_video *v = NULL;
    int rc = nid_video_open(&v, path, &o);
    ck_assert_msg(rc == NID_OK, "open %s: %s", path, nid_last_error());
    ck_assert_ptr_nonnull(v);
    ck_assert_str_eq(nid_last_error(), "");
    return v;
}

static nid_video_info info_of(const nid_video *v)
{
    nid_video_info info;
    nid_video_info_init(&info);
    ck_assert_int_eq(nid_video_get_info(v, &info), NID_OK);
    return info;
}

static size_t frame_bytes(const nid_video_info *in)
{
    return (size_t)in->width * (size_t)in->height *
           (in->format == NID_PIX_RGB24 ? 3u : 1u);
}

/* All frames decoded in order 0..n-1, packed. */
static uint8_t *decode_sequential(nid_video *v)
{
    nid_video_info in = info_of(v);
    size_t fb = frame_bytes(&in);
    uint8_t *all = malloc(fb * (size_t)in.n_frames);
    ck_assert_ptr_nonnull(all);
    for (int64_t i = 0; i < in.n_frames; i++) {
        size_t needed = 0;
        int rc = nid_video_read_frame(v, i, all + (size_t)i * fb, fb, &needed);
        ck_assert_msg(rc == NID_OK, "frame %lld: %s", (long long)i,
                      nid_last_error());
        ck_assert_uint_eq(needed, fb);
    }
    return all;
}

/* Compare the view of frame i with the packed reference. */
static void assert_frame_is(nid_video *v, int64_t i, const uint8_t *ref,
                            const char *what)
{
    nid_video_info in = info_of(v);
    nid_frame f;
    int rc = nid_video_frame(v, i, &f);
    ck_assert_msg(rc == NID_OK, "%s frame %lld: %s", what, (long long)i,
                  nid_last_error());
    ck_assert_int_eq(f.width, in.width);
    ck_assert_int_eq(f.height, in.height);
    ck_assert_int_eq(f.format, in.format);
    size_t row = (size_t)f.width * (f.format == NID_PIX_RGB24 ? 3u : 1u);
    ck_assert_uint_ge(f.stride, row);
    for (int32_t y = 0; y < f.height; y++)
        ck_assert_msg(memcmp(f.data + (size_t)y * f.stride,
                             ref + (size_t)y * row, row) == 0,
                      "%s: frame %lld row %d differs from sequential decoding",
                      what, (long long)i, (int)y);
}

/* Random access (backwards, pseudo-random, repeats, forward jumps) must
 * give exactly the frames of sequential decoding. */
static void assert_random_access(nid_video *v, const uint8_t *seq,
                                 const char *what)
{
    nid_video_info in = info_of(v);
    size_t fb = frame_bytes(&in);
    int64_t n = in.n_frames;
    for (int64_t i = n - 1; i >= 0; i--)
        assert_frame_is(v, i, seq + (size_t)i * fb, what);
    uint64_t s = 42;
    for (int k = 0; k < 3 * n; k++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        int64_t i = (int64_t)((s >> 33) % (uint64_t)n);
        assert_frame_is(v, i, seq + (size_t)i * fb, what);
        if (k % 7 == 0) assert_frame_is(v, i, seq + (size_t)i * fb, what);
    }
    for (int64_t i = 1; i < n; i += 3)   /* forward jumps within/over GOPs */
        assert_frame_is(v, i, seq + (size_t)i * fb, what);
    for (int64_t i = n / 2; i < n; i++)  /* sequential from the middle */
        assert_frame_is(v, i, seq + (size_t)i * fb, what);
}

/* ------------------------------------------------------------------------ */
/* Options, info                                                            */
/* ------------------------------------------------------------------------ */

START_TEST(options_and_info_init)
{
    nid_video_options o;
    memset(&o, 0xAB, sizeof o);
    nid_video_options_init(&o);
    ck_assert_uint_eq(o.struct_size, sizeof o);
    ck_assert_int_eq(o.format, NID_PIX_GRAY8);
    ck_assert_int_le(o.n_threads, 0);
    nid_video_info in;
    memset(&in, 0xAB, sizeof in);
    nid_video_info_init(&in);
    ck_assert_uint_eq(in.struct_size, sizeof in);
    ck_assert_int_eq(in.n_frames, 0);
    (nid_video_options_init)(NULL);
    nid_video_options_init_sized(NULL, sizeof(nid_video_options));
    (nid_video_info_init)(NULL);
    nid_video_info_init_sized(NULL, sizeof(nid_video_info));
    nid_video_free(NULL);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Raw frames                                                               */
/* ------------------------------------------------------------------------ */

enum { RW = 5, RH = 3, RN = 4, RSTRIDE = 8 };

/* RN gray frames RW x RH with stride RSTRIDE; padding bytes are 0xEE. */
static void make_gray(uint8_t *buf, nid_frame *frames)
{
    memset(buf, 0xEE, RN * RH * RSTRIDE);
    for (int f = 0; f < RN; f++) {
        for (int y = 0; y < RH; y++)
            for (int x = 0; x < RW; x++)
                buf[(f * RH + y) * RSTRIDE + x] = (uint8_t)(f * 50 + y * 10 + x);
        frames[f].data = buf + f * RH * RSTRIDE;
        frames[f].width = RW;
        frames[f].height = RH;
        frames[f].stride = RSTRIDE;
        frames[f].format = NID_PIX_GRAY8;
    }
}

START_TEST(frames_borrowed_with_stride)
{
    uint8_t buf[RN * RH * RSTRIDE];
    nid_frame fr[RN];
    make_gray(buf, fr);
    nid_video *v = NULL;
    ck_assert_int_eq(nid_video_from_frames(&v, fr, RN, 12.5, 0), NID_OK);
    nid_video_info in = info_of(v);
    ck_assert_int_eq(in.n_frames, RN);
    ck_assert_int_eq(in.width, RW);
    ck_assert_int_eq(in.height, RH);
    ck_assert_int_eq(in.format, NID_PIX_GRAY8);
    ck_assert_double_eq(in.fps, 12.5);
    ck_assert_str_eq(in.source, "frames");
    nid_frame f;
    ck_assert_int_eq(nid_video_frame(v, 2, &f), NID_OK);
    ck_assert_ptr_eq(f.data, buf + 2 * RH * RSTRIDE);   /* borrowed */
    ck_assert_uint_eq(f.stride, RSTRIDE);
    /* read_frame packs rows: no padding bytes */
    uint8_t out[RW * RH];
    size_t needed = 0;
    ck_assert_int_eq(nid_video_read_frame(v, 3, out, sizeof out, &needed), NID_OK);
    ck_assert_uint_eq(needed, RW * RH);
    for (int y = 0; y < RH; y++)
        for (int x = 0; x < RW; x++)
            ck_assert_uint_eq(out[y * RW + x], 150 + y * 10 + x);
    /* borrowed pixels: a change by the caller shows */
    buf[3 * RH * RSTRIDE] = 7;
    ck_assert_int_eq(nid_video_read_frame(v, 3, out, sizeof out, NULL), NID_OK);
    ck_assert_uint_eq(out[0], 7);
    double t = -1;
    ck_assert_int_eq(nid_video_frame_time(v, 3, &t), NID_OK);
    ck_assert_double_eq_tol(t, 3 / 12.5, 1e-12);
    nid_video_free(v);
}
END_TEST

START_TEST(frames_copied)
{
    uint8_t buf[RN * RH * RSTRIDE];
    nid_frame fr[RN];
    make_gray(buf, fr);
    nid_video *v = NULL;
    ck_assert_int_eq(nid_video_from_frames(&v, fr, RN, 0, NID_FRAMES_COPY),
                     NID_OK);
    memset(buf, 0, sizeof buf);   /* the copy must not care */
    for (int i = 0; i < RN; i++) {
        nid_frame f;
        ck_assert_int_eq(nid_video_frame(v, i, &f), NID_OK);
        ck_assert_uint_eq(f.stride, RW);   /* copies are packed */
        for (int y = 0; y < RH; y++)
            for (int x = 0; x < RW; x++)
                ck_assert_uint_eq(f.data[y * f.stride + x], i * 50 + y * 10 + x);
    }
    /* fps 0: no timing */
    double t = 123;
    ck_assert_int_eq(nid_video_frame_time(v, 1, &t), NID_ENOTSUP);
    ck_assert_double_eq(t, 123);
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "fps"));
    nid_video_free(v);
}
END_TEST

START_TEST(frames_format_conversion)
{
    /* two RGB frames 3x1 with padding: red, white, (10,20,30) */
    uint8_t rgb[2][16];
    memset(rgb, 0x55, sizeof rgb);
    const uint8_t px[3][3] = {{255, 0, 0}, {255, 255, 255}, {10, 20, 30}};
    nid_frame fr[2];
    for (int f = 0; f < 2; f++) {
        for (int x = 0; x < 3; x++) memcpy(rgb[f] + 3 * x, px[x], 3);
        fr[f] = (nid_frame){rgb[f], 3, 1, 16, NID_PIX_RGB24};
    }
    nid_video *v = NULL;
    ck_assert_int_eq(nid_video_from_frames(&v, fr, 2, 25, 0), NID_OK);
    ck_assert_int_eq(nid_video_set_format(v, NID_PIX_GRAY8), NID_OK);
    ck_assert_int_eq(info_of(v).format, NID_PIX_GRAY8);
    uint8_t g[3];
    ck_assert_int_eq(nid_video_read_frame(v, 1, g, sizeof g, NULL), NID_OK);
    /* BT.601 luma (77 R + 150 G + 29 B + 128) >> 8 */
    ck_assert_uint_eq(g[0], (77 * 255 + 128) >> 8);
    ck_assert_uint_eq(g[1], 255);
    ck_assert_uint_eq(g[2], (77 * 10 + 150 * 20 + 29 * 30 + 128) >> 8);
    ck_assert_int_eq(nid_video_set_format(v, NID_PIX_RGB24), NID_OK);
    nid_frame f;
    ck_assert_int_eq(nid_video_frame(v, 0, &f), NID_OK);
    ck_assert_ptr_eq(f.data, rgb[0]);   /* native format: no conversion */
    ck_assert_int_eq(nid_video_set_format(v, 9), NID_EINVAL);
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "9"));
    nid_video_free(v);

    /* gray -> RGB repeats the value */
    uint8_t buf[RN * RH * RSTRIDE];
    nid_frame gr[RN];
    make_gray(buf, gr);
    ck_assert_int_eq(nid_video_from_frames(&v, gr, RN, 25, 0), NID_OK);
    ck_assert_int_eq(nid_video_set_format(v, NID_PIX_RGB24), NID_OK);
    uint8_t out[RW * RH * 3];
    size_t needed = 0;
    ck_assert_int_eq(nid_video_read_frame(v, 0, out, 10, &needed), NID_EBUFSIZE);
    ck_assert_uint_eq(needed, sizeof out);
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "45"));
    ck_assert_int_eq(nid_video_read_frame(v, 2, out, sizeof out, NULL), NID_OK);
    for (int y = 0; y < RH; y++)
        for (int x = 0; x < RW; x++)
            for (int c = 0; c < 3; c++)
                ck_assert_uint_eq(out[(y * RW + x) * 3 + c], 100 + y * 10 + x);
    nid_video_free(v);
}
END_TEST

/* from_frames must fail with `code` and a message containing `needle`,
 * leaving *out alone. */
static void expect_frames_error(const nid_frame *fr, size_t n, double fps,
                                unsigned flags, int code, const char *needle)
{
    nid_video *sentinel = (nid_video *)(uintptr_t)0x1234;
    nid_video *v = sentinel;
    ck_assert_int_eq(nid_video_from_frames(&v, fr, n, fps, flags), code);
    ck_assert_ptr_eq(v, sentinel);
    ck_assert_msg(strstr(nid_last_error(), needle) != NULL,
                  "message '%s' lacks '%s'", nid_last_error(), needle);
}

START_TEST(frames_bad_input)
{
    uint8_t buf[RN * RH * RSTRIDE];
    nid_frame fr[RN], bad[RN];
    make_gray(buf, fr);
    nid_video *v = NULL;
    ck_assert_int_eq(nid_video_from_frames(NULL, fr, RN, 25, 0), NID_EINVAL);
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "out"));
    expect_frames_error(NULL, RN, 25, 0, NID_EINVAL, "frames is NULL");
    expect_frames_error(fr, 0, 25, 0, NID_EINVAL, "n must be > 0");
    expect_frames_error(fr, RN, -1, 0, NID_EINVAL, "fps");
    expect_frames_error(fr, RN, 0.0 / 0.0, 0, NID_EINVAL, "fps");
    expect_frames_error(fr, RN, 25, 0x10, NID_EINVAL, "flags");

    memcpy(bad, fr, sizeof fr);
    bad[2].data = NULL;
    expect_frames_error(bad, RN, 25, 0, NID_EINVAL, "frame 2: data is NULL");
    memcpy(bad, fr, sizeof fr);
    bad[0].width = 0;
    expect_frames_error(bad, RN, 25, 0, NID_EINVAL, "frame 0: size 0x3");
    memcpy(bad, fr, sizeof fr);
    bad[3].height = 2;
    expect_frames_error(bad, RN, 25, NID_FRAMES_COPY, NID_EINVAL,
                        "frame 3: size 5x2 differs from frame 0 (5x3)");
    memcpy(bad, fr, sizeof fr);
    bad[1].format = NID_PIX_RGB24;
    bad[1].stride = 16;
    expect_frames_error(bad, RN, 25, 0, NID_EINVAL, "frame 1: format");
    memcpy(bad, fr, sizeof fr);
    bad[1].format = 7;
    expect_frames_error(bad, RN, 25, 0, NID_EINVAL,
                        "frame 1: unknown pixel format 7");
    memcpy(bad, fr, sizeof fr);
    bad[2].stride = 4;
    expect_frames_error(bad, RN, 25, 0, NID_EINVAL, "frame 2: stride 4 < width 5");
    memcpy(bad, fr, sizeof fr);
    bad[2].stride = 9;
    expect_frames_error(bad, RN, 25, 0, NID_EINVAL,
                        "frame 2: stride 9 differs from frame 0 (8)");
    memcpy(bad, fr, sizeof fr);
    bad[0].height = -3;
    expect_frames_error(bad, RN, 25, 0, NID_EINVAL, "frame 0");
    memcpy(bad, fr, sizeof fr);
    bad[1].stride = (size_t)-1;
    bad[0].stride = (size_t)-1;
    bad[2].stride = (size_t)-1;
    bad[3].stride = (size_t)-1;
    expect_frames_error(bad, RN, 25, 0, NID_EINVAL, "overflow");

    /* index and argument checks on a valid video */
    ck_assert_int_eq(nid_video_from_frames(&v, fr, RN, 25, 0), NID_OK);
    nid_frame f = {0};
    ck_assert_int_eq(nid_video_frame(v, RN, &f), NID_ERANGE);
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "frame index 4"));
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "[0, 4)"));
    ck_assert_ptr_null(f.data);   /* untouched */
    ck_assert_int_eq(nid_video_frame(v, -1, &f), NID_ERANGE);
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "-1"));
    uint8_t out[RW * RH];
    ck_assert_int_eq(nid_video_read_frame(v, 9, out, sizeof out, NULL), NID_ERANGE);
    ck_assert_int_eq(nid_video_read_frame(v, 0, NULL, sizeof out, NULL), NID_EINVAL);
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "dst"));
    ck_assert_int_eq(nid_video_read_frame(NULL, 0, out, sizeof out, NULL), NID_EINVAL);
    ck_assert_int_eq(nid_video_frame(NULL, 0, &f), NID_EINVAL);
    ck_assert_int_eq(nid_video_frame(v, 0, NULL), NID_EINVAL);
    ck_assert_int_eq(nid_video_get_info(NULL, NULL), NID_EINVAL);
    ck_assert_int_eq(nid_video_get_info(v, NULL), NID_EINVAL);
    nid_video_info in;
    nid_video_info_init(&in);
    in.struct_size = 8;
    ck_assert_int_eq(nid_video_get_info(v, &in), NID_EINVAL);
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "struct_size"));
    ck_assert_int_eq(in.n_frames, 0);
    double t;
    ck_assert_int_eq(nid_video_frame_time(v, 4, &t), NID_ERANGE);
    ck_assert_int_eq(nid_video_frame_time(v, 0, NULL), NID_EINVAL);
    ck_assert_int_eq(nid_video_set_format(NULL, NID_PIX_GRAY8), NID_EINVAL);
    nid_video_free(v);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Opening: bad files and arguments (any build)                             */
/* ------------------------------------------------------------------------ */

static void expect_open_error(const char *path, int code, const char *needle)
{
    nid_video *sentinel = (nid_video *)(uintptr_t)0x1234;
    nid_video *v = sentinel;
    int rc = nid_video_open(&v, path, NULL);
    ck_assert_msg(rc == code, "open %s: got %s (%s), expected %s", path,
                  nid_status_str(rc), nid_last_error(), nid_status_str(code));
    ck_assert_ptr_eq(v, sentinel);
    ck_assert_msg(strstr(nid_last_error(), needle) != NULL,
                  "message '%s' lacks '%s'", nid_last_error(), needle);
}

START_TEST(open_bad_arguments)
{
    nid_video *v = NULL;
    ck_assert_int_eq(nid_video_open(NULL, "x.mp4", NULL), NID_EINVAL);
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "out"));
    ck_assert_int_eq(nid_video_open(&v, NULL, NULL), NID_EINVAL);
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "path"));
    ck_assert_int_eq(nid_video_open(&v, "", NULL), NID_EINVAL);
    nid_video_options o;
    nid_video_options_init(&o);
    o.format = 5;
    ck_assert_int_eq(nid_video_open(&v, "x.mp4", &o), NID_EINVAL);
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "pixel format 5"));
    nid_video_options_init(&o);
    o.struct_size = 4;
    ck_assert_int_eq(nid_video_open(&v, "x.mp4", &o), NID_EINVAL);
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "struct_size"));
    ck_assert_ptr_null(v);
    expect_open_error("/nonexistent/dir/clip.mp4", NID_EIO,
                      "/nonexistent/dir/clip.mp4");
    expect_open_error("/", NID_EIO, "'/'");
}
END_TEST

/* Without FFmpeg / DCMTK the files are refused with NID_ENOTSUP. */
START_TEST(open_without_backends)
{
    char path[512];
    snprintf(path, sizeof path, "%s/nid_test_video_XXXXXX", nid__test_temp_root());
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "wb");
    fputs("not a video\n", f);
    fclose(f);
    if (!has_video())
        expect_open_error(path, NID_ENOTSUP, "NID_WITH_VIDEO=OFF");
    else
        expect_open_error(path, NID_EFORMAT, path);
    remove(path);
    if (!has_dicom())
        expect_open_error(data_path("US-MONO2-8-8x-execho.dcm"), NID_ENOTSUP,
                          "NID_WITH_DICOM=OFF");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* FFmpeg                                                                   */
/* ------------------------------------------------------------------------ */

START_TEST(h264_count_and_random_access)
{
    if (!has_video()) return;
    const char *names[] = {"h264.mp4", "h264.mkv"};
    uint8_t *first = NULL;
    for (int k = 0; k < 2; k++) {
        nid_video *v = open_ok(video_path(names[k]), NID_PIX_GRAY8, 0);
        nid_video_info in = info_of(v);
        ck_assert_int_eq(in.n_frames, 50);
        ck_assert_int_eq(in.width, 160);
        ck_assert_int_eq(in.height, 120);
        ck_assert_double_eq_tol(in.fps, 25.0, 1e-9);
        ck_assert_str_eq(in.source, "ffmpeg");
        ck_assert_str_eq(in.codec, "h264");
        for (int64_t i = 0; i < 50; i += 7) {
            double t = -1;
            ck_assert_int_eq(nid_video_frame_time(v, i, &t), NID_OK);
            ck_assert_double_eq_tol(t, i * 0.04, 1e-9);
        }
        uint8_t *seq = decode_sequential(v);
        /* consecutive testsrc2 frames differ (moving content): a reader
         * that repeated or skipped frames would be caught */
        for (int i = 1; i < 50; i++)
            ck_assert(memcmp(seq + (size_t)(i - 1) * 19200,
                             seq + (size_t)i * 19200, 19200) != 0);
        assert_random_access(v, seq, names[k]);
        nid_video_free(v);
        /* same stream in MP4 and Matroska: same pixels */
        if (first) {
            ck_assert(memcmp(first, seq, 50 * 19200) == 0);
            free(seq);
        } else {
            first = seq;
        }
    }
    free(first);
}
END_TEST

START_TEST(h264_rgb_threads_and_set_format)
{
    if (!has_video()) return;
    const char *p = video_path("h264.mp4");
    nid_video *v1 = open_ok(p, NID_PIX_RGB24, 1);
    nid_video *v2 = open_ok(p, NID_PIX_RGB24, 2);
    ck_assert_int_eq(info_of(v1).format, NID_PIX_RGB24);
    uint8_t *s1 = decode_sequential(v1);
    uint8_t *s2 = decode_sequential(v2);
    ck_assert(memcmp(s1, s2, (size_t)50 * 160 * 120 * 3) == 0);
    assert_random_access(v2, s1, "h264 rgb, 2 threads");
    /* colour: not all pixels gray */
    size_t colored = 0;
    for (size_t i = 0; i < 160 * 120; i++)
        colored += s1[3 * i] != s1[3 * i + 1] || s1[3 * i + 1] != s1[3 * i + 2];
    ck_assert_uint_gt(colored, 1000);
    /* switching format re-converts the frame on hand and later frames */
    nid_video *g = open_ok(p, NID_PIX_GRAY8, 1);
    uint8_t *sg = decode_sequential(g);
    nid_frame f;
    ck_assert_int_eq(nid_video_frame(v1, 20, &f), NID_OK);
    ck_assert_int_eq(nid_video_set_format(v1, NID_PIX_GRAY8), NID_OK);
    ck_assert_int_eq(info_of(v1).format, NID_PIX_GRAY8);
    assert_frame_is(v1, 20, sg + 20 * 19200, "after set_format");
    assert_frame_is(v1, 21, sg + 21 * 19200, "after set_format");
    assert_frame_is(v1, 3, sg + 3 * 19200, "after set_format");
    ck_assert_int_eq(nid_video_set_format(v1, NID_PIX_RGB24), NID_OK);
    assert_frame_is(v1, 3, s1 + (size_t)3 * 57600, "back to rgb");
    assert_frame_is(v1, 4, s1 + (size_t)4 * 57600, "back to rgb");
    nid_video_free(g);
    nid_video_free(v1);
    nid_video_free(v2);
    free(s1);
    free(s2);
    free(sg);
}
END_TEST

START_TEST(ffv1_gray_lossless_exact)
{
    if (!has_video()) return;
    nid_video *v = open_ok(video_path("ffv1_gray.mkv"), NID_PIX_GRAY8, 0);
    nid_video_info in = info_of(v);
    ck_assert_int_eq(in.n_frames, 30);
    ck_assert_int_eq(in.width, 67);
    ck_assert_int_eq(in.height, 45);
    ck_assert_str_eq(in.codec, "ffv1");
    uint8_t *seq = decode_sequential(v);
    for (int f = 0; f < 30; f++)
        for (int y = 0; y < 45; y++)
            for (int x = 0; x < 67; x++) {
                unsigned want = (unsigned)(3 * x + 5 * y + 7 * f) % 256;
                unsigned got = seq[(size_t)f * 67 * 45 + (size_t)y * 67 + x];
                if (got != want)
                    ck_abort_msg("frame %d (%d,%d): got %u, expected %u", f,
                                 x, y, got, want);
            }
    assert_random_access(v, seq, "ffv1");
    nid_video_free(v);
    free(seq);
}
END_TEST

/* levels videos: 5 black, 5 white, 5 gray 0x80 frames. */
static void check_levels(const char *name, int format)
{
    nid_video *v = open_ok(video_path(name), format, 0);
    nid_video_info in = info_of(v);
    ck_assert_int_eq(in.n_frames, 15);
    uint8_t *seq = decode_sequential(v);
    size_t fb = frame_bytes(&in);
    const int want[3] = {0, 255, 128};
    for (int i = 0; i < 15; i++) {
        int lo = 255, hi = 0;
        for (size_t k = 0; k < fb; k++) {
            int p = seq[(size_t)i * fb + k];
            lo = p < lo ? p : lo;
            hi = p > hi ? p : hi;
        }
        /* a full-range source read as limited range would give gray 130;
         * limited range not expanded would give 16 / 235 / 126 */
        int w = want[i / 5];
        ck_assert_msg(lo >= w - 1 && hi <= w + 1, "%s %s frame %d: levels "
                      "%d..%d, expected %d +- 1", name,
                      format == NID_PIX_RGB24 ? "rgb" : "gray", i, lo, hi, w);
    }
    nid_video_free(v);
    free(seq);
}

START_TEST(levels_full_and_limited_range)
{
    if (!has_video()) return;
    check_levels("levels.avi", NID_PIX_GRAY8);        /* MJPEG yuvj420p */
    check_levels("levels.avi", NID_PIX_RGB24);
    check_levels("levels_h264.mp4", NID_PIX_GRAY8);   /* limited yuv420p */
    check_levels("levels_h264.mp4", NID_PIX_RGB24);
}
END_TEST

START_TEST(mjpeg_full_range_random_access)
{
    if (!has_video()) return;
    nid_video *v = open_ok(video_path("mjpeg.avi"), NID_PIX_RGB24, 2);
    nid_video_info in = info_of(v);
    ck_assert_int_eq(in.n_frames, 30);
    ck_assert_str_eq(in.codec, "mjpeg");
    ck_assert_double_eq_tol(in.fps, 25.0, 1e-9);
    uint8_t *seq = decode_sequential(v);
    assert_random_access(v, seq, "mjpeg");
    nid_video_free(v);
    free(seq);
}
END_TEST

/* The clip builder asks the reader for the crop's pixels only (limited
 * range luma is converted inside the crop; full-range luma is used in
 * place). Its crops must equal the same pixels of fully decoded frames, and
 * a full read of a frame the builder read partly must still be complete. */
static void check_clip_roi(const char *name)
{
    nid_video *ref = open_ok(video_path(name), NID_PIX_GRAY8, 0);
    nid_video_info in = info_of(ref);
    uint8_t *seq = decode_sequential(ref);
    nid_video_free(ref);
    size_t fb = frame_bytes(&in);
    const int32_t bx = 40, by = 30, bw = 48, bh = 36;
    nid_exam *e = NULL;
    ck_assert_int_eq(nid_exam_create(&e, NULL, NULL, NULL), NID_OK);
    nid_exam_video_info vi;
    nid_exam_video_info_init(&vi);
    vi.id = "v";
    vi.path = name;
    vi.width = in.width;
    vi.height = in.height;
    ck_assert_int_eq(nid_exam_add_video(e, &vi, NULL), NID_OK);
    int64_t fr[2] = {0, in.n_frames - 1};
    nid_box box[2] = {{bx, by, bw, bh}, {bx, by, bw, bh}};
    ck_assert_int_eq(nid_exam_add_tracklet(e, 0, "t", 1, fr, box, 2, NULL),
                     NID_OK);
    nid_clip_options o;
    nid_clip_options_init(&o);
    o.frames = (int32_t)in.n_frames;   /* every frame, in order */
    o.height = bh;
    o.width = bw;
    o.channels = 1;
    o.margin = 0.0f;
    o.filter = NID_FILTER_NEAREST;     /* same size: the crop itself */
    o.mean[0] = 0.0f;
    o.std[0] = 1.0f;
    nid_video *v = open_ok(video_path(name), NID_PIX_GRAY8, 2);
    size_t nf = 0;
    ck_assert_int_eq(nid_clip_count(e, 0, &o, NULL, &nf), NID_OK);
    float *clip = malloc(nf * sizeof *clip);
    ck_assert_ptr_nonnull(clip);
    ck_assert_int_eq(nid_clip_build(v, e, 0, &o, clip, nf, NULL, NULL),
                     NID_OK);
    for (int64_t t = 0; t < in.n_frames; t++)
        for (int32_t y = 0; y < bh; y++)
            for (int32_t x = 0; x < bw; x++) {
                uint8_t want = seq[(size_t)t * fb +
                                   (size_t)(by + y) * (size_t)in.width +
                                   (size_t)(bx + x)];
                float got = clip[((size_t)t * bh + y) * bw + x] * 255.0f;
                ck_assert_msg(got > want - 0.01f && got < want + 0.01f,
                              "%s frame %lld crop (%d, %d): %g, decoded "
                              "frame has %d", name, (long long)t, (int)x,
                              (int)y, (double)got, (int)want);
            }
    /* the last frame was read for its crop only: now all of it */
    int64_t last = in.n_frames - 1;
    assert_frame_is(v, last, seq + (size_t)last * fb, name);
    assert_frame_is(v, 3, seq + 3 * fb, name);
    free(clip);
    free(seq);
    nid_video_free(v);
    nid_exam_free(e);
}

START_TEST(clip_crops_read_partly_decoded_frames)
{
    if (!has_video()) return;
    check_clip_roi("h264.mp4");    /* limited range: luma mapped in the crop */
    check_clip_roi("mjpeg.avi");   /* full range: the decoded plane in place */
}
END_TEST

START_TEST(truncated_and_corrupt_files)
{
    if (!has_video()) return;
    /* moov first, data cut: only complete frames are counted, and every
     * counted frame decodes */
    nid_video *v = open_ok(video_path("truncated.mp4"), NID_PIX_GRAY8, 0);
    nid_video_info in = info_of(v);
    ck_assert_int_gt(in.n_frames, 5);
    ck_assert_int_lt(in.n_frames, 50);
    uint8_t *seq = decode_sequential(v);
    assert_random_access(v, seq, "truncated.mp4");
    free(seq);
    nid_frame f;
    ck_assert_int_eq(nid_video_frame(v, in.n_frames, &f), NID_ERANGE);
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "truncated.mp4"));
    nid_video_free(v);
    /* the same frames as the intact file */
    nid_video *full = open_ok(video_path("h264.mp4"), NID_PIX_GRAY8, 0);
    nid_video *cut = open_ok(video_path("truncated.mp4"), NID_PIX_GRAY8, 0);
    nid_frame a, b;
    for (int64_t i = 0; i < in.n_frames; i += 4) {
        ck_assert_int_eq(nid_video_frame(full, i, &a), NID_OK);
        ck_assert_int_eq(nid_video_frame(cut, i, &b), NID_OK);
        for (int y = 0; y < 120; y++)
            ck_assert(memcmp(a.data + y * a.stride, b.data + y * b.stride, 160) == 0);
    }
    nid_video_free(full);
    nid_video_free(cut);

    expect_open_error(video_path("nomoov.mp4"), NID_EFORMAT, "nomoov.mp4");
    expect_open_error(video_path("garbage.mp4"), NID_EFORMAT, "garbage.mp4");
    expect_open_error(video_path("notes.txt"), NID_EFORMAT, "notes.txt");
}
END_TEST

/* One handle per thread: handles are independent. Each thread decodes
 * the file backwards and compares with a sequential decoding made on the
 * main thread. */
typedef struct thread_job {
    const char *path;
    const uint8_t *ref;
    size_t frame_bytes;
    int64_t n;
    int mismatches;
    int errors;
} thread_job;

static void *decode_backwards(void *arg)
{
    thread_job *j = (thread_job *)arg;
    nid_video *v = NULL;
    if (nid_video_open(&v, j->path, NULL)) {
        j->errors++;
        return NULL;
    }
    uint8_t *buf = malloc(j->frame_bytes);
    for (int64_t i = j->n - 1; buf && i >= 0; i--) {
        if (nid_video_read_frame(v, i, buf, j->frame_bytes, NULL))
            j->errors++;
        else if (memcmp(buf, j->ref + (size_t)i * j->frame_bytes,
                        j->frame_bytes) != 0)
            j->mismatches++;
    }
    free(buf);
    nid_video_free(v);
    return NULL;
}

static void run_threads(const char *path)
{
    nid_video *v = open_ok(path, NID_PIX_GRAY8, 0);
    nid_video_info in = info_of(v);
    uint8_t *ref = decode_sequential(v);
    nid_video_free(v);
    thread_job jobs[3];
    pthread_t t[3];
    for (int k = 0; k < 3; k++) {
        jobs[k] = (thread_job){path, ref, frame_bytes(&in), in.n_frames, 0, 0};
        ck_assert_int_eq(pthread_create(&t[k], NULL, decode_backwards, &jobs[k]), 0);
    }
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(pthread_join(t[k], NULL), 0);
        ck_assert_msg(jobs[k].errors == 0 && jobs[k].mismatches == 0,
                      "%s thread %d: %d errors, %d mismatching frames", path,
                      k, jobs[k].errors, jobs[k].mismatches);
    }
    free(ref);
}

START_TEST(handles_in_parallel_threads)
{
    if (has_video()) run_threads(video_path("h264.mp4"));
    if (has_dicom()) run_threads(palette_dicom_path());
}
END_TEST

/* ------------------------------------------------------------------------ */
/* DICOM                                                                    */
/* ------------------------------------------------------------------------ */

START_TEST(dicom_mono)
{
    if (!has_dicom()) return;
    const char *p = data_path("US-MONO2-8-8x-execho.dcm");
    nid_video *v = open_ok(p, NID_PIX_GRAY8, 0);
    nid_video_info in = info_of(v);
    ck_assert_int_eq(in.n_frames, 8);
    ck_assert_int_eq(in.width, 128);
    ck_assert_int_eq(in.height, 120);
    ck_assert_double_eq_tol(in.fps, 10.0, 1e-9);   /* Frame Time 100 ms */
    ck_assert_str_eq(in.source, "dicom");
    double t;
    ck_assert_int_eq(nid_video_frame_time(v, 7, &t), NID_OK);
    ck_assert_double_eq_tol(t, 0.7, 1e-12);
    uint8_t *seq = decode_sequential(v);
    for (int i = 1; i < 8; i++)
        ck_assert(memcmp(seq + (size_t)(i - 1) * 15360, seq + (size_t)i * 15360,
                         15360) != 0);
    assert_random_access(v, seq, "mono dicom");
    /* RGB output of a monochrome image repeats the gray value */
    nid_video *c = open_ok(p, NID_PIX_RGB24, 0);
    uint8_t *rgb = decode_sequential(c);
    for (size_t k = 0; k < (size_t)8 * 15360; k++)
        for (int ch = 0; ch < 3; ch++)
            if (rgb[3 * k + ch] != seq[k])
                ck_abort_msg("pixel %zu channel %d: %u != gray %u", k, ch,
                             rgb[3 * k + ch], seq[k]);
    nid_video_free(c);
    nid_video_free(v);
    free(seq);
    free(rgb);
}
END_TEST

START_TEST(dicom_palette_rle)
{
    if (!has_dicom()) return;
    const char *p = palette_dicom_path();
    nid_video *v = open_ok(p, NID_PIX_RGB24, 0);
    nid_video_info in = info_of(v);
    ck_assert_int_eq(in.n_frames, 10);
    ck_assert_int_eq(in.width, 600);
    ck_assert_int_eq(in.height, 430);
    ck_assert_double_eq_tol(in.fps, 1000.0 / 76.0, 1e-9);  /* 13.16 */
    ck_assert_ptr_nonnull(strstr(in.codec, "RLE"));
    uint8_t *rgb = decode_sequential(v);
    size_t npx = (size_t)600 * 430;
    for (int i = 0; i < 10; i++) {   /* colour Doppler: colour in every frame */
        size_t colored = 0;
        const uint8_t *fr = rgb + (size_t)i * npx * 3;
        for (size_t k = 0; k < npx; k++)
            colored += fr[3 * k] != fr[3 * k + 1] || fr[3 * k + 1] != fr[3 * k + 2];
        ck_assert_msg(colored > 1000, "frame %d: only %zu colour pixels", i,
                      colored);
    }
    assert_random_access(v, rgb, "palette dicom");
    /* gray output is the BT.601 luma of the RGB output */
    nid_video *g = open_ok(p, NID_PIX_GRAY8, 0);
    uint8_t *gray = decode_sequential(g);
    for (size_t k = 0; k < npx * 10; k++) {
        const uint8_t *c = rgb + 3 * k;
        unsigned want = (77u * c[0] + 150u * c[1] + 29u * c[2] + 128u) >> 8;
        if (gray[k] != want)
            ck_abort_msg("pixel %zu: gray %u, luma of rgb %u", k, gray[k], want);
    }
    nid_video_free(g);
    nid_video_free(v);
    free(rgb);
    free(gray);
}
END_TEST

/* RLE and JPEG re-encodings of the mono loop: lossless ones decode to
 * exactly the uncompressed pixels, baseline JPEG close to them; frames are
 * decoded one at a time, so random access goes through each codec's
 * single-frame path. */
START_TEST(dicom_compressed)
{
    if (!has_dicom()) return;
    nid_video *v = open_ok(data_path("US-MONO2-8-8x-execho.dcm"), NID_PIX_GRAY8, 0);
    uint8_t *ref = decode_sequential(v);
    nid_video_free(v);
    const size_t fb = 128 * 120;
    const char *names[] = {"mono_rle.dcm", "mono_jpeg_lossless.dcm",
                           "mono_jpeg_baseline.dcm"};
    const char *codec[] = {"RLE", "JPEG Lossless", "JPEG Baseline"};
    for (int k = 0; k < 3; k++) {
        v = open_ok(dicom_path(names[k]), NID_PIX_GRAY8, 0);
        nid_video_info in = info_of(v);
        ck_assert_int_eq(in.n_frames, 8);
        ck_assert_int_eq(in.width, 128);
        ck_assert_int_eq(in.height, 120);
        ck_assert_double_eq_tol(in.fps, 10.0, 1e-9);
        ck_assert_msg(strstr(in.codec, codec[k]) != NULL, "%s: codec '%s'",
                      names[k], in.codec);
        uint8_t *seq = decode_sequential(v);
        if (k < 2) {
            ck_assert_msg(memcmp(seq, ref, 8 * fb) == 0,
                          "%s differs from the uncompressed file", names[k]);
        } else {
            double sum = 0;
            int worst = 0;
            for (size_t i = 0; i < 8 * fb; i++) {
                int d = abs((int)seq[i] - (int)ref[i]);
                sum += d;
                worst = d > worst ? d : worst;
            }
            /* lossy at DCMTK's default quality on speckle: mean ~7 */
            ck_assert_msg(sum / (8.0 * fb) < 10 && worst < 64,
                          "%s: mean |diff| %.2f, max %d", names[k],
                          sum / (8.0 * fb), worst);
        }
        assert_random_access(v, seq, names[k]);
        nid_video_free(v);
        free(seq);
    }
    free(ref);
    /* single-frame YBR_FULL_422 JPEG: colour, no timing */
    v = open_ok(dicom_path("rgb444_jpeg.dcm"), NID_PIX_RGB24, 0);
    nid_video_info in = info_of(v);
    ck_assert_int_eq(in.n_frames, 1);
    ck_assert_int_eq(in.width, 160);
    ck_assert_int_eq(in.height, 120);
    ck_assert_double_eq(in.fps, 0);
    double t = 5;
    ck_assert_int_eq(nid_video_frame_time(v, 0, &t), NID_ENOTSUP);
    ck_assert_double_eq(t, 5);
    uint8_t *rgb = decode_sequential(v);
    size_t colored = 0;
    for (size_t i = 0; i < 160 * 120; i++)
        colored += rgb[3 * i] != rgb[3 * i + 1] || rgb[3 * i + 1] != rgb[3 * i + 2];
    ck_assert_uint_gt(colored, 5000);
    nid_video_free(v);
    free(rgb);
}
END_TEST

/* Write the first `len` bytes of src to a temp file; returns its path. */
static const char *truncated_copy(const char *src, long len, char *path)
{
    FILE *in = fopen(src, "rb");
    ck_assert_ptr_nonnull(in);
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *out = fdopen(fd, "wb");
    for (long i = 0; i < len; i++) {
        int ch = fgetc(in);
        if (ch == EOF) break;
        fputc(ch, out);
    }
    fclose(in);
    fclose(out);
    return path;
}

START_TEST(dicom_truncated_and_bad)
{
    if (!has_dicom()) return;
    const char *mono = data_path("US-MONO2-8-8x-execho.dcm");
    const long cuts[] = {132, 600, 2000, 60000, 122000};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char path[512];
    snprintf(path, sizeof path, "%s/nid_test_dcm_XXXXXX", nid__test_temp_root());
        truncated_copy(mono, cuts[i], path);
        nid_video *v = NULL;
        int rc = nid_video_open(&v, path, NULL);
        ck_assert_msg(rc == NID_EFORMAT || rc == NID_EIO,
                      "cut at %ld: %s (%s)", cuts[i], nid_status_str(rc),
                      nid_last_error());
        ck_assert_ptr_nonnull(strstr(nid_last_error(), path));
        ck_assert_ptr_null(v);
        remove(path);
    }
    /* "DICM" magic followed by garbage */
    char path[512];
    snprintf(path, sizeof path, "%s/nid_test_dcm_XXXXXX", nid__test_temp_root());
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "wb");
    for (int i = 0; i < 128; i++) fputc(0, f);
    fputs("DICM", f);
    for (int i = 0; i < 300; i++) fputc((i * 37) & 0xFF, f);
    fclose(f);
    expect_open_error(path, NID_EFORMAT, path);
    remove(path);
}
END_TEST

Suite *nid__test_suite(void)
{
    Suite *s = suite_create("video");
    TCase *tc = tcase_create("frames");
    tcase_add_test(tc, options_and_info_init);
    tcase_add_test(tc, frames_borrowed_with_stride);
    tcase_add_test(tc, frames_copied);
    tcase_add_test(tc, frames_format_conversion);
    tcase_add_test(tc, frames_bad_input);
    tcase_add_test(tc, open_bad_arguments);
    tcase_add_test(tc, open_without_backends);
    suite_add_tcase(s, tc);
    TCase *ff = tcase_create("ffmpeg");
    tcase_set_timeout(ff, 120);
    tcase_add_test(ff, h264_count_and_random_access);
    tcase_add_test(ff, h264_rgb_threads_and_set_format);
    tcase_add_test(ff, ffv1_gray_lossless_exact);
    tcase_add_test(ff, levels_full_and_limited_range);
    tcase_add_test(ff, mjpeg_full_range_random_access);
    tcase_add_test(ff, clip_crops_read_partly_decoded_frames);
    tcase_add_test(ff, truncated_and_corrupt_files);
    suite_add_tcase(s, ff);
    TCase *dc = tcase_create("dicom");
    tcase_set_timeout(dc, 120);
    tcase_add_test(dc, dicom_mono);
    tcase_add_test(dc, dicom_palette_rle);
    tcase_add_test(dc, dicom_compressed);
    tcase_add_test(dc, dicom_truncated_and_bad);
    tcase_add_test(dc, handles_in_parallel_threads);
    suite_add_tcase(s, dc);
    return s;
}
