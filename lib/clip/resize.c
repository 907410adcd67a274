/*
 * resize.c - separable crop + resize of 8-bit frames to normalised float.
 *
 * Filters (definitions in include/noduleid.h, nid_filter):
 *   bilinear  torch.nn.functional.interpolate(align_corners=False):
 *             src = (dst + 0.5) * in / out - 0.5, clamped at 0 below
 *   nearest   src = floor((dst + 0.5) * in / out), in integers (exact)
 *   area      exact box filter over [dst, dst + 1) * in / out when the
 *             axis shrinks; bilinear when it grows or keeps its size
 *
 * Weights are computed in crop coordinates (0 .. len - 1), where every
 * output's taps are consecutive: output j reads first[j] .. first[j] +
 * taps - 1 (weights of unused trailing taps are 0). The padding rule is
 * applied when pixels are fetched: each used image row is copied, as
 * floats, into a crop-wide row buffer with the padding filled in, so the
 * horizontal pass never tests bounds; rows outside the image are the zero
 * row or the nearest edge row.
 *
 * Order: horizontal pass over the image rows the vertical taps use (at
 * most the image height), then a vertical pass per output row fused with
 * the channel conversion and the normalisation.
 */
#include "clip_internal.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Make room for out first taps and out * taps weights. */
static int axis_reserve(nid_axis *ax, int32_t out, int32_t taps)
{
    size_t n = (size_t)out * (size_t)taps;
    if (n > ax->cap) {
        float *w = realloc(ax->w, n * sizeof *w);
        if (!w) return NID_ENOMEM;
        ax->w = w;
        ax->cap = n;
    }
    if ((size_t)out > ax->cap_idx) {
        int32_t *first = realloc(ax->idx, (size_t)out * sizeof *first);
        if (!first) return NID_ENOMEM;
        ax->idx = first;
        ax->cap_idx = (size_t)out;
    }
    ax->out = out;
    ax->taps = taps;
    return NID_OK;
}

/* Table for resampling len crop samples to `out` samples: ax->idx[j] is
 * output j's first tap, ax->w[j * taps + k] its weights. All taps lie in
 * [0, len + taps - 1); those at or past len have weight 0. */
static int axis_build(nid_axis *ax, int64_t len, int32_t out, int filter)
{
    bool shrink_area = filter == NID_FILTER_AREA && len > out;
    int32_t taps = filter == NID_FILTER_NEAREST ? 1
                 : shrink_area ? (int32_t)((len + out - 1) / out) + 1
                 : 2;
    if (axis_reserve(ax, out, taps) != NID_OK) return NID_ENOMEM;
    memset(ax->w, 0, (size_t)out * (size_t)taps * sizeof *ax->w);
    double scale = (double)len / (double)out;
    for (int32_t j = 0; j < out; j++) {
        float *w = ax->w + (size_t)j * (size_t)taps;
        if (filter == NID_FILTER_NEAREST) {
            int64_t u = ((2 * (int64_t)j + 1) * len) / (2 * (int64_t)out);
            ax->idx[j] = (int32_t)(u < len ? u : len - 1);
            w[0] = 1.0f;
        } else if (shrink_area) {
            double a = j * scale, b = (j + 1) * scale;
            int64_t i0 = (int64_t)floor(a);
            ax->idx[j] = (int32_t)i0;
            for (int64_t i = i0; i < b && i < len && i - i0 < taps; i++) {
                double ov = fmin((double)(i + 1), b) - fmax((double)i, a);
                w[i - i0] = (float)(ov / scale);
            }
        } else {
            double src = (j + 0.5) * scale - 0.5;
            if (src < 0) src = 0;
            int64_t i0 = (int64_t)src;
            float l1 = (float)(src - (double)i0);
            ax->idx[j] = (int32_t)i0;
            if (i0 < len - 1) {
                w[0] = 1.0f - l1;
                w[1] = l1;
            } else {
                w[0] = 1.0f;   /* torch: both taps on the last sample */
            }
        }
    }
    return NID_OK;
}

void nid__resize_ws_free(nid_resize_ws *ws)
{
    if (!ws) return;
    free(ws->x.idx);
    free(ws->x.w);
    free(ws->y.idx);
    free(ws->y.w);
    free(ws->rows);
    free(ws->line);
    memset(ws, 0, sizeof *ws);
}

static int grow(float **p, size_t *cap, size_t need)
{
    if (need <= *cap) return 0;
    float *q = realloc(*p, need * sizeof *q);
    if (!q) return -1;
    *p = q;
    *cap = need;
    return 0;
}

/* Copy image row y, columns x0 .. x0 + len - 1 (cs interleaved channels),
 * into `line` as floats with the padding filled in, plus `extra` trailing
 * zero pixels for the unused taps. */
