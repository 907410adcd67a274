/*
 * noduleid/tracklet.h - boxes, exams (annotated tracklets) and linking
 * per-frame detections into tracklets (tracklet/).
 *
 * Part of the public C API of libnoduleid; include <noduleid.h>, which includes
 * every module header, or this header alone. Conventions: docs/api-conventions.md.
 */
#ifndef NODULEID_TRACKLET_H
#define NODULEID_TRACKLET_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Tracklets (tracklet/)                                                    */
/* ------------------------------------------------------------------------ */

/* ---- Boxes and exams ---------------------------------------------------- */

/** An axis-aligned box in pixels, COCO convention: (x, y) is the top-left
 *  corner, (w, h) the size; the box covers [x, x + w) x [y, y + h). */
typedef struct nid_box {
    float x;
    float y;
    float w;
    float h;
} nid_box;

/** Intersection over union of two boxes, in [0, 1]; 0 when either box has
 *  no area or a value is not finite. Pure; thread-safe. */
NID_API float nid_box_iou(const nid_box *a, const nid_box *b);

/** How the box of a frame between two key frames is obtained. */
typedef enum nid_interp {
    /** The method's rule (Jiang et al. 2023): the union (bounding box) of
     *  the two adjacent key-frame boxes; a key frame gets its own box. */
    NID_INTERP_UNION  = 0,
    /** Linear interpolation of x, y, w, h in the frame number. */
    NID_INTERP_LINEAR = 1
} nid_interp;

/** The annotations of one exam: its videos and, per video, the tracklets
 *  (a run of frames in which one nodule is seen, with boxes on key frames).
 *  Stored as JSON, format "noduleid-exam" version 1 (docs/exam-format.md).
 *
 *  Tracklets are numbered 0..n-1 over the whole exam, grouped by video in
 *  video order and in insertion (file) order within a video; adding a
 *  tracklet to a video shifts the numbers of later videos' tracklets.
 *  Strings returned by the accessors are borrowed and stay valid until the
 *  exam is modified or freed.
 *
 *  Thread safety: functions taking a const nid_exam * may be called from
 *  many threads at once; a function that modifies the exam needs the
 *  handle to itself (no other call on it at the same time). */
typedef struct nid_exam nid_exam;

/** One video of an exam. nid_exam_add_video() reads id, path, n_frames,
 *  fps, width, height; nid_exam_get_video() fills every field.
 *  Initialise with nid_exam_video_info_init(). */
typedef struct nid_exam_video_info {
    size_t      struct_size;   /* set by _init                              */
    const char *id;            /* unique within the exam, non-empty        */
    const char *path;          /* as written in the file, non-empty        */
    const char *resolved_path; /* path resolved against the directory of
                                  the JSON file (output only)              */
    int64_t     n_frames;      /* -1: unknown (default)                    */
    double      fps;           /* 0: unknown (default)                     */
    int32_t     width;         /* 0: unknown (default)                     */
    int32_t     height;        /* 0: unknown (default)                     */
    size_t      first_tracklet;/* index of its first tracklet (output)     */
    size_t      n_tracklets;   /* number of its tracklets (output)         */
} nid_exam_video_info;

/** Fill `info` with defaults (unknown sizes, NULL strings) and set its
 *  struct_size. NULL is ignored.
 *  The _init macro passes sizeof *p to _init_sized(); the exported
 *  function _init fills the first published fields only (core.h,
 *  "Extensible structs"). */
NID_API void nid_exam_video_info_init_sized(nid_exam_video_info *info,
                                            size_t size);
NID_API void (nid_exam_video_info_init)(nid_exam_video_info *info);
#define nid_exam_video_info_init(p) \
    nid_exam_video_info_init_sized((p), sizeof *(p))

/** One tracklet, as filled by nid_exam_get_tracklet(). */
typedef struct nid_tracklet_info {
    size_t      struct_size;  /* set by _init                              */
    const char *id;           /* unique within the exam                    */
    size_t      video;        /* index of its video                        */
    int32_t     nodule;       /* nodule identity; -1: unknown              */
    int64_t     start;        /* first frame (0-based, inclusive)          */
    int64_t     end;          /* last frame (inclusive), >= start          */
    size_t      n_key_frames; /* >= 1; the first is start, the last end    */
} nid_tracklet_info;

