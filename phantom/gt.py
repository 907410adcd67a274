"""Ground truth: per-frame nodule boxes -> tracklets and key frames.

A tracklet is a maximal run of frames in which a nodule is visible (its
cross-section is at least `vis_frac` of its largest cross-section and at
least `min_area_mm2`), with runs split by at most `gap_fill` frames of a
still-intersected nodule merged, and at least `min_len` frames long.

Key frames follow the method paper's annotation rule: the first and last
frame, plus every frame where the box or the shape changed sharply since the
last key frame (IoU below kf_iou, area change above kf_area, or a change of
the cross-section's eccentricity above kf_shape).
"""

import math

import numpy as np


def box_xywh(b):
    """(x0, y0, x1, y1) inclusive pixel bounds -> [x, y, w, h] floats."""
    x0, y0, x1, y1 = b
    return [float(x0), float(y0), float(x1 - x0 + 1), float(y1 - y0 + 1)]


def iou(a, b):
    ax0, ay0, aw, ah = a
    bx0, by0, bw, bh = b
    iw = min(ax0 + aw, bx0 + bw) - max(ax0, bx0)
    ih = min(ay0 + ah, by0 + bh) - max(ay0, by0)
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / (aw * ah + bw * bh - inter)


def eccentricity(m):
    m20, m11, m02 = m
    tr = m20 + m02
    det = m20 * m02 - m11 * m11
    disc = math.sqrt(max(tr * tr / 4 - det, 0.0))
    l1, l2 = tr / 2 + disc, max(tr / 2 - disc, 1e-9)
    return math.sqrt(max(0.0, 1 - l2 / l1)) if l1 > 0 else 0.0


def _runs(mask):
    idx = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(idx[0::2], idx[1::2] - 1))


def tracklets_for_video(per_frame, nodules, cfg):
    """per_frame: list over frames of {nid: (area, (x0,y0,x1,y1), moments)}.

    Returns a list of dicts {nodule, start, end, boxes (per frame), key_frames}
    sorted by (start, nodule)."""
    n = len(per_frame)
    px2 = cfg["px_mm"] ** 2
    out = []
    for nod in nodules:
        area = np.array([f[nod.id][0] if nod.id in f else 0 for f in per_frame], float)
        thr = max(cfg["min_area_mm2"] / px2, cfg["vis_frac"] * nod.max_area_mm2 / px2)
        vis = area >= thr
        runs = _runs(vis)
        merged = []
        for s, e in runs:
            if merged and s - merged[-1][1] - 1 <= cfg["gap_fill"] and \
                    np.all(area[merged[-1][1] + 1:s] > 0):
                merged[-1] = (merged[-1][0], e)
            else:
                merged.append((s, e))
        for s, e in merged:
            if e - s + 1 < cfg["min_len"]:
                continue
            boxes = [box_xywh(per_frame[t][nod.id][1]) for t in range(s, e + 1)]
            moms = [per_frame[t][nod.id][2] for t in range(s, e + 1)]
            areas = area[s:e + 1]
            out.append({"nodule": int(nod.id), "start": int(s), "end": int(e),
                        "boxes": boxes,
                        "key_frames": key_frames(int(s), boxes, areas, moms, cfg)})
    out.sort(key=lambda t: (t["start"], t["nodule"]))
    return out


def key_frames(start, boxes, areas, moms, cfg):
    """Indices (absolute frames) of key frames for one tracklet."""
    n = len(boxes)
    keys = [0]
    k = 0
    ecc = [eccentricity(m) for m in moms]
    for i in range(1, n):
        sharp = (iou(boxes[i], boxes[k]) < cfg["kf_iou"]
                 or abs(areas[i] / max(areas[k], 1.0) - 1.0) > cfg["kf_area"]
                 or abs(ecc[i] - ecc[k]) > cfg["kf_shape"])
        if sharp:
            keys.append(i)
            k = i
    if keys[-1] != n - 1:
        keys.append(n - 1)
    return [start + i for i in keys]
