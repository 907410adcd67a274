/*
 * exam.c - the nid_exam handle: "noduleid-exam" JSON load and atomic save
 * (jansson), building an exam in memory, accessors.
 *
 * Every load error names the file and the JSON path of the offending value
 * (videos[1].tracklets[3].key_frames[2].box) and says what was expected.
 */
#include "tracklet_internal.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FORMAT_NAME    "noduleid-exam"
#define FORMAT_VERSION 1

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */
/* ------------------------------------------------------------------------ */

char *nid__strdup_opt(const char *s, bool *oom)
{
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *oom = true;
    return d;
}

bool nid__box_valid(const nid_box *b)
{
    return isfinite(b->x) && isfinite(b->y) && isfinite(b->w) &&
           isfinite(b->h) && b->w > 0.0f && b->h > 0.0f;
}

bool nid__box_inside(const nid_box *b, int32_t width, int32_t height)
{
    /* in double: x + w must not round in float */
    double x1 = (double)b->x + b->w, y1 = (double)b->y + b->h;
    return b->x >= -NID__BOX_SLACK && b->y >= -NID__BOX_SLACK &&
           x1 <= width + (double)NID__BOX_SLACK &&
           y1 <= height + (double)NID__BOX_SLACK;
}

long nid__check_key_frames(const nid_kf *kf, size_t n, int64_t n_frames,
                          int32_t width, int32_t height, char *msg,
                          size_t msg_cap)
{
    for (size_t k = 0; k < n; k++) {
        const nid_kf *f = &kf[k];
        if (f->frame < 0) {
            snprintf(msg, msg_cap, "frame %lld is negative",
                     (long long)f->frame);
            return (long)k;
        }
        if (f->frame >= NID_MAX_FRAMES) {
            snprintf(msg, msg_cap, "frame %lld is past the limit %lld "
                     "(NID_MAX_FRAMES)", (long long)f->frame,
                     (long long)NID_MAX_FRAMES);
            return (long)k;
        }
        if (k > 0 && f->frame - kf[0].frame + 1 > NID_MAX_TRACKLET_FRAMES) {
            snprintf(msg, msg_cap, "frames %lld to %lld are more than the "
                     "limit of %lld (NID_MAX_TRACKLET_FRAMES)",
                     (long long)kf[0].frame, (long long)f->frame,
                     (long long)NID_MAX_TRACKLET_FRAMES);
            return (long)k;
        }
        if (k > 0 && f->frame <= kf[k - 1].frame) {
            snprintf(msg, msg_cap,
                     "frame %lld does not come after the previous key frame "
                     "%lld (key frames must be strictly increasing)",
                     (long long)f->frame, (long long)kf[k - 1].frame);
            return (long)k;
        }
        if (n_frames > 0 && f->frame >= n_frames) {
            snprintf(msg, msg_cap,
                     "frame %lld is past the video's last frame %lld",
                     (long long)f->frame, (long long)(n_frames - 1));
            return (long)k;
        }
        if (!nid__box_valid(&f->box)) {
            snprintf(msg, msg_cap,
                     "frame %lld: box [%g, %g, %g, %g] needs finite values "
                     "and w > 0, h > 0", (long long)f->frame, f->box.x,
                     f->box.y, f->box.w, f->box.h);
            return (long)k;
        }
        if (width > 0 && height > 0 &&
            !nid__box_inside(&f->box, width, height)) {
            snprintf(msg, msg_cap,
                     "frame %lld: box [%g, %g, %g, %g] extends outside the "
                     "%dx%d frame", (long long)f->frame, f->box.x, f->box.y,
                     f->box.w, f->box.h, (int)width, (int)height);
            return (long)k;
        }
    }
    return -1;
}

void nid__trk_clear(nid_trk *t)
{
    if (!t) return;
    free(t->id);
    for (size_t k = 0; k < t->n_kf; k++) json_decref(t->kf[k].extra);
    free(t->kf);
    json_decref(t->extra);
    memset(t, 0, sizeof *t);
}

static void vid_clear(nid_vid *v)
{
    free(v->id);
    free(v->path);
    free(v->resolved);
    json_decref(v->extra);
    memset(v, 0, sizeof *v);
}

nid_exam *nid__exam_new(void)
{
    nid_exam *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->base_dir = strdup("");
    if (!e->base_dir) {
        free(e);
        return NULL;
    }
    return e;
}

void nid_exam_free(nid_exam *e)
{
    if (!e) return;
    for (size_t i = 0; i < e->n_trk; i++) nid__trk_clear(&e->trk[i]);
    for (size_t i = 0; i < e->n_vid; i++) vid_clear(&e->vid[i]);
    free(e->trk);
    free(e->vid);
    free(e->exam_id);
    free(e->patient_id);
    free(e->date);
    json_decref(e->meta);
    free(e->meta_str);
    free(e->source);
    free(e->base_dir);
    json_decref(e->extra);
    free(e);
}

size_t nid__exam_first_trk(const nid_exam *e, size_t v)
{
    size_t first = 0;
    for (size_t i = 0; i < v && i < e->n_vid; i++) first += e->vid[i].n_trk;
    return first;
}

int nid__exam_reserve_trk(nid_exam *e, size_t more)
{
    if (more > ((size_t)-1) / 2 - e->n_trk)
        return nid__fail(NID_ENOMEM, "too many tracklets");
    size_t need = e->n_trk + more;
    if (need <= e->cap_trk) return NID_OK;
    size_t cap = e->cap_trk ? e->cap_trk : 8;
    while (cap < need) cap *= 2;
    size_t bytes;
    if (!nid__mul_size(cap, sizeof(nid_trk), &bytes))
        return nid__fail(NID_ENOMEM, "too many tracklets");
    nid_trk *p = realloc(e->trk, bytes);
    if (!p) return nid__fail(NID_ENOMEM, "out of memory for tracklets");
    e->trk = p;
    e->cap_trk = cap;
    return NID_OK;
}

