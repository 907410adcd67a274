"""The noduleid program on hostile input (issue 16): files that are not
regular files, exams at the frame-number limits, and the same exit code
for the same library error in every command."""
import json
import os
import shutil
import subprocess

import pytest

CLI = os.environ["NID_CLI"]
SRC = os.environ["NID_SOURCE_DIR"]
MONO = os.path.join(SRC, "tests", "data", "US-MONO2-8-8x-execho.dcm")


def run(*args, timeout=30):
    return subprocess.run([CLI, *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


def exam(tmp_path, start, end, box=(1, 1, 5, 5), path="v.mp4"):
    doc = {"format": "noduleid-exam", "version": 1, "videos": [{
        "id": "v", "path": path, "tracklets": [{
            "id": "t", "start": start, "end": end, "key_frames": [
                {"frame": start, "box": list(box)},
                {"frame": end, "box": list(box)}]}]}]}
    p = tmp_path / "exam.json"
    p.write_text(json.dumps(doc))
    return p


def test_tracklets_at_int64_max_refused_not_overflowed(tmp_path):
    # [0, INT64_MAX] was accepted and `end - start + 1` overflowed
    p = run("tracklets", exam(tmp_path, 0, 2**63 - 1))
    assert p.returncode == 3, p.stdout
    assert "end" in p.stderr and "out of range" in p.stderr


def test_tracklets_length_is_exact(tmp_path):
    p = run("tracklets", "--json", exam(tmp_path, 5, 2**20 + 3))
    assert p.returncode == 0, p.stderr
    t = json.loads(p.stdout)["videos"][0]["tracklets"][0]
    assert t["length"] == 2**20 - 1


@pytest.mark.parametrize("what", ["fifo", "/dev/zero", "dir"])
def test_non_regular_inputs_are_io_errors(tmp_path, what):
    if what == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)
    elif what == "dir":
        path = tmp_path
    else:
        path = what
    # `cluster` reads an array file; `tracklets` an exam: neither may
    # block on a FIFO or read /dev/zero until memory runs out
    for cmd in (["cluster"], ["tracklets"]):
        p = run(*cmd, path, timeout=20)
        assert p.returncode == 3, (cmd, p.stderr)
        assert "not a regular file" in p.stderr or "directory" in p.stderr


def test_box_outside_frame_exits_3_in_clip_as_in_group(tmp_path):
    shutil.copy(MONO, tmp_path / "v.dcm")
    ex = exam(tmp_path, 0, 7, box=(100, 100, 60, 60), path="v.dcm")
    p = run("clip", ex, "t", "--out", tmp_path / "out")
    if "DICOM" in p.stderr and "NID_WITH_DICOM=OFF" in p.stderr:
        pytest.skip("no DICOM input in this build")
    assert "outside" in p.stderr
    assert p.returncode == 3, p.stderr
