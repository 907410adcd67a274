/* test_clip.c - crop/resize against straightforward references, borders
 * and padding, frame sampling, normalisation, clip layout, bad input.
 * The bilinear and area filters are also cross-checked against PyTorch and
 * OpenCV by tests/py/check_clip_torch.py. */
#include <check.h>
#include <stddef.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "noduleid.h"

#define HAS(sub) \
    ck_assert_msg(strstr(nid_last_error(), (sub)) != NULL, \
                  "error \"%s\" lacks \"%s\"", nid_last_error(), (sub))

static uint32_t rng_state = 12345;
static uint8_t rnd8(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (uint8_t)(rng_state >> 24);
}

static nid_clip_options opts_for(int filter, int h, int w, int channels,
                                 float margin, int pad)
{
    nid_clip_options o;
    nid_clip_options_init(&o);
    o.filter = filter;
    o.height = h;
    o.width = w;
    o.channels = channels;
    o.margin = margin;
    o.pad = pad;
    return o;
}

START_TEST(defaults)
{
    nid_clip_options o;
    nid_clip_options_init(&o);
    ck_assert_uint_eq(o.struct_size, sizeof o);
    ck_assert_int_eq(o.frames, 16);
    ck_assert_int_eq(o.height, 256);
    ck_assert_int_eq(o.width, 128);
    ck_assert_int_eq(o.channels, 3);
    ck_assert(o.margin == 0.1f);
    ck_assert_int_eq(o.filter, NID_FILTER_AREA);
    ck_assert_int_eq(o.interp, NID_INTERP_UNION);
    ck_assert_int_eq(o.sampling, NID_SAMPLE_UNIFORM);
    ck_assert_int_eq(o.pad, NID_PAD_ZERO);
    ck_assert(o.mean[2] == 0.5f && o.std[2] == 0.5f);
    ck_assert_int_eq(o.coords, NID_COORDS_NONE);
    ck_assert(o.context_margin == 0.0f);
    (nid_clip_options_init)(NULL);
    nid_clip_options_init_sized(NULL, sizeof(nid_clip_options));
}
END_TEST

/* The straightforward nearest-neighbour crop: for each output pixel, the
 * source pixel whose centre is nearest the output pixel's centre. */
static float ref_nearest(const uint8_t *img, int W, int H, nid_box b,
                         float margin, int pad, int oh, int ow, int i, int j)
{
    double mx = (double)(margin * b.w), my = (double)(margin * b.h);
    long x0 = (long)floor(b.x - mx), x1 = (long)ceil((double)b.x + b.w + mx);
    long y0 = (long)floor(b.y - my), y1 = (long)ceil((double)b.y + b.h + my);
    long cw = x1 - x0, chh = y1 - y0;
    long u = ((2L * j + 1) * cw) / (2L * ow);
    long v = ((2L * i + 1) * chh) / (2L * oh);
    long x = x0 + u, y = y0 + v;
    if (x < 0 || x >= W || y < 0 || y >= H) {
        if (pad == NID_PAD_ZERO) return 0.0f;
        x = x < 0 ? 0 : x >= W ? W - 1 : x;
        y = y < 0 ? 0 : y >= H ? H - 1 : y;
    }
    return img[y * W + x];
}

START_TEST(nearest_pixel_exact)
{
    enum { W = 53, H = 41 };
    uint8_t img[W * H];
    for (int i = 0; i < W * H; i++) img[i] = rnd8();
    nid_frame fr = {img, W, H, W, NID_PIX_GRAY8};
    const nid_box boxes[] = {
        {10, 5, 20, 17},       /* inside */
        {0, 0, 8, 6},          /* corner: margin leaves the image */
        {40.5f, 30.25f, 12.5f, 10.75f},  /* far corner, past the edge */
        {20.3f, 11.7f, 1.2f, 0.6f},      /* sub-pixel box */
        {0, 0, W, H},          /* whole frame */
    };
    const int sizes[][2] = {{256, 128}, {13, 7}, {41, 53}, {3, 90}};
    const float margins[] = {0.0f, 0.1f, 0.5f};
    float *out = malloc(3 * 256 * 128 * sizeof *out);
    for (size_t bi = 0; bi < sizeof boxes / sizeof boxes[0]; bi++)
    for (size_t si = 0; si < 4; si++)
    for (size_t mi = 0; mi < 3; mi++)
    for (int pad = 0; pad < 2; pad++) {
        int oh = sizes[si][0], ow = sizes[si][1];
        nid_clip_options o = opts_for(NID_FILTER_NEAREST, oh, ow, 3,
                                      margins[mi], pad);
        o.mean[1] = 0.25f;
        o.std[1] = 0.125f;
        size_t need = 0;
        ck_assert_int_eq(nid_crop_resize(&fr, &boxes[bi], &o, out,
                                         3 * 256 * 128, &need), NID_OK);
        ck_assert_uint_eq(need, (size_t)3 * oh * ow);
        /* count mismatches: a Check assertion per pixel is too slow */
        long bad = 0, first = -1;
        for (int c = 0; c < 3; c++)
        for (int i = 0; i < oh; i++)
        for (int j = 0; j < ow; j++) {
            float p = ref_nearest(img, W, H, boxes[bi], margins[mi], pad,
                                  oh, ow, i, j);
            float want = (p / 255.0f - o.mean[c]) / o.std[c];
            float got = out[(c * oh + i) * ow + j];
            if (!(fabsf(got - want) < 1e-5f)) {
                if (first < 0) first = (c * oh + i) * ow + j;
                bad++;
            }
        }
        ck_assert_msg(bad == 0, "box %zu size %dx%d margin %g pad %d: %ld "
                      "pixels differ, first at %ld", bi, oh, ow,
                      margins[mi], pad, bad, first);
    }
    free(out);
}
END_TEST

