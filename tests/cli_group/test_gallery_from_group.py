"""`gallery add --from-group` and `match --from-group`: the follow-up
workflow group -> gallery add, group -> match."""
import json

import pytest

from nidcli import assert_error, needs_model, pkg, run, run_json


# ---- gallery --from-group -----------------------------------------------------

@needs_model
def test_gallery_from_group_round_trip(syn, tmp_path):
    d, exam, vids = syn
    r1 = tmp_path / "r1.json"
    run("group", exam, "--model", pkg("cm.nidm"), "--threshold", 0.02,
        "--out", r1, "--quiet", "--threads", 1)
    res = json.loads(r1.read_text())
    k = res["n_nodules"]
    g = tmp_path / "g.nidg"
    added = run_json("gallery", "add", g, "--from-group", r1)
    assert added["added"] == k and added["patient"] == "SYN"
    listed = run_json("gallery", "list", g, "--json")
    assert listed["model_id"] == res["model"]["model_id"]
    assert [(e["label"], e["n_tracklets"], e["exam"], e["date"])
            for e in listed["entries"]] == \
        [(n["label"], n["n_tracklets"], "SYN-E1", "2024-02-29")
         for n in res["nodules"]]
    # the same exam again: every nodule finds itself
    m = run_json("match", g, "--from-group", r1)
    assert m["model_id"] == res["model"]["model_id"]
    for j, n in enumerate(m["nodules"]):
        assert n["label"] == res["nodules"][j]["label"]
        assert n["match"]["label"] == n["label"]
        assert n["match"]["distance"] == pytest.approx(0, abs=1e-5)
    # options override the result's exam fields
    run_json("gallery", "add", g, "--from-group", r1, "--exam", "SYN-E2",
             "--date", "2024-06-01")
    assert run_json("gallery", "list", g, "--json")["n_entries"] == 2 * k
    # a model id that disagrees with the result: refused
    assert_error(["gallery", "add", g, "--from-group", r1, "--model-id",
                  "sha256:" + "00" * 32], 2, "model")
    assert_error(["match", g, "--from-group", r1, "extra"], 2, "GALLERY")


def test_from_group_bad_files(tmp_path):
    g = tmp_path / "g.nidg"
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert_error(["gallery", "add", g, "--from-group", bad], 3, str(bad))
    bad.write_text(json.dumps({"format": "noduleid-exam"}))
    assert_error(["gallery", "add", g, "--from-group", bad], 3,
                 "noduleid-group")
    good = {"format": "noduleid-group", "version": 1,
            "model": {"model_id": "sha256:" + "ab" * 32},
            "exam": {"patient_id": "P", "exam_id": "E", "date": "2024-01-01"},
            "nodules": [{"cluster": 0, "n_tracklets": 2,
                         "embedding": [1.0, 0.0, 0.0]},
                        {"cluster": 1, "n_tracklets": 1,
                         "embedding": [0.0, 1.0]}]}
    bad.write_text(json.dumps(good))
    assert_error(["gallery", "add", g, "--from-group", bad], 3,
                 "nodules[1].embedding")
    good["nodules"][1]["embedding"] = [0.0, 1.0, 0.0]
    del good["exam"]["date"]
    bad.write_text(json.dumps(good))
    assert_error(["gallery", "add", g, "--from-group", bad], 2, "--date")
    out = run_json("gallery", "add", g, "--from-group", bad, "--date",
                   "2024-01-02")
    assert out["added"] == 2
    assert_error(["match", g, "--from-group", tmp_path / "none.json"], 3,
                 "none.json")