size_t nid__exam_insert_trk(nid_exam *e, nid_trk *t)
{
    size_t pos = nid__exam_first_trk(e, t->video) + e->vid[t->video].n_trk;
    memmove(&e->trk[pos + 1], &e->trk[pos],
            (e->n_trk - pos) * sizeof(nid_trk));
    e->trk[pos] = *t;
    memset(t, 0, sizeof *t);
    e->n_trk++;
    e->vid[e->trk[pos].video].n_trk++;
    return pos;
}

bool nid__exam_has_trk_id(const nid_exam *e, const char *id)
{
    for (size_t i = 0; i < e->n_trk; i++)
        if (strcmp(e->trk[i].id, id) == 0) return true;
    return false;
}

/* Resolve `path` against `base` ("" = as is; absolute paths as is). */
static char *resolve_path(const char *base, const char *path)
{
    if (path[0] == '/' || base[0] == '\0') return strdup(path);
    size_t nb = strlen(base), np = strlen(path);
    char *r = malloc(nb + np + 2);
    if (!r) return NULL;
    memcpy(r, base, nb);
    r[nb] = '/';
    memcpy(r + nb + 1, path, np + 1);
    return r;
}

int nid__exam_push_video(nid_exam *e, const char *fn, const char *id,
                        const char *path, int64_t n_frames, double fps,
                        int32_t width, int32_t height, size_t *index)
{
    for (size_t i = 0; i < e->n_vid; i++)
        if (strcmp(e->vid[i].id, id) == 0)
            return nid__fail(NID_EINVAL, "%s: video id \"%s\" is used twice",
                            fn, id);
    if (e->n_vid == e->cap_vid) {
        size_t cap = e->cap_vid ? e->cap_vid * 2 : 4;
        size_t bytes;
        if (!nid__mul_size(cap, sizeof(nid_vid), &bytes))
            return nid__fail(NID_ENOMEM, "%s: too many videos", fn);
        nid_vid *p = realloc(e->vid, bytes);
        if (!p) return nid__fail(NID_ENOMEM, "%s: out of memory", fn);
        e->vid = p;
        e->cap_vid = cap;
    }
    nid_vid v = {0};
    v.id = strdup(id);
    v.path = strdup(path);
    v.resolved = resolve_path(e->base_dir, path);
    if (!v.id || !v.path || !v.resolved) {
        vid_clear(&v);
        return nid__fail(NID_ENOMEM, "%s: out of memory", fn);
    }
    v.n_frames = n_frames;
    v.fps = fps;
    v.width = width;
    v.height = height;
    e->vid[e->n_vid] = v;
    if (index) *index = e->n_vid;
    e->n_vid++;
    return NID_OK;
}

static bool date_ok(const char *d)
{
    /* YYYY-MM-DD with a plausible month and day */
    if (strlen(d) != 10 || d[4] != '-' || d[7] != '-') return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (d[i] < '0' || d[i] > '9')) return false;
    int month = (d[5] - '0') * 10 + (d[6] - '0');
    int day = (d[8] - '0') * 10 + (d[9] - '0');
    return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

static int set_meta(nid_exam *e, json_t *meta)
{
    char *s = NULL;
    if (meta) {
        s = json_dumps(meta, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!s) return NID_ENOMEM;
    }
    json_decref(e->meta);
    free(e->meta_str);
    e->meta = meta;
    e->meta_str = s;
    return NID_OK;
}

/* ------------------------------------------------------------------------ */
/* Building an exam                                                         */
/* ------------------------------------------------------------------------ */

int nid_exam_create(nid_exam **out, const char *exam_id,
                    const char *patient_id, const char *date)
{
    if (!out) return nid__fail(NID_EINVAL, "nid_exam_create: out is NULL");
    if (date && !date_ok(date))
        return nid__fail(NID_EINVAL,
                        "nid_exam_create: date \"%s\" is not YYYY-MM-DD",
                        date);
    nid_exam *e = nid__exam_new();
    bool oom = e == NULL;
    if (e) {
        e->exam_id = nid__strdup_opt(exam_id, &oom);
        e->patient_id = nid__strdup_opt(patient_id, &oom);
        e->date = nid__strdup_opt(date, &oom);
    }
    if (oom) {
        nid_exam_free(e);
        return nid__fail(NID_ENOMEM, "nid_exam_create: out of memory");
    }
    *out = e;
    nid_clear_error();
    return NID_OK;
}

int nid_exam_set_meta(nid_exam *e, const char *json)
{
    if (!e) return nid__fail(NID_EINVAL, "nid_exam_set_meta: exam is NULL");
    json_t *m = NULL;
    if (json) {
        json_error_t err;
        m = json_loads(json, JSON_REJECT_DUPLICATES, &err);
        if (!m)
            return nid__json_parse_fail(NID_EINVAL, "nid_exam_set_meta",
                                        "meta", &err);
        if (!json_is_object(m)) {
            json_decref(m);
            return nid__fail(NID_EINVAL,
                            "nid_exam_set_meta: meta must be a JSON object");
        }
    }
    if (set_meta(e, m) != NID_OK) {
        json_decref(m);
        return nid__fail(NID_ENOMEM, "nid_exam_set_meta: out of memory");
    }
    nid_clear_error();
    return NID_OK;
}

