"""Bad input to `embed`, `compare`, `info` and `version` gives one line on
stderr, nothing on stdout, and the documented exit code; the model
commands of a build without libtorch say so."""
import numpy as np
import pytest

from nidcli import FEAT, SAMPLE, assert_error, needs_model, pkg, run_json


def test_errors_embed_compare_info_version(tmp_path):
    assert_error(["embed", SAMPLE], 2, "--out")
    assert_error(["embed", "--out", tmp_path / "e.npy"], 2, "no exam")
    assert_error(["embed", SAMPLE, "--out", "x.npy", "--verify"], 2,
                 "--compare")
    assert_error(["embed", tmp_path / "none.json", "--out", "e.npy"], 3,
                 "none.json")
    assert_error(["compare"], 2, "EMBEDDINGS")
    assert_error(["compare", tmp_path / "none.npy"], 3, "none.npy")
    x = np.ones((3, 4), np.float32)
    x[1, 2] = np.nan
    np.save(tmp_path / "nan.npy", x)
    assert_error(["compare", tmp_path / "nan.npy"], 3)
    np.save(tmp_path / "zero.npy", np.zeros((3, 4), np.float32))
    assert_error(["compare", tmp_path / "zero.npy"], 3, "zero")
    np.save(tmp_path / "a.npy", np.ones((3, 4), np.float32))
    np.save(tmp_path / "b.npy", np.ones((3, 5), np.float32))
    assert_error(["compare", tmp_path / "a.npy", tmp_path / "b.npy"], 3,
                 "columns")
    assert_error(["compare", tmp_path / "a.npy", "--windows"], 2, "--windows")
    assert_error(["compare", tmp_path / "a.npy", "--compare", "x"], 2, "'x'")
    assert_error(["info", tmp_path / "none.nidm"], 3, "none.nidm")
    assert_error(["info", "a", "b"], 2, "MODEL")
    assert_error(["info", "--distance"], 2, "--distance")
    assert_error(["version", "--frobnicate"], 2, "--frobnicate")
    v = run_json("version", "--json")
    assert v["program"] == v["library"] == v["header"]


@needs_model
def test_errors_with_model(tmp_path):
    np.save(tmp_path / "a.npy", np.ones((3, 4), np.float32))
    # the model's embedding size is 128
    assert_error(["compare", "--model", pkg("cm.nidm"), tmp_path / "a.npy"],
                 3, "128")
    assert_error(["compare", "--verify", "--model", pkg("cm.nidm"),
                  tmp_path / "a.npy"], 2, "verification")
    assert_error(["info", pkg("version.nidm")], 3, "format_version")
    assert_error(["info", pkg("input.nidm")], 3, "input.nidm")


def test_model_commands_without_libtorch(tmp_path):
    if "torch" in FEAT:
        pytest.skip("built with libtorch")
    fake = tmp_path / "m.nidm"
    fake.write_bytes(b"x")
    assert_error(["info", fake], 1, "libtorch")
    assert_error(["group", SAMPLE, "--model", fake], 1, "libtorch")
    assert_error(["embed", SAMPLE, "--model", fake, "--out", "e.npy"], 1,
                 "libtorch")