static void fetch_row(const nid_frame *fr, int64_t y, int64_t x0,
                      int64_t len, int64_t extra, int cs, int pad,
                      float *line)
{
    const uint8_t *row = fr->data + (size_t)y * fr->stride;
    int64_t W = fr->width;
    int64_t in0 = x0 < 0 ? 0 : x0, in1 = x0 + len < W ? x0 + len : W;
    size_t n_left = (size_t)((in0 < x0 + len ? in0 : x0 + len) - x0);
    size_t n_in = in1 > in0 ? (size_t)(in1 - in0) : 0;
    size_t n_right = (size_t)len - n_left - n_in;
    float *p = line;
    for (size_t i = 0; i < n_left; i++)
        for (int c = 0; c < cs; c++)
            *p++ = pad == NID_PAD_ZERO ? 0.0f : row[c];
    const uint8_t *src = row + (size_t)in0 * (size_t)cs;
    for (size_t i = 0; i < n_in * (size_t)cs; i++) p[i] = src[i];
    p += n_in * (size_t)cs;
    const uint8_t *last = row + (size_t)(W - 1) * (size_t)cs;
    for (size_t i = 0; i < n_right; i++)
        for (int c = 0; c < cs; c++)
            *p++ = pad == NID_PAD_ZERO ? 0.0f : last[c];
    memset(p, 0, (size_t)extra * (size_t)cs * sizeof *p);
}

/* Horizontal pass of one fetched gray line into W floats. */
static void hpass1(const nid_axis *ax, const float *line, float *dst)
{
    const int32_t W = ax->out, T = ax->taps;
    const int32_t *first = ax->idx;
    const float *w = ax->w;
    switch (T) {
    case 1:
        for (int32_t j = 0; j < W; j++) dst[j] = line[first[j]];
        return;
    case 2:
        for (int32_t j = 0; j < W; j++) {
            const float *p = line + first[j];
            dst[j] = w[2 * j] * p[0] + w[2 * j + 1] * p[1];
        }
        return;
    case 3:
        for (int32_t j = 0; j < W; j++) {
            const float *p = line + first[j], *q = w + 3 * j;
            dst[j] = q[0] * p[0] + q[1] * p[1] + q[2] * p[2];
        }
        return;
    case 4:
        for (int32_t j = 0; j < W; j++) {
            const float *p = line + first[j], *q = w + 4 * j;
            dst[j] = q[0] * p[0] + q[1] * p[1] + q[2] * p[2] + q[3] * p[3];
        }
        return;
    default:
        for (int32_t j = 0; j < W; j++) {
            const float *p = line + first[j], *q = w + (size_t)j * T;
            float acc = 0.0f;
            for (int32_t k = 0; k < T; k++) acc += q[k] * p[k];
            dst[j] = acc;
        }
    }
}

/* Horizontal pass of an RGB line into three planes of W floats. */
static void hpass3(const nid_axis *ax, const float *line, float *dst)
{
    const int32_t W = ax->out, T = ax->taps;
    for (int32_t j = 0; j < W; j++) {
        const float *p = line + 3 * (size_t)ax->idx[j];
        const float *q = ax->w + (size_t)j * T;
        float r = 0.0f, g = 0.0f, b = 0.0f;
        for (int32_t k = 0; k < T; k++) {
            r += q[k] * p[3 * k];
            g += q[k] * p[3 * k + 1];
            b += q[k] * p[3 * k + 2];
        }
        dst[j] = r;
        dst[W + j] = g;
        dst[2 * W + j] = b;
    }
}

/* Vertical taps of one output row: acc[j] = sum_k w[k] * src[k][off + j]. */
static void vpass(const float *const *src, size_t off, const float *w,
                  int32_t T, int32_t W, float *acc)
{
    if (T == 1) {
        memcpy(acc, src[0] + off, (size_t)W * sizeof *acc);
        return;
    }
    const float *a = src[0] + off, *b = src[1] + off;
    const float wa = w[0], wb = w[1];
    for (int32_t j = 0; j < W; j++) acc[j] = wa * a[j] + wb * b[j];
    for (int32_t k = 2; k < T; k++) {
        const float *s = src[k] + off;
        const float wk = w[k];
        if (wk == 0.0f) continue;
        for (int32_t j = 0; j < W; j++) acc[j] += wk * s[j];
    }
}

