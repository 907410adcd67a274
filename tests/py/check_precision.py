#!/usr/bin/env python3
"""check_precision.py - the accuracy bound of `--precision bf16` (issue 19).

    check_precision.py NODULEID SRC_DIR WORK_DIR [MODEL]

Generates the phantom `ci` set (seed 1) unless WORK_DIR/phantom holds it,
embeds every exam's tracklets with the model (default: SRC_DIR's
models/default.nidm) in fp32 and in bf16, and checks the bound:

  - every embedding's cosine to its fp32 embedding is >= 0.998 (the
    geometry-kernel default model of 2026-12: its compact CNN part reaches
    0.9975-0.9982 in bf16, the geometry part is exact; the 0.999 of issue
    19 held for the previous default model only);
  - the pairwise AUC (all tracklet pairs of the set with a known nodule,
    same nodule = positive, score = cosine similarity) is within 0.002 of
    fp32's; DeLong's test of the two correlated AUCs is reported.

bf16 runs with NID_BF16_FORCE=1 so that the bound is checked on any CPU
(emulated bf16 where the CPU lacks AVX-512 BF16: same rounding, slower).
Where the package has a bf16 graph (`quantize --precision bf16`) and the
CPU has AVX-512 BW/VL/DQ, bf16 runs that graph and the bound is issue 19's
own: cosine >= 0.999. `--precision auto`, the program's default, must give
the bf16 graph's embeddings on a CPU with native bf16 (when the graph
recorded the bound) and fp32's bit for bit elsewhere, without a warning.
It also checks that without the override a CPU lacking bf16 falls back to
fp32 with a warning, and that a bad value is a usage error.

`--precision int8` (the int8 graph the default model ships, from
`python3 -m training quantize`): it must run (no fallback warning, other
numbers than fp32), with every embedding's cosine to fp32 >= 0.90, their
median >= 0.98 and the pairwise AUC within 0.01 of fp32's. That is int8's
own, measured behaviour for the shipped models with a margin (layer4 kept in
fp32; held-out test split: an earlier default cosine min 0.920, median
0.996, AUC 0.8623 vs 0.8670, DeLong p 3e-5; the current one min 0.990, median
0.9997, AUC 0.9374 vs 0.9373, p 0.36; models/default.md), far looser than
issue 19's 0.999, which int8 does not meet: fp32 stays the default. A package without an
int8 graph falls back to fp32 with a warning and fp32's embeddings.
Prints one JSON line with the figures.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

COS_MIN = 0.998
GRAPH_COS_MIN = 0.999
AUC_TOL = 0.002


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_has_bf16():
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def bf16_graph(model):
    """producer.bf16.cosine_min of the package's bf16 graph, None without one."""
    import zipfile
    with zipfile.ZipFile(model) as z:
        names = z.namelist()
        if not any(n.endswith("/extra/noduleid-bf16.pt") for n in names):
            return None
        meta = json.loads(z.read([n for n in names if n.endswith("/extra/noduleid.json")][0]))
    return float(meta.get("producer", {}).get("bf16", {}).get("cosine_min", -1.0))


def run(cmd, env=None, check=True):
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if check and p.returncode != 0:
        sys.exit("FAIL: %s: exit %d: %s" % (" ".join(cmd), p.returncode,
                                             p.stderr.strip()))
    return p


INT8_COS_MIN = 0.90
INT8_COS_MEDIAN = 0.98
INT8_AUC_TOL = 0.01


