"""Every command has --help and a section in the man page
(docs/noduleid.1), which renders without groff warnings; the top-level
--help documents the exit codes and the model lookup."""
import os
import re
import shutil
import subprocess

from nidcli import SRC, run


# ---- help and the man page ------------------------------------------------------

def commands_in_main():
    text = open(os.path.join(SRC, "tools", "noduleid", "main.c")).read()
    table = text[text.index("commands[] = {"):]
    table = table[:table.index("};")]
    return re.findall(r'\{"([a-z]+)",', table)


def test_every_command_has_help_and_a_man_page_section():
    cmds = commands_in_main()
    assert {"group", "embed", "compare", "info", "cluster", "eval",
            "tracklets", "clip", "gallery", "match", "version"} <= set(cmds)
    page = open(os.path.join(SRC, "docs", "noduleid.1")).read()
    sections = re.findall(r"^\.SS (\S+)", page, re.M)
    for c in cmds:
        assert c in sections, "docs/noduleid.1 has no .SS %s" % c
        p = run(c, "--help")
        assert "usage" in p.stdout, c
    top = run("--help").stdout
    for c in cmds:
        assert c in top
    for word in ("exit status", "NODULEID_MODEL", "share/noduleid"):
        assert word in top
    for word in (".SH EXIT STATUS", ".SH ENVIRONMENT", ".SH FILES",
                 "NODULEID_MODEL", "share/noduleid/default.nidm"):
        assert word in page
    for code in ("0", "1", "2", "3"):
        assert re.search(r"^\.B %s$" % code, page, re.M)


def test_man_page_renders_without_warnings():
    groff = shutil.which("groff")
    assert groff, "groff (Debian groff-base) is needed to check the man page"
    p = subprocess.run([groff, "-man", "-ww", "-z",
                        os.path.join(SRC, "docs", "noduleid.1")],
                       capture_output=True, text=True)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    p = subprocess.run([groff, "-man", "-Tutf8", "-ww",
                        os.path.join(SRC, "docs", "noduleid.1")],
                       capture_output=True, text=True)
    text = re.sub(".\x08", "", p.stdout)  # bold and underline overstrikes
    assert p.stderr == "" and "EXIT STATUS" in text and "NODULEID_MODEL" in text
