"""`noduleid group --verify` against the package's verification head
(PyTorch), and `--online`: the order of the steps (video, then end
frame) and the number of nodules after each step against connected
components of the growing graph d < tau."""

import numpy as np
import pytest

from nidcli import (EMB_TOL, TRACKLETS, components, gap_threshold,
                    needs_model, pkg, reference_embeddings, run_json)


@needs_model
def test_group_verify_against_head(syn, tmp_path):
    import torch
    d, exam, vids = syn
    ref, mod, meta = reference_embeddings(pkg("vm.nidm"), vids)
    n = len(ref)
    a = torch.from_numpy(ref.astype(np.float32))
    p = np.ones((n, n))
    with torch.no_grad():
        for i in range(n):
            for j in range(n):
                if i != j:
                    p[i, j] = float(mod.verify(a[i:i + 1], a[j:j + 1])[0])
    sim = (p + p.T) / 2
    dist = np.maximum(1 - sim, 0)
    np.fill_diagonal(dist, 0)
    tau = gap_threshold(dist)
    for opt in (["--verify"], ["--compare", "verify"], []):
        r = run_json("group", exam, "--model", pkg("vm.nidm"), *opt,
                     "--method", "single", "--threshold", tau, "--json",
                     "--threads", 1, "--no-cannot-link")
        assert r["compare"] == "verify"  # the VM's thresholds are for verify
        assert np.max(np.abs(np.array(r["similarity"]["matrix"]) - sim)) < \
            EMB_TOL
        assert [t["cluster"] for t in r["tracklets"]] == \
            components(dist, tau, list(range(n)))[0]
    # cosine on a VM: its tau is for verify, so the default 0.5 is used
    r = run_json("group", exam, "--model", pkg("vm.nidm"), "--compare",
                 "cosine", "--json", "--threads", 1)
    assert r["compare"] == "cosine"
    assert r["clustering"]["threshold_from"].startswith("default")


def scan_order():
    """Tracklets in the order they end during scanning: video, then end
    frame (then start, then file order)."""
    idx = list(range(len(TRACKLETS)))
    key = lambda i: (TRACKLETS[i][0], TRACKLETS[i][3][-1][0],  # noqa: E731
                     TRACKLETS[i][3][0][0], i)
    return sorted(idx, key=key)


@needs_model
@pytest.mark.parametrize("name,mode", [("cm.nidm", "cosine"),
                                       ("vm.nidm", "verify")])
def test_group_online_steps(syn, tmp_path, name, mode):
    d, exam, vids = syn
    r0 = run_json("group", exam, "--model", pkg(name), "--json",
                  "--threshold", 0, "--threads", 1)
    S = np.array(r0["similarity"]["matrix"])
    dist = np.maximum(1 - S, 0)
    np.fill_diagonal(dist, 0)
    tau = gap_threshold(dist)
    r = run_json("group", exam, "--model", pkg(name), "--online",
                 "--threshold", tau, "--json", "--threads", 1)
    assert r["compare"] == mode and r["clustering"]["online"] is True
    order = scan_order()
    steps = r["online"]["steps"]
    assert [s["tracklet"] for s in steps] == [TRACKLETS[i][1] for i in order]
    for q, s in enumerate(steps):
        assert s["step"] == q
        assert s["end"] == TRACKLETS[order[q]][3][-1][0]
        # after q + 1 tracklets: the components of the graph d < tau
        assert s["n_clusters"] == components(dist, tau, order[:q + 1])[1]
    n = len(TRACKLETS)
    assert [t["cluster"] for t in r["tracklets"]] == \
        components(dist, tau, list(range(n)))[0]
