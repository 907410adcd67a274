/*
 * video.c - the nid_video handle: argument checking, dispatch to the FFmpeg
 * and DCMTK backends, and the raw-frames backend (nid_video_from_frames).
 *
 * Backends decode into their own buffer and return a view; this file checks
 * indices, keeps the file name for messages, converts GRAY8 <-> RGB24 when
 * a backend cannot produce the requested format itself, and copies frames
 * into caller buffers.
 */
#include "video_internal.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct nid_video {
    const nid_video_backend *backend;
    void *state;
    nid_video_info info;    /* info.format is the format returned to callers */
    int32_t native_format;  /* format the backend produces                   */
    double *times;          /* per-frame seconds, or NULL: index / fps       */
    char *name;             /* file name or "<frames>", for messages         */
    uint8_t *conv;          /* conversion buffer, packed, one frame          */
};

/* ------------------------------------------------------------------------ */
/* Options and info                                                         */
/* ------------------------------------------------------------------------ */

static void video_options_defaults(nid_video_options *d)
{
    d->format = NID_PIX_GRAY8;
    d->n_threads = 0;
}

NID__DEFINE_INIT(nid_video_options, video_options_defaults)

NID__DEFINE_INIT(nid_video_info, nid__no_defaults)

/* ------------------------------------------------------------------------ */
/* Pixel conversion (shared with the backends)                              */
/* ------------------------------------------------------------------------ */

/* BT.601 luma with weights summing to 256, so white stays 255 and a gray
 * RGB pixel stays the same gray. */
static inline uint8_t rgb_to_luma(const uint8_t *p)
{
    return (uint8_t)((77u * p[0] + 150u * p[1] + 29u * p[2] + 128u) >> 8);
}

