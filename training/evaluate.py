"""Evaluate a model package through the C library (noduleid.Model), the
way an application uses it: clips built with the package's own clip
options, embeddings from nid_model_embed, similarities from
nid_model_compare (cosine, or the symmetric verify probability), clusters
from nid_cluster_dist at the package's tau. Writes the model card."""
import json
import os
import sys
from typing import Dict, Optional, Sequence

import numpy as np

from . import data as D
from . import metrics as MT


def package_clip_options(info) -> Dict:
    meta = info.meta
    inp, crop = meta["input"], meta["crop"]
    return D.clip_options_dict(inp["frames"], inp["height"], inp["width"], inp["channels"],
                               crop["margin"], crop["filter"], crop["interp"], crop["pad"],
                               inp["mean"], inp["std"], inp.get("coords", "none"),
                               crop.get("context_margin", 0.0))


def score_split(model, data_dir: str, split: str, cache: Optional[str] = None,
                batch: int = 16) -> Dict:
    """Embeddings, within-patient pairs, similarities and per-patient
    similarity matrices of one split, all through the C library."""
    info = model.info
    # progress to stderr: stdout carries the JSON result
    cs = D.build_clipset(data_dir, split, package_clip_options(info), cache,
                         log=lambda m: print(m, file=sys.stderr))
    mode = "verify" if info.meta["kind"] == "verification" else "cosine"
    emb = np.zeros((len(cs), info.embed_dim), np.float32)
    for s in range(0, len(cs), batch):
        emb[s:s + batch] = model.embed(np.ascontiguousarray(cs.clips[s:s + batch]))
    pairs, labels = D.eval_pairs(cs)
    scores = (model.compare(emb[pairs[:, 0]], emb[pairs[:, 1]], mode).astype(np.float64)
              if len(pairs) else np.zeros(0))
    per = MT.sim_matrices(cs, lambda idx: model.compare_matrix(emb[idx], mode))
    return {"clipset": cs, "emb": emb, "pairs": pairs, "labels": labels,
            "scores": scores, "per_patient": per, "mode": mode}


def evaluate_package(path: str, data_dir: str, split: str, cache: Optional[str] = None,
                     device: str = "cpu", threads: int = 0,
                     precision: str = "fp32") -> Dict:
    nid = D._noduleid()
    with nid.Model.load(path, device=device, threads=threads, precision=precision) as m:
        info = m.info
        if info.precision.name.lower() != precision.lower():
            raise SystemExit("evaluate: %s: precision %s is not available (running in "
                             "%s); nothing evaluated" % (path, precision,
                                                         info.precision.name.lower()))
        r = score_split(m, data_dir, split, cache)
    pm = MT.pair_metrics(r["labels"], r["scores"], info.pair_threshold)
    youden = MT.pair_metrics(r["labels"], r["scores"], None)
    cl = MT.cluster_scores(r["per_patient"], info.tau)
    cs = r["clipset"]
    grouping = None
    g = info.meta.get("training", {}).get("grouping")
    if g:
        from . import calibrate as CAL
        mode = r["mode"]
        emb = r["emb"]
        with nid.Model.load(path, device=device, threads=threads) as m:
            per, links = CAL.exam_matrices(cs, data_dir,
                                           lambda idx: m.compare_matrix(emb[idx], mode))
        grouping = CAL.grouping_scores(per, links, g["method"], g["tau"])
    return {"package": path, "model_id": info.model_id, "split": split,
            "patients": len(set(cs.patient)), "tracklets": len(cs),
            "nodules": int(len(set(cs.nodule.tolist()))),
            "pairs_at_package_threshold": pm, "youden_on_this_split": {
                k: youden.get(k) for k in ("threshold", "accuracy")},
            "clusters_at_tau": cl, "grouping": grouping, "precision": precision.lower(),
            "_labels": r["labels"], "_scores": r["scores"], "_emb": r["emb"]}


def delong(pkg_a: str, pkg_b: str, data_dir: str, split: str,
           cache: Optional[str] = None, precision_a: str = "fp32",
           precision_b: str = "fp32", threads: int = 0) -> Dict:
    """DeLong's test of two packages (or one package in two precisions) on
    the same within-patient pairs. When both give embeddings of one size
    (e.g. fp32 and int8 of one package) also the cosine between each
    tracklet's two embeddings (min, median)."""
    nid = D._noduleid()
    ra = evaluate_package(pkg_a, data_dir, split, cache, threads=threads,
                          precision=precision_a)
    rb = evaluate_package(pkg_b, data_dir, split, cache, threads=threads,
                          precision=precision_b)
    if not np.array_equal(ra["_labels"], rb["_labels"]):
        raise ValueError("delong: the packages see different pairs (clip options differ "
                         "in which tracklets build?)")
    d = nid.eval_delong(ra["_labels"].astype(np.int32), ra["_scores"], rb["_scores"])
    out = {"split": split, "auc_a": d.a.auc.value, "auc_b": d.b.auc.value, "z": d.z,
           "p_value": d.p_value, "auc_delta": d.b.auc.value - d.a.auc.value,
           "a": pkg_a, "b": pkg_b, "precision_a": precision_a.lower(),
           "precision_b": precision_b.lower(), "pairs": int(len(ra["_labels"]))}
    ea, eb = ra["_emb"].astype(np.float64), rb["_emb"].astype(np.float64)
    if ea.shape == eb.shape and len(ea):
        na = np.linalg.norm(ea, axis=1) * np.linalg.norm(eb, axis=1)
        cos = (ea * eb).sum(1) / np.maximum(na, 1e-300)
        out.update({"embeddings": int(len(cos)), "cosine_min": float(cos.min()),
                    "cosine_median": float(np.median(cos))})
    return out


