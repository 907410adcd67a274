#!/usr/bin/env python3
"""check_batch.py SOURCE_DIR WORK_DIR NODULEID PHANTOM_DIR [kill] - ctest
python_batch and python_batch_kill: `python3 -m noduleid.batch` on a
2-worker Dask LocalCluster over the sample exam and a generated phantom set
(PHANTOM_DIR: `phantom/generate --scale ci`, made by the fixture
python_batch_phantom).

Without `kill`: every exam done, one result + embedding shard each, the
sample exam's nodules the same as `noduleid group` gives (partition and
embeddings), every nodule in the gallery store once; a re-run does nothing;
an exam with a missing video fails with a message naming the file (exit
status 1, listed in the summary) while the others are skipped.

With `kill`: a worker is SIGKILLed (NID_BATCH_TEST_KILL) after it added one
exam to the gallery but before it wrote the result, with Dask's retries off:
the run reports that exam failed (KilledWorker), the re-run completes it and
nothing is lost (every exam has its result) or duplicated (the gallery holds
every nodule once, the killed exam's added only once).
"""
import glob
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time

import numpy as np

src, work, nid, phantom = sys.argv[1:5]
kill = sys.argv[5:] == ["kill"]   # "run" (or nothing): the normal checks
model = os.path.join(src, "models", "default.nidm")
sample = os.path.join(src, "examples", "sample-exam")

shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
t0 = time.time()
shutil.copytree(phantom, os.path.join(work, "ci"))
run = os.path.join(work, "run")
gallery = os.path.join(work, "gallery.nidb")


def batch(*inputs, env=None, expect=0):
    cmd = [sys.executable, "-m", "noduleid.batch", "--out", run, "--workers",
           "2", "--threads", "1", "--model", model, "--gallery", gallery,
           "--quiet"] + list(inputs)
    t = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=dict(os.environ, **(env or {})))
    out = p.stdout.decode()
    print("$ %s\n%s(exit %d, %.1f s)" % (" ".join(cmd[1:]), out, p.returncode,
                                        time.time() - t))
    assert p.returncode == expect, "exit %d, expected %d" % (p.returncode,
                                                               expect)
    with open(os.path.join(run, "summary.json")) as f:
        return json.load(f), out


def results():
    out = {}
    for p in sorted(glob.glob(os.path.join(run, "results", "*.json"))):
        with open(p) as f:
            r = json.load(f)
        out[r["batch"]["exam_path"]] = r
    return out


def gallery_rows():
    con = sqlite3.connect(gallery)
    rows = con.execute("SELECT patient, exam, label FROM entry").fetchall()
    con.close()
    return rows


def check_complete(n_exams):
    res = results()
    assert len(res) == n_exams, "%d results for %d exams" % (len(res), n_exams)
    for path, r in res.items():
        assert r["format"] == "noduleid-group" and r["n_nodules"] >= 1, path
        emb = np.load(os.path.join(run, r["batch"]["embeddings"]))
        assert emb["nodules"].shape == (r["n_nodules"], r["model"]["embed_dim"])
        assert emb["tracklets"].shape[0] == r["exam"]["n_tracklets"]
        assert np.allclose(emb["nodules"],
                           [n["embedding"] for n in r["nodules"]], atol=1e-6)
        assert list(emb["labels"]) == [t["cluster"] for t in r["tracklets"]]
    rows = gallery_rows()
    want = sorted((r["exam"]["patient_id"], r["exam"]["exam_id"], n["label"])
                  for r in res.values() for n in r["nodules"])
    assert sorted(rows) == want, "gallery rows != results' nodules"
    assert not glob.glob(os.path.join(run, "*", ".tmp-*")), "temporaries left"
    return res


with open(os.path.join(work, "ci", "dataset.json")) as f:
    ci = json.load(f)["splits"]
# the sample exam as patient S0001 (the phantom's patients are P0001...)
orig = os.path.join(sample, "P0001", "P0001-E1.json")
with open(orig) as f:
    ex = json.load(f)
ex["patient_id"], ex["exam_id"] = "S0001", "S0001-E1"
for v in ex["videos"]:
    v["path"] = os.path.join(sample, "P0001", v["path"])
os.makedirs(os.path.join(work, "sample"))
with open(os.path.join(work, "sample", "S0001-E1.json"), "w") as f:
    json.dump(ex, f)
sample = os.path.join(work, "sample")
exams = [os.path.join(sample, "S0001-E1.json")] + sorted(
    os.path.join(work, "ci", p) for split in ci.values() for p in split)
n = len(exams)
assert n >= 4, exams

