/*
 * coco_vid.c - import COCO-VID style annotations (videos / images /
 * annotations with instance ids) as an exam. The mapping is documented in
 * docs/exam-format.md; in short:
 *
 *   videos[i]            -> exam video "v<id>", path = file_name or name
 *   images[j].frame_id   -> frame number (rank by image id when absent)
 *   annotations with the same (video, instance_id or track_id)
 *                        -> tracklets "v<id>-i<instance>-r<run>", split
 *                           where an image of the video lacks the instance
 *   annotations without an instance id
 *                        -> linked by IoU (nid_link_detections rules,
 *                           max_gap 0, min_length 1): "v<id>-t<k>"
 *
 * Unknown fields are ignored: this is somebody else's format.
 */
#include "tracklet_internal.h"
#include "json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FN "nid_exam_import_coco_vid"

typedef struct cv_image {
    int64_t id;
    size_t  video;      /* index into the videos array */
    int64_t frame;      /* frame_id, or -1 when absent */
    int64_t rank;       /* position among the video's images by frame */
    int32_t width, height;
} cv_image;

typedef struct cv_ann {
    size_t  idx;        /* position in "annotations" */
    int64_t ann_id;     /* its "id" or -1 */
    size_t  video;
    bool    has_inst;
    int64_t inst;
    int64_t frame, rank;
    nid_box box;
    bool    has_cat;
    int64_t cat;
} cv_ann;

typedef struct id_ref {
    int64_t id;
    size_t  idx;
} id_ref;

typedef struct cv_ctx {
    const char    *file;
    cv_image      *img;
    size_t         n_img;
    id_ref        *img_by_id;  /* (image id, index) sorted by id */
    const int64_t *vid_ids;    /* COCO id of each video */
} cv_ctx;

NID__PRINTF(3, 4)
static int cv_bad(const cv_ctx *c, const char *where, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = nid__json_vfail(FN, c->file, where, NULL, fmt, ap);
    va_end(ap);
    return rc;
}

static bool get_i64(json_t *o, const char *key, int64_t *v)
{
    json_t *j = json_object_get(o, key);
    if (!json_is_integer(j)) return false;
    *v = json_integer_value(j);
    return true;
}

/* Optional integer member: absent/null -> false; wrong type -> error. */
static int opt_i64(const cv_ctx *c, const char *where, json_t *o,
                   const char *key, bool *has, int64_t *v)
{
    json_t *j = json_object_get(o, key);
    *has = false;
    if (!j || json_is_null(j)) return NID_OK;
    if (!json_is_integer(j))
        return cv_bad(c, where, "\"%s\" must be an integer", key);
    *v = json_integer_value(j);
    *has = true;
    return NID_OK;
}

static int cmp_id_ref(const void *a, const void *b)
{
    const id_ref *x = a, *y = b;
    return x->id < y->id ? -1 : (x->id > y->id);
}

