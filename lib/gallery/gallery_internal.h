/*
 * gallery_internal.h - what the gallery store (store.c, store_*.c) uses of
 * the in-memory gallery (gallery.c), and the store's backend interface:
 * one table of entries behind a small set of operations, so that another
 * database (e.g. PostgreSQL) can be added next to store_sqlite.c.
 */
#ifndef NID__GALLERY_INTERNAL_H
#define NID__GALLERY_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "noduleid.h"

/* gallery.c: the checks nid_gallery_add() makes, and raw access. */
int nid__gal_valid_model_id(const char *s);
int nid__gal_valid_str(const char *s);     /* 1..255 bytes, no controls   */
int nid__gal_valid_date(const char *s);    /* "YYYY-MM-DD", a real date   */
int nid__gal_normalise(const float *src, size_t d, float *dst); /* 0: bad */
int nid__gal_new(nid_gallery **out, const char *model_id, size_t dim);
/* Append an entry whose row is already unit-norm and whose strings are
 * valid (no duplicate check): NID_OK or NID_ENOMEM, no error message. */
int nid__gal_append(nid_gallery *g, const char *patient, const char *exam,
                   const char *date, const char *label, int32_t n_tracklets,
                   const float *unit_row);
size_t nid__gal_size(const nid_gallery *g);
const float *nid__gal_row(const nid_gallery *g, size_t i);

/* ---- store backends --------------------------------------------------- */

/* One entry as the store keeps it (row: dim unit-norm floats). */
typedef struct nid_store_row {
    int64_t id;
    const char *patient, *exam, *date, *label;
    int32_t n_tracklets;
    const float *emb;
} nid_store_row;

/* A backend. Every function returns NID_OK or a status after nid__fail()
 * with a message naming the store's path. `be` is the backend's handle. */
typedef struct nid_store_backend {
    const char *name;
    /* Open (create when o->create) the store at path; on success fill
     * model_id (72 bytes) and *dim from the store's metadata. */
    int (*open)(void **be, const char *path, const nid_store_options *o,
                char *model_id, size_t *dim);
    void (*close)(void *be);
    int (*count)(void *be, size_t *n);
    int (*has_exam)(void *be, const char *patient, const char *exam,
                    int *found);
    /* Insert k rows in one transaction (all or none); ids[i] (ids may be
     * NULL) receives the new ids. A duplicate (patient, exam, label) fails
     * with NID_EINVAL naming it, or with skip_existing is skipped (id 0).
     * *n_added (may be NULL): rows inserted. */
    int (*insert)(void *be, const nid_store_row *rows, size_t k,
                  int skip_existing, int64_t *ids, size_t *n_added);
    /* Append the rows of `patient` (NULL: all), in id order, to g and
     * their ids to *ids (realloc'ed; *n_ids updated). */
    int (*load)(void *be, const char *patient, nid_gallery *g, int64_t **ids,
                size_t *n_ids);
    /* One row by id into g (appended) : NID_ERANGE if there is none. */
    int (*get)(void *be, int64_t id, nid_gallery *g);
} nid_store_backend;

extern const nid_store_backend nid_store_sqlite;

#endif
