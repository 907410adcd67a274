/*
 * clip_internal.h - crop + resize engine shared by clip.c; not installed.
 *
 * A resize is separable: for each axis a table gives, per output index,
 * the first of `taps` consecutive source indices (crop coordinates) and
 * their weights; padding is applied when pixels are fetched (resize.c).
 * A workspace keeps the tables and the intermediate rows between frames so
 * building a clip does not allocate per frame.
 */
#ifndef NID__CLIP_INTERNAL_H
#define NID__CLIP_INTERNAL_H

#include "internal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest crop side accepted, in pixels (bounds the weight tables). */
#define NID__MAX_CROP (1 << 20)

typedef struct nid_axis {
    int32_t  out;       /* output length                                   */
    int32_t  taps;      /* taps per output index                           */
    int32_t *idx;       /* out first taps, in crop coordinates             */
    float   *w;         /* out * taps weights (0 for unused taps)          */
    size_t   cap;       /* allocated entries of w                          */
    size_t   cap_idx;   /* allocated entries of idx                        */
} nid_axis;

typedef struct nid_resize_ws {
    nid_axis x, y;
    float   *rows;      /* horizontally resampled image rows + a zero row  */
    size_t   rows_cap;  /* in floats                                       */
    float   *line;      /* one fetched (padded) crop row + output rows     */
    size_t   line_cap;  /* in floats                                       */
} nid_resize_ws;

/* Pixel rectangle [x0, x1) x [y0, y1) cropped out of the image. */
typedef struct nid_crop {
    int64_t x0, y0, x1, y1;
} nid_crop;

/* Validate options (struct_size, ranges); fn names the caller. */
int nid__clip_check_options(const nid_clip_options *o, const char *fn);

/* Crop rectangle of a box grown by `margin` (floor / ceil to pixels).
 * Returns NID_OK, or NID_EINVAL (error set) when the crop is too large. */
int nid__crop_rect(const nid_box *b, float margin, const char *fn,
                  nid_crop *out);

/* Resample crop `c` of `frame` to opts->height x opts->width with
 * opts->channels channels, normalised, into out: channel ch's H x W plane
 * starts at out + ch * ch_stride. The frame and options are valid.
 * Returns NID_OK or NID_ENOMEM (error set). */
int nid__resize_crop(nid_resize_ws *ws, const nid_frame *frame,
                    const nid_crop *c, const nid_clip_options *o,
                    float *out, size_t ch_stride);

void nid__resize_ws_free(nid_resize_ws *ws);

/* nid_clip_build() for clips [k0, k1) of the tracklet only (k1 is capped at
 * the clip count; k0 >= k1 is NID_ERANGE): out receives k1 - k0 clips and
 * *n_clips / *needed describe those. Lets a caller build the windows of a
 * long tracklet a batch at a time (frames shared by two batches are decoded
 * twice). Errors and checks as nid_clip_build(), reported under its name. */
int nid__clip_build_range(nid_video *video, const nid_exam *exam, size_t t,
                         const nid_clip_options *opts, size_t k0, size_t k1,
                         float *out, size_t out_cap, size_t *n_clips,
                         size_t *needed);

/* Clips [k0, k1) of tracklet t, written to out: (k1 - k0) clips of
 * C x T x H x W floats, laid out as nid_clip_build() writes them. */
typedef struct nid_clip_piece {
    size_t t, k0, k1;
    float *out;
} nid_clip_piece;

/* The clips of several pieces (tracklets of one video, any order,
 * overlapping or not) in one pass over the video: every frame any of
 * them samples is decoded once, in increasing frame order, and only the
 * rectangle around the crops that sample it is converted; each piece's
 * crop is resampled from it. Memory: the output (the caller's) and one
 * 24-byte slot per sampled clip frame; no decoded frame is kept. The
 * clips equal those of nid_clip_build() on each tracklet, bit for bit.
 * Checks and errors as nid_clip_build() (reported under its name); on
 * error the outputs hold partial clips. */
int nid__clip_build_pieces(nid_video *video, const nid_exam *exam,
                          const nid_clip_options *opts,
                          const nid_clip_piece *pieces, size_t n_pieces);

/* opts->coords when struct_size covers it, else NID_COORDS_NONE. */
int32_t nid__clip_coords(const nid_clip_options *o);

/* opts->context_margin when struct_size covers it, else 0 (none). */
float nid__clip_context(const nid_clip_options *o);

/* Channels of a clip, which are the channels a network takes: the image
 * channels, plus 2 with NID_COORDS_FRAME (coords is a nid_coords), plus the
 * image channels again with context_margin > 0.  The one place this formula
 * lives: nid__clip_channels() applies it to clip options, lib/model/ to a
 * package's crop settings. */
int32_t nid__input_channels(int32_t channels, int32_t coords, float context_margin);

/* nid__input_channels() of clip options (coords and context_margin as
 * nid__clip_coords() and nid__clip_context() read them). */
int32_t nid__clip_channels(const nid_clip_options *o);

#ifdef __cplusplus
}
#endif

#endif /* NID__CLIP_INTERNAL_H */