static long find_image(const cv_ctx *c, int64_t id)
{
    size_t lo = 0, hi = c->n_img;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int64_t v = c->img_by_id[mid].id;
        if (v == id) return (long)c->img_by_id[mid].idx;
        if (v < id) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

static int cmp_ann(const void *a, const void *b)
{
    const cv_ann *x = a, *y = b;
    if (x->video != y->video) return x->video < y->video ? -1 : 1;
    if (x->has_inst != y->has_inst) return x->has_inst ? -1 : 1;
    if (x->has_inst && x->inst != y->inst) return x->inst < y->inst ? -1 : 1;
    if (x->rank != y->rank) return x->rank < y->rank ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

/* Frame order within a video: by frame_id, or by image id when a video's
 * images lack frame ids. */
typedef struct img_key {
    size_t  video;
    int64_t key;
    size_t  img;
} img_key;

static int cmp_img_key(const void *a, const void *b)
{
    const img_key *x = a, *y = b;
    if (x->video != y->video) return x->video < y->video ? -1 : 1;
    return x->key < y->key ? -1 : (x->key > y->key);
}

static int read_videos(cv_ctx *c, nid_exam *e, json_t *videos,
                       int64_t **vid_ids)
{
    size_t nv = json_array_size(videos);
    int64_t *ids = calloc(nv ? nv : 1, sizeof *ids);
    if (!ids) return nid__fail(NID_ENOMEM, FN ": out of memory");
    char where[64], id[40];
    for (size_t i = 0; i < nv; i++) {
        json_t *o = json_array_get(videos, i);
        snprintf(where, sizeof where, "videos[%zu]", i);
        if (!json_is_object(o)) {
            free(ids);
            return cv_bad(c, where, "expected an object");
        }
        if (!get_i64(o, "id", &ids[i])) {
            free(ids);
            return cv_bad(c, where, "\"id\" must be an integer");
        }
        const char *path = json_string_value(json_object_get(o, "file_name"));
        if (!path) path = json_string_value(json_object_get(o, "name"));
        snprintf(id, sizeof id, "v%lld", (long long)ids[i]);
        if (!path || !path[0]) path = id;
        int64_t w = 0, h = 0;
        bool hw = false, hh = false;
        int rc = opt_i64(c, where, o, "width", &hw, &w);
        if (rc == NID_OK) rc = opt_i64(c, where, o, "height", &hh, &h);
        if (rc == NID_OK && (!hw || !hh || w <= 0 || h <= 0 ||
                             w > NID_MAX_FRAME_SIDE ||
                             h > NID_MAX_FRAME_SIDE))
            w = h = 0;
        double fps = 0;
        json_t *jf = json_object_get(o, "fps");
        if (json_is_number(jf) && json_number_value(jf) > 0 &&
            isfinite(json_number_value(jf)))
            fps = json_number_value(jf);
        if (rc == NID_OK)
            rc = nid__exam_push_video(e, FN, id, path, -1, fps, (int32_t)w,
                                     (int32_t)h, NULL);
        if (rc == NID_EINVAL) rc = cv_bad(c, where, "video id %lld is used "
                                          "twice", (long long)ids[i]);
        if (rc != NID_OK) {
            free(ids);
            return rc;
        }
    }
    *vid_ids = ids;
    return NID_OK;
}

static int read_images(cv_ctx *c, nid_exam *e, json_t *images,
                       const int64_t *vid_ids)
{
    size_t ni = json_array_size(images);
    c->img = calloc(ni ? ni : 1, sizeof *c->img);
    c->img_by_id = calloc(ni ? ni : 1, sizeof *c->img_by_id);
    img_key *keys = calloc(ni ? ni : 1, sizeof *keys);
    bool *no_fid = calloc(e->n_vid ? e->n_vid : 1, sizeof *no_fid);
    int rc = NID_OK;
    if (!c->img || !c->img_by_id || !keys || !no_fid)
        rc = nid__fail(NID_ENOMEM, FN ": out of memory");
    c->n_img = ni;
    char where[64];
    for (size_t i = 0; rc == NID_OK && i < ni; i++) {
        json_t *o = json_array_get(images, i);
        cv_image *im = &c->img[i];
        snprintf(where, sizeof where, "images[%zu]", i);
        int64_t vid;
        if (!json_is_object(o)) {
            rc = cv_bad(c, where, "expected an object");
        } else if (!get_i64(o, "id", &im->id)) {
            rc = cv_bad(c, where, "\"id\" must be an integer");
        } else if (!get_i64(o, "video_id", &vid)) {
            rc = cv_bad(c, where, "\"video_id\" must be an integer");
        } else {
            size_t v = 0;
            while (v < e->n_vid && vid_ids[v] != vid) v++;
            if (v == e->n_vid) {
                rc = cv_bad(c, where, "video_id %lld is not in \"videos\"",
                            (long long)vid);
                break;
            }
            im->video = v;
            bool has;
            int64_t fr = -1, w = 0, h = 0;
            bool hw = false, hh = false;
            rc = opt_i64(c, where, o, "frame_id", &has, &fr);
            if (rc == NID_OK && has && fr < 0)
                rc = cv_bad(c, where, "frame_id %lld is negative",
                            (long long)fr);
            if (rc == NID_OK && has && fr >= NID_MAX_FRAMES)
                rc = cv_bad(c, where, "frame_id %lld is past the limit %lld "
                            "(NID_MAX_FRAMES)", (long long)fr,
                            (long long)NID_MAX_FRAMES);
            if (rc == NID_OK) rc = opt_i64(c, where, o, "width", &hw, &w);
            if (rc == NID_OK) rc = opt_i64(c, where, o, "height", &hh, &h);
            im->frame = has ? fr : -1;
            if (!has) no_fid[v] = true;
            if (hw && hh && w > 0 && h > 0 && w <= NID_MAX_FRAME_SIDE &&
                h <= NID_MAX_FRAME_SIDE) {
                im->width = (int32_t)w;
                im->height = (int32_t)h;
            }
        }
        c->img_by_id[i] = (id_ref){im->id, i};
    }
    if (rc == NID_OK) {
        qsort(c->img_by_id, ni, sizeof *c->img_by_id, cmp_id_ref);
        for (size_t i = 1; i < ni && rc == NID_OK; i++)
            if (c->img_by_id[i].id == c->img_by_id[i - 1].id)
                rc = cv_bad(c, "images", "image id %lld is used twice",
                            (long long)c->img_by_id[i].id);
    }
    if (rc == NID_OK) {
        /* frame numbers: frame_id, or rank by image id in videos without */
        for (size_t i = 0; i < ni; i++) {
            const cv_image *im = &c->img[i];
            keys[i] = (img_key){im->video,
                                no_fid[im->video] ? im->id : im->frame, i};
        }
        qsort(keys, ni, sizeof *keys, cmp_img_key);
        int64_t rank = 0;
        for (size_t i = 0; i < ni && rc == NID_OK; i++) {
            if (i == 0 || keys[i].video != keys[i - 1].video) rank = 0;
            else if (keys[i].key == keys[i - 1].key)
                rc = cv_bad(c, "images", "images %lld and %lld of video %lld "
                            "have the same frame_id %lld",
                            (long long)c->img[keys[i - 1].img].id,
                            (long long)c->img[keys[i].img].id,
                            (long long)vid_ids[keys[i].video],
                            (long long)keys[i].key);
            cv_image *im = &c->img[keys[i].img];
            if (rc == NID_OK && rank >= NID_MAX_FRAMES)
                rc = cv_bad(c, "images", "video %lld has more than %lld "
                            "images (NID_MAX_FRAMES)",
                            (long long)vid_ids[keys[i].video],
                            (long long)NID_MAX_FRAMES);
            im->rank = rank++;
            if (no_fid[im->video]) im->frame = im->rank;
        }
    }
    /* per video: n_frames = last frame + 1, size from the images if the
     * video entry lacks it */
    for (size_t i = 0; rc == NID_OK && i < ni; i++) {
        const cv_image *im = &c->img[i];
        nid_vid *v = &e->vid[im->video];
        if (im->frame + 1 > v->n_frames) v->n_frames = im->frame + 1;
        if (v->width == 0 && im->width > 0) {
            v->width = im->width;
            v->height = im->height;
        }
    }
    free(keys);
    free(no_fid);
    return rc;
}

static int read_annotations(cv_ctx *c, const nid_exam *e, json_t *anns,
                            cv_ann **out, size_t *n_out)
{
    size_t na = json_array_size(anns);
    cv_ann *a = calloc(na ? na : 1, sizeof *a);
    if (!a) return nid__fail(NID_ENOMEM, FN ": out of memory");
    char where[96];
    int rc = NID_OK;
    for (size_t i = 0; i < na && rc == NID_OK; i++) {
        json_t *o = json_array_get(anns, i);
        cv_ann *p = &a[i];
        p->idx = i;
        p->ann_id = -1;
        snprintf(where, sizeof where, "annotations[%zu]", i);
        if (!json_is_object(o)) {
            rc = cv_bad(c, where, "expected an object");
            break;
        }
        if (get_i64(o, "id", &p->ann_id))
            snprintf(where, sizeof where, "annotations[%zu] (id %lld)", i,
                     (long long)p->ann_id);
        int64_t image_id, vid;
        bool has_vid;
        if (!get_i64(o, "image_id", &image_id)) {
            rc = cv_bad(c, where, "\"image_id\" must be an integer");
            break;
        }
        long im = find_image(c, image_id);
        if (im < 0) {
            rc = cv_bad(c, where, "image_id %lld is not in \"images\"",
                        (long long)image_id);
            break;
        }
        const cv_image *img = &c->img[im];
        p->video = img->video;
        p->frame = img->frame;
        p->rank = img->rank;
        rc = opt_i64(c, where, o, "video_id", &has_vid, &vid);
        if (rc == NID_OK && has_vid && c->vid_ids[img->video] != vid)
            rc = cv_bad(c, where, "video_id %lld differs from the video "
                        "%lld of its image %lld", (long long)vid,
                        (long long)c->vid_ids[img->video],
                        (long long)image_id);
        if (rc == NID_OK)
            rc = opt_i64(c, where, o, "instance_id", &p->has_inst, &p->inst);
        if (rc == NID_OK && !p->has_inst)
            rc = opt_i64(c, where, o, "track_id", &p->has_inst, &p->inst);
        if (rc == NID_OK)
            rc = opt_i64(c, where, o, "category_id", &p->has_cat, &p->cat);
        if (rc != NID_OK) break;
        json_t *bb = json_object_get(o, "bbox");
        double v[4];
        if (!json_is_array(bb) || json_array_size(bb) != 4) {
            rc = cv_bad(c, where, "\"bbox\" must be an array [x, y, w, h]");
            break;
        }
        for (size_t k = 0; k < 4 && rc == NID_OK; k++) {
            json_t *x = json_array_get(bb, k);
            if (!json_is_number(x))
                rc = cv_bad(c, where, "bbox[%zu] must be a number", k);
            else
                v[k] = json_number_value(x);
        }
        if (rc != NID_OK) break;
        if (!(v[2] > 0 && v[3] > 0) || !isfinite(v[0]) || !isfinite(v[1]) ||
            !isfinite(v[2]) || !isfinite(v[3])) {
            rc = cv_bad(c, where, "bbox [%g, %g, %g, %g] needs w > 0 and "
                        "h > 0", v[0], v[1], v[2], v[3]);
            break;
        }
        /* external annotations often poke a little out of the frame:
         * clip to the frame when its size is known */
        const nid_vid *vd = &e->vid[img->video];
        if (vd->width > 0) {
            double x0 = fmax(v[0], 0), y0 = fmax(v[1], 0);
            double x1 = fmin(v[0] + v[2], vd->width);
            double y1 = fmin(v[1] + v[3], vd->height);
            if (!(x1 > x0 && y1 > y0)) {
                rc = cv_bad(c, where, "bbox [%g, %g, %g, %g] lies outside "
                            "the %dx%d frame", v[0], v[1], v[2], v[3],
                            (int)vd->width, (int)vd->height);
                break;
            }
            v[0] = x0;
            v[1] = y0;
            v[2] = x1 - x0;
            v[3] = y1 - y0;
        }
        /* the exam keeps floats: the box must still be valid as floats
         * (1e-50 would become w = 0, 1e39 infinity) */
        p->box = (nid_box){(float)v[0], (float)v[1], (float)v[2],
                           (float)v[3]};
        if (!nid__box_valid(&p->box)) {
            rc = cv_bad(c, where, "bbox [%g, %g, %g, %g] is not finite with "
                        "w > 0 and h > 0 as 32-bit floats ([%g, %g, %g, %g])",
                        v[0], v[1], v[2], v[3], p->box.x, p->box.y, p->box.w,
                        p->box.h);
            break;
        }
    }
    if (rc != NID_OK) {
        free(a);
        return rc;
    }
    qsort(a, na, sizeof *a, cmp_ann);
    *out = a;
    *n_out = na;
    return NID_OK;
}

/* Add a tracklet built from key frames kf[0..n) (copied). */
static int add_trk(const cv_ctx *c, nid_exam *e, size_t video,
                   const char *id, int32_t nodule, const nid_kf *kf, size_t n,
                   bool has_cat, int64_t cat)
{
    if (kf[n - 1].frame - kf[0].frame + 1 > NID_MAX_TRACKLET_FRAMES)
        return cv_bad(c, "annotations", "tracklet %s spans frames %lld to "
                      "%lld, more than the limit of %lld frames "
                      "(NID_MAX_TRACKLET_FRAMES)", id, (long long)kf[0].frame,
                      (long long)kf[n - 1].frame,
                      (long long)NID_MAX_TRACKLET_FRAMES);
    nid_trk t = {0};
    t.kf = calloc(n, sizeof *t.kf);
    t.id = strdup(id);
    if (!t.kf || !t.id) {
        nid__trk_clear(&t);
        return nid__fail(NID_ENOMEM, FN ": out of memory");
    }
    for (size_t k = 0; k < n; k++) t.kf[k] = (nid_kf){kf[k].frame,
                                                      kf[k].box, NULL};
    t.n_kf = n;
    t.video = video;
    t.nodule = nodule;
    t.start = kf[0].frame;
    t.end = kf[n - 1].frame;
    if (has_cat) {
        t.extra = json_pack("{sI}", "x_category_id", (json_int_t)cat);
        if (!t.extra) {
            nid__trk_clear(&t);
            return nid__fail(NID_ENOMEM, FN ": out of memory");
        }
    }
    if (nid__exam_reserve_trk(e, 1) != NID_OK) {
        nid__trk_clear(&t);
        return NID_ENOMEM;
    }
    nid__exam_insert_trk(e, &t);
    return NID_OK;
}

/* One (video, instance) group a[0..n): split into runs of consecutive
 * images and add each run as a tracklet. */
static int add_instance(cv_ctx *c, nid_exam *e, const cv_ann *a, size_t n,
                        nid_kf *scratch, bool global_ids)
{
    const nid_vid *v = &e->vid[a[0].video];
    int32_t nodule = (global_ids && a[0].inst >= 0 && a[0].inst <= INT32_MAX)
                         ? (int32_t)a[0].inst : -1;
    char id[128];
    size_t run = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && a[i].rank == a[i - 1].rank)
            return cv_bad(c, "annotations", "annotations[%zu] and "
                          "annotations[%zu] give instance %lld twice on "
                          "frame %lld of video %s", a[i - 1].idx, a[i].idx,
                          (long long)a[i].inst, (long long)a[i].frame,
                          v->id);
        scratch[i - s] = (nid_kf){a[i].frame, a[i].box, NULL};
        bool last = i + 1 == n || a[i + 1].rank > a[i].rank + 1;
        if (!last) continue;
        bool same_cat = a[s].has_cat;
        for (size_t k = s; k <= i && same_cat; k++)
            same_cat = a[k].has_cat && a[k].cat == a[s].cat;
        snprintf(id, sizeof id, "%s-i%lld-r%zu", v->id, (long long)a[i].inst,
                 run++);
        int rc = add_trk(c, e, a[0].video, id, nodule, scratch, i - s + 1,
                         same_cat, a[s].cat);
        if (rc != NID_OK) return rc;
        s = i + 1;
    }
    return NID_OK;
}

