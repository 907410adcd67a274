"""Difficulty report: pairwise AUC of naive baselines on same-patient pairs.

    python3 -m phantom difficulty --data DATASET_DIR [--split all|train|val|test]

For every tracklet the middle frame's crop (ground-truth box enlarged by
20 %, resized to 32x64) is described by
  * pixels:    the raw resized crop, zero-mean, unit-norm (cosine = NCC)
  * histogram: a 32-bin intensity histogram of the box (cosine)
and every pair of tracklets of the same patient is scored; a pair is
positive when both tracklets show the same nodule (the method paper's
evaluation protocol).  AUC = P(score(pos) > score(neg)), ties count 1/2.
"""

import json
import os

import numpy as np
from scipy import ndimage

from .cli import OneLineParser


def auc(scores, labels):
    s = np.asarray(scores, float)
    y = np.asarray(labels, bool)
    npos, nneg = int(y.sum()), int((~y).sum())
    if npos == 0 or nneg == 0:
        return float("nan")
    ranks = _rankdata(s)
    return float((ranks[y].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def _rankdata(a):
    order = np.argsort(a, kind="mergesort")
    ranks = np.empty(len(a), float)
    sa = a[order]
    i = 0
    while i < len(a):
        j = i
        while j + 1 < len(a) and sa[j + 1] == sa[i]:
            j += 1
        ranks[order[i:j + 1]] = 0.5 * (i + j) + 1
        i = j + 1
    return ranks


def crop_features(frame, box, out_hw=(32, 64), context=1.2):
    H, W = frame.shape
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    w2, h2 = w * context / 2, h * context / 2
    x0, x1 = int(max(0, np.floor(cx - w2))), int(min(W, np.ceil(cx + w2)))
    y0, y1 = int(max(0, np.floor(cy - h2))), int(min(H, np.ceil(cy + h2)))
    c = frame[y0:y1, x0:x1].astype(np.float64)
    z = ndimage.zoom(c, (out_hw[0] / c.shape[0], out_hw[1] / c.shape[1]), order=1)
    z = z[:out_hw[0], :out_hw[1]]
    if z.shape != out_hw:
        z = np.pad(z, ((0, out_hw[0] - z.shape[0]), (0, out_hw[1] - z.shape[1])), mode="edge")
    pix = z.ravel() - z.mean()
    pix /= np.linalg.norm(pix) + 1e-9
    bx0, by0 = int(x), int(y)
    inner = frame[by0:by0 + int(h), bx0:bx0 + int(w)]
    hist = np.bincount((inner.ravel() // 8).astype(np.int64), minlength=32)[:32].astype(float)
    hist /= np.linalg.norm(hist) + 1e-9
    return pix, hist


def tracklet_features(data_dir, splits=("train", "val", "test")):
    from .video import read_frames
    ds = json.load(open(os.path.join(data_dir, "dataset.json")))
    feats = []
    for split in splits:
        for ep in ds["splits"][split]:
            ex = json.load(open(os.path.join(data_dir, ep)))
            d = os.path.join(data_dir, os.path.dirname(ep))
            for v in ex["videos"]:
                if not v["tracklets"]:
                    continue
                fr = read_frames(os.path.join(d, v["path"]), v["width"], v["height"])
                for t in v["tracklets"]:
                    mid = (t["start"] + t["end"]) // 2
                    boxes = ex["meta"]["videos"][v["id"]]["boxes"][t["id"]]
                    pix, hist = crop_features(fr[mid], boxes[mid - t["start"]])
                    feats.append({"patient": ex["patient_id"], "nodule": t["nodule"],
                                  "video": v["id"], "pix": pix, "hist": hist})
    return feats


def pair_scores(feats):
    by_p = {}
    for f in feats:
        by_p.setdefault(f["patient"], []).append(f)
    out = {"pixels": [], "histogram": [], "label": [], "same_video": []}
    for fs in by_p.values():
        for i in range(len(fs)):
            for j in range(i + 1, len(fs)):
                a, b = fs[i], fs[j]
                out["pixels"].append(float(a["pix"] @ b["pix"]))
                out["histogram"].append(float(a["hist"] @ b["hist"]))
                out["label"].append(a["nodule"] == b["nodule"])
                out["same_video"].append(a["video"] == b["video"])
    return {k: np.array(v) for k, v in out.items()}


def report(data_dir, splits=("train", "val", "test")):
    feats = tracklet_features(data_dir, splits)
    ps = pair_scores(feats)
    y = ps["label"]
    res = {"tracklets": len(feats), "pairs": int(len(y)), "positive_pairs": int(y.sum()),
           "negative_pairs": int((~y).sum())}
    for k in ("pixels", "histogram"):
        res["auc_" + k] = round(auc(ps[k], y), 4)
        dv = ~ps["same_video"]
        res["auc_%s_cross_video" % k] = round(auc(ps[k][dv], y[dv]), 4)
    return res


def main(argv=None):
    ap = OneLineParser(prog="phantom/generate difficulty")
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="all", choices=["all", "train", "val", "test"])
    ap.add_argument("--out", help="write the numbers to this JSON file")
    a = ap.parse_args(argv)
    splits = ("train", "val", "test") if a.split == "all" else (a.split,)
    res = report(a.data, splits)
    txt = json.dumps(res, indent=1)
    print(txt)
    if a.out:
        with open(a.out, "w") as f:
            f.write(txt + "\n")
    return 0