START_TEST(weights_sum_to_one_and_padding)
{
    /* constant image: every filter with replicate padding gives the
     * constant; zero padding shows black exactly where the crop leaves
     * the image */
    enum { W = 40, H = 30 };
    uint8_t img[W * H];
    memset(img, 200, sizeof img);
    nid_frame fr = {img, W, H, W, NID_PIX_GRAY8};
    nid_box b = {0, 0, 10, 10};
    float out[1 * 20 * 20];
    const float c200 = 200.0f / 127.5f - 1.0f;
    for (int filter = 0; filter < 3; filter++) {
        nid_clip_options o = opts_for(filter, 20, 20, 1, 1.0f,
                                      NID_PAD_REPLICATE);
        ck_assert_int_eq(nid_crop_resize(&fr, &b, &o, out, 400, NULL),
                         NID_OK);
        int off = 0;
        for (int i = 0; i < 400; i++) off += !(fabsf(out[i] - c200) < 1e-5f);
        ck_assert_msg(off == 0, "filter %d: %d pixels off", filter, off);
        /* crop [-10, 20) x [-10, 20) to 20 x 20: one output pixel per 1.5
         * source pixels; with zero padding the first 6 rows/columns are
         * fully outside (centres at (j + 0.5) * 1.5 < 10 -> j <= 6 for
         * nearest) */
        o.pad = NID_PAD_ZERO;
        ck_assert_int_eq(nid_crop_resize(&fr, &b, &o, out, 400, NULL),
                         NID_OK);
        ck_assert(fabsf(out[0] - (-1.0f)) < 1e-6f);        /* black */
        ck_assert(fabsf(out[399] - c200) < 1e-5f);         /* inside */
        ck_assert(fabsf(out[19] - (-1.0f)) < 1e-6f);       /* top row */
        ck_assert(fabsf(out[19 * 20] - (-1.0f)) < 1e-6f);  /* left col */
        if (filter == NID_FILTER_NEAREST) {
            int wrong = 0;
            for (int i = 0; i < 20; i++)
                for (int j = 0; j < 20; j++) {
                    bool inside = (j * 2 + 1) * 30 / 40 >= 10 &&
                                  (i * 2 + 1) * 30 / 40 >= 10;
                    wrong += !(fabsf(out[i * 20 + j] -
                                     (inside ? c200 : -1.0f)) < 1e-5f);
                }
            ck_assert_int_eq(wrong, 0);
        }
    }
    /* a crop entirely outside the image is black, or the edge pixel */
    nid_box away = {-50, -50, 10, 10};
    for (int filter = 0; filter < 3; filter++) {
        nid_clip_options o = opts_for(filter, 4, 4, 1, 0.0f, NID_PAD_ZERO);
        ck_assert_int_eq(nid_crop_resize(&fr, &away, &o, out, 400, NULL),
                         NID_OK);
        for (int i = 0; i < 16; i++) ck_assert(out[i] == -1.0f);
        o.pad = NID_PAD_REPLICATE;
        ck_assert_int_eq(nid_crop_resize(&fr, &away, &o, out, 400, NULL),
                         NID_OK);
        for (int i = 0; i < 16; i++) ck_assert(fabsf(out[i] - c200) < 1e-5f);
    }
}
END_TEST

START_TEST(area_integer_factor)
{
    /* 2x3 shrink of an 8x9 box: each output is the mean of a 2x3 block */
    enum { W = 20, H = 16 };
    uint8_t img[W * H];
    for (int i = 0; i < W * H; i++) img[i] = rnd8();
    nid_frame fr = {img, W, H, W, NID_PIX_GRAY8};
    nid_box b = {3, 4, 9, 8};
    nid_clip_options o = opts_for(NID_FILTER_AREA, 4, 3, 1, 0.0f, 0);
    o.mean[0] = 0.0f;
    o.std[0] = 1.0f / 255.0f;   /* values in pixel units */
    float out[12];
    ck_assert_int_eq(nid_crop_resize(&fr, &b, &o, out, 12, NULL), NID_OK);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++) {
            double s = 0;
            for (int y = 0; y < 2; y++)
                for (int x = 0; x < 3; x++)
                    s += img[(4 + 2 * i + y) * W + 3 + 3 * j + x];
            ck_assert(fabs(out[i * 3 + j] - s / 6.0) < 1e-3);
        }
    /* bilinear at the same size is the identity */
    nid_clip_options id = opts_for(NID_FILTER_BILINEAR, 8, 9, 1, 0.0f, 0);
    id.mean[0] = 0.0f;
    id.std[0] = 1.0f / 255.0f;
    float o2[72];
    ck_assert_int_eq(nid_crop_resize(&fr, &b, &id, o2, 72, NULL), NID_OK);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 9; j++)
            ck_assert(fabsf(o2[i * 9 + j] - img[(4 + i) * W + 3 + j]) <
                      1e-3f);
}
END_TEST

