"""Exam inputs besides one exam file (--video/--annotations pairs,
COCO-VID) give the same result as the exam file; the progress bar is
drawn on a terminal only, never on stdout."""
import json
import os
import pty
import re
import select
import shutil
import subprocess

from nidcli import CLI, needs_model, pkg, run, run_json


# ---- --video/--annotations and COCO-VID ------------------------------------

@needs_model
def test_group_video_annotation_pairs_equal_the_exam(syn, tmp_path):
    d, exam, vids = syn
    ex = json.load(open(exam))
    args = []
    for v in ex["videos"]:
        one = dict(ex, videos=[dict(v, path="elsewhere.mkv")])
        p = tmp_path / ("%s.json" % v["id"])
        p.write_text(json.dumps(one))
        args += ["--video", os.path.join(d, v["path"]), "--annotations", p]
    a = run_json("group", exam, "--model", pkg("cm.nidm"), "--json",
                 "--threshold", 0.05, "--threads", 1)
    b = run_json("group", *args, "--model", pkg("cm.nidm"), "--json",
                 "--threshold", 0.05, "--threads", 1)
    assert a["similarity"]["matrix"] == b["similarity"]["matrix"]
    # merged inputs get stable ids from the command line: pair i is video
    # "v<i>", its tracklets "v<i>-t<k>" in the annotation file's order
    want = ["v%d-t%d" % (i, k) for i, v in enumerate(ex["videos"])
            for k in range(len(v["tracklets"]))]
    assert b["similarity"]["tracklets"] == want
    assert [t["id"] for t in b["tracklets"]] == want
    assert [t["video"] for t in b["tracklets"]] == \
        [w.split("-")[0] for w in want]
    assert [t["source_id"] for t in b["tracklets"]] == \
        [t["id"] for v in ex["videos"] for t in v["tracklets"]]
    assert "source_id" not in a["tracklets"][0]
    assert [t["cluster"] for t in a["tracklets"]] == \
        [t["cluster"] for t in b["tracklets"]]
    assert b["exam"]["exam_id"] == "SYN-E1"
    # COCO-VID of video 1 alone: instance ids become the nodule ids
    v = ex["videos"][1]
    images = [{"id": 500 + f, "video_id": 3, "frame_id": f}
              for f in range(v["n_frames"])]
    anns, k = [], 1
    for t in v["tracklets"]:
        for f in range(t["start"], t["end"] + 1):
            kf = [q for q in t["key_frames"] if q["frame"] <= f][-1]
            anns.append({"id": k, "image_id": 500 + f, "bbox": kf["box"],
                         "instance_id": t["nodule"] * 10})
            k += 1
    coco = tmp_path / "coco.json"
    coco.write_text(json.dumps({
        "videos": [{"id": 3, "file_name": "x.mkv", "width": 160,
                    "height": 120}],
        "images": images, "annotations": anns}))
    c = run_json("group", "--video", os.path.join(d, "v1.mkv"),
                 "--annotations", coco, "--model", pkg("cm.nidm"), "--json",
                 "--threads", 1)
    assert {t["video"] for t in c["tracklets"]} == {"v0"}
    assert [t["id"] for t in c["tracklets"]] == \
        ["v0-t%d" % k for k in range(len(v["tracklets"]))]
    assert {t["truth"] for t in c["tracklets"]} == {10, 20, 30}
    # the same COCO file given as EXAM with --coco (its video path is
    # relative to the file, so give it a real one)
    coco2 = tmp_path / "coco2.json"
    j = json.loads(coco.read_text())
    shutil.copy(os.path.join(d, "v1.mkv"), tmp_path / "x.mkv")
    coco2.write_text(json.dumps(j))
    c2 = run_json("group", "--coco", coco2, "--model", pkg("cm.nidm"),
                  "--json", "--threads", 1)
    assert c2["similarity"]["matrix"] == c["similarity"]["matrix"]


# ---- progress bar -----------------------------------------------------------

def run_with_tty_stderr(args, env):
    """Run with stderr on a pseudo-terminal and stdout on a pipe."""
    master, slave = pty.openpty()
    p = subprocess.Popen([CLI, *map(str, args)], stdout=subprocess.PIPE,
                         stderr=slave, env=dict(os.environ, **env))
    os.close(slave)
    err = b""
    while True:
        r, _, _ = select.select([master], [], [], 0.1)
        if r:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                chunk = b""
            if not chunk and p.poll() is not None:
                break
            err += chunk
        elif p.poll() is not None:
            break
    out = p.stdout.read()
    p.wait()
    os.close(master)
    return p.returncode, out.decode(), err.decode(errors="replace")


@needs_model
def test_progress_bar_only_on_a_terminal(syn):
    d, exam, vids = syn
    args = ["group", exam, "--model", pkg("cm.nidm"), "--threads", 1]
    env = {"NODULEID_PROGRESS_DELAY": "0", "OMP_WAIT_POLICY": "PASSIVE"}
    rc, out, err = run_with_tty_stderr(args, env)
    assert rc == 0
    assert "embedding [" in err and "\r" in err and "7/7" in err
    assert "\r" not in out and "[#" not in out
    assert re.search(r"^\d+ nodules?:$", out, re.M)  # the summary, intact
    rc, out, err = run_with_tty_stderr(args + ["--quiet"], env)
    assert rc == 0 and "embedding [" not in err
    # not a terminal: never a bar, even with no delay
    p = run(*args, env=env)
    assert p.stderr == ""
