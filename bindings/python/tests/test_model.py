"""Models: loading packages made by the ctest fixture nid_models (tiny
random-weight packages), metadata, embeddings and verify outputs against
Python torch on the same package (run in a subprocess, so two libtorch
users never share one process), comparisons, errors."""
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import noduleid

MODELS = os.environ.get("NID_TEST_MODELS", "")

pytestmark = [
    pytest.mark.skipif("torch" not in noduleid.features(),
                       reason="library built without libtorch"),
    pytest.mark.skipif(not os.path.exists(os.path.join(MODELS, "vm.nidm")),
                       reason="model packages not made (ctest fixture nid_models)"),
]

TORCH_REF = r"""
import sys, numpy as np, torch
torch.set_num_threads(2)
pkg, x_path, a_path, b_path, out = sys.argv[1:]
m = torch.jit.load(pkg, map_location="cpu").eval()
x = torch.from_numpy(np.load(x_path))
with torch.no_grad():
    e = torch.cat([m(x[i:i + 4]) for i in range(0, x.shape[0], 4)]).numpy()
    np.save(out + "/emb.npy", e)
    if hasattr(m, "verify"):
        a, b = torch.from_numpy(np.load(a_path)), torch.from_numpy(np.load(b_path))
        np.save(out + "/p.npy", m.verify(a, b).numpy())
"""


def pkg(name):
    return os.path.join(MODELS, name)


def package_meta(path):
    with zipfile.ZipFile(path) as z:
        [name] = [n for n in z.namelist() if n.endswith("extra/noduleid.json")]
        return json.loads(z.read(name))


@pytest.fixture(scope="module")
def vm():
    with noduleid.Model.load(pkg("vm.nidm"), threads=2, optimize=False) as m:
        yield m


def test_info_equals_package_metadata(vm):
    meta = package_meta(pkg("vm.nidm"))
    i = vm.info
    assert i.meta == meta
    assert i.model_id == meta["model_id"] and i.has_verify
    assert i.embed_dim == meta["embedding"]["dim"]
    assert (i.channels, i.frames, i.height, i.width) == tuple(
        meta["input"][k] for k in ("channels", "frames", "height", "width"))
    assert i.device == "cpu" and i.n_threads == 2 and i.path == pkg("vm.nidm")
    o = vm.clip_options()
    assert (o.channels, o.frames, o.height, o.width) == \
        (i.channels, i.frames, i.height, i.width)
    assert o.margin == i.margin and tuple(o.mean) == i.mean


def test_embed_and_verify_equal_python_torch(vm, tmp_path):
    i = vm.info
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, (5, i.channels, i.frames, i.height, i.width)
                    ).astype(np.float32)
    emb = vm.embed(x)
    assert emb.shape == (5, i.embed_dim) and emb.dtype == np.float32
    a, b = emb[:4], emb[1:5]
    for name, arr in (("x", x), ("a", a), ("b", b)):
        np.save(tmp_path / (name + ".npy"), arr)
    subprocess.run([sys.executable, "-c", TORCH_REF, pkg("vm.nidm"),
                    tmp_path / "x.npy", tmp_path / "a.npy", tmp_path / "b.npy",
                    tmp_path], check=True, env=dict(os.environ, OMP_NUM_THREADS="2"))
    np.testing.assert_allclose(emb, np.load(tmp_path / "emb.npy"), atol=1e-5)
    p = vm.verify(a, b)
    np.testing.assert_allclose(p, np.load(tmp_path / "p.npy"), atol=1e-5)
    # one clip without the batch axis (conv3d picks its algorithm by batch
    # size, so a batch of 1 differs from a batch of 4 by rounding)
    np.testing.assert_allclose(vm.embed(x[2]), emb[2:3], rtol=1e-4, atol=1e-4)


def test_compare_and_matrices(vm):
    i = vm.info
    rng = np.random.default_rng(2)
    e = rng.normal(size=(6, i.embed_dim)).astype(np.float32)
    u = e / np.linalg.norm(e, axis=1, keepdims=True)
    cos = u @ u.T
    np.testing.assert_allclose(vm.compare_matrix(e, "cosine"), cos, atol=1e-5)
    np.testing.assert_allclose(vm.compare(e[:3], e[3:], "cosine"),
                               np.diag(cos[:3, 3:]), atol=1e-5)
    p_ab, p_ba = vm.verify(e[:3], e[3:]), vm.verify(e[3:], e[:3])
    np.testing.assert_allclose(vm.compare(e[:3], e[3:], "verify"),
                               (p_ab + p_ba) / 2, atol=1e-6)
    s = vm.compare_matrix(e, noduleid.CompareMode.VERIFY)
    d = vm.distance_matrix(e, "verify")
    np.testing.assert_allclose(d, np.maximum(0, 1 - s) * (1 - np.eye(6)), atol=1e-6)
    labels, k = noduleid.cluster_distances(d, "single", i.tau)
    assert labels.shape == (6,) and 1 <= k <= 6
    pooled = vm.pool(e[:3])
    ref = e[:3].mean(0)
    if i.normalized:
        ref /= np.linalg.norm(ref)
    np.testing.assert_allclose(pooled, ref, atol=1e-6)
    assert noduleid.compare_mode_name(1) == "verify"


def test_embed_tracklet_equals_embed_of_built_clip(vm):
    frames = (np.arange(12 * 40 * 30) % 251).astype(np.uint8).reshape(12, 40, 30)
    with noduleid.Video.from_frames(frames) as v, noduleid.Exam.create() as ex:
        ex.add_video("v", "v.mp4", n_frames=12, width=30, height=40)
        ex.add_tracklet(0, "t", [1, 10], [[2, 3, 20, 30], [4, 5, 20, 30]])
        got = vm.embed_tracklet(v, ex, "t")
        clip = noduleid.build_clip(v, ex, "t", vm.clip_options())
        np.testing.assert_allclose(got, vm.embed(clip)[0], atol=1e-6)