START_TEST(rgb_and_normalisation)
{
    enum { W = 8, H = 6 };
    uint8_t img[W * H * 3];
    for (int i = 0; i < W * H; i++) {
        img[3 * i] = 200;
        img[3 * i + 1] = 100;
        img[3 * i + 2] = 50;
    }
    nid_frame fr = {img, W, H, W * 3, NID_PIX_RGB24};
    nid_box b = {1, 1, 4, 3};
    nid_clip_options o = opts_for(NID_FILTER_BILINEAR, 5, 7, 3, 0.0f, 0);
    const float mean[3] = {0.1f, 0.2f, 0.3f}, sd[3] = {0.5f, 0.25f, 2.0f};
    memcpy(o.mean, mean, sizeof mean);
    memcpy(o.std, sd, sizeof sd);
    float out[3 * 35];
    ck_assert_int_eq(nid_crop_resize(&fr, &b, &o, out, 105, NULL), NID_OK);
    const float px[3] = {200, 100, 50};
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 35; i++)
            ck_assert(fabsf(out[c * 35 + i] -
                            (px[c] / 255.0f - mean[c]) / sd[c]) < 1e-5f);
    /* one channel: BT.601 luma */
    o.channels = 1;
    ck_assert_int_eq(nid_crop_resize(&fr, &b, &o, out, 105, NULL), NID_OK);
    float luma = 0.299f * 200 + 0.587f * 100 + 0.114f * 50;
    for (int i = 0; i < 35; i++)
        ck_assert(fabsf(out[i] - (luma / 255.0f - mean[0]) / sd[0]) < 1e-4f);
}
END_TEST

START_TEST(bad_input)
{
    uint8_t img[16 * 16] = {0};
    nid_frame fr = {img, 16, 16, 16, NID_PIX_GRAY8};
    nid_box b = {1, 1, 5, 5};
    nid_clip_options o = opts_for(NID_FILTER_AREA, 8, 4, 3, 0.1f, 0);
    float out[96];
    for (int i = 0; i < 96; i++) out[i] = 42.0f;
    size_t need = 0;
    /* buffer too small: needed size reported, out untouched */
    ck_assert_int_eq(nid_crop_resize(&fr, &b, &o, out, 95, &need),
                     NID_EBUFSIZE);
    ck_assert_uint_eq(need, 96);
    HAS("96");
    for (int i = 0; i < 96; i++) ck_assert(out[i] == 42.0f);
    ck_assert_int_eq(nid_crop_resize(NULL, &b, &o, out, 96, NULL),
                     NID_EINVAL);
    ck_assert_int_eq(nid_crop_resize(&fr, NULL, &o, out, 96, NULL),
                     NID_EINVAL);
    nid_box bad = {1, 1, 0, 5};
    ck_assert_int_eq(nid_crop_resize(&fr, &bad, &o, out, 96, NULL),
                     NID_EINVAL);
    HAS("w > 0");
    bad = (nid_box){NAN, 1, 2, 2};
    ck_assert_int_eq(nid_crop_resize(&fr, &bad, &o, out, 96, NULL),
                     NID_EINVAL);
    bad = (nid_box){1e30f, 1, 2, 2};
    ck_assert_int_eq(nid_crop_resize(&fr, &bad, &o, out, 96, NULL),
                     NID_EINVAL);
    HAS("too large");
    nid_frame bf = fr;
    bf.stride = 8;
    ck_assert_int_eq(nid_crop_resize(&bf, &b, &o, out, 96, NULL),
                     NID_EINVAL);
    HAS("stride");
    bf = fr;
    bf.format = 9;
    ck_assert_int_eq(nid_crop_resize(&bf, &b, &o, out, 96, NULL),
                     NID_EINVAL);
    bf = fr;
    bf.data = NULL;
    ck_assert_int_eq(nid_crop_resize(&bf, &b, &o, out, 96, NULL),
                     NID_EINVAL);
    struct { const char *field; void (*set)(nid_clip_options *); } cases[] = {
        {"frames", NULL}, {"channels", NULL}, {"margin", NULL},
        {"filter", NULL}, {"std", NULL}, {"height", NULL},
        {"struct_size", NULL}, {"sampling", NULL}, {"pad", NULL},
        {"interp", NULL},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        nid_clip_options x = o;
        switch (k) {
        case 0: x.frames = 0; break;
        case 1: x.channels = 2; break;
        case 2: x.margin = NAN; break;
        case 3: x.filter = 9; break;
        case 4: x.std[1] = 0.0f; break;
        case 5: x.height = 0; break;
        case 6: x.struct_size = 8; break;
        case 7: x.sampling = 5; break;
        case 8: x.pad = -1; break;
        case 9: x.interp = 3; break;
        }
        ck_assert_int_eq(nid_crop_resize(&fr, &b, &x, out, 96, NULL),
                         NID_EINVAL);
        HAS(cases[k].field);
    }
    for (int i = 0; i < 96; i++) ck_assert(out[i] == 42.0f);
}
END_TEST

/* ---- tracklets into clips ------------------------------------------------ */

static nid_exam *exam_with(int64_t start, int64_t end, int32_t w, int32_t h)
{
    nid_exam *e = NULL;
    ck_assert_int_eq(nid_exam_create(&e, NULL, NULL, NULL), NID_OK);
    nid_exam_video_info vi;
    nid_exam_video_info_init(&vi);
    vi.id = "v";
    vi.path = "v.mp4";
    vi.width = w;
    vi.height = h;
    ck_assert_int_eq(nid_exam_add_video(e, &vi, NULL), NID_OK);
    int64_t fr[3] = {start, (start + end) / 2, end};
    nid_box bx[3] = {{4, 4, 20, 16}, {10, 8, 24, 20}, {6, 2, 30, 30}};
    size_t n = start == end ? 1 : (fr[1] == start || fr[1] == end) ? 2 : 3;
    if (n == 2) fr[1] = end;
    ck_assert_int_eq(nid_exam_add_tracklet(e, 0, "t", 1, fr, bx, n, NULL),
                     NID_OK);
    return e;
}

