/*
 * link.c - linking per-frame detections into tracklets: greedy IoU
 * matching frame by frame with gap tolerance and a minimum length.
 *
 * Greedy (highest IoU first) rather than Hungarian: nodules rarely overlap
 * each other, and greedy matching is simple, deterministic and what most
 * IoU trackers do. The rule is spelled out in include/noduleid.h.
 */
#include "tracklet_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void link_options_defaults(nid_link_options *d)
{
    d->iou_threshold = 0.3f;
    d->max_gap = 5;
    d->min_length = 8;
    d->min_score = 0.0f;
}

NID__DEFINE_INIT(nid_link_options, link_options_defaults)

typedef struct track {
    nid_kf *kf;
    size_t  n, cap;
    size_t  created;   /* creation order, for ties and output order */
} track;

typedef struct pair {
    float  iou;
    size_t trk;        /* index into the open list */
    size_t det;        /* index into the sorted detections */
} pair;

static int push_kf(track *t, int64_t frame, nid_box box)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        nid_kf *p = realloc(t->kf, cap * sizeof *p);
        if (!p) return -1;
        t->kf = p;
        t->cap = cap;
    }
    t->kf[t->n++] = (nid_kf){frame, box, NULL};
    return 0;
}

static int cmp_pair(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    if (x->iou != y->iou) return x->iou > y->iou ? -1 : 1;
    if (x->trk != y->trk) return x->trk < y->trk ? -1 : 1;
    return x->det < y->det ? -1 : (x->det > y->det);
}

/* Sort key for detections: frame, then box (x, y, w, h), then score, then
 * input order, so that the result does not depend on the input order. */
typedef struct det_ref {
    int64_t frame;
    size_t  idx;
    const nid_detection *d;
} det_ref;

static int cmp_f(float a, float b)
{
    return a < b ? -1 : (a > b);
}

