/*
 * noduleid/gallery.h - galleries of earlier exams' nodules, in memory and
 * files, and gallery stores (gallery/).
 *
 * Part of the public C API of libnoduleid; include <noduleid.h>, which includes
 * every module header, or this header alone. Conventions: docs/api-conventions.md.
 *
 * Experimental (NID_EXPERIMENTAL, every function here): galleries and
 * gallery stores are new in 0.2 and their calls, matching rule and
 * formats may still change in a minor release (docs/api-conventions.md).
 */
#ifndef NODULEID_GALLERY_H
#define NODULEID_GALLERY_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Gallery (gallery/)                                                       */
/* ------------------------------------------------------------------------ */
/* A gallery keeps a patient's nodules from earlier exams for the next one:
 * one entry per nodule (patient id, exam id, exam date, nodule label and
 * the nodule's embedding: the mean of its tracklet embeddings, L2-
 * normalised). All embeddings of a gallery come from one model, recorded
 * as its model id (nid_model_info.model_id); matching embeddings of
 * another model is refused. The file format is docs/gallery-format.md
 * (versioned, zlib-compressed, CRC-checked); nid_gallery_save() replaces
 * the file atomically, so a crash while saving leaves the old gallery. */

/** A gallery in memory. Mutation (nid_gallery_add) needs one thread at a
 *  time; const calls may run concurrently on one gallery when no mutation
 *  runs. */
typedef struct nid_gallery nid_gallery;

/** Facts about a gallery. */
typedef struct nid_gallery_info {
    size_t   struct_size;    /* set by nid_gallery_info_init               */
    int32_t  format_version; /* file format version (1)                   */
    char     model_id[72];   /* model whose embeddings it holds           */
    size_t   embed_dim;      /* D, floats per embedding                    */
    size_t   n_entries;      /* number of entries (nodules)               */
} nid_gallery_info;

/** Zero `info` and set its struct_size. NULL is ignored.
 *  The _init macro passes sizeof *p to _init_sized(); the exported
 *  function _init fills the first published fields only (core.h,
 *  "Extensible structs"). */
NID_EXPERIMENTAL
NID_API void nid_gallery_info_init_sized(nid_gallery_info *info, size_t size);
NID_EXPERIMENTAL
NID_API void (nid_gallery_info_init)(nid_gallery_info *info);
#define nid_gallery_info_init(p) nid_gallery_info_init_sized((p), sizeof *(p))

/** One entry. The strings are borrowed from the gallery: valid until the
 *  next nid_gallery_add() or nid_gallery_free() on it. */
typedef struct nid_gallery_entry {
    size_t      struct_size; /* set by nid_gallery_entry_init              */
    const char *patient_id;
    const char *exam_id;
    const char *date;        /* exam date, "YYYY-MM-DD"                    */
    const char *label;       /* nodule label within the exam, e.g. "N1"   */
    int32_t     n_tracklets; /* tracklets averaged into the embedding     */
} nid_gallery_entry;

/** Zero `e` and set its struct_size. NULL is ignored.
 *  The _init macro passes sizeof *p to _init_sized(); the exported
 *  function _init fills the first published fields only (core.h,
 *  "Extensible structs"). */
NID_EXPERIMENTAL
NID_API void nid_gallery_entry_init_sized(nid_gallery_entry *e, size_t size);
NID_EXPERIMENTAL
NID_API void (nid_gallery_entry_init)(nid_gallery_entry *e);
#define nid_gallery_entry_init(p) \
    nid_gallery_entry_init_sized((p), sizeof *(p))

/** Create an empty gallery for embeddings of `model_id` (1 to 71
 *  printable ASCII characters, e.g. nid_model_info.model_id) with
 *  embed_dim floats each. The caller owns *out (nid_gallery_free).
 *  Errors: NID_EINVAL (NULL, bad model id, embed_dim 0 or > 65536),
 *  NID_ENOMEM. Thread-safe. */
NID_EXPERIMENTAL
NID_API int nid_gallery_create(nid_gallery **out, const char *model_id,
                               size_t embed_dim);

/** Load a gallery file (docs/gallery-format.md). Checks everything: magic,
 *  version, header CRC, sizes, payload CRCs, decompression, every field
 *  of every entry. Temporary files of interrupted saves are never read.
 *  Errors: NID_EINVAL (NULL), NID_EIO (cannot open or read: names the
 *  path), NID_EFORMAT (not a gallery, unsupported version, CRC mismatch,
 *  truncated, decompression failure, bad field: names the path and the
 *  field or offset), NID_ENOMEM. Thread-safe. */
