"""Tests of the noduleid program: results, JSON shape, errors, exit codes.

Run by ctest (test `cli`) with NID_CLI pointing at the built program.
Results are cross-checked against scikit-learn.
"""
import json
import os
import subprocess

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import roc_auc_score
from sklearn.metrics.cluster import pair_confusion_matrix

CLI = os.environ["NID_CLI"]
SRC = os.environ["NID_SOURCE_DIR"]
EMB = os.path.join(SRC, "examples", "embeddings.npy")
TRUTH = os.path.join(SRC, "examples", "truth.txt")


def run(*args, ok=True):
    p = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True,
                       timeout=60)
    if ok:
        assert p.returncode == 0, p.stderr
    return p


def run_json(*args):
    return json.loads(run(*args).stdout)


def canonical(labels):
    first = {}
    return [first.setdefault(l, len(first)) for l in labels]


def sklearn_single(x, tau):
    d = cdist(x, x, "cosine")
    m = AgglomerativeClustering(n_clusters=None, distance_threshold=tau,
                                linkage="single", metric="precomputed") \
        if "metric" in AgglomerativeClustering().get_params() else \
        AgglomerativeClustering(n_clusters=None, distance_threshold=tau,
                                linkage="single", affinity="precomputed")
    return canonical(m.fit(d).labels_.tolist())


def test_version():
    p = run("version")
    assert p.stdout.startswith("noduleid 0.")
    assert run("--version").stdout == p.stdout


def test_help_lists_commands_and_exit_codes():
    out = run("--help").stdout
    for word in ("cluster", "eval", "version", "exit status"):
        assert word in out


@pytest.mark.parametrize("tau", [0.2, 0.35, 0.45, 0.6])
def test_cluster_single_matches_sklearn(tau):
    x = np.load(EMB)
    out = run_json("cluster", "--method", "single", "--threshold", tau, EMB)
    assert out["method"] == "single"
    assert out["labels"] == sklearn_single(x, tau)
    assert out["n_clusters"] == len(set(out["labels"]))


def test_example_recovers_the_four_nodules():
    out = run_json("cluster", "--method", "paper", "--threshold", 0.35,
                   "--seed", 1, EMB)
    truth = np.loadtxt(TRUTH, dtype=int).tolist()
    assert out["n_clusters"] == 4
    assert out["labels"] == canonical(truth)


def test_paper_method_is_reproducible_per_seed():
    a = run_json("cluster", "--threshold", 0.5, "--seed", 7, EMB)
    b = run_json("cluster", "--threshold", 0.5, "--seed", 7, EMB)
    assert a == b


def test_csv_and_npy_give_the_same_result(tmp_path):
    x = np.load(EMB)
    csv = tmp_path / "emb.csv"
    header = ",".join(f"f{i}" for i in range(x.shape[1]))
    np.savetxt(csv, x, delimiter=",", header=header, comments="",
               fmt="%.9g")
    a = run_json("cluster", "--method", "single", "--threshold", 0.35, EMB)
    b = run_json("cluster", "--method", "single", "--threshold", 0.35, csv)
    assert a == b


def test_cluster_from_distance_matrix(tmp_path):
    x = np.load(EMB).astype(np.float64)
    d = cdist(x, x, "cosine").astype(np.float32)
    np.fill_diagonal(d, 0)
    path = tmp_path / "dist.npy"
    np.save(path, d)
    a = run_json("cluster", "--method", "average", "--threshold", 0.4, EMB)
    b = run_json("cluster", "--method", "average", "--threshold", 0.4,
                 "--distances", path)
    assert a["labels"] == b["labels"]


def test_eval_clusters_matches_sklearn(tmp_path):
    rng = np.random.default_rng(3)
    t = rng.integers(0, 6, 200)
    p = rng.integers(0, 5, 200)
    np.save(tmp_path / "t.npy", t.astype(np.int64))
    np.savetxt(tmp_path / "p.txt", p, fmt="%d")
    out = run_json("eval", "clusters", tmp_path / "t.npy", tmp_path / "p.txt")
    (tn, fp), (fn, tp) = pair_confusion_matrix(t, p) // 2
    assert out["pairwise"]["pairs_both"] == tp
    assert out["pairwise"]["precision"] == pytest.approx(tp / (tp + fp))
    assert out["pairwise"]["recall"] == pytest.approx(tp / (tp + fn))
    assert out["n_true_clusters"] == 6
    assert out["n_pred_clusters"] == 5


