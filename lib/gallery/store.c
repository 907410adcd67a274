/*
 * store.c - the gallery store's public API (nid_gallery_store_*): checks
 * arguments, then calls the backend (gallery_internal.h; SQLite in
 * store_sqlite.c). Matching loads the patient's rows into an in-memory
 * gallery and reuses nid_gallery_match(), so a store and a gallery file
 * with the same entries give the same matches.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "gallery_internal.h"

struct nid_gallery_store {
    const nid_store_backend *ops;
    void *be;
    char model_id[72];
    size_t dim;
};

static void store_options_defaults(nid_store_options *d)
{
    d->busy_timeout_ms = 60000;
}

NID__DEFINE_INIT(nid_store_options, store_options_defaults)

void nid_free_ids(int64_t *ids) { free(ids); }

int nid_gallery_store_open(nid_gallery_store **out, const char *path,
                           const nid_store_options *opts)
{
    const char *F = "nid_gallery_store_open";
    if (!out || !path)
        return nid__fail(NID_EINVAL, "%s: NULL %s", F, !out ? "out" : "path");
    nid_store_options o;
    nid_store_options_init(&o);
    int rc0 = NID__STRUCT_IN(F, "opts", nid_store_options, &o, opts);
    if (rc0) return rc0;
    int has_mid = memchr(o.model_id, '\0', sizeof o.model_id) != NULL &&
                  o.model_id[0] != '\0';
    if (!memchr(o.model_id, '\0', sizeof o.model_id) ||
        (has_mid && !nid__gal_valid_model_id(o.model_id)))
        return nid__fail(NID_EINVAL, "%s: opts.model_id must be 1 to 71 "
                        "printable ASCII characters without spaces", F);
    if (o.embed_dim > 65536)
        return nid__fail(NID_EINVAL, "%s: opts.embed_dim must be 1..65536, "
                        "got %zu", F, o.embed_dim);
    if (o.busy_timeout_ms < 0)
        return nid__fail(NID_EINVAL, "%s: opts.busy_timeout_ms must be >= 0",
                        F);
    if (o.create && o.read_only)
        return nid__fail(NID_EINVAL, "%s: opts.create and opts.read_only "
                        "exclude each other", F);
    if (o.create && (!has_mid || o.embed_dim == 0))
        return nid__fail(NID_EINVAL, "%s: creating '%s' needs opts.model_id "
                        "and opts.embed_dim", F, path);
    nid_gallery_store *s = calloc(1, sizeof *s);
    if (!s) return nid__fail(NID_ENOMEM, "%s: out of memory", F);
    s->ops = &nid_store_sqlite;
    int st = s->ops->open(&s->be, path, &o, s->model_id, &s->dim);
    if (st != NID_OK) {
        free(s);
        return st;
    }
    if ((has_mid && strcmp(o.model_id, s->model_id)) ||
        (o.embed_dim && o.embed_dim != s->dim)) {
        st = nid__fail(NID_EMISMATCH, "%s: '%s' holds embeddings of model %s "
                      "(%zu floats), not %s (%zu floats)", F, path,
                      s->model_id, s->dim, has_mid ? o.model_id : s->model_id,
                      o.embed_dim ? o.embed_dim : s->dim);
        nid_gallery_store_free(s);
        return st;
    }
    *out = s;
    nid_clear_error();
    return NID_OK;
}

void nid_gallery_store_free(nid_gallery_store *s)
{
    if (!s) return;
    s->ops->close(s->be);
    free(s);
}

int nid_gallery_store_get_info(nid_gallery_store *s, nid_gallery_info *info)
{
    if (!s || !info)
        return nid__fail(NID_EINVAL, "nid_gallery_store_get_info: NULL %s",
                        !s ? "store" : "info");
    int rc = NID__STRUCT_CHECK("nid_gallery_store_get_info", "info",
                               nid_gallery_info, info);
    if (rc) return rc;
    size_t n;
    int st = s->ops->count(s->be, &n);
    if (st != NID_OK) return st;
    nid_gallery_info r;
    nid_gallery_info_init(&r);
    r.format_version = 1;
    memcpy(r.model_id, s->model_id, sizeof r.model_id);
    r.embed_dim = s->dim;
    r.n_entries = n;
    NID__STRUCT_OUT("nid_gallery_store_get_info", "info", nid_gallery_info,
                    info, &r);
    nid_clear_error();
    return NID_OK;
}

static const char *bad_strings(const char *patient, const char *exam,
                               const char *date)
{
    if (!nid__gal_valid_str(patient)) return "patient_id";
    if (!nid__gal_valid_str(exam)) return "exam_id";
    if (!nid__gal_valid_date(date)) return "date";
    return NULL;
}

int nid_gallery_store_add_exam(nid_gallery_store *s, const char *patient_id,
                               const char *exam_id, const char *date,
                               size_t k, const char *const *labels,
                               const float *emb, size_t d,
                               const int32_t *n_tracklets, int64_t *ids)
{
    const char *F = "nid_gallery_store_add_exam";
    if (!s || !patient_id || !exam_id || !date || !labels || !emb)
        return nid__fail(NID_EINVAL, "%s: NULL argument", F);
    if (k == 0) return nid__fail(NID_EINVAL, "%s: k must be > 0", F);
    const char *bad = bad_strings(patient_id, exam_id, date);
    if (bad)
        return nid__fail(NID_EINVAL, "%s: %s must be %s", F, bad,
                        strcmp(bad, "date") ? "1 to 255 bytes without control "
                        "characters" : "a valid YYYY-MM-DD date");
    if (d != s->dim)
        return nid__fail(NID_EMISMATCH, "%s: embeddings have %zu floats, the "
                        "store %zu", F, d, s->dim);
    for (size_t j = 0; j < k; j++) {
        if (!labels[j] || !nid__gal_valid_str(labels[j]))
            return nid__fail(NID_EINVAL, "%s: labels[%zu] must be 1 to 255 "
                            "bytes without control characters", F, j);
        for (size_t i = 0; i < j; i++)
            if (!strcmp(labels[i], labels[j]))
                return nid__fail(NID_EINVAL, "%s: labels[%zu] and labels[%zu] "
                                "are both '%s'", F, i, j, labels[j]);
        if (n_tracklets && n_tracklets[j] < 1)
            return nid__fail(NID_EINVAL, "%s: n_tracklets[%zu] must be >= 1, "
                            "got %d", F, j, (int)n_tracklets[j]);
    }
    size_t kd;
    if (!nid__mul_size(k, d, &kd) || !nid__mul_size(kd, sizeof(float), &kd))
        return nid__fail(NID_EINVAL, "%s: k x d overflows", F);
    float *rows = malloc(kd);
    nid_store_row *r = malloc(k * sizeof *r);
    int64_t *tmp_ids = malloc(k * sizeof *tmp_ids);
    int st = NID_OK;
    if (!rows || !r || !tmp_ids) {
        st = nid__fail(NID_ENOMEM, "%s: out of memory", F);
        goto out;
    }
    for (size_t j = 0; j < k; j++) {
        if (!nid__gal_normalise(emb + j * d, d, rows + j * d)) {
            st = nid__fail(NID_EINVAL, "%s: row %zu has a non-finite value or "
                          "zero norm", F, j);
            goto out;
        }
        r[j] = (nid_store_row){0, patient_id, exam_id, date, labels[j],
                               n_tracklets ? n_tracklets[j] : 1,
                               rows + j * d};
    }
    st = s->ops->insert(s->be, r, k, 0, tmp_ids, NULL);
    if (st == NID_OK) {
        if (ids) memcpy(ids, tmp_ids, k * sizeof *ids);
        nid_clear_error();
    }
out:
    free(rows);
    free(r);
    free(tmp_ids);
    return st;
}

int nid_gallery_store_has_exam(nid_gallery_store *s, const char *patient_id,
                               const char *exam_id, int *found)
{
    if (!s || !patient_id || !exam_id || !found)
        return nid__fail(NID_EINVAL, "nid_gallery_store_has_exam: NULL "
                        "argument");
    int f = 0;
    int st = s->ops->has_exam(s->be, patient_id, exam_id, &f);
    if (st == NID_OK) {
        *found = f;
        nid_clear_error();
    }
    return st;
}

/* The rows of patient (NULL: all) as a new gallery plus their ids. */
static int load(nid_gallery_store *s, const char *patient, nid_gallery **g,
                int64_t **ids, size_t *n)
{
    if (nid__gal_new(g, s->model_id, s->dim) != NID_OK)
        return nid__fail(NID_ENOMEM, "gallery store: out of memory");
    *ids = NULL;
    *n = 0;
    int st = s->ops->load(s->be, patient, *g, ids, n);
    if (st != NID_OK) {
        nid_gallery_free(*g);
        free(*ids);
        *g = NULL;
        *ids = NULL;
    }
    return st;
}

