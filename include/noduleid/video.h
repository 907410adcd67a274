/*
 * noduleid/video.h - video input: files (FFmpeg), DICOM (DCMTK), frames in
 * memory (video/).
 *
 * Part of the public C API of libnoduleid; include <noduleid.h>, which includes
 * every module header, or this header alone. Conventions: docs/api-conventions.md.
 */
#ifndef NODULEID_VIDEO_H
#define NODULEID_VIDEO_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Video input (video/)                                                     */
/* ------------------------------------------------------------------------ */

/** Pixel formats of decoded frames: 8 bits per sample, packed rows. */
typedef enum nid_pixel_format {
    NID_PIX_GRAY8 = 0,   /* 1 byte per pixel                       */
    NID_PIX_RGB24 = 1    /* 3 bytes per pixel, R G B               */
} nid_pixel_format;

/** A view of one frame's pixels. Borrowed: who gives it to you says how
 *  long it stays valid. `stride` is the distance in bytes between rows
 *  (>= width * bytes per pixel). */
typedef struct nid_frame {
    const uint8_t *data;
    int32_t        width;
    int32_t        height;
    size_t         stride;
    int32_t        format;   /* nid_pixel_format */
} nid_frame;

/** A video: a file decoded by FFmpeg, a DICOM multi-frame image decoded by
 *  DCMTK, or frames the caller already has in memory.
 *
 *  Thread safety: one thread at a time per handle (decoder state). Open one
 *  handle per thread to decode the same file in parallel. */
typedef struct nid_video nid_video;

/** Options for nid_video_open(). Initialise with nid_video_options_init(). */
typedef struct nid_video_options {
    size_t  struct_size;  /* set by _init                                  */
    int32_t format;       /* output nid_pixel_format; default NID_PIX_GRAY8 */
    int32_t n_threads;    /* decoder threads; <= 0: library default (1)    */
} nid_video_options;

/** Fill `opts` with defaults (and struct_size). NULL is ignored.
 *  The _init macro passes sizeof *p to _init_sized(); the exported
 *  function _init fills the first published fields only (core.h,
 *  "Extensible structs"). */
NID_API void nid_video_options_init_sized(nid_video_options *opts,
                                          size_t size);
NID_API void (nid_video_options_init)(nid_video_options *opts);
#define nid_video_options_init(p) \
    nid_video_options_init_sized((p), sizeof *(p))

/** Facts about an open video. */
typedef struct nid_video_info {
    size_t  struct_size;  /* set by nid_video_info_init                    */
    int64_t n_frames;     /* exact number of decodable frames              */
    double  fps;          /* frames per second (DICOM: from frame time);
                             0 when the file does not say                  */
    int32_t width;
    int32_t height;
    int32_t format;       /* nid_pixel_format of the frames returned       */
    char    source[16];   /* "ffmpeg", "dicom" or "frames"                 */
    char    codec[32];    /* decoder / transfer syntax name                */
} nid_video_info;

/** Zero `info` and set its struct_size. NULL is ignored.
 *  The _init macro passes sizeof *p to _init_sized(); the exported
 *  function _init fills the first published fields only (core.h,
 *  "Extensible structs"). */
NID_API void nid_video_info_init_sized(nid_video_info *info, size_t size);
NID_API void (nid_video_info_init)(nid_video_info *info);
#define nid_video_info_init(p) nid_video_info_init_sized((p), sizeof *(p))

/** Open a video file. DICOM files (the "DICM" magic at offset 128) go to
 *  DCMTK, everything else to FFmpeg. The caller owns *out (nid_video_free).
 *  FFmpeg files are demuxed once here to index every frame's timestamp
 *  (no decoding: a few ms for a 1-minute 640x480 H.264 file, under 1% of
 *  decoding it), which makes n_frames exact and random access
 *  frame-accurate. GRAY8 output is full
 *  range (black 0, white 255) whatever the video's range. DICOM frames are
 *  decoded lazily, one at a time; the file must stay in place while open.
 *  Logging: the first open routes FFmpeg's and DCMTK's process-wide logs
 *  (av_log_set_callback, DCMTK's root logger) to nid_set_log_callback at
 *  NID_LOG_DEBUG, so nothing is printed by default.
 *  Errors: NID_EINVAL, NID_EIO (cannot open/read: message names the file),
 *  NID_EFORMAT (not a video, no video stream, undecodable frame: message
 *  names file and frame), NID_ENOTSUP (FFmpeg or DCMTK not compiled in),
 *  NID_ENOMEM. */
