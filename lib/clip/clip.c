/*
 * clip.c - clips from tracklets: frame sampling (uniform / sliding
 * windows), crop with margin around the tracklet's box, resize,
 * normalisation, N x C x T x H x W float output.
 */
#include "clip_internal.h"
#include "tracklet/tracklet_internal.h"
#include "video_internal.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Limits that keep every size product far from overflow. */
#define MAX_FRAMES 65536
#define MAX_SIDE   16384
/* Largest context_margin: a crop 33 times the box's size on each axis. */
#define MAX_CONTEXT_MARGIN 16.0f

/* coords was appended in 0.2: read only when the caller's struct_size
 * covers it. */
int32_t nid__clip_coords(const nid_clip_options *o)
{
    return NID__HAS(nid_clip_options, o->struct_size, coords) ? o->coords
                                                             : NID_COORDS_NONE;
}

/* context_margin too (0.2, after coords). */
float nid__clip_context(const nid_clip_options *o)
{
    return NID__HAS(nid_clip_options, o->struct_size, context_margin)
               ? o->context_margin : 0.0f;
}

int32_t nid__input_channels(int32_t channels, int32_t coords, float context_margin)
{
    return channels + (coords == NID_COORDS_FRAME ? 2 : 0) +
           (context_margin > 0.0f ? channels : 0);
}

int32_t nid__clip_channels(const nid_clip_options *o)
{
    return nid__input_channels(o->channels, (int32_t)nid__clip_coords(o),
                               nid__clip_context(o));
}

/* Channels a crop (nid_crop_resize) has: the clip's without the context
 * channels. */
static int32_t crop_channels(const nid_clip_options *o)
{
    return o->channels + (nid__clip_coords(o) == NID_COORDS_FRAME ? 2 : 0);
}

static void clip_options_defaults(nid_clip_options *d)
{
    d->frames = 16;
    d->height = 256;
    d->width = 128;
    d->channels = 3;
    d->margin = 0.1f;
    d->filter = NID_FILTER_AREA;
    d->interp = NID_INTERP_UNION;
    d->sampling = NID_SAMPLE_UNIFORM;
    d->window_stride = 0;
    d->pad = NID_PAD_ZERO;
    for (int c = 0; c < 3; c++) {
        d->mean[c] = 0.5f;
        d->std[c] = 0.5f;
    }
    d->coords = NID_COORDS_NONE;
    d->context_margin = 0.0f;
}

NID__DEFINE_INIT(nid_clip_options, clip_options_defaults)

