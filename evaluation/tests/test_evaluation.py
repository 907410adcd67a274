"""Test of the evaluation commands (issue 9): phantom `ci` data and
random-weight CM/VM packages from training's exporter -> `python3 -m
evaluation reid` and `... cluster` -> every file is written, and the
numbers in them agree with an independent recomputation from the written
per-pair scores and per-tracklet labels (scikit-learn's ROC AUC, a numpy
DeLong, pure-Python pair counting and BCubed), with the dataset's exam
files (pair counts) and with each other (markdown vs JSON)."""
import csv
import json
import os
import subprocess
import sys
from collections import Counter, defaultdict

import numpy as np
import pytest

noduleid = pytest.importorskip("noduleid")
if "torch" not in noduleid.features() or "video" not in noduleid.features():
    pytest.skip("libnoduleid without libtorch or video input", allow_module_level=True)

from scipy.stats import norm  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHAPE = ["--frames", "4", "--height", "32", "--width", "16"]
PNG = b"\x89PNG\r\n\x1a\n"


def run(*args):
    r = subprocess.run([sys.executable] + list(args), cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


@pytest.fixture(scope="session")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("evaluation")
    data = str(tmp / "ci")
    run("-m", "phantom", "--scale", "ci", "--seed", "1", "--out", data)
    cm, vm = str(tmp / "cm.nidm"), str(tmp / "vm.nidm")
    run("-m", "training", "export", "--arch", "compact", "--random-init", "--out", cm, *SHAPE)
    run("-m", "training", "export", "--arch", "compact", "--kind", "vm", "--random-init",
        "--seed", "1", "--out", vm, *SHAPE)
    reid = str(tmp / "reid")
    run("-m", "evaluation", "reid", "--cm", cm, "--vm", vm, "--data", data, "--splits", "val",
        "test", "--out", reid, "--cache", str(tmp / "cache"), "--threads", "2")
    clus = str(tmp / "cluster")
    run("-m", "evaluation", "cluster", "--cm", cm, "--data", data, "--out", clus, "--cache",
        str(tmp / "cache"), "--threads", "2", "--grid", "12", "--repeats", "2")
    return {"data": data, "cm": cm, "vm": vm, "reid": reid, "cluster": clus}


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == PNG and os.path.getsize(path) > 2000


def labelled_tracklets(data, split):
    """(patient, nodule) of every labelled tracklet of a split, read from the
    exam JSON files directly."""
    with open(os.path.join(data, "dataset.json")) as f:
        idx = json.load(f)
    out = []
    for rel in idx["splits"][split]:
        with open(os.path.join(data, rel)) as f:
            ex = json.load(f)
        for v in ex["videos"]:
            out += [(ex["patient_id"], t["nodule"]) for t in v["tracklets"] if t["nodule"] >= 0]
    return out


def delong_numpy(y, a, b):
    """DeLong et al. 1988 via placement values (independent of lib/eval)."""
    y = np.asarray(y)
    pos, neg = y == 1, y == 0
    m, n = pos.sum(), neg.sum()

    def comps(s):
        x, z = s[pos][:, None], s[neg][None, :]
        psi = (x > z) + 0.5 * (x == z)
        return psi.mean(), psi.mean(1), psi.mean(0)
    ra, rb = comps(np.asarray(a, float)), comps(np.asarray(b, float))
    v10 = np.cov(np.vstack([ra[1], rb[1]]))
    v01 = np.cov(np.vstack([ra[2], rb[2]]))
    s = v10 / m + v01 / n
    var = s[0, 0] + s[1, 1] - 2 * s[0, 1]
    z = (ra[0] - rb[0]) / np.sqrt(var)
    return ra[0], rb[0], 2 * norm.sf(abs(z))


def header_ok(md, models):
    assert "- date: " in md and "- machine: " in md and "- command: `/usr/bin/python3 -m " \
        "evaluation " in md and "libnoduleid %s" % noduleid.version() in md
    with open("/proc/cpuinfo") as f:
        cpu = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    if cpu:
        assert cpu[0] in md
    for p in models:
        with noduleid.Model.load(p) as m:
            assert "model id `%s`" % m.info.model_id in md
    assert "scale `ci`, seed 1" in md


def test_reid_files_and_numbers(setup):
    out = setup["reid"]
    for f in ("reid.md", "reid.json", "pairs-val.csv", "pairs-test.csv"):
        assert os.path.getsize(os.path.join(out, f)) > 0, f
    for f in ("roc-val.png", "roc-test.png", "fig5.png"):
        assert is_png(os.path.join(out, f)), f
    with open(os.path.join(out, "reid.md")) as f:
        md = f.read()
    with open(os.path.join(out, "reid.json")) as f:
        js = json.load(f)
    header_ok(md, [setup["cm"], setup["vm"]])

    rows = {s: read_csv(os.path.join(out, "pairs-%s.csv" % s)) for s in ("val", "test")}
    # the threshold: Youden's J on val, recomputed over every cut of the val scores
    for k in ("cm", "vm"):
        y = np.array([int(r["label"]) for r in rows["val"]])
        s = np.array([float(r[k]) for r in rows["val"]])
        t = js["thresholds"][k]["value"]
        j = lambda c: ((s >= c) & (y == 1)).sum() / (y == 1).sum() - \
            ((s >= c) & (y == 0)).sum() / (y == 0).sum()  # noqa: E731
        assert j(t) >= max(j(c) for c in np.unique(s)) - 1e-9
    for split, rs in rows.items():
        # pairs: every tracklet with every other of its patient
        tr = labelled_tracklets(setup["data"], split)
        per = Counter(p for p, _ in tr)
        assert len(rs) == sum(n * (n - 1) // 2 for n in per.values())
        pos = sum(c * (c - 1) // 2 for c in Counter(tr).values())
        y = np.array([int(r["label"]) for r in rs])
        assert y.sum() == pos and all((r["nodule_a"] == r["nodule_b"]) == (r["label"] == "1")
                                      for r in rs)
        sj = js["splits"][split]
        assert (sj["pairs"], sj["pos"], sj["neg"]) == (len(rs), pos, len(rs) - pos)
        for k in ("cm", "vm"):
            s = np.array([float(r[k]) for r in rs])
            m = sj[k]
            auc = m["auc"]
            assert 0 <= auc["lo"] <= auc["value"] <= auc["hi"] <= 1
            assert abs(auc["value"] - roc_auc_score(y, s)) < 1e-9
            t = m["threshold"]
            assert t == js["thresholds"][k]["value"]
            pred = s >= t
            tp, tn = int((pred & (y == 1)).sum()), int((~pred & (y == 0)).sum())
            for name, val in (("accuracy", (tp + tn) / len(y)),
                              ("sensitivity", tp / y.sum()),
                              ("specificity", tn / (len(y) - y.sum()))):
                e = m[name]
                assert abs(e["value"] - val) < 1e-12, (split, k, name)
                assert 0 <= e["lo"] <= e["value"] <= e["hi"] <= 1
            row = "| %s | | %.4f | %.2f (%.2f–%.2f) |" % (
                {"cm": "Classification model", "vm": "Verification model"}[k], t,
                100 * m["accuracy"]["value"], 100 * m["accuracy"]["lo"],
                100 * m["accuracy"]["hi"])
            assert row in md, row
        a_cm, a_vm, p = delong_numpy(y, [float(r["cm"]) for r in rs],
                                     [float(r["vm"]) for r in rs])
        d = sj["delong"]
        assert abs(d["auc_cm"] - a_cm) < 1e-9 and abs(d["auc_vm"] - a_vm) < 1e-9
        assert abs(d["p_value"] - p) < 1e-6 and 0 <= d["p_value"] <= 1
        assert "| %s | %.4f | %.4f |" % ({"val": "Validation set", "test": "Test set"}[split],
                                          a_cm, a_vm) in md


def pair_counts(truth, pred):
    """Pairs in the same true cluster, same predicted, both (brute force)."""
    n = len(truth)
    t = p = b = 0
    for i in range(n):
        for j in range(i + 1, n):
            st, sp = truth[i] == truth[j], pred[i] == pred[j]
            t, p, b = t + st, p + sp, b + (st and sp)
    return t, p, b


def bcubed(truth, pred):
    n = len(truth)
    prec = rec = 0.0
    for i in range(n):
        same_p = [j for j in range(n) if pred[j] == pred[i]]
        same_t = [j for j in range(n) if truth[j] == truth[i]]
        both = len([j for j in same_p if truth[j] == truth[i]])
        prec += both / len(same_p)
        rec += both / len(same_t)
    return prec, rec, n


def test_cluster_files_and_numbers(setup):
    out = setup["cluster"]
    with open(os.path.join(out, "cluster.md")) as f:
        md = f.read()
    with open(os.path.join(out, "cluster.json")) as f:
        js = json.load(f)
    header_ok(md, [setup["cm"]])
    methods = js["order"]
    assert sorted(js["methods"]) == sorted(methods)
    assert methods == ["paper", "single", "average", "online", "dbscan", "meanshift",
                       "affinity", "agglomerative", "paper-cl", "average-cl"]
    assert is_png(os.path.join(out, "fig6.png"))
    for m in methods:
        assert is_png(os.path.join(out, "fig6-%s.png" % m)), m

    rows = read_csv(os.path.join(out, "labels-test.csv"))
    tr = labelled_tracklets(setup["data"], "test")
    assert sorted(int(r["nodule"]) for r in rows) == sorted(n for _, n in tr)
    by_exam = defaultdict(list)
    for r in rows:
        by_exam[r["exam"]].append(r)
    for m in methods:
        T = P = B = 0
        bp = br = w = 0.0
        dk = []
        for ex in by_exam.values():
            truth = [int(r["nodule"]) for r in ex]
            pred = [int(r[m]) for r in ex]
            t, p, b = pair_counts(truth, pred)
            T, P, B = T + t, P + p, B + b
            x, y, n = bcubed(truth, pred)
            bp, br, w = bp + x, br + y, w + n
            dk.append(len(set(pred)) - len(set(truth)))
        prec = B / P if P else 1.0
        rec = B / T if T else 1.0
        f = 2 * B / (P + T) if P + T else 1.0
        bp, br = bp / w, br / w
        te = js["methods"][m]["test"]
        assert (te["pairs_true"], te["pairs_pred"], te["pairs_both"]) == (T, P, B), m
        assert abs(te["pair_precision"] - prec) < 1e-12 and abs(te["pair_recall"] - rec) < 1e-12
        assert abs(te["pair_f"] - f) < 1e-12
        assert abs(te["bcubed_f"] - 2 * bp * br / (bp + br)) < 1e-9, m
        assert abs(te["count_mae"] - np.mean(np.abs(dk))) < 1e-12
        assert abs(te["count_bias"] - np.mean(dk)) < 1e-12
        tm = js["methods"][m]["time"]
        assert tm["median_s"] > 0 and tm["exams_timed"] >= 1
        assert 0 <= js["methods"][m]["val"]["pair_f"] <= 1
        # the markdown row carries the same numbers
        assert "| %.2f | %.2f | %.2f | %.2f |" % (100 * prec, 100 * rec, 100 * f,
                                                   100 * te["bcubed_f"]) in md, m
    # the constrained methods never put two tracklets of one video that are seen
    # in common frames with boxes apart (the exam's cannot-links) in one cluster
    import noduleid
    n_cl = 0
    for name, ex in by_exam.items():
        with noduleid.Exam.load(os.path.join(setup["data"], name)) as exam:
            trk = exam.tracklets
            pos = {r["tracklet"]: k for k, r in enumerate(ex)}
            for a, b in exam.cannot_link():
                ta, tb = trk[a], trk[b]
                assert ta.video == tb.video and max(ta.start, tb.start) <= min(ta.end, tb.end)
                if ta.id in pos and tb.id in pos:
                    n_cl += 1
                    for m in ("paper-cl", "average-cl"):
                        assert ex[pos[ta.id]][m] != ex[pos[tb.id]][m], (name, m, ta.id, tb.id)
    assert n_cl > 0  # the ci phantom has nodules seen together
    # online clustering gives single linkage's partition (nid_online's guarantee),
    # so both are tuned to the same tau and label the test set alike
    assert js["methods"]["online"]["params"] == js["methods"]["single"]["params"]
    for ex in by_exam.values():
        a = [int(r["single"]) for r in ex]
        b = [int(r["online"]) for r in ex]
        assert len(set(zip(a, b))) == len(set(a)) == len(set(b))


def test_phantom_patients_shared_with_training_are_refused(tmp_path):
    """A phantom dataset with the training data's seed at another scale
    repeats the training patients: evaluation refuses it; another seed, or
    the training dataset itself (held-out splits), passes."""
    import zipfile
    sys.path.insert(0, ROOT)
    from evaluation import common as C

    pkg = str(tmp_path / "m.nidm")
    meta = {"training": {"data": {"generator": "noduleid-phantom", "seed": 1,
                                  "scale": "train"}}}
    with zipfile.ZipFile(pkg, "w") as z:
        z.writestr("m/extra/noduleid.json", json.dumps(meta))

    def dataset(name, seed, scale):
        d = tmp_path / name
        d.mkdir()
        (d / "dataset.json").write_text(json.dumps(
            {"format": "noduleid-dataset", "splits": {},
             "meta": {"generator": "noduleid-phantom", "seed": seed, "scale": scale}}))
        return str(d)

    with pytest.raises(SystemExit) as e:
        C.check_held_out(pkg, dataset("paper1", 1, "paper"))
    assert "same seed" in str(e.value) and "paper" in str(e.value)
    C.check_held_out(pkg, dataset("paper2", 2, "paper"))
    C.check_held_out(pkg, dataset("train1", 1, "train"))
