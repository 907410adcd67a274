/*
 * box.c - boxes between key frames (union / linear rule) and IoU.
 */
#include "tracklet_internal.h"

#include <math.h>

float nid_box_iou(const nid_box *a, const nid_box *b)
{
    if (!a || !b || !nid__box_valid(a) || !nid__box_valid(b)) return 0.0f;
    /* in double so that large coordinates do not cancel */
    double ix0 = fmax(a->x, b->x), iy0 = fmax(a->y, b->y);
    double ix1 = fmin((double)a->x + a->w, (double)b->x + b->w);
    double iy1 = fmin((double)a->y + a->h, (double)b->y + b->h);
    if (ix1 <= ix0 || iy1 <= iy0) return 0.0f;
    double inter = (ix1 - ix0) * (iy1 - iy0);
    double uni = (double)a->w * a->h + (double)b->w * b->h - inter;
    double iou = inter / uni;
    return (float)(iou > 1.0 ? 1.0 : iou);
}

/* Bounding box of two boxes. */
static nid_box box_union(const nid_box *a, const nid_box *b)
{
    double x0 = fmin(a->x, b->x), y0 = fmin(a->y, b->y);
    double x1 = fmax((double)a->x + a->w, (double)b->x + b->w);
    double y1 = fmax((double)a->y + a->h, (double)b->y + b->h);
    return (nid_box){(float)x0, (float)y0, (float)(x1 - x0),
                     (float)(y1 - y0)};
}

nid_box nid__trk_box(const nid_trk *t, int64_t frame, int interp)
{
    /* binary search: the last key frame <= frame */
    size_t lo = 0, hi = t->n_kf;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->kf[mid].frame <= frame) lo = mid;
        else hi = mid;
    }
    const nid_kf *a = &t->kf[lo];
    if (a->frame == frame || lo + 1 >= t->n_kf) return a->box;
    const nid_kf *b = &t->kf[lo + 1];
    if (interp == NID_INTERP_UNION) return box_union(&a->box, &b->box);
    double s = (double)(frame - a->frame) / (double)(b->frame - a->frame);
    return (nid_box){
        (float)(a->box.x + s * ((double)b->box.x - a->box.x)),
        (float)(a->box.y + s * ((double)b->box.y - a->box.y)),
        (float)(a->box.w + s * ((double)b->box.w - a->box.w)),
        (float)(a->box.h + s * ((double)b->box.h - a->box.h)),
    };
}