int nid__clip_check_options(const nid_clip_options *o, const char *fn)
{
    int rc = NID__STRUCT_CHECK(fn, "opts", nid_clip_options, o);
    if (rc) return rc;
    if (o->frames < 1 || o->frames > MAX_FRAMES)
        return nid__fail(NID_EINVAL, "%s: frames %d must be in [1, %d]", fn,
                        (int)o->frames, MAX_FRAMES);
    if (o->height < 1 || o->height > MAX_SIDE || o->width < 1 ||
        o->width > MAX_SIDE)
        return nid__fail(NID_EINVAL, "%s: height %d and width %d must be in "
                        "[1, %d]", fn, (int)o->height, (int)o->width,
                        MAX_SIDE);
    if (o->channels != 1 && o->channels != 3)
        return nid__fail(NID_EINVAL, "%s: channels %d must be 1 or 3", fn,
                        (int)o->channels);
    if (!(o->margin >= 0.0f && o->margin <= 100.0f))
        return nid__fail(NID_EINVAL, "%s: margin %g must be in [0, 100]", fn,
                        o->margin);
    if (o->filter < NID_FILTER_AREA || o->filter > NID_FILTER_NEAREST)
        return nid__fail(NID_EINVAL, "%s: unknown filter %d", fn,
                        (int)o->filter);
    if (o->interp != NID_INTERP_UNION && o->interp != NID_INTERP_LINEAR)
        return nid__fail(NID_EINVAL, "%s: unknown interp %d", fn,
                        (int)o->interp);
    if (o->sampling != NID_SAMPLE_UNIFORM &&
        o->sampling != NID_SAMPLE_WINDOWS)
        return nid__fail(NID_EINVAL, "%s: unknown sampling %d", fn,
                        (int)o->sampling);
    if (o->pad != NID_PAD_ZERO && o->pad != NID_PAD_REPLICATE)
        return nid__fail(NID_EINVAL, "%s: unknown pad %d", fn, (int)o->pad);
    int32_t coords = nid__clip_coords(o);
    if (coords != NID_COORDS_NONE && coords != NID_COORDS_FRAME)
        return nid__fail(NID_EINVAL, "%s: unknown coords %d", fn, (int)coords);
    float context = nid__clip_context(o);
    if (!(context >= 0.0f && context <= MAX_CONTEXT_MARGIN))
        return nid__fail(NID_EINVAL, "%s: context_margin %g must be in [0, %g] "
                        "(0: no context channels)", fn, context,
                        MAX_CONTEXT_MARGIN);
    for (int c = 0; c < 3; c++) {
        if (!isfinite(o->mean[c]) || !isfinite(o->std[c]) ||
            o->std[c] == 0.0f || !isfinite(1.0f / (255.0f * o->std[c])))
            return nid__fail(NID_EINVAL, "%s: mean[%d] = %g, std[%d] = %g: "
                            "need finite values and std != 0", fn, c,
                            o->mean[c], c, o->std[c]);
    }
    return NID_OK;
}

int nid__crop_rect(const nid_box *b, float margin, const char *fn,
                  nid_crop *out)
{
    /* margin * size in float, so that e.g. 0.1f * 240 is exactly 24 */
    double mx = (double)(margin * b->w), my = (double)(margin * b->h);
    double x0 = floor(b->x - mx), x1 = ceil((double)b->x + b->w + mx);
    double y0 = floor(b->y - my), y1 = ceil((double)b->y + b->h + my);
    if (x1 <= x0) x1 = x0 + 1;
    if (y1 <= y0) y1 = y0 + 1;
    if (x1 - x0 > NID__MAX_CROP || y1 - y0 > NID__MAX_CROP ||
        fabs(x0) > 4.0 * NID__MAX_CROP || fabs(y0) > 4.0 * NID__MAX_CROP)
        return nid__fail(NID_EINVAL, "%s: box [%g, %g, %g, %g] with margin "
                        "%g gives a crop too large or too far out (limit "
                        "%d pixels)", fn, b->x, b->y, b->w, b->h, margin,
                        NID__MAX_CROP);
    *out = (nid_crop){(int64_t)x0, (int64_t)y0, (int64_t)x1, (int64_t)y1};
    return NID_OK;
}

static int check_frame(const nid_frame *f, const char *fn)
{
    if (!f->data)
        return nid__fail(NID_EINVAL, "%s: frame->data is NULL", fn);
    if (f->format != NID_PIX_GRAY8 && f->format != NID_PIX_RGB24)
        return nid__fail(NID_EINVAL, "%s: unknown pixel format %d", fn,
                        (int)f->format);
    size_t bpp = f->format == NID_PIX_RGB24 ? 3 : 1;
    if (f->width < 1 || f->height < 1 ||
        f->stride < (size_t)f->width * bpp)
        return nid__fail(NID_EINVAL, "%s: frame %dx%d with stride %zu is "
                        "invalid (stride must be >= %zu)", fn,
                        (int)f->width, (int)f->height, f->stride,
                        (size_t)f->width * bpp);
    return NID_OK;
}

/* Floats of one clip frame, every channel. */
static size_t frame_floats(const nid_clip_options *o)
{
    return (size_t)nid__clip_channels(o) * (size_t)o->height * (size_t)o->width;
}

/* The coordinate channels (nid_coords) of one clip frame for crop c of
 * box b in a frame frame_h pixels high: Y at dst, X at dst + ch_stride. */