/** Zero `info` and set its struct_size. NULL is ignored.
 *  The _init macro passes sizeof *p to _init_sized(); the exported
 *  function _init fills the first published fields only (core.h,
 *  "Extensible structs"). */
NID_API void nid_tracklet_info_init_sized(nid_tracklet_info *info,
                                          size_t size);
NID_API void (nid_tracklet_info_init)(nid_tracklet_info *info);
#define nid_tracklet_info_init(p) \
    nid_tracklet_info_init_sized((p), sizeof *(p))

/** Facts about an exam, as filled by nid_exam_get_info(). */
typedef struct nid_exam_info {
    size_t      struct_size;  /* set by _init                              */
    const char *exam_id;      /* NULL when absent                          */
    const char *patient_id;   /* NULL when absent                          */
    const char *date;         /* "YYYY-MM-DD" or NULL when absent          */
    const char *meta_json;    /* the "meta" object as compact JSON, or NULL */
    const char *source;       /* file it was loaded from, or NULL          */
    size_t      n_videos;
    size_t      n_tracklets;
} nid_exam_info;

/** Zero `info` and set its struct_size. NULL is ignored.
 *  The _init macro passes sizeof *p to _init_sized(); the exported
 *  function _init fills the first published fields only (core.h,
 *  "Extensible structs"). */
NID_API void nid_exam_info_init_sized(nid_exam_info *info, size_t size);
NID_API void (nid_exam_info_init)(nid_exam_info *info);
#define nid_exam_info_init(p) nid_exam_info_init_sized((p), sizeof *(p))

/** Create an empty exam. Each of exam_id, patient_id, date may be NULL
 *  (absent); date must look like "YYYY-MM-DD". Relative video paths of a
 *  created exam are resolved against the current directory. The caller owns
 *  *out (nid_exam_free). Errors: NID_EINVAL (bad date), NID_ENOMEM. */
NID_API int nid_exam_create(nid_exam **out, const char *exam_id,
                            const char *patient_id, const char *date);

/** Load an exam from a "noduleid-exam" JSON file, checking everything
 *  docs/exam-format.md requires. The caller owns *out (nid_exam_free).
 *  Errors: NID_EINVAL (NULL), NID_EIO (cannot open or read the file),
 *  NID_EFORMAT (not JSON, unknown field, wrong type, bad value: the message
 *  names the file, the JSON path such as
 *  videos[1].tracklets[3].key_frames[2].box, and what was expected),
 *  NID_ENOMEM. */
NID_API int nid_exam_load(nid_exam **out, const char *path);

/** Parse an exam from `len` bytes of "noduleid-exam" JSON text in memory
 *  (e.g. a request body), with the checks of nid_exam_load(). `name` (may
 *  be NULL) stands for the file name in messages. Relative video paths
 *  are kept as written (nothing is resolved against a directory), so a
 *  caller may use them as keys of its own, e.g. PACS instance ids.
 *  Errors: NID_EINVAL (NULL out or json), NID_EFORMAT (as nid_exam_load:
 *  names `name` and the JSON path), NID_ENOMEM. Thread-safe. */
NID_API int nid_exam_load_json(nid_exam **out, const char *json, size_t len,
                               const char *name);

/** Write the exam to `path` as "noduleid-exam" version 1 JSON. Atomic: the
 *  text goes to a temporary file in the same directory, which is flushed to
 *  disk and renamed over `path`, so `path` holds either the old or the new
 *  content, never a partial file. Video paths are written as stored (they
 *  are relative to the file's directory when read back). Errors:
 *  NID_EINVAL, NID_EIO (message names the file and the system error),
 *  NID_ENOMEM. Thread-safe with respect to other const calls. */
NID_API int nid_exam_save(const nid_exam *exam, const char *path);