NID_API int nid_video_open(nid_video **out, const char *path,
                           const nid_video_options *opts);

/** Flags for nid_video_from_frames(). */
#define NID_FRAMES_COPY 1u  /* copy the pixels; else they are borrowed and
                               must outlive the video handle */

/** Wrap n frames the caller already decoded (e.g. a PACS plugin) as a
 *  video, so clips can be built without FFmpeg. All frames must share size
 *  and format. Without NID_FRAMES_COPY the pixels are borrowed. fps: frames
 *  per second, 0 when unknown. Frames come back in their own format unless
 *  nid_video_set_format() asks for the other one.
 *  Errors: NID_EINVAL (NULL, n == 0, size/format/stride differ or invalid,
 *  fps negative or not finite, unknown flags: message names the frame),
 *  NID_ENOMEM. */
NID_API int nid_video_from_frames(nid_video **out, const nid_frame *frames,
                                  size_t n, double fps, unsigned flags);

/** Fill *info (initialised by nid_video_info_init). */
NID_API int nid_video_get_info(const nid_video *v, nid_video_info *info);

/** Frame `index` (0-based, frame-accurate) as a borrowed view valid until
 *  the next call on `v` or nid_video_free(). Sequential access (index ==
 *  previous + 1) does not seek. Errors: NID_EINVAL, NID_ERANGE (index out
 *  of [0, n_frames)), NID_EFORMAT (decode failure: names file and frame). */
NID_API int nid_video_frame(nid_video *v, int64_t index, nid_frame *frame);

/** Copy frame `index` into dst as packed rows (stride = width * bytes per
 *  pixel); dst_cap in bytes. NID_EBUFSIZE (needed bytes in *needed when
 *  needed != NULL) if too small. Other errors as nid_video_frame(). */
NID_API int nid_video_read_frame(nid_video *v, int64_t index, uint8_t *dst,
                                 size_t dst_cap, size_t *needed);

/** Close the video. NULL is ignored. */
NID_API void nid_video_free(nid_video *v);

/** Return frames in `format` (nid_pixel_format) from now on, e.g. gray
 *  frames from an RGB24 nid_video_from_frames() video; info.format follows.
 *  RGB24 -> GRAY8 is BT.601 luma, GRAY8 -> RGB24 repeats the value. A view
 *  from nid_video_frame() taken before the call is invalid afterwards.
 *  Errors: NID_EINVAL (NULL, unknown format), NID_ENOMEM. */
NID_API int nid_video_set_format(nid_video *v, int32_t format);

/** Presentation time of frame `index` in seconds after frame 0, from the
 *  file's timestamps (FFmpeg), Frame Time / Frame Time Vector (DICOM) or
 *  index / fps. Errors: NID_EINVAL, NID_ERANGE, NID_ENOTSUP (no timing:
 *  info.fps is 0 and the file has no timestamps). */
NID_API int nid_video_frame_time(const nid_video *v, int64_t index,
                                 double *seconds);

/** Open a DICOM instance held in memory (e.g. read from a PACS's storage
 *  by a plugin), the same way nid_video_open() opens a DICOM file: same
 *  transfer syntaxes, photometric interpretations, timing and output. The
 *  `size` bytes at `data` (a DICOM file: 128-byte preamble, "DICM", meta
 *  header, dataset) are read during the call and not used afterwards: the
 *  caller may free them once it returns. `name` (may be NULL) labels the
 *  instance in error messages, e.g. its SOP Instance UID. Memory: the whole
 *  dataset stays in memory while the video is open (frames are still
 *  decoded one at a time). Caller owns *out (nid_video_free).
 *  Errors: NID_EINVAL (NULL out or data, bad opts), NID_EFORMAT (empty, not
 *  DICOM, truncated or corrupt, no pixel data, undecodable image: the
 *  message names `name`), NID_ENOTSUP (no DICOM support compiled in),
 *  NID_ENOMEM. Thread-safe (the new handle belongs to the caller). */
NID_API int nid_video_open_memory(nid_video **out, const void *data,
                                  size_t size, const char *name,
                                  const nid_video_options *opts);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* NODULEID_VIDEO_H */
