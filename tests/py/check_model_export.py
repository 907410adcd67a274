#!/usr/bin/python3
"""check_model_export.py WORKDIR - the Python side of the model stage:
models.py against torchvision and the exporter's guarantees.

  - R(2+1)D-18 (models.r2plus1d_18) has exactly torchvision's
    r2plus1d_18 structure: the same state_dict names and shapes (without
    torchvision's 400-class fc), and with torchvision's weights loaded it
    computes torchvision's pooled features (fc replaced by identity);
  - the compact variant has the same block structure at widths 16..128;
  - FLOP of R(2+1)D-18 at 3 x 16 x 256 x 128: 211.7 G (the issue's ~212);
  - export: the package is scripted and frozen, `verify` survives freezing,
    the metadata round-trips, the model id is a function of the weights
    only (same seed, same id; other seed, other id), the file is written
    atomically (no temporary file left behind, readable permissions), and
    --no-freeze keeps the module unfrozen.
"""
import json
import os
import stat
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

import torch  # noqa: E402

from training.noduleid_models import export  # noqa: E402
from training.noduleid_models import models as M  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def fail(msg):
    sys.exit("FAIL: " + msg)


def check_torchvision():
    from torchvision.models.video import r2plus1d_18 as tv_r2plus1d_18

    torch.manual_seed(0)
    tv = tv_r2plus1d_18().eval()
    ours = M.r2plus1d_18().eval()
    tv_sd = {k: v for k, v in tv.state_dict().items() if not k.startswith("fc.")}
    sd = ours.state_dict()
    if sorted(tv_sd) != sorted(sd):
        fail("state_dict names differ from torchvision's: %s"
             % sorted(set(tv_sd) ^ set(sd))[:5])
    for k in sd:
        if sd[k].shape != tv_sd[k].shape:
            fail("%s: shape %s vs torchvision %s" % (k, sd[k].shape, tv_sd[k].shape))
    ours.load_state_dict(tv_sd)
    tv.fc = torch.nn.Identity()
    x = torch.rand(2, 3, 4, 32, 32)
    with torch.no_grad():
        d = float((ours(x) - tv(x)).abs().max())
    if d > 1e-5:
        fail("features differ from torchvision's by %g" % d)
    n = sum(p.numel() for p in ours.parameters())
    print("r2plus1d_18: torchvision's structure (%d parameters), features equal "
          "(max diff %.1e)" % (n, d))
    compact = M.r2plus1d_compact()
    widths = [compact.layer1[0].conv2[1].num_features, compact.layer2[0].conv2[1].num_features,
              compact.layer3[0].conv2[1].num_features, compact.layer4[0].conv2[1].num_features]
    if widths != [16, 32, 64, 128] or compact.out_dim != 128:
        fail("compact widths %s" % widths)
    blocks = [len(getattr(compact, "layer%d" % i)) for i in range(1, 5)]
    if blocks != [2, 2, 2, 2]:
        fail("compact blocks %s" % blocks)


def check_flops():
    f = M.count_flops(M.r2plus1d_18(), (3, 16, 256, 128))
    if abs(f / 1e9 - 211.7) > 0.1:
        fail("R(2+1)D-18 FLOP %.2f G, expected 211.7 G" % (f / 1e9))
    print("R(2+1)D-18 at 3x16x256x128: %.1f GFLOP per clip" % (f / 1e9))


def run_export(*args):
    r = subprocess.run([sys.executable, "-m", "training.noduleid_models.export"] + list(args),
                       cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        fail("export %s: %s" % (" ".join(args), r.stderr))


def check_export(work):
    base = ["--arch", "compact", "--random-init", "--frames", "4", "--height", "32",
            "--width", "16"]
    p = lambda n: os.path.join(work, n)  # noqa: E731
    run_export(*base, "--kind", "vm", "--out", p("a.nidm"))
    run_export(*base, "--kind", "vm", "--out", p("b.nidm"))
    run_export(*base, "--kind", "vm", "--seed", "5", "--out", p("c.nidm"))
    run_export(*base, "--kind", "cm", "--embed-dim", "24", "--no-freeze",
               "--tau", "0.3", "--pair-threshold", "0.8", "--description", "demo data",
               "--out", p("d.nidm"))
    left = [f for f in os.listdir(work) if f.startswith(".nidm-")]
    if left:
        fail("temporary files left: %s" % left)
    mode = stat.S_IMODE(os.stat(p("a.nidm")).st_mode)
    if not mode & stat.S_IRGRP:
        fail("package not group-readable (mode %o)" % mode)
    ma, mb, mc = (export.read_metadata(p(n)) for n in ("a.nidm", "b.nidm", "c.nidm"))
    if ma["model_id"] != mb["model_id"] or ma["model_id"] == mc["model_id"]:
        fail("model ids: same seed %s / %s, other seed %s"
             % (ma["model_id"], mb["model_id"], mc["model_id"]))
    a = torch.jit.load(p("a.nidm"))
    if not hasattr(a, "verify") or hasattr(a, "training"):
        fail("VM package: verify kept and module frozen expected")
    e = a(torch.zeros(2, 3, 4, 32, 16))
    pr = a.verify(e, e.flip(0))
    if pr.shape != (2,) or not bool(((pr > 0) & (pr < 1)).all()):
        fail("verify output %s" % pr)
    if ma["kind"] != "verification" or ma["verify"] != {"output": "probability"} \
            or ma["thresholds"]["compare"] != "verify" or ma["embedding"]["normalized"]:
        fail("VM metadata %s" % json.dumps(ma))
    md = export.read_metadata(p("d.nidm"))
    d = torch.jit.load(p("d.nidm"))
    if not hasattr(d, "training") or hasattr(d, "verify"):
        fail("--no-freeze CM: unfrozen module without verify expected")
    if (md["embedding"] != {"dim": 24, "normalized": True} or md["thresholds"]["tau"] != 0.3
            or md["thresholds"]["pair"] != 0.8 or md["training"]["description"] != "demo data"
            or md["kind"] != "classification" or "verify" in md):
        fail("CM metadata %s" % json.dumps(md))
    e = d(torch.rand(3, 3, 4, 32, 16))
    if e.shape != (3, 24) or float((e.norm(dim=1) - 1).abs().max()) > 1e-5:
        fail("CM embeddings not unit norm")
    try:
        d(torch.zeros(1, 3, 5, 32, 16))
        ok = False
    except Exception as ex:  # torch.jit.Error in torch 1.13
        ok = True
        if "expects clips N x 3 x 4 x 32 x 16" not in str(ex):
            fail("unexpected message: %s" % ex)
    if not ok:
        fail("forward accepted a wrong clip size")
    print("export: frozen with verify, metadata round trip, ids follow the weights, "
          "atomic write")


def main():
    work = sys.argv[1]
    os.makedirs(work, exist_ok=True)
    torch.set_num_threads(1)
    check_torchvision()
    check_flops()
    check_export(work)
    print("check_model_export: all checks passed")


if __name__ == "__main__":
    main()
