"""Tests of `noduleid gallery add|list` and `noduleid match`: results
against a numpy reference, the model check, and one-line errors with the
documented exit codes for bad input.

Run by ctest (test `cli`) with NID_CLI pointing at the built program.
"""
import json
import os
import subprocess

import numpy as np
import pytest
from scipy.spatial.distance import cdist

CLI = os.environ["NID_CLI"]
MODEL = "sha256:" + "ab" * 32


def run(*args, code=0):
    p = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == code, (p.returncode, p.stderr)
    if code != 0:
        lines = p.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("noduleid: "), p.stderr
        assert p.stdout == ""
    return p


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture()
def exam1(tmp_path):
    """3 nodules (clusters 0, 1, 2) of 8-dim embeddings, 2-3 rows each."""
    rng = np.random.default_rng(3)
    centres = unit(rng.normal(size=(3, 8)))
    labels = [0, 0, 1, 2, 2, 2, 1]
    emb = np.array([centres[l] + 0.05 * rng.normal(size=8) for l in labels],
                   dtype=np.float32)
    e = tmp_path / "e1.npy"
    np.save(e, emb)
    l = tmp_path / "l1.json"
    l.write_text(json.dumps({"labels": labels, "n_clusters": 3}))
    return tmp_path, e, l, emb, np.array(labels), centres


def add(g, e, l, exam="E1", date="2023-03-01", patient="P1", model=MODEL):
    return json.loads(run("gallery", "add", g, "--model-id", model,
                          "--patient", patient, "--exam", exam, "--date", date,
                          e, l).stdout)


def test_add_list_round_trip(exam1):
    d, e, l, emb, labels, _ = exam1
    g = d / "g.nidg"
    out = add(g, e, l)
    assert out["added"] == 3 and out["n_entries"] == 3
    listed = json.loads(run("gallery", "list", g, "--json").stdout)
    assert listed["model_id"] == MODEL and listed["embed_dim"] == 8
    assert [(x["label"], x["n_tracklets"]) for x in listed["entries"]] == \
        [("N1", 2), ("N2", 2), ("N3", 3)]
    assert all(x["date"] == "2023-03-01" and x["exam"] == "E1"
               for x in listed["entries"])
    text = run("gallery", "list", g).stdout.splitlines()
    assert len(text) == 2 + 3 and text[2].split("\t")[4] == "N1"
    # a second exam of another patient appends
    add(g, e, l, exam="X", patient="P2")
    assert json.loads(run("gallery", "list", g, "--json").stdout)[
        "n_entries"] == 6
    assert not [f for f in os.listdir(d) if ".tmp-" in f]


def test_match_against_numpy_reference(exam1):
    d, e, l, emb, labels, centres = exam1
    g = d / "g.nidg"
    add(g, e, l)
    # new exam: nodule 2 and nodule 0 seen again, plus one unseen nodule
    rng = np.random.default_rng(11)
    new = np.array([centres[2] + 0.05 * rng.normal(size=8),
                    centres[0] + 0.05 * rng.normal(size=8),
                    unit(rng.normal(size=(1, 8)))[0]], dtype=np.float32)
    e2 = d / "e2.csv"
    np.savetxt(e2, new, delimiter=",")
    l2 = d / "l2.txt"
    l2.write_text("0\n1\n2\n")
    out = json.loads(run("match", g, "--model-id", MODEL, "--patient", "P1",
                         e2, l2).stdout)
    gal = np.array([unit(emb[labels == k].mean(0, keepdims=True))[0]
                    for k in range(3)])
    ref = cdist(new.astype(np.float64), gal, "cosine")
    nod = out["nodules"]
    assert [n["label"] for n in nod] == ["N1", "N2", "N3"]
    assert nod[0]["match"]["label"] == "N3"
    assert nod[1]["match"]["label"] == "N1"
    assert nod[0]["match"]["distance"] == pytest.approx(ref[0, 2], abs=2e-6)
    assert nod[1]["match"]["distance"] == pytest.approx(ref[1, 0], abs=2e-6)
    assert ref[2].min() >= 0.5 and nod[2]["match"] == "new"
    assert nod[2]["nearest_distance"] == pytest.approx(ref[2].min(), abs=2e-6)
    # a threshold below every distance makes every nodule new
    out = json.loads(run("match", g, "--model-id", MODEL, "--patient", "P1",
                         "--threshold", "0", e2, l2).stdout)
    assert all(n["match"] == "new" for n in out["nodules"])
    # another patient's nodules are never matched
    out = json.loads(run("match", g, "--model-id", MODEL, "--patient", "P9",
                         e2, l2).stdout)
    assert all(n["match"] == "new" and n["nearest_distance"] is None
               for n in out["nodules"])


