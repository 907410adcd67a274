"""`noduleid embed`: the embeddings of a synthetic exam (lossless FFV1
video) equal a Python reference that rebuilds every clip in numpy from
the documented crop / resize / sampling rules and embeds it with PyTorch
(torch.jit.load of the same package)."""

import numpy as np
import pytest

from nidcli import (EMB_TOL, TRACKLETS, needs_model, pkg,
                    reference_embeddings, run, run_json)


# ---- embed ----------------------------------------------------------------

@needs_model
@pytest.mark.parametrize("name", ["cm.nidm", "cm_gray.nidm"])
def test_embed_equals_torch_reference(syn, tmp_path, name):
    d, exam, vids = syn
    ref, _, meta = reference_embeddings(pkg(name), vids)
    out = tmp_path / "e.npy"
    j = run_json("embed", exam, "--model", pkg(name), "--out", out,
                 "--truth", tmp_path / "t.txt", "--ids", tmp_path / "i.txt",
                 "--json", "--threads", 1)
    e = np.load(out)
    assert e.dtype == np.float32 and e.shape == ref.shape
    assert np.max(np.abs(e - ref)) < EMB_TOL
    assert j["n"] == len(TRACKLETS) and j["dim"] == meta["embedding"]["dim"]
    assert j["model_id"] == meta["model_id"]
    ids = [t[1] for t in TRACKLETS]
    assert j["tracklets"] == ids
    assert (tmp_path / "i.txt").read_text().split() == ids
    assert [int(x) for x in (tmp_path / "t.txt").read_text().split()] == \
        [t[2] for t in TRACKLETS] == j["truth"]


@needs_model
def test_embed_windows_pools_like_reference(syn, tmp_path):
    d, exam, vids = syn
    ref, _, _ = reference_embeddings(pkg("cm.nidm"), vids, windows_stride=3)
    run("embed", exam, "--model", pkg("cm.nidm"), "--windows", "--stride", 3,
        "--out", tmp_path / "w.npy", "--quiet", "--threads", 1)
    assert np.max(np.abs(np.load(tmp_path / "w.npy") - ref)) < EMB_TOL