/* Annotations of one video without instance ids: link them by IoU in
 * image order (no gaps bridged), then map ranks back to frames. */
static int add_linked(cv_ctx *c, nid_exam *e, const cv_ann *a, size_t n)
{
    size_t video = a[0].video;
    const nid_vid *v = &e->vid[video];
    nid_detection *d = calloc(n, sizeof *d);
    if (!d) return nid__fail(NID_ENOMEM, FN ": out of memory");
    for (size_t i = 0; i < n; i++)
        d[i] = (nid_detection){a[i].rank, a[i].box, 1.0f};
    nid_link_options lo;
    nid_link_options_init(&lo);
    lo.max_gap = 0;
    lo.min_length = 1;
    nid_trk *tr = NULL;
    size_t nt = 0;
    int rc = nid__link_core(d, n, &lo, &tr, &nt);
    free(d);
    /* rank -> frame: a[] is sorted by rank */
    char id[128];
    for (size_t i = 0; rc == NID_OK && i < nt; i++) {
        for (size_t k = 0; k < tr[i].n_kf; k++) {
            size_t lo_i = 0, hi_i = n;
            while (hi_i - lo_i > 1) {
                size_t mid = lo_i + (hi_i - lo_i) / 2;
                if (a[mid].rank <= tr[i].kf[k].frame) lo_i = mid;
                else hi_i = mid;
            }
            tr[i].kf[k].frame = a[lo_i].frame;
        }
        snprintf(id, sizeof id, "%s-t%zu", v->id, i);
        rc = add_trk(c, e, video, id, -1, tr[i].kf, tr[i].n_kf, false, 0);
    }
    for (size_t i = 0; i < nt; i++) nid__trk_clear(&tr[i]);
    free(tr);
    return rc;
}