static int cmp_det(const void *a, const void *b)
{
    const det_ref *x = a, *y = b;
    if (x->frame != y->frame) return x->frame < y->frame ? -1 : 1;
    int c = cmp_f(x->d->box.x, y->d->box.x);
    if (!c) c = cmp_f(x->d->box.y, y->d->box.y);
    if (!c) c = cmp_f(x->d->box.w, y->d->box.w);
    if (!c) c = cmp_f(x->d->box.h, y->d->box.h);
    if (!c) c = cmp_f(x->d->score, y->d->score);
    if (c) return c;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

static int cmp_track_out(const void *a, const void *b)
{
    const track *x = a, *y = b;
    if (x->kf[0].frame != y->kf[0].frame)
        return x->kf[0].frame < y->kf[0].frame ? -1 : 1;
    return x->created < y->created ? -1 : (x->created > y->created);
}

int nid__link_core(const nid_detection *dets, size_t n,
                  const nid_link_options *opts, nid_trk **tracks,
                  size_t *n_tracks)
{
    det_ref *ord = NULL;
    track *all = NULL;        /* every track ever started */
    size_t *open = NULL;      /* indices into `all` of tracks still open */
    pair *pairs = NULL;
    bool *used_trk = NULL, *used_det = NULL;
    size_t n_all = 0, n_open = 0, n_ord = 0;
    int rc = NID_ENOMEM;

    ord = malloc((n ? n : 1) * sizeof *ord);
    all = malloc((n ? n : 1) * sizeof *all);
    open = malloc((n ? n : 1) * sizeof *open);
    used_trk = malloc((n ? n : 1) * sizeof *used_trk);
    used_det = malloc((n ? n : 1) * sizeof *used_det);
    if (!ord || !all || !open || !used_trk || !used_det) goto done;
    for (size_t i = 0; i < n; i++)
        if (dets[i].score >= opts->min_score)
            ord[n_ord++] = (det_ref){dets[i].frame, i, &dets[i]};
    qsort(ord, n_ord, sizeof *ord, cmp_det);

    size_t pairs_cap = 0;
    for (size_t g = 0; g < n_ord;) {
        int64_t f = ord[g].frame;
        size_t g_end = g;
        while (g_end < n_ord && ord[g_end].frame == f) g_end++;
        size_t nd = g_end - g;

        /* close tracks whose gap would exceed max_gap */
        size_t w = 0;
        for (size_t i = 0; i < n_open; i++) {
            const track *t = &all[open[i]];
            if (f - t->kf[t->n - 1].frame - 1 <= opts->max_gap)
                open[w++] = open[i];
        }
        n_open = w;

        /* candidate pairs, highest IoU first */
        size_t np = 0, need, bytes;
        if (!nid__mul_size(n_open, nd, &need) ||
            !nid__mul_size(need, sizeof(pair), &bytes))
            goto done;
        if (need > pairs_cap) {
            pair *p = realloc(pairs, bytes);
            if (!p) goto done;
            pairs = p;
            pairs_cap = need;
        }
        for (size_t i = 0; i < n_open; i++) {
            const track *t = &all[open[i]];
            for (size_t j = 0; j < nd; j++) {
                float iou = nid_box_iou(&t->kf[t->n - 1].box,
                                        &dets[ord[g + j].idx].box);
                if (iou > 0.0f && iou >= opts->iou_threshold)
                    pairs[np++] = (pair){iou, i, j};
            }
        }
        if (np > 1) qsort(pairs, np, sizeof *pairs, cmp_pair);
        memset(used_trk, 0, n_open * sizeof *used_trk);
        memset(used_det, 0, nd * sizeof *used_det);
        for (size_t p = 0; p < np; p++) {
            if (used_trk[pairs[p].trk] || used_det[pairs[p].det]) continue;
            used_trk[pairs[p].trk] = used_det[pairs[p].det] = true;
            const nid_detection *d = &dets[ord[g + pairs[p].det].idx];
            if (push_kf(&all[open[pairs[p].trk]], f, d->box) != 0)
                goto done;
        }
        /* unmatched detections start tracks, in input order */
        for (size_t j = 0; j < nd; j++) {
            if (used_det[j]) continue;
            track *t = &all[n_all];
            *t = (track){NULL, 0, 0, n_all};
            n_all++;
            if (push_kf(t, f, dets[ord[g + j].idx].box) != 0) goto done;
            open[n_open++] = n_all - 1;
        }
        g = g_end;
    }

    /* keep long enough tracks, in output order */
    size_t n_keep = 0;
    for (size_t i = 0; i < n_all; i++) {
        track *t = &all[i];
        if (t->kf[t->n - 1].frame - t->kf[0].frame + 1 >= opts->min_length)
            all[n_keep++] = *t;
        else
            free(t->kf);
    }
    n_all = n_keep;
    qsort(all, n_all, sizeof *all, cmp_track_out);
    nid_trk *out = calloc(n_all ? n_all : 1, sizeof *out);
    if (!out) goto done;
    for (size_t i = 0; i < n_all; i++) {
        out[i].kf = all[i].kf;
        out[i].n_kf = all[i].n;
        out[i].start = all[i].kf[0].frame;
        out[i].end = all[i].kf[all[i].n - 1].frame;
        out[i].nodule = -1;
        all[i].kf = NULL;
    }
    *tracks = out;
    *n_tracks = n_all;
    rc = NID_OK;
done:
    for (size_t i = 0; i < n_all; i++) free(all ? all[i].kf : NULL);
    free(ord);
    free(all);
    free(open);
    free(pairs);
    free(used_trk);
    free(used_det);
    if (rc != NID_OK) nid__fail(rc, "nid_link_detections: out of memory");
    return rc;
}

static int check_options(const nid_link_options *o)
{
    static const char fn[] = "nid_link_detections";
    if (!(o->iou_threshold >= 0.0f && o->iou_threshold <= 1.0f))
        return nid__fail(NID_EINVAL, "%s: iou_threshold %g must be in [0, 1]",
                        fn, o->iou_threshold);
    if (o->max_gap < 0)
        return nid__fail(NID_EINVAL, "%s: max_gap %d must be >= 0", fn,
                        (int)o->max_gap);
    if (o->min_length < 1)
        return nid__fail(NID_EINVAL, "%s: min_length %d must be >= 1", fn,
                        (int)o->min_length);
    if (!isfinite(o->min_score))
        return nid__fail(NID_EINVAL, "%s: min_score must be finite", fn);
    return NID_OK;
}

int nid_link_detections(nid_exam *e, size_t video,
                        const nid_detection *dets, size_t n,
                        const nid_link_options *opts, size_t *n_added)
{
    static const char fn[] = "nid_link_detections";
    if (!e || (!dets && n > 0))
        return nid__fail(NID_EINVAL, "%s: exam or dets is NULL", fn);
    nid_link_options o;
    nid_link_options_init(&o);
    int rc = NID__STRUCT_IN(fn, "opts", nid_link_options, &o, opts);
    if (rc != NID_OK) return rc;
    opts = &o;
    rc = check_options(opts);
    if (rc != NID_OK) return rc;
    if (video >= e->n_vid)
        return nid__fail(NID_ERANGE, "%s: no video %zu (exam has %zu)", fn,
                        video, e->n_vid);
    const nid_vid *v = &e->vid[video];
    for (size_t i = 0; i < n; i++) {
        const nid_detection *d = &dets[i];
        if (d->frame < 0)
            return nid__fail(NID_EINVAL, "%s: detection %zu: frame %lld is "
                            "negative", fn, i, (long long)d->frame);
        if (!nid__box_valid(&d->box) || !isfinite(d->score))
            return nid__fail(NID_EINVAL, "%s: detection %zu (frame %lld): "
                            "box [%g, %g, %g, %g] score %g: need finite "
                            "values and w > 0, h > 0", fn, i,
                            (long long)d->frame, d->box.x, d->box.y,
                            d->box.w, d->box.h, d->score);
        if (v->n_frames > 0 && d->frame >= v->n_frames)
            return nid__fail(NID_EINVAL, "%s: detection %zu: frame %lld past "
                            "the last frame %lld of video \"%s\"", fn, i,
                            (long long)d->frame, (long long)v->n_frames - 1,
                            v->id);
        if (v->width > 0 && !nid__box_inside(&d->box, v->width, v->height))
            return nid__fail(NID_EINVAL, "%s: detection %zu (frame %lld): "
                            "box [%g, %g, %g, %g] extends outside the %dx%d "
                            "frame of video \"%s\"", fn, i,
                            (long long)d->frame, d->box.x, d->box.y,
                            d->box.w, d->box.h, (int)v->width,
                            (int)v->height, v->id);
    }
    nid_trk *tr = NULL;
    size_t nt = 0;
    rc = nid__link_core(dets, n, opts, &tr, &nt);
    if (rc != NID_OK) return rc;
    rc = nid__exam_reserve_trk(e, nt);
    /* ids "<video id>-t<k>", k counting up over the free ones */
    size_t k = 0;
    char buf[64];
    size_t idlen = strlen(v->id);
    for (size_t i = 0; rc == NID_OK && i < nt; i++) {
        char *id = malloc(idlen + 32);
        if (!id) {
            rc = nid__fail(NID_ENOMEM, "%s: out of memory", fn);
            break;
        }
        for (;; k++) {
            snprintf(buf, sizeof buf, "-t%zu", k);
            memcpy(id, v->id, idlen);
            strcpy(id + idlen, buf);
            bool taken = nid__exam_has_trk_id(e, id);
            for (size_t j = 0; j < i && !taken; j++)
                taken = strcmp(tr[j].id, id) == 0;
            if (!taken) break;
        }
        k++;
        tr[i].id = id;
        tr[i].video = video;
    }
    if (rc == NID_OK) {
        for (size_t i = 0; i < nt; i++) nid__exam_insert_trk(e, &tr[i]);
    }
    for (size_t i = 0; i < nt; i++) nid__trk_clear(&tr[i]);
    free(tr);
    if (rc != NID_OK) return rc;
    if (n_added) *n_added = nt;
    nid_clear_error();
    return NID_OK;
}