def test_eval_clusters_reads_cluster_json_output(tmp_path):
    pred = tmp_path / "pred.json"
    pred.write_text(run("cluster", "--method", "paper", "--threshold", 0.35,
                        "--seed", 1, EMB).stdout)
    out = run_json("eval", "clusters", TRUTH, pred)
    assert out["pairwise"]["f"] == pytest.approx(1.0)
    assert out["bcubed"]["f"] == pytest.approx(1.0)


def test_eval_pairs_auc_and_delong(tmp_path):
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 300)
    s1 = y + rng.normal(0, 0.8, 300)
    s2 = y + rng.normal(0, 1.6, 300)
    for name, v in (("y", y), ("s1", s1), ("s2", s2)):
        np.save(tmp_path / f"{name}.npy", v)
    out = run_json("eval", "pairs", tmp_path / "y.npy", tmp_path / "s1.npy",
                   tmp_path / "s2.npy")
    a = out["scores"]["auc"]
    assert a["value"] == pytest.approx(roc_auc_score(y, s1), abs=1e-9)
    assert a["lo"] < a["value"] < a["hi"]
    assert out["scores2"]["auc"]["value"] == pytest.approx(
        roc_auc_score(y, s2), abs=1e-9)
    assert 0 <= out["delong"]["p_value"] < 0.05
    at = out["scores"]["at_threshold"]
    assert at["tp"] + at["fp"] + at["tn"] + at["fn"] == 300
    thr = out["scores"]["youden"]["threshold"]
    assert at["threshold"] == pytest.approx(thr)
    fixed = run_json("eval", "pairs", "--threshold", 0.5, tmp_path / "y.npy",
                     tmp_path / "s1.npy")
    pred = s1 >= 0.5
    assert fixed["scores"]["at_threshold"]["tp"] == int(np.sum(pred & (y == 1)))


# --- bad input: one-line error naming the problem, documented exit code ---

def assert_error(p, code, *needles):
    assert p.returncode == code, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("noduleid: ")
    for n in needles:
        assert str(n) in lines[0], lines[0]
    assert p.stdout == ""


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.npy"
    assert_error(run("cluster", missing, ok=False), 3, missing)


def test_truncated_npy(tmp_path):
    bad = tmp_path / "trunc.npy"
    np.save(bad, np.ones((10, 4), np.float32))
    bad.write_bytes(bad.read_bytes()[:-7])
    assert_error(run("cluster", bad, ok=False), 3, bad, "truncated")


def test_ragged_csv_names_line(tmp_path):
    bad = tmp_path / "ragged.csv"
    bad.write_text("1,2,3\n4,5,6\n7,8\n")
    assert_error(run("cluster", bad, ok=False), 3, f"{bad}:3")


def test_nan_embedding(tmp_path):
    x = np.load(EMB)
    x[5, 3] = np.nan
    bad = tmp_path / "nan.npy"
    np.save(bad, x)
    assert_error(run("cluster", bad, ok=False), 3, "5")


def test_bad_options():
    assert_error(run("cluster", "--method", "kmeans", EMB, ok=False), 2,
                 "kmeans")
    assert_error(run("cluster", "--threshold", "-1", EMB, ok=False), 2,
                 "threshold")
    assert_error(run("frobnicate", ok=False), 2, "frobnicate")
    p = run("cluster", ok=False)
    assert p.returncode == 2 and "usage" in p.stderr


def test_eval_mismatched_lengths(tmp_path):
    (tmp_path / "a.txt").write_text("0\n1\n1\n")
    (tmp_path / "b.txt").write_text("0\n1\n")
    assert_error(run("eval", "clusters", tmp_path / "a.txt",
                     tmp_path / "b.txt", ok=False), 3, "3", "2")


def test_eval_pairs_labels_must_be_binary(tmp_path):
    (tmp_path / "y.txt").write_text("0\n1\n2\n")
    (tmp_path / "s.txt").write_text("0.1\n0.5\n0.9\n")
    assert_error(run("eval", "pairs", tmp_path / "y.txt", tmp_path / "s.txt",
                     ok=False), 3, "0 or 1")


def test_eval_pairs_one_class_only(tmp_path):
    (tmp_path / "y.txt").write_text("1\n1\n1\n")
    (tmp_path / "s.txt").write_text("0.1\n0.5\n0.9\n")
    p = run("eval", "pairs", tmp_path / "y.txt", tmp_path / "s.txt", ok=False)
    assert p.returncode == 1 and "negative" in p.stderr