int nid_exam_add_video(nid_exam *e, const nid_exam_video_info *info,
                       size_t *index)
{
    static const char fn[] = "nid_exam_add_video";
    if (!e || !info)
        return nid__fail(NID_EINVAL, "%s: exam or info is NULL", fn);
    nid_exam_video_info in;
    nid_exam_video_info_init(&in);
    int rc0 = NID__STRUCT_IN(fn, "info", nid_exam_video_info, &in, info);
    if (rc0) return rc0;
    info = &in;
    if (!info->id || !info->id[0] || !info->path || !info->path[0])
        return nid__fail(NID_EINVAL, "%s: id and path must be non-empty",
                        fn);
    if (info->n_frames == 0 || info->n_frames < -1)
        return nid__fail(NID_EINVAL, "%s: video \"%s\": n_frames %lld must "
                        "be >= 1 or -1 (unknown)", fn, info->id,
                        (long long)info->n_frames);
    if (info->n_frames > NID_MAX_FRAMES ||
        info->width > NID_MAX_FRAME_SIDE || info->height > NID_MAX_FRAME_SIDE)
        return nid__fail(NID_ERANGE, "%s: video \"%s\": %lld frames of "
                        "%dx%d: more than the limit of %lld frames of "
                        "%dx%d (NID_MAX_FRAMES, NID_MAX_FRAME_SIDE)", fn,
                        info->id, (long long)info->n_frames,
                        (int)info->width, (int)info->height,
                        (long long)NID_MAX_FRAMES, NID_MAX_FRAME_SIDE,
                        NID_MAX_FRAME_SIDE);
    if (!isfinite(info->fps) || info->fps < 0)
        return nid__fail(NID_EINVAL, "%s: video \"%s\": fps %g must be > 0 "
                        "or 0 (unknown)", fn, info->id, info->fps);
    if (info->width < 0 || info->height < 0 ||
        (info->width == 0) != (info->height == 0))
        return nid__fail(NID_EINVAL, "%s: video \"%s\": size %dx%d must be "
                        "positive, or both 0 (unknown)", fn, info->id,
                        (int)info->width, (int)info->height);
    int rc = nid__exam_push_video(e, fn, info->id, info->path, info->n_frames,
                                 info->fps, info->width, info->height,
                                 index);
    if (rc == NID_OK) nid_clear_error();
    return rc;
}

int nid_exam_add_tracklet(nid_exam *e, size_t video, const char *id,
                          int32_t nodule, const int64_t *frames,
                          const nid_box *boxes, size_t n, size_t *index)
{
    static const char fn[] = "nid_exam_add_tracklet";
    if (!e || !id || !frames || !boxes)
        return nid__fail(NID_EINVAL, "%s: exam, id, frames or boxes is NULL",
                        fn);
    if (!id[0]) return nid__fail(NID_EINVAL, "%s: empty tracklet id", fn);
    if (n == 0)
        return nid__fail(NID_EINVAL, "%s: tracklet \"%s\" has no key frames "
                        "(n == 0)", fn, id);
    if (video >= e->n_vid)
        return nid__fail(NID_ERANGE, "%s: tracklet \"%s\": no video %zu "
                        "(exam has %zu)", fn, id, video, e->n_vid);
    if (nodule < -1)
        return nid__fail(NID_EINVAL, "%s: tracklet \"%s\": nodule %d must be "
                        ">= 0 or -1 (unknown)", fn, id, (int)nodule);
    if (nid__exam_has_trk_id(e, id))
        return nid__fail(NID_EINVAL, "%s: tracklet id \"%s\" is used twice",
                        fn, id);
    const nid_vid *v = &e->vid[video];
    nid_trk t = {0};
    size_t bytes;
    if (!nid__mul_size(n, sizeof(nid_kf), &bytes) ||
        !(t.kf = calloc(1, bytes)))
        return nid__fail(NID_ENOMEM, "%s: out of memory", fn);
    for (size_t k = 0; k < n; k++) {
        t.kf[k].frame = frames[k];
        t.kf[k].box = boxes[k];
    }
    t.n_kf = n;
    char msg[256];
    long bad = nid__check_key_frames(t.kf, n, v->n_frames, v->width,
                                    v->height, msg, sizeof msg);
    if (bad >= 0) {
        nid__trk_clear(&t);
        return nid__fail(NID_EINVAL, "%s: tracklet \"%s\", key frame %ld: %s",
                        fn, id, bad, msg);
    }
    t.id = strdup(id);
    if (!t.id || nid__exam_reserve_trk(e, 1) != NID_OK) {
        nid__trk_clear(&t);
        return nid__fail(NID_ENOMEM, "%s: out of memory", fn);
    }
    t.video = video;
    t.nodule = nodule;
    t.start = frames[0];
    t.end = frames[n - 1];
    size_t pos = nid__exam_insert_trk(e, &t);
    if (index) *index = pos;
    nid_clear_error();
    return NID_OK;
}

/* ------------------------------------------------------------------------ */
/* Accessors                                                                */
/* ------------------------------------------------------------------------ */

NID__DEFINE_INIT(nid_exam_info, nid__no_defaults)

static void exam_video_info_defaults(nid_exam_video_info *d)
{
    d->n_frames = -1;
}

NID__DEFINE_INIT(nid_exam_video_info, exam_video_info_defaults)

static void tracklet_info_defaults(nid_tracklet_info *d)
{
    d->nodule = -1;
}

NID__DEFINE_INIT(nid_tracklet_info, tracklet_info_defaults)

int nid_exam_get_info(const nid_exam *e, nid_exam_info *info)
{
    if (!e || !info)
        return nid__fail(NID_EINVAL, "nid_exam_get_info: exam or info is "
                        "NULL");
    nid_exam_info r;
    nid_exam_info_init(&r);
    r.exam_id = e->exam_id;
    r.patient_id = e->patient_id;
    r.date = e->date;
    r.meta_json = e->meta_str;
    r.source = e->source;
    r.n_videos = e->n_vid;
    r.n_tracklets = e->n_trk;
    int rc = NID__STRUCT_OUT("nid_exam_get_info", "info", nid_exam_info, info,
                             &r);
    if (rc) return rc;
    nid_clear_error();
    return NID_OK;
}

