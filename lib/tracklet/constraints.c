/*
 * constraints.c - what an exam says about tracklet identities for free:
 * two tracklets of one video seen in the same frames, with boxes apart,
 * are two nodules (cannot-link constraints for nid_cluster_options).
 */
#include "tracklet_internal.h"

#include <stdlib.h>

/* Do tracklets a and b (same video) show two different nodules at once?
 * Yes when they share frames and, in fewer than half of the shared frames,
 * their boxes overlap with IoU >= max_iou (median IoU < max_iou). */
static int apart(const nid_trk *a, const nid_trk *b, float max_iou)
{
    int64_t lo = a->start > b->start ? a->start : b->start;
    int64_t hi = a->end < b->end ? a->end : b->end;
    if (lo > hi) return 0;
    uint64_t shared = (uint64_t)(hi - lo) + 1, close = 0;
    for (int64_t f = lo; f <= hi; f++) {
        nid_box ba = nid__trk_box(a, f, NID_INTERP_UNION);
        nid_box bb = nid__trk_box(b, f, NID_INTERP_UNION);
        if (nid_box_iou(&ba, &bb) >= max_iou) close++;
    }
    return 2 * close < shared;
}

int nid_exam_cannot_link(const nid_exam *e, float max_iou, uint32_t *pairs,
                         size_t pairs_cap, size_t *n_pairs)
{
    static const char fn[] = "nid_exam_cannot_link";
    if (!e || !n_pairs)
        return nid__fail(NID_EINVAL, "%s: exam or n_pairs is NULL", fn);
    if (pairs_cap && !pairs)
        return nid__fail(NID_EINVAL, "%s: pairs is NULL but pairs_cap = %zu",
                        fn, pairs_cap);
    if (e->n_trk > UINT32_MAX)
        return nid__fail(NID_EINVAL, "%s: %zu tracklets exceed the uint32 "
                        "index range", fn, e->n_trk);
    if (!(max_iou > 0.0f)) max_iou = 0.5f;
    /* pass 0 counts; pass 1 writes, only when everything fits (the
     * caller's buffer stays untouched on error) */
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            *n_pairs = n;
            if (n > pairs_cap)
                return nid__fail(NID_EBUFSIZE, "%s: %zu pairs but pairs_cap = "
                                "%zu", fn, n, pairs_cap);
            if (n == 0) break;
            n = 0;
        }
        for (size_t v = 0, first = 0; v < e->n_vid;
             first += e->vid[v].n_trk, v++)
            for (size_t i = first; i < first + e->vid[v].n_trk; i++)
                for (size_t j = i + 1; j < first + e->vid[v].n_trk; j++) {
                    if (!apart(&e->trk[i], &e->trk[j], max_iou)) continue;
                    if (pass == 1) {
                        pairs[2 * n] = (uint32_t)i;
                        pairs[2 * n + 1] = (uint32_t)j;
                    }
                    n++;
                }
    }
    nid_clear_error();
    return NID_OK;
}