if not kill:
    s, _ = batch(sample, os.path.join(work, "ci", "dataset.json"))
    assert (s["n_exams"], s["n_done"], s["n_failed"], s["workers"]) == \
        (n, n, 0, 2), s
    assert s["exams_per_s"] > 0 and s["gallery"]["added"] == n, s
    res = check_complete(n)
    # the same nodules as `noduleid group` (one process, same model)
    g = json.loads(subprocess.run(
        [nid, "group", exams[0], "--json", "--quiet", "--threads", "1",
         "--model", model], check=True, stdout=subprocess.PIPE).stdout)
    b = res[exams[0]]
    assert [t["cluster"] for t in b["tracklets"]] == \
        [t["cluster"] for t in g["tracklets"]], "partition differs from group"
    assert b["n_nodules"] == g["n_nodules"] >= 1
    assert np.allclose([x["embedding"] for x in b["nodules"]],
                       [x["embedding"] for x in g["nodules"]], atol=1e-4)
    assert [x["tracklets"] for x in b["nodules"]] == \
        [x["tracklets"] for x in g["nodules"]]
    # the result is a "noduleid-group" result the program takes
    subprocess.run([nid, "gallery", "add", os.path.join(work, "file.nidg"),
                    "--from-group", os.path.join(
                        run, "results", b["batch"]["key"] + ".json")],
                   check=True, stdout=subprocess.DEVNULL)
    mtimes = {p: os.stat(p).st_mtime_ns
              for p in glob.glob(os.path.join(run, "results", "*"))}

    # re-run: nothing to do, nothing rewritten, nothing added
    s, _ = batch(sample, os.path.join(work, "ci"))
    assert (s["n_done"], s["n_skipped"], s["n_failed"]) == (0, n, 0), s
    assert mtimes == {p: os.stat(p).st_mtime_ns
                      for p in glob.glob(os.path.join(run, "results", "*"))}
    check_complete(n)

    # a broken exam, and another file with the ids of an exam already in
    # the gallery (the original sample exam is P0001-E1 of patient P0001,
    # as the phantom's first exam): failures with their messages, never
    # dropped or skipped
    with open(exams[0]) as f:
        bad = json.load(f)
    bad["exam_id"] = "BROKEN"
    bad["videos"][0]["path"] = os.path.join(work, "missing.mp4")
    bad_path = os.path.join(work, "sample", "broken.json")
    with open(bad_path, "w") as f:
        json.dump(bad, f)
    s, out = batch(sample, os.path.join(work, "ci"), orig, expect=1)
    assert (s["n_exams"], s["n_done"], s["n_skipped"], s["n_failed"]) == \
        (n + 2, 0, n, 2), s
    err = {f["exam"]: f["error"] for f in s["failures"]}
    assert "missing.mp4" in err[bad_path], err
    assert "already holds a different exam P0001-E1" in err[orig], err
    assert "FAILED %s" % bad_path in out and "missing.mp4" in out
    assert len(glob.glob(os.path.join(run, "failed", "*.json"))) == 2
    os.unlink(bad_path)
    check_complete(n)
    # a second run on the same folder while one holds it is refused
    import fcntl
    with open(os.path.join(run, ".lock")) as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        p = subprocess.run([sys.executable, "-m", "noduleid.batch", "--out",
                            run, "--model", model, sample],
                           stderr=subprocess.PIPE)
        assert p.returncode == 3 and b"in use by another run" in p.stderr
else:
    victim = os.path.basename(exams[2])
    s, out = batch(sample, os.path.join(work, "ci"), expect=1, env={
        "NID_BATCH_TEST_KILL": victim + ":gallery",
        "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"})
    failed = {f["exam"]: f["error"] for f in s["failures"]}
    assert exams[2] in failed and "KilledWorker" in failed[exams[2]], failed
    assert s["n_done"] + s["n_failed"] == n and s["n_done"] >= 1, s
    victim_exam = json.load(open(exams[2]))
    # the worker died after the gallery transaction: the rows are there,
    # the result is not
    assert any(r[1] == victim_exam["exam_id"] for r in gallery_rows())
    assert exams[2] not in results()
    s2, out = batch(sample, os.path.join(work, "ci"))
    assert (s2["n_done"], s2["n_skipped"], s2["n_failed"]) == \
        (s["n_failed"], s["n_done"], 0), s2
    res = check_complete(n)
    assert res[exams[2]]["batch"]["gallery"] == "already in the gallery"
    assert not glob.glob(os.path.join(run, "failed", "*.json"))
print("check_batch%s: ok (%d exams, %.1f s)" % (" kill" if kill else "", n,
                                                time.time() - t0))