int nid_exam_get_video(const nid_exam *e, size_t v, nid_exam_video_info *info)
{
    if (!e || !info)
        return nid__fail(NID_EINVAL, "nid_exam_get_video: exam or info is "
                        "NULL");
    int rc = NID__STRUCT_CHECK("nid_exam_get_video", "info",
                               nid_exam_video_info, info);
    if (rc) return rc;
    if (v >= e->n_vid)
        return nid__fail(NID_ERANGE, "nid_exam_get_video: video %zu out of "
                        "range (exam has %zu)", v, e->n_vid);
    const nid_vid *p = &e->vid[v];
    nid_exam_video_info r;
    nid_exam_video_info_init(&r);
    r.id = p->id;
    r.path = p->path;
    r.resolved_path = p->resolved;
    r.n_frames = p->n_frames;
    r.fps = p->fps;
    r.width = p->width;
    r.height = p->height;
    r.first_tracklet = nid__exam_first_trk(e, v);
    r.n_tracklets = p->n_trk;
    NID__STRUCT_OUT("nid_exam_get_video", "info", nid_exam_video_info, info,
                    &r);
    nid_clear_error();
    return NID_OK;
}

int nid_exam_get_tracklet(const nid_exam *e, size_t t,
                          nid_tracklet_info *info)
{
    if (!e || !info)
        return nid__fail(NID_EINVAL, "nid_exam_get_tracklet: exam or info is "
                        "NULL");
    int rc = NID__STRUCT_CHECK("nid_exam_get_tracklet", "info",
                               nid_tracklet_info, info);
    if (rc) return rc;
    if (t >= e->n_trk)
        return nid__fail(NID_ERANGE, "nid_exam_get_tracklet: tracklet %zu "
                        "out of range (exam has %zu)", t, e->n_trk);
    const nid_trk *p = &e->trk[t];
    nid_tracklet_info r;
    nid_tracklet_info_init(&r);
    r.id = p->id;
    r.video = p->video;
    r.nodule = p->nodule;
    r.start = p->start;
    r.end = p->end;
    r.n_key_frames = p->n_kf;
    NID__STRUCT_OUT("nid_exam_get_tracklet", "info", nid_tracklet_info, info,
                    &r);
    nid_clear_error();
    return NID_OK;
}

int nid_exam_find_tracklet(const nid_exam *e, const char *id, size_t *t)
{
    if (!e || !id || !t)
        return nid__fail(NID_EINVAL, "nid_exam_find_tracklet: NULL argument");
    for (size_t i = 0; i < e->n_trk; i++) {
        if (strcmp(e->trk[i].id, id) == 0) {
            *t = i;
            nid_clear_error();
            return NID_OK;
        }
    }
    return nid__fail(NID_ERANGE, "nid_exam_find_tracklet: no tracklet \"%s\" "
                    "in %s", id, e->source ? e->source : "the exam");
}

int nid_exam_key_frame(const nid_exam *e, size_t t, size_t k,
                       int64_t *frame, nid_box *box)
{
    if (!e) return nid__fail(NID_EINVAL, "nid_exam_key_frame: exam is NULL");
    if (t >= e->n_trk)
        return nid__fail(NID_ERANGE, "nid_exam_key_frame: tracklet %zu out "
                        "of range (exam has %zu)", t, e->n_trk);
    const nid_trk *p = &e->trk[t];
    if (k >= p->n_kf)
        return nid__fail(NID_ERANGE, "nid_exam_key_frame: tracklet \"%s\" "
                        "has %zu key frames, asked for %zu", p->id, p->n_kf,
                        k);
    if (frame) *frame = p->kf[k].frame;
    if (box) *box = p->kf[k].box;
    nid_clear_error();
    return NID_OK;
}

int nid_exam_tracklet_box(const nid_exam *e, size_t t, int64_t frame,
                          int interp, nid_box *box)
{
    if (!e || !box)
        return nid__fail(NID_EINVAL, "nid_exam_tracklet_box: exam or box is "
                        "NULL");
    if (interp != NID_INTERP_UNION && interp != NID_INTERP_LINEAR)
        return nid__fail(NID_EINVAL, "nid_exam_tracklet_box: unknown interp "
                        "%d", interp);
    if (t >= e->n_trk)
        return nid__fail(NID_ERANGE, "nid_exam_tracklet_box: tracklet %zu "
                        "out of range (exam has %zu)", t, e->n_trk);
    const nid_trk *p = &e->trk[t];
    if (frame < p->start || frame > p->end)
        return nid__fail(NID_ERANGE, "nid_exam_tracklet_box: frame %lld "
                        "outside tracklet \"%s\" [%lld, %lld]",
                        (long long)frame, p->id, (long long)p->start,
                        (long long)p->end);
    *box = nid__trk_box(p, frame, interp);
    nid_clear_error();
    return NID_OK;
}

/* ------------------------------------------------------------------------ */
/* Loading                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct load_ctx {
    const char *file;
    char path[192];     /* JSON path of the value being read */
} load_ctx;

NID__PRINTF(3, 4)
static int bad(const load_ctx *c, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = nid__json_vfail("nid_exam_load", c->file, c->path, field, fmt,
                             ap);
    va_end(ap);
    return rc;
}

static int bad_type(const load_ctx *c, const char *field, const json_t *j,
                    const char *expected)
{
    return bad(c, field, "expected %s, got %s", expected, nid__json_type_name(j));
}

/* Reject keys not in `allowed` (NULL-terminated) unless they start with
 * "x_"; move the x_ keys into a new object at *extra. */
static int check_keys(const load_ctx *c, json_t *obj,
                      const char *const *allowed, json_t **extra)
{
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val) {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(key, *a) == 0) ok = true;
        if (ok) continue;
        if (strncmp(key, "x_", 2) == 0) {
            if (!*extra && !(*extra = json_object()))
                return nid__fail(NID_ENOMEM, "nid_exam_load: out of memory");
            if (json_object_set(*extra, key, val) != 0)
                return nid__fail(NID_ENOMEM, "nid_exam_load: out of memory");
            continue;
        }
        char list[256] = "";
        for (const char *const *a = allowed; *a; a++) {
            strncat(list, *a, sizeof list - strlen(list) - 1);
            if (a[1]) strncat(list, ", ", sizeof list - strlen(list) - 1);
        }
        return bad(c, key, "unknown field (expected one of: %s; or a key "
                   "starting with \"x_\")", list);
    }
    return NID_OK;
}

