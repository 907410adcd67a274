/*
 * gallery.c - nodule gallery: entries in memory, matching, and the file
 * format of docs/gallery-format.md (zlib payload, CRC32s, atomic save).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "internal.h"

#define GAL_MAGIC "\x89NIDGAL\n"
#define GAL_VERSION 1
#define GAL_HEADER_SIZE 132
#define GAL_MAX_DIM 65536
#define GAL_MAX_STR 255
/* zlib never expands more than ~1032:1; a larger claimed raw size is a lie */
#define GAL_MAX_RATIO 1100u

typedef struct gal_entry {
    char *patient, *exam, *date, *label;
    int32_t n_tracklets;
} gal_entry;

struct nid_gallery {
    char model_id[72];
    size_t dim;
    size_t n, cap;
    gal_entry *e;
    float *emb; /* n x dim, unit rows */
};

/* ---- small helpers ---------------------------------------------------- */

static int valid_model_id(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 71) return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x21 || s[i] > 0x7e) return 0;
    return 1;
}

static int valid_str(const char *s, size_t len)
{
    if (len == 0 || len > GAL_MAX_STR) return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) return 0;
    }
    return 1;
}

static int valid_date(const char *s, size_t len)
{
    if (len != 10 || s[4] != '-' || s[7] != '-') return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) return 0;
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 +
            (s[3] - '0');
    int m = (s[5] - '0') * 10 + (s[6] - '0');
    int d = (s[8] - '0') * 10 + (s[9] - '0');
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || m < 1 || m > 12 || d < 1) return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= mdays[m - 1] + (m == 2 && leap);
}

/* Normalise d floats of src into dst (double accumulation); 0 if the row
 * is non-finite or zero. */
static int normalise(const float *src, size_t d, float *dst)
{
    double ss = 0;
    for (size_t k = 0; k < d; k++) {
        if (!isfinite(src[k])) return 0;
        ss += (double)src[k] * src[k];
    }
    if (!(ss > 0) || !isfinite(ss)) return 0;
    double inv = 1.0 / sqrt(ss);
    for (size_t k = 0; k < d; k++) dst[k] = (float)(src[k] * inv);
    return 1;
}

static void entry_free(gal_entry *e)
{
    free(e->patient);
    free(e->exam);
    free(e->date);
    free(e->label);
}

