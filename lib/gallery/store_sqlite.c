/*
 * store_sqlite.c - the gallery store's SQLite backend (docs/gallery-store.md):
 * one table of entries indexed by (patient, exam, label), WAL journal, one
 * IMMEDIATE transaction per insert so that concurrent writers take turns.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "internal.h"
#include "gallery_internal.h"

#define STORE_APP_ID 0x4e494447 /* "NIDG": PRAGMA application_id */
#define STORE_SCHEMA 1          /* PRAGMA user_version          */

typedef struct sq {
    sqlite3 *db;
    char *path;
    size_t dim;
    sqlite3_stmt *ins, *ins_ignore, *has, *by_patient, *all, *by_id, *count;
} sq;

static int db_fail(sq *b, int status, const char *what)
{
    return nid__fail(status, "gallery store '%s': %s: %s", b->path, what,
                    b->db ? sqlite3_errmsg(b->db) : "cannot open");
}

static int io_status(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_NOMEM: return NID_ENOMEM;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT: return NID_EFORMAT;
    case SQLITE_CONSTRAINT: return NID_EINVAL;
    default: return NID_EIO;
    }
}

static int exec(sq *b, const char *sql, const char *what)
{
    int rc = sqlite3_exec(b->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? NID_OK : db_fail(b, io_status(rc), what);
}

static void sq_close(void *be)
{
    sq *b = be;
    if (!b) return;
    sqlite3_stmt *st[] = {b->ins, b->ins_ignore, b->has, b->by_patient,
                          b->all, b->by_id, b->count};
    for (size_t i = 0; i < sizeof st / sizeof *st; i++) sqlite3_finalize(st[i]);
    sqlite3_close(b->db);
    free(b->path);
    free(b);
}

static int prepare(sq *b, sqlite3_stmt **st, const char *sql)
{
    int rc = sqlite3_prepare_v3(b->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
                                NULL);
    return rc == SQLITE_OK ? NID_OK : db_fail(b, io_status(rc), "prepare");
}

static int pragma_int(sq *b, const char *sql, long long *v)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(b->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) return db_fail(b, io_status(rc), "read its header");
    rc = sqlite3_step(st);
    *v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(b, io_status(rc), "read its header");
    return NID_OK;
}

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS entry("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " patient TEXT NOT NULL, exam TEXT NOT NULL, date TEXT NOT NULL,"
    " label TEXT NOT NULL, n_tracklets INTEGER NOT NULL,"
    " embedding BLOB NOT NULL,"
    " UNIQUE(patient, exam, label));";

/* Create the schema and metadata if the database is empty (one writer at
 * a time: concurrent creators see one another's tables). */
static int create_schema(sq *b, const nid_store_options *o)
{
    int st = exec(b, "BEGIN IMMEDIATE", "begin creating");
    if (st) return st;
    long long uv = 0, app = 0, tables = 0;
    if ((st = pragma_int(b, "PRAGMA user_version", &uv)) ||
        (st = pragma_int(b, "PRAGMA application_id", &app)) ||
        (st = pragma_int(b, "SELECT count(*) FROM sqlite_master", &tables)))
        goto fail;
    /* only an empty database becomes a store (another application's
     * database is left alone and refused by read_meta) */
    if (uv == 0 && app == 0 && tables == 0) {
        char sql[512];
        snprintf(sql, sizeof sql,
                 "PRAGMA application_id=%d; PRAGMA user_version=%d;"
                 "INSERT OR REPLACE INTO meta VALUES('model_id', '%s');"
                 "INSERT OR REPLACE INTO meta VALUES('embed_dim', '%zu');",
                 STORE_APP_ID, STORE_SCHEMA, o->model_id, o->embed_dim);
        if ((st = exec(b, SCHEMA, "create its tables")) ||
            (st = exec(b, sql, "write its metadata")))
            goto fail;
    }
    return exec(b, "COMMIT", "commit its creation");
fail:
    sqlite3_exec(b->db, "ROLLBACK", NULL, NULL, NULL);
    return st;
}

static int read_meta(sq *b, char *model_id, size_t *dim)
{
    long long uv = 0, app = 0;
    int st;
    if ((st = pragma_int(b, "PRAGMA application_id", &app))) return st;
    if (app == 0 &&
        (st = pragma_int(b, "SELECT count(*) FROM sqlite_master", &uv)))
        return st;
    if (app == 0 && uv == 0)
        return nid__fail(NID_EFORMAT, "gallery store '%s': an empty database,"
                        " not a store yet (being created by another process?"
                        " processes that may create a store all open it with "
                        "create = 1)", b->path);
    if (app != STORE_APP_ID)
        return nid__fail(NID_EFORMAT, "gallery store '%s': not a noduleid "
                        "gallery store (SQLite application_id %lld; a "
                        "gallery file is imported with "
                        "nid_gallery_store_import())", b->path, app);
    if ((st = pragma_int(b, "PRAGMA user_version", &uv))) return st;
    if (uv != STORE_SCHEMA)
        return nid__fail(NID_EFORMAT, "gallery store '%s': unsupported schema "
                        "version %lld (this library reads %d)", b->path, uv,
                        STORE_SCHEMA);
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(b->db, "SELECT key, value FROM meta", -1, &q,
                                NULL);
    if (rc != SQLITE_OK) return db_fail(b, io_status(rc), "read its metadata");
    model_id[0] = '\0';
    *dim = 0;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(q, 0);
        const char *v = (const char *)sqlite3_column_text(q, 1);
        if (!k || !v) continue;
        if (!strcmp(k, "model_id") && strlen(v) < 72) strcpy(model_id, v);
        else if (!strcmp(k, "embed_dim")) {
            char *end;
            unsigned long long d = strtoull(v, &end, 10);
            *dim = (*end || d > 65536) ? 0 : (size_t)d;
        }
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) return db_fail(b, io_status(rc), "read its metadata");
    if (!nid__gal_valid_model_id(model_id) || *dim == 0)
        return nid__fail(NID_EFORMAT, "gallery store '%s': metadata: bad or "
                        "missing %s", b->path,
                        *dim == 0 ? "embed_dim" : "model_id");
    return NID_OK;
}