/** Import a COCO-VID style annotation file (videos / images / annotations,
 *  as public ultrasound video data sets ship them) as an exam; the mapping
 *  is documented in docs/exam-format.md. Unknown fields are ignored.
 *  The caller owns *out. Errors: NID_EINVAL, NID_EIO, NID_EFORMAT (message
 *  names file and JSON path), NID_ENOMEM. */
NID_API int nid_exam_import_coco_vid(nid_exam **out, const char *path);

/** Free the exam. NULL is ignored. No other call may be using it. */
NID_API void nid_exam_free(nid_exam *exam);

/** Fill *info (initialised by nid_exam_info_init). Errors: NID_EINVAL. */
NID_API int nid_exam_get_info(const nid_exam *exam, nid_exam_info *info);

/** Replace the exam's free-form "meta" object with `json` (a JSON object
 *  as text), or remove it when json == NULL. Errors: NID_EINVAL (not a
 *  JSON object: the message says where), NID_ENOMEM. */
NID_API int nid_exam_set_meta(nid_exam *exam, const char *json);

/** Append a video described by info->id, path, n_frames, fps, width,
 *  height (other fields ignored). Its index goes to *index (may be NULL).
 *  Errors: NID_EINVAL (NULL or empty id/path, id already used, negative or
 *  non-finite size/fps), NID_ENOMEM. */
NID_API int nid_exam_add_video(nid_exam *exam,
                               const nid_exam_video_info *info,
                               size_t *index);

/** Add a tracklet to video `video`: key frames frames[0..n-1] (strictly
 *  increasing, >= 0) with boxes[0..n-1]; the tracklet runs from frames[0]
 *  to frames[n-1]. nodule is its nodule identity or -1. Boxes need w > 0,
 *  h > 0, finite values, and must lie inside the frame when the video's
 *  size is known (1 pixel of slack); frames must be < n_frames when that is
 *  known. The new tracklet's index goes to *index (may be NULL).
 *  Errors: NID_EINVAL (NULL, n == 0, duplicate id, bad frame or box: the
 *  message names the tracklet and the frame), NID_ERANGE (no such video),
 *  NID_ENOMEM. */
NID_API int nid_exam_add_tracklet(nid_exam *exam, size_t video,
                                  const char *id, int32_t nodule,
                                  const int64_t *frames,
                                  const nid_box *boxes, size_t n,
                                  size_t *index);

/** Fill *info for video `v` (info initialised by
 *  nid_exam_video_info_init). Errors: NID_EINVAL, NID_ERANGE. */
NID_API int nid_exam_get_video(const nid_exam *exam, size_t v,
                               nid_exam_video_info *info);

/** Fill *info for tracklet `t` (initialised by nid_tracklet_info_init).
 *  Errors: NID_EINVAL, NID_ERANGE. */
NID_API int nid_exam_get_tracklet(const nid_exam *exam, size_t t,
                                  nid_tracklet_info *info);

/** Index of the tracklet with id `id`. Errors: NID_EINVAL, NID_ERANGE (no
 *  such tracklet: the message names the id). */
NID_API int nid_exam_find_tracklet(const nid_exam *exam, const char *id,
                                   size_t *t);

/** Key frame k (0 <= k < n_key_frames) of tracklet t: its frame number
 *  and box (either pointer may be NULL). Errors: NID_EINVAL, NID_ERANGE. */
NID_API int nid_exam_key_frame(const nid_exam *exam, size_t t, size_t k,
                               int64_t *frame, nid_box *box);

/** The box of tracklet t on `frame` (start <= frame <= end): the key
 *  frame's box on a key frame, else obtained from the two adjacent key
 *  frames by `interp` (nid_interp). Errors: NID_EINVAL (NULL, unknown
 *  interp), NID_ERANGE (no such tracklet, frame outside the tracklet). */
NID_API int nid_exam_tracklet_box(const nid_exam *exam, size_t t,
                                  int64_t frame, int interp, nid_box *box);