static void fill_coords(const nid_crop *c, const nid_box *b, int32_t frame_h,
                        const nid_clip_options *o, float *dst,
                        size_t ch_stride)
{
    const size_t H = (size_t)o->height, W = (size_t)o->width;
    const double sy = (double)(c->y1 - c->y0) / (double)H;
    const double sx = (double)(c->x1 - c->x0) / (double)W;
    const double cx = (double)b->x + (double)b->w / 2.0, fh = frame_h;
    float *X = dst + ch_stride;
    for (size_t r = 0; r < H; r++) {
        float y = (float)(2.0 * ((double)c->y0 + ((double)r + 0.5) * sy) / fh
                          - 1.0);
        for (size_t k = 0; k < W; k++) dst[r * W + k] = y;
    }
    for (size_t k = 0; k < W; k++)
        X[k] = (float)(2.0 * ((double)c->x0 + ((double)k + 0.5) * sx - cx) / fh);
    for (size_t r = 1; r < H; r++) memcpy(X + r * W, X, W * sizeof *X);
}

/* The crop rectangles of box b in one clip frame: c (margin) and, with
 * context channels, cc (context_margin; else cc = c). */
static int frame_crops(const nid_box *b, const nid_clip_options *o,
                       const char *fn, const char *ctx_fn, nid_crop *c,
                       nid_crop *cc)
{
    int rc = nid__crop_rect(b, o->margin, fn, c);
    float context = nid__clip_context(o);
    if (rc == NID_OK && context > 0.0f)
        rc = nid__crop_rect(b, context, ctx_fn, cc);
    else if (rc == NID_OK)
        *cc = *c;
    return rc;
}

/* Every channel of one clip frame from crops c and cc of box b
 * (frame_crops) in `frame` (frame_h pixels high in the video): the image
 * channels, the coordinate channels, the context channels, channel k at
 * dst + k * ch_stride. */
static int clip_frame(nid_resize_ws *ws, const nid_frame *frame,
                      const nid_crop *c, const nid_crop *cc,
                      const nid_box *b, int32_t frame_h,
                      const nid_clip_options *o, float *dst, size_t ch_stride)
{
    int rc = nid__resize_crop(ws, frame, c, o, dst, ch_stride);
    size_t ch = (size_t)o->channels;
    if (rc == NID_OK && nid__clip_coords(o) == NID_COORDS_FRAME) {
        fill_coords(c, b, frame_h, o, dst + ch * ch_stride, ch_stride);
        ch += 2;
    }
    if (rc == NID_OK && nid__clip_context(o) > 0.0f)
        rc = nid__resize_crop(ws, frame, cc, o, dst + ch * ch_stride,
                             ch_stride);
    return rc;
}