static int sq_open(void **out, const char *path, const nid_store_options *o,
                   char *model_id, size_t *dim)
{
    sq *b = calloc(1, sizeof *b);
    if (!b || !(b->path = strdup(path))) {
        free(b);
        return nid__fail(NID_ENOMEM, "nid_gallery_store_open: out of memory");
    }
    int flags = o->read_only ? SQLITE_OPEN_READONLY
                             : SQLITE_OPEN_READWRITE |
                                   (o->create ? SQLITE_OPEN_CREATE : 0);
    flags |= SQLITE_OPEN_NOMUTEX;
    int st = NID_OK;
    int rc = sqlite3_open_v2(path, &b->db, flags, NULL);
    if (rc != SQLITE_OK) {
        st = nid__fail(NID_EIO, "gallery store '%s': cannot open%s: %s", path,
                      o->create ? " or create" : "",
                      b->db ? sqlite3_errmsg(b->db) : "out of memory");
        goto fail;
    }
    sqlite3_extended_result_codes(b->db, 1);
    sqlite3_busy_timeout(b->db, o->busy_timeout_ms);
    /* A file that is not a database fails here (SQLITE_NOTADB). */
    long long app = 0;
    if ((st = pragma_int(b, "PRAGMA application_id", &app))) {
        if (st == NID_EFORMAT)
            st = nid__fail(NID_EFORMAT, "gallery store '%s': not a noduleid "
                          "gallery store (not an SQLite database; a gallery "
                          "file is imported with nid_gallery_store_import())",
                          path);
        goto fail;
    }
    if (!o->read_only) {
        /* WAL: readers never wait for the writer; NORMAL sync is atomic and
         * durable against a killed process (a power cut may lose the last
         * commits, never half of one). */
        if ((st = exec(b, "PRAGMA journal_mode=WAL", "switch to WAL")) ||
            (st = exec(b, "PRAGMA synchronous=NORMAL", "set synchronous")))
            goto fail;
        if (o->create && (st = create_schema(b, o))) goto fail;
    }
    if ((st = read_meta(b, model_id, dim))) goto fail;
    b->dim = *dim;
    const char *cols = "SELECT id, patient, exam, date, label, n_tracklets, "
                       "embedding FROM entry ";
    char q1[256], q2[256], q3[256];
    snprintf(q1, sizeof q1, "%sWHERE patient = ?1 ORDER BY id", cols);
    snprintf(q2, sizeof q2, "%sORDER BY id", cols);
    snprintf(q3, sizeof q3, "%sWHERE id = ?1", cols);
    if ((!o->read_only &&
         ((st = prepare(b, &b->ins, "INSERT INTO entry(patient, exam, date, "
                        "label, n_tracklets, embedding) VALUES(?,?,?,?,?,?)")) ||
          (st = prepare(b, &b->ins_ignore, "INSERT OR IGNORE INTO entry("
                        "patient, exam, date, label, n_tracklets, embedding) "
                        "VALUES(?,?,?,?,?,?)")))) ||
        (st = prepare(b, &b->has, "SELECT 1 FROM entry WHERE patient = ?1 "
                      "AND exam = ?2 LIMIT 1")) ||
        (st = prepare(b, &b->by_patient, q1)) ||
        (st = prepare(b, &b->all, q2)) || (st = prepare(b, &b->by_id, q3)) ||
        (st = prepare(b, &b->count, "SELECT count(*) FROM entry")))
        goto fail;
    *out = b;
    return NID_OK;
fail:
    sq_close(b);
    return st;
}

