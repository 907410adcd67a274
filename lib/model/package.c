/*
 * package.c - the metadata of a model package (noduleid.json inside the
 * TorchScript archive), parsed with jansson and checked field by field.
 * The format is specified in docs/model-package.md; every error names the
 * package file and the JSON field ("input.frames") and says what was
 * expected and what was found.
 */
#include "model_internal.h"
#include "json.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct pctx {
    const char *path;
} pctx;

static int bad(const pctx *c, const char *field, const char *fmt, ...)
    NID__PRINTF(3, 4);

static int bad(const pctx *c, const char *field, const char *fmt, ...)
{
    char file[4096 + 32];
    snprintf(file, sizeof file, "%s: %s", c->path, NID__MODEL_META_NAME);
    va_list ap;
    va_start(ap, fmt);
    int rc = nid__json_vfail("nid_model_load", file, field, NULL, fmt, ap);
    va_end(ap);
    return rc;
}

static void join(char *buf, size_t cap, const char *parent, const char *key)
{
    if (parent && parent[0])
        snprintf(buf, cap, "%s.%s", parent, key);
    else
        snprintf(buf, cap, "%s", key);
}

/* Reject members of `o` not in the NULL-terminated list `known`. */
static int only_known(const pctx *c, const json_t *o, const char *parent,
                      const char *const *known)
{
    const char *key;
    json_t *v = NULL;
    json_object_foreach((json_t *)o, key, v) {
        int ok = 0;
        for (const char *const *k = known; *k; k++)
            if (strcmp(*k, key) == 0)
                ok = 1;
        if (!ok) {
            char f[96];
            join(f, sizeof f, parent, key);
            return bad(c, f, "unknown field (format version %d)",
                       NID__MODEL_FORMAT_VERSION);
        }
    }
    return NID_OK;
}

/* The member `key` of object `o`, required, of JSON type `type` (or any
 * number when type == JSON_REAL). */
static int member(const pctx *c, const json_t *o, const char *parent,
                  const char *key, json_type type, json_t **out)
{
    char f[96];
    join(f, sizeof f, parent, key);
    json_t *v = json_object_get(o, key);
    if (!v)
        return bad(c, f, "missing");
    int ok;
    switch (type) {
    case JSON_REAL:  ok = json_is_number(v); break;
    case JSON_TRUE:
    case JSON_FALSE: ok = json_is_boolean(v); break;
    default:         ok = json_typeof(v) == type; break;
    }
    if (!ok) {
        static const char *const want[] = {
            [JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array",
            [JSON_STRING] = "a string", [JSON_INTEGER] = "an integer",
            [JSON_REAL] = "a number", [JSON_TRUE] = "a boolean",
            [JSON_FALSE] = "a boolean", [JSON_NULL] = "null"};
        return bad(c, f, "expected %s, got %s", want[type], nid__json_type_name(v));
    }
    *out = v;
    return NID_OK;
}

static int get_int(const pctx *c, const json_t *o, const char *parent,
                   const char *key, long long lo, long long hi, int32_t *out)
{
    json_t *v = NULL;
    int rc = member(c, o, parent, key, JSON_INTEGER, &v);
    if (rc) return rc;
    long long x = json_integer_value(v);
    if (x < lo || x > hi) {
        char f[96];
        join(f, sizeof f, parent, key);
        return bad(c, f, "expected an integer in [%lld, %lld], got %lld", lo, hi, x);
    }
    *out = (int32_t)x;
    return NID_OK;
}

static int get_num(const pctx *c, const json_t *o, const char *parent,
                   const char *key, double lo, double hi, float *out)
{
    json_t *v = NULL;
    int rc = member(c, o, parent, key, JSON_REAL, &v);
    if (rc) return rc;
    double x = json_number_value(v);
    if (!isfinite(x) || x < lo || x > hi) {
        char f[96];
        join(f, sizeof f, parent, key);
        return bad(c, f, "expected a number in [%g, %g], got %g", lo, hi, x);
    }
    *out = (float)x;
    return NID_OK;
}

static int get_bool(const pctx *c, const json_t *o, const char *parent,
                    const char *key, int *out)
{
    json_t *v = NULL;
    int rc = member(c, o, parent, key, JSON_TRUE, &v);
    if (rc) return rc;
    *out = json_is_true(v) ? 1 : 0;
    return NID_OK;
}

/* A string member that must be one of names[0..n-1]; its index to *out. */
static int get_enum(const pctx *c, const json_t *o, const char *parent,
                    const char *key, const char *const *names, int n,
                    int32_t *out)
{
    json_t *v = NULL;
    int rc = member(c, o, parent, key, JSON_STRING, &v);
    if (rc) return rc;
    const char *s = json_string_value(v);
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return NID_OK;
        }
    char f[96], list[160] = "";
    join(f, sizeof f, parent, key);
    for (int i = 0; i < n; i++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s\"%s\"", i ? ", " : "", names[i]);
    }
    return bad(c, f, "expected one of %s, got \"%.64s\"", list, s);
}