void nid__pix_convert(const nid_frame *src, uint8_t *dst, size_t dst_stride,
                     int32_t dst_format)
{
    for (int32_t y = 0; y < src->height; y++) {
        const uint8_t *s = src->data + (size_t)y * src->stride;
        uint8_t *d = dst + (size_t)y * dst_stride;
        if (src->format == dst_format) {
            memcpy(d, s, (size_t)src->width * nid__pix_bytes(dst_format));
        } else if (dst_format == NID_PIX_GRAY8) {
            for (int32_t x = 0; x < src->width; x++) d[x] = rgb_to_luma(s + 3 * x);
        } else {
            for (int32_t x = 0; x < src->width; x++)
                d[3 * x] = d[3 * x + 1] = d[3 * x + 2] = s[x];
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Raw frames backend                                                       */
/* ------------------------------------------------------------------------ */

typedef struct frames_state {
    nid_frame *frames;  /* n views (into `pixels` when copied)   */
    uint8_t *pixels;    /* owned copy, or NULL when borrowed     */
} frames_state;

static int frames_read(void *state, int64_t index, nid_frame *frame)
{
    frames_state *fs = (frames_state *)state;
    *frame = fs->frames[index];
    return NID_OK;
}

static void frames_close(void *state)
{
    frames_state *fs = (frames_state *)state;
    if (!fs) return;
    free(fs->frames);
    free(fs->pixels);
    free(fs);
}

static const nid_video_backend frames_backend = {
    "frames", frames_read, frames_close, NULL, NULL
};

/* Check frame i against frame 0 (the reference); sets *bytes to the size of
 * its pixel rows as laid out in memory. */
static int check_frame(const nid_frame *f, const nid_frame *ref, size_t i,
                       size_t *bytes)
{
    const char *fn = "nid_video_from_frames";
    if (!f->data) return nid__fail(NID_EINVAL, "%s: frame %zu: data is NULL", fn, i);
    if (f->width <= 0 || f->height <= 0)
        return nid__fail(NID_EINVAL, "%s: frame %zu: size %dx%d, expected > 0",
                        fn, i, (int)f->width, (int)f->height);
    size_t bpp = nid__pix_bytes(f->format);
    if (bpp == 0)
        return nid__fail(NID_EINVAL, "%s: frame %zu: unknown pixel format %d",
                        fn, i, (int)f->format);
    size_t row;
    if (!nid__mul_size((size_t)f->width, bpp, &row) || f->stride < row)
        return nid__fail(NID_EINVAL,
                        "%s: frame %zu: stride %zu < width %d * %zu bytes",
                        fn, i, f->stride, (int)f->width, bpp);
    if (ref && (f->width != ref->width || f->height != ref->height))
        return nid__fail(NID_EINVAL, "%s: frame %zu: size %dx%d differs from "
                        "frame 0 (%dx%d)", fn, i, (int)f->width,
                        (int)f->height, (int)ref->width, (int)ref->height);
    if (ref && f->format != ref->format)
        return nid__fail(NID_EINVAL, "%s: frame %zu: format %d differs from "
                        "frame 0 (%d)", fn, i, (int)f->format, (int)ref->format);
    if (ref && f->stride != ref->stride)
        return nid__fail(NID_EINVAL, "%s: frame %zu: stride %zu differs from "
                        "frame 0 (%zu)", fn, i, f->stride, ref->stride);
    size_t body;
    if (!nid__mul_size((size_t)(f->height - 1), f->stride, &body) ||
        body > (size_t)-1 - row)
        return nid__fail(NID_EINVAL, "%s: frame %zu: %d rows of stride %zu "
                        "overflow size_t", fn, i, (int)f->height, f->stride);
    *bytes = body + row;
    return NID_OK;
}

/* Build the frames backend state; copies pixels (packed) when asked. */
static int frames_state_create(const nid_frame *frames, size_t n,
                               unsigned flags, frames_state **out)
{
    const char *fn = "nid_video_from_frames";
    size_t bytes = 0, views;
    for (size_t i = 0; i < n; i++) {
        int rc = check_frame(&frames[i], i ? &frames[0] : NULL, i, &bytes);
        if (rc) return rc;
    }
    if (!nid__mul_size(n, sizeof(nid_frame), &views))
        return nid__fail(NID_ENOMEM, "%s: %zu frames overflow size_t", fn, n);
    frames_state *fs = (frames_state *)calloc(1, sizeof *fs);
    if (fs) fs->frames = (nid_frame *)malloc(views);
    if (!fs || !fs->frames) {
        frames_close(fs);
        return nid__fail(NID_ENOMEM, "%s: cannot allocate %zu frame views", fn, n);
    }
    memcpy(fs->frames, frames, views);
    if (flags & NID_FRAMES_COPY) {
        const nid_frame *f0 = &frames[0];
        size_t row = (size_t)f0->width * nid__pix_bytes(f0->format), one, all;
        if (!nid__mul_size(row, (size_t)f0->height, &one) ||
            !nid__mul_size(one, n, &all) ||
            !(fs->pixels = (uint8_t *)malloc(all))) {
            frames_close(fs);
            return nid__fail(NID_ENOMEM, "%s: cannot copy %zu frames of %dx%d",
                            fn, n, (int)f0->width, (int)f0->height);
        }
        for (size_t i = 0; i < n; i++) {
            uint8_t *dst = fs->pixels + i * one;
            for (int32_t y = 0; y < f0->height; y++)
                memcpy(dst + (size_t)y * row,
                       frames[i].data + (size_t)y * frames[i].stride, row);
            fs->frames[i].data = dst;
            fs->frames[i].stride = row;
        }
    }
    *out = fs;
    return NID_OK;
}

/* ------------------------------------------------------------------------ */
/* Handle                                                                   */
/* ------------------------------------------------------------------------ */

static int video_create(nid_video_src *src, const char *name, nid_video **out)
{
    nid_video *v = (nid_video *)calloc(1, sizeof *v);
    size_t len = strlen(name);
    if (v) v->name = (char *)malloc(len + 1);
    if (!v || !v->name) {
        free(v);
        src->backend->close(src->state);
        free(src->times);
        return nid__fail(NID_ENOMEM, "nid_video: out of memory for '%s'", name);
    }
    memcpy(v->name, name, len + 1);
    v->backend = src->backend;
    v->state = src->state;
    v->info = src->info;
    v->info.struct_size = sizeof v->info;
    v->native_format = src->info.format;
    v->times = src->times;
    *out = v;
    return NID_OK;
}

void nid_video_free(nid_video *v)
{
    if (!v) return;
    v->backend->close(v->state);
    free(v->times);
    free(v->name);
    free(v->conv);
    free(v);
}

/* Does the file start like DICOM Part 10 ("DICM" after the preamble)?
 * Returns NID_OK and sets *is_dicom, or NID_EIO naming the file. */
/* The reader modules, loaded on first use; NULL after nid__fail(). */
static const nid_backend_info *module(nid_backend_id id, size_t size,
                                      const char *ctx)
{
    const nid_backend_info *t = nid_backend_get(id, ctx);
    if (t && t->size < size) {
        nid__fail(NID_ENOTSUP, "%s: the backend module %s has a %u-byte table, "
                 "expected %zu", ctx, t->name, (unsigned)t->size, size);
        return NULL;
    }
    return t;
}

static const nid_dicom_api *dicom_module(const char *ctx)
{
    return (const nid_dicom_api *)module(NID_BACKEND_DICOM,
                                         sizeof(nid_dicom_api), ctx);
}

static const nid_ffmpeg_api *ffmpeg_module(const char *ctx)
{
    return (const nid_ffmpeg_api *)module(NID_BACKEND_FFMPEG,
                                          sizeof(nid_ffmpeg_api), ctx);
}

static int sniff_dicom(const char *path, int *is_dicom)
{
    /* a FIFO or device is refused here: FFmpeg or DCMTK would block on it
     * or read it forever */
    int fd;
    size_t size;
    int rc = nid__open_regular("nid_video_open", path, UINT64_MAX, &fd, &size);
    if (rc) return rc;
    unsigned char head[132];
    size_t got = size < sizeof head ? size : sizeof head;
    if (nid__read_full(fd, head, got) != 0) {
        int err = errno;
        close(fd);
        return nid__fail(NID_EIO, "nid_video_open: cannot read '%s': %s",
                        path, err ? strerror(err) : "the file shrank");
    }
    close(fd);
    *is_dicom = got == sizeof head && memcmp(head + 128, "DICM", 4) == 0;
    return NID_OK;
}

/* The caller's options (NULL: defaults) as the current struct: the fields
 * its struct_size covers, defaults for the rest; the format checked. */
static int video_options(const nid_video_options *opts, nid_video_options *o,
                         const char *fn)
{
    nid_video_options_init(o);
    int rc = NID__STRUCT_IN(fn, "opts", nid_video_options, o, opts);
    if (rc) return rc;
    if (nid__pix_bytes(o->format) == 0)
        return nid__fail(NID_EINVAL, "%s: unknown pixel format %d", fn,
                        (int)o->format);
    return NID_OK;
}

int nid_video_open(nid_video **out, const char *path,
                   const nid_video_options *opts)
{
    const char *fn = "nid_video_open";
    if (!out) return nid__fail(NID_EINVAL, "%s: out is NULL", fn);
    if (!path) return nid__fail(NID_EINVAL, "%s: path is NULL", fn);
    if (!path[0]) return nid__fail(NID_EINVAL, "%s: path is empty", fn);
    nid_video_options o;
    int orc = video_options(opts, &o, fn);
    if (orc) return orc;
    int is_dicom = 0;
    int rc = sniff_dicom(path, &is_dicom);
    if (rc) return rc;

    nid_video_src src;
    memset(&src, 0, sizeof src);
    nid_video_info_init(&src.info);
    char ctx[128 + 4096];
    if (is_dicom) {
        snprintf(ctx, sizeof ctx, "%s: '%s' (a DICOM file)", fn, path);
        const nid_dicom_api *d = dicom_module(ctx);
        if (!d) return NID_ENOTSUP;
        rc = d->open(path, &o, &src);
    } else {
        snprintf(ctx, sizeof ctx, "%s: '%s' (not DICOM, so read with FFmpeg)",
                 fn, path);
        const nid_ffmpeg_api *f = ffmpeg_module(ctx);
        if (!f) return NID_ENOTSUP;
        rc = f->open(path, &o, &src);
    }
    if (rc) return rc;
    nid_video *v = NULL;
    rc = video_create(&src, path, &v);
    if (rc) return rc;
    *out = v;
    nid_clear_error();
    return NID_OK;
}

int nid_video_from_frames(nid_video **out, const nid_frame *frames, size_t n,
                          double fps, unsigned flags)
{
    const char *fn = "nid_video_from_frames";
    if (!out) return nid__fail(NID_EINVAL, "%s: out is NULL", fn);
    if (!frames) return nid__fail(NID_EINVAL, "%s: frames is NULL", fn);
    if (n == 0) return nid__fail(NID_EINVAL, "%s: n must be > 0", fn);
    if ((uint64_t)n > (uint64_t)NID_MAX_FRAMES)
        return nid__fail(NID_ERANGE, "%s: n = %zu frames, more than the limit "
                        "of %lld (NID_MAX_FRAMES)", fn, n,
                        (long long)NID_MAX_FRAMES);
    if (frames[0].width > NID_MAX_FRAME_SIDE ||
        frames[0].height > NID_MAX_FRAME_SIDE)
        return nid__fail(NID_ERANGE, "%s: frame 0 is %dx%d, more than the "
                        "limit of %dx%d (NID_MAX_FRAME_SIDE)", fn,
                        (int)frames[0].width, (int)frames[0].height,
                        NID_MAX_FRAME_SIDE, NID_MAX_FRAME_SIDE);
    if (!isfinite(fps) || fps < 0)
        return nid__fail(NID_EINVAL, "%s: fps %g, expected finite and >= 0 "
                        "(0: unknown)", fn, fps);
    if (flags & ~NID_FRAMES_COPY)
        return nid__fail(NID_EINVAL, "%s: unknown flags 0x%x", fn,
                        flags & ~NID_FRAMES_COPY);
    frames_state *fs = NULL;
    int rc = frames_state_create(frames, n, flags, &fs);
    if (rc) return rc;
    nid_video_src src;
    memset(&src, 0, sizeof src);
    src.backend = &frames_backend;
    src.state = fs;
    nid_video_info_init(&src.info);
    src.info.n_frames = (int64_t)n;
    src.info.fps = fps;
    src.info.width = frames[0].width;
    src.info.height = frames[0].height;
    src.info.format = frames[0].format;
    snprintf(src.info.source, sizeof src.info.source, "frames");
    snprintf(src.info.codec, sizeof src.info.codec, "%s",
             (flags & NID_FRAMES_COPY) ? "copied" : "borrowed");
    nid_video *v = NULL;
    rc = video_create(&src, "<frames>", &v);
    if (rc) return rc;
    *out = v;
    nid_clear_error();
    return NID_OK;
}

int nid_video_get_info(const nid_video *v, nid_video_info *info)
{
    const char *fn = "nid_video_get_info";
    if (!v) return nid__fail(NID_EINVAL, "%s: video is NULL", fn);
    if (!info) return nid__fail(NID_EINVAL, "%s: info is NULL", fn);
    int rc = NID__STRUCT_OUT(fn, "info", nid_video_info, info, &v->info);
    if (rc) return rc;
    nid_clear_error();
    return NID_OK;
}

int nid_video_set_format(nid_video *v, int32_t format)
{
    const char *fn = "nid_video_set_format";
    if (!v) return nid__fail(NID_EINVAL, "%s: video is NULL", fn);
    if (nid__pix_bytes(format) == 0)
        return nid__fail(NID_EINVAL, "%s: unknown pixel format %d", fn,
                        (int)format);
    if (v->backend->set_format) {
        int rc = v->backend->set_format(v->state, format);
        if (rc) return rc;
        v->native_format = format;
    } else if (format != v->native_format && !v->conv) {
        size_t one;
        if (!nid__mul_size((size_t)v->info.width * 3, (size_t)v->info.height,
                          &one) || !(v->conv = (uint8_t *)malloc(one)))
            return nid__fail(NID_ENOMEM, "%s: '%s': no memory for a %dx%d "
                            "conversion buffer", fn, v->name,
                            (int)v->info.width, (int)v->info.height);
    }
    v->info.format = format;
    nid_clear_error();
    return NID_OK;
}

/* Checks shared by nid_video_frame and nid_video_read_frame. */
static int check_index(const nid_video *v, int64_t index, const char *fn)
{
    if (index < 0 || index >= v->info.n_frames)
        return nid__fail(NID_ERANGE, "%s: '%s': frame index %lld out of range "
                        "[0, %lld)", fn, v->name, (long long)index,
                        (long long)v->info.n_frames);
    return NID_OK;
}

/* Decode frame `index` (all of it, or at least the rectangle roi = x0, y0,
 * x1, y1 inside the frame when roi != NULL and the backend can) and convert
 * it to the requested format. */
static int video_get(nid_video *v, int64_t index, const int32_t *roi,
                     nid_frame *frame)
{
    nid_frame f;
    int rc = roi && v->backend->read_roi
                 ? v->backend->read_roi(v->state, index, roi[0], roi[1],
                                        roi[2], roi[3], &f)
                 : v->backend->read(v->state, index, &f);
    if (rc) return rc;
    if (f.format != v->info.format) {
        /* conv was allocated by nid_video_set_format */
        size_t stride = (size_t)f.width * nid__pix_bytes(v->info.format);
        nid__pix_convert(&f, v->conv, stride, v->info.format);
        f.data = v->conv;
        f.stride = stride;
        f.format = v->info.format;
    }
    *frame = f;
    return NID_OK;
}

int nid_video_frame(nid_video *v, int64_t index, nid_frame *frame)
{
    const char *fn = "nid_video_frame";
    if (!v) return nid__fail(NID_EINVAL, "%s: video is NULL", fn);
    if (!frame) return nid__fail(NID_EINVAL, "%s: frame is NULL", fn);
    int rc = check_index(v, index, fn);
    if (rc) return rc;
    nid_frame f;
    rc = video_get(v, index, NULL, &f);
    if (rc) return rc;
    *frame = f;
    nid_clear_error();
    return NID_OK;
}

int nid__video_frame_roi(nid_video *v, int64_t index, int64_t x0, int64_t y0,
                        int64_t x1, int64_t y1, nid_frame *frame)
{
    const char *fn = "nid_video_frame";
    if (!v) return nid__fail(NID_EINVAL, "%s: video is NULL", fn);
    if (!frame) return nid__fail(NID_EINVAL, "%s: frame is NULL", fn);
    int rc = check_index(v, index, fn);
    if (rc) return rc;
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > v->info.width) x1 = v->info.width;
    if (y1 > v->info.height) y1 = v->info.height;
    const int32_t roi[4] = {(int32_t)x0, (int32_t)y0, (int32_t)x1,
                            (int32_t)y1};
    nid_frame f;
    rc = video_get(v, index, x0 < x1 && y0 < y1 ? roi : NULL, &f);
    if (rc) return rc;
    *frame = f;
    nid_clear_error();
    return NID_OK;
}

int nid_video_read_frame(nid_video *v, int64_t index, uint8_t *dst,
                         size_t dst_cap, size_t *needed)
{
    const char *fn = "nid_video_read_frame";
    if (!v) return nid__fail(NID_EINVAL, "%s: video is NULL", fn);
    int rc = check_index(v, index, fn);
    if (rc) return rc;
    size_t row = (size_t)v->info.width * nid__pix_bytes(v->info.format);
    size_t need = row * (size_t)v->info.height; /* fits: a buffer holds it */
    if (dst_cap < need) {
        if (needed) *needed = need;
        return nid__fail(NID_EBUFSIZE, "%s: '%s': dst_cap %zu < %zu bytes for "
                        "a %dx%d frame", fn, v->name, dst_cap, need,
                        (int)v->info.width, (int)v->info.height);
    }
    if (!dst) return nid__fail(NID_EINVAL, "%s: dst is NULL", fn);
    nid_frame f;
    rc = video_get(v, index, NULL, &f);
    if (rc) return rc;
    for (int32_t y = 0; y < f.height; y++)
        memcpy(dst + (size_t)y * row, f.data + (size_t)y * f.stride, row);
    if (needed) *needed = need;
    nid_clear_error();
    return NID_OK;
}

int nid_video_frame_time(const nid_video *v, int64_t index, double *seconds)
{
    const char *fn = "nid_video_frame_time";
    if (!v) return nid__fail(NID_EINVAL, "%s: video is NULL", fn);
    if (!seconds) return nid__fail(NID_EINVAL, "%s: seconds is NULL", fn);
    int rc = check_index(v, index, fn);
    if (rc) return rc;
    double t;
    if (v->times) {
        t = v->times[index];
    } else if (v->info.fps > 0) {
        t = (double)index / v->info.fps;
    } else {
        return nid__fail(NID_ENOTSUP, "%s: '%s' has no timing (fps unknown)",
                        fn, v->name);
    }
    *seconds = t;
    nid_clear_error();
    return NID_OK;
}

int nid_video_open_memory(nid_video **out, const void *data, size_t size,
                          const char *name, const nid_video_options *opts)
{
    const char *fn = "nid_video_open_memory";
    if (!out) return nid__fail(NID_EINVAL, "%s: out is NULL", fn);
    if (!data) return nid__fail(NID_EINVAL, "%s: data is NULL", fn);
    if (!name || !name[0]) name = "<memory>";
    if (size == 0)
        return nid__fail(NID_EFORMAT, "%s: '%s': empty buffer (0 bytes)", fn,
                        name);
    nid_video_options o;
    int orc = video_options(opts, &o, fn);
    if (orc) return orc;
    const unsigned char *p = (const unsigned char *)data;
    if (!(size >= 132 && memcmp(p + 128, "DICM", 4) == 0))
        return nid__fail(NID_EFORMAT, "%s: '%s': not a DICOM file (no \"DICM\" "
                        "magic at offset 128; %zu bytes); only DICOM is read "
                        "from memory", fn, name, size);
    nid_video_src src;
    memset(&src, 0, sizeof src);
    nid_video_info_init(&src.info);
    char ctx[128 + 4096];
    snprintf(ctx, sizeof ctx, "%s: '%s'", fn, name);
    const nid_dicom_api *d = dicom_module(ctx);
    if (!d) return NID_ENOTSUP;
    int rc = d->open_memory(data, size, name, &o, &src);
    if (rc) return rc;
    nid_video *v = NULL;
    rc = video_create(&src, name, &v);
    if (rc) return rc;
    *out = v;
    nid_clear_error();
    return NID_OK;
}
