#!/usr/bin/env python3
"""No paths of a development machine in tracked files.

Greps every file git tracks for absolute paths that only exist on the
machine a file was written on: /work/..., /root/..., /home/<user>/...,
and the project's own scratch directories under /tmp (/tmp/nid...,
/tmp/nidpy...). Temporary directories come from $TMPDIR (tests, benches:
${TMPDIR:-/tmp}), build outputs from the build tree, data from $DATA.

Allowed, with the reason:
  results/bench/*.txt   verbatim output of bench runs, which print the
                        cache directory they ran in (a record, not an
                        instruction)
  this file             the patterns themselves

Usage: check_machine_paths.py [REPO_ROOT]   (exit 1 listing every hit)
"""
import os
import re
import subprocess
import sys

PATTERN = re.compile(rb"(?<![\w.$}-])(/work/|/root/|/home/[a-z_][\w-]*/|/tmp/nid)")
ALLOW = [re.compile(r"^results/bench/[^/]+\.txt$"),
         re.compile(r"^tests/py/check_machine_paths\.py$")]


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else \
        os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-z"], check=True,
                             capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        print("check_machine_paths: not a git checkout (%s): skipped" % e)
        return 77
    files = [f.decode() for f in out.split(b"\0") if f]
    hits = []
    for f in files:
        if any(a.match(f) for a in ALLOW):
            continue
        p = os.path.join(root, f)
        if not os.path.isfile(p) or os.path.islink(p):
            continue
        with open(p, "rb") as fh:
            data = fh.read()
        if b"\0" in data[:8192]:
            continue  # binary
        for n, line in enumerate(data.splitlines(), 1):
            m = PATTERN.search(line)
            if m:
                hits.append("%s:%d: %s" % (f, n, line.decode("utf-8", "replace").strip()[:160]))
    for h in hits:
        print(h)
    print("%d tracked files, %d machine paths" % (len(files), len(hits)))
    return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main())