static int cmp_inst_video(const void *x, const void *y)
{
    const int64_t *a = x, *b = y;
    if (a[0] != b[0]) return a[0] < b[0] ? -1 : 1;
    return a[1] < b[1] ? -1 : (a[1] > b[1]);
}

/* Does every instance id occur in one video only? Returns false on ENOMEM. */
static bool unique_instances(const cv_ann *a, size_t n, bool *unique)
{
    int64_t (*p)[2] = malloc((n ? n : 1) * sizeof *p);
    if (!p) return false;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (a[i].has_inst) {
            p[m][0] = a[i].inst;
            p[m][1] = (int64_t)a[i].video;
            m++;
        }
    qsort(p, m, sizeof *p, cmp_inst_video);
    *unique = true;
    for (size_t i = 1; i < m; i++)
        if (p[i][0] == p[i - 1][0] && p[i][1] != p[i - 1][1]) *unique = false;
    free(p);
    return true;
}

static int import(cv_ctx *c, nid_exam *e, json_t *root)
{
    if (!json_is_object(root))
        return cv_bad(c, "(top)", "expected an object");
    json_t *videos = json_object_get(root, "videos");
    json_t *images = json_object_get(root, "images");
    json_t *anns = json_object_get(root, "annotations");
    if (!json_is_array(videos))
        return cv_bad(c, "videos", "missing or not an array (is this a "
                      "COCO-VID file?)");
    if (!json_is_array(images))
        return cv_bad(c, "images", "missing or not an array");
    if (anns && !json_is_array(anns))
        return cv_bad(c, "annotations", "not an array");

    int64_t *vid_ids = NULL;
    cv_ann *a = NULL;
    nid_kf *scratch = NULL;
    size_t na = 0;
    int rc = read_videos(c, e, videos, &vid_ids);
    c->vid_ids = vid_ids;
    if (rc == NID_OK) rc = read_images(c, e, images, vid_ids);
    if (rc == NID_OK && anns) rc = read_annotations(c, e, anns, &a, &na);
    if (rc == NID_OK && na > 0 && !(scratch = calloc(na, sizeof *scratch)))
        rc = nid__fail(NID_ENOMEM, FN ": out of memory");
    /* instance ids name nodules only if no id is reused in another video
     * (some exporters number instances per video) */
    bool global_ids = true;
    if (rc == NID_OK && !unique_instances(a, na, &global_ids))
        rc = nid__fail(NID_ENOMEM, FN ": out of memory");
    /* groups: (video, instance) first, then each video's unlinked ones */
    for (size_t g = 0; rc == NID_OK && g < na;) {
        size_t end = g + 1;
        while (end < na && a[end].video == a[g].video &&
               a[end].has_inst == a[g].has_inst &&
               (!a[g].has_inst || a[end].inst == a[g].inst))
            end++;
        rc = a[g].has_inst
                 ? add_instance(c, e, a + g, end - g, scratch, global_ids)
                 : add_linked(c, e, a + g, end - g);
        g = end;
    }
    if (rc == NID_OK) {
        json_t *cats = json_object_get(root, "categories");
        json_t *meta = json_pack("{ss}", "source", "coco-vid");
        if (meta && cats) json_object_set(meta, "categories", cats);
        if (!meta) rc = nid__fail(NID_ENOMEM, FN ": out of memory");
        else {
            json_decref(e->meta);
            e->meta = meta;
            free(e->meta_str);
            e->meta_str = json_dumps(meta, JSON_COMPACT | JSON_PRESERVE_ORDER);
            if (!e->meta_str) rc = nid__fail(NID_ENOMEM, FN ": out of memory");
        }
    }
    free(vid_ids);
    free(a);
    free(scratch);
    return rc;
}

