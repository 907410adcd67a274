"""What a new user of the noduleid program meets (issue 17): "did you
mean" for misspelt commands, sub-commands and options; library messages
in the user's words (the C function's name only with --verbose or
NODULEID_VERBOSE=1); the colour legend of the report's heat map, checked
against the heat map's own pixels; the one-line warning when a model
trained on synthetic (phantom) exams is used on an exam that is not the
phantom's."""
import json
import os
import re

import numpy as np
import pytest
from PIL import Image

from nidcli import SAMPLE, assert_error, needs_model, pkg, run, run_json


# ---- did you mean ----------------------------------------------------------

@pytest.mark.parametrize("args,guess", [
    (["grop", "x.json"], "'group'"),
    (["gruop"], "'group'"),           # a transposition
    (["GROUP"], "'group'"),           # case
    (["clsuter"], "'cluster'"),
    (["versoin"], "'version'"),
    (["eval", "clusterz", "a", "b"], "'clusters'"),
    (["eval", "pair"], "'pairs'"),
    (["gallery", "lst", "g.nidg"], "'list'"),
    (["group", SAMPLE, "--treshold", "0.3"], "'--threshold'"),
    (["group", SAMPLE, "--treshold=0.3"], "'--threshold'"),
    (["group", SAMPLE, "--reprot", "d"], "'--report'"),
    (["embed", SAMPLE, "--otu", "x.npy"], "'--out'"),
    (["cluster", "--metod", "paper", "e.npy"], "'--method'"),
    (["info", "--jsn"], "'--json'"),
    (["eval", "pairs", "--treshold", "1", "a", "b"], "'--threshold'"),
    (["tracklets", "--cocoo", "a.json"], "'--coco'"),
    (["gallery", "list", "g.nidg", "--jason"], "'--json'"),
])
def test_did_you_mean(args, guess):
    line = assert_error(args, 2, "did you mean " + guess)
    assert line.count("did you mean") == 1


@pytest.mark.parametrize("args,bad", [
    (["frobnicate"], "'frobnicate'"),
    (["x"], "'x'"),
    (["eval", "zzzzzz"], "zzzzzz"),
    (["gallery", "xyzzy"], "'xyzzy'"),
    (["group", SAMPLE, "--zzzzzzzz"], "'--zzzzzzzz'"),
    (["x" * 200], "x" * 200),             # longer than the distance table
    (["group", SAMPLE, "--" + "y" * 100], "y" * 100),
])
def test_no_guess_when_nothing_is_close(args, bad):
    line = assert_error(args, 2, bad)
    assert "did you mean" not in line


def test_missing_and_unexpected_option_values():
    assert_error(["group", SAMPLE, "--model"], 2,
                 "option '--model' needs a value", "noduleid group --help")
    assert_error(["tracklets", "--json=yes", "a.json"], 2,
                 "option '--json' takes no value")
    assert_error(["group", SAMPLE, "--thresh"], 2,
                 "option '--threshold' needs a value")     # a unique prefix
    assert_error(["group", SAMPLE, "-o"], 2, "option '-o' needs a value")
    assert_error(["cluster", "-m"], 2, "option '-m' needs a value")
    line = assert_error(["clip", "-o"], 2, "unknown option '-o'")  # no -o
    assert "needs a value" not in line
    assert_error(["group", SAMPLE, "--th", "3"], 2, "ambiguous option '--th'",
                 "--threads", "--threshold")


# ---- the user's words, or the C function's with --verbose -----------------

def test_library_messages_without_function_names(tmp_path):
    missing = tmp_path / "no-such-exam.json"
    line = assert_error(["group", missing], 3, str(missing))
    assert "nid_" not in line
    # --verbose (anywhere) or NODULEID_VERBOSE=1: the function that failed
    for args, env in [(["--verbose", "group", missing], None),
                      (["group", missing, "--verbose"], None),
                      (["group", missing], {"NODULEID_VERBOSE": "1"})]:
        line = assert_error(args, 3, str(missing), "nid_exam_load: ",
                            env=env)
    # NODULEID_VERBOSE=0 is off
    line = assert_error(["group", missing], 3, str(missing),
                        env={"NODULEID_VERBOSE": "0"})
    assert "nid_" not in line
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"\x93NUMPY garbage")
    line = assert_error(["cluster", "--method", "paper", "--threshold", "0.5",
                         bad], 3, str(bad))
    assert "nid_" not in line


def test_verbose_after_double_dash_is_an_argument(tmp_path):
    # after `--` the word is an operand (here: a file that does not exist)
    line = assert_error(["tracklets", "--", "--verbose"], 3, "--verbose")
    assert "nid_" not in line