int nid__resize_crop(nid_resize_ws *ws, const nid_frame *fr,
                    const nid_crop *c, const nid_clip_options *o, float *out,
                    size_t ch_stride)
{
    const int32_t H = o->height, W = o->width;
    const int cs = fr->format == NID_PIX_RGB24 ? 3 : 1;
    const int pad = o->pad;
    const size_t plane = ch_stride, row_f = (size_t)W * cs;
    const int64_t cw = c->x1 - c->x0, chh = c->y1 - c->y0;
    if (axis_build(&ws->x, cw, W, o->filter) != NID_OK ||
        axis_build(&ws->y, chh, H, o->filter) != NID_OK)
        goto oom;
    const nid_axis *ay = &ws->y;
    const int32_t Ty = ay->taps, Tx = ws->x.taps;

    /* image rows the vertical taps touch (with weight), clamped */
    int64_t vlo = INT64_MAX, vhi = INT64_MIN;
    for (int32_t i = 0; i < H; i++)
        for (int32_t k = 0; k < Ty; k++)
            if (ay->w[(size_t)i * Ty + k] != 0.0f) {
                int64_t v = ay->idx[i] + k;
                if (v < vlo) vlo = v;
                if (v > vhi) vhi = v;
            }
    int64_t rlo = c->y0 + vlo, rhi = c->y0 + vhi;
    if (pad == NID_PAD_REPLICATE) {
        rlo = rlo < 0 ? 0 : rlo > fr->height - 1 ? fr->height - 1 : rlo;
        rhi = rhi < 0 ? 0 : rhi > fr->height - 1 ? fr->height - 1 : rhi;
    } else {
        if (rlo < 0) rlo = 0;
        if (rhi > fr->height - 1) rhi = fr->height - 1;
    }
    int64_t n_rows = rhi >= rlo ? rhi - rlo + 1 : 0;

    /* rows: n_rows resampled rows + one zero row; line: one fetched row;
     * acc: cs raw output rows */
    size_t line_n = (size_t)(cw + Tx) * (size_t)cs;
    if (grow(&ws->rows, &ws->rows_cap, ((size_t)n_rows + 1) * row_f) ||
        grow(&ws->line, &ws->line_cap, line_n + 3 * (size_t)W))
        goto oom;
    float *zero = ws->rows + (size_t)n_rows * row_f;
    memset(zero, 0, row_f * sizeof *zero);
    float *line = ws->line, *acc = ws->line + line_n;
    for (int64_t r = 0; r < n_rows; r++) {
        fetch_row(fr, rlo + r, c->x0, cw, Tx, cs, pad, line);
        float *dst = ws->rows + (size_t)r * row_f;
        if (cs == 1) hpass1(&ws->x, line, dst);
        else hpass3(&ws->x, line, dst);
    }

    float a[3], b[3];
    for (int ch = 0; ch < 3; ch++) {
        a[ch] = 1.0f / (255.0f * o->std[ch]);
        b[ch] = -o->mean[ch] / o->std[ch];
    }
    const float *src[64];
    const float **srcp = Ty <= 64 ? src : malloc((size_t)Ty * sizeof *srcp);
    if (!srcp) goto oom;
    for (int32_t i = 0; i < H; i++) {
        for (int32_t k = 0; k < Ty; k++) {
            int64_t y = c->y0 + ay->idx[i] + k;
            if (y < 0 || y >= fr->height) {
                if (pad == NID_PAD_ZERO) {
                    srcp[k] = zero;
                    continue;
                }
                y = y < 0 ? 0 : fr->height - 1;
            }
            srcp[k] = (y >= rlo && y <= rhi)
                          ? ws->rows + (size_t)(y - rlo) * row_f : zero;
        }
        const float *w = ay->w + (size_t)i * Ty;
        for (int s = 0; s < cs; s++)   /* RGB: channel plane s of the rows */
            vpass(srcp, (size_t)s * W, w, Ty, W, acc + (size_t)s * W);
        float *dst = out + (size_t)i * W;
        if (cs == 1) {
            for (int ch = 0; ch < o->channels; ch++) {
                float *d = dst + (size_t)ch * plane;
                const float ac = a[ch], bc = b[ch];
                for (int32_t j = 0; j < W; j++) d[j] = acc[j] * ac + bc;
            }
        } else if (o->channels == 3) {
            for (int ch = 0; ch < 3; ch++) {
                float *d = dst + (size_t)ch * plane;
                const float *s = acc + (size_t)ch * W;
                const float ac = a[ch], bc = b[ch];
                for (int32_t j = 0; j < W; j++) d[j] = s[j] * ac + bc;
            }
        } else {
            const float *r = acc, *g = acc + W, *bl = acc + 2 * (size_t)W;
            for (int32_t j = 0; j < W; j++)
                dst[j] = (0.299f * r[j] + 0.587f * g[j] + 0.114f * bl[j]) *
                         a[0] + b[0];
        }
    }
    if (srcp != src) free(srcp);
    return NID_OK;
oom:
    return nid__fail(NID_ENOMEM, "nid_crop_resize: out of memory");
}
