#!/usr/bin/env python3
"""test_gen_split.py - gen_jni.py gives the same glue however the header is split.

ctest java_jni_gen_split: flattens include/noduleid.h and its modules into one
file (gen_cdef.read_header), writes that file and a copy split in two (from
`typedef struct nid_model nid_model;` to the closing extern "C" block into
noduleid/split_test.h behind an `#include`) to a temporary folder ($TMPDIR
honoured), runs gen_jni.py on the flat file, the split copy and the real
header, and requires byte-identical output. It fails when the generator
stops following the umbrella header's includes, or stops binding an init
declared `void (nid_x_init)(...)` beside its function-like macro (or binds
the *_init_sized function behind it).
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
    sys.path.insert(0, str(Path(a.gen).resolve().parent.parent / "python"))
    import gen_cdef  # the umbrella header and its modules as one text
    text = gen_cdef.read_header(a.header)
    start = text.find("typedef struct nid_model nid_model;")
    end = text.rfind("#ifdef __cplusplus")
    if start < 0 or end < start:
        print("FAIL: split points not found in the header (test out of date?)")
        return 1
    with tempfile.TemporaryDirectory(prefix="nid-gen-split-") as tmp:
        tmp = Path(tmp)
        real = generate(a.gen, a.header, a.unbound, tmp / "real")
        (tmp / "flat").mkdir()
        (tmp / "flat" / "noduleid.h").write_text(text)
        one = generate(a.gen, tmp / "flat" / "noduleid.h", a.unbound, tmp / "one")
        inc = tmp / "include"
        (inc / "noduleid").mkdir(parents=True)
        (inc / "noduleid" / "split_test.h").write_text(text[start:end])
        (inc / "noduleid.h").write_text(text[:start] + '#include "noduleid/split_test.h"\n' + text[end:])
        split = generate(a.gen, inc / "noduleid.h", a.unbound, tmp / "split")
    # The sized init functions: the old name declared in parentheses beside a
    # function-like macro of that name, and the *_init_sized function. The
    # old name is bound (the C glue calls the macro); *_init_sized is not
    # (a size from Java could only be wrong).
    if "NID_API void (nid_model_options_init)(nid_model_options *opts);" not in text:
        print("FAIL: the parenthesised nid_model_options_init declaration not found (test out of date?)")
        return 1
    api = one.get("java/org/noduleid/NativeApi.java", "")
    if "static native String[] modelOptionsInit" not in api:
        print("FAIL: a parenthesised declaration beside a function-like macro was not bound")
        return 1
    if "InitSized" in api:
        print("FAIL: a *_init_sized function was bound")
        return 1
    if "static native String[] modelGetInfo" not in one.get("java/org/noduleid/NativeApi.java", ""):
        print("FAIL: the one-file header did not give nid_model_get_info (generator broken?)")
        return 1
    for name, other in (("split in two", split), ("as installed (umbrella and modules)", real)):
        if one != other:
            diff = [k for k in sorted(set(one) | set(other)) if one.get(k) != other.get(k)]
            print(f"FAIL: the header {name} gives different output than one flat file in {diff}")
            return 1
    print(f"ok: {len(one)} generated files identical for the header as one file, split in two, and as installed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
