"""`noduleid group` with cosine comparison: similarities against numpy,
clusters against a Python Algorithm 1 (splitmix64 seeds as documented),
connected components and scikit-learn, scores against scikit-learn's
pair confusion matrix; the summary; the shipped default model on the
bundled sample exam (it runs; its accuracy is not tested)."""
import json
import re

import numpy as np
import pytest

from nidcli import (EMB_TOL, FEAT, SAMPLE, TRACKLETS, assert_error, canonical,
                    components, cos_sim, gap_threshold, make_exam,
                    needs_model, paper, pkg, run, run_json)


# ---- group ------------------------------------------------------------------

@needs_model
@pytest.mark.parametrize("method", ["paper", "single", "average"])
def test_group_cosine_against_references(syn, cm_ref, tmp_path, method):
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.metrics.cluster import pair_confusion_matrix
    d, exam, vids = syn
    ref, _, meta = cm_ref
    sim = cos_sim(ref)
    dist = np.maximum(1 - sim, 0)
    np.fill_diagonal(dist, 0)
    tau = gap_threshold(dist)
    out = tmp_path / "r.json"
    # the references know no cannot-link pairs: leave the exam's out
    r = run_json("group", exam, "--model", pkg("cm.nidm"), "--method", method,
                 "--threshold", tau, "--seed", 5, "--json", "--out", out,
                 "--threads", 1, "--no-cannot-link")
    assert json.loads(out.read_text()) == r
    assert r["format"] == "noduleid-group" and r["version"] == 1
    assert r["compare"] == "cosine"
    assert r["clustering"]["method"] == method
    assert r["clustering"]["threshold"] == pytest.approx(tau, abs=1e-6)
    assert r["clustering"]["threshold_from"] == "--threshold"
    assert r["model"]["model_id"] == meta["model_id"]
    S = np.array(r["similarity"]["matrix"])
    assert r["similarity"]["tracklets"] == [t[1] for t in TRACKLETS]
    assert np.max(np.abs(S - sim)) < EMB_TOL
    got = [t["cluster"] for t in r["tracklets"]]
    n = len(TRACKLETS)
    if method == "paper":
        want = paper(dist, tau, 5)
    elif method == "single":
        want = components(dist, tau, list(range(n)))[0]
    else:
        m = AgglomerativeClustering(n_clusters=None, distance_threshold=tau,
                                    linkage="average", metric="precomputed")
        want = canonical(m.fit(dist).labels_)
    assert got == want
    k = max(got) + 1
    assert r["n_nodules"] == k == len(r["nodules"])
    # nodules -> tracklets is the inverse of tracklets -> nodule
    for c, nj in enumerate(r["nodules"]):
        members = [i for i in range(n) if got[i] == c]
        assert nj["label"] == "N%d" % (c + 1)
        assert nj["tracklets"] == [TRACKLETS[i][1] for i in members]
        assert nj["n_tracklets"] == len(members)
        mean = ref[members].mean(axis=0)
        assert np.allclose(nj["embedding"], mean / np.linalg.norm(mean),
                           atol=EMB_TOL)
        assert sorted(nj["truth_nodules"]) == \
            sorted({TRACKLETS[i][2] for i in members})
    for i, t in enumerate(r["tracklets"]):
        assert t["nodule"] == "N%d" % (got[i] + 1)
        assert t["truth"] == TRACKLETS[i][2]
        j = max((q for q in range(n) if q != i), key=lambda q: sim[i, q])
        assert t["nearest"]["tracklet"] == TRACKLETS[j][1]
    # scores against the exam's nodule ids
    truth = [t[2] for t in TRACKLETS]
    (tn, fp), (fn, tp) = pair_confusion_matrix(truth, got) // 2
    s = r["truth"]
    assert s["n_nodules"] == 3 and s["n_nodules_found"] == k
    assert s["nodule_count_error"] == k - 3
    prec = tp / (tp + fp) if tp + fp else float(tp + fn == 0)
    rec = tp / (tp + fn)
    assert s["pairwise"]["precision"] == pytest.approx(prec)
    assert s["pairwise"]["recall"] == pytest.approx(rec)
    assert s["exact"] == (canonical(truth) == got)
    t = r["timings"]
    assert all(t[key] >= 0 for key in ("load_exam_s", "load_model_s",
                                       "clips_s", "embed_s", "total_s"))


@needs_model
def test_group_summary_names_every_nodule_and_the_score(syn, cm_ref):
    d, exam, vids = syn
    p = run("group", exam, "--model", pkg("cm.nidm"), "--threshold", 0,
            "--threads", 1)
    out = p.stdout
    assert "7 nodules:" in out  # tau 0: nothing links, one per tracklet
    for i, t in enumerate(TRACKLETS):
        assert re.search(r"N%d\s+1 tracklet\s+%s\b" % (i + 1, t[1]), out), out
    assert "ground truth (7 tracklets with nodule ids): 3 nodules; found 7 " \
        "(+4)" in out
    assert len(out.splitlines()) <= 24  # one screen
    assert p.stderr == ""


@needs_model
def test_group_without_truth_and_model_tau(tmp_path, cm_ref):
    exam, _ = make_exam(tmp_path, with_truth=False)
    r = run_json("group", exam, "--model", pkg("cm.nidm"), "--json",
                 "--threads", 1)
    assert r["truth"] is None
    # the package's own tau (not calibrated: 0.5) and Algorithm 1
    assert r["clustering"]["threshold"] == pytest.approx(0.5)
    assert r["clustering"]["threshold_from"] == "model, not calibrated"
    assert r["clustering"]["method"] == "paper"
    assert r["model"]["calibrated"] is False
    assert "no ground truth" in run("group", exam, "--model",
                                    pkg("cm.nidm")).stdout


@needs_model
def test_group_method_from_model_metadata(syn, tmp_path):
    """training.cluster_method in the package metadata (optional) picks
    the clustering method; --method overrides it."""
    import torch
    d, exam, vids = syn
    extra = {"noduleid.json": ""}
    m = torch.jit.load(pkg("cm.nidm"), map_location="cpu", _extra_files=extra)
    meta = json.loads(extra["noduleid.json"])
    meta["training"]["cluster_method"] = "average"
    p = tmp_path / "avg.nidm"
    torch.jit.save(m, str(p), _extra_files={"noduleid.json": json.dumps(meta)})
    r = run_json("group", exam, "--model", p, "--json", "--threads", 1)
    assert r["clustering"]["method"] == "average"
    assert r["clustering"]["method_from"] == "model"
    r = run_json("group", exam, "--model", p, "--method", "single", "--json",
                 "--threads", 1)
    assert r["clustering"]["method"] == "single"
    assert r["clustering"]["method_from"] == "--method"


def test_group_sample_exam_with_the_default_model(tmp_path):
    """The bundled exam and the shipped default model: it runs (no check of
    the model's accuracy), and the grouping is a partition of the 11
    tracklets scored against the 3 true nodules."""
    if not {"torch", "video"} <= FEAT:
        assert_error(["group", SAMPLE, "--quiet"], 1, "libtorch")
        return
    r = run_json("group", SAMPLE, "--json", "--quiet")
    assert r["model"]["found_by"] in ("build tree default", "NODULEID_MODEL",
                                      "installed default")
    ids = [t["id"] for t in r["tracklets"]]
    assert len(ids) == 11 and len(set(ids)) == 11
    grouped = [i for nj in r["nodules"] for i in nj["tracklets"]]
    assert sorted(grouped) == sorted(ids)
    assert r["truth"]["n_nodules"] == 3 and r["truth"]["n_tracklets"] == 11