int nid_exam_import_coco_vid(nid_exam **out, const char *path)
{
    if (!out || !path)
        return nid__fail(NID_EINVAL, FN ": out or path is NULL");
    json_error_t err;
    unsigned char *buf;
    size_t len;
    int st = nid__read_file(FN, path, NID_MAX_FILE_BYTES, &buf, &len);
    if (st != NID_OK) return st;
    json_t *root = json_loadb((const char *)buf, len, 0, &err);
    free(buf);
    if (!root)
        return nid__json_parse_fail(NID_EFORMAT, FN, path, &err);
    cv_ctx c = {.file = path};
    nid_exam *e = nid__exam_new();
    int rc = e ? NID_OK : nid__fail(NID_ENOMEM, FN ": out of memory");
    if (rc == NID_OK) {
        const char *slash = strrchr(path, '/');
        free(e->base_dir);
        e->base_dir = !slash ? strdup("")
                    : slash == path ? strdup("/")
                    : strndup(path, (size_t)(slash - path));
        e->source = strdup(path);
        if (!e->base_dir || !e->source)
            rc = nid__fail(NID_ENOMEM, FN ": out of memory");
    }
    if (rc == NID_OK) rc = import(&c, e, root);
    json_decref(root);
    free(c.img);
    free(c.img_by_id);
    if (rc != NID_OK) {
        nid_exam_free(e);
        return rc;
    }
    *out = e;
    nid_clear_error();
    return NID_OK;
}