NID_EXPERIMENTAL
NID_API int nid_gallery_load(nid_gallery **out, const char *path);

/** Save the gallery to `path` atomically: written to a temporary file in
 *  the same directory (".<name>.tmp-XXXXXX"), fsync'ed, renamed over
 *  `path`, and the directory fsync'ed. On failure or a crash `path` keeps
 *  its old content; a crash may leave the temporary file, which loading
 *  ignores. A new file gets mode 0644 less the umask; an existing file's
 *  mode is kept.
 *  Errors: NID_EINVAL (NULL), NID_EIO (cannot create, write, sync or
 *  rename: names the path and the errno text), NID_ENOMEM. Thread safety:
 *  a const call; two saves to one path from different threads or
 *  processes leave one of the two complete files. */
NID_EXPERIMENTAL
NID_API int nid_gallery_save(const nid_gallery *g, const char *path);

/** Free the gallery. NULL is ignored. */
NID_EXPERIMENTAL
NID_API void nid_gallery_free(nid_gallery *g);

/** Fill *info (initialised by nid_gallery_info_init). Errors: NID_EINVAL.
 *  Const call. */
NID_EXPERIMENTAL
NID_API int nid_gallery_get_info(const nid_gallery *g, nid_gallery_info *info);

/** Add one nodule: its embedding emb (d floats, d == embed_dim) is stored
 *  L2-normalised. Strings: 1 to 255 bytes without control characters;
 *  date a valid calendar date "YYYY-MM-DD"; n_tracklets >= 1 (how many
 *  tracklet embeddings were averaged, kept for information). The index of
 *  the new entry is n_entries - 1. (patient, exam, label) must be new.
 *  Errors: NID_EINVAL (NULL, bad string or date, non-finite or zero
 *  embedding, n_tracklets < 1, duplicate entry: the message names it),
 *  NID_EMISMATCH (d != embed_dim), NID_ENOMEM. The gallery is unchanged
 *  on error. One thread at a time. */
NID_EXPERIMENTAL
NID_API int nid_gallery_add(nid_gallery *g, const char *patient_id,
                            const char *exam_id, const char *date,
                            const char *label, const float *emb, size_t d,
                            int32_t n_tracklets);

/** Entry i (0 <= i < n_entries) into *e (initialised by
 *  nid_gallery_entry_init). Errors: NID_EINVAL, NID_ERANGE. Const call. */
NID_EXPERIMENTAL
NID_API int nid_gallery_get_entry(const nid_gallery *g, size_t i,
                                  nid_gallery_entry *e);

/** Copy entry i's embedding (embed_dim floats, unit norm) to out
 *  (out_cap >= embed_dim, else NID_EBUFSIZE). Errors: NID_EINVAL,
 *  NID_ERANGE, NID_EBUFSIZE. Const call. */
NID_EXPERIMENTAL
NID_API int nid_gallery_get_embedding(const nid_gallery *g, size_t i,
                                      float *out, size_t out_cap);

/** Options for nid_gallery_match(). Initialise with
 *  nid_match_options_init(). */
typedef struct nid_match_options {
    size_t struct_size;   /* set by _init                                  */
    float  threshold;     /* match when cosine distance < threshold;
                             default 0.5 (as nid_cluster_options); use the
                             model's info.tau for a calibrated model       */
    char   model_id[72];  /* model of the embeddings; must equal the
                             gallery's (required; default "")              */
} nid_match_options;

/** Fill `opts` with defaults (and struct_size). NULL is ignored.
 *  The _init macro passes sizeof *p to _init_sized(); the exported
 *  function _init fills the first published fields only (core.h,
 *  "Extensible structs"). */
NID_EXPERIMENTAL
NID_API void nid_match_options_init_sized(nid_match_options *opts,
                                          size_t size);
NID_EXPERIMENTAL
NID_API void (nid_match_options_init)(nid_match_options *opts);
#define nid_match_options_init(p) \
    nid_match_options_init_sized((p), sizeof *(p))