int nid_gallery_store_match(nid_gallery_store *s, const char *patient_id,
                            const float *emb, size_t n, size_t d,
                            const nid_match_options *opts, int64_t *match,
                            float *distance)
{
    const char *F = "nid_gallery_store_match";
    if (!s || !patient_id || !emb || !opts || !match)
        return nid__fail(NID_EINVAL, "%s: NULL argument", F);
    int st = NID__STRUCT_CHECK(F, "opts", nid_match_options, opts);
    if (st != NID_OK) return st;
    if (n == 0) return nid__fail(NID_EINVAL, "%s: n must be > 0", F);
    nid_gallery *g;
    int64_t *ids;
    size_t m;
    st = load(s, patient_id, &g, &ids, &m);
    if (st != NID_OK) return st;
    int64_t *mm = malloc(n * sizeof *mm);
    if (!mm) {
        st = nid__fail(NID_ENOMEM, "%s: out of memory", F);
        goto out;
    }
    st = nid_gallery_match(g, patient_id, emb, n, d, opts, mm, distance);
    if (st == NID_OK)
        for (size_t i = 0; i < n; i++)
            match[i] = mm[i] >= 0 ? ids[mm[i]] : -1;
out:
    free(mm);
    free(ids);
    nid_gallery_free(g);
    return st;
}

