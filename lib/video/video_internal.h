/*
 * video_internal.h - the nid_video handle and its decoder backends; not
 * installed.
 *
 * video.c owns the handle, argument checking, the raw-frames backend and
 * the dispatch in nid_video_open(). Each file backend lives in one file and
 * is the only place that includes its library:
 *
 *     ffmpeg_reader.c   libavformat / libavcodec / libswscale
 *                       (module libnoduleid-ffmpeg.so)
 *     dicom_reader.cpp  DCMTK (C++; entry points are extern "C" and never
 *                       let an exception out; module libnoduleid-dicom.so)
 *
 * A backend's open function fills a nid_video_src; read() decodes one frame
 * (index already range-checked by video.c) into a buffer the backend owns
 * and describes it with *frame, valid until the next read() or close().
 * Backends report failures with nid__fail() and return the status.
 */
#ifndef NID__VIDEO_INTERNAL_H
#define NID__VIDEO_INTERNAL_H

#include "internal.h"
#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nid_video_backend {
    const char *name;
    int (*read)(void *state, int64_t index, nid_frame *frame);
    void (*close)(void *state);
    /* Produce `format` from now on; NULL when the backend cannot, and then
     * video.c converts what read() returns. */
    int (*set_format)(void *state, int32_t format);
    /* Optional (may be NULL): as read(), but only the pixels of the
     * rectangle [x0, x1) x [y0, y1) (inside the frame) need be valid in
     * *frame; the rest of the frame may hold anything. Lets a backend skip
     * converting (or copying) pixels a crop will not look at. */
    int (*read_roi)(void *state, int64_t index, int32_t x0, int32_t y0,
                    int32_t x1, int32_t y1, nid_frame *frame);
} nid_video_backend;

/* What a backend's open function hands back to video.c. */
typedef struct nid_video_src {
    const nid_video_backend *backend;
    void *state;
    nid_video_info info;   /* n_frames, fps, size, format, source, codec */
    /* Presentation time of each frame in seconds from frame 0, n_frames
     * entries, malloc'd (video.c takes ownership); NULL means index / fps. */
    double *times;
} nid_video_src;

/* nid_video_frame() for a caller that will read only the pixels of
 * [x0, x1) x [y0, y1) (clamped to the frame here): other pixels of *frame
 * may hold anything. Used by the clip builder. Same errors as
 * nid_video_frame(). */
int nid__video_frame_roi(nid_video *v, int64_t index, int64_t x0, int64_t y0,
                        int64_t x1, int64_t y1, nid_frame *frame);

/* Bytes per pixel of a nid_pixel_format, 0 when unknown. */
static inline size_t nid__pix_bytes(int32_t format)
{
    return format == NID_PIX_GRAY8 ? 1u : format == NID_PIX_RGB24 ? 3u : 0u;
}

/* Convert src into dst (same size, dst_format GRAY8 or RGB24). RGB to gray
 * uses BT.601 luma (77 R + 150 G + 29 B + 128) >> 8; gray to RGB repeats. */
void nid__pix_convert(const nid_frame *src, uint8_t *dst, size_t dst_stride,
                     int32_t dst_format);

/* The FFmpeg and DCMTK readers are backend modules (lib/core/backend.h):
 * libnoduleid-ffmpeg.so and libnoduleid-dicom.so, loaded by the first
 * nid_video_open() of such a file. Their tables: */

/* Open `path` with FFmpeg / DCMTK. opts is validated (format known,
 * struct_size ok). On failure nothing is allocated and the status is
 * returned after nid__fail(). */
typedef int (*nid_video_open_fn)(const char *path,
                                 const nid_video_options *opts,
                                 nid_video_src *src);

typedef struct nid_ffmpeg_api {
    nid_backend_info info;       /* name "ffmpeg"; features VIDEO */
    nid_video_open_fn open;
} nid_ffmpeg_api;

typedef struct nid_dicom_api {
    nid_backend_info info;       /* name "dicom"; features DICOM */
    nid_video_open_fn open;
    /* A DICOM instance held in memory (size bytes at data, borrowed for
     * the call only); `name` labels it in messages. */
    int (*open_memory)(const void *data, size_t size, const char *name,
                       const nid_video_options *opts, nid_video_src *src);
} nid_dicom_api;

/* Each module's entry: first nid_backend_host_set() (backend_host.c). */
int nid_backend_host_set(const nid_backend_host *host);

#ifdef __cplusplus
}
#endif

#endif /* NID__VIDEO_INTERNAL_H */