static int sq_count(void *be, size_t *n)
{
    sq *b = be;
    int rc = sqlite3_step(b->count);
    if (rc == SQLITE_ROW) *n = (size_t)sqlite3_column_int64(b->count, 0);
    sqlite3_reset(b->count);
    return rc == SQLITE_ROW ? NID_OK : db_fail(b, io_status(rc), "count");
}

static int sq_has_exam(void *be, const char *patient, const char *exam,
                       int *found)
{
    sq *b = be;
    sqlite3_bind_text(b->has, 1, patient, -1, SQLITE_STATIC);
    sqlite3_bind_text(b->has, 2, exam, -1, SQLITE_STATIC);
    int rc = sqlite3_step(b->has);
    sqlite3_reset(b->has);
    sqlite3_clear_bindings(b->has);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(b, io_status(rc), "look up an exam");
    *found = rc == SQLITE_ROW;
    return NID_OK;
}

static int sq_insert(void *be, const nid_store_row *rows, size_t k,
                     int skip_existing, int64_t *ids, size_t *n_added)
{
    sq *b = be;
    if (!b->ins)
        return nid__fail(NID_EIO, "gallery store '%s': opened read-only",
                        b->path);
    int st = exec(b, "BEGIN IMMEDIATE", "begin a transaction");
    if (st) return st;
    sqlite3_stmt *q = skip_existing ? b->ins_ignore : b->ins;
    size_t added = 0;
    for (size_t i = 0; i < k; i++) {
        const nid_store_row *r = &rows[i];
        sqlite3_bind_text(q, 1, r->patient, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, r->exam, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, r->date, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 4, r->label, -1, SQLITE_STATIC);
        sqlite3_bind_int(q, 5, r->n_tracklets);
        sqlite3_bind_blob(q, 6, r->emb, (int)(b->dim * sizeof(float)),
                          SQLITE_STATIC);
        int rc = sqlite3_step(q);
        int changed = sqlite3_changes(b->db);
        sqlite3_reset(q);
        if (rc != SQLITE_DONE) {
            if ((rc & 0xff) == SQLITE_CONSTRAINT)
                st = nid__fail(NID_EINVAL, "gallery store '%s': patient '%s' "
                              "exam '%s' already has a nodule '%s'", b->path,
                              r->patient, r->exam, r->label);
            else
                st = db_fail(b, io_status(rc), "insert an entry");
            goto fail;
        }
        if (changed) added++;
        if (ids) ids[i] = changed ? sqlite3_last_insert_rowid(b->db) : 0;
    }
    sqlite3_clear_bindings(q);
    if ((st = exec(b, "COMMIT", "commit"))) goto fail;
    if (n_added) *n_added = added;
    return NID_OK;
fail:
    sqlite3_clear_bindings(q);
    sqlite3_exec(b->db, "ROLLBACK", NULL, NULL, NULL);
    return st;
}