int nid_gallery_store_get(nid_gallery_store *s, int64_t id, nid_gallery **out)
{
    if (!s || !out)
        return nid__fail(NID_EINVAL, "nid_gallery_store_get: NULL %s",
                        !s ? "store" : "out");
    nid_gallery *g;
    if (nid__gal_new(&g, s->model_id, s->dim) != NID_OK)
        return nid__fail(NID_ENOMEM, "nid_gallery_store_get: out of memory");
    int st = s->ops->get(s->be, id, g);
    if (st != NID_OK) {
        nid_gallery_free(g);
        return st;
    }
    *out = g;
    nid_clear_error();
    return NID_OK;
}

int nid_gallery_store_export(nid_gallery_store *s, const char *patient_id,
                             nid_gallery **out, int64_t **ids)
{
    if (!s || !out)
        return nid__fail(NID_EINVAL, "nid_gallery_store_export: NULL %s",
                        !s ? "store" : "out");
    nid_gallery *g;
    int64_t *id;
    size_t n;
    int st = load(s, patient_id, &g, &id, &n);
    if (st != NID_OK) return st;
    *out = g;
    if (ids) *ids = id;
    else free(id);
    nid_clear_error();
    return NID_OK;
}

int nid_gallery_store_import(nid_gallery_store *s, const nid_gallery *g,
                             int skip_existing, size_t *n_added)
{
    const char *F = "nid_gallery_store_import";
    if (!s || !g) return nid__fail(NID_EINVAL, "%s: NULL %s", F,
                                  !s ? "store" : "gallery");
    nid_gallery_info info;
    nid_gallery_info_init(&info);
    nid_gallery_get_info(g, &info);
    if (strcmp(info.model_id, s->model_id) || info.embed_dim != s->dim)
        return nid__fail(NID_EMISMATCH, "%s: the gallery holds embeddings of "
                        "model %s (%zu floats), the store of model %s (%zu "
                        "floats)", F, info.model_id, info.embed_dim,
                        s->model_id, s->dim);
    size_t n = nid__gal_size(g);
    nid_store_row *r = malloc((n ? n : 1) * sizeof *r);
    if (!r) return nid__fail(NID_ENOMEM, "%s: out of memory", F);
    for (size_t i = 0; i < n; i++) {
        nid_gallery_entry e;
        nid_gallery_entry_init(&e);
        nid_gallery_get_entry(g, i, &e);
        r[i] = (nid_store_row){0, e.patient_id, e.exam_id, e.date, e.label,
                               e.n_tracklets, nid__gal_row(g, i)};
    }
    size_t added = 0;
    int st = n ? s->ops->insert(s->be, r, n, skip_existing, NULL, &added)
               : NID_OK;
    free(r);
    if (st == NID_OK) {
        if (n_added) *n_added = added;
        nid_clear_error();
    }
    return st;
}