def _row(name: str, r: Dict) -> str:
    pm = r["pairs_at_package_threshold"]
    cl = r["clusters_at_tau"]
    g = r.get("grouping")
    gs = ("%.3f (P %.3f, R %.3f; count exact %.0f%%)"
          % (g["pair_f"], g["pair_precision"], g["pair_recall"], 100 * g["count_exact"])
          if g else "—")
    return "| %s | %d / %d / %d | %d (%d+ / %d−) | %s | %s | %s | %s | %.3f | %s |" % (
        name, r["patients"], r["nodules"], r["tracklets"], pm["pairs"], pm["pos"], pm["neg"],
        MT.fmt_est(pm.get("auc"), pct=False), MT.fmt_est(pm.get("accuracy")),
        MT.fmt_est(pm.get("sensitivity")), MT.fmt_est(pm.get("specificity")), cl["pair_f"],
        gs)


def model_card(pkg: str, data_dir: str, splits: Sequence[str] = ("val", "test"),
               cache: Optional[str] = None, compare_with: Optional[str] = None) -> str:
    """Markdown model card: metadata, training description and the numbers
    on each split, computed through the C library."""
    from .noduleid_models import export as X
    meta = X.read_metadata(pkg)
    res = {s: evaluate_package(pkg, data_dir, s, cache) for s in splits}
    tr = meta.get("training", {})
    th = meta["thresholds"]
    lines = [
        "# Model card: %s" % os.path.basename(pkg), "",
        "- model id: `%s`" % meta["model_id"],
        "- kind: %s (%s), arch `%s`, input %d x %d x %d x %d (C x T x H x W), crop margin %g"
        % (meta["kind"], th["compare"], meta["arch"], meta["input"]["channels"],
           meta["input"]["frames"], meta["input"]["height"], meta["input"]["width"],
           meta["crop"]["margin"]),
        "- thresholds: pair %.4f (similarity), tau %.4f (distance 1 - s), calibrated: %s"
        % (th["pair"], th["tau"], th["calibrated"]),
        "- exam grouping: %s" % ("%s linkage%s at tau %.4f (pooled pairwise F %.3f on "
                                  "validation)" % (tr["grouping"]["method"],
                                                   " with the exam's cannot-links"
                                                   if tr["grouping"].get("cannot_link") else "",
                                                   tr["grouping"]["tau"],
                                                   tr["grouping"]["val_pair_f"])
                                  if tr.get("grouping") else "Algorithm 1 at tau"),
        "- training data: %s" % tr.get("description", ""),
    ]
    if "loss" in tr:
        lines.append("- loss: %s; optimizer: %s; best epoch %s of %s; seed %s"
                     % (tr["loss"], json.dumps(tr.get("optimizer")), tr.get("best_epoch"),
                        tr.get("epochs"), tr.get("seed")))
    lines += ["", "Pairs: every tracklet with every other tracklet of the same patient "
              "(positive = same nodule). Accuracy, sensitivity and specificity (%, exact 95% "
              "CIs) at the package's pair threshold; AUC with DeLong 95% CI; cluster F = "
              "pooled pairwise F of Algorithm 1 per patient at tau; grouping F = the same "
              "with the package's exam grouping (method, tau and the exam's cannot-link "
              "pairs), and the share of exams whose nodule count is exact. All computed "
              "through libnoduleid (nid_model_embed / nid_model_compare / nid_cluster / "
              "nid_exam_cannot_link / nid_eval_*).", "",
              "| split | patients / nodules / tracklets | pairs | AUC | accuracy | "
              "sensitivity | specificity | cluster F | grouping F |",
              "|---|---|---|---|---|---|---|---|---|"]
    for s in splits:
        lines.append(_row(s, res[s]))
    if compare_with:
        lines += ["", "DeLong test against `%s` on the same pairs:" % compare_with, ""]
        for s in splits:
            d = delong(pkg, compare_with, data_dir, s, cache)
            lines.append("- %s: AUC %.3f vs %.3f, z = %.2f, p = %.3g"
                         % (s, d["auc_a"], d["auc_b"], d["z"], d["p_value"]))
    return "\n".join(lines) + "\n"


def run_evaluate(a) -> int:
    if a.card:
        card = model_card(a.package, a.data, a.split, a.cache, a.compare)
        with open(a.card, "w") as f:
            f.write(card)
        print(card)
        return 0
    out = []
    for s in a.split:
        r = evaluate_package(a.package, a.data, s, a.cache, a.device, a.threads,
                             a.precision)
        r = {k: v for k, v in r.items() if not k.startswith("_")}
        if a.compare:
            r["delong"] = delong(a.package, a.compare, a.data, s, a.cache, a.precision,
                                 a.compare_precision, a.threads)
        out.append(r)
    print(json.dumps(out if len(out) > 1 else out[0], indent=1, sort_keys=True))
    return 0


def add_args(p) -> None:
    p.add_argument("--package", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--split", nargs="+", default=["test"])
    p.add_argument("--compare", help="a second package: DeLong test on the same pairs")
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "int8"),
                   help="precision of --package (nid_model_options.precision)")
    p.add_argument("--compare-precision", default="fp32", choices=("fp32", "bf16", "int8"),
                   help="precision of --compare (e.g. the same package: int8 vs fp32, "
                   "with the embeddings' cosines)")
    p.add_argument("--card", help="write a markdown model card here instead of JSON")
    p.add_argument("--cache", default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0)