/* mean/std: an array of `channels` finite numbers (std > 0). */
static int get_channels(const pctx *c, const json_t *o, const char *key,
                        int channels, int positive, float out[3])
{
    json_t *v = NULL;
    char f[96];
    join(f, sizeof f, "input", key);
    int rc = member(c, o, "input", key, JSON_ARRAY, &v);
    if (rc) return rc;
    if ((int)json_array_size(v) != channels)
        return bad(c, f, "expected %d value(s), one per channel, got %zu",
                   channels, json_array_size(v));
    for (int i = 0; i < channels; i++) {
        json_t *e = json_array_get(v, (size_t)i);
        double x = json_is_number(e) ? json_number_value(e) : NAN;
        if (!json_is_number(e) || !isfinite(x) || (positive && !(x > 0)))
            return bad(c, f, "element %d: expected a %snumber", i,
                       positive ? "positive " : "finite ");
        out[i] = (float)x;
    }
    for (int i = channels; i < 3; i++)
        out[i] = out[0];
    return NID_OK;
}

static int parse_input(const pctx *c, const json_t *root, nid_model_meta *m)
{
    static const char *const known[] = {"frames", "height", "width", "channels",
                                        "mean", "std", "coords", NULL};
    /* Indexed by the nid_coords values. */
    static const char *const coords[] = {"none", "frame"};
    json_t *in = NULL;
    int rc = member(c, root, "", "input", JSON_OBJECT, &in);
    if (!rc) rc = only_known(c, in, "input", known);
    if (!rc) rc = get_int(c, in, "input", "frames", 1, 1024, &m->frames);
    if (!rc) rc = get_int(c, in, "input", "height", 1, 4096, &m->height);
    if (!rc) rc = get_int(c, in, "input", "width", 1, 4096, &m->width);
    if (!rc) rc = get_int(c, in, "input", "channels", 1, 3, &m->channels);
    if (!rc && m->channels == 2)
        rc = bad(c, "input.channels", "expected 1 or 3, got 2");
    if (!rc) rc = get_channels(c, in, "mean", m->channels, 0, m->mean);
    if (!rc) rc = get_channels(c, in, "std", m->channels, 1, m->std);
    m->coords = NID_COORDS_NONE;
    if (!rc && json_object_get(in, "coords"))
        rc = get_enum(c, in, "input", "coords", coords, 2, &m->coords);
    return rc;
}

static int parse_crop(const pctx *c, const json_t *root, nid_model_meta *m)
{
    static const char *const known[] = {"margin", "filter", "interp", "pad",
                                        "context_margin", NULL};
    /* Indexed by the nid_filter / nid_interp / nid_pad values. */
    static const char *const filters[] = {"area", "bilinear", "nearest"};
    static const char *const interps[] = {"union", "linear"};
    static const char *const pads[] = {"zero", "replicate"};
    json_t *cr = NULL;
    int rc = member(c, root, "", "crop", JSON_OBJECT, &cr);
    if (!rc) rc = only_known(c, cr, "crop", known);
    if (!rc) rc = get_num(c, cr, "crop", "margin", 0.0, 10.0, &m->margin);
    if (!rc) rc = get_enum(c, cr, "crop", "filter", filters, 3, &m->filter);
    if (!rc) rc = get_enum(c, cr, "crop", "interp", interps, 2, &m->interp);
    if (!rc) rc = get_enum(c, cr, "crop", "pad", pads, 2, &m->pad);
    /* optional (0: no context channels); the clip builder's range */
    m->context_margin = 0.0f;
    if (!rc && json_object_get(cr, "context_margin"))
        rc = get_num(c, cr, "crop", "context_margin", 0.0, 16.0,
                     &m->context_margin);
    return rc;
}