/* Read an optional/required member. *got = false when absent. */
static int get_string(const load_ctx *c, json_t *obj, const char *key,
                      bool required, const char **out)
{
    json_t *j = json_object_get(obj, key);
    if (!j) {
        if (required) return bad(c, key, "missing (expected a string)");
        *out = NULL;
        return NID_OK;
    }
    if (!json_is_string(j)) return bad_type(c, key, j, "a string");
    *out = json_string_value(j);
    return NID_OK;
}

static int get_int(const load_ctx *c, json_t *obj, const char *key,
                   bool required, int64_t lo, int64_t hi, int64_t dflt,
                   int64_t *out)
{
    json_t *j = json_object_get(obj, key);
    if (!j) {
        if (required) return bad(c, key, "missing (expected an integer)");
        *out = dflt;
        return NID_OK;
    }
    if (!json_is_integer(j)) return bad_type(c, key, j, "an integer");
    json_int_t v = json_integer_value(j);
    if (v < lo || v > hi)
        return bad(c, key, "%lld out of range [%lld, %lld]", (long long)v,
                   (long long)lo, (long long)hi);
    *out = v;
    return NID_OK;
}

static int read_box(const load_ctx *c, json_t *j, nid_box *box)
{
    if (!json_is_array(j) || json_array_size(j) != 4) {
        if (json_is_array(j))
            return bad(c, "box", "expected an array of 4 numbers [x, y, w, "
                       "h], got %zu elements", json_array_size(j));
        return bad_type(c, "box", j, "an array of 4 numbers [x, y, w, h]");
    }
    float v[4];
    for (size_t i = 0; i < 4; i++) {
        json_t *e = json_array_get(j, i);
        if (!json_is_number(e))
            return bad(c, "box", "element %zu: expected a number, got %s", i,
                       nid__json_type_name(e));
        v[i] = (float)json_number_value(e);
    }
    *box = (nid_box){v[0], v[1], v[2], v[3]};
    return NID_OK;
}

static int load_key_frames(load_ctx *c, json_t *arr, const nid_vid *v,
                           nid_trk *t)
{
    size_t n = json_array_size(arr);
    size_t plen = strlen(c->path);
    if (n == 0)
        return bad(c, "key_frames", "empty; a tracklet needs key frames at "
                   "its start %lld and end %lld", (long long)t->start,
                   (long long)t->end);
    size_t bytes;
    if (!nid__mul_size(n, sizeof(nid_kf), &bytes) ||
        !(t->kf = calloc(1, bytes)))
        return nid__fail(NID_ENOMEM, "nid_exam_load: out of memory");
    static const char *const keys[] = {"frame", "box", NULL};
    for (size_t k = 0; k < n; k++) {
        json_t *o = json_array_get(arr, k);
        snprintf(c->path + plen, sizeof c->path - plen, ".key_frames[%zu]",
                 k);
        if (!json_is_object(o)) return bad_type(c, "", o, "an object");
        nid_kf *f = &t->kf[k];
        t->n_kf = k + 1;
        int rc = check_keys(c, o, keys, &f->extra);
        if (rc == NID_OK)
            rc = get_int(c, o, "frame", true, 0, NID_MAX_FRAMES - 1, 0,
                         &f->frame);
        if (rc != NID_OK) return rc;
        json_t *b = json_object_get(o, "box");
        if (!b) return bad(c, "box", "missing (expected [x, y, w, h])");
        if ((rc = read_box(c, b, &f->box)) != NID_OK) return rc;
        if (f->frame < t->start || f->frame > t->end)
            return bad(c, "frame", "tracklet \"%s\": key frame %lld outside "
                       "the tracklet's [start, end] = [%lld, %lld]", t->id,
                       (long long)f->frame, (long long)t->start,
                       (long long)t->end);
        if (k > 0 && f->frame <= t->kf[k - 1].frame)
            return bad(c, "frame", "tracklet \"%s\": key frame %lld does not "
                       "come after the previous key frame %lld (key frames "
                       "must be strictly increasing)", t->id,
                       (long long)f->frame, (long long)t->kf[k - 1].frame);
        if (!nid__box_valid(&f->box))
            return bad(c, "box", "tracklet \"%s\", frame %lld: box [%g, %g, "
                       "%g, %g] needs w > 0 and h > 0", t->id,
                       (long long)f->frame, f->box.x, f->box.y, f->box.w,
                       f->box.h);
        if (v->width > 0 && !nid__box_inside(&f->box, v->width, v->height))
            return bad(c, "box", "tracklet \"%s\", frame %lld: box [%g, %g, "
                       "%g, %g] extends outside the %dx%d frame", t->id,
                       (long long)f->frame, f->box.x, f->box.y, f->box.w,
                       f->box.h, (int)v->width, (int)v->height);
    }
    c->path[plen] = '\0';
    if (t->kf[0].frame != t->start)
        return bad(c, "key_frames", "tracklet \"%s\": the first key frame "
                   "(%lld) must be the start frame %lld", t->id,
                   (long long)t->kf[0].frame, (long long)t->start);
    if (t->kf[n - 1].frame != t->end)
        return bad(c, "key_frames", "tracklet \"%s\": the last key frame "
                   "(%lld) must be the end frame %lld", t->id,
                   (long long)t->kf[n - 1].frame, (long long)t->end);
    return NID_OK;
}