/** Assign n nodule embeddings of a new exam (n x d, one row per nodule,
 *  e.g. cluster means) of patient `patient_id` to the gallery's nodules.
 *  Candidates are the patient's entries of its most recent exam (latest
 *  date; on equal dates the exam added last); other patients' entries
 *  never match. Cosine distances between the (normalised) rows and the
 *  candidates are assigned one-to-one greedily: repeatedly the closest
 *  free pair with distance < threshold is matched (ties: lower row, then
 *  lower entry index). Greedy equals the optimal assignment when every
 *  nodule has at most one candidate below the threshold, the usual case.
 *  Writes match[i] = the matched entry's index or -1 (a new nodule) and,
 *  when distance != NULL, distance[i] = the distance to the matched entry,
 *  or for a new nodule to its nearest candidate (+infinity without one).
 *  Errors: NID_EINVAL (NULL, n == 0, non-finite or zero row, threshold
 *  not finite or < 0, empty opts->model_id), NID_EMISMATCH (model id
 *  differs: "gallery made by model X, embeddings from model Y"; d !=
 *  embed_dim), NID_ENOMEM. Outputs untouched on error. Const call. */
NID_EXPERIMENTAL
NID_API int nid_gallery_match(const nid_gallery *g, const char *patient_id,
                              const float *emb, size_t n, size_t d,
                              const nid_match_options *opts,
                              int64_t *match, float *distance);


/* ------------------------------------------------------------------------ */
/* Gallery store (gallery/store.c, gallery/store_sqlite.c)                  */
/* ------------------------------------------------------------------------ */
/* A gallery store is a gallery on disk that grows exam by exam, for a
 * site's whole archive (10^6 nodules and more): an SQLite database
 * (docs/gallery-store.md) in WAL mode, indexed by patient. Adding an exam
 * is one transaction (all of its nodules or none, also when the process
 * is killed) and writes only that exam's rows; matching reads only the
 * patient's rows. Several threads and processes may open one store and
 * add and match at once: writers take turns (waiting up to
 * busy_timeout_ms), readers never wait. Entries have a stable id (>= 1,
 * increasing in the order added). The gallery file format
 * (docs/gallery-format.md) stays for exchange: nid_gallery_store_import()
 * and nid_gallery_store_export(). A store handle belongs to one thread at
 * a time; open one handle per thread. */

/** A gallery store (an open database). */
typedef struct nid_gallery_store nid_gallery_store;

/** Options for nid_gallery_store_open(). Initialise with
 *  nid_store_options_init(). */
typedef struct nid_store_options {
    size_t  struct_size;      /* set by _init                              */
    int32_t create;           /* 1: create the store if it does not exist
                                 (needs model_id and embed_dim); default 0 */
    int32_t read_only;        /* 1: open for reading only; default 0       */
    int32_t busy_timeout_ms;  /* how long a writer waits for another's
                                 transaction; default 60000                */
    char    model_id[72];     /* for create; if set for an existing store,
                                 it must equal the store's (else
                                 NID_EMISMATCH); default ""                */
    size_t  embed_dim;        /* for create; if != 0 for an existing store,
                                 it must equal the store's; default 0      */
} nid_store_options;

/** Fill `opts` with defaults (and struct_size). NULL is ignored.
 *  The _init macro passes sizeof *p to _init_sized(); the exported
 *  function _init fills the first published fields only (core.h,
 *  "Extensible structs"). */
NID_EXPERIMENTAL
NID_API void nid_store_options_init_sized(nid_store_options *opts,
                                          size_t size);
NID_EXPERIMENTAL
NID_API void (nid_store_options_init)(nid_store_options *opts);
#define nid_store_options_init(p) \
    nid_store_options_init_sized((p), sizeof *(p))

/** Open the gallery store at `path` (opts NULL: defaults, an existing
 *  store read-write). The caller owns *out (nid_gallery_store_free).
 *  Errors: NID_EINVAL (NULL path, bad options: names the field), NID_EIO
 *  (missing without create, cannot open or create: names the path),
 *  NID_EFORMAT (not a gallery store, e.g. a gallery file: names the path),
 *  NID_EMISMATCH (model id or embed_dim differ from the options'). */
NID_EXPERIMENTAL
NID_API int nid_gallery_store_open(nid_gallery_store **out, const char *path,
                                   const nid_store_options *opts);

/** Close the store. NULL is ignored. */
NID_EXPERIMENTAL
NID_API void nid_gallery_store_free(nid_gallery_store *s);

