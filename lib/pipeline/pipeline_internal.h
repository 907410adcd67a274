/*
 * pipeline_internal.h - between the exam-level calls of pipeline/:
 * embed.c (nid_model_embed_exam: the loop over videos and tracklets, once)
 * and group.c (nid_group_exam: embed, compare, cluster, score).
 *
 * pipeline/ sits on top of the stages (video -> tracklet -> clip -> model
 * -> compare -> cluster -> eval) and calls them only through their public
 * functions, plus nid__model_embed_tracklet_hooked() for stage timings and
 * abort checks inside a long tracklet.
 */
#ifndef NID__PIPELINE_INTERNAL_H
#define NID__PIPELINE_INTERNAL_H

#include "internal.h"

#include <stddef.h>
#include <stdint.h>

/* Check `opts` (NULL: defaults) and copy it into *o, defaults for fields
 * beyond its struct_size. Errors: NID_EINVAL naming the field. */
int nid__pipe_options(const nid_group_options *opts, nid_group_options *o,
                     const char *fn);

/* The start of an exam-level call: nid__pipe_options, then the model's and
 * the exam's info. */
int nid__pipe_begin(const nid_group_options *opts, nid_group_options *o,
                   const nid_model *m, const nid_exam *exam,
                   nid_model_info *mi, nid_exam_info *ei, const char *fn);

/* Is the call cancelled (abort callback)? Records NID_ECANCELED naming
 * `where` and returns it, else 0. */
int nid__pipe_aborted(const nid_group_options *o, const char *fn,
                     const char *where);

/* Embed every tracklet of `e` into emb (n x D, scratch owned by the
 * caller), n_clips (n) and the video/embed times of *tm. Errors name the
 * video or tracklet, prefixed with `fn`. */
int nid__pipe_embed(const nid_model *m, const nid_exam *e,
                   const nid_group_options *o, const char *fn, float *emb,
                   int32_t *n_clips, nid_timings *tm);

/* Monotonic seconds. */
double nid__pipe_now(void);

#endif /* NID__PIPELINE_INTERNAL_H */