static int load_tracklet(load_ctx *c, nid_exam *e, json_t *o, size_t vi)
{
    static const char *const keys[] = {"id", "nodule", "start", "end",
                                       "key_frames", NULL};
    if (!json_is_object(o)) return bad_type(c, "", o, "an object");
    nid_trk t = {0};
    t.video = vi;
    const nid_vid *v = &e->vid[vi];
    const char *id;
    int64_t nodule;
    int rc = check_keys(c, o, keys, &t.extra);
    if (rc == NID_OK) rc = get_string(c, o, "id", true, &id);
    if (rc == NID_OK && !id[0]) rc = bad(c, "id", "empty tracklet id");
    if (rc == NID_OK)
        rc = get_int(c, o, "nodule", false, -1, INT32_MAX, -1, &nodule);
    if (rc == NID_OK)
        rc = get_int(c, o, "start", true, 0, NID_MAX_FRAMES - 1, 0, &t.start);
    if (rc == NID_OK)
        rc = get_int(c, o, "end", true, 0, NID_MAX_FRAMES - 1, 0, &t.end);
    if (rc == NID_OK && t.end < t.start)
        rc = bad(c, "end", "tracklet \"%s\": end %lld < start %lld (a "
                 "tracklet spans at least one frame)", id, (long long)t.end,
                 (long long)t.start);
    if (rc == NID_OK && t.end - t.start + 1 > NID_MAX_TRACKLET_FRAMES)
        rc = bad(c, "end", "tracklet \"%s\": [start, end] = [%lld, %lld] "
                 "spans %lld frames, more than the limit of %lld "
                 "(NID_MAX_TRACKLET_FRAMES)", id, (long long)t.start,
                 (long long)t.end, (long long)(t.end - t.start + 1),
                 (long long)NID_MAX_TRACKLET_FRAMES);
    if (rc == NID_OK && v->n_frames > 0 && t.end >= v->n_frames)
        rc = bad(c, "end", "tracklet \"%s\": end %lld is past the video's "
                 "last frame %lld (n_frames %lld)", id, (long long)t.end,
                 (long long)(v->n_frames - 1), (long long)v->n_frames);
    if (rc == NID_OK && !(t.id = strdup(id)))
        rc = nid__fail(NID_ENOMEM, "nid_exam_load: out of memory");
    if (rc == NID_OK) {
        t.nodule = (int32_t)nodule;
        json_t *kf = json_object_get(o, "key_frames");
        if (!kf)
            rc = bad(c, "key_frames", "missing (expected an array of "
                     "{\"frame\", \"box\"} objects)");
        else if (!json_is_array(kf))
            rc = bad_type(c, "key_frames", kf, "an array");
        else
            rc = load_key_frames(c, kf, v, &t);
    }
    if (rc == NID_OK) rc = nid__exam_reserve_trk(e, 1);
    if (rc != NID_OK) {
        nid__trk_clear(&t);
        return rc;
    }
    nid__exam_insert_trk(e, &t);
    return NID_OK;
}

static int load_video(load_ctx *c, nid_exam *e, json_t *o)
{
    static const char *const keys[] = {"id", "path", "n_frames", "fps",
                                       "width", "height", "tracklets", NULL};
    if (!json_is_object(o)) return bad_type(c, "", o, "an object");
    json_t *extra = NULL;
    const char *id, *path;
    int64_t n_frames, width, height;
    double fps = 0;
    int rc = check_keys(c, o, keys, &extra);
    if (rc == NID_OK) rc = get_string(c, o, "id", true, &id);
    if (rc == NID_OK && !id[0]) rc = bad(c, "id", "empty video id");
    if (rc == NID_OK) rc = get_string(c, o, "path", true, &path);
    if (rc == NID_OK && !path[0]) rc = bad(c, "path", "empty path");
    if (rc == NID_OK)
        rc = get_int(c, o, "n_frames", false, 1, NID_MAX_FRAMES, -1,
                     &n_frames);
    if (rc == NID_OK)
        rc = get_int(c, o, "width", false, 1, NID_MAX_FRAME_SIDE, 0, &width);
    if (rc == NID_OK)
        rc = get_int(c, o, "height", false, 1, NID_MAX_FRAME_SIDE, 0,
                     &height);
    if (rc == NID_OK && (width == 0) != (height == 0))
        rc = bad(c, width ? "height" : "width",
                 "missing: give both width and height or neither");
    json_t *jf = json_object_get(o, "fps");
    if (rc == NID_OK && jf) {
        if (!json_is_number(jf))
            rc = bad_type(c, "fps", jf, "a number");
        else if (!((fps = json_number_value(jf)) > 0) || !isfinite(fps))
            rc = bad(c, "fps", "%g must be > 0", fps);
    }
    json_t *tr = json_object_get(o, "tracklets");
    if (rc == NID_OK && tr && !json_is_array(tr))
        rc = bad_type(c, "tracklets", tr, "an array");
    if (rc == NID_OK) {
        size_t vi;
        rc = nid__exam_push_video(e, "nid_exam_load", id, path, n_frames, fps,
                                 (int32_t)width, (int32_t)height, &vi);
        if (rc == NID_EINVAL)   /* duplicate id: say where */
            rc = bad(c, "id", "video id \"%s\" is used twice", id);
        if (rc == NID_OK) {
            e->vid[vi].extra = extra;
            extra = NULL;
            size_t plen = strlen(c->path);
            for (size_t i = 0; tr && i < json_array_size(tr); i++) {
                snprintf(c->path + plen, sizeof c->path - plen,
                         ".tracklets[%zu]", i);
                rc = load_tracklet(c, e, json_array_get(tr, i), vi);
                if (rc != NID_OK) break;
            }
            if (rc == NID_OK) c->path[plen] = '\0';
        }
    }
    json_decref(extra);
    return rc;
}

static int cmp_trk_id(const void *a, const void *b)
{
    const nid_trk *x = *(const nid_trk *const *)a;
    const nid_trk *y = *(const nid_trk *const *)b;
    return strcmp(x->id, y->id);
}

/* Tracklet ids must be unique over the exam; sort pointers to find a
 * duplicate in O(n log n). */