int nid_crop_resize(const nid_frame *frame, const nid_box *box,
                    const nid_clip_options *opts, float *out,
                    size_t out_cap, size_t *needed)
{
    static const char fn[] = "nid_crop_resize";
    nid_clip_options defaults;
    nid_clip_options_init(&defaults);
    if (!opts) opts = &defaults;
    if (!frame || !box || !out)
        return nid__fail(NID_EINVAL, "%s: frame, box or out is NULL", fn);
    int rc = nid__clip_check_options(opts, fn);
    if (rc == NID_OK) rc = check_frame(frame, fn);
    if (rc != NID_OK) return rc;
    if (!nid__box_valid(box))
        return nid__fail(NID_EINVAL, "%s: box [%g, %g, %g, %g] needs finite "
                        "values and w > 0, h > 0", fn, box->x, box->y,
                        box->w, box->h);
    /* the single crop: no context channels */
    size_t n = (size_t)crop_channels(opts) * (size_t)opts->height *
               (size_t)opts->width;
    if (out_cap < n) {
        if (needed) *needed = n;
        return nid__fail(NID_EBUFSIZE, "%s: out has room for %zu floats, "
                        "needs %zu (%d x %d x %d)", fn, out_cap, n,
                        (int)crop_channels(opts), (int)opts->height,
                        (int)opts->width);
    }
    nid_crop c;
    if ((rc = nid__crop_rect(box, opts->margin, fn, &c)) != NID_OK) return rc;
    /* resample into scratch so that `out` is untouched on failure */
    float *tmp = malloc(n * sizeof *tmp);
    if (!tmp) return nid__fail(NID_ENOMEM, "%s: out of memory", fn);
    nid_resize_ws ws = {0};
    const size_t hw = (size_t)opts->height * (size_t)opts->width;
    rc = nid__resize_crop(&ws, frame, &c, opts, tmp, hw);
    if (rc == NID_OK && nid__clip_coords(opts) == NID_COORDS_FRAME)
        fill_coords(&c, box, frame->height, opts,
                    tmp + (size_t)opts->channels * hw, hw);
    nid__resize_ws_free(&ws);
    if (rc == NID_OK) memcpy(out, tmp, n * sizeof *tmp);
    free(tmp);
    if (rc != NID_OK) return rc;
    if (needed) *needed = n;
    nid_clear_error();
    return NID_OK;
}

/* ------------------------------------------------------------------------ */
/* Sampling                                                                 */
/* ------------------------------------------------------------------------ */

static int64_t stride_of(const nid_clip_options *o)
{
    return o->window_stride > 0 ? o->window_stride : o->frames;
}

static size_t n_clips_of(const nid_trk *t, const nid_clip_options *o)
{
    uint64_t len = (uint64_t)(t->end - t->start) + 1;
    uint64_t T = (uint64_t)o->frames;
    if (o->sampling == NID_SAMPLE_UNIFORM || len <= T) return 1;
    uint64_t s = (uint64_t)stride_of(o);
    uint64_t n = 1 + (len - T + s - 1) / s;
    return n > SIZE_MAX ? SIZE_MAX : (size_t)n;
}

/* Frame numbers of clip k (k < n_clips_of). */
static void clip_frames(const nid_trk *t, const nid_clip_options *o,
                        size_t k, int64_t *frames)
{
    uint64_t len = (uint64_t)(t->end - t->start) + 1;
    uint64_t T = (uint64_t)o->frames;
    if (o->sampling == NID_SAMPLE_WINDOWS && len > T) {
        uint64_t off = (uint64_t)k * (uint64_t)stride_of(o);
        if (off > len - T) off = len - T;
        for (uint64_t i = 0; i < T; i++)
            frames[i] = t->start + (int64_t)(off + i);
        return;
    }
    if (T == 1) {
        frames[0] = t->start + (int64_t)((len - 1) / 2);
        return;
    }
    /* start + floor(i * (len - 1) / (T - 1) + 1/2), exactly */
    for (uint64_t i = 0; i < T; i++) {
        unsigned __int128 num = (unsigned __int128)(2 * i) * (len - 1) +
                                (T - 1);
        frames[i] = t->start + (int64_t)(num / (2 * (T - 1)));
    }
}

static int get_trk(const nid_exam *e, size_t t, const char *fn,
                   const nid_trk **out)
{
    if (t >= e->n_trk)
        return nid__fail(NID_ERANGE, "%s: tracklet %zu out of range (exam "
                        "has %zu)", fn, t, e->n_trk);
    *out = &e->trk[t];
    return NID_OK;
}

static int sizes(const nid_trk *t, const nid_clip_options *o, const char *fn,
                 size_t *n_clips, size_t *n_floats)
{
    size_t n = n_clips_of(t, o), per, total;
    if (!nid__mul_size(frame_floats(o), (size_t)o->frames, &per) ||
        !nid__mul_size(per, n, &total))
        return nid__fail(NID_ENOMEM, "%s: tracklet \"%s\": %zu clips of %d "
                        "frames do not fit in memory", fn, t->id, n,
                        (int)o->frames);
    *n_clips = n;
    *n_floats = total;
    return NID_OK;
}