def test_other_model_refused(exam1):
    d, e, l, *_ = exam1
    g = d / "g.nidg"
    add(g, e, l)
    before = g.read_bytes()
    p = run("match", g, "--model-id", "sha256:other", "--patient", "P1", e, l,
            code=1)
    assert "gallery made by model %s, embeddings from model sha256:other" \
        % MODEL in p.stderr
    p = run("gallery", "add", g, "--model-id", "sha256:other", "--patient",
            "P1", "--exam", "E2", "--date", "2024-01-01", e, l, code=1)
    assert "gallery made by model" in p.stderr
    assert g.read_bytes() == before


def test_bad_inputs(exam1):
    d, e, l, emb, *_ = exam1
    g = d / "g.nidg"
    add(g, e, l)
    before = g.read_bytes()
    base = ["--model-id", MODEL, "--patient", "P1"]
    add_opts = base + ["--exam", "E2", "--date", "2024-01-01"]
    # command line problems: exit 2
    run("gallery", code=2)
    run("gallery", "frob", g, code=2)
    run("gallery", "add", g, e, l, code=2)  # no options
    run("gallery", "add", *add_opts, g, e, code=2)  # missing LABELS
    run("gallery", "add", "--model-id", MODEL, "--patient", "P1", "--exam",
        "E2", "--date", "2024-02-30", g, e, l, code=2)
    run("gallery", "add", "--model-id", "bad id", "--patient", "P1", "--exam",
        "E2", "--date", "2024-01-01", d / "new.nidg", e, l, code=2)
    run("gallery", "add", *base, "--exam", "E1", "--date", "2023-03-01", g, e,
        l, code=2)  # same exam twice
    run("gallery", "list", code=2)
    run("gallery", "list", "--bogus", g, code=2)
    run("match", g, e, l, code=2)
    run("match", *base, "--threshold", "-1", g, e, l, code=2)
    run("match", *base, "--threshold", "abc", g, e, l, code=2)
    run("match", *base, g, e, code=2)
    # missing or malformed files: exit 3
    run("gallery", "list", d / "missing.nidg", code=3)
    bad = d / "bad.nidg"
    bad.write_bytes(before[:-3])
    p = run("gallery", "list", bad, code=3)
    assert "truncated" in p.stderr
    flipped = bytearray(before)
    flipped[-5] ^= 0x10
    bad.write_bytes(bytes(flipped))
    assert "CRC" in run("match", *base, bad, e, l, code=3).stderr
    bad.write_bytes(b"not a gallery at all, just text\n" * 8)
    assert "not a noduleid gallery" in run("gallery", "add", *add_opts, bad,
                                           e, l, code=3).stderr
    run("match", *base, g, d / "missing.npy", l, code=3)
    short = d / "short.txt"
    short.write_text("0\n1\n")
    assert "labels" in run("match", *base, g, e, short, code=3).stderr
    neg = d / "neg.txt"
    neg.write_text("\n".join(["-1"] * len(emb)) + "\n")
    run("gallery", "add", *add_opts, g, e, neg, code=3)
    nan = d / "nan.npy"
    x = emb.copy()
    x[1, 2] = np.nan
    np.save(nan, x)
    run("match", *base, g, nan, l, code=3)
    run("gallery", "add", *add_opts, g, nan, l, code=3)
    wide = d / "wide.npy"
    np.save(wide, np.ones((len(emb), 5), np.float32))
    assert "floats" in run("match", *base, g, wide, l, code=1).stderr
    run("gallery", "add", *add_opts, g, wide, l, code=3)
    # nothing above changed the gallery or left temporary files
    assert g.read_bytes() == before
    assert not [f for f in os.listdir(d) if ".tmp-" in f]
    assert "usage" in run("gallery", "--help").stdout
    assert "usage" in run("match", "--help").stdout