# ---- the heat map's colour legend -------------------------------------------

@needs_model
def test_report_heat_map_has_a_legend_of_its_own_colours(tmp_path):
    out = tmp_path / "report"
    run("group", SAMPLE, "--report", out, "--quiet", timeout=300)
    res = json.loads((out / "result.json").read_text())
    html = (out / "index.html").read_text()
    m = re.search(r'<div id="heat-legend" class="legend"><span class="lo">'
                  r'([^<]+)</span><span class="bar"[^>]*style="background:'
                  r'linear-gradient\(to right,([^"]+)\)"></span>'
                  r'<span class="hi">([^<]+)</span> <span class="meta">'
                  r'([^<]+)</span>', html)
    assert m, "no legend under the heat map"
    lo, hi = float(m.group(1)), float(m.group(3))
    sim = np.array(res["similarity"]["matrix"])
    assert lo == pytest.approx(sim.min(), rel=1e-3, abs=1e-3)
    assert hi == pytest.approx(sim.max(), rel=1e-3, abs=1e-3)
    assert lo < hi
    assert res["compare"] in m.group(4)
    stops = re.findall(r"#([0-9a-f]{6}) (\d+)%", m.group(2))
    assert [int(p) for _, p in stops] == [0, 12, 25, 37, 50, 62, 75, 87, 100]
    rgb = [tuple(int(h[i:i + 2], 16) for i in (0, 2, 4)) for h, _ in stops]
    assert len(set(rgb)) == len(rgb)
    # the legend's ends are the colours of the heat map's least and most
    # similar cells: exactly those pixels are in the PNG
    img = np.asarray(Image.open(out / "similarity.png").convert("RGB"))
    colours = {tuple(c) for c in img.reshape(-1, 3)}
    assert rgb[0] in colours and rgb[-1] in colours
    # ... and a colour from outside the scale is not (the check can fail)
    assert (0x12, 0x34, 0x56) not in colours


# ---- synthetic-data model on real data ---------------------------------------

def exam_without_phantom_meta(tmp_path, meta=None):
    e = json.load(open(SAMPLE))
    if meta is None:
        e.pop("meta", None)
    else:
        e["meta"] = meta
    for v in e["videos"]:
        v["path"] = os.path.join(os.path.dirname(SAMPLE), v["path"])
    p = tmp_path / "exam.json"
    p.write_text(json.dumps(e))
    return p


WARNING = ("noduleid: warning: the model was trained on synthetic exams "
           "(noduleid-phantom) and this exam is not one")


@needs_model
def test_warning_when_a_phantom_model_meets_another_exam(tmp_path):
    # the shipped default model's card names the phantom as its data
    info = run_json("info", "--json")
    assert info["metadata"]["training"]["data"]["generator"] == \
        "noduleid-phantom"
    # the phantom's own exam: silent
    p = run("group", SAMPLE, "--quiet")
    assert p.stderr == ""
    # the same videos without the phantom's meta, or another generator's:
    # one warning line, and the result as before
    for meta in (None, {"generator": "someone-else"}):
        exam = exam_without_phantom_meta(tmp_path, meta)
        p = run("group", exam, "--quiet")
        assert p.stderr.splitlines() == [p.stderr.strip()]
        assert p.stderr.startswith(WARNING), p.stderr
        assert re.search(r"^\d+ nodules?:$", p.stdout, re.M)
        p = run("embed", exam, "--out", tmp_path / "e.npy", "--quiet")
        assert p.stderr.startswith(WARNING) and p.stderr.count("\n") == 1
    # merged --video/--annotations of a phantom exam keep its meta: silent
    e = json.load(open(SAMPLE))
    args = []
    for v in e["videos"]:
        one = dict(e, videos=[dict(v)])
        a = tmp_path / ("%s.json" % v["id"])
        a.write_text(json.dumps(one))
        args += ["--video", os.path.join(os.path.dirname(SAMPLE), v["path"]),
                 "--annotations", a]
    p = run("group", *args, "--quiet")
    assert p.stderr == ""


@needs_model
def test_no_warning_for_a_model_without_synthetic_training_data(tmp_path):
    card = run_json("info", "--json", pkg("cm.nidm"))["metadata"]
    assert "generator" not in json.dumps(card.get("training", {}))
    exam = exam_without_phantom_meta(tmp_path)
    p = run("group", exam, "--model", pkg("cm.nidm"), "--quiet")
    assert p.stderr == ""
