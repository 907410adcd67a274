"""`python3 -m evaluation reid`: the method's Table 3 and Fig. 5 on our data.

For the classification model (CM) and, when given, the verification model
(VM): every tracklet of a split paired with every other tracklet of the
same patient (II.E; positive = same nodule), scored through the C library
(nid_model_embed on clips built with each package's own clip options, then
nid_model_compare: cosine for the CM, the symmetric verify probability for
the VM). Pairwise accuracy, sensitivity and specificity with exact
(Clopper-Pearson) 95% CIs at the threshold chosen on the validation split
(Youden's J, nid_eval_youden) and applied unchanged to every split; AUC
with DeLong's 95% CI (nid_eval_auc); DeLong's test CM vs VM on the same
pairs (nid_eval_delong). ROC curves of both models per split.

Writes OUT/reid.md (the table), OUT/reid.json (every number),
OUT/pairs-SPLIT.csv (each pair's label and scores: the table can be
recomputed from it) and OUT/roc-SPLIT.png, OUT/fig5.png (all splits side
by side).
"""
import csv
import os
from typing import Dict, List

import numpy as np

from training import metrics as MT

from . import common as C

SPLIT_NAMES = {"val": "Validation set", "test": "Test set", "train": "Training set"}
MODEL_NAMES = {"cm": "Classification model", "vm": "Verification model"}


def roc_points(labels: np.ndarray, scores: np.ndarray):
    """(fpr, tpr) of the ROC curve, one point per distinct score (a pair is
    "same" when score >= threshold), from (0, 0) to (1, 1)."""
    y = np.asarray(labels, np.int64)
    s = np.asarray(scores, np.float64)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1] if len(s) else np.zeros(0, np.int64)
    tp = np.cumsum(y)[last] if len(s) else np.zeros(0)
    fp = (last + 1) - tp
    P, N = max(int(y.sum()), 1), max(int(len(y) - y.sum()), 1)
    return np.r_[0.0, fp / N], np.r_[0.0, tp / P]


def pct(e) -> str:
    """A proportion (or AUC) with its CI in percent, as Table 3 prints it."""
    if e is None or e["value"] is None or np.isnan(e["value"]):
        return "n/a"
    lo, hi = e["lo"], e["hi"]
    if lo is None or np.isnan(lo):
        return "%.2f" % (100 * e["value"])
    return "%.2f (%.2f–%.2f)" % (100 * e["value"], 100 * lo, 100 * hi)


def _score_model(path: str, data: str, splits: List[str], cache, threads: int) -> Dict:
    with C.load_model(path, threads) as m:
        info = m.info
        res = {s: C.split_features(m, data, s, cache) for s in splits}
    return {"info": info, "ident": C.model_ident(path, info), "splits": res}


def run(a) -> int:
    nid = C.nid()
    os.makedirs(a.out, exist_ok=True)
    splits = list(dict.fromkeys(a.splits))
    need = list(dict.fromkeys((["val"] if a.threshold == "val" else []) + splits))
    models = {"cm": a.cm}
    if a.vm:
        models["vm"] = a.vm
    for p in models.values():
        C.check_held_out(p, a.data)
    scored = {k: _score_model(p, a.data, need, a.cache, a.threads) for k, p in models.items()}
    if "vm" in scored:
        for s in need:
            cs_c, cs_v = scored["cm"]["splits"][s], scored["vm"]["splits"][s]
            if (cs_c["clipset"].tracklet != cs_v["clipset"].tracklet
                    or not np.array_equal(cs_c["labels"], cs_v["labels"])):
                raise SystemExit("reid: the CM and VM see different pairs on %s" % s)

    # the operating point: Youden's threshold on validation, per model
    thr = {}
    for k, r in scored.items():
        if a.threshold == "val":
            v = r["splits"]["val"]
            if v["labels"].sum() == 0 or v["labels"].sum() == len(v["labels"]):
                raise SystemExit("reid: the val split has no positive or no negative pair; "
                                 "use --threshold package")
            t, j = nid.eval_youden(v["labels"].astype(np.int32), v["scores"])
            thr[k] = {"value": t, "source": "Youden's J on val (J = %.4f)" % j}
        else:
            thr[k] = {"value": float(r["info"].pair_threshold),
                      "source": "the package's pair threshold"}

    out = {"splits": {}, "thresholds": thr}
    for s in splits:
        base = scored["cm"]["splits"][s]
        y = base["labels"]
        row = {"pairs": int(len(y)), "pos": int(y.sum()), "neg": int(len(y) - y.sum()),
               "patients": len(set(base["clipset"].patient)), "tracklets": len(base["clipset"])}
        for k, r in scored.items():
            row[k] = MT.pair_metrics(y, r["splits"][s]["scores"], thr[k]["value"])
        if "vm" in scored and 0 < row["pos"] < row["pairs"]:
            d = nid.eval_delong(y.astype(np.int32), scored["cm"]["splits"][s]["scores"],
                                scored["vm"]["splits"][s]["scores"])
            row["delong"] = {"auc_cm": d.a.auc.value, "auc_vm": d.b.auc.value,
                             "z": d.z, "p_value": d.p_value}
        out["splits"][s] = row
        _write_pairs(os.path.join(a.out, "pairs-%s.csv" % s), base["clipset"], base["pairs"], y,
                     {k: r["splits"][s]["scores"] for k, r in scored.items()})

    prov = C.provenance(C.command_line(), {k: r["ident"] for k, r in scored.items()},
                        C.dataset_info(a.data))
    out["provenance"] = prov
    C.write_json(os.path.join(a.out, "reid.json"), out)
    C.write_text(os.path.join(a.out, "reid.md"), _markdown(prov, out, splits, list(scored)))
    _figures(a.out, scored, splits, thr)
    print(open(os.path.join(a.out, "reid.md")).read())
    return 0