/* Append the rows of a stepped statement to g. */
static int read_rows(sq *b, sqlite3_stmt *q, nid_gallery *g, int64_t **ids,
                     size_t *n_ids, int *any)
{
    int rc, st = NID_OK;
    size_t cap = *n_ids;
    float *row = malloc(2 * b->dim * sizeof *row), *tmp = row + b->dim;
    if (!row) return nid__fail(NID_ENOMEM, "gallery store: out of memory");
    *any = 0;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(q, 0);
        const char *s[4];
        for (int c = 0; c < 4; c++)
            s[c] = (const char *)sqlite3_column_text(q, 1 + c);
        int64_t nt = sqlite3_column_int64(q, 5);
        const void *blob = sqlite3_column_blob(q, 6);
        int blen = sqlite3_column_bytes(q, 6);
        const char *bad = NULL;
        if (!s[0] || !nid__gal_valid_str(s[0])) bad = "patient";
        else if (!s[1] || !nid__gal_valid_str(s[1])) bad = "exam";
        else if (!s[2] || !nid__gal_valid_date(s[2])) bad = "date";
        else if (!s[3] || !nid__gal_valid_str(s[3])) bad = "label";
        else if (nt < 1 || nt > INT32_MAX) bad = "n_tracklets";
        else if (!blob || (size_t)blen != b->dim * sizeof(float))
            bad = "embedding (size)";
        else {
            memcpy(row, blob, b->dim * sizeof *row);
            if (!nid__gal_normalise(row, b->dim, tmp)) bad = "embedding (non-finite or zero)";
        }
        if (bad) {
            st = nid__fail(NID_EFORMAT, "gallery store '%s': entry id %lld: "
                          "bad %s", b->path, (long long)id, bad);
            break;
        }
        if (ids) {
            if (*n_ids == cap) {
                cap = cap ? cap * 2 : 64;
                int64_t *p = realloc(*ids, cap * sizeof *p);
                if (!p) { st = NID_ENOMEM; break; }
                *ids = p;
            }
            (*ids)[*n_ids] = id;
        }
        if (nid__gal_append(g, s[0], s[1], s[2], s[3], (int32_t)nt, row)) {
            st = NID_ENOMEM;
            break;
        }
        (*n_ids)++;
        *any = 1;
    }
    if (st == NID_OK && rc != SQLITE_DONE)
        st = db_fail(b, io_status(rc), "read entries");
    if (st == NID_ENOMEM) nid__fail(st, "gallery store: out of memory");
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    free(row);
    return st;
}

static int sq_load(void *be, const char *patient, nid_gallery *g,
                   int64_t **ids, size_t *n_ids)
{
    sq *b = be;
    sqlite3_stmt *q = patient ? b->by_patient : b->all;
    if (patient) sqlite3_bind_text(q, 1, patient, -1, SQLITE_STATIC);
    /* one read transaction: a consistent snapshot */
    int st = exec(b, "BEGIN", "begin reading");
    if (st) return st;
    int any;
    st = read_rows(b, q, g, ids, n_ids, &any);
    sqlite3_exec(b->db, "COMMIT", NULL, NULL, NULL);
    return st;
}

static int sq_get(void *be, int64_t id, nid_gallery *g)
{
    sq *b = be;
    sqlite3_bind_int64(b->by_id, 1, id);
    size_t n = 0;
    int any = 0;
    int st = read_rows(b, b->by_id, g, NULL, &n, &any);
    if (st == NID_OK && !any)
        st = nid__fail(NID_ERANGE, "gallery store '%s': no entry with id %lld",
                      b->path, (long long)id);
    return st;
}

const nid_store_backend nid_store_sqlite = {
    "sqlite", sq_open, sq_close, sq_count, sq_has_exam, sq_insert, sq_load,
    sq_get};