/** Cannot-link constraints that the exam gives for free: the pairs of
 *  tracklets (t1 < t2) of the same video that are visible in common frames
 *  and whose boxes there stay apart (median IoU over the common frames <
 *  max_iou; boxes by NID_INTERP_UNION): one nodule is not seen twice at
 *  once, so such tracklets are different nodules. Two tracks of one nodule
 *  (a detector's duplicate) overlap strongly and are not paired; max_iou
 *  <= 0 uses 0.5. Writes up to pairs_cap pairs (2 * pairs_cap uint32
 *  indices) to pairs, in (t1, t2) order, and the number of pairs to
 *  *n_pairs; pairs may be NULL with pairs_cap 0 to count. Feed them to
 *  nid_cluster_options.cannot_link. Errors: NID_EINVAL (NULL exam or
 *  n_pairs), NID_EBUFSIZE (pairs_cap < *n_pairs; *n_pairs is set),
 *  NID_ENOMEM. Thread-safe for a const exam. */
NID_API int nid_exam_cannot_link(const nid_exam *exam, float max_iou,
                                 uint32_t *pairs, size_t pairs_cap,
                                 size_t *n_pairs);

/* ---- Linking per-frame detections into tracklets ------------------------ */

/** One detected box on one frame (e.g. from a nodule detector). */
typedef struct nid_detection {
    int64_t frame;  /* 0-based frame number */
    nid_box box;
    float   score;  /* detector confidence; compared with min_score */
} nid_detection;

/** Options for nid_link_detections(). Initialise with
 *  nid_link_options_init(). */
typedef struct nid_link_options {
    size_t  struct_size;   /* set by _init                                */
    float   iou_threshold; /* link when IoU >= this; default 0.3           */
    int32_t max_gap;       /* frames without a detection a track may skip;
                              default 5                                   */
    int32_t min_length;    /* drop tracks spanning fewer frames
                              (end - start + 1); default 8                */
    float   min_score;     /* ignore detections scoring below; default 0  */
} nid_link_options;

/** Fill `opts` with defaults (and struct_size). NULL is ignored.
 *  The _init macro passes sizeof *p to _init_sized(); the exported
 *  function _init fills the first published fields only (core.h,
 *  "Extensible structs"). */
NID_API void nid_link_options_init_sized(nid_link_options *opts, size_t size);
NID_API void (nid_link_options_init)(nid_link_options *opts);
#define nid_link_options_init(p) nid_link_options_init_sized((p), sizeof *(p))

/** Link the detections of one video into tracklets and add them to the
 *  exam (nid_exam_add_tracklet rules; ids "<video id>-t<k>" with the first
 *  free k). Greedy, frame by frame in increasing frame order, a frame's
 *  detections ordered by box (x, y, w, h) then score: each open track is
 *  compared with its last box; (track, detection) pairs with IoU > 0 and
 *  IoU >= iou_threshold are taken highest IoU first (ties: older track,
 *  then earlier detection), each track and detection at most once; a
 *  detection left over starts a new track; a track with no detection for
 *  more than max_gap frames is closed. This is not the optimal (Hungarian)
 *  assignment. Key frames are the frames with a detection; tracks spanning
 *  fewer than min_length frames (end - start + 1) are dropped. The result
 *  does not depend on the order of `dets`; tracklets are added by start
 *  frame, then by creation order.
 *  The number of tracklets added goes to *n_added (may be NULL); nodule
 *  ids are -1. n == 0 adds nothing. On error the exam is unchanged.
 *  Errors: NID_EINVAL (NULL with n > 0, bad options, a detection with a
 *  negative frame or one past a known n_frames, a box not finite, with
 *  w/h <= 0 or outside a known frame size: the message names the
 *  detection), NID_ERANGE (no such video), NID_ENOMEM. Modifies the exam:
 *  needs the handle to itself. */
NID_API int nid_link_detections(nid_exam *exam, size_t video,
                                const nid_detection *dets, size_t n,
                                const nid_link_options *opts,
                                size_t *n_added);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* NODULEID_TRACKLET_H */
