#!/usr/bin/env python3
"""test_gen_split.py - gen_jni.py gives the same glue for a header split into modules.

ctest java_jni_gen_split: copies include/ to a temporary folder ($TMPDIR
honoured), moves the second half of the declarations of noduleid.h (from
`typedef struct nid_model nid_model;` to the closing extern "C" block) into
include/noduleid/split_test.h behind an `#include "noduleid/split_test.h"`,
runs gen_jni.py on both and requires byte-identical output. It fails when the
generator stops following the umbrella header's includes.
"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path


def generate(gen, header, unbound, out):
    subprocess.run([sys.executable, str(gen), "--header", str(header), "--unbound", str(unbound),
                    "--java-out", str(out / "java"), "--c-out", str(out / "glue.h")], check=True, timeout=120)
    return {p.relative_to(out).as_posix(): p.read_text() for p in sorted(out.rglob("*")) if p.is_file()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gen", required=True)
    ap.add_argument("--header", required=True)
    ap.add_argument("--unbound", required=True)
    a = ap.parse_args()
    text = Path(a.header).read_text()
    start = text.find("typedef struct nid_model nid_model;")
    end = text.rfind("#ifdef __cplusplus")
    if start < 0 or end < start:
        print("FAIL: split points not found in the header (test out of date?)")
        return 1
    with tempfile.TemporaryDirectory(prefix="nid-gen-split-") as tmp:
        tmp = Path(tmp)
        one = generate(a.gen, a.header, a.unbound, tmp / "one")
        inc = tmp / "include"
        (inc / "noduleid").mkdir(parents=True)
        (inc / "noduleid" / "split_test.h").write_text(text[start:end])
        (inc / "noduleid.h").write_text(text[:start] + '#include "noduleid/split_test.h"\n' + text[end:])
        split = generate(a.gen, inc / "noduleid.h", a.unbound, tmp / "split")
    if "static native String[] modelGetInfo" not in one.get("java/org/noduleid/NativeApi.java", ""):
        print("FAIL: the one-file header did not give nid_model_get_info (generator broken?)")
        return 1
    if one != split:
        diff = [k for k in sorted(set(one) | set(split)) if one.get(k) != split.get(k)]
        print(f"FAIL: the split header gives different output in {diff}")
        return 1
    print(f"ok: {len(one)} generated files identical for the one-file and the split header")
    return 0


if __name__ == "__main__":
    sys.exit(main())