int nid_clip_count(const nid_exam *e, size_t t, const nid_clip_options *opts,
                   size_t *n_clips, size_t *n_floats)
{
    static const char fn[] = "nid_clip_count";
    nid_clip_options defaults;
    nid_clip_options_init(&defaults);
    if (!opts) opts = &defaults;
    if (!e) return nid__fail(NID_EINVAL, "%s: exam is NULL", fn);
    const nid_trk *trk = NULL;
    size_t n, nf;
    int rc = nid__clip_check_options(opts, fn);
    if (rc == NID_OK) rc = get_trk(e, t, fn, &trk);
    if (rc == NID_OK) rc = sizes(trk, opts, fn, &n, &nf);
    if (rc != NID_OK) return rc;
    if (n_clips) *n_clips = n;
    if (n_floats) *n_floats = nf;
    nid_clear_error();
    return NID_OK;
}

int nid_clip_frames(const nid_exam *e, size_t t, const nid_clip_options *opts,
                    size_t clip, int64_t *frames, size_t frames_cap,
                    size_t *needed)
{
    static const char fn[] = "nid_clip_frames";
    nid_clip_options defaults;
    nid_clip_options_init(&defaults);
    if (!opts) opts = &defaults;
    if (!e || !frames)
        return nid__fail(NID_EINVAL, "%s: exam or frames is NULL", fn);
    const nid_trk *trk = NULL;
    int rc = nid__clip_check_options(opts, fn);
    if (rc == NID_OK) rc = get_trk(e, t, fn, &trk);
    if (rc != NID_OK) return rc;
    size_t n = n_clips_of(trk, opts);
    if (clip >= n)
        return nid__fail(NID_ERANGE, "%s: tracklet \"%s\" gives %zu clips, "
                        "asked for clip %zu", fn, trk->id, n, clip);
    if (frames_cap < (size_t)opts->frames) {
        if (needed) *needed = (size_t)opts->frames;
        return nid__fail(NID_EBUFSIZE, "%s: frames has room for %zu, needs "
                        "%d", fn, frames_cap, (int)opts->frames);
    }
    clip_frames(trk, opts, clip, frames);
    if (needed) *needed = (size_t)opts->frames;
    nid_clear_error();
    return NID_OK;
}

/* ------------------------------------------------------------------------ */
/* Building clips                                                           */
/* ------------------------------------------------------------------------ */

typedef struct slot {
    int64_t frame;
    size_t  pos;   /* clip * T + t */
} slot;

static int cmp_slot(const void *a, const void *b)
{
    const slot *x = a, *y = b;
    if (x->frame != y->frame) return x->frame < y->frame ? -1 : 1;
    return x->pos < y->pos ? -1 : (x->pos > y->pos);
}

/* The annotation must fit the video it is applied to. */
static int check_against_video(const nid_trk *t, const nid_video_info *vi,
                               const char *fn)
{
    if (t->end >= vi->n_frames)
        return nid__fail(NID_EMISMATCH, "%s: tracklet \"%s\" ends at frame "
                        "%lld but the video has %lld frames", fn, t->id,
                        (long long)t->end, (long long)vi->n_frames);
    for (size_t k = 0; k < t->n_kf; k++) {
        const nid_box *b = &t->kf[k].box;
        if (!nid__box_inside(b, vi->width, vi->height))
            return nid__fail(NID_EMISMATCH, "%s: tracklet \"%s\", frame "
                            "%lld: box [%g, %g, %g, %g] extends outside the "
                            "video's %dx%d frames", fn, t->id,
                            (long long)t->kf[k].frame, b->x, b->y, b->w,
                            b->h, (int)vi->width, (int)vi->height);
    }
    return NID_OK;
}

/* ------------------------------------------------------------------------ */
/* Several tracklets of one video in one decoding pass                      */
/* ------------------------------------------------------------------------ */

