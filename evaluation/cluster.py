"""`python3 -m evaluation cluster`: the method's Table 4 and Fig. 6 on our data.

Features: the classification model's embeddings of every labelled
tracklet (clips built with the package's clip options, nid_model_embed),
computed once per split before any clustering. Each exam is clustered on
its own, as the method clusters each video. Methods:

- ours, through the C library: Algorithm 1 (`paper`), `single` and
  `average` linkage (nid_cluster, cosine distance, link when d < tau) and
  the online clusterer (nid_online: tracklets added in the exam's order);
- scikit-learn's DBSCAN (cosine), MeanShift, AffinityPropagation and
  AgglomerativeClustering (average linkage, cosine).

Tuning "as the method did": a grid over each method's main parameter
(tau, eps, bandwidth, preference, distance threshold; DBSCAN also over
min_samples, AffinityPropagation over damping) maximising the pooled
pairwise F on the validation exams; the chosen parameters are applied to
the test exams. Scores on test (nid_eval_clusters): pooled pairwise
precision / recall / F (pair counts summed over exams, as the method
"accumulated all results"), BCubed precision / recall / F (item-weighted
over exams), the error in the number of nodules per exam, and the time per
exam: for every test exam with >= 2 tracklets the median of --repeats
calls in this process (features precomputed, one warm-up call per method
first), then the median over exams. DBSCAN's noise points and
AffinityPropagation's unconverged items (label -1) count as singletons.

Writes OUT/cluster.md, OUT/cluster.json, OUT/labels-test.csv (every test
tracklet's true nodule and each method's cluster: the table can be
recomputed from it), OUT/fig6.png and OUT/fig6-METHOD.png.
"""
import csv
import os
import time
import warnings
from typing import Callable, Dict, List, Sequence

import numpy as np

from training import metrics as MT

from . import common as C

METHODS = ("paper", "single", "average", "online", "dbscan", "meanshift", "affinity",
           "agglomerative", "paper-cl", "average-cl")
# methods that use the exam's cannot-link constraints (nid_exam_cannot_link)
CONSTRAINED = {"paper-cl": "paper", "average-cl": "average"}
LABELS = {
    "paper": "Algorithm 1 (ours, `paper`)",
    "single": "single linkage (ours, `single`)",
    "average": "average linkage (ours, `average`)",
    "online": "online (ours, `nid_online`)",
    "dbscan": "DBSCAN (scikit-learn)",
    "meanshift": "MeanShift (scikit-learn)",
    "affinity": "AffinityPropagation (scikit-learn)",
    "agglomerative": "Agglomerative, average (scikit-learn)",
    "paper-cl": "Algorithm 1 + exam cannot-links (ours, `paper`)",
    "average-cl": "average linkage + exam cannot-links (ours, `average`)",
}
SHORT = {"paper": "Algorithm 1", "single": "single", "average": "average", "online": "online",
         "dbscan": "DBSCAN", "meanshift": "MeanShift", "affinity": "AffinityPropagation",
         "agglomerative": "Agglomerative", "paper-cl": "Alg. 1 + cannot-link",
         "average-cl": "average + cannot-link"}


def singletons_for_noise(labels: np.ndarray) -> np.ndarray:
    """Label -1 (DBSCAN noise, AffinityPropagation without convergence)
    becomes one new cluster per item."""
    lab = np.asarray(labels, np.int64).copy()
    noise = np.flatnonzero(lab < 0)
    if len(noise):
        lab[noise] = lab.max(initial=-1) + 1 + np.arange(len(noise))
    return lab.astype(np.int32)


# ---------------------------------------------------------------------------
# The methods: fit(x, params) -> int32 labels, x = one exam's n x d features
# ---------------------------------------------------------------------------

def _fit_ours(method: str, constrained: bool = False) -> Callable:
    nid = C.nid()

    def fit(x, p, cl=None):
        return nid.cluster(x, method, p["tau"], metric="cosine", seed=0,
                           cannot_link=cl if constrained else None)[0]
    return fit


def _fit_online(x, p):
    nid = C.nid()
    with nid.OnlineClusterer(x.shape[1], p["tau"], metric="cosine") as oc:
        for row in x:
            oc.add(row)
        return oc.labels()


def _sk():
    import sklearn.cluster as skc
    from sklearn.exceptions import ConvergenceWarning
    return skc, ConvergenceWarning


def _fit_dbscan(x, p):
    skc, _ = _sk()
    return singletons_for_noise(skc.DBSCAN(eps=p["eps"], min_samples=p["min_samples"],
                                           metric="cosine").fit_predict(x))


