/*
 * noduleid.h - public C API of libnoduleid.
 *
 * libnoduleid tells which ultrasound video clips show the same nodule
 * (re-identification after Jiang et al. 2023). The pipeline is
 *
 *     video -> tracklet -> clip -> model -> compare -> cluster -> eval
 *
 * and this header is the whole public surface: C, C++, Python (cffi) and
 * Java (JNI) programs all go through it.
 *
 * Conventions (see docs/api-conventions.md for the full text):
 *
 *  - Every symbol starts with nid_ / NID_.
 *  - Functions that can fail return an int status: NID_OK (0) on success,
 *    a negative NID_E* code otherwise.  nid_status_str() names a code and
 *    nid_last_error() gives a message with context (file, frame, field,
 *    expected vs. got) for the last failure on the calling thread.
 *  - On failure, out-parameters are left untouched and nothing the caller
 *    owns is modified.
 *  - Objects are opaque handles created by nid_X_create/open/load(&out, ...)
 *    and released by nid_X_free(x); free functions accept NULL.
 *  - Numeric outputs go into caller-allocated buffers with an explicit
 *    capacity; a too-small buffer returns NID_EBUFSIZE and reports the size
 *    needed.
 *  - Structs the caller allocates start with a `struct_size` field and come
 *    with an nid_X_init(p) macro that fills defaults for the size the
 *    caller's header gives them; new fields are only ever appended (see
 *    "Extensible structs" in noduleid/core.h).
 *  - Thread safety is stated for every function and handle below.
 *    Functions without handles are pure and may be called from any thread.
 *
 * ABI: within one major version (the SONAME) the ABI only grows: functions
 * and enum values are appended, signatures and struct layouts never change.
 *
 * Layout: this header includes one header per module, in
 * include/noduleid/, each of which may also be included alone:
 *
 *     core.h      version, features, backend modules, status codes,
 *                 errors, limits, logging, NID_API and the stability
 *                 markers NID_EXPERIMENTAL and NID_DEPRECATED(msg)
 *     compare.h   distances between embeddings
 *     cluster.h   clustering, offline and online
 *     eval.h      scores of clusterings and of pair scores
 *     video.h     video input
 *     tracklet.h  boxes, exams, linking detections into tracklets
 *     clip.h      clips for a model
 *     model.h     model packages: load, embed, compare
 *     gallery.h   galleries and gallery stores
 *     pipeline.h  exams end to end (nid_group_exam)
 *
 * They are included below in the order the declarations had in the single
 * header of 0.1, so the declarations come in the same order.
 */
#ifndef NODULEID_H
#define NODULEID_H

#include "noduleid/core.h"
#include "noduleid/compare.h"
#include "noduleid/cluster.h"
#include "noduleid/eval.h"
#include "noduleid/video.h"
#include "noduleid/tracklet.h"
#include "noduleid/clip.h"
#include "noduleid/model.h"
#include "noduleid/gallery.h"
#include "noduleid/pipeline.h"

#endif /* NODULEID_H */