static void frames_are(const nid_exam *e, const nid_clip_options *o,
                       size_t clip, const int64_t *want)
{
    int64_t got[64];
    ck_assert_int_eq(nid_clip_frames(e, 0, o, clip, got, 64, NULL), NID_OK);
    for (int i = 0; i < o->frames; i++)
        ck_assert_msg(got[i] == want[i], "clip %zu slot %d: %lld != %lld",
                      clip, i, (long long)got[i], (long long)want[i]);
}

START_TEST(sampling)
{
    nid_clip_options o;
    nid_clip_options_init(&o);
    size_t n, nf;
    /* uniform, L = 10, T = 4: 10 + round(i * 9 / 3) */
    nid_exam *e = exam_with(10, 19, 0, 0);
    o.frames = 4;
    ck_assert_int_eq(nid_clip_count(e, 0, &o, &n, &nf), NID_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(nf, (size_t)3 * 4 * 256 * 128);
    frames_are(e, &o, 0, (int64_t[]){10, 13, 16, 19});
    /* L = 10, T = 7: i * 9 / 6 = 0, 1.5, 3, 4.5, 6, 7.5, 9, halves up */
    o.frames = 7;
    frames_are(e, &o, 0, (int64_t[]){10, 12, 13, 15, 16, 18, 19});
    /* T = 1: the middle frame */
    o.frames = 1;
    frames_are(e, &o, 0, (int64_t[]){14});
    nid_exam_free(e);
    /* short tracklet repeats frames: L = 3, T = 5 */
    e = exam_with(0, 2, 0, 0);
    o.frames = 5;
    frames_are(e, &o, 0, (int64_t[]){0, 1, 1, 2, 2});
    nid_exam_free(e);
    /* one frame */
    e = exam_with(7, 7, 0, 0);
    frames_are(e, &o, 0, (int64_t[]){7, 7, 7, 7, 7});
    nid_exam_free(e);

    /* windows: L = 40, T = 16, stride 16 -> starts 0, 16, 24 */
    e = exam_with(100, 139, 0, 0);
    o.frames = 16;
    o.sampling = NID_SAMPLE_WINDOWS;
    ck_assert_int_eq(nid_clip_count(e, 0, &o, &n, NULL), NID_OK);
    ck_assert_uint_eq(n, 3);
    int64_t w[16];
    for (int i = 0; i < 16; i++) w[i] = 124 + i;
    frames_are(e, &o, 2, w);
    for (int i = 0; i < 16; i++) w[i] = 116 + i;
    frames_are(e, &o, 1, w);
    /* stride 8 -> starts 0, 8, 16, 24 */
    o.window_stride = 8;
    ck_assert_int_eq(nid_clip_count(e, 0, &o, &n, &nf), NID_OK);
    ck_assert_uint_eq(n, 4);
    ck_assert_uint_eq(nf, (size_t)4 * 3 * 16 * 256 * 128);
    for (int i = 0; i < 16; i++) w[i] = 108 + i;
    frames_are(e, &o, 1, w);
    /* stride 12 -> starts 0, 12, 24 (clamped from 24) */
    o.window_stride = 12;
    ck_assert_int_eq(nid_clip_count(e, 0, &o, &n, NULL), NID_OK);
    ck_assert_uint_eq(n, 3);
    /* L == T: one window */
    o.frames = 40;
    ck_assert_int_eq(nid_clip_count(e, 0, &o, &n, NULL), NID_OK);
    ck_assert_uint_eq(n, 1);
    /* shorter than T: one uniformly sampled window */
    o.frames = 50;
    ck_assert_int_eq(nid_clip_count(e, 0, &o, &n, NULL), NID_OK);
    ck_assert_uint_eq(n, 1);
    int64_t got[64];
    ck_assert_int_eq(nid_clip_frames(e, 0, &o, 0, got, 64, NULL), NID_OK);
    ck_assert_int_eq(got[0], 100);
    ck_assert_int_eq(got[49], 139);
    /* errors */
    size_t need = 0;
    ck_assert_int_eq(nid_clip_frames(e, 0, &o, 1, got, 64, NULL), NID_ERANGE);
    ck_assert_int_eq(nid_clip_frames(e, 0, &o, 0, got, 10, &need),
                     NID_EBUFSIZE);
    ck_assert_uint_eq(need, 50);
    ck_assert_int_eq(nid_clip_count(e, 1, &o, &n, NULL), NID_ERANGE);
    ck_assert_int_eq(nid_clip_count(NULL, 0, &o, &n, NULL), NID_EINVAL);
    nid_exam_free(e);
}
END_TEST

/* A video of n frames W x H where pixel (x, y) of frame f is
 * (x * 7 + y * 13 + f * 29) & 255. */
static uint8_t *make_pixels(int n, int W, int H)
{
    uint8_t *p = malloc((size_t)n * W * H);
    for (int f = 0; f < n; f++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                p[((size_t)f * H + y) * W + x] =
                    (uint8_t)((x * 7 + y * 13 + f * 29) & 255);
    return p;
}

static nid_video *make_video(uint8_t *pix, int n, int W, int H)
{
    nid_frame *fr = malloc((size_t)n * sizeof *fr);
    for (int f = 0; f < n; f++)
        fr[f] = (nid_frame){pix + (size_t)f * W * H, W, H, (size_t)W,
                            NID_PIX_GRAY8};
    nid_video *v = NULL;
    ck_assert_int_eq(nid_video_from_frames(&v, fr, (size_t)n, 25.0, 0),
                     NID_OK);
    free(fr);
    return v;
}

START_TEST(build_layout)
{
    enum { N = 40, W = 64, H = 48 };
    uint8_t *pix = make_pixels(N, W, H);
    nid_video *v = make_video(pix, N, W, H);
    nid_exam *e = exam_with(3, 30, W, H);
    nid_clip_options o;
    nid_clip_options_init(&o);
    o.frames = 8;
    o.height = 12;
    o.width = 10;
    o.sampling = NID_SAMPLE_WINDOWS;
    o.window_stride = 4;
    o.margin = 0.2f;
    o.interp = NID_INTERP_LINEAR;
    size_t n_clips = 0, nf = 0;
    ck_assert_int_eq(nid_clip_count(e, 0, &o, &n_clips, &nf), NID_OK);
    ck_assert_uint_eq(n_clips, 1 + (28 - 8 + 3) / 4);   /* 6 */
    float *out = malloc(nf * sizeof *out);
    size_t got_n = 0, need = 0;
    /* too small first: needed size, nothing written */
    out[0] = 42.0f;
    ck_assert_int_eq(nid_clip_build(v, e, 0, &o, out, nf - 1, &got_n,
                                    &need), NID_EBUFSIZE);
    ck_assert_uint_eq(need, nf);
    ck_assert_uint_eq(got_n, 0);
    ck_assert(out[0] == 42.0f);
    ck_assert_int_eq(nid_clip_build(v, e, 0, &o, out, nf, &got_n, &need),
                     NID_OK);
    ck_assert_uint_eq(got_n, n_clips);
    ck_assert_uint_eq(need, nf);
    /* every (clip, channel, slot) plane equals nid_crop_resize() of the
     * sampled frame with the tracklet's interpolated box */
    const size_t C = 3, T = 8, HW = 12 * 10;
    float one[3 * 12 * 10];
    for (size_t k = 0; k < n_clips; k++) {
        int64_t fr[8];
        ck_assert_int_eq(nid_clip_frames(e, 0, &o, k, fr, 8, NULL), NID_OK);
        for (size_t t = 0; t < T; t++) {
            nid_box b;
            ck_assert_int_eq(nid_exam_tracklet_box(e, 0, fr[t],
                                                   NID_INTERP_LINEAR, &b),
                             NID_OK);
            nid_frame f = {pix + (size_t)fr[t] * W * H, W, H, W,
                           NID_PIX_GRAY8};
            ck_assert_int_eq(nid_crop_resize(&f, &b, &o, one, sizeof one /
                                             sizeof one[0], NULL), NID_OK);
            int differ = 0;
            for (size_t c = 0; c < C; c++)
                differ += memcmp(out + ((k * C + c) * T + t) * HW,
                                 one + c * HW, HW * sizeof *one) != 0;
            ck_assert_msg(differ == 0, "clip %zu slot %zu", k, t);
        }
    }
    /* frames differ, so a wrong frame would have been caught: check two
     * slots of different frames differ */
    ck_assert(memcmp(out, out + HW, HW * sizeof *out) != 0);
    free(out);
    nid_exam_free(e);
    nid_video_free(v);
    free(pix);
}
END_TEST

/* Coordinate channels: the image channels are those of a build without
 * coords; Y and X follow the documented formula from the crop rectangle
 * (recomputed here from the box and margin); an old struct_size (without
 * the field) builds no coordinate channels. */
START_TEST(build_coords)
{
    enum { N = 40, W = 64, H = 48 };
    uint8_t *pix = make_pixels(N, W, H);
    nid_video *v = make_video(pix, N, W, H);
    nid_exam *e = exam_with(3, 30, W, H);
    nid_clip_options o;
    nid_clip_options_init(&o);
    o.frames = 4;
    o.height = 6;
    o.width = 5;
    o.channels = 1;
    o.margin = 0.2f;
    size_t n = 0, nf0 = 0, nf = 0;
    ck_assert_int_eq(nid_clip_count(e, 0, &o, &n, &nf0), NID_OK);
    o.coords = NID_COORDS_FRAME;
    ck_assert_int_eq(nid_clip_count(e, 0, &o, &n, &nf), NID_OK);
    ck_assert_uint_eq(nf, 3 * nf0);
    float *plain = malloc(nf0 * sizeof *plain), *out = malloc(nf * sizeof *out);
    o.coords = NID_COORDS_NONE;
    ck_assert_int_eq(nid_clip_build(v, e, 0, &o, plain, nf0, NULL, NULL), NID_OK);
    o.coords = NID_COORDS_FRAME;
    ck_assert_int_eq(nid_clip_build(v, e, 0, &o, out, nf, NULL, NULL), NID_OK);
    const size_t T = 4, HW = 30;
    ck_assert(memcmp(out, plain, T * HW * sizeof *out) == 0);
    int64_t fr[4];
    ck_assert_int_eq(nid_clip_frames(e, 0, &o, 0, fr, 4, NULL), NID_OK);
    double worst = 0.0;
    for (size_t t = 0; t < T; t++) {
        nid_box b;
        ck_assert_int_eq(nid_exam_tracklet_box(e, 0, fr[t], NID_INTERP_UNION,
                                               &b), NID_OK);
        double mx = (double)(0.2f * b.w), my = (double)(0.2f * b.h);
        double x0 = floor(b.x - mx), x1 = ceil((double)b.x + b.w + mx);
        double y0 = floor(b.y - my), y1 = ceil((double)b.y + b.h + my);
        for (size_t r = 0; r < 6; r++)
            for (size_t c = 0; c < 5; c++) {
                double y = y0 + (r + 0.5) * (y1 - y0) / 6.0;
                double x = x0 + (c + 0.5) * (x1 - x0) / 5.0;
                double Y = 2.0 * y / H - 1.0;
                double X = 2.0 * (x - (b.x + b.w / 2.0)) / H;
                double gy = out[(1 * T + t) * HW + r * 5 + c];
                double gx = out[(2 * T + t) * HW + r * 5 + c];
                worst = fmax(worst, fmax(fabs(gy - Y), fabs(gx - X)));
            }
    }
    ck_assert_msg(worst < 1e-6, "coordinate channels off by %g", worst);
    /* Y grows downwards, X across: not constant */
    ck_assert(out[(1 * T) * HW + 5] > out[(1 * T) * HW]);
    ck_assert(out[(2 * T) * HW + 1] > out[(2 * T) * HW]);
    /* the first published struct (no coords field) reads as NID_COORDS_NONE */
    o.struct_size = offsetof(nid_clip_options, coords);
    ck_assert_int_eq(nid_clip_count(e, 0, &o, &n, &nf), NID_OK);
    ck_assert_uint_eq(nf, nf0);
    /* unknown value */
    o.struct_size = sizeof o;
    o.coords = 7;
    ck_assert_int_eq(nid_clip_count(e, 0, &o, &n, &nf), NID_EINVAL);
    ck_assert(strstr(nid_last_error(), "coords"));
    free(plain);
    free(out);
    nid_exam_free(e);
    nid_video_free(v);
    free(pix);
}
END_TEST

/* ---- context channels (nid_clip_options.context_margin) ----------------- */

/* An FFmpeg-decoded video (tests/gen_videos.sh: h264.mp4, 160x120, 50
 * frames, limited-range H.264: the builder converts only the rectangle it
 * asks for, so a context crop outside it would read stale pixels). Each
 * clip's first channels are those of a build without context; the context
 * channels equal nid_crop_resize() of the fully decoded frame (another
 * handle) with margin = context_margin; too small a buffer is NID_EBUFSIZE
 * with the size counting the context channels, out untouched. */
START_TEST(build_context_video)
{
    if (!(nid_features() & NID_FEATURE_VIDEO)) return;
    const char *dir = getenv("NID_TEST_VIDEOS");
    ck_assert_msg(dir && dir[0], "NID_TEST_VIDEOS is not set (run through "
                  "ctest)");
    char path[4096];
    snprintf(path, sizeof path, "%s/h264.mp4", dir);
    nid_exam *e = NULL;
    ck_assert_int_eq(nid_exam_create(&e, NULL, NULL, NULL), NID_OK);
    nid_exam_video_info vi;
    nid_exam_video_info_init(&vi);
    vi.id = "v";
    vi.path = path;
    ck_assert_int_eq(nid_exam_add_video(e, &vi, NULL), NID_OK);
    /* from the top-left corner to near the bottom-right one: the wide
     * crops leave the frame on every side */
    int64_t kf[3] = {3, 20, 40};
    nid_box kb[3] = {{4, 6, 30, 24}, {60, 40, 36, 30}, {104, 74, 50, 40}};
    ck_assert_int_eq(nid_exam_add_tracklet(e, 0, "t", 1, kf, kb, 3, NULL),
                     NID_OK);
    static const struct {
        int32_t format, channels, coords, filter, pad, sampling, T, H, W;
        float margin, context;
    } cfg[] = {
        /* gray, coordinate channels between image and context channels */
        {NID_PIX_GRAY8, 1, NID_COORDS_FRAME, NID_FILTER_AREA, NID_PAD_ZERO,
         NID_SAMPLE_UNIFORM, 6, 16, 12, 0.1f, 1.0f},
        /* RGB, overlapping windows (frames shared between clips) */
        {NID_PIX_RGB24, 3, NID_COORDS_NONE, NID_FILTER_BILINEAR,
         NID_PAD_REPLICATE, NID_SAMPLE_WINDOWS, 4, 10, 14, 0.2f, 0.5f},
        /* a context margin below the margin: the tight crop is the wider */
        {NID_PIX_GRAY8, 3, NID_COORDS_FRAME, NID_FILTER_NEAREST,
         NID_PAD_REPLICATE, NID_SAMPLE_WINDOWS, 5, 9, 7, 0.6f, 0.05f},
    };
    for (size_t ci = 0; ci < sizeof cfg / sizeof cfg[0]; ci++) {
        nid_video_options vo;
        nid_video_options_init(&vo);
        vo.format = cfg[ci].format;
        nid_video *v0 = NULL, *v = NULL, *ref = NULL;
        ck_assert_msg(nid_video_open(&v0, path, &vo) == NID_OK, "%s",
                      nid_last_error());
        ck_assert_int_eq(nid_video_open(&v, path, &vo), NID_OK);
        ck_assert_int_eq(nid_video_open(&ref, path, &vo), NID_OK);
        nid_clip_options o;
        nid_clip_options_init(&o);
        o.frames = cfg[ci].T;
        o.height = cfg[ci].H;
        o.width = cfg[ci].W;
        o.channels = cfg[ci].channels;
        o.coords = cfg[ci].coords;
        o.filter = cfg[ci].filter;
        o.pad = cfg[ci].pad;
        o.sampling = cfg[ci].sampling;
        o.window_stride = 2;
        o.margin = cfg[ci].margin;
        o.mean[1] = 0.25f;
        o.std[2] = 0.125f;
        const size_t ch = (size_t)o.channels;
        const size_t C0 = ch + (o.coords == NID_COORDS_FRAME ? 2 : 0);
        const size_t C = C0 + ch, T = (size_t)o.frames;
        const size_t HW = (size_t)o.height * (size_t)o.width;
        size_t n0 = 0, nf0 = 0, n = 0, nf = 0;
        ck_assert_int_eq(nid_clip_count(e, 0, &o, &n0, &nf0), NID_OK);
        float *plain = malloc(nf0 * sizeof *plain);
        ck_assert_int_eq(nid_clip_build(v0, e, 0, &o, plain, nf0, NULL, NULL),
                         NID_OK);
        o.context_margin = cfg[ci].context;
        ck_assert_int_eq(nid_clip_count(e, 0, &o, &n, &nf), NID_OK);
        ck_assert_uint_eq(n, n0);
        ck_assert_uint_eq(nf, n * C * T * HW);
        ck_assert_uint_eq(nf, nf0 / C0 * C);
        if (o.sampling == NID_SAMPLE_WINDOWS) ck_assert_uint_ge(n, 3);
        float *out = malloc(nf * sizeof *out);
        /* one float short: NID_EBUFSIZE, the size with context channels */
        for (size_t i = 0; i < nf; i++) out[i] = -7.0f;
        size_t need = 0, got_n = 99;
        ck_assert_int_eq(nid_clip_build(v, e, 0, &o, out, nf - 1, &got_n,
                                        &need), NID_EBUFSIZE);
        ck_assert_uint_eq(need, nf);
        ck_assert_uint_eq(got_n, 99);
        ck_assert(out[0] == -7.0f && out[nf - 1] == -7.0f);
        ck_assert_msg(nid_clip_build(v, e, 0, &o, out, nf, &got_n, &need)
                          == NID_OK, "%s", nid_last_error());
        ck_assert_uint_eq(got_n, n);
        ck_assert_uint_eq(need, nf);
        /* the reference crop: margin = context_margin, image channels */
        nid_clip_options w = o;
        w.margin = o.context_margin;
        w.coords = NID_COORDS_NONE;
        w.context_margin = 0.0f;
        float *one = malloc(ch * HW * sizeof *one);
        long bad_plain = 0, bad_ctx = 0, pad_seen = 0;
        for (size_t k = 0; k < n; k++) {
            int64_t fr[8];
            ck_assert_int_eq(nid_clip_frames(e, 0, &o, k, fr, 8, NULL), NID_OK);
            for (size_t c = 0; c < C0; c++)
                for (size_t t = 0; t < T; t++)
                    bad_plain += memcmp(out + ((k * C + c) * T + t) * HW,
                                        plain + ((k * C0 + c) * T + t) * HW,
                                        HW * sizeof *out) != 0;
            for (size_t t = 0; t < T; t++) {
                nid_box b;
                ck_assert_int_eq(nid_exam_tracklet_box(e, 0, fr[t], o.interp,
                                                       &b), NID_OK);
                nid_frame f;
                ck_assert_int_eq(nid_video_frame(ref, fr[t], &f), NID_OK);
                size_t needed = 0;
                ck_assert_int_eq(nid_crop_resize(&f, &b, &w, one, ch * HW,
                                                 &needed), NID_OK);
                ck_assert_uint_eq(needed, ch * HW);
                for (size_t c = 0; c < ch; c++)
                    bad_ctx += memcmp(out + ((k * C + C0 + c) * T + t) * HW,
                                      one + c * HW, HW * sizeof *one) != 0;
                /* the wide crop left the frame somewhere (zero padding
                 * shows as -mean/std) */
                double mx = (double)(w.margin * b.w);
                pad_seen += b.x - mx < 0 || b.x + b.w + mx > 160;
            }
        }
        ck_assert_msg(bad_plain == 0, "config %zu: %ld planes differ from the "
                      "build without context", ci, bad_plain);
        ck_assert_msg(bad_ctx == 0, "config %zu: %ld context planes differ "
                      "from nid_crop_resize at margin %g", ci, bad_ctx,
                      (double)o.context_margin);
        if (o.context_margin >= 0.5f) ck_assert(pad_seen > 0);
        /* the context channels are not the image channels again */
        ck_assert(memcmp(out + C0 * T * HW, out, T * HW * sizeof *out) != 0);
        free(one);
        free(out);
        free(plain);
        nid_video_free(v0);
        nid_video_free(v);
        nid_video_free(ref);
    }
    nid_exam_free(e);
}
END_TEST

/* context_margin: validated (the message names the field), read only
 * when struct_size covers it, not written by nid_crop_resize. */
START_TEST(context_options)
{
    enum { N = 20, W = 64, H = 48 };
    uint8_t *pix = make_pixels(N, W, H);
    nid_video *v = make_video(pix, N, W, H);
    nid_exam *e = exam_with(2, 12, W, H);
    nid_clip_options o;
    nid_clip_options_init(&o);
    ck_assert(o.context_margin == 0.0f);
    o.frames = 3;
    o.height = 8;
    o.width = 6;
    size_t n = 0, nf0 = 0, nf = 0;
    ck_assert_int_eq(nid_clip_count(e, 0, &o, &n, &nf0), NID_OK);
    o.context_margin = 16.0f;  /* the largest accepted */
    ck_assert_int_eq(nid_clip_count(e, 0, &o, &n, &nf), NID_OK);
    ck_assert_uint_eq(nf, 2 * nf0);
    float *out = malloc(nf * sizeof *out);
    ck_assert_int_eq(nid_clip_build(v, e, 0, &o, out, nf, NULL, NULL), NID_OK);
    const float bad[] = {-0.5f, NAN, INFINITY, 16.5f, -INFINITY};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o.context_margin = bad[i];
        for (size_t k = 0; k < 2 * nf0; k++) out[k] = 3.0f;
        nf = 12345;
        ck_assert_int_eq(nid_clip_count(e, 0, &o, &n, &nf), NID_EINVAL);
        HAS("context_margin");
        ck_assert_uint_eq(nf, 12345);
        ck_assert_int_eq(nid_clip_build(v, e, 0, &o, out, 2 * nf0, NULL,
                                        NULL), NID_EINVAL);
        HAS("nid_clip_build");
        HAS("context_margin");
        ck_assert(out[0] == 3.0f && out[2 * nf0 - 1] == 3.0f);
        int64_t fr[3];
        ck_assert_int_eq(nid_clip_frames(e, 0, &o, 0, fr, 3, NULL), NID_EINVAL);
        HAS("context_margin");
        nid_frame f = {pix, W, H, W, NID_PIX_GRAY8};
        nid_box b = {10, 10, 20, 16};
        ck_assert_int_eq(nid_crop_resize(&f, &b, &o, out, nf0, NULL),
                         NID_EINVAL);
        HAS("nid_crop_resize");
        HAS("context_margin");
    }
    /* nid_crop_resize is the single crop: no context channels */
    o.context_margin = 2.0f;
    nid_frame f = {pix, W, H, W, NID_PIX_GRAY8};
    nid_box b = {10, 10, 20, 16};
    size_t need = 0;
    ck_assert_int_eq(nid_crop_resize(&f, &b, &o, out, 3 * 8 * 6, &need),
                     NID_OK);
    ck_assert_uint_eq(need, 3 * 8 * 6);
    o.coords = NID_COORDS_FRAME;
    ck_assert_int_eq(nid_crop_resize(&f, &b, &o, out, 3 * 8 * 6, &need),
                     NID_EBUFSIZE);
    ck_assert_uint_eq(need, 5 * 8 * 6);
    o.coords = NID_COORDS_NONE;
    /* a struct of a header without the field (0.2's first layout, up to
     * coords): the bytes past it are not read */
    o.context_margin = NAN;
    o.struct_size = offsetof(nid_clip_options, context_margin);
    ck_assert_int_eq(nid_clip_count(e, 0, &o, &n, &nf), NID_OK);
    ck_assert_uint_eq(nf, nf0);
    ck_assert_int_eq(nid_clip_build(v, e, 0, &o, out, nf0, NULL, NULL), NID_OK);
    free(out);
    nid_exam_free(e);
    nid_video_free(v);
    free(pix);
}
END_TEST

START_TEST(build_mismatch)
{
    enum { N = 20, W = 64, H = 48 };
    uint8_t *pix = make_pixels(N, W, H);
    nid_video *v = make_video(pix, N, W, H);
    nid_clip_options o;
    nid_clip_options_init(&o);
    o.frames = 4;
    o.height = 8;
    o.width = 8;
    size_t nf;
    float *out = malloc(3 * 4 * 64 * sizeof *out);
    /* tracklet past the end of the video */
    nid_exam *e = exam_with(10, 25, 0, 0);
    ck_assert_int_eq(nid_clip_count(e, 0, &o, NULL, &nf), NID_OK);
    ck_assert_int_eq(nid_clip_build(v, e, 0, &o, out, nf, NULL, NULL),
                     NID_EMISMATCH);
    HAS("\"t\"");
    HAS("frame 25");
    nid_exam_free(e);
    /* boxes larger than the video's frames (the exam did not know the
     * size): the box [6, 2, 30, 30] on the last key frame */
    uint8_t *small = make_pixels(N, 32, 24);
    nid_video *vs = make_video(small, N, 32, 24);
    e = exam_with(2, 12, 0, 0);
    ck_assert_int_eq(nid_clip_build(vs, e, 0, &o, out, nf, NULL, NULL),
                     NID_EMISMATCH);
    HAS("\"t\"");
    HAS("frame 7");
    HAS("32x24");
    /* other bad arguments */
    ck_assert_int_eq(nid_clip_build(NULL, e, 0, &o, out, nf, NULL, NULL),
                     NID_EINVAL);
    ck_assert_int_eq(nid_clip_build(v, e, 1, &o, out, nf, NULL, NULL),
                     NID_ERANGE);
    ck_assert_int_eq(nid_clip_build(v, e, 0, &o, NULL, nf, NULL, NULL),
                     NID_EINVAL);
    /* and the same tracklet fits the larger video */
    ck_assert_int_eq(nid_clip_build(v, e, 0, &o, out, nf, NULL, NULL),
                     NID_OK);
    ck_assert_str_eq(nid_last_error(), "");
    nid_exam_free(e);
    nid_video_free(v);
    nid_video_free(vs);
    free(pix);
    free(small);
    free(out);
}
END_TEST

Suite *nid__test_suite(void)
{
    Suite *s = suite_create("clip");
    TCase *tc = tcase_create("clip");
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, nearest_pixel_exact);
    tcase_add_test(tc, weights_sum_to_one_and_padding);
    tcase_add_test(tc, area_integer_factor);
    tcase_add_test(tc, rgb_and_normalisation);
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, sampling);
    tcase_add_test(tc, build_layout);
    tcase_add_test(tc, build_coords);
    tcase_add_test(tc, build_context_video);
    tcase_add_test(tc, context_options);
    tcase_add_test(tc, build_mismatch);
    suite_add_tcase(s, tc);
    return s;
}
