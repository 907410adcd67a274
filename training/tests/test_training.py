"""Smoke test of the training code (issue 7): phantom `ci` data -> clips
through the library's clip builder -> CM and VM overfit a fixed batch ->
a short CLI run each -> package -> loaded by the C library, whose
embeddings (and VM probabilities) must equal PyTorch's. Also: --resume
continues bit-exactly. Tiny clips (compact arch, 4 x 32 x 16)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

noduleid = pytest.importorskip("noduleid")
if "torch" not in noduleid.features() or "video" not in noduleid.features():
    pytest.skip("libnoduleid without libtorch or video input", allow_module_level=True)

from training import data as D  # noqa: E402
from training import losses as L  # noqa: E402
from training import train as T  # noqa: E402
from training.noduleid_models import export as X  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHAPE = dict(frames=4, height=32, width=16)
COMMON = ["--arch", "compact", "--frames", "4", "--height", "32", "--width", "16",
          "--threads", "2"]


@pytest.fixture(scope="session")
def ci(tmp_path_factory):
    out = tmp_path_factory.mktemp("phantom") / "ci"
    subprocess.run([sys.executable, "-m", "phantom", "--scale", "ci", "--seed", "1",
                    "--out", str(out)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return str(out)


@pytest.fixture(scope="session")
def sets(ci, tmp_path_factory):
    cache = str(tmp_path_factory.mktemp("cache"))
    opts = D.clip_options_dict(**SHAPE)
    tr = D.build_clipset(ci, "train", opts, cache)
    va = D.build_clipset(ci, "val", opts, cache)
    return tr, va, cache


def cli(*args):
    r = subprocess.run([sys.executable, "-m", "training"] + list(args), cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_clip_cache_matches_library(ci, sets):
    tr, _, cache = sets
    assert len(tr) > 10 and tr.clips.shape[1:] == (3, 4, 32, 16)
    # a second build hits the cache (same key) and gives the same clips
    again = D.build_clipset(ci, "train", D.clip_options_dict(**SHAPE), cache)
    assert again.key == tr.key and np.array_equal(np.asarray(again.clips), np.asarray(tr.clips))
    # one clip rebuilt directly through the binding
    ex = noduleid.Exam.load(os.path.join(ci, tr.exam[3]))
    t = ex.tracklet(tr.tracklet[3])
    with noduleid.Video.open(ex.video(t.video).resolved_path, format="gray") as v:
        c = noduleid.build_clip(v, ex, t.index, D.to_clip_options(D.clip_options_dict(**SHAPE)))
    assert np.array_equal(c[0], tr.clips[3])
    assert t.nodule == tr.nodule[3]


def test_context_clips_compose_plain_and_wide(ci, tmp_path):
    """The library's clips with context channels (nid_clip_options.
    context_margin, what build_clipset asks for) are the clip without them
    followed by the image channels of the same frames cropped at the
    context margin, exactly; the cache key is that of the options dict,
    which names context_margin only when it is > 0."""
    cache = str(tmp_path / "cache")
    shape = dict(frames=4, height=24, width=16, channels=1, coords="frame")
    assert "context_margin" not in D.clip_options_dict(**shape)
    opts = D.clip_options_dict(**shape, context_margin=0.6)
    assert opts == {**D.clip_options_dict(**shape), "context_margin": 0.6}
    cs = D.build_clipset(ci, "val", opts, cache, log=lambda m: None)
    assert cs.key == D.cache_key(ci, "val", opts, "gray")
    plain = D.build_clipset(ci, "val", D.clip_options_dict(**shape), cache, log=lambda m: None)
    wide = D.build_clipset(ci, "val", D.clip_options_dict(**{**shape, "coords": "none"},
                                                          margin=0.6), cache,
                           log=lambda m: None)
    assert len(cs) > 5 and cs.clips.shape[1:] == (1 + 2 + 1, 4, 24, 16)
    assert list(cs.tracklet) == list(plain.tracklet) == list(wide.tracklet)
    want = np.concatenate([np.asarray(plain.clips), np.asarray(wide.clips)], axis=1)
    np.testing.assert_array_equal(np.asarray(cs.clips), want)
    assert not np.array_equal(np.asarray(wide.clips), np.asarray(plain.clips)[:, :1])


def test_losses_reference():
    # batch-hard triplet against a brute-force loop
    g = torch.Generator().manual_seed(0)
    e = torch.randn(8, 5, generator=g)
    y = torch.tensor([0, 0, 1, 1, 2, 2, 2, 3])
    ref = []
    for a in range(8):
        dp = max([float((e[a] - e[p]).norm()) for p in range(8) if y[p] == y[a] and p != a],
                 default=0.0)
        dn = min(float((e[a] - e[n]).norm()) for n in range(8) if y[n] != y[a])
        ref.append(max(0.0, 0.5 + dp - dn))
    assert abs(float(L.batch_hard_triplet(e, y, 0.5)) - np.mean(ref)) < 1e-5
    fa, fb = e[:4], e[4:]
    s = torch.tensor([1, 0, 1, 0])
    d = (fa - fb).norm(dim=1)
    want = float((s * d ** 2 + (1 - s) * torch.relu(1.0 - d)).sum() / 8)
    assert abs(float(L.contrastive(fa, fb, s, 1.0, "paper")) - want) < 1e-5
    # Hadsell's squared hinge, on L2-normalised embeddings
    na, nb = fa / fa.norm(dim=1, keepdim=True), fb / fb.norm(dim=1, keepdim=True)
    dn = (na - nb).norm(dim=1)
    want = float((s * dn ** 2 + (1 - s) * torch.relu(1.2 - dn) ** 2).sum() / 8)
    assert abs(float(L.contrastive(fa, fb, s, 1.2, "hadsell", True)) - want) < 1e-5
    # supervised contrastive (L_out) against a loop; label 3 has no positive: skipped
    z = e / e.norm(dim=1, keepdim=True)
    ref = []
    for a in range(8):
        pos = [p for p in range(8) if y[p] == y[a] and p != a]
        if not pos:
            continue
        den = sum(float(torch.exp(z[a] @ z[k] / 0.2)) for k in range(8) if k != a)
        ref.append(-np.mean([float(z[a] @ z[p] / 0.2) - np.log(den) for p in pos]))
    assert abs(float(L.supcon(e, y, 0.2)) - np.mean(ref)) < 1e-4
    assert float(L.supcon(e, torch.arange(8), 0.2)) == 0.0  # no positives at all


def _mean_first_last(xs, k=3):
    return float(np.mean(xs[:k])), float(np.mean(xs[-k:]))


def test_cm_overfits_fixed_batch(sets):
    tr, _, _ = sets
    rng = T.seed_all(0)
    ids = sorted(set(tr.nodule.tolist()))
    y = torch.tensor([ids.index(int(n)) for n in tr.nodule])
    b = D.pk_batches(tr, 3, 4, rng)[0]
    model = X.make_model("compact", "classification", 3, None, None, len(ids))
    model.embedder.normalize = False  # as train.make_model
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=5e-4)
    x = T.to_tensor(tr, b)
    steps = [T.train_step_cm(model, opt, x, y[b], 0.3) for _ in range(15)]
    losses = [s["loss"] for s in steps]
    first, last = _mean_first_last(losses)
    assert last < 0.7 * first, losses
    ce0, ce1 = _mean_first_last([s["ce"] for s in steps])
    assert ce1 < 0.7 * ce0, steps


def test_vm_overfits_fixed_batch(sets):
    tr, _, _ = sets
    rng = T.seed_all(0)
    pairs, lab, cnt = D.vm_pairs(tr, rng)
    assert cnt["pos"] > 0 and cnt["neg_same_patient"] > 0
    pairs, lab = pairs[:8], lab[:8]
    model = X.make_model("compact", "verification", 3, None, None, 1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=5e-4)
    xa, xb = T.to_tensor(tr, pairs[:, 0]), T.to_tensor(tr, pairs[:, 1])
    yt = torch.from_numpy(lab)
    losses = [T.train_step_vm(model, opt, xa, xb, yt, 1.0)["loss"] for _ in range(15)]
    first, last = _mean_first_last(losses)
    assert last < 0.7 * first, losses


def test_eval_pairs_within_patient(sets):
    _, va, _ = sets
    pairs, lab = D.eval_pairs(va)
    n_by_p = [len(m) for m in va.patients().values()]
    assert len(pairs) == sum(n * (n - 1) // 2 for n in n_by_p)
    for (i, j), l in zip(pairs, lab):
        assert va.patient[i] == va.patient[j] and l == int(va.nodule[i] == va.nodule[j])


@pytest.mark.parametrize("kind", ["cm", "vm"])
def test_train_export_load_equal(ci, sets, tmp_path, kind):
    _, va, cache = sets
    run = str(tmp_path / kind)
    cli("train", "--model", kind, "--data", ci, "--out", run, "--epochs", "2",
        "--max-iters", "2", "--lr", "1e-3", "--cache", cache, *COMMON)
    log = [json.loads(l) for l in open(os.path.join(run, "log.jsonl"))]
    assert [r["epoch"] for r in log if "epoch" in r] == [0, 1]
    pkg = os.path.join(run, "model.nidm")
    meta = X.read_metadata(pkg)
    assert meta["thresholds"]["calibrated"] is True
    assert "train patients" in meta["training"]["description"]
    g = meta["training"]["grouping"]  # the exam grouping, calibrated on val
    assert g["method"] in ("paper", "average", "single") and g["cannot_link"] is True
    assert 0.0 <= g["tau"] <= (2.0 if kind == "cm" else 1.0) and 0.0 <= g["val_pair_f"] <= 1.0
    card = open(os.path.join(run, "model.md")).read()
    assert "| val |" in card and "| test |" in card

    # the same weights in PyTorch vs the package through the C library
    ck = torch.load(os.path.join(run, "best.pt"))
    model = X.make_model("compact", T.KIND[kind], 3, None, None, len(ck["id_map"]))
    model.load_state_dict(ck["model"])
    model.eval()
    assert model.embedder.normalize == (kind == "cm")  # what the package declares
    assert meta["embedding"]["normalized"] == (kind == "cm")
    clips = np.array(va.clips[:6])
    with torch.no_grad():
        want = model.embed(torch.from_numpy(clips)).numpy()
    with noduleid.Model.load(pkg, threads=2) as m:
        assert m.info.model_id == meta["model_id"]
        got = m.embed(clips)
        scale = max(1.0, float(np.abs(want).max()))
        assert np.abs(got - want).max() <= 1e-5 * scale
        if kind == "vm":
            with torch.no_grad():
                p = torch.softmax(model.verify_logits(torch.from_numpy(want[:3]),
                                                      torch.from_numpy(want[3:6])), 1)[:, 1]
            assert np.abs(m.verify(got[:3], got[3:6]) - p.numpy()).max() <= 1e-5

    out = json.loads(cli("evaluate", "--package", pkg, "--data", ci, "--split", "test",
                         "--cache", cache))
    assert out["split"] == "test" and out["pairs_at_package_threshold"]["pairs"] > 0
    assert out["grouping"]["method"] == g["method"] and 0.0 <= out["grouping"]["pair_f"] <= 1.0
    assert 0.0 <= out["grouping"]["count_exact"] <= 1.0

    # recalibrating on validation keeps the weights and rewrites the metadata
    recal = str(tmp_path / "recal.nidm")
    res = json.loads(cli("calibrate", "--package", pkg, "--data", ci, "--split", "val",
                         "--out", recal, "--cache", cache))
    meta2 = X.read_metadata(recal)
    assert meta2["model_id"] == meta["model_id"]
    assert meta2["training"]["grouping"]["method"] == res["grouping"]["method"]
    assert abs(meta2["training"]["grouping"]["tau"] - res["grouping"]["tau"]) < 1e-12
    with noduleid.Model.load(recal, threads=1) as m:
        assert np.abs(m.embed(clips) - got).max() == 0.0


def test_resume_is_exact(ci, sets, tmp_path):
    _, _, cache = sets
    # the recipe's loss and optimiser options: supervised contrastive term, FC at 10x the rate
    args = ["--model", "cm", "--data", ci, "--max-iters", "2", "--lr", "1e-3",
            "--metric-loss", "triplet+supcon", "--fc-lr-mult", "10", "--select", "auc",
            "--ema", "0.9", "--cache", cache, "--no-export", *COMMON]
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    cli("train", "--out", a, "--epochs", "2", *args)
    cli("train", "--out", b, "--epochs", "1", *args)
    cli("train", "--out", b, "--epochs", "2", "--resume", *args)
    sa = torch.load(os.path.join(a, "last.pt"))["model"]
    sb = torch.load(os.path.join(b, "last.pt"))["model"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    # the weight average is resumed too, and it differs from the current weights
    ea = torch.load(os.path.join(a, "last.pt"))["ema"]
    eb = torch.load(os.path.join(b, "last.pt"))["ema"]
    assert all(torch.equal(ea[k], eb[k]) for k in ea)
    assert any(not torch.equal(ea[k], sa[k]) for k in sa if sa[k].dtype.is_floating_point)
    log = [json.loads(l) for l in open(os.path.join(a, "log.jsonl"))]
    assert all(r["supcon"] > 0 and r["triplet"] >= 0 for r in log if "epoch" in r)
    assert all(r["weights"] in ("raw", "ema") and r["val_auc_ema"] is not None
               for r in log if "epoch" in r)
    best = torch.load(os.path.join(a, "best.pt"))
    assert best["weights"] == {r["epoch"]: r for r in log if "epoch" in r}[best["epoch"]]["weights"]
    lrs = [g["lr"] for g in torch.load(os.path.join(a, "last.pt"))["optimizer"]["param_groups"]]
    assert lrs == [1e-3, 1e-2]


def test_clip_geometry_matches_library_crop():
    """models.clip_geometry reads depth and size back from the coordinate
    channels the C library writes (nid_crop_resize, NID_COORDS_FRAME)."""
    from training.noduleid_models import models as M
    frame = np.zeros((200, 300), np.uint8)
    opts = D.to_clip_options(D.clip_options_dict(1, 24, 16, channels=1, coords="frame"))
    box = (50, 40, 60, 30)  # x, y, w, h
    c = noduleid.crop_resize(frame, box, opts)
    assert c.shape == (3, 24, 16)
    g = M.clip_geometry(torch.from_numpy(c[None, :, None]), 1)[0].numpy()
    # margin 0.1: rows 37..73, columns 44..116 of a 200-row frame
    assert abs(g[0] - (2 * 55 / 200 - 1)) < 1e-5
    assert abs(g[1] - np.log(2 * 36 / 200)) < 1e-5
    assert abs(g[2] - np.log(2 * 72 / 200)) < 1e-5
    # mirrored (flip augmentation) clips give the same geometry
    gf = M.clip_geometry(torch.from_numpy(c[None, :, None]).flip(-1), 1)[0].numpy()
    assert np.allclose(gf[1:], g[1:], atol=1e-6)


def test_geometry_kernels_train_export_load_equal(ci, tmp_path):
    """--depth-kernel auto --geometry depth,height,width --select fused-auc:
    the per-epoch fused score is logged, the exported package (embedder
    wrapped in GeometryEmbedder) gives the PyTorch embeddings through the
    C library, and they have unit norm."""
    from training.noduleid_models import models as M
    run = str(tmp_path / "geo")
    geo = ["--arch", "compact", "--frames", "4", "--height", "24", "--width", "16",
           "--channels", "1", "--coords", "frame", "--threads", "2"]
    cli("train", "--model", "cm", "--data", ci, "--out", run, "--epochs", "2",
        "--max-iters", "2", "--depth-kernel", "auto", "--geometry", "depth,height,width",
        "--select", "fused-auc", "--patience", "5", "--kernel-data", ci + ":train", *geo)
    log = [json.loads(l) for l in open(os.path.join(run, "log.jsonl"))]
    ep = [r for r in log if "epoch" in r and "val_fused_auc" in r]
    assert len(ep) == 2 and all(r["val_fused_auc"] >= r["val_auc"] - 1e-9 for r in ep)
    dk = [r["depth_kernel"] for r in log if "depth_kernel" in r][-1]
    assert dk["val_auc"] >= dk["val_auc_cosine"]
    # --kernel-data: the kernels are fitted on validation's pairs plus the
    # train split's (within-patient pairs of each set, none across them)
    opts = D.clip_options_dict(4, 24, 16, channels=1, coords="frame")
    n_tr = [int(len(y)) for y in [D.eval_pairs(D.build_clipset(ci, sp, opts,
                                                               str(tmp_path / "c2")))[1]
                                  for sp in ("val", "train")]]
    assert [(f["data"], f["pairs"]) for f in dk["fit_on"]] == \
        [("validation", n_tr[0]), (os.path.basename(ci), n_tr[1])]
    assert n_tr[1] > 0
    pkg = os.path.join(run, "model.nidm")
    ck = torch.load(os.path.join(run, "best.pt"))
    model = X.make_model("compact", "cm", 3, None, None, len(ck["id_map"]))
    model.load_state_dict(ck["model"])
    model.eval()
    kernels = [tuple(k) for k in dk["kernels"]]
    if kernels:
        model.embedder = M.GeometryEmbedder(model.embedder, 1, kernels, 16)
    va = D.build_clipset(ci, "val", D.clip_options_dict(4, 24, 16, channels=1, coords="frame"),
                         str(tmp_path / "cache"))
    clips = np.array(va.clips[:6])
    with torch.no_grad():
        want = model.embed(torch.from_numpy(clips)).numpy()
    with noduleid.Model.load(pkg, threads=2) as m:
        got = m.embed(clips)
    assert np.abs(got - want).max() <= 1e-5
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_geometry_embedder_kernel_mix():
    """cos(out_a, out_b) = (1 - w) cos(e_a, e_b) + w k(d_a - d_b) with k
    close to the Gaussian kernel (16 random-feature terms)."""
    from training.noduleid_models import models as M

    class Fixed(torch.nn.Module):
        dim = 4

        def forward(self, x):
            return x[:, 0, 0, 0, :4]

    x = torch.zeros(2, 3, 1, 2, 4)
    x[0, 0, 0, 0] = torch.tensor([1.0, 0, 0, 0])
    x[1, 0, 0, 0] = torch.tensor([0.6, 0.8, 0, 0])
    x[0, 1], x[1, 1] = -0.2, -0.1  # depth differs by 0.1
    x[:, 2, 0, :, :] = torch.linspace(-0.1, 0.1, 4)
    g = M.GeometryEmbedder(Fixed(), 1, [("depth", 0.1, 0.3)], 16)
    o = g(x)
    assert o.shape == (2, 4 + 32) and torch.allclose(o.norm(dim=1), torch.ones(2))
    want = 0.7 * 0.6 + 0.3 * np.exp(-0.5)
    assert abs(float(o[0] @ o[1]) - want) < 0.02
    with pytest.raises(ValueError):
        M.GeometryEmbedder(Fixed(), 1, [("depth", 0.1, 0.6), ("height", 0.1, 0.6)])


def test_grouping_calibration_uses_cannot_links():
    """Two exams, each with two look-alike nodules seen at the same time
    (cannot-linked) and a third: without the constraints no single tau
    separates the look-alikes; with them the calibrated grouping is exact."""
    from training import calibrate as CAL
    per, links = [], []
    for _ in range(2):
        truth = np.array([0, 0, 1, 1, 2, 2])
        S = np.full((6, 6), 0.2, np.float32)
        S[np.ix_([0, 1, 2, 3], [0, 1, 2, 3])] = 0.97  # nodules 0 and 1 look alike
        S[0, 1] = S[1, 0] = S[2, 3] = S[3, 2] = 0.96  # (views of one nodule less alike)
        S[4, 5] = S[5, 4] = 0.9
        np.fill_diagonal(S, 1.0)
        per.append((truth, S))
        links.append(np.array([[0, 2], [1, 3], [0, 3], [1, 2]], np.uint32))
    import training.metrics as MT
    plain = MT.calibrate_tau(per, 0.0, 2.0, "paper")
    assert plain["pair_f"] < 0.99
    g = CAL.calibrate_grouping(per, links, 2.0)
    assert g["val_pair_f"] == 1.0 and g["cannot_link"] is True
    sc = CAL.grouping_scores(per, links, g["method"], g["tau"])
    assert sc["pair_f"] == 1.0 and sc["count_exact"] == 1.0


def test_quantize_geometry_package(ci, tmp_path):
    """python3 -m training quantize on a geometry-kernel CM (the default
    model's kind): the output keeps the fp32 graph (same embeddings), adds
    an int8 graph the library runs with precision int8, whose geometry part
    equals fp32's (only the CNN is quantised) and whose CNN part is close;
    a VM is refused with a message."""
    from training.noduleid_models import models as M
    torch.manual_seed(0)
    model = X.make_model("compact", "cm", 3, None, None, 10)
    X.bn_warmup(model, (3, 4, 24, 16), 2, 0)
    kernels = [("depth", 0.2, 0.3), ("height", 0.2, 0.05)]
    model.embedder = M.GeometryEmbedder(model.embedder, 1, kernels, 16)
    pkg, out = str(tmp_path / "geo.nidm"), str(tmp_path / "geo-int8.nidm")
    X.export_package(model, pkg, arch="compact", frames=4, height=24, width=16,
                     channels=1, coords="frame", description="test",
                     training={"description": "test", "depth_kernel": {
                         "kernels": [list(k) for k in kernels], "terms": 16}})
    cache = str(tmp_path / "cache")
    info = json.loads(cli("quantize", "--package", pkg, "--data", ci, "--split", "val",
                          "--clips", "16", "--cache", cache, "--out", out,
                          "--threads", "2"))
    cal = info["calibration"]
    assert info["rebuilt_fp32_max_abs"] <= 1e-5 and cal["clips"] == min(16, cal["of"]) > 0
    va = D.build_clipset(ci, "val", D.clip_options_dict(4, 24, 16, channels=1, coords="frame"),
                         cache)
    clips = np.array(va.clips[:8])
    with noduleid.Model.load(pkg, threads=2) as m, \
            noduleid.Model.load(out, threads=2) as m32, \
            noduleid.Model.load(out, threads=2, precision="int8") as m8:
        assert m8.info.precision == noduleid.Precision.INT8
        assert m32.info.model_id == m.info.model_id
        e, e32, e8 = m.embed(clips), m32.embed(clips), m8.embed(clips)
    assert np.array_equal(e, e32)
    geo = 2 * 16 * len(kernels)
    assert np.abs(e8[:, -geo:] - e32[:, -geo:]).max() <= 1e-6
    a, b = e32[:, :-geo], e8[:, :-geo]
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    # random weights amplify rounding (0.74-0.88 here); the bound on trained
    # weights and real clips: ctest model_precision (default model, >= 0.98)
    assert cos.min() > 0.5 and np.median(cos) > 0.7 and not np.array_equal(a, b)

    vm = X.make_model("compact", "verification", 3, None, None, 10)
    vpkg = str(tmp_path / "vm.nidm")
    X.export_package(vm, vpkg, arch="compact", frames=4, height=32, width=16)
    r = subprocess.run([sys.executable, "-m", "training", "quantize", "--package", vpkg,
                        "--random-clips", "2", "--out", str(tmp_path / "vm-int8.nidm")],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 1 and "only classification packages" in r.stderr
    assert not os.path.exists(tmp_path / "vm-int8.nidm")

    # and the bf16 graph on top (--precision bf16): the int8 graph and the fp32
    # graph kept as they were; where the CPU has AVX-512 BW/VL/DQ the library
    # runs it (forced where bf16 is emulated), its geometry part exact, its CNN
    # part close; elsewhere quantize refuses with a message and writes nothing.
    out16 = str(tmp_path / "geo-q.nidm")
    r = subprocess.run([sys.executable, "-m", "training", "quantize", "--precision", "bf16",
                        "--package", out, "--data", ci, "--split", "val", "--clips", "16",
                        "--cache", cache, "--out", out16, "--threads", "2"],
                       cwd=ROOT, capture_output=True, text=True)
    flags = open("/proc/cpuinfo").read()
    if not all(" %s" % f in flags for f in ("avx512bw", "avx512vl", "avx512dq")):
        assert r.returncode == 1 and "AVX-512" in r.stderr, r.stderr
        assert not os.path.exists(out16)
        return
    assert r.returncode == 0, r.stderr
    b16 = json.loads(r.stdout)
    assert b16["check_clips"]["clips"] > 0 and -1 <= b16["cosine_min"] <= 1
    os.environ["NID_BF16_FORCE"] = "1"
    try:
        with noduleid.Model.load(out16, threads=2) as q32, \
                noduleid.Model.load(out16, threads=2, precision="int8") as q8, \
                noduleid.Model.load(out16, threads=2, precision="bf16") as q16:
            assert q16.info.precision == noduleid.Precision.BF16
            assert q16.info.model_id == q32.info.model_id
            f32, f8, f16 = q32.embed(clips), q8.embed(clips), q16.embed(clips)
    finally:
        del os.environ["NID_BF16_FORCE"]
    assert np.array_equal(f32, e32) and np.array_equal(f8, e8)
    assert np.abs(f16[:, -geo:] - e32[:, -geo:]).max() <= 1e-6
    a, b = e32[:, :-geo], f16[:, :-geo]
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.min() > 0.9 and not np.array_equal(a, b), cos
