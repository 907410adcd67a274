"""Calibrate a package's grouping on validation exams, through the C library.

`python3 -m training calibrate --package IN.nidm --data DATA --split val
[--out OUT.nidm]` embeds the split's tracklets with the package (noduleid.Model,
the package's own clip options), then

- re-derives `thresholds.tau` for Algorithm 1 without constraints (what
  `nid_cluster` with the package's tau does on bare embeddings), and
- chooses `training.grouping`: the clustering method and tau that give the
  best pooled pairwise F when each exam's cannot-link pairs
  (`nid_exam_cannot_link`: tracklets seen at the same time in one video are
  different nodules) constrain the clustering. Tried: Algorithm 1 (`paper`),
  single and average linkage, each at its own best tau.

The weights are not touched (same model id); only the metadata changes, and
the package is rewritten atomically. Training (`train.py` finalize) calls
calibrate_grouping() on its validation split, so new packages carry it; this
command adds it to an existing package, or recalibrates a package on a site's
own validation exams without retraining.
"""
import json
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import data as D
from . import metrics as MT

# ties go to the earlier one: average linkage before single (no chaining)
GROUPING_METHODS = ("paper", "average", "single")


def exam_matrices(cs: D.ClipSet, data_dir: str, sim) -> Tuple[list, list]:
    """Per exam of the clip set: (truth labels, similarity matrix) and the
    exam's cannot-link pairs as indices into that matrix. sim(idx) -> n x n."""
    nid = D._noduleid()
    exams: Dict[str, List[int]] = {}
    for i, e in enumerate(cs.exam):
        exams.setdefault(e, []).append(i)
    per, links = [], []
    for rel, members in exams.items():
        idx = np.asarray(members, np.int64)
        per.append((cs.nodule[idx], np.asarray(sim(idx), np.float32)))
        pos = {cs.tracklet[i]: k for k, i in enumerate(members)}
        with nid.Exam.load(os.path.join(data_dir, rel)) as exam:
            ids = [t.id for t in exam.tracklets]
            pairs = [(pos[ids[a]], pos[ids[b]]) for a, b in exam.cannot_link()
                     if ids[a] in pos and ids[b] in pos]
        links.append(np.asarray(pairs, np.uint32).reshape(-1, 2))
    return per, links


def calibrate_grouping(per, links, hi: float,
                       methods: Sequence[str] = GROUPING_METHODS) -> Dict:
    """The method and tau with the best pooled pairwise F under the exams'
    cannot-links (ties: the earlier method in `methods`)."""
    tried = {}
    best = None
    for m in methods:
        r = MT.calibrate_tau(per, 0.0, hi, m, cannot_links=links)
        tried[m] = {k: r[k] for k in ("tau", "pair_precision", "pair_recall", "pair_f")}
        if best is None or r["pair_f"] > tried[best]["pair_f"] + 1e-12:
            best = m
    n_links = int(sum(len(x) for x in links))
    return {"method": best, "tau": float(tried[best]["tau"]), "cannot_link": True,
            "val_pair_f": float(tried[best]["pair_f"]), "tried": tried,
            "val_exams": len(per), "val_cannot_links": n_links}


def grouping_scores(per, links, method: str, tau: float) -> Dict:
    """Pooled pairwise P/R/F of clustering each exam with its cannot-links,
    and the share of exams whose nodule count comes out exact."""
    nid = D._noduleid()
    scores, exact = [], 0
    for (truth, S), cl in zip(per, links):
        truth = np.asarray(truth)
        if len(truth) < 2:
            exact += 1
            continue
        Dm = np.maximum(0.0, 1.0 - S).astype(np.float32)
        Dm = np.minimum(Dm, Dm.T)  # exact symmetry for the library's check
        np.fill_diagonal(Dm, 0.0)
        lab, k = nid.cluster_distances(np.ascontiguousarray(Dm), method, float(tau),
                                       cannot_link=cl if len(cl) else None)
        scores.append(nid.eval_clusters(truth.astype(np.int32), lab))
        exact += int(k == len(set(truth.tolist())))
    s = {"tau": float(tau)}
    s.update(MT.pool_cluster_scores(scores))
    s["count_exact"] = exact / len(per) if per else float("nan")
    s["method"], s["exams"] = method, len(per)
    return s


def rewrite_metadata(src: str, dst: str, meta: Dict) -> None:
    """The package at src with new metadata, written atomically to dst."""
    import torch
    from .noduleid_models import export as X
    scripted = torch.jit.load(src, map_location="cpu")
    X.write_atomic(scripted, meta, dst)


def run_calibrate(a) -> int:
    from .noduleid_models import export as X
    from . import evaluate as E
    nid = D._noduleid()
    meta = X.read_metadata(a.package)
    if meta.get("kind") == "verification":
        mode, hi = "verify", 1.0
    else:
        mode, hi = "cosine", 2.0
    with nid.Model.load(a.package, threads=a.threads) as model:
        r = E.score_split(model, a.data, a.split, a.cache)
        emb = r["emb"]
        per, links = exam_matrices(r["clipset"], a.data,
                                   lambda idx: model.compare_matrix(emb[idx], mode))
    plain = MT.calibrate_tau(per, 0.0, hi, "paper")
    grouping = calibrate_grouping(per, links, hi)
    grouping["data"] = "%s (%s split)" % (os.path.basename(os.path.abspath(a.data)), a.split)
    th = meta["thresholds"]
    th["tau"] = float(plain["tau"])
    th["calibrated"] = True
    meta.setdefault("training", {})["grouping"] = grouping
    meta["training"].setdefault("calibration", {})["grouping"] = (
        "method and tau of training.grouping: max pooled pairwise F over the "
        "validation exams with their cannot-link pairs (training/calibrate.py)")
    out = a.out or a.package
    rewrite_metadata(a.package, out, meta)
    print(json.dumps({"package": os.path.basename(out), "tau": th["tau"],
                      "val_pair_f_plain": plain["pair_f"], "grouping": grouping},
                     indent=1))
    return 0


def add_args(p) -> None:
    p.add_argument("--package", required=True, help="the package to calibrate")
    p.add_argument("--data", required=True, help="dataset with the validation exams")
    p.add_argument("--split", default="val")
    p.add_argument("--out", help="write here instead of rewriting --package")
    p.add_argument("--cache", default=None, help="clip cache directory")
    p.add_argument("--threads", type=int, default=0)
