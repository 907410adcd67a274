#!/usr/bin/env python3
"""test_drift_negative.py - the Java drift check must fail on real drift.

ctest java_jni_drift_negative: runs check_jni_drift.py (enum values and
struct layouts, checks 5-6) on the real files (must pass) and on mutated
copies, each of which must fail with a message naming the drift:
  1. the header with two enum values swapped (NID_METRIC_COSINE = 1,
     NID_METRIC_EUCLIDEAN = 0), against the built Consts.java;
  2. the header with two fields of nid_link_options swapped, against the
     built NativeLayout.java and C glue;
  3. a Java enum with its Consts references swapped (Metric.java);
  4. NativeLayout.java with two index constants of a struct swapped;
  5. a Java enum that hard-codes a C value.
The copies go to a temporary folder ($TMPDIR honoured) that is removed.
"""
import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def run(checker, header, java_srcs, consts, layout, c_gen):
    cmd = [sys.executable, str(checker), "--api-header", str(header), "--consts", str(consts),
           "--layout", str(layout), "--c-gen", str(c_gen)]
    for s in java_srcs:
        cmd += ["--java-src", str(s)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def mutate(path, pattern, repl, flags=0):
    """Apply one regex substitution to path; fail the test if nothing changed."""
    text = path.read_text()
    new, n = re.subn(pattern, repl, text, count=1, flags=flags)
    if n != 1 or new == text:
        raise SystemExit(f"FAIL: mutation {pattern!r} matched nothing in {path} (test out of date?)")
    path.write_text(new)


def find_file(root, needle):
    for f in sorted(Path(root).rglob("*.h")):
        if needle in f.read_text():
            return f
    raise SystemExit(f"FAIL: no header under {root} contains {needle!r}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checker", required=True)
    ap.add_argument("--include-dir", required=True, help="include/ (noduleid.h and noduleid/*.h)")
    ap.add_argument("--java-src", required=True, help="hand-written sources (src/)")
    ap.add_argument("--generated", required=True, help="gen_jni.py output folder")
    a = ap.parse_args()
    gen = Path(a.generated)
    consts = gen / "org/noduleid/Consts.java"
    layout = gen / "org/noduleid/NativeLayout.java"
    c_gen = gen / "noduleid_jni_gen.h"
    failures = []

    def expect(name, rc, out, must_fail, needle=None):
        print(f"---- {name}: rc={rc}\n{out.strip()}\n")
        if must_fail and rc == 0:
            failures.append(f"{name}: the checker passed, drift not detected")
        elif must_fail and needle and needle not in out:
            failures.append(f"{name}: the checker failed without naming {needle!r}")
        elif not must_fail and rc != 0:
            failures.append(f"{name}: the checker fails on the unmodified files")

    with tempfile.TemporaryDirectory(prefix="nid-jni-drift-") as tmp:
        tmp = Path(tmp)
        inc = tmp / "include"
        shutil.copytree(a.include_dir, inc)
        header = inc / "noduleid.h"
        java = tmp / "src"
        shutil.copytree(a.java_src, java)
        lay = tmp / "NativeLayout.java"
        shutil.copy(layout, lay)

        rc, out = run(a.checker, header, [java, gen], consts, layout, c_gen)
        expect("unmodified", rc, out, must_fail=False)

        # 1. swapped enum values in the header
        f = find_file(inc, "NID_METRIC_EUCLIDEAN")
        saved = f.read_text()
        mutate(f, r"NID_METRIC_COSINE\s*=\s*0\s*,", "NID_METRIC_COSINE = 1,")
        mutate(f, r"NID_METRIC_EUCLIDEAN\s*=\s*1\b", "NID_METRIC_EUCLIDEAN = 0")
        rc, out = run(a.checker, header, [java, gen], consts, layout, c_gen)
        expect("header: enum values swapped", rc, out, must_fail=True, needle="NID_METRIC_COSINE")
        f.write_text(saved)

        # 2. swapped struct fields in the header
        f = find_file(inc, "nid_link_options")
        saved = f.read_text()
        # (the declarations trade places; the comments stay where they are)
        mutate(f, r"(typedef struct nid_link_options \{.*?)\bfloat(\s+)iou_threshold;(.*?)\bint32_t(\s+)max_gap;",
               r"\1int32_t\2max_gap;\3float\4iou_threshold;", flags=re.S)
        rc, out = run(a.checker, header, [java, gen], consts, layout, c_gen)
        expect("header: struct fields swapped", rc, out, must_fail=True, needle="nid_link_options")
        f.write_text(saved)

        # 3. swapped Consts references in a Java enum
        m = java / "org/noduleid/Metric.java"
        saved = m.read_text()
        mutate(m, r"COSINE\(Consts\.NID_METRIC_COSINE\)", "COSINE(Consts.NID_METRIC_EUCLIDEAN)")
        mutate(m, r"EUCLIDEAN\(Consts\.NID_METRIC_EUCLIDEAN\)", "EUCLIDEAN(Consts.NID_METRIC_COSINE)")
        rc, out = run(a.checker, header, [java, gen], consts, layout, c_gen)
        expect("Java: enum values swapped", rc, out, must_fail=True, needle="swapped")

        # 5. a hard-coded value
        mutate(m, r"COSINE\(Consts\.NID_METRIC_EUCLIDEAN\)", "COSINE(0)")
        rc, out = run(a.checker, header, [java, gen], consts, layout, c_gen)
        expect("Java: enum value hard-coded", rc, out, must_fail=True, needle="hard-codes")
        m.write_text(saved)

        # 4. swapped field indices in the Java layout
        mutate(lay, r"(static class nid_link_options \{.*?static final int MAX_GAP = )(\d+)(;.*?"
                    r"static final int MIN_LENGTH = )(\d+);", r"\g<1>\4\g<3>\2;", flags=re.S)
        rc, out = run(a.checker, header, [java, gen], consts, lay, c_gen)
        expect("Java: struct field indices swapped", rc, out, must_fail=True, needle="nid_link_options")

    if failures:
        print("FAIL:\n  " + "\n  ".join(failures))
        return 1
    print("ok: the drift check passes on the real files and fails on each of the 5 mutations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