def pair_aucs(nid, labels, sa, sb):
    with tempfile.TemporaryDirectory() as td:
        for name, v in (("y", labels), ("a", sa), ("b", sb)):
            np.savetxt(os.path.join(td, name + ".txt"), v)
        ev = json.loads(run([nid, "eval", "pairs",
                             os.path.join(td, "y.txt"),
                             os.path.join(td, "a.txt"),
                             os.path.join(td, "b.txt")]).stdout)
    return (ev["scores"]["auc"]["value"], ev["scores2"]["auc"]["value"],
            ev["delong"]["p_value"])


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def check_int8(nid, src, work, model, exams, fp32, labels, known, iu, ju, ki):
    """--precision int8 against fp32 (the bound above) and its fallback."""
    emb = []
    for k, exam in enumerate(exams):
        out = os.path.join(work, "e%d_int8.npy" % k)
        p = run([nid, "embed", exam, "--model", model, "--precision", "int8",
                 "--out", out, "--quiet"])
        if "running in fp32" in p.stderr:
            sys.exit("FAIL: int8 fell back to fp32 on %s: %s"
                     % (os.path.basename(model), p.stderr))
        emb.append(np.load(out).astype(np.float64))
    a, b = unit(np.concatenate(fp32)), unit(np.concatenate(emb))
    if np.array_equal(a, b):
        sys.exit("FAIL: int8 embeddings equal fp32's bit for bit")
    cos = (a * b).sum(1)
    sa = (a[ki[iu]] * a[ki[ju]]).sum(1)
    sb = (b[ki[iu]] * b[ki[ju]]).sum(1)
    auc_a, auc_b, p_val = pair_aucs(nid, labels, sa, sb)
    print(json.dumps({"int8_cos_min": float(cos.min()),
                      "int8_cos_median": float(np.median(cos)),
                      "auc_fp32": auc_a, "auc_int8": auc_b,
                      "int8_delong_p": p_val}))
    if cos.min() < INT8_COS_MIN:
        sys.exit("FAIL: int8 cosine %.6f < %g" % (cos.min(), INT8_COS_MIN))
    if np.median(cos) < INT8_COS_MEDIAN:
        sys.exit("FAIL: int8 median cosine %.6f < %g" % (np.median(cos), INT8_COS_MEDIAN))
    if abs(auc_a - auc_b) > INT8_AUC_TOL:
        sys.exit("FAIL: |AUC fp32 - AUC int8| = %.4f > %g"
                 % (abs(auc_a - auc_b), INT8_AUC_TOL))

    # a package without an int8 graph: fp32, with a warning
    tiny = os.path.join(work, "no-int8.nidm")
    if not os.path.exists(tiny):
        subprocess.run([sys.executable, "-m", "training.noduleid_models.export",
                        "--arch", "compact", "--random-init", "--frames", "4",
                        "--height", "32", "--width", "16", "--out", tiny],
                       cwd=src, check=True, stdout=subprocess.DEVNULL)
    outs = {}
    for prec in ("fp32", "int8"):
        outs[prec] = os.path.join(work, "tiny_%s.npy" % prec)
        p = run([nid, "embed", exams[0], "--model", tiny, "--precision", prec,
                 "--out", outs[prec]])
        if prec == "int8" and ("running in fp32" not in p.stderr or
                               "int8" not in p.stderr):
            sys.exit("FAIL: no int8 fallback warning: " + p.stderr)
    if not np.array_equal(np.load(outs["fp32"]), np.load(outs["int8"])):
        sys.exit("FAIL: the int8 fallback's embeddings differ from fp32's")