/** Fill *info (nid_gallery_info_init): model id, embed_dim, n_entries
 *  (counted now), format_version (the store's schema version, 1).
 *  Errors: NID_EINVAL, NID_EIO. */
NID_EXPERIMENTAL
NID_API int nid_gallery_store_get_info(nid_gallery_store *s,
                                       nid_gallery_info *info);

/** Add one exam's k >= 1 nodules in one transaction: labels[j] and row j
 *  of emb (k x d, stored L2-normalised); n_tracklets[j] (NULL: all 1).
 *  The same checks as nid_gallery_add(); (patient, exam, label) must be
 *  new. On success ids (k, may be NULL) receives the new entries' ids.
 *  Errors: NID_EINVAL (NULL, k == 0, bad string/date/embedding, duplicate
 *  entry: names it), NID_EMISMATCH (d), NID_EIO (database error, or the
 *  store is read-only), NID_ENOMEM. On error nothing is added. */
NID_EXPERIMENTAL
NID_API int nid_gallery_store_add_exam(nid_gallery_store *s,
                                       const char *patient_id,
                                       const char *exam_id, const char *date,
                                       size_t k, const char *const *labels,
                                       const float *emb, size_t d,
                                       const int32_t *n_tracklets,
                                       int64_t *ids);

/** *found = 1 if the store has an entry of (patient_id, exam_id), else 0.
 *  Errors: NID_EINVAL, NID_EIO. */
NID_EXPERIMENTAL
NID_API int nid_gallery_store_has_exam(nid_gallery_store *s,
                                       const char *patient_id,
                                       const char *exam_id, int *found);

/** nid_gallery_match() against the store: candidates are the patient's
 *  entries of its most recent exam (on equal dates the exam added last).
 *  match[i] = the matched entry's id, or -1 for a new nodule; distance as
 *  nid_gallery_match(). Reads only the patient's rows. Errors: those of
 *  nid_gallery_match(), NID_EIO, NID_EFORMAT (a corrupt row: names its
 *  id). Outputs untouched on error. */
NID_EXPERIMENTAL
NID_API int nid_gallery_store_match(nid_gallery_store *s,
                                    const char *patient_id, const float *emb,
                                    size_t n, size_t d,
                                    const nid_match_options *opts,
                                    int64_t *match, float *distance);

/** Entry `id` as an in-memory gallery of one entry (*out, caller owns:
 *  nid_gallery_get_entry/get_embedding index 0). Errors: NID_EINVAL,
 *  NID_ERANGE (no such id), NID_EIO, NID_EFORMAT, NID_ENOMEM. */
NID_EXPERIMENTAL
NID_API int nid_gallery_store_get(nid_gallery_store *s, int64_t id,
                                  nid_gallery **out);

/** Copy the entries of patient_id (NULL: every entry), in id order, into
 *  a new in-memory gallery (*out, caller owns); nid_gallery_save() then
 *  writes the gallery file format. ids (may be NULL) receives a malloc'ed
 *  array of their ids (free with nid_free_ids). Errors: NID_EINVAL,
 *  NID_EIO, NID_EFORMAT, NID_ENOMEM. */
NID_EXPERIMENTAL
NID_API int nid_gallery_store_export(nid_gallery_store *s,
                                     const char *patient_id,
                                     nid_gallery **out, int64_t **ids);

/** Free an id array returned by nid_gallery_store_export. NULL ignored. */
NID_EXPERIMENTAL
NID_API void nid_free_ids(int64_t *ids);

/** Import every entry of g (e.g. a gallery file, nid_gallery_load) in one
 *  transaction, in g's order; the model id and embed_dim must equal the
 *  store's. With skip_existing != 0, entries whose (patient, exam, label)
 *  the store already has are skipped (a re-run of an interrupted or
 *  finished import adds nothing twice); else they fail the import.
 *  *n_added (may be NULL) receives how many were added. Errors:
 *  NID_EINVAL (NULL, duplicate), NID_EMISMATCH, NID_EIO, NID_ENOMEM. On
 *  error nothing is added. */
NID_EXPERIMENTAL
NID_API int nid_gallery_store_import(nid_gallery_store *s,
                                     const nid_gallery *g, int skip_existing,
                                     size_t *n_added);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* NODULEID_GALLERY_H */