typedef struct mslot {
    int64_t frame;
    size_t  piece;
    size_t  pos;   /* clip * T + t within the piece */
} mslot;

static int cmp_mslot(const void *a, const void *b)
{
    const mslot *x = a, *y = b;
    if (x->frame != y->frame) return x->frame < y->frame ? -1 : 1;
    if (x->piece != y->piece) return x->piece < y->piece ? -1 : 1;
    return x->pos < y->pos ? -1 : (x->pos > y->pos);
}

int nid__clip_build_pieces(nid_video *video, const nid_exam *e,
                          const nid_clip_options *opts,
                          const nid_clip_piece *pieces, size_t n_pieces)
{
    static const char fn[] = "nid_clip_build";
    static const char ctx_fn[] = "nid_clip_build: context_margin";
    nid_clip_options defaults;
    nid_clip_options_init(&defaults);
    if (!opts) opts = &defaults;
    if (!video || !e || (!pieces && n_pieces))
        return nid__fail(NID_EINVAL, "%s: video, exam or pieces is NULL", fn);
    int rc = nid__clip_check_options(opts, fn);
    if (rc != NID_OK) return rc;
    nid_video_info vi;
    nid_video_info_init(&vi);
    if ((rc = nid_video_get_info(video, &vi)) != NID_OK) return rc;
    const size_t T = (size_t)opts->frames;
    size_t n_slots = 0;
    for (size_t p = 0; p < n_pieces; p++) {
        const nid_trk *trk = NULL;
        size_t n, total, slots;
        if ((rc = get_trk(e, pieces[p].t, fn, &trk)) != NID_OK ||
            (rc = sizes(trk, opts, fn, &n, &total)) != NID_OK)
            return rc;
        if (pieces[p].k0 >= pieces[p].k1 || pieces[p].k1 > n || !pieces[p].out)
            return nid__fail(NID_ERANGE, "%s: tracklet \"%s\": clips [%zu, %zu) "
                            "of %zu", fn, trk->id, pieces[p].k0, pieces[p].k1,
                            n);
        if ((rc = check_against_video(trk, &vi, fn)) != NID_OK) return rc;
        if (!nid__mul_size(pieces[p].k1 - pieces[p].k0, T, &slots) ||
            slots > SIZE_MAX / sizeof(mslot) - n_slots)
            return nid__fail(NID_ENOMEM, "%s: too many clips", fn);
        n_slots += slots;
    }
    if (n_slots == 0) return NID_OK;
    mslot *slots = malloc(n_slots * sizeof *slots);
    int64_t *fr = malloc(T * sizeof *fr);
    /* per piece: its crop and context crop of the current frame */
    nid_crop *crops = malloc(2 * n_pieces * sizeof *crops);
    nid_box *boxes = malloc(n_pieces * sizeof *boxes);
    if (!slots || !fr || !crops || !boxes) {
        free(slots);
        free(fr);
        free(crops);
        free(boxes);
        return nid__fail(NID_ENOMEM, "%s: out of memory for %zu frame slots",
                        fn, n_slots);
    }
    size_t ns = 0;
    for (size_t p = 0; p < n_pieces; p++) {
        const nid_trk *trk = &e->trk[pieces[p].t];
        for (size_t k = pieces[p].k0; k < pieces[p].k1; k++) {
            clip_frames(trk, opts, k, fr);
            for (size_t i = 0; i < T; i++)
                slots[ns++] = (mslot){fr[i], p, (k - pieces[p].k0) * T + i};
        }
    }
    /* every frame decoded once, in increasing order, whichever tracklets
     * sample it; per tracklet: resample into its first slot of the frame,
     * copy to the others */
    qsort(slots, n_slots, sizeof *slots, cmp_mslot);
    const size_t hw = (size_t)opts->height * (size_t)opts->width;
    const size_t C = (size_t)nid__clip_channels(opts), ch_stride = T * hw;
    nid_crop *ccrops = crops + n_pieces;
    nid_resize_ws ws = {0};
    for (size_t s = 0; s < n_slots && rc == NID_OK;) {
        const int64_t f = slots[s].frame;
        size_t end = s;
        /* the crops of every tracklet that samples frame f, and the
         * rectangle around them all: the only pixels read */
        int64_t ux0 = INT64_MAX, uy0 = INT64_MAX, ux1 = INT64_MIN,
                uy1 = INT64_MIN;
        for (; end < n_slots && slots[end].frame == f && rc == NID_OK; end++) {
            size_t p = slots[end].piece;
            if (end > s && slots[end - 1].piece == p) continue;
            boxes[p] = nid__trk_box(&e->trk[pieces[p].t], f, opts->interp);
            rc = frame_crops(&boxes[p], opts, fn, ctx_fn, &crops[p],
                             &ccrops[p]);
            if (rc != NID_OK) break;
            for (int k = 0; k < 2; k++) {
                const nid_crop *c = k ? &ccrops[p] : &crops[p];
                if (c->x0 < ux0) ux0 = c->x0;
                if (c->y0 < uy0) uy0 = c->y0;
                if (c->x1 > ux1) ux1 = c->x1;
                if (c->y1 > uy1) uy1 = c->y1;
            }
        }
        nid_frame frame;
        if (rc == NID_OK)
            rc = nid__video_frame_roi(video, f, ux0, uy0, ux1, uy1, &frame);
        for (size_t q = s; q < end && rc == NID_OK;) {
            const size_t p = slots[q].piece;
            const size_t T_ = T;
            float *base = pieces[p].out;
            float *first = base + ((slots[q].pos / T_) * C * T_ +
                                   slots[q].pos % T_) * hw;
            rc = clip_frame(&ws, &frame, &crops[p], &ccrops[p], &boxes[p],
                            vi.height, opts, first, ch_stride);
            for (q++; q < end && slots[q].piece == p && rc == NID_OK; q++) {
                float *dst = base + ((slots[q].pos / T_) * C * T_ +
                                     slots[q].pos % T_) * hw;
                for (size_t ch = 0; ch < C; ch++)
                    memcpy(dst + ch * ch_stride, first + ch * ch_stride,
                           hw * sizeof *dst);
            }
        }
        s = end;
    }
    nid__resize_ws_free(&ws);
    free(slots);
    free(fr);
    free(crops);
    free(boxes);
    if (rc == NID_OK) nid_clear_error();
    return rc;
}