static char *dup_n(const char *s, size_t len)
{
    char *p = malloc(len + 1);
    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

static int reserve(nid_gallery *g, size_t need)
{
    if (need <= g->cap) return 1;
    size_t cap = g->cap ? g->cap : 16;
    while (cap < need) {
        if (cap > ((size_t)-1) / 2) return 0;
        cap *= 2;
    }
    size_t bytes;
    if (!nid__mul_size(cap, g->dim, &bytes) ||
        !nid__mul_size(bytes, sizeof(float), &bytes))
        return 0;
    gal_entry *e = realloc(g->e, cap * sizeof *e);
    if (!e) return 0;
    g->e = e;
    float *emb = realloc(g->emb, bytes);
    if (!emb) return 0;
    g->emb = emb;
    g->cap = cap;
    return 1;
}

/* Append one entry from (not necessarily terminated) strings; the row is
 * already unit-norm. Returns NID_OK or NID_ENOMEM (gallery unchanged). */
static int append(nid_gallery *g, const char *p, size_t pl, const char *x,
                  size_t xl, const char *dt, size_t dl, const char *l,
                  size_t ll, int32_t nt, const float *row)
{
    if (!reserve(g, g->n + 1)) return NID_ENOMEM;
    gal_entry e = {dup_n(p, pl), dup_n(x, xl), dup_n(dt, dl), dup_n(l, ll),
                   nt};
    if (!e.patient || !e.exam || !e.date || !e.label) {
        entry_free(&e);
        return NID_ENOMEM;
    }
    memcpy(g->emb + g->n * g->dim, row, g->dim * sizeof(float));
    g->e[g->n++] = e;
    return NID_OK;
}

/* ---- public: create, free, info, entries ------------------------------ */

NID__DEFINE_INIT(nid_gallery_info, nid__no_defaults)

NID__DEFINE_INIT(nid_gallery_entry, nid__no_defaults)

static void match_options_defaults(nid_match_options *d)
{
    d->threshold = 0.5f;
}

NID__DEFINE_INIT(nid_match_options, match_options_defaults)

static int gallery_new(nid_gallery **out, const char *model_id, size_t dim)
{
    nid_gallery *g = calloc(1, sizeof *g);
    if (!g) return NID_ENOMEM;
    snprintf(g->model_id, sizeof g->model_id, "%s", model_id);
    g->dim = dim;
    *out = g;
    return NID_OK;
}

int nid_gallery_create(nid_gallery **out, const char *model_id,
                       size_t embed_dim)
{
    if (!out || !model_id)
        return nid__fail(NID_EINVAL, "nid_gallery_create: NULL %s",
                        !out ? "out" : "model_id");
    if (!valid_model_id(model_id))
        return nid__fail(NID_EINVAL,
                        "nid_gallery_create: model_id must be 1 to 71 "
                        "printable ASCII characters without spaces");
    if (embed_dim == 0 || embed_dim > GAL_MAX_DIM)
        return nid__fail(NID_EINVAL,
                        "nid_gallery_create: embed_dim must be 1..%d, got %zu",
                        GAL_MAX_DIM, embed_dim);
    nid_gallery *g;
    if (gallery_new(&g, model_id, embed_dim) != NID_OK)
        return nid__fail(NID_ENOMEM, "nid_gallery_create: out of memory");
    *out = g;
    nid_clear_error();
    return NID_OK;
}

void nid_gallery_free(nid_gallery *g)
{
    if (!g) return;
    for (size_t i = 0; i < g->n; i++) entry_free(&g->e[i]);
    free(g->e);
    free(g->emb);
    free(g);
}

int nid_gallery_get_info(const nid_gallery *g, nid_gallery_info *info)
{
    if (!g || !info)
        return nid__fail(NID_EINVAL, "nid_gallery_get_info: NULL %s",
                        !g ? "gallery" : "info");
    nid_gallery_info r;
    nid_gallery_info_init(&r);
    r.format_version = GAL_VERSION;
    memcpy(r.model_id, g->model_id, sizeof r.model_id);
    r.embed_dim = g->dim;
    r.n_entries = g->n;
    int rc = NID__STRUCT_OUT("nid_gallery_get_info", "info", nid_gallery_info,
                             info, &r);
    if (rc) return rc;
    nid_clear_error();
    return NID_OK;
}

int nid_gallery_add(nid_gallery *g, const char *patient_id,
                    const char *exam_id, const char *date, const char *label,
                    const float *emb, size_t d, int32_t n_tracklets)
{
    const char *F = "nid_gallery_add";
    if (!g || !patient_id || !exam_id || !date || !label || !emb)
        return nid__fail(NID_EINVAL, "%s: NULL argument", F);
    const char *names[] = {"patient_id", "exam_id", "label"};
    const char *vals[] = {patient_id, exam_id, label};
    for (int i = 0; i < 3; i++)
        if (!valid_str(vals[i], strlen(vals[i])))
            return nid__fail(NID_EINVAL, "%s: %s must be 1 to %d bytes without "
                            "control characters", F, names[i], GAL_MAX_STR);
    if (!valid_date(date, strlen(date)))
        return nid__fail(NID_EINVAL, "%s: date '%.32s' is not a valid "
                        "YYYY-MM-DD date", F, date);
    if (d != g->dim)
        return nid__fail(NID_EMISMATCH, "%s: embedding has %zu floats, the "
                        "gallery %zu", F, d, g->dim);
    if (n_tracklets < 1)
        return nid__fail(NID_EINVAL, "%s: n_tracklets must be >= 1, got %d",
                        F, (int)n_tracklets);
    if (g->n >= NID_MAX_EMBEDDINGS)
        return nid__fail(NID_ERANGE, "%s: the gallery holds %zu entries, the "
                        "limit (NID_MAX_EMBEDDINGS)", F, g->n);
    for (size_t i = 0; i < g->n; i++)
        if (!strcmp(g->e[i].patient, patient_id) &&
            !strcmp(g->e[i].exam, exam_id) && !strcmp(g->e[i].label, label))
            return nid__fail(NID_EINVAL, "%s: patient '%s' exam '%s' already "
                            "has a nodule '%s' (entry %zu)", F, patient_id,
                            exam_id, label, i);
    float *row = malloc(d * sizeof *row);
    if (!row) return nid__fail(NID_ENOMEM, "%s: out of memory", F);
    if (!normalise(emb, d, row)) {
        free(row);
        return nid__fail(NID_EINVAL, "%s: embedding has a non-finite value "
                        "or zero norm", F);
    }
    int st = append(g, patient_id, strlen(patient_id), exam_id,
                    strlen(exam_id), date, 10, label, strlen(label),
                    n_tracklets, row);
    free(row);
    if (st != NID_OK) return nid__fail(st, "%s: out of memory", F);
    nid_clear_error();
    return NID_OK;
}

int nid_gallery_get_entry(const nid_gallery *g, size_t i, nid_gallery_entry *e)
{
    if (!g || !e)
        return nid__fail(NID_EINVAL, "nid_gallery_get_entry: NULL %s",
                        !g ? "gallery" : "entry");
    int rc = NID__STRUCT_CHECK("nid_gallery_get_entry", "e",
                               nid_gallery_entry, e);
    if (rc) return rc;
    if (i >= g->n)
        return nid__fail(NID_ERANGE, "nid_gallery_get_entry: index %zu >= "
                        "%zu entries", i, g->n);
    nid_gallery_entry r;
    nid_gallery_entry_init(&r);
    r.patient_id = g->e[i].patient;
    r.exam_id = g->e[i].exam;
    r.date = g->e[i].date;
    r.label = g->e[i].label;
    r.n_tracklets = g->e[i].n_tracklets;
    NID__STRUCT_OUT("nid_gallery_get_entry", "e", nid_gallery_entry, e, &r);
    nid_clear_error();
    return NID_OK;
}

int nid_gallery_get_embedding(const nid_gallery *g, size_t i, float *out,
                              size_t out_cap)
{
    if (!g || !out)
        return nid__fail(NID_EINVAL, "nid_gallery_get_embedding: NULL %s",
                        !g ? "gallery" : "out");
    if (i >= g->n)
        return nid__fail(NID_ERANGE, "nid_gallery_get_embedding: index %zu >= "
                        "%zu entries", i, g->n);
    if (out_cap < g->dim)
        return nid__fail(NID_EBUFSIZE, "nid_gallery_get_embedding: out_cap "
                        "%zu < embed_dim %zu", out_cap, g->dim);
    memcpy(out, g->emb + i * g->dim, g->dim * sizeof(float));
    nid_clear_error();
    return NID_OK;
}

/* ---- matching --------------------------------------------------------- */

typedef struct pair {
    double dist;
    size_t row, ent;
} pair;

static int pair_cmp(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    if (x->dist != y->dist) return x->dist < y->dist ? -1 : 1;
    if (x->row != y->row) return x->row < y->row ? -1 : 1;
    return (x->ent > y->ent) - (x->ent < y->ent);
}

/* Indices of the patient's entries of its most recent exam. */
static size_t latest_exam(const nid_gallery *g, const char *patient,
                          size_t *cand)
{
    const gal_entry *best = NULL;
    for (size_t i = 0; i < g->n; i++) {
        if (strcmp(g->e[i].patient, patient)) continue;
        if (!best || strcmp(g->e[i].date, best->date) >= 0) best = &g->e[i];
    }
    size_t m = 0;
    if (!best) return 0;
    for (size_t i = 0; i < g->n; i++)
        if (!strcmp(g->e[i].patient, patient) &&
            !strcmp(g->e[i].exam, best->exam) &&
            !strcmp(g->e[i].date, best->date))
            cand[m++] = i;
    return m;
}

int nid_gallery_match(const nid_gallery *g, const char *patient_id,
                      const float *emb, size_t n, size_t d,
                      const nid_match_options *opts, int64_t *match,
                      float *distance)
{
    const char *F = "nid_gallery_match";
    if (!g || !patient_id || !emb || !opts || !match)
        return nid__fail(NID_EINVAL, "%s: NULL argument", F);
    nid_match_options mo;
    nid_match_options_init(&mo);
    int rc0 = NID__STRUCT_IN(F, "opts", nid_match_options, &mo, opts);
    if (rc0) return rc0;
    opts = &mo;
    if (n == 0) return nid__fail(NID_EINVAL, "%s: n must be > 0", F);
    if (!isfinite(opts->threshold) || opts->threshold < 0)
        return nid__fail(NID_EINVAL, "%s: threshold must be finite and >= 0, "
                        "got %g", F, (double)opts->threshold);
    if (!memchr(opts->model_id, '\0', sizeof opts->model_id) ||
        opts->model_id[0] == '\0')
        return nid__fail(NID_EINVAL, "%s: opts.model_id must name the model "
                        "of the embeddings", F);
    if (strcmp(opts->model_id, g->model_id))
        return nid__fail(NID_EMISMATCH, "%s: gallery made by model %s, "
                        "embeddings from model %s", F, g->model_id,
                        opts->model_id);
    if (d != g->dim)
        return nid__fail(NID_EMISMATCH, "%s: embeddings have %zu floats, the "
                        "gallery %zu", F, d, g->dim);
    size_t nd, np, bytes;
    if (!nid__mul_size(n, d, &nd) || !nid__mul_size(nd, sizeof(float), &bytes) ||
        !nid__mul_size(n, sizeof(int64_t), &bytes))
        return nid__fail(NID_EINVAL, "%s: n x d overflows", F);
    float *rows = malloc(nd * sizeof *rows);
    size_t *cand = malloc((g->n ? g->n : 1) * sizeof *cand);
    int64_t *m_out = malloc(n * sizeof *m_out);
    float *d_out = malloc(n * sizeof *d_out);
    pair *pairs = NULL;
    int st = NID_ENOMEM;
    if (!rows || !cand || !m_out || !d_out) goto done;
    for (size_t i = 0; i < n; i++)
        if (!normalise(emb + i * d, d, rows + i * d)) {
            st = nid__fail(NID_EINVAL, "%s: row %zu has a non-finite value or "
                          "zero norm", F, i);
            goto done;
        }
    size_t m = latest_exam(g, patient_id, cand);
    if (!nid__mul_size(n, m ? m : 1, &np) ||
        !nid__mul_size(np, sizeof *pairs, &bytes))
        goto done;
    pairs = malloc(bytes);
    if (!pairs) goto done;
    for (size_t i = 0; i < n; i++) {
        m_out[i] = -1;
        d_out[i] = INFINITY;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m; j++) {
            const float *a = rows + i * d, *b = g->emb + cand[j] * d;
            double dot = 0;
            for (size_t t = 0; t < d; t++) dot += (double)a[t] * b[t];
            double dist = 1.0 - dot;
            if (dist < 0) dist = 0;
            if ((float)dist < d_out[i]) d_out[i] = (float)dist;
            pairs[k++] = (pair){dist, i, cand[j]};
        }
    qsort(pairs, k, sizeof *pairs, pair_cmp);
    /* greedy one-to-one: an entry is taken once (mark with row index) */
    char *taken = calloc(g->n ? g->n : 1, 1);
    if (!taken) goto done;
    for (size_t p = 0; p < k && pairs[p].dist < opts->threshold; p++) {
        if (m_out[pairs[p].row] >= 0 || taken[pairs[p].ent]) continue;
        taken[pairs[p].ent] = 1;
        m_out[pairs[p].row] = (int64_t)pairs[p].ent;
        d_out[pairs[p].row] = (float)pairs[p].dist;
    }
    free(taken);
    memcpy(match, m_out, n * sizeof *match);
    if (distance) memcpy(distance, d_out, n * sizeof *distance);
    st = NID_OK;
    nid_clear_error();
done:
    if (st == NID_ENOMEM) nid__fail(st, "%s: out of memory", F);
    free(rows);
    free(cand);
    free(m_out);
    free(d_out);
    free(pairs);
    return st;
}

/* ---- serialisation ---------------------------------------------------- */

static void put_u16(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static uint32_t crc(const unsigned char *p, size_t len)
{
    uLong c = crc32(0L, Z_NULL, 0);
    while (len > 0) { /* crc32 takes a uInt length */
        uInt chunk = len > (1u << 30) ? (1u << 30) : (uInt)len;
        c = crc32(c, p, chunk);
        p += chunk;
        len -= chunk;
    }
    return (uint32_t)c;
}

static size_t entry_bytes(const nid_gallery *g, size_t i)
{
    const gal_entry *e = &g->e[i];
    return 8 + strlen(e->patient) + strlen(e->exam) + strlen(e->date) +
           strlen(e->label) + 4 + 4 * g->dim;
}

static unsigned char *put_str(unsigned char *p, const char *s)
{
    size_t len = strlen(s);
    put_u16(p, (uint32_t)len);
    memcpy(p + 2, s, len);
    return p + 2 + len;
}

/* The uncompressed payload (docs/gallery-format.md); NULL on ENOMEM. */
static unsigned char *serialise(const nid_gallery *g, size_t *len)
{
    size_t total = 0;
    for (size_t i = 0; i < g->n; i++) total += entry_bytes(g, i);
    unsigned char *buf = malloc(total ? total : 1), *p = buf;
    if (!buf) return NULL;
    for (size_t i = 0; i < g->n; i++) {
        const gal_entry *e = &g->e[i];
        p = put_str(p, e->patient);
        p = put_str(p, e->exam);
        p = put_str(p, e->date);
        p = put_str(p, e->label);
        put_u32(p, (uint32_t)e->n_tracklets);
        p += 4;
        for (size_t k = 0; k < g->dim; k++) {
            uint32_t bits;
            memcpy(&bits, &g->emb[i * g->dim + k], 4);
            put_u32(p, bits);
            p += 4;
        }
    }
    *len = total;
    return buf;
}

/* Header + compressed payload, ready to write. */
static int encode(const nid_gallery *g, unsigned char **out, size_t *out_len)
{
    size_t raw_len;
    unsigned char *raw = serialise(g, &raw_len);
    if (!raw) return NID_ENOMEM;
    uLong bound = compressBound((uLong)raw_len);
    unsigned char *file = malloc(GAL_HEADER_SIZE + bound);
    if (!file) {
        free(raw);
        return NID_ENOMEM;
    }
    uLongf comp_len = bound;
    int zr = compress2(file + GAL_HEADER_SIZE, &comp_len, raw, (uLong)raw_len,
                       6);
    uint32_t raw_crc = crc(raw, raw_len);
    free(raw);
    if (zr != Z_OK) {
        free(file);
        return zr == Z_MEM_ERROR ? NID_ENOMEM : NID_EINTERNAL;
    }
    unsigned char *h = file;
    memset(h, 0, GAL_HEADER_SIZE);
    memcpy(h, GAL_MAGIC, 8);
    put_u32(h + 8, GAL_VERSION);
    put_u32(h + 12, 0); /* flags */
    put_u32(h + 16, (uint32_t)g->dim);
    put_u32(h + 20, 0); /* reserved */
    put_u64(h + 24, g->n);
    put_u64(h + 32, raw_len);
    put_u64(h + 40, comp_len);
    put_u32(h + 48, raw_crc);
    put_u32(h + 52, crc(file + GAL_HEADER_SIZE, comp_len));
    memcpy(h + 56, g->model_id, strlen(g->model_id));
    put_u32(h + 128, crc(h, 128));
    *out = file;
    *out_len = GAL_HEADER_SIZE + comp_len;
    return NID_OK;
}

int nid_gallery_save(const nid_gallery *g, const char *path)
{
    const char *F = "nid_gallery_save";
    if (!g || !path || !*path)
        return nid__fail(NID_EINVAL, "%s: NULL or empty %s", F,
                        !g ? "gallery" : "path");
    unsigned char *file = NULL;
    size_t len = 0;
    int st = encode(g, &file, &len);
    if (st != NID_OK)
        return nid__fail(st, "%s: %s while encoding", F,
                        st == NID_ENOMEM ? "out of memory" : "zlib failed");
    st = nid__save_atomic(F, path, file, len, 0644);
    free(file);
    if (st == NID_OK) nid_clear_error();
    return st;
}

/* ---- loading ---------------------------------------------------------- */

/* Parse the payload into g; on failure a message naming path and offset. */
static int parse_payload(nid_gallery *g, const char *path,
                         const unsigned char *p, size_t len, uint64_t count)
{
    size_t off = 0;
    float *row = malloc(g->dim * sizeof *row);
    if (!row) return nid__fail(NID_ENOMEM, "nid_gallery_load: out of memory");
    static const char *fields[] = {"patient_id", "exam_id", "date", "label"};
    for (uint64_t i = 0; i < count; i++) {
        const char *s[4];
        size_t sl[4];
        for (int f = 0; f < 4; f++) {
            if (len - off < 2) goto trunc;
            sl[f] = (size_t)p[off] | (size_t)p[off + 1] << 8;
            off += 2;
            if (len - off < sl[f]) goto trunc;
            s[f] = (const char *)p + off;
            int ok = f == 2 ? valid_date(s[f], sl[f]) : valid_str(s[f], sl[f]);
            if (!ok) {
                free(row);
                return nid__fail(NID_EFORMAT, "nid_gallery_load: '%s': entry "
                                "%llu: bad %s at payload offset %zu", path,
                                (unsigned long long)i, fields[f], off - 2);
            }
            off += sl[f];
        }
        if (len - off < 4 + 4 * g->dim) goto trunc;
        uint32_t nt = get_u32(p + off);
        if (nt < 1 || nt > INT32_MAX) {
            free(row);
            return nid__fail(NID_EFORMAT, "nid_gallery_load: '%s': entry %llu: "
                            "bad n_tracklets %u at payload offset %zu", path,
                            (unsigned long long)i, nt, off);
        }
        off += 4;
        double ss = 0;
        for (size_t k = 0; k < g->dim; k++, off += 4) {
            uint32_t bits = get_u32(p + off);
            memcpy(&row[k], &bits, 4);
            ss += (double)row[k] * row[k];
        }
        if (!isfinite(ss) || fabs(ss - 1.0) > 1e-3) {
            free(row);
            return nid__fail(NID_EFORMAT, "nid_gallery_load: '%s': entry %llu: "
                            "embedding is not finite and unit-norm", path,
                            (unsigned long long)i);
        }
        if (append(g, s[0], sl[0], s[1], sl[1], s[2], sl[2], s[3], sl[3],
                   (int32_t)nt, row) != NID_OK) {
            free(row);
            return nid__fail(NID_ENOMEM, "nid_gallery_load: out of memory");
        }
    }
    free(row);
    if (off != len)
        return nid__fail(NID_EFORMAT, "nid_gallery_load: '%s': %zu bytes after "
                        "the last entry in the payload", path, len - off);
    return NID_OK;
trunc:
    free(row);
    return nid__fail(NID_EFORMAT, "nid_gallery_load: '%s': payload truncated "
                    "at offset %zu (entry of %llu)", path, off,
                    (unsigned long long)count);
}

/* Check the header; fills dim, count, raw_len, comp_len. */
static int check_header(const char *path, const unsigned char *h,
                        size_t file_len, size_t *dim, uint64_t *count,
                        uint64_t *raw_len, uint64_t *comp_len)
{
    const char *F = "nid_gallery_load";
    if (file_len < 8 || memcmp(h, GAL_MAGIC, 8) != 0)
        return nid__fail(NID_EFORMAT, "%s: '%s' is not a noduleid gallery "
                        "(bad magic at offset 0)", F, path);
    if (file_len < GAL_HEADER_SIZE)
        return nid__fail(NID_EFORMAT, "%s: '%s': truncated header (%zu of %d "
                        "bytes)", F, path, file_len, GAL_HEADER_SIZE);
    uint32_t version = get_u32(h + 8);
    if (version != GAL_VERSION)
        return nid__fail(NID_EFORMAT, "%s: '%s': unsupported format version "
                        "%u (this library reads %d)", F, path, version,
                        GAL_VERSION);
    if (get_u32(h + 128) != crc(h, 128))
        return nid__fail(NID_EFORMAT, "%s: '%s': header CRC mismatch (offset "
                        "128): the header is corrupt", F, path);
    if (get_u32(h + 12) != 0 || get_u32(h + 20) != 0)
        return nid__fail(NID_EFORMAT, "%s: '%s': unknown flags/reserved bits "
                        "at offset 12/20", F, path);
    uint32_t d = get_u32(h + 16);
    if (d == 0 || d > GAL_MAX_DIM)
        return nid__fail(NID_EFORMAT, "%s: '%s': embed_dim %u out of range "
                        "(offset 16)", F, path, d);
    const char *mid = (const char *)h + 56;
    if (!memchr(mid, '\0', 72) || !valid_model_id(mid))
        return nid__fail(NID_EFORMAT, "%s: '%s': bad model id (offset 56)", F,
                        path);
    *dim = d;
    *count = get_u64(h + 24);
    *raw_len = get_u64(h + 32);
    *comp_len = get_u64(h + 40);
    if (*comp_len != file_len - GAL_HEADER_SIZE)
        return nid__fail(NID_EFORMAT, "%s: '%s': %s: header says %llu payload "
                        "bytes, the file has %zu", F, path,
                        *comp_len > file_len - GAL_HEADER_SIZE
                            ? "truncated" : "trailing data",
                        (unsigned long long)*comp_len,
                        file_len - GAL_HEADER_SIZE);
    if (*count > NID_MAX_EMBEDDINGS || *raw_len > NID_MAX_FILE_BYTES)
        return nid__fail(NID_ERANGE, "%s: '%s': %llu entries in %llu payload "
                        "bytes: more than the limit of %llu entries or %llu "
                        "bytes (NID_MAX_EMBEDDINGS, NID_MAX_FILE_BYTES)", F,
                        path, (unsigned long long)*count,
                        (unsigned long long)*raw_len,
                        (unsigned long long)NID_MAX_EMBEDDINGS,
                        (unsigned long long)NID_MAX_FILE_BYTES);
    uint64_t min_entry = 8 + 10 + 3 + 4 + 4ull * d;
    if (*raw_len / GAL_MAX_RATIO > *comp_len + 64 || *raw_len > SIZE_MAX / 2 ||
        (*count && *raw_len / *count < min_entry) ||
        (*count == 0 && *raw_len != 0))
        return nid__fail(NID_EFORMAT, "%s: '%s': inconsistent sizes (entries "
                        "%llu, payload %llu raw / %llu compressed bytes)", F,
                        path, (unsigned long long)*count,
                        (unsigned long long)*raw_len,
                        (unsigned long long)*comp_len);
    return NID_OK;
}

/* (patient, exam, label) of entries a and b, for the duplicate check. */
static const nid_gallery *dup_g;
static int key_cmp(const void *a, const void *b)
{
    const gal_entry *x = &dup_g->e[*(const size_t *)a];
    const gal_entry *y = &dup_g->e[*(const size_t *)b];
    int c = strcmp(x->patient, y->patient);
    if (!c) c = strcmp(x->exam, y->exam);
    if (!c) c = strcmp(x->label, y->label);
    if (!c) c = (*(const size_t *)a > *(const size_t *)b) -
                (*(const size_t *)a < *(const size_t *)b);
    return c;
}

/* nid_gallery_add refuses a second (patient, exam, label); so does load.
 * Sorting indices keeps it O(n log n). The comparator reads a global (qsort
 * has no context argument), so it runs under a lock. */
static int check_unique(const nid_gallery *g, const char *path)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    if (g->n < 2) return NID_OK;
    size_t *ix = malloc(g->n * sizeof *ix);
    if (!ix) return nid__fail(NID_ENOMEM, "nid_gallery_load: out of memory");
    for (size_t i = 0; i < g->n; i++) ix[i] = i;
    pthread_mutex_lock(&lock);
    dup_g = g;
    qsort(ix, g->n, sizeof *ix, key_cmp);
    dup_g = NULL;
    pthread_mutex_unlock(&lock);
    int st = NID_OK;
    for (size_t i = 1; i < g->n && st == NID_OK; i++) {
        const gal_entry *x = &g->e[ix[i - 1]], *y = &g->e[ix[i]];
        if (!strcmp(x->patient, y->patient) && !strcmp(x->exam, y->exam) &&
            !strcmp(x->label, y->label))
            st = nid__fail(NID_EFORMAT, "nid_gallery_load: '%s': entries %zu "
                          "and %zu are both patient '%s' exam '%s' nodule "
                          "'%s' (a gallery holds each once)", path, ix[i - 1],
                          ix[i], y->patient, y->exam, y->label);
    }
    free(ix);
    return st;
}

int nid_gallery_load(nid_gallery **out, const char *path)
{
    const char *F = "nid_gallery_load";
    if (!out || !path)
        return nid__fail(NID_EINVAL, "%s: NULL %s", F, !out ? "out" : "path");
    int fd = -1;
    size_t flen = 0;
    /* the header (magic, sizes) is checked before the rest is read */
    int st = nid__open_regular(F, path, NID_MAX_FILE_BYTES, &fd, &flen);
    if (st != NID_OK) return st;
    unsigned char head[GAL_HEADER_SIZE];
    size_t hlen = flen < GAL_HEADER_SIZE ? flen : GAL_HEADER_SIZE;
    size_t dim = 0;
    uint64_t count = 0, raw_len = 0, comp_len = 0;
    unsigned char *raw = NULL, *file = NULL;
    nid_gallery *g = NULL;
    if (nid__read_full(fd, head, hlen) != 0) {
        st = nid__fail(NID_EIO, "%s: cannot read '%s': %s", F, path,
                      errno ? strerror(errno) : "the file shrank while read");
        goto out;
    }
    st = check_header(path, head, flen, &dim, &count, &raw_len, &comp_len);
    if (st != NID_OK) goto out;
    file = malloc(flen);
    if (!file) {
        st = nid__fail(NID_ENOMEM, "%s: out of memory for the %zu bytes of "
                      "'%s'", F, flen, path);
        goto out;
    }
    memcpy(file, head, GAL_HEADER_SIZE);
    if (nid__read_full(fd, file + GAL_HEADER_SIZE, flen - GAL_HEADER_SIZE)) {
        st = nid__fail(NID_EIO, "%s: cannot read '%s': %s", F, path,
                      errno ? strerror(errno) : "the file shrank while read");
        goto out;
    }
    const unsigned char *comp = file + GAL_HEADER_SIZE;
    if (get_u32(file + 52) != crc(comp, (size_t)comp_len)) {
        st = nid__fail(NID_EFORMAT, "%s: '%s': payload CRC mismatch (compressed "
                      "bytes at offset %d): the file is corrupt", F, path,
                      GAL_HEADER_SIZE);
        goto out;
    }
    raw = malloc(raw_len ? (size_t)raw_len : 1);
    if (!raw) {
        st = nid__fail(NID_ENOMEM, "%s: out of memory", F);
        goto out;
    }
    uLongf got = (uLongf)raw_len;
    int zr = uncompress(raw, &got, comp, (uLong)comp_len);
    if (zr != Z_OK || got != raw_len) {
        st = nid__fail(zr == Z_MEM_ERROR ? NID_ENOMEM : NID_EFORMAT,
                      "%s: '%s': decompression failed (%s; %lu of %llu bytes)",
                      F, path, zr == Z_OK ? "short payload" : zError(zr),
                      (unsigned long)got, (unsigned long long)raw_len);
        goto out;
    }
    if (get_u32(file + 48) != crc(raw, (size_t)raw_len)) {
        st = nid__fail(NID_EFORMAT, "%s: '%s': payload CRC mismatch (after "
                      "decompression)", F, path);
        goto out;
    }
    if (gallery_new(&g, (const char *)file + 56, dim) != NID_OK) {
        st = nid__fail(NID_ENOMEM, "%s: out of memory", F);
        goto out;
    }
    st = parse_payload(g, path, raw, (size_t)raw_len, count);
    if (st == NID_OK) st = check_unique(g, path);
    if (st == NID_OK) {
        *out = g;
        g = NULL;
        nid_clear_error();
    }
out:
    if (fd >= 0) close(fd);
    nid_gallery_free(g);
    free(raw);
    free(file);
    return st;
}

/* ---- internal interface for the gallery store (gallery_internal.h) ---- */

#include "gallery_internal.h"

int nid__gal_valid_model_id(const char *s) { return valid_model_id(s); }
int nid__gal_valid_str(const char *s) { return valid_str(s, strlen(s)); }
int nid__gal_valid_date(const char *s) { return valid_date(s, strlen(s)); }
int nid__gal_normalise(const float *src, size_t d, float *dst)
{
    return normalise(src, d, dst);
}
int nid__gal_new(nid_gallery **out, const char *model_id, size_t dim)
{
    return gallery_new(out, model_id, dim);
}
int nid__gal_append(nid_gallery *g, const char *patient, const char *exam,
                   const char *date, const char *label, int32_t n_tracklets,
                   const float *unit_row)
{
    return append(g, patient, strlen(patient), exam, strlen(exam), date,
                  strlen(date), label, strlen(label), n_tracklets, unit_row);
}
size_t nid__gal_size(const nid_gallery *g) { return g->n; }
const float *nid__gal_row(const nid_gallery *g, size_t i)
{
    return g->emb + i * g->dim;
}
