/*
 * tracklet_internal.h - the nid_exam handle, shared by exam.c (JSON load,
 * save, accessors), box.c (interpolation, IoU), coco_vid.c (import),
 * link.c (detections -> tracklets) and clip/ (clip builder); not installed.
 */
#ifndef NID__TRACKLET_INTERNAL_H
#define NID__TRACKLET_INTERNAL_H

#include "internal.h"

#include <jansson.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Slack, in pixels, allowed when checking that a box lies inside a frame:
 * annotation tools round corners outwards. */
#define NID__BOX_SLACK 1.0f

/* One key frame. `extra` holds the "x_" keys of the JSON object (owned
 * reference or NULL) so that they survive load -> save. */
typedef struct nid_kf {
    int64_t frame;
    nid_box box;
    json_t *extra;
} nid_kf;

typedef struct nid_trk {
    char   *id;
    size_t  video;
    int32_t nodule;
    int64_t start, end;
    nid_kf *kf;
    size_t  n_kf;
    json_t *extra;
} nid_trk;

typedef struct nid_vid {
    char   *id;
    char   *path;
    char   *resolved;   /* path resolved against the exam's base dir */
    int64_t n_frames;   /* -1 unknown */
    double  fps;        /* 0 unknown */
    int32_t width;      /* 0 unknown */
    int32_t height;     /* 0 unknown */
    size_t  n_trk;      /* its tracklets */
    json_t *extra;
} nid_vid;

/* Tracklets are kept grouped by video, in video order, so a video's
 * tracklets are trk[first .. first + n_trk). */
struct nid_exam {
    char    *exam_id, *patient_id, *date;  /* NULL when absent */
    json_t  *meta;       /* object or NULL */
    char    *meta_str;   /* compact text of meta, or NULL */
    char    *source;     /* file loaded from, or NULL */
    char    *base_dir;   /* directory relative video paths start from;
                            "" = current directory */
    json_t  *extra;
    nid_vid *vid;
    size_t   n_vid, cap_vid;
    nid_trk *trk;
    size_t   n_trk, cap_trk;
};

/* --- exam.c --- */

/* An empty exam with base_dir "" (ids NULL). NULL on ENOMEM (no error set). */
nid_exam *nid__exam_new(void);

/* Index of video v's first tracklet. */
size_t nid__exam_first_trk(const nid_exam *e, size_t v);

/* Make room for `more` tracklets so that nid__exam_insert_trk() cannot
 * fail. Returns NID_OK or NID_ENOMEM (error set, exam unchanged). */
int nid__exam_reserve_trk(nid_exam *e, size_t more);

/* Insert *t (ownership moves into the exam) after the last tracklet of
 * t->video. Capacity must have been reserved. Returns its index. */
size_t nid__exam_insert_trk(nid_exam *e, nid_trk *t);

/* Append a video; takes ownership of nothing (copies strings). Returns
 * NID_OK or NID_ENOMEM / NID_EINVAL with error set ("fn" names the caller).
 * Checks id uniqueness. */
int nid__exam_push_video(nid_exam *e, const char *fn, const char *id,
                        const char *path, int64_t n_frames, double fps,
                        int32_t width, int32_t height, size_t *index);

/* Is a tracklet id already used? */
bool nid__exam_has_trk_id(const nid_exam *e, const char *id);

/* Free the contents of a tracklet (not the struct). */
void nid__trk_clear(nid_trk *t);

/* Check key frames (frames strictly increasing, >= 0, < n_frames when
 * known; boxes finite, w, h > 0, inside width x height when known).
 * On a problem writes a message (without prefix) to msg and returns the
 * offending key-frame index; returns -1 when all is well. */
long nid__check_key_frames(const nid_kf *kf, size_t n, int64_t n_frames,
                          int32_t width, int32_t height, char *msg,
                          size_t msg_cap);

/* Is the box inside a width x height frame (NID__BOX_SLACK)? */
bool nid__box_inside(const nid_box *b, int32_t width, int32_t height);

/* Is the box finite with w, h > 0? */
bool nid__box_valid(const nid_box *b);

/* malloc'd copy of s (NULL stays NULL); sets *oom on allocation failure. */
char *nid__strdup_opt(const char *s, bool *oom);

/* --- box.c --- */

/* Box of tracklet *t on `frame` (start <= frame <= end checked by caller). */
nid_box nid__trk_box(const nid_trk *t, int64_t frame, int interp);

/* --- link.c --- */

/* The linking core on detections already validated; `keep_all` = min_length
 * applies. Produces tracks as arrays of key frames. Used by
 * nid_link_detections() and the COCO-VID importer. On success *tracks is a
 * malloc'd array of *n_tracks nid_trk (id NULL, video 0, nodule -1).
 * Returns NID_OK or NID_ENOMEM (error set). */
int nid__link_core(const nid_detection *dets, size_t n,
                  const nid_link_options *opts, nid_trk **tracks,
                  size_t *n_tracks);

#ifdef __cplusplus
}
#endif

#endif /* NID__TRACKLET_INTERNAL_H */
