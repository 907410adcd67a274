"""Bad input to `noduleid group` gives one line on stderr, nothing on
stdout, and the documented exit code."""
import json

from nidcli import SAMPLE, assert_error, needs_model, pkg


# ---- bad input: one line, documented exit code --------------------------------

def test_errors_group(tmp_path):
    assert_error(["group"], 2, "no exam")
    assert_error(["group", tmp_path / "none.json"], 3, "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "noduleid-exam", "version": 1, "videos": '
                   '[{"id": "v0", "path": "v.mp4", "tracklets": [{"id": "t",'
                   ' "start": 5, "end": 2, "key_frames": []}]}]}')
    assert_error(["group", bad], 3, "bad.json")
    bad.write_text("[1, 2")
    assert_error(["group", bad], 3, "bad.json")
    assert_error(["group", SAMPLE, "--method", "kmeans"], 2, "kmeans")
    assert_error(["group", SAMPLE, "--threshold", "nan"], 2, "--threshold")
    assert_error(["group", SAMPLE, "--seed", "-3"], 2, "--seed")
    assert_error(["group", SAMPLE, "--compare", "dot"], 2, "dot")
    assert_error(["group", SAMPLE, "--threads", "0"], 2, "--threads")
    assert_error(["group", SAMPLE, "--frobnicate"], 2, "--frobnicate")
    assert_error(["group", SAMPLE, SAMPLE], 2, "one EXAM")
    assert_error(["group", SAMPLE, "--video", "x.mp4"], 2, "not both")
    assert_error(["group", "--video", SAMPLE], 2, "--annotations")
    assert_error(["group", "--video", tmp_path / "no.mp4", "--annotations",
                  SAMPLE], 3, "no.mp4")
    assert_error(["group", SAMPLE, "--online", "--method", "average"], 2,
                 "--online")
    assert_error(["group", SAMPLE, "--stride", "2"], 2, "--windows")
    assert_error(["group", SAMPLE, "--model", tmp_path / "none.nidm"], 3,
                 "none.nidm")
    empty = tmp_path / "empty.json"
    empty.write_text('{"format": "noduleid-exam", "version": 1, "videos": []}')
    assert_error(["group", empty], 3, "no tracklets")


@needs_model
def test_errors_group_with_model(syn, tmp_path):
    d, exam, vids = syn
    assert_error(["group", exam, "--model", pkg("truncated.nidm")], 3,
                 "truncated.nidm")
    assert_error(["group", exam, "--model", pkg("cm.nidm"), "--verify"], 2,
                 "verification")
    # a tracklet past the end of its video (n_frames not given in the file)
    ex = json.load(open(exam))
    del ex["videos"][0]["n_frames"]
    ex["videos"][0]["tracklets"][0]["end"] = 40
    ex["videos"][0]["tracklets"][0]["key_frames"][-1]["frame"] = 40
    p = d / "past.json"
    p.write_text(json.dumps(ex))
    assert_error(["group", p, "--model", pkg("cm.nidm")], 3, "a0")
    # a video that is not a video
    ex = json.load(open(exam))
    ex["videos"][1]["path"] = "exam.json"
    p = d / "notvideo.json"
    p.write_text(json.dumps(ex))
    assert_error(["group", p, "--model", pkg("cm.nidm")], 3, "exam.json")
    assert_error(["group", exam, "--model", pkg("cm.nidm"), "--report",
                  exam], 1, "exam.json")
