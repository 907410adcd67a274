"""Pair metrics and threshold calibration, all through the library's own
evaluation functions (noduleid.eval_*), so training, the CLI and the model
card report the same numbers."""
import math
from typing import Dict, List, Sequence, Tuple

import numpy as np

from .data import ClipSet, _noduleid


def pair_metrics(labels: np.ndarray, scores: np.ndarray, threshold=None) -> Dict:
    """AUC (with CI) and accuracy/sensitivity/specificity (with CIs) at
    `threshold` (default: the Youden threshold of these scores)."""
    nid = _noduleid()
    labels = np.asarray(labels, np.int32)
    scores = np.asarray(scores, np.float64)
    out: Dict = {"pairs": int(len(labels)), "pos": int(labels.sum()),
                 "neg": int(len(labels) - labels.sum())}
    if out["pos"] == 0 or out["neg"] == 0:
        out["auc"] = None
        if threshold is None:
            out["accuracy"] = None
            return out
    else:
        a = nid.eval_auc(labels, scores)
        out["auc"] = {"value": a.auc.value, "lo": a.auc.lo, "hi": a.auc.hi}
        if threshold is None:
            threshold, j = nid.eval_youden(labels, scores)
            out["youden_j"] = j
    b = nid.eval_threshold(labels, scores, float(threshold))
    out["threshold"] = float(threshold)
    for k in ("accuracy", "sensitivity", "specificity"):
        e = getattr(b, k)
        out[k] = {"value": e.value, "lo": e.lo, "hi": e.hi}
    out["confusion"] = {"tp": b.tp, "fp": b.fp, "tn": b.tn, "fn": b.fn}
    return out


def sim_matrices(cs: ClipSet, sim_fn) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Per patient: (truth nodule labels, similarity matrix) from
    sim_fn(indices) -> n x n similarities."""
    out = []
    for members in cs.patients().values():
        idx = np.asarray(members, np.int64)
        out.append((cs.nodule[idx], np.asarray(sim_fn(idx), np.float32)))
    return out


def pool_cluster_scores(scores) -> Dict:
    """Pooled pairwise precision/recall/F over several clusterings (e.g.
    one per patient or exam): the pair counts of every
    noduleid.ClusterScores are summed, then P = both/pred, R = both/true
    (1 when there is no pair), F = 2 both / (pred + true)."""
    both = pred = true = 0
    for s in scores:
        both += s.pairs_both
        pred += s.pairs_pred
        true += s.pairs_true
    p = both / pred if pred else 1.0
    r = both / true if true else 1.0
    f = 2 * both / (pred + true) if (pred + true) else 1.0
    return {"pair_precision": p, "pair_recall": r, "pair_f": f,
            "pairs_true": true, "pairs_pred": pred, "pairs_both": both}


def cluster_scores(per_patient, tau: float, method: str = "paper",
                   cannot_links=None) -> Dict:
    """Pooled pairwise precision/recall/F of clustering every patient's
    tracklets at threshold tau (d = max(0, 1 - s) linked when d < tau).
    cannot_links: optional, one m x 2 index array per entry of per_patient
    (the exam's nid_exam_cannot_link pairs), passed to the clustering."""
    nid = _noduleid()
    scores = []
    for k, (truth, S) in enumerate(per_patient):
        n = len(truth)
        if n < 2:
            continue
        D = np.maximum(0.0, 1.0 - S).astype(np.float32)
        D = np.minimum(D, D.T)  # exact symmetry for the library's check
        np.fill_diagonal(D, 0.0)
        cl = cannot_links[k] if cannot_links is not None and len(cannot_links[k]) else None
        lab, _ = nid.cluster_distances(np.ascontiguousarray(D), method, float(tau),
                                       cannot_link=cl)
        scores.append(nid.eval_clusters(np.asarray(truth, np.int32), lab))
    out = {"tau": float(tau)}
    out.update(pool_cluster_scores(scores))
    return out


def threshold_candidates(values: Sequence[np.ndarray], lo: float, hi: float,
                         max_candidates: int = 300) -> np.ndarray:
    """Thresholds worth trying for a rule "link when value < t": the
    midpoints between consecutive distinct values (a score of the
    partition only changes there), thinned to max_candidates by quantiles,
    plus lo + 1e-6 (nothing linked) and just above the largest value
    (everything linked), clipped to [lo, hi]; sorted, unique."""
    d = np.unique(np.concatenate([np.ravel(v) for v in values])) if len(values) else np.zeros(0)
    cand = (d[:-1] + d[1:]) / 2 if len(d) > 1 else d
    if len(cand) > max_candidates:
        cand = np.quantile(cand, np.linspace(0, 1, max_candidates))
    return np.unique(np.clip(np.concatenate([[lo + 1e-6], cand,
                                             [d.max() + 1e-4 if len(d) else hi]]), lo, hi))


def best_index(values: Sequence[float]) -> int:
    """Index of the best (largest) value; ties go to the middle of the
    first run of consecutive best candidates (the most robust choice when
    candidates are ordered by the parameter)."""
    fs = np.asarray(values, np.float64)
    best = np.flatnonzero(fs >= fs.max() - 1e-12)
    run = [best[0]]
    for b in best[1:]:
        if b == run[-1] + 1:
            run.append(b)
        else:
            break
    return int(run[len(run) // 2])


def calibrate_tau(per_patient, lo: float, hi: float, method: str = "paper",
                  max_candidates: int = 300, cannot_links=None) -> Dict:
    """tau maximising the pooled pairwise F over the validation patients.
    Candidates: midpoints between consecutive distinct within-patient
    distances (the F only changes there), thinned to max_candidates by
    quantiles, plus the range ends; ties go to the middle of the best run."""
    ds = []
    for _, S in per_patient:
        n = S.shape[0]
        iu = np.triu_indices(n, 1)
        ds.append(np.maximum(0.0, 1.0 - S[iu]))
    cand = threshold_candidates(ds, lo, hi, max_candidates)
    res = [cluster_scores(per_patient, t, method, cannot_links) for t in cand]
    pick = res[best_index([r["pair_f"] for r in res])]
    pick["candidates"] = int(len(cand))
    return pick


def fmt_est(e, pct: bool = True) -> str:
    if e is None:
        return "n/a"
    k = 100.0 if pct else 1.0
    if isinstance(e, dict):
        if e["value"] is None or (isinstance(e["value"], float) and math.isnan(e["value"])):
            return "n/a"
        return ("%.1f (%.1f–%.1f)" if pct else "%.3f (%.3f–%.3f)") % (
            e["value"] * k, e["lo"] * k, e["hi"] * k)
    return str(e)
