"""Bad input to every sub-command in main.c's table, old and new, gives
exactly one line on stderr (starting "noduleid: "), nothing on stdout, and
the documented exit code: 2 for a bad command line, 3 for a missing or
malformed input file."""
import os
import tempfile

import pytest

from nidcli import SAMPLE, assert_error


@pytest.mark.parametrize("args,code", [
    (["frobnicate"], 2),
    (["version", "--frobnicate"], 2),
    (["cluster"], 2),
    (["cluster", "--bogus", "x.npy"], 2),
    (["cluster", "--method"], 2),
    (["cluster", "/nonexistent/e.npy"], 3),
    (["eval"], 2),
    (["eval", "foo"], 2),
    (["eval", "clusters", "a.txt"], 2),
    (["eval", "pairs", "--bogus", "a.txt", "b.txt"], 2),
    (["eval", "clusters", "/nonexistent/a.txt", "/nonexistent/b.txt"], 3),
    (["tracklets"], 2),
    (["tracklets", "--bogus", "a.json"], 2),
    (["tracklets", "/nonexistent/exam.json"], 3),
    (["clip", "x.json"], 2),
    (["clip", "a.json", "t0"], 2),
    (["clip", SAMPLE, "no-such-tracklet", "--out",
      os.path.join(tempfile.gettempdir(), "nid-clip-x")], 2),
    (["gallery"], 2),
    (["gallery", "frob"], 2),
    (["gallery", "list", "/nonexistent/g.nidg"], 3),
    (["match", "g.nidg"], 2),
    (["group", "--bogus"], 2),
    (["embed", "--bogus"], 2),
    (["compare", "--bogus"], 2),
    (["info", "--bogus"], 2),
])
def test_one_line_error_and_exit_code(args, code):
    assert_error(args, code)
