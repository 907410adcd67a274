"""The repository's Python commands (phantom/generate, python3 -m training,
python3 -m evaluation) answer a bad command line or input with one line on
stderr ("PROG: error: ...", saying what to change), exit status 2 and no
traceback; NODULEID_TRACEBACK=1 gives the traceback back (issue 17).
Run by ctest (test `python_commands`) from the source tree, with the
Python binding importable (training and evaluation import it)."""
import os
import subprocess
import sys

import pytest

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GENERATE = os.path.join(SRC, "phantom", "generate")


def run(cmd, code=2, env=None, cwd=None):
    e = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    e.pop("NODULEID_TRACEBACK", None)
    e.pop("NODULEID_VERBOSE", None)
    e.update(env or {})
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                       env=e, cwd=cwd or SRC)
    assert p.returncode == code, (cmd, p.returncode, p.stdout[-2000:],
                                  p.stderr[-2000:])
    return p


def one_line(cmd, prog, *needles, env=None):
    """exit 2, one line on stderr starting "PROG: error: ", naming each
    needle; no traceback, nothing on stdout."""
    p = run(cmd, env=env)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith(prog + ": error: "), lines[0]
    assert "Traceback" not in p.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    assert p.stdout == ""
    return lines[0]


def py(*args):
    return [sys.executable, *args]


# ---- phantom/generate ----------------------------------------------------------

def test_generate_paper_scale_with_fewer_patients_names_the_knob(tmp_path):
    out = tmp_path / "d"
    line = one_line([GENERATE, "--scale", "paper", "--set", "patients=40",
                     "--out", out], "phantom/generate",
                    "total_nodules=885", "the paper scale's", "[40, 160]",
                    "--set total_nodules=N", "--patients 40")
    assert "ValueError" not in line
    assert not out.exists()      # nothing written
    # with total_nodules set, the next knob: the paper's split counts
    one_line([GENERATE, "--scale", "paper", "--set", "patients=40", "--set",
              "total_nodules=50", "--out", out], "phantom/generate",
             "split_counts=[623, 76, 88]", "787", "patients=40",
             "--set split_counts=", "--patients 40")
    assert not out.exists()
    # and the traceback, for a developer who asks for it
    p = run([GENERATE, "--scale", "paper", "--set", "patients=40", "--out",
             out], code=1, env={"NODULEID_TRACEBACK": "1"})
    assert "Traceback" in p.stderr and "ValueError" in p.stderr


@pytest.mark.parametrize("args,needles", [
    (["--set", "patient=3"], ["unknown knob 'patient'", "did you mean 'patients'?"]),
    (["--set", "nosuchknob=3"], ["unknown knob 'nosuchknob'", "phantom/config.py"]),
    (["--set", "patients=abc"], ["--set patients=", "patients takes an integer"]),
    (["--set", "splits=0.5"], ["splits takes a list of numbers"]),
    (["--set", "patients"], ["--set expects name=value"]),
    (["--scale", "papr"], ["invalid choice: 'papr'", "did you mean 'paper'?"]),
    (["--seed", "x"], ["argument --seed: invalid int value"]),
])
def test_generate_bad_arguments(tmp_path, args, needles):
    one_line([GENERATE, *args, "--out", tmp_path / "d"], "phantom/generate",
             *needles)
    assert not (tmp_path / "d").exists()


def test_generate_commands():
    one_line([GENERATE, "genrate"], "phantom/generate",
             "unknown command 'genrate'", "did you mean 'generate'?")
    one_line([GENERATE, "zzzz"], "phantom/generate", "unknown command 'zzzz'")
    one_line([GENERATE, "realism"], "phantom/generate realism",
             "required: --data")
    one_line([GENERATE, "difficulty", "--data"], "phantom/generate difficulty",
             "--data")


# ---- python3 -m training / evaluation --------------------------------------------

def test_training_bad_arguments(tmp_path):
    prog = "python3 -m training"
    one_line(py("-m", "training", "trian"), prog, "invalid choice: 'trian'",
             "did you mean 'train'?")
    one_line(py("-m", "training", "train"), prog + " train",
             "required: --model, --data, --out")
    one_line(py("-m", "training", "train", "--model", "cm", "--data", "d",
                "--out", tmp_path / "o", "--frames", "abc"),
             prog + " train", "--frames: invalid int value: 'abc'")
    one_line(py("-m", "training", "train", "--model", "cm", "--data", "d",
                "--out", tmp_path / "o", "--frmes", "8"),
             prog, "unrecognized arguments: --frmes",
             "did you mean '--frames'?")
    missing = tmp_path / "no-dataset"
    one_line(py("-m", "training", "train", "--model", "cm", "--data", missing,
                "--out", tmp_path / "o"), prog,
             str(missing / "dataset.json"), "No such file or directory")


def test_evaluation_bad_arguments(tmp_path):
    prog = "python3 -m evaluation"
    one_line(py("-m", "evaluation", "reidd"), prog, "invalid choice: 'reidd'",
             "did you mean 'reid'?")
    one_line(py("-m", "evaluation", "reid"), prog + " reid", "required: --cm")
    missing = tmp_path / "no.nidm"
    args = py("-m", "evaluation", "reid", "--cm", missing, "--data",
              tmp_path / "d", "--out", tmp_path / "o")
    line = one_line(args, prog, str(missing), "No such file or directory")
    assert "nid_" not in line                  # the user's words ...
    line = one_line(args, prog, str(missing), env={"NODULEID_VERBOSE": "1"})
    assert "nid_model_load: " in line          # ... the function on request