static int check_unique_ids(load_ctx *c, const nid_exam *e)
{
    if (e->n_trk < 2) return NID_OK;
    const nid_trk **p = malloc(e->n_trk * sizeof *p);
    if (!p) return nid__fail(NID_ENOMEM, "nid_exam_load: out of memory");
    for (size_t i = 0; i < e->n_trk; i++) p[i] = &e->trk[i];
    qsort(p, e->n_trk, sizeof *p, cmp_trk_id);
    int rc = NID_OK;
    for (size_t i = 1; i < e->n_trk && rc == NID_OK; i++) {
        if (strcmp(p[i]->id, p[i - 1]->id) == 0) {
            const nid_trk *dup = p[i] > p[i - 1] ? p[i] : p[i - 1];
            size_t t = (size_t)(dup - e->trk);
            size_t first = nid__exam_first_trk(e, dup->video);
            snprintf(c->path, sizeof c->path, "videos[%zu].tracklets[%zu]",
                     dup->video, t - first);
            rc = bad(c, "id", "tracklet id \"%s\" is used twice", dup->id);
        }
    }
    free(p);
    return rc;
}

static int load_top(load_ctx *c, nid_exam *e, json_t *root)
{
    static const char *const keys[] = {"format", "version", "exam_id",
                                       "patient_id", "date", "videos",
                                       "meta", NULL};
    if (!json_is_object(root)) return bad_type(c, "", root, "an object");
    const char *fmt, *exam_id, *patient_id, *date;
    int64_t version;
    int rc = check_keys(c, root, keys, &e->extra);
    if (rc == NID_OK) rc = get_string(c, root, "format", true, &fmt);
    if (rc == NID_OK && strcmp(fmt, FORMAT_NAME) != 0)
        rc = bad(c, "format", "expected \"" FORMAT_NAME "\", got \"%s\"",
                 fmt);
    if (rc == NID_OK)
        rc = get_int(c, root, "version", true, 1, INT32_MAX, 0, &version);
    if (rc == NID_OK && version != FORMAT_VERSION)
        rc = bad(c, "version", "version %lld is not supported (this library "
                 "reads version %d)", (long long)version, FORMAT_VERSION);
    if (rc == NID_OK) rc = get_string(c, root, "exam_id", false, &exam_id);
    if (rc == NID_OK)
        rc = get_string(c, root, "patient_id", false, &patient_id);
    if (rc == NID_OK) rc = get_string(c, root, "date", false, &date);
    if (rc == NID_OK && date && !date_ok(date))
        rc = bad(c, "date", "expected \"YYYY-MM-DD\", got \"%s\"", date);
    json_t *meta = json_object_get(root, "meta");
    if (rc == NID_OK && meta && !json_is_object(meta))
        rc = bad_type(c, "meta", meta, "an object");
    json_t *videos = json_object_get(root, "videos");
    if (rc == NID_OK && !videos)
        rc = bad(c, "videos", "missing (expected an array of videos)");
    if (rc == NID_OK && !json_is_array(videos))
        rc = bad_type(c, "videos", videos, "an array");
    if (rc != NID_OK) return rc;

    bool oom = false;
    e->exam_id = nid__strdup_opt(exam_id, &oom);
    e->patient_id = nid__strdup_opt(patient_id, &oom);
    e->date = nid__strdup_opt(date, &oom);
    if (oom || (meta && set_meta(e, json_incref(meta)) != NID_OK))
        return nid__fail(NID_ENOMEM, "nid_exam_load: out of memory");

    for (size_t i = 0; i < json_array_size(videos); i++) {
        snprintf(c->path, sizeof c->path, "videos[%zu]", i);
        if ((rc = load_video(c, e, json_array_get(videos, i))) != NID_OK)
            return rc;
    }
    return check_unique_ids(c, e);
}

/* Directory part of `path` ("" when it has none). */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup("");
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

int nid_exam_load(nid_exam **out, const char *path)
{
    if (!out || !path)
        return nid__fail(NID_EINVAL, "nid_exam_load: out or path is NULL");
    json_error_t err;
    unsigned char *buf;
    size_t len;
    int st = nid__read_file("nid_exam_load", path, NID_MAX_FILE_BYTES, &buf,
                           &len);
    if (st != NID_OK) return st;
    json_t *root = json_loadb((const char *)buf, len,
                              JSON_REJECT_DUPLICATES, &err);
    free(buf);
    if (!root)
        return nid__json_parse_fail(NID_EFORMAT, "nid_exam_load", path, &err);
    nid_exam *e = nid__exam_new();
    int rc = e ? NID_OK : nid__fail(NID_ENOMEM, "nid_exam_load: out of memory");
    if (rc == NID_OK) {
        free(e->base_dir);
        e->base_dir = dir_of(path);
        e->source = strdup(path);
        if (!e->base_dir || !e->source)
            rc = nid__fail(NID_ENOMEM, "nid_exam_load: out of memory");
    }
    if (rc == NID_OK) {
        load_ctx c = {.file = path, .path = ""};
        rc = load_top(&c, e, root);
    }
    json_decref(root);
    if (rc != NID_OK) {
        nid_exam_free(e);
        return rc;
    }
    *out = e;
    nid_clear_error();
    return NID_OK;
}

/* ------------------------------------------------------------------------ */
/* Saving                                                                   */
/* ------------------------------------------------------------------------ */

/* A float as JSON: an integer when it is one (pixel boxes usually are),
 * else the shortest decimal that reads back as the same float. */
static json_t *float_json(float f)
{
    if (f == floorf(f) && fabsf(f) < 1e15f) return json_integer((json_int_t)f);
    char buf[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if ((float)strtod(buf, NULL) == f) break;
    }
    return json_real(strtod(buf, NULL));
}

/* Add the "x_" keys kept from loading. Deep copies, so that concurrent
 * saves of one exam never touch shared reference counts. */
static int add_extra(json_t *o, const json_t *extra)
{
    if (!extra) return 0;
    json_t *copy = json_deep_copy(extra);
    if (!copy) return -1;
    int rc = json_object_update(o, copy);
    json_decref(copy);
    return rc;
}

/* json_object_set_new that tolerates a NULL value (reports failure). */
static int put(json_t *o, const char *key, json_t *v)
{
    return v ? json_object_set_new(o, key, v) : -1;
}