static int parse_model_id(const pctx *c, const json_t *root, nid_model_meta *m)
{
    json_t *v = NULL;
    int rc = member(c, root, "", "model_id", JSON_STRING, &v);
    if (rc) return rc;
    const char *s = json_string_value(v);
    int ok = strncmp(s, "sha256:", 7) == 0 && strlen(s) == 7 + 64;
    for (size_t i = 7; ok && s[i]; i++)
        ok = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
    if (!ok)
        return bad(c, "model_id", "expected \"sha256:\" and 64 lowercase hex "
                   "digits, got \"%.80s\"", s);
    memcpy(m->model_id, s, 7 + 64 + 1);
    return NID_OK;
}

static int parse_arch(const pctx *c, const json_t *root, nid_model_meta *m)
{
    json_t *v = NULL;
    int rc = member(c, root, "", "arch", JSON_STRING, &v);
    if (rc) return rc;
    const char *s = json_string_value(v);
    size_t n = strlen(s);
    int ok = n > 0 && n < sizeof m->arch;
    for (size_t i = 0; ok && i < n; i++)
        ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
             (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' ||
             s[i] == '.';
    if (!ok)
        return bad(c, "arch", "expected 1 to %zu characters of [A-Za-z0-9_.-], "
                   "got \"%.64s\"", sizeof m->arch - 1, s);
    memcpy(m->arch, s, n + 1);
    return NID_OK;
}

static int parse_kind(const pctx *c, const json_t *root, nid_model_meta *m)
{
    static const char *const kinds[] = {"classification", "verification"};
    int32_t k;
    int rc = get_enum(c, root, "", "kind", kinds, 2, &k);
    if (rc) return rc;
    m->verification = k == 1;
    json_t *v = json_object_get(root, "verify");
    if (!m->verification) {
        if (v)
            return bad(c, "verify", "present, but kind is \"classification\"");
        return NID_OK;
    }
    static const char *const known[] = {"output", NULL};
    static const char *const outputs[] = {"probability"};
    int32_t o;
    rc = member(c, root, "", "verify", JSON_OBJECT, &v);
    if (!rc) rc = only_known(c, v, "verify", known);
    if (!rc) rc = get_enum(c, v, "verify", "output", outputs, 1, &o);
    return rc;
}

static int parse_embedding(const pctx *c, const json_t *root, nid_model_meta *m)
{
    static const char *const known[] = {"dim", "normalized", NULL};
    json_t *e = NULL;
    int rc = member(c, root, "", "embedding", JSON_OBJECT, &e);
    if (!rc) rc = only_known(c, e, "embedding", known);
    if (!rc) rc = get_int(c, e, "embedding", "dim", 1, 1 << 20, &m->embed_dim);
    if (!rc) rc = get_bool(c, e, "embedding", "normalized", &m->normalized);
    return rc;
}

static int parse_thresholds(const pctx *c, const json_t *root, nid_model_meta *m)
{
    static const char *const known[] = {"compare", "tau", "pair", "calibrated", NULL};
    static const char *const modes[] = {"cosine", "verify"}; /* nid_compare_mode */
    json_t *t = NULL;
    int rc = member(c, root, "", "thresholds", JSON_OBJECT, &t);
    if (!rc) rc = only_known(c, t, "thresholds", known);
    if (!rc) rc = get_enum(c, t, "thresholds", "compare", modes, 2, &m->compare);
    if (rc) return rc;
    if (m->compare == NID_COMPARE_VERIFY && !m->verification)
        return bad(c, "thresholds.compare", "\"verify\" needs kind "
                   "\"verification\"");
    /* Distances are 1 - s: [0, 2] for cosine, [0, 1] for verify. */
    int cos = m->compare == NID_COMPARE_COSINE;
    rc = get_num(c, t, "thresholds", "tau", 0.0, cos ? 2.0 : 1.0, &m->tau);
    if (!rc) rc = get_num(c, t, "thresholds", "pair", cos ? -1.0 : 0.0, 1.0,
                          &m->pair_threshold);
    if (!rc) rc = get_bool(c, t, "thresholds", "calibrated", &m->calibrated);
    return rc;
}

static int parse_training(const pctx *c, const json_t *root, nid_model_meta *m)
{
    json_t *t = NULL, *d = NULL;
    int rc = member(c, root, "", "training", JSON_OBJECT, &t);
    if (!rc) rc = member(c, t, "training", "description", JSON_STRING, &d);
    if (rc) return rc;
    m->description = strdup(json_string_value(d));
    if (!m->description)
        return nid__fail(NID_ENOMEM, "nid_model_load: out of memory");
    json_t *p = json_object_get(root, "producer");
    if (p && !json_is_object(p))
        return bad(c, "producer", "expected an object, got %s", nid__json_type_name(p));
    /* producer is free-form, but precision auto trusts the bf16 graph's
     * recorded check: when present it must be a number in [-1, 1]. */
    m->bf16_cosine_min = -1.0f;
    json_t *b = p ? json_object_get(p, "bf16") : NULL;
    json_t *cm = b && json_is_object(b) ? json_object_get(b, "cosine_min") : NULL;
    if (cm) {
        if (!json_is_number(cm) || !(json_number_value(cm) >= -1.0) ||
            !(json_number_value(cm) <= 1.0 + 1e-6))
            return bad(c, "producer.bf16.cosine_min", "expected a number in "
                       "[-1, 1]");
        m->bf16_cosine_min = (float)json_number_value(cm);
    }
    return NID_OK;
}

int nid__model_meta_parse(const char *json, size_t len, const char *path,
                         nid_model_meta *out)
{
    static const char *const known[] = {
        "format", "format_version", "model_id", "arch", "kind", "input",
        "crop", "embedding", "verify", "thresholds", "training", "producer",
        NULL};
    pctx c = {path};
    json_error_t err;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
    if (!root)
    {
        char file[4096 + 32];
        snprintf(file, sizeof file, "%s: %s", path, NID__MODEL_META_NAME);
        return nid__json_parse_fail(NID_EFORMAT, "nid_model_load", file, &err);
    }
    nid_model_meta m;
    memset(&m, 0, sizeof m);
    json_t *v = NULL;
    int rc = NID_OK;
    if (!json_is_object(root)) {
        rc = bad(&c, NULL, "expected a JSON object, got %s", nid__json_type_name(root));
        goto done;
    }
    /* Format and version first: a newer version may have other fields. */
    rc = member(&c, root, "", "format", JSON_STRING, &v);
    if (!rc && strcmp(json_string_value(v), NID__MODEL_FORMAT) != 0)
        rc = bad(&c, "format", "expected \"%s\", got \"%.64s\"", NID__MODEL_FORMAT,
                 json_string_value(v));
    if (!rc) rc = member(&c, root, "", "format_version", JSON_INTEGER, &v);
    if (!rc && json_integer_value(v) != NID__MODEL_FORMAT_VERSION)
        rc = bad(&c, "format_version", "version %lld is not supported (this "
                 "library reads version %d)", (long long)json_integer_value(v),
                 NID__MODEL_FORMAT_VERSION);
    if (rc) goto done;
    m.format_version = NID__MODEL_FORMAT_VERSION;
    rc = only_known(&c, root, "", known);
    if (!rc) rc = parse_model_id(&c, root, &m);
    if (!rc) rc = parse_arch(&c, root, &m);
    if (!rc) rc = parse_kind(&c, root, &m);
    if (!rc) rc = parse_input(&c, root, &m);
    if (!rc) rc = parse_crop(&c, root, &m);
    if (!rc) rc = parse_embedding(&c, root, &m);
    if (!rc) rc = parse_thresholds(&c, root, &m);
    if (!rc) rc = parse_training(&c, root, &m);
done:
    json_decref(root);
    if (rc) {
        free(m.description);
        return rc;
    }
    *out = m;
    return NID_OK;
}

/* ------------------------------------------------------------------------ */
/* The metadata straight from the archive (no libtorch)                     */
/* ------------------------------------------------------------------------ */

static uint32_t le16(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t le32(const unsigned char *p)
{
    return le16(p) | le16(p + 2) << 16;
}

static uint64_t le64(const unsigned char *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static int pread_full(int fd, void *buf, size_t n, uint64_t off)
{
    unsigned char *b = buf;
    while (n > 0) {
        ssize_t r = pread(fd, b, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        b += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* Largest metadata read this way; larger (or anything unexpected) is left
 * to libtorch. */
#define META_MAX ((size_t)1 << 20)

int nid__model_meta_read(const char *path, char **json, size_t *len)
{
    int fd;
    size_t size;
    if (nid__open_regular("nid_model_load", path, UINT64_MAX, &fd, &size))
        return 0;
    int found = 0;
    unsigned char *cd = NULL;
    char *out = NULL;
    unsigned char tail[22 + 65535 + 20];
    size_t n = size < sizeof tail ? size : sizeof tail;
    if (n < 22 || pread_full(fd, tail, n, (uint64_t)(size - n)) != 0) goto done;
    /* the end of central directory record, the last one in the file */
    ptrdiff_t e = -1;
    for (ptrdiff_t i = (ptrdiff_t)n - 22; i >= 0; i--)
        if (le32(tail + i) == 0x06054b50u) {
            e = i;
            break;
        }
    if (e < 0) goto done;
    uint64_t entries = le16(tail + e + 10), cd_size = le32(tail + e + 12),
             cd_off = le32(tail + e + 16);
    if (entries == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu) {
        /* zip64: the locator just before the record names the zip64 end */
        unsigned char z[56];
        if (e < 20 || le32(tail + e - 20) != 0x07064b50u) goto done;
        uint64_t z_off = le64(tail + e - 20 + 8);
        if (z_off > size - sizeof z || pread_full(fd, z, sizeof z, z_off) != 0 ||
            le32(z) != 0x06064b50u)
            goto done;
        entries = le64(z + 32);
        cd_size = le64(z + 40);
        cd_off = le64(z + 48);
    }
    if (cd_size > ((uint64_t)64 << 20) || cd_off > size || cd_size > size - cd_off)
        goto done;
    if (!(cd = malloc(cd_size ? cd_size : 1)) ||
        pread_full(fd, cd, cd_size, cd_off) != 0)
        goto done;
    static const char want[] = "/extra/" NID__MODEL_META_NAME;
    const size_t wl = sizeof want - 1;
    size_t p = 0;
    for (uint64_t k = 0; k < entries && p + 46 <= cd_size; k++) {
        const unsigned char *h = cd + p;
        if (le32(h) != 0x02014b50u) goto done;
        uint32_t method = le16(h + 10), nl = le16(h + 28), xl = le16(h + 30),
                 cl = le16(h + 32);
        uint64_t csz = le32(h + 20), usz = le32(h + 24), loff = le32(h + 42);
        if (p + 46 + (size_t)nl + xl + cl > cd_size) goto done;
        const char *name = (const char *)h + 46;
        p += 46 + (size_t)nl + xl + cl;
        /* <archive>/extra/noduleid.json: one directory above extra/ */
        if (nl <= wl || memcmp(name + nl - wl, want, wl) != 0 ||
            memchr(name, '/', nl - wl) != NULL)
            continue;
        if (method != 0) goto done; /* compressed: leave it to libtorch */
        /* zip64 extra field: the sizes and offset that do not fit */
        const unsigned char *x = h + 46 + nl, *xe = x + xl;
        while (x + 4 <= xe) {
            uint32_t id = le16(x), dl = le16(x + 2);
            const unsigned char *d = x + 4, *de = d + dl;
            if (de > xe) goto done;
            if (id == 1) {
                if (usz == 0xffffffffu) { if (d + 8 > de) goto done; usz = le64(d); d += 8; }
                if (csz == 0xffffffffu) { if (d + 8 > de) goto done; csz = le64(d); d += 8; }
                if (loff == 0xffffffffu) { if (d + 8 > de) goto done; loff = le64(d); }
            }
            x = de;
        }
        unsigned char lh[30];
        if (usz != csz || usz > META_MAX || loff > size - sizeof lh ||
            pread_full(fd, lh, sizeof lh, loff) != 0 || le32(lh) != 0x04034b50u)
            goto done;
        uint64_t data = loff + 30 + le16(lh + 26) + le16(lh + 28);
        if (data > size || usz > size - data) goto done;
        if (!(out = malloc(usz + 1)) || pread_full(fd, out, usz, data) != 0)
            goto done;
        out[usz] = '\0';
        *json = out;
        *len = usz;
        out = NULL;
        found = 1;
        break;
    }
done:
    close(fd);
    free(cd);
    free(out);
    return found;
}
