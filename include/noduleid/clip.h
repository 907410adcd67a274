/*
 * noduleid/clip.h - clips: crops of a tracklet's frames, resized and
 * normalised for a model (clip/).
 *
 * Part of the public C API of libnoduleid; include <noduleid.h>, which includes
 * every module header, or this header alone. Conventions: docs/api-conventions.md.
 */
#ifndef NODULEID_CLIP_H
#define NODULEID_CLIP_H

#include "core.h"
#include "video.h"
#include "tracklet.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Clips (clip/)                                                            */
/* ------------------------------------------------------------------------ */

/** Resampling filter used to resize a crop. */
typedef enum nid_filter {
    /** Per axis: exact box filter (area average, = OpenCV INTER_AREA) when
     *  shrinking, bilinear when enlarging. */
    NID_FILTER_AREA     = 0,
    /** Bilinear, align_corners=False semantics, identical to
     *  torch.nn.functional.interpolate(mode="bilinear",
     *  align_corners=False) (no antialiasing). */
    NID_FILTER_BILINEAR = 1,
    /** Nearest neighbour, pixel centres: source index
     *  floor((dst + 0.5) * in / out), as torch "nearest-exact". */
    NID_FILTER_NEAREST  = 2
} nid_filter;

/** How frames are picked from a tracklet. */
typedef enum nid_sampling {
    /** One clip of T frames evenly spaced over [start, end]:
     *  frame_i = start + floor(i * (L - 1) / (T - 1) + 1/2) for L =
     *  end - start + 1 (T == 1: start + (L - 1) / 2); short tracklets
     *  repeat frames. */
    NID_SAMPLE_UNIFORM = 0,
    /** Sliding windows of T consecutive frames every window_stride frames;
     *  the last window ends at `end`. A tracklet shorter than T gives one
     *  window sampled as NID_SAMPLE_UNIFORM. */
    NID_SAMPLE_WINDOWS = 1
} nid_sampling;

/** What lies outside the image when the crop goes past its edge. */
typedef enum nid_pad {
    NID_PAD_ZERO      = 0, /* black pixels (value 0 before normalising) */
    NID_PAD_REPLICATE = 1  /* the nearest edge pixel                   */
} nid_pad;

/** Options for nid_clip_count() / nid_clip_build() / nid_crop_resize().
 *  Initialise with nid_clip_options_init(). */
typedef struct nid_clip_options {
    size_t  struct_size;   /* set by _init                                 */
    int32_t frames;        /* T, frames per clip; default 16              */
    int32_t height;        /* H of each frame; default 256                */
    int32_t width;         /* W of each frame; default 128                */
    int32_t channels;      /* 3 (gray replicated, or RGB) or 1 (gray, or
                              BT.601 luma of RGB); default 3             */
    float   margin;        /* context added on each side, relative to the
                              box size; default 0.1                       */
    int32_t filter;        /* nid_filter; default NID_FILTER_AREA         */
    int32_t interp;        /* nid_interp; default NID_INTERP_UNION        */
    int32_t sampling;      /* nid_sampling; default NID_SAMPLE_UNIFORM    */
    int32_t window_stride; /* NID_SAMPLE_WINDOWS step; <= 0: T (default 0) */
    int32_t pad;           /* nid_pad; default NID_PAD_ZERO               */
    float   mean[3];       /* value = (pixel / 255 - mean[c]) / std[c];   */
    float   std[3];        /* defaults 0.5 and 0.5, giving [-1, 1]        */
    /* Added in 0.2 (read only when struct_size covers it): */
    int32_t coords;        /* nid_coords; default NID_COORDS_NONE         */
    float   context_margin; /* > 0: context channels, the frames cropped
                               again with this margin (see below); 0:
                               none (default). Finite, in [0, 16]     */
} nid_clip_options;

/** Coordinate channels of a clip (nid_clip_options.coords). Cropping and
 *  resizing to H x W throws away where the box was and how large it was;
 *  with NID_COORDS_FRAME every clip frame gets two more channels after the
 *  image channel(s), so a clip has channels + 2 channels:
 *    Y = 2 y / frame_height - 1 and X = 2 (x - cx) / frame_height,
 *  where (x, y) is the output pixel's centre mapped back into the frame
 *  (crop rectangle, see nid_crop_resize) and cx the box's centre x. Y is
 *  the depth below the top of the image (-1 at the skin line, +1 at the
 *  bottom), X spans the crop's width in the same scale: together they
 *  carry the nodule's depth and size, which the image channels cannot.
 *  Not normalised by mean/std. */
typedef enum nid_coords {
    NID_COORDS_NONE  = 0,
    NID_COORDS_FRAME = 1
} nid_coords;

