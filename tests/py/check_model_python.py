#!/usr/bin/python3
"""check_model_python.py DRIVER MODELDIR - the C model path equals Python
torch on the same package and the same input.

For each test package (cm, vm, vm_unfrozen, cm_gray) and each load mode of
the C library (optimize=1: torch.jit.optimize_for_inference at load, the
default; optimize=0: the module as stored), model_driver runs the pipeline
on the synthetic video (tests/model_fixture.h) and writes the clips it
built, the embeddings, pooled window embeddings, verify outputs and the
similarity/distance matrices. Here Python loads the same package with
torch.jit.load and recomputes all of it from the same clips:

  embeddings (nid_model_embed_tracklet)   == module(clips)          1e-5
  pooled windows (NID_SAMPLE_WINDOWS)     == mean, L2-normalised     1e-5
  nid_model_embed on random clips (N = 5, batches of 4)             1e-5
  cosine matrix / distance                == numpy float64          1e-5
  nid_model_verify                        == module.verify(a, b)     1e-5
  verify matrix / distance                == (p(a,b) + p(b,a)) / 2   1e-5

and the metadata the C library reports (model id, sizes) is the JSON
inside the package. Prints the largest differences.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

TOL = 1e-5
THREADS = 2
MAX_BATCH = 4  # nid_model_options.max_batch default


def embed_like_c(m, x, batch=MAX_BATCH):
    """m(x) in the batches the C library uses: an unoptimised module's
    conv3d picks its algorithm (oneDNN or ATen's own) by batch size and
    shape, so batches must match for equal numbers."""
    return torch.cat([m(x[i:i + batch]) for i in range(0, x.shape[0], batch)]).numpy()


def run(*args):
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("FAIL: %s\n%s%s" % (" ".join(map(str, args)), r.stdout, r.stderr))
    return r.stdout


def check(name, got, want, tol=TOL):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        sys.exit("FAIL: %s: shape %s, expected %s" % (name, got.shape, want.shape))
    diff = float(np.max(np.abs(got - want))) if got.size else 0.0
    print("  %-34s max |C - Python| = %.2e" % (name, diff))
    if not diff <= tol:
        sys.exit("FAIL: %s differs by %.3g > %g" % (name, diff, tol))
    return diff


def cosine_matrix(e):
    e = e.astype(np.float64)
    u = e / np.linalg.norm(e, axis=1, keepdims=True)
    return np.clip(u @ u.T, -1, 1)


def check_package(driver, pkg, work):
    extra = {"noduleid.json": ""}
    mod = torch.jit.load(pkg, map_location="cpu", _extra_files=extra)
    meta = json.loads(extra["noduleid.json"])
    has_verify = meta["kind"] == "verification"
    if hasattr(mod, "verify") != has_verify:
        sys.exit("FAIL: %s: verify method vs kind" % pkg)
    # What the C loader does with optimize=1 (optimize_for_inference works
    # in place on a frozen module: load a second copy).
    opt = torch.jit.load(pkg, map_location="cpu")
    keep = ["verify"] if has_verify else []
    if hasattr(opt, "training"):
        opt = torch.jit.freeze(opt.eval(), preserved_attrs=keep)
    opt = torch.jit.optimize_for_inference(opt, keep)
    ref = {0: mod, 1: opt}
    normalized = meta["embedding"]["normalized"]
    c, t, h, w_ = (meta["input"][k] for k in ("channels", "frames", "height", "width"))
    x = np.random.default_rng(7).uniform(-1, 1, (5, c, t, h, w_)).astype(np.float32)
    for optimize in (1, 0):
        print("%s (C optimize=%d)" % (os.path.basename(pkg), optimize))
        out = os.path.join(work, "%s-%d" % (os.path.basename(pkg), optimize))
        os.makedirs(out, exist_ok=True)
        np.save(os.path.join(out, "x.npy"), x)  # nid_model_embed of 5 random clips
        text = run(driver, "fixture", pkg, out, THREADS, optimize)
        info = dict(line.split("=", 1) for line in text.splitlines())
        if (info["model_id"] != meta["model_id"]
                or int(info["embed_dim"]) != meta["embedding"]["dim"]
                or int(info["verify"]) != has_verify
                or int(info["threads"]) != THREADS):
            sys.exit("FAIL: %s: C info %s disagrees with the metadata" % (pkg, info))
        ld = lambda n: np.load(os.path.join(out, n))  # noqa: E731
        clips = torch.from_numpy(ld("clips.npy"))
        emb = ld("emb.npy")
        m = ref[optimize]
        with torch.no_grad():
            # nid_model_embed_tracklet embeds each tracklet's clip alone.
            check("embed_tracklet", emb, embed_like_c(m, clips, 1))
            windows = torch.from_numpy(ld("windows.npy"))
            nwin = int(info["windows"])
            if nwin != windows.shape[0] or nwin < 2:
                sys.exit("FAIL: %d windows pooled, %d built" % (nwin, windows.shape[0]))
            w = embed_like_c(m, windows).astype(np.float64).mean(axis=0)
            if normalized:
                w /= np.linalg.norm(w)
            check("pooled %d windows" % nwin, ld("pooled.npy"), w)
            check("cosine matrix", ld("cos.npy"), cosine_matrix(emb))
            d = np.maximum(1 - cosine_matrix(emb), 0)
            np.fill_diagonal(d, 0)
            check("cosine distance matrix", ld("dcos.npy"), d)
            if has_verify:
                a = torch.from_numpy(emb)
                b = torch.from_numpy(np.roll(emb, -1, axis=0).copy())
                check("verify p(a, b)", ld("p.npy"), m.verify(a, b).numpy())
                n = emb.shape[0]
                p = np.ones((n, n))
                for i in range(n):
                    for j in range(n):
                        if i != j:
                            p[i, j] = float(m.verify(a[i:i + 1], a[j:j + 1])[0])
                s = (p + p.T) / 2
                check("verify similarity matrix", ld("ver.npy"), s)
                dv = np.maximum(1 - s, 0)
                np.fill_diagonal(dv, 0)
                check("verify distance matrix", ld("dver.npy"), dv)
                if not (np.all(ld("p.npy") > 0) and np.all(ld("p.npy") < 1)):
                    sys.exit("FAIL: verify saturated")
            # nid_model_embed: 5 clips in batches of 4 and 1
            check("embed 5 random clips", ld("ex.npy"), embed_like_c(m, torch.from_numpy(x)))
            if optimize:
                # optimize_for_inference runs every convolution in oneDNN:
                # the result does not depend on the batch.
                check("  ... Python in one batch of 5", ld("ex.npy"),
                      m(torch.from_numpy(x)).numpy())
        if not np.all(np.isfinite(emb)) or np.allclose(emb[0], emb[1], atol=1e-3):
            sys.exit("FAIL: degenerate embeddings")


def main():
    driver, models = sys.argv[1], sys.argv[2]
    torch.set_num_threads(THREADS)
    with tempfile.TemporaryDirectory() as work:
        for name in ("cm", "vm", "vm_unfrozen", "cm_gray"):
            check_package(driver, os.path.join(models, name + ".nidm"), work)
    print("check_model_python: C embeddings, verify and matrices equal Python torch "
          "within %g" % TOL)


if __name__ == "__main__":
    main()