def _fit_meanshift(x, p):
    skc, _ = _sk()
    return singletons_for_noise(skc.MeanShift(bandwidth=p["bandwidth"]).fit_predict(x))


def _fit_affinity(x, p):
    skc, CW = _sk()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CW)
        return singletons_for_noise(skc.AffinityPropagation(
            preference=p["preference"], damping=p["damping"], random_state=0).fit_predict(x))


def _fit_agglomerative(x, p):
    skc, _ = _sk()
    kw = dict(n_clusters=None, distance_threshold=p["threshold"], linkage="average")
    try:
        m = skc.AgglomerativeClustering(metric="cosine", **kw)
    except TypeError:  # scikit-learn < 1.2
        m = skc.AgglomerativeClustering(affinity="cosine", **kw)
    return singletons_for_noise(m.fit_predict(x))


FIT = {"paper": _fit_ours("paper"), "single": _fit_ours("single"),
       "average": _fit_ours("average"), "online": _fit_online, "dbscan": _fit_dbscan,
       "meanshift": _fit_meanshift, "affinity": _fit_affinity,
       "agglomerative": _fit_agglomerative,
       "paper-cl": _fit_ours("paper", True), "average-cl": _fit_ours("average", True)}


def fit(method: str, x: np.ndarray, params: Dict, cl=None) -> np.ndarray:
    """Cluster one exam (cl: its cannot-link pairs, used by the -cl
    methods); an exam of one tracklet is one cluster."""
    if len(x) < 2:
        return np.zeros(len(x), np.int32)
    if method in CONSTRAINED:
        return np.asarray(FIT[method](x, params, cl), np.int32)
    return np.asarray(FIT[method](x, params), np.int32)


# ---------------------------------------------------------------------------
# Grids, from the validation exams' own distances
# ---------------------------------------------------------------------------

def _within(exams, fn) -> List[np.ndarray]:
    out = []
    for _, x, _ in exams:
        if len(x) >= 2:
            iu = np.triu_indices(len(x), 1)
            out.append(fn(x)[iu])
    return out