def main():
    nid, src, work = sys.argv[1:4]
    model = sys.argv[4] if len(sys.argv) > 4 else \
        os.path.join(src, "models", "default.nidm")
    os.makedirs(work, exist_ok=True)
    data = os.path.join(work, "phantom")
    generated = not os.path.exists(os.path.join(data, "dataset.json"))
    if generated:
        run(["sh", os.path.join(src, "phantom", "generate"),
             "--scale", "ci", "--seed", "1", "--out", data, "--quiet"])
    exams = sorted(os.path.join(r, f) for r, _, fs in os.walk(data)
                   for f in fs if re.match(r"P\d+-E\d+\.json$", f))
    if not exams:
        sys.exit("FAIL: no exams in %s" % data)

    env_force = dict(os.environ, NID_BF16_FORCE="1")
    emb = {"fp32": [], "bf16": []}
    truth = []
    for k, exam in enumerate(exams):
        for prec in ("fp32", "bf16"):
            out = os.path.join(work, "e%d_%s.npy" % (k, prec))
            tr = os.path.join(work, "t%d.txt" % k)
            run([nid, "embed", exam, "--model", model, "--precision", prec,
                 "--out", out, "--truth", tr, "--quiet"], env=env_force)
            emb[prec].append(np.load(out).astype(np.float64))
        # nodule ids are per patient: make them unique across the set
        truth += [(k, int(v)) if int(v) >= 0 else None
                  for v in open(tr).read().split()]
    a = np.concatenate(emb["fp32"])
    b = np.concatenate(emb["bf16"])
    if a.shape != b.shape or a.shape[0] != len(truth):
        sys.exit("FAIL: shapes %s %s, %d truth labels" % (a.shape, b.shape,
                                                          len(truth)))
    na = a / np.linalg.norm(a, axis=1, keepdims=True)
    nb = b / np.linalg.norm(b, axis=1, keepdims=True)
    cos = (na * nb).sum(1)
    if np.array_equal(a, b):
        sys.exit("FAIL: bf16 embeddings equal fp32's bit for bit: bf16 did "
                 "not run")

    known = [i for i, t in enumerate(truth) if t is not None]
    iu, ju = np.triu_indices(len(known), 1)
    ki = np.array(known)
    labels = np.array([truth[ki[i]] == truth[ki[j]] for i, j in zip(iu, ju)],
                      dtype=np.int32)
    sa = (na[ki[iu]] * na[ki[ju]]).sum(1)
    sb = (nb[ki[iu]] * nb[ki[ju]]).sum(1)
    auc_a, auc_b, p_val = pair_aucs(nid, labels, sa, sb)
    aucs = [auc_a, auc_b]
    res = {
        "clips": "phantom ci seed 1" if generated else "WORK/phantom as given",
        "model": os.path.basename(model),
        "tracklets": int(a.shape[0]), "pairs": int(labels.size),
        "positives": int(labels.sum()),
        "cos_min": float(cos.min()), "cos_median": float(np.median(cos)),
        "auc_fp32": aucs[0], "auc_bf16": aucs[1],
        "delong_p": p_val,
        "native_bf16": cpu_has_bf16(),
    }
    # The package's bf16 graph runs where the CPU has AVX-512 BW/VL/DQ (native
    # or oneDNN-emulated bf16): then issue 19's bound itself; autocast of the
    # fp32 graph elsewhere: the looser bound above.
    graph_cos = bf16_graph(model)
    graph_runs = graph_cos is not None and {"avx512bw", "avx512vl",
                                            "avx512dq"} <= cpu_flags()
    cos_bound = GRAPH_COS_MIN if graph_runs else COS_MIN
    res["bf16_graph"] = graph_runs
    print(json.dumps(res))
    if cos.min() < cos_bound:
        sys.exit("FAIL: cosine %.6f < %g" % (cos.min(), cos_bound))
    if abs(aucs[0] - aucs[1]) > AUC_TOL:
        sys.exit("FAIL: |AUC fp32 - AUC bf16| = %.4f > %g"
                 % (abs(aucs[0] - aucs[1]), AUC_TOL))

    # Fallback without the override on a CPU without bf16, and usage errors.
    out = os.path.join(work, "fallback.npy")
    env = {k: v for k, v in os.environ.items() if k != "NID_BF16_FORCE"}
    p = run([nid, "embed", exams[0], "--model", model, "--precision", "bf16",
             "--out", out, "--quiet"], env=env)
    if not cpu_has_bf16():
        if "running in fp32" not in p.stderr:
            sys.exit("FAIL: no fallback warning: " + p.stderr)
        if not np.array_equal(np.load(out), emb["fp32"][0].astype(np.float32)):
            sys.exit("FAIL: the fallback's embeddings differ from fp32's")
    # --precision auto (the program's default; no override): the bf16 graph's
    # numbers where the CPU has native bf16 and the graph recorded the bound,
    # fp32's bit for bit elsewhere; and the default is auto.
    native_graph = (graph_cos is not None and graph_cos >= GRAPH_COS_MIN
                    and cpu_has_bf16())
    for args in (["--precision", "auto"], []):
        out = os.path.join(work, "auto.npy")
        p = run([nid, "embed", exams[0], "--model", model] + args +
                ["--out", out, "--quiet"], env=env)
        want = emb["bf16" if native_graph else "fp32"][0].astype(np.float32)
        if not np.array_equal(np.load(out), want):
            sys.exit("FAIL: %s: embeddings differ from %s's" %
                     (" ".join(args) or "the default precision",
                      "the bf16 graph" if native_graph else "fp32"))
        if "warning" in p.stderr:
            sys.exit("FAIL: precision auto warned: " + p.stderr)
    res["auto"] = "bf16" if native_graph else "fp32"
    # and says so: `info --json` reports the precision that runs
    p = run([nid, "info", "--model", model, "--json"], env=env)
    got = json.loads(p.stdout).get("precision")
    if got != res["auto"]:
        sys.exit("FAIL: info --json says precision %r, expected %r" % (got, res["auto"]))
    print(json.dumps({"auto": res["auto"]}))
    check_int8(nid, src, work, model, exams, emb["fp32"], labels, known, iu, ju,
               ki)
    for bad in ("fp8",):
        p = run([nid, "embed", exams[0], "--model", model, "--precision", bad,
                 "--out", out], check=False)
        if p.returncode != 2 or "--precision" not in p.stderr:
            sys.exit("FAIL: --precision %s: exit %d: %s" % (bad, p.returncode,
                                                            p.stderr))
    print("ok")


if __name__ == "__main__":
    main()