static json_t *trk_json(const nid_trk *t)
{
    json_t *o = json_object(), *kfs = json_array();
    int bad_ = !o || !kfs;
    bad_ |= put(o, "id", json_string(t->id));
    if (t->nodule >= 0) bad_ |= put(o, "nodule", json_integer(t->nodule));
    bad_ |= put(o, "start", json_integer(t->start));
    bad_ |= put(o, "end", json_integer(t->end));
    for (size_t k = 0; !bad_ && k < t->n_kf; k++) {
        const nid_kf *f = &t->kf[k];
        json_t *kf = json_object(), *box = json_array();
        bad_ |= !kf || !box;
        if (!bad_) {
            bad_ |= json_array_append_new(box, float_json(f->box.x));
            bad_ |= json_array_append_new(box, float_json(f->box.y));
            bad_ |= json_array_append_new(box, float_json(f->box.w));
            bad_ |= json_array_append_new(box, float_json(f->box.h));
            bad_ |= put(kf, "frame", json_integer(f->frame));
            bad_ |= put(kf, "box", json_incref(box));
            bad_ |= add_extra(kf, f->extra);
            bad_ |= json_array_append(kfs, kf);
        }
        json_decref(box);
        json_decref(kf);
    }
    bad_ |= put(o, "key_frames", json_incref(kfs));
    bad_ |= add_extra(o, t->extra);
    json_decref(kfs);
    if (bad_) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *exam_json(const nid_exam *e)
{
    json_t *root = json_object(), *videos = json_array();
    int bad_ = !root || !videos;
    bad_ |= put(root, "format", json_string(FORMAT_NAME));
    bad_ |= put(root, "version", json_integer(FORMAT_VERSION));
    if (e->exam_id) bad_ |= put(root, "exam_id", json_string(e->exam_id));
    if (e->patient_id)
        bad_ |= put(root, "patient_id", json_string(e->patient_id));
    if (e->date) bad_ |= put(root, "date", json_string(e->date));
    size_t t = 0;
    for (size_t i = 0; !bad_ && i < e->n_vid; i++) {
        const nid_vid *v = &e->vid[i];
        json_t *o = json_object(), *trs = json_array();
        bad_ |= !o || !trs;
        if (!bad_) {
            bad_ |= put(o, "id", json_string(v->id));
            bad_ |= put(o, "path", json_string(v->path));
            if (v->n_frames > 0)
                bad_ |= put(o, "n_frames", json_integer(v->n_frames));
            if (v->fps > 0) bad_ |= put(o, "fps", json_real(v->fps));
            if (v->width > 0) {
                bad_ |= put(o, "width", json_integer(v->width));
                bad_ |= put(o, "height", json_integer(v->height));
            }
            for (size_t k = 0; k < v->n_trk; k++, t++)
                bad_ |= json_array_append_new(trs, trk_json(&e->trk[t]));
            bad_ |= put(o, "tracklets", json_incref(trs));
            bad_ |= add_extra(o, v->extra);
            bad_ |= json_array_append(videos, o);
        }
        json_decref(trs);
        json_decref(o);
    }
    bad_ |= put(root, "videos", json_incref(videos));
    if (e->meta) bad_ |= put(root, "meta", json_deep_copy(e->meta));
    bad_ |= add_extra(root, e->extra);
    json_decref(videos);
    if (bad_) {
        json_decref(root);
        return NULL;
    }
    return root;
}

int nid_exam_save(const nid_exam *e, const char *path)
{
    static const char fn[] = "nid_exam_save";
    if (!e || !path || !path[0])
        return nid__fail(NID_EINVAL, "%s: exam or path is NULL or empty", fn);
    for (size_t t = 0; t < e->n_trk; t++)
        for (size_t k = 0; k < e->trk[t].n_kf; k++)
            if (!nid__box_valid(&e->trk[t].kf[k].box))
                return nid__fail(NID_EINVAL, "%s: %s: tracklet \"%s\", "
                                "frame %lld: box [%g, %g, %g, %g] is not "
                                "finite with w > 0, h > 0", fn, path,
                                e->trk[t].id,
                                (long long)e->trk[t].kf[k].frame,
                                e->trk[t].kf[k].box.x, e->trk[t].kf[k].box.y,
                                e->trk[t].kf[k].box.w, e->trk[t].kf[k].box.h);
    json_t *root = exam_json(e);
    char *text = root ? json_dumps(root, JSON_INDENT(2) |
                                   JSON_PRESERVE_ORDER |
                                   JSON_REAL_PRECISION(15))
                      : NULL;
    json_decref(root);
    if (!text) return nid__fail(NID_ENOMEM, "%s: out of memory", fn);
    size_t n = strlen(text);
    text[n] = '\n';   /* json_dumps's NUL becomes the final newline */
    int rc = nid__save_atomic(fn, path, text, n + 1, 0666);
    free(text);
    if (rc == NID_OK) nid_clear_error();
    return rc;
}

int nid_exam_load_json(nid_exam **out, const char *json, size_t len,
                       const char *name)
{
    if (!out || !json)
        return nid__fail(NID_EINVAL, "nid_exam_load_json: out or json is NULL");
    if (!name || !name[0]) name = "<json>";
    json_error_t err;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        return nid__json_parse_fail(NID_EFORMAT, "nid_exam_load_json", name,
                                    &err);
    nid_exam *e = nid__exam_new();
    int rc = e ? NID_OK : nid__fail(NID_ENOMEM, "nid_exam_load: out of memory");
    if (rc == NID_OK) {
        free(e->base_dir);
        e->base_dir = strdup("");
        e->source = strdup(name);
        if (!e->base_dir || !e->source)
            rc = nid__fail(NID_ENOMEM, "nid_exam_load: out of memory");
    }
    if (rc == NID_OK) {
        load_ctx c = {.file = name, .path = ""};
        rc = load_top(&c, e, root);
    }
    json_decref(root);
    if (rc != NID_OK) {
        nid_exam_free(e);
        return rc;
    }
    *out = e;
    nid_clear_error();
    return NID_OK;
}
