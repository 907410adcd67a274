"""`noduleid compare` against numpy / the verification head,
`noduleid info` against the package's own metadata, and the default
model lookup (--model, NODULEID_MODEL, installed tree moved anywhere,
build tree)."""
import json
import os
import shutil
import subprocess
import zipfile

import numpy as np
import pytest

from nidcli import (CLI, SRC, components, cos_sim, needs_model, pkg,
                    reference_embeddings, run, run_json)


# ---- compare ----------------------------------------------------------------

def test_compare_cosine_needs_no_model(tmp_path):
    rng = np.random.default_rng(4)
    a = rng.normal(size=(6, 5)).astype(np.float32)
    b = rng.normal(size=(3, 5)).astype(np.float32)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    j = run_json("compare", tmp_path / "a.npy")
    assert j["mode"] == "cosine" and j["rows"] == j["cols"] == 6
    assert np.allclose(j["matrix"], cos_sim(a.astype(np.float64)), atol=2e-6)
    j = run_json("compare", tmp_path / "a.npy", tmp_path / "b.npy")
    ua = a / np.linalg.norm(a, axis=1, keepdims=True)
    ub = b / np.linalg.norm(b, axis=1, keepdims=True)
    assert j["rows"] == 6 and j["cols"] == 3
    assert np.allclose(j["matrix"], ua @ ub.T, atol=2e-6)
    j = run_json("compare", "--distance", "--out", tmp_path / "d.npy",
                 tmp_path / "a.npy")
    dm = np.load(tmp_path / "d.npy")
    assert "matrix" not in j and dm.shape == (6, 6)
    want = np.maximum(1 - cos_sim(a.astype(np.float64)), 0)
    np.fill_diagonal(want, 0)
    assert np.allclose(dm, want, atol=2e-6)
    # the distances feed `cluster --distances`
    c = run_json("cluster", "--distances", "--method", "single",
                 "--threshold", 0.9, tmp_path / "d.npy")
    assert c["labels"] == components(want, 0.9, list(range(6)))[0]


@needs_model
def test_compare_verify_against_head(cm_ref, syn, tmp_path):
    import torch
    d, exam, vids = syn
    run("embed", exam, "--model", pkg("vm.nidm"), "--out", tmp_path / "e.npy",
        "--quiet", "--threads", 1)
    e = np.load(tmp_path / "e.npy")
    _, mod, _ = reference_embeddings(pkg("vm.nidm"), vids)
    j = run_json("compare", "--verify", "--model", pkg("vm.nidm"),
                 tmp_path / "e.npy", "--threads", 1)
    t = torch.from_numpy(e)
    with torch.no_grad():
        for i in range(len(e)):
            for q in range(len(e)):
                if i != q:
                    want = (float(mod.verify(t[i:i + 1], t[q:q + 1])[0]) +
                            float(mod.verify(t[q:q + 1], t[i:i + 1])[0])) / 2
                    assert j["matrix"][i][q] == pytest.approx(want, abs=1e-5)
    assert j["mode"] == "verify"
    # rows of one file against rows of another: every pair through the
    # head, (a_i, a_i) too (the all-pairs matrix sets its diagonal to 1)
    np.save(tmp_path / "two.npy", e[:2])
    j2 = run_json("compare", "--verify", "--model", pkg("vm.nidm"),
                  tmp_path / "e.npy", tmp_path / "two.npy", "--threads", 1)
    assert j2["rows"] == len(e) and j2["cols"] == 2
    with torch.no_grad():
        for i in range(len(e)):
            for q in range(2):
                want = float(mod.verify(t[i:i + 1], t[q:q + 1])[0]) / 2 + \
                    float(mod.verify(t[q:q + 1], t[i:i + 1])[0]) / 2
                assert j2["matrix"][i][q] == pytest.approx(want, abs=1e-5)


# ---- info -------------------------------------------------------------------

def package_meta(path):
    with zipfile.ZipFile(path) as z:
        name = [n for n in z.namelist() if n.endswith("extra/noduleid.json")]
        return json.loads(z.read(name[0]))


@needs_model
@pytest.mark.parametrize("name", ["cm.nidm", "vm.nidm"])
def test_info_shows_the_package_metadata(name):
    j = run_json("info", "--json", pkg(name))
    assert j["metadata"] == package_meta(pkg(name))
    assert j["path"] == pkg(name) and j["found_by"] == "--model"
    text = run("info", pkg(name)).stdout
    meta = package_meta(pkg(name))
    assert meta["model_id"] in text and meta["arch"] in text
    assert "NOT calibrated" in text
    assert ("verification" in text) == (meta["kind"] == "verification")


def test_default_model_lookup(tmp_path):
    # 1. --model, 2. the environment
    fake = tmp_path / "m.nidm"
    fake.write_bytes(b"x")
    j = run_json("info", "--locate", "--json", fake)
    assert j == {"path": str(fake), "found_by": "--model"}
    j = run_json("info", "--locate", "--json", env={"NODULEID_MODEL":
                                                    str(fake)})
    assert j["found_by"] == "NODULEID_MODEL"
    # 4. the build tree: the source tree's models/default.nidm
    j = run_json("info", "--locate", "--json", env={"NODULEID_MODEL": ""})
    assert j["found_by"] == "build tree default"
    assert os.path.samefile(j["path"], os.path.join(SRC, "models",
                                                    "default.nidm"))
    # 3. an installed tree, moved anywhere: bin/noduleid finds
    # bin/../share/noduleid/default.nidm
    prefix = tmp_path / "moved"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "share" / "noduleid").mkdir(parents=True)
    exe = prefix / "bin" / "noduleid"
    shutil.copy(CLI, exe)
    shutil.copy(fake, prefix / "share" / "noduleid" / "default.nidm")
    p = subprocess.run([exe, "info", "--locate", "--json"],
                       capture_output=True, text=True,
                       env=dict(os.environ, NODULEID_MODEL=""))
    assert p.returncode == 0, p.stderr
    j = json.loads(p.stdout)
    assert j["found_by"] == "installed default"
    assert os.path.samefile(j["path"],
                            prefix / "share" / "noduleid" / "default.nidm")
    # nothing anywhere: exit 3, one line naming where it looked. The
    # lookup is the library's (nid_default_model_path), and a library in
    # its build tree falls back to the source tree's model: run with a copy
    # of the library in the moved tree (<prefix>/lib) instead.
    os.remove(prefix / "share" / "noduleid" / "default.nidm")
    (prefix / "lib").mkdir()
    libdir = os.path.join(os.path.dirname(os.path.dirname(
        os.path.dirname(CLI))), "lib")
    shutil.copy(os.path.join(libdir, "libnoduleid.so.0"), prefix / "lib")
    p = subprocess.run([exe, "info", "--locate"], capture_output=True,
                       text=True, env=dict(os.environ, NODULEID_MODEL="",
                                           LD_LIBRARY_PATH=str(prefix / "lib")))
    assert p.returncode == 3 and p.stdout == ""
    assert len(p.stderr.splitlines()) == 1
    assert "share/noduleid/default.nidm" in p.stderr