/** Context channels of a clip (nid_clip_options.context_margin, 0.2). The
 *  tight crop (margin) keeps the nodule's detail at H x W but throws away
 *  its surroundings; with context_margin > 0 every clip frame gets
 *  `channels` more channels at the end (after the image channel(s) and,
 *  with NID_COORDS_FRAME, the two coordinate channels), so a clip has
 *  channels + (coords ? 2 : 0) + channels channels: the same frame and
 *  box cropped as nid_crop_resize() describes but with m = context_margin
 *  (usually wider than margin), resized to the same H x W with the same
 *  filter and pad and normalised with the same mean/std per channel; bit
 *  for bit the image channels of nid_crop_resize() on that frame and box
 *  with margin = context_margin. */

/** Fill `opts` with defaults (and struct_size). NULL is ignored.
 *  The _init macro passes sizeof *p to _init_sized(); the exported
 *  function _init fills the first published fields only (core.h,
 *  "Extensible structs"). */
NID_API void nid_clip_options_init_sized(nid_clip_options *opts, size_t size);
NID_API void (nid_clip_options_init)(nid_clip_options *opts);
#define nid_clip_options_init(p) nid_clip_options_init_sized((p), sizeof *(p))

/** Crop `box` (grown by opts->margin) out of `frame` and resize it to
 *  opts->height x opts->width with opts->filter, normalised. The crop is
 *  the pixel rectangle [floor(x - m*w), ceil(x + w + m*w)) x [floor(y -
 *  m*h), ceil(y + h + m*h)) (m = opts->margin; m*w and m*h rounded to
 *  float, the rest in double), at least 1 pixel, aspect ratio not kept,
 *  padded per opts->pad where it leaves the image. Writes C x H x W
 *  float32 (C = opts->channels, + 2 with NID_COORDS_FRAME) to out; out_cap
 *  in floats. This is the single crop: it never writes context channels
 *  (opts->context_margin is checked, not used); a clip's context channels
 *  are its image channels with margin = context_margin. NID_EBUFSIZE
 *  (needed floats in *needed when needed != NULL) if too small.
 *  opts == NULL uses the defaults.
 *  Errors: NID_EINVAL (NULL, bad frame or box, bad options: the message
 *  names the field), NID_EBUFSIZE, NID_ENOMEM. Thread-safe. */
NID_API int nid_crop_resize(const nid_frame *frame, const nid_box *box,
                            const nid_clip_options *opts, float *out,
                            size_t out_cap, size_t *needed);

/** How many clips tracklet t gives under opts (1 for NID_SAMPLE_UNIFORM)
 *  and how many floats nid_clip_build() writes for them (either pointer may
 *  be NULL). Errors: NID_EINVAL, NID_ERANGE (no such tracklet), NID_ENOMEM
 *  (size overflows). Thread-safe. */
NID_API int nid_clip_count(const nid_exam *exam, size_t t,
                           const nid_clip_options *opts, size_t *n_clips,
                           size_t *n_floats);

/** Build the clips of tracklet t from `video` (the video the tracklet's
 *  video entry refers to). Writes N x C x T x H x W float32, row-major
 *  (clip, channel, frame, row, column, the layout of PyTorch video
 *  models), N = nid_clip_count(), C = opts->channels, + 2 coordinate
 *  channels with NID_COORDS_FRAME, + opts->channels context channels with
 *  context_margin > 0; out_cap in floats. Each frame is decoded
 *  once even when windows overlap, in increasing frame order. Sets
 *  *n_clips (may be NULL). NID_EBUFSIZE (needed floats in *needed when
 *  needed != NULL) if out_cap is too small. Errors: NID_EINVAL, NID_ERANGE
 *  (no such tracklet), NID_EMISMATCH (tracklet runs past the video's last
 *  frame, or a box lies outside the video's frames: the message names the
 *  tracklet and the frame), NID_EBUFSIZE, video decode errors, NID_ENOMEM.
 *  On any error `out` is untouched: the clips are built in scratch memory
 *  of the output's size and copied to `out` at the end.
 *  Thread safety: as the video handle (one thread at a time per video). */
NID_API int nid_clip_build(nid_video *video, const nid_exam *exam, size_t t,
                           const nid_clip_options *opts, float *out,
                           size_t out_cap, size_t *n_clips, size_t *needed);

/** The frame numbers of clip `clip` of tracklet t: writes T int64 values
 *  to frames (frames_cap >= T). Errors: NID_EINVAL, NID_ERANGE (no such
 *  tracklet or clip), NID_EBUFSIZE (needed count in *needed). Thread-safe
 *  (const exam). */
NID_API int nid_clip_frames(const nid_exam *exam, size_t t,
                            const nid_clip_options *opts, size_t clip,
                            int64_t *frames, size_t frames_cap,
                            size_t *needed);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* NODULEID_CLIP_H */