def test_context_model():
    """A package with crop.context_margin: info, clip options and clips
    with the context channels, embeddings of a tracklet equal those of its
    built clip."""
    frames = (np.arange(12 * 40 * 30) % 251).astype(np.uint8).reshape(12, 40, 30)
    with noduleid.Model.load(pkg("cm_ctx.nidm"), threads=2) as m, \
            noduleid.Video.from_frames(frames) as v, noduleid.Exam.create() as ex:
        assert m.info.context_margin == 0.5
        assert m.info.meta["crop"]["context_margin"] == 0.5
        co = m.clip_options()
        assert co.context_margin == 0.5 and co.channels == 3
        ex.add_video("v", "v.mp4", n_frames=12, width=30, height=40)
        ex.add_tracklet(0, "t", [1, 10], [[2, 3, 20, 30], [4, 5, 20, 30]])
        clip = noduleid.build_clip(v, ex, "t", co)
        assert clip.shape == (1, 6, 4, 32, 16)
        np.testing.assert_allclose(m.embed_tracklet(v, ex, "t"), m.embed(clip)[0],
                                   atol=1e-6)
        with pytest.raises(noduleid.MismatchError) as ei:
            m.embed_tracklet(v, ex, "t", noduleid.ClipOptions(
                **{**co.__dict__, "context_margin": 0.0}))
        assert "context_margin" in ei.value.message
    with noduleid.Model.load(pkg("cm.nidm"), threads=1) as plain:
        assert plain.info.context_margin == 0.0
        assert plain.clip_options().context_margin == 0.0


def test_model_errors(tmp_path, vm):
    with pytest.raises(noduleid.FileIOError) as ei:
        noduleid.Model.load(tmp_path / "none.nidm")
    assert "none.nidm" in ei.value.message
    with pytest.raises(noduleid.FormatError):
        noduleid.Model.load(pkg("truncated.nidm"))
    with pytest.raises(noduleid.FormatError) as ei:
        noduleid.Model.load(pkg("type.nidm"))
    assert "input.frames" in ei.value.message
    with pytest.raises(noduleid.MismatchError):
        noduleid.Model.load(pkg("dim.nidm"))
    with pytest.raises(noduleid.MismatchError):
        vm.embed(np.zeros((1, 3, 2, 8, 8), np.float32))
    i = vm.info
    with pytest.raises(noduleid.InvalidArgumentError) as ei:
        vm.embed(np.full((2, i.channels, i.frames, i.height, i.width), np.nan,
                         np.float32))
    assert "clip 0" in ei.value.message
    with noduleid.Model.load(pkg("cm.nidm"), threads=2) as cm:
        assert not cm.info.has_verify
        e = np.ones((2, cm.info.embed_dim), np.float32)
        with pytest.raises(noduleid.NotSupportedError):
            cm.verify(e, e)
    assert cm.closed
    with pytest.raises(noduleid.ClosedError):
        cm.info


def test_precision_option_and_int8_fallback():
    """Model.load(precision=): names and enum values; a package without an
    int8 graph runs in fp32 (info says so) with fp32's embeddings, and so
    does "auto" on a package without a bf16 graph."""
    assert [p.value for p in noduleid.Precision] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="fp32, bf16, int8 or auto"):
        noduleid.Model.load(pkg("cm.nidm"), precision="fp8")
    x = np.random.default_rng(3).uniform(-1, 1, (2, 3, 4, 32, 16)).astype(np.float32)
    with noduleid.Model.load(pkg("cm.nidm"), threads=2) as m32, \
            noduleid.Model.load(pkg("cm.nidm"), threads=2, precision="int8") as m8, \
            noduleid.Model.load(pkg("cm.nidm"), threads=2, precision="auto") as ma:
        assert m32.info.precision == noduleid.Precision.FP32
        assert m8.info.precision == noduleid.Precision.FP32
        assert ma.info.precision == noduleid.Precision.FP32
        assert np.array_equal(m32.embed(x), m8.embed(x))
        assert np.array_equal(m32.embed(x), ma.embed(x))


def test_background_load():
    """Model.load(background=True): the metadata at once, the network on a
    thread of its own; the same embeddings as a foreground load; a network
    that rejects its metadata's input raises at wait() and at embed()."""
    x = np.random.default_rng(4).uniform(-1, 1, (2, 3, 4, 32, 16)).astype(np.float32)
    with noduleid.Model.load(pkg("cm.nidm"), threads=2, background=True) as bg, \
            noduleid.Model.load(pkg("cm.nidm"), threads=2) as fg:
        assert bg.info.embed_dim == fg.info.embed_dim
        assert bg.wait() is bg
        assert np.array_equal(bg.embed(x), fg.embed(x))
    with pytest.raises(noduleid.MismatchError, match="1 x 3 x 8 x 32 x 16"):
        noduleid.Model.load(pkg("input.nidm"))
    with noduleid.Model.load(pkg("input.nidm"), background=True) as bad:
        with pytest.raises(noduleid.MismatchError, match="1 x 3 x 8 x 32 x 16"):
            bad.wait()
        with pytest.raises(noduleid.MismatchError, match="1 x 3 x 8 x 32 x 16"):
            bad.embed(np.zeros((1, 3, 8, 32, 16), np.float32))