int nid_clip_build(nid_video *video, const nid_exam *e, size_t t,
                   const nid_clip_options *opts, float *out, size_t out_cap,
                   size_t *n_clips, size_t *needed)
{
    return nid__clip_build_range(video, e, t, opts, 0, SIZE_MAX, out, out_cap,
                                n_clips, needed);
}

int nid__clip_build_range(nid_video *video, const nid_exam *e, size_t t,
                         const nid_clip_options *opts, size_t k0, size_t k1,
                         float *out, size_t out_cap, size_t *n_clips,
                         size_t *needed)
{
    static const char fn[] = "nid_clip_build";
    static const char ctx_fn[] = "nid_clip_build: context_margin";
    nid_clip_options defaults;
    nid_clip_options_init(&defaults);
    if (!opts) opts = &defaults;
    if (!video || !e || !out)
        return nid__fail(NID_EINVAL, "%s: video, exam or out is NULL", fn);
    const nid_trk *trk = NULL;
    size_t n, total;
    int rc = nid__clip_check_options(opts, fn);
    if (rc == NID_OK) rc = get_trk(e, t, fn, &trk);
    if (rc == NID_OK) rc = sizes(trk, opts, fn, &n, &total);
    if (rc != NID_OK) return rc;
    if (k1 > n) k1 = n;
    if (k0 >= k1)
        return nid__fail(NID_ERANGE, "%s: tracklet \"%s\": clips [%zu, %zu) "
                        "of %zu", fn, trk->id, k0, k1, n);
    total = total / n * (k1 - k0);
    if (out_cap < total) {
        if (needed) *needed = total;
        return nid__fail(NID_EBUFSIZE, "%s: tracklet \"%s\": out has room "
                        "for %zu floats, needs %zu (%zu clips x %d x %d x "
                        "%d x %d)", fn, trk->id, out_cap, total, k1 - k0,
                        (int)nid__clip_channels(opts), (int)opts->frames,
                        (int)opts->height, (int)opts->width);
    }
    nid_video_info vi;
    nid_video_info_init(&vi);
    if ((rc = nid_video_get_info(video, &vi)) != NID_OK) return rc;
    if ((rc = check_against_video(trk, &vi, fn)) != NID_OK) return rc;

    const size_t T = (size_t)opts->frames;
    const size_t hw = (size_t)opts->height * (size_t)opts->width;
    size_t n_slots;
    if (!nid__mul_size(k1 - k0, T, &n_slots))
        return nid__fail(NID_ENOMEM, "%s: too many clips", fn);
    slot *slots = malloc(n_slots * sizeof *slots);
    int64_t *fr = malloc(T * sizeof *fr);
    /* the clips are built in scratch memory and copied to out at the end,
     * so that a decode error part-way leaves the caller's buffer as it was
     * (docs/api-conventions.md) */
    float *const dst_out = out;
    out = malloc(total * sizeof *out);
    if (!slots || !fr || !out) {
        free(slots);
        free(fr);
        free(out);
        return nid__fail(NID_ENOMEM, "%s: out of memory for %zu floats", fn,
                        total);
    }
    for (size_t k = k0; k < k1; k++) {
        clip_frames(trk, opts, k, fr);
        for (size_t i = 0; i < T; i++)
            slots[(k - k0) * T + i] = (slot){fr[i], (k - k0) * T + i};
    }
    /* decode in increasing frame order, each frame once; resample into
     * the frame's first slot, copy to its other slots */
    qsort(slots, n_slots, sizeof *slots, cmp_slot);
    const size_t C = (size_t)nid__clip_channels(opts), ch_stride = T * hw;
    nid_resize_ws ws = {0};
    for (size_t s = 0; s < n_slots && rc == NID_OK;) {
        int64_t f = slots[s].frame;
        nid_frame frame;
        nid_box box = nid__trk_box(trk, f, opts->interp);
        nid_crop c, cc;
        float *first = out + ((slots[s].pos / T) * C * T + slots[s].pos % T) *
                                 hw;
        rc = frame_crops(&box, opts, fn, ctx_fn, &c, &cc);
        /* only the crops' pixels are read (padding is done here) */
        if (rc == NID_OK)
            rc = nid__video_frame_roi(video, f, c.x0 < cc.x0 ? c.x0 : cc.x0,
                                      c.y0 < cc.y0 ? c.y0 : cc.y0,
                                      c.x1 > cc.x1 ? c.x1 : cc.x1,
                                      c.y1 > cc.y1 ? c.y1 : cc.y1, &frame);
        if (rc == NID_OK)
            rc = clip_frame(&ws, &frame, &c, &cc, &box, vi.height, opts, first,
                            ch_stride);
        for (s++; s < n_slots && slots[s].frame == f && rc == NID_OK; s++) {
            float *dst = out + ((slots[s].pos / T) * C * T +
                                slots[s].pos % T) * hw;
            for (size_t ch = 0; ch < C; ch++)
                memcpy(dst + ch * ch_stride, first + ch * ch_stride,
                       hw * sizeof *dst);
        }
    }
    nid__resize_ws_free(&ws);
    free(slots);
    free(fr);
    if (rc == NID_OK) memcpy(dst_out, out, total * sizeof *out);
    free(out);
    if (rc != NID_OK) return rc;
    if (n_clips) *n_clips = k1 - k0;
    if (needed) *needed = total;
    nid_clear_error();
    return NID_OK;
}