def _write_pairs(path, cs, pairs, labels, scores) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["exam", "patient", "tracklet_a", "tracklet_b", "nodule_a", "nodule_b",
                    "label"] + list(scores))
        for p, (i, j) in enumerate(pairs):
            w.writerow([cs.exam[i], cs.patient[i], cs.tracklet[i], cs.tracklet[j],
                        int(cs.nodule[i]), int(cs.nodule[j]), int(labels[p])]
                       + [repr(float(scores[k][p])) for k in scores])


def _markdown(prov, out, splits, keys) -> str:
    L = C.header_lines("Re-identification: pairwise performance (the method's Table 3)", prov)
    L += ["Pairs: every labelled tracklet with every other tracklet of the same patient "
          "(positive = same nodule), as in the method (II.E). Scores through libnoduleid: "
          "cosine similarity of the embeddings (CM), mean of p(a,b) and p(b,a) of the "
          "verification head (VM). ACC / SE / SP in % with exact (Clopper-Pearson) 95% CIs "
          "at each model's threshold (below), AUC in % with DeLong's 95% CI.", "",
          "| | pairs (+ / −) | threshold | ACC (95% CI) | SE (95% CI) | SP (95% CI) | "
          "AUC (95% CI) |", "|---|---|---|---|---|---|---|"]
    for s in splits:
        r = out["splits"][s]
        L.append("| **%s** (%d patients, %d tracklets) | %d (%d / %d) | | | | | |" % (
            SPLIT_NAMES.get(s, s), r["patients"], r["tracklets"], r["pairs"], r["pos"], r["neg"]))
        for k in keys:
            m = r[k]
            L.append("| %s | | %.4f | %s | %s | %s | %s |" % (
                MODEL_NAMES[k], m["threshold"], pct(m.get("accuracy")),
                pct(m.get("sensitivity")), pct(m.get("specificity")), pct(m.get("auc"))))
    L += ["", "Thresholds: " + "; ".join("%s %.4f (%s)" % (MODEL_NAMES[k], t["value"], t["source"])
                                         for k, t in out["thresholds"].items()) + "."]
    if "vm" in keys:
        L += ["", "DeLong's test of the two AUCs on the same pairs:", "",
              "| set | AUC CM | AUC VM | z | p |", "|---|---|---|---|---|"]
        for s in splits:
            d = out["splits"][s].get("delong")
            if d:
                L.append("| %s | %.4f | %.4f | %.3f | %.3g |" % (
                    SPLIT_NAMES.get(s, s), d["auc_cm"], d["auc_vm"], d["z"], d["p_value"]))
            else:
                L.append("| %s | n/a | n/a | n/a | n/a (one class only) |" % SPLIT_NAMES.get(s, s))
    L += ["", "Files: `reid.json` (all numbers), `pairs-SPLIT.csv` (every pair's label and "
          "scores), `roc-SPLIT.png` and `fig5.png` (ROC curves, the method's Fig. 5; dots = "
          "each model's operating point)."]
    return "\n".join(L) + "\n"


def _figures(out_dir, scored, splits, thr) -> None:
    plt = C.pyplot()
    colors = {"cm": "tab:red", "vm": "tab:blue"}

    def draw(ax, s, letter):
        for k, r in scored.items():
            sp = r["splits"][s]
            y, sc = sp["labels"], sp["scores"]
            if y.sum() == 0 or y.sum() == len(y):
                continue
            fpr, tpr = roc_points(y, sc)
            auc = MT.pair_metrics(y, sc, thr[k]["value"])
            ax.plot(fpr, tpr, color=colors[k], lw=1.6,
                    label="%s (AUC = %.4f)" % (MODEL_NAMES[k], auc["auc"]["value"]))
            ax.plot([1 - auc["specificity"]["value"]], [auc["sensitivity"]["value"]], "o",
                    color=colors[k], ms=5)
        ax.plot([0, 1], [0, 1], ":", color="grey", lw=1)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.set_xlabel("1 − specificity (false positive rate)")
        ax.set_ylabel("sensitivity (true positive rate)")
        ax.set_title("(%s) %s" % (letter, SPLIT_NAMES.get(s, s)))
        ax.legend(loc="lower right", fontsize=8)
        ax.set_aspect("equal")

    for s in splits:
        fig, ax = plt.subplots(figsize=(4.6, 4.6))
        draw(ax, s, "abcdefgh"[splits.index(s)])
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "roc-%s.png" % s), dpi=120)
        plt.close(fig)
    fig, axes = plt.subplots(1, len(splits), figsize=(4.6 * len(splits), 4.6), squeeze=False)
    for i, s in enumerate(splits):
        draw(axes[0, i], s, "abcdefgh"[i])
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "fig5.png"), dpi=120)
    plt.close(fig)


def add_args(p) -> None:
    p.add_argument("--cm", required=True, help="classification model package (.nidm)")
    p.add_argument("--vm", help="verification model package (.nidm): adds its rows and DeLong")
    p.add_argument("--data", required=True, help="dataset directory (dataset.json)")
    p.add_argument("--splits", nargs="+", default=["val", "test"])
    p.add_argument("--out", required=True, help="results directory (created)")
    p.add_argument("--threshold", choices=("val", "package"), default="val",
                   help="operating point: Youden's threshold on val (default), or the "
                        "package's pair threshold")
    p.add_argument("--cache", default=None, help="clip cache (default DATA/.clipcache)")
    p.add_argument("--threads", type=int, default=0, help="libtorch threads (0: all cores)")