def grids(val_exams, n: int) -> Dict[str, List[Dict]]:
    """Parameter candidates of every method, ordered by the main parameter
    (so that ties resolve to the middle of a run, MT.best_index)."""
    nid = C.nid()
    cos = _within(val_exams, lambda x: nid.distance_matrix(x, "cosine").astype(np.float64))
    euc = _within(val_exams, lambda x: nid.distance_matrix(x, "euclidean").astype(np.float64))
    tau = MT.threshold_candidates(cos, 0.0, 2.0, n)
    half = MT.threshold_candidates(cos, 0.0, 2.0, max(2, n // 2))
    bw = MT.threshold_candidates(euc, 1e-6, np.inf, n)
    sim = -np.concatenate(euc) ** 2 if euc else np.array([-1.0])
    q = np.quantile(sim, np.linspace(0, 1, max(2, n // 3)))
    pref = np.unique(np.r_[sim.min() * np.array([10.0, 4.0, 2.0]), q, 0.0])
    return {
        "paper": [{"tau": float(t)} for t in tau],
        "single": [{"tau": float(t)} for t in tau],
        "average": [{"tau": float(t)} for t in tau],
        "online": [{"tau": float(t)} for t in tau],
        "dbscan": [{"eps": float(e), "min_samples": m} for m in (1, 2, 3, 5) for e in half],
        "meanshift": [{"bandwidth": float(b)} for b in bw],
        "affinity": [{"preference": float(p), "damping": d} for d in (0.5, 0.7, 0.9)
                     for p in pref],
        "agglomerative": [{"threshold": float(t)} for t in tau],
        "paper-cl": [{"tau": float(t)} for t in tau],
        "average-cl": [{"tau": float(t)} for t in tau],
    }


# ---------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------

def score(exams, labels: Sequence[np.ndarray]) -> Dict:
    """Pooled pairwise and BCubed scores and the nodule-count error of one
    method's labels over a list of exams [(truth, x, cannot-links)]."""
    nid = C.nid()
    per = [nid.eval_clusters(np.asarray(t, np.int32), np.asarray(lab, np.int32))
           for (t, _, _), lab in zip(exams, labels)]
    out = MT.pool_cluster_scores(per)
    w = np.array([len(t) for t, _, _ in exams], np.float64)
    bp = float(np.sum(w * [s.bcubed_precision for s in per]) / w.sum())
    br = float(np.sum(w * [s.bcubed_recall for s in per]) / w.sum())
    out.update(bcubed_precision=bp, bcubed_recall=br,
               bcubed_f=2 * bp * br / (bp + br) if bp + br else 0.0)
    dk = np.array([s.n_pred_clusters - s.n_true_clusters for s in per], np.float64)
    out.update(count_mae=float(np.mean(np.abs(dk))), count_bias=float(np.mean(dk)),
               count_exact=float(np.mean(dk == 0)), exams=len(per),
               nodules_true=int(sum(s.n_true_clusters for s in per)),
               clusters_pred=int(sum(s.n_pred_clusters for s in per)))
    return out


def tune(method: str, val_exams, grid: List[Dict]) -> Dict:
    fs, res = [], []
    for p in grid:
        r = MT.pool_cluster_scores([C.nid().eval_clusters(
            np.asarray(t, np.int32), fit(method, x, p, cl)) for t, x, cl in val_exams])
        fs.append(r["pair_f"])
        res.append(r)
    i = MT.best_index(fs)
    return {"params": grid[i], "val": res[i], "candidates": len(grid)}


def time_per_exam(method: str, exams, params: Dict, repeats: int) -> Dict:
    """Median over the exams with >= 2 tracklets of the median of `repeats`
    calls (features precomputed; one warm-up call first)."""
    big = [(x, cl) for _, x, cl in exams if len(x) >= 2]
    if not big:
        return {"median_s": None, "mean_s": None, "exams_timed": 0, "repeats": repeats}
    fit(method, big[0][0], params, big[0][1])
    per = []
    for x, cl in big:
        t = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fit(method, x, params, cl)
            t.append(time.perf_counter() - t0)
        per.append(float(np.median(t)))
    return {"median_s": float(np.median(per)), "mean_s": float(np.mean(per)),
            "total_s": float(np.sum(per)), "exams_timed": len(big), "repeats": repeats}


# ---------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------

def _exam_list(r, data_dir: str):
    cs, emb = r["clipset"], r["emb"]
    ex = C.exams_of(cs)
    names = list(ex)
    return names, [(cs.nodule[ex[e]], np.ascontiguousarray(emb[ex[e]], np.float32),
                    exam_cannot_link(data_dir, e, [cs.tracklet[i] for i in ex[e]]))
                   for e in names], ex


def exam_cannot_link(data_dir: str, rel: str, tracklet_ids: Sequence[str]) -> np.ndarray:
    """The exam's cannot-link pairs (nid_exam_cannot_link) as indices into
    tracklet_ids (the exam's tracklets that have features)."""
    nid = C.nid()
    pos = {t: k for k, t in enumerate(tracklet_ids)}
    with nid.Exam.load(os.path.join(data_dir, rel)) as exam:
        ids = [t.id for t in exam.tracklets]
        pairs = [(pos[ids[a]], pos[ids[b]]) for a, b in exam.cannot_link()
                 if ids[a] in pos and ids[b] in pos]
    return np.asarray(pairs, np.uint32).reshape(-1, 2)


def run(a) -> int:
    methods = list(dict.fromkeys(a.methods))
    for m in methods:
        if m not in METHODS:
            raise SystemExit("cluster: unknown method %r (known: %s)" % (m, ", ".join(METHODS)))
    C.check_held_out(a.cm, a.data)
    os.makedirs(a.out, exist_ok=True)
    with C.load_model(a.cm, a.threads) as model:
        info = model.info
        feats = {s: C.split_features(model, a.data, s, a.cache) for s in (a.tune_split, a.split)}
    _, val_exams, _ = _exam_list(feats[a.tune_split], a.data)
    names, test_exams, test_idx = _exam_list(feats[a.split], a.data)
    g = grids(val_exams, a.grid)

    results = {}
    for m in methods:
        t0 = time.perf_counter()
        tu = tune(m, val_exams, g[m])
        labels = [fit(m, x, tu["params"], cl) for _, x, cl in test_exams]
        results[m] = {"label": LABELS[m], "params": tu["params"], "val": tu["val"],
                      "candidates": tu["candidates"], "test": score(test_exams, labels),
                      "time": time_per_exam(m, test_exams, tu["params"], a.repeats),
                      "tuning_s": time.perf_counter() - t0, "_labels": labels}
        print("cluster: %-14s %s F %.4f, %s F %.4f (%s; %.1f s)" % (
            m, a.tune_split, tu["val"]["pair_f"], a.split, results[m]["test"]["pair_f"],
            _params(tu["params"]), results[m]["tuning_s"]), flush=True)

    prov = C.provenance(C.command_line(), {"cm": C.model_ident(a.cm, info)},
                        C.dataset_info(a.data))
    _write_labels(os.path.join(a.out, "labels-%s.csv" % a.split), feats[a.split]["clipset"],
                  names, test_idx, {m: r["_labels"] for m, r in results.items()})
    out = {"provenance": prov, "split": a.split, "order": methods,
           "tune_split": a.tune_split, "grid": a.grid, "repeats": a.repeats, "features": {
               "model": "cm", "dim": int(info.embed_dim), "normalized": bool(info.normalized)},
           "methods": {m: {k: v for k, v in r.items() if not k.startswith("_")}
                       for m, r in results.items()}}
    fig_exam = a.fig_exam or _pick_exam(names, test_exams)
    out["figure_exam"] = fig_exam
    C.write_json(os.path.join(a.out, "cluster.json"), out)
    C.write_text(os.path.join(a.out, "cluster.md"), _markdown(prov, out, a))
    if fig_exam is not None:
        if fig_exam not in names:
            raise SystemExit("cluster: --fig-exam %s is not a %s exam" % (fig_exam, a.split))
        e = names.index(fig_exam)
        _figures(a.out, fig_exam, test_exams[e], {m: r["_labels"][e] for m, r in results.items()})
    print(open(os.path.join(a.out, "cluster.md")).read())
    return 0


def _params(p: Dict) -> str:
    return ", ".join("%s = %s" % (k, ("%.4g" % v) if isinstance(v, float) else v)
                     for k, v in p.items())


def _pick_exam(names, exams):
    """The test exam with the most tracklets among those with >= 2 nodules
    (else the largest): a typical, non-trivial picture."""
    if not names:
        return None
    key = [(len(np.unique(t)) >= 2, len(t)) for t, _, _ in exams]
    return names[max(range(len(names)), key=lambda i: key[i])]


def _write_labels(path, cs, names, idx, labels) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["exam", "patient", "tracklet", "nodule"] + list(labels))
        for e, name in enumerate(names):
            for j, i in enumerate(idx[name]):
                w.writerow([name, cs.patient[i], cs.tracklet[i], int(cs.nodule[i])]
                           + [int(labels[m][e][j]) for m in labels])


def _ms(t) -> str:
    return "n/a" if t is None else "%.3g" % (1e3 * t)


def _markdown(prov, out, a) -> str:
    L = C.header_lines("Clustering tracklets into nodules (the method's Table 4)", prov)
    ms = out["methods"]
    first = next(iter(ms.values()))["test"] if ms else {}
    L += ["Features: the classification model's embeddings (dimension %d), computed once "
          "through libnoduleid before any clustering. Each exam of the `%s` split "
          "(%s exams, %s nodules) is clustered on its own. Parameters tuned on the `%s` split: "
          "the grid point (%d candidates for the main parameter) with the best pooled "
          "pairwise F. Precision / recall / F: pairwise, pair counts pooled over the exams "
          "(%%); BCubed F: item-weighted over the exams (%%); count error: mean absolute "
          "error of the number of nodules per exam (bias = mean signed error, clusters "
          "minus nodules; exact = %% of exams with the right count). Time: per exam, "
          "median over the exams with >= 2 tracklets of the median of %d calls in one "
          "process, features precomputed; ratio = time / "
          "Algorithm 1's time in the same run."
          % (out["features"]["dim"], out["split"], first.get("exams", "?"),
             first.get("nodules_true", "?"), out["tune_split"], out["grid"], out["repeats"]),
          "",
          "| method | parameters (tuned on %s) | %s F | precision | recall | F-score | "
          "BCubed F | count error: MAE (bias, exact) | time/exam (ms) | vs Alg. 1 |"
          % (out["tune_split"], out["tune_split"]),
          "|---|---|---|---|---|---|---|---|---|---|"]
    base = ms.get("paper", {}).get("time", {}).get("median_s")
    for m, r in ms.items():
        t = r["test"]
        tm = r["time"]["median_s"]
        ratio = "%.1fx" % (tm / base) if (tm and base) else "n/a"
        L.append("| %s | %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f (%+.2f, %.0f%%) | %s | %s |"
                 % (r["label"], _params(r["params"]), 100 * r["val"]["pair_f"],
                    100 * t["pair_precision"], 100 * t["pair_recall"], 100 * t["pair_f"],
                    100 * t["bcubed_f"], t["count_mae"], t["count_bias"], 100 * t["count_exact"],
                    _ms(tm), ratio))
    L += ["", "Files: `cluster.json` (all numbers, per-method tuning), `labels-%s.csv` (each "
          "tracklet's true nodule and cluster per method), `fig6.png` and `fig6-METHOD.png` "
          "(exam `%s`: 2-D PCA projection of its features; symbol = true nodule, colour = "
          "cluster; the method's Fig. 6)." % (out["split"], out.get("figure_exam"))]
    return "\n".join(L) + "\n"


MARKERS = "o*s^Dvp<>hXP"


def _draw(ax, xy, truth, lab, title) -> None:
    import matplotlib.cm as cm
    from scipy.spatial import ConvexHull, QhullError
    cmap = cm.get_cmap("tab10" if lab.max() < 10 else "tab20")
    nods = list(dict.fromkeys(truth.tolist()))
    for c in np.unique(lab):
        pts = xy[lab == c]
        col = cmap(int(c) % cmap.N)
        if len(pts) >= 3:
            try:
                h = ConvexHull(pts)
                ax.fill(pts[h.vertices, 0], pts[h.vertices, 1], color=col, alpha=0.18, lw=0)
            except QhullError:  # collinear points
                ax.plot(pts[:, 0], pts[:, 1], color=col, alpha=0.3, lw=8,
                        solid_capstyle="round")
        elif len(pts) == 2:
            ax.plot(pts[:, 0], pts[:, 1], color=col, alpha=0.3, lw=8, solid_capstyle="round")
        for k, nod in enumerate(nods):
            sel = (lab == c) & (truth == nod)
            if sel.any():
                ax.scatter(xy[sel, 0], xy[sel, 1], marker=MARKERS[k % len(MARKERS)], s=60,
                           color=col, edgecolors="black", linewidths=0.6, zorder=3)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def _figures(out_dir, exam, data, labels) -> None:
    plt = C.pyplot()
    truth, x, _ = data
    xc = x.astype(np.float64) - x.mean(0)
    if len(x) >= 2:
        u, s, _ = np.linalg.svd(xc, full_matrices=False)
        xy = u[:, :2] * s[:2] if u.shape[1] >= 2 else np.c_[u[:, 0] * s[0], np.zeros(len(x))]
    else:
        xy = np.zeros((len(x), 2))
    truth = np.asarray(truth)
    k = len(np.unique(truth))
    for m, lab in labels.items():
        fig, ax = plt.subplots(figsize=(3.6, 3.4))
        _draw(ax, xy, truth, np.asarray(lab), "%s: %d clusters (%d nodules)"
              % (SHORT[m], len(np.unique(lab)), k))
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "fig6-%s.png" % m), dpi=120)
        plt.close(fig)
    n = len(labels)
    cols = min(4, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.3 * rows), squeeze=False)
    for i, (m, lab) in enumerate(labels.items()):
        _draw(axes[i // cols, i % cols], xy, truth, np.asarray(lab),
              "(%s) %s: %d clusters" % ("abcdefghijkl"[i], SHORT[m], len(np.unique(lab))))
    for j in range(n, rows * cols):
        axes[j // cols, j % cols].axis("off")
    fig.suptitle("exam %s: %d tracklets of %d nodules (PCA of the CM features; symbol = "
                 "nodule, colour = cluster)" % (exam, len(truth), k), fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "fig6.png"), dpi=120)
    plt.close(fig)


def add_args(p) -> None:
    p.add_argument("--cm", required=True, help="classification model package (.nidm)")
    p.add_argument("--data", required=True, help="dataset directory (dataset.json)")
    p.add_argument("--out", required=True, help="results directory (created)")
    p.add_argument("--split", default="test", help="split scored (default test)")
    p.add_argument("--tune-split", default="val", help="split tuned on (default val)")
    p.add_argument("--methods", nargs="+", default=list(METHODS), help=" ".join(METHODS))
    p.add_argument("--grid", type=int, default=100,
                   help="candidates of each method's main parameter (default 100)")
    p.add_argument("--repeats", type=int, default=7, help="timed calls per exam (default 7)")
    p.add_argument("--fig-exam", default=None,
                   help="exam (its JSON path in dataset.json) of the Fig. 6 picture "
                        "(default: the largest test exam with >= 2 nodules)")
    p.add_argument("--cache", default=None, help="clip cache (default DATA/.clipcache)")
    p.add_argument("--threads", type=int, default=0, help="libtorch threads (0: all cores)")
