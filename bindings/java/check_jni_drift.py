#!/usr/bin/env python3
"""check_jni_drift.py - keep the Java binding in step with include/noduleid.h.

Checks, failing with a list of problems:
  1. every native method of the Java sources is in org.noduleid.Native (so
     `javac -h` puts all of them in one header), without overloads;
  2. the JNI header generated at build time and the JNI symbols exported by
     libnoduleid_jni.so name the same functions (a native method without C
     code, or C code for a method that no longer exists, is caught here;
     a signature mismatch already fails the compile, since the glue includes
     the header);
  3. the glue calls only functions declared NID_API in noduleid.h (and the
     module headers noduleid/*.h it includes), each with
     the declared number of arguments;
  4. every NID_API function is bound (referenced by the glue) or listed in
     unbound.txt with a reason, and nothing is both.
Prints the table of bound and unbound functions.
"""
import argparse
import re
import subprocess
import sys
from pathlib import Path


def strip_c(text):
    """Remove comments and string/char literals, keeping line structure."""
    out = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    out = re.sub(r"//[^\n]*", "", out)
    out = re.sub(r'"(?:\\.|[^"\\\n])*"', '""', out)
    out = re.sub(r"'(?:\\.|[^'\\\n])*'", "''", out)
    return out


def split_args(s):
    """Top-level comma-separated pieces of an argument list."""
    depth, cur, parts = 0, "", []
    for ch in s:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return [p.strip() for p in parts]


def api_functions(header):
    # the umbrella noduleid.h and the module headers noduleid/*.h next to it
    paths = [Path(header)] + sorted(Path(header).parent.glob("noduleid/*.h"))
    text = strip_c("\n".join(p.read_text() for p in paths))
    funcs = {}
    for m in re.finditer(r"\bNID_API\b([^;{]*?)\b(nid_\w+)\s*\(([^;]*?)\)\s*;", text, flags=re.S):
        params = split_args(m.group(3))
        funcs[m.group(2)] = 0 if params in ([], ["void"]) else len(params)
    return funcs


def glue_uses(glue, api):
    """(calls: list of (name, nargs, line)), referenced names, unknown calls."""
    text = strip_c(Path(glue).read_text())
    calls, unknown = [], []
    for m in re.finditer(r"\b(nid_\w+)\s*\(", text):
        name = m.group(1)
        # a cast such as (nid_video *)(...) or a type in sizeof is not a call
        if name not in api:
            if re.match(r"\bnid_\w+\s*\(\s*\*", text[m.start():]):
                continue
            unknown.append((name, text.count("\n", 0, m.start()) + 1))
            continue
        depth, i = 1, m.end()
        while depth and i < len(text):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        args = split_args(text[m.end():i - 1])
        calls.append((name, len(args), text.count("\n", 0, m.start()) + 1))
    referenced = {n for n in api if re.search(r"\b%s\b" % n, text)}
    return calls, referenced, unknown


def java_natives(src):
    problems, natives = [], []
    decl = re.compile(r"\bnative\s+[\w\[\]<>.$\s]+?\b(\w+)\s*\(", re.S)
    for f in sorted(Path(src).rglob("*.java")):
        text = re.sub(r"/\*.*?\*/|//[^\n]*", "", f.read_text(), flags=re.S)
        text = re.sub(r'"(?:\\.|[^"\\\n])*"', '""', text)
        names = decl.findall(text)
        if names and f.name != "Native.java":
            problems.append(f"{f}: native methods outside Native.java: {names}")
        if f.name == "Native.java":
            natives = names
    dup = sorted({n for n in natives if natives.count(n) > 1})
    if dup:
        problems.append(f"Native.java: overloaded native methods (mangled JNI names): {dup}")
    return natives, problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api-header", required=True)
    ap.add_argument("--glue", required=True)
    ap.add_argument("--jni-header", required=True)
    ap.add_argument("--java-src", required=True)
    ap.add_argument("--library", required=True)
    ap.add_argument("--unbound", required=True)
    a = ap.parse_args()
    problems = []

    api = api_functions(a.api_header)
    if len(api) < 50:
        problems.append(f"only {len(api)} NID_API functions parsed from {a.api_header}: parser broken?")

    natives, p = java_natives(a.java_src)
    problems += p
    prefix = "Java_org_noduleid_Native_"
    header_syms = set(re.findall(r"JNIEXPORT[^;]*?JNICALL\s+(%s\w+)" % prefix,
                                 Path(a.jni_header).read_text(), flags=re.S))
    if {prefix + n for n in natives} != header_syms:
        problems.append("Native.java and the generated header disagree: "
                        f"{sorted({prefix + n for n in natives} ^ header_syms)}")
    nm = subprocess.run(["nm", "-D", "--defined-only", a.library], capture_output=True, text=True, check=True)
    lib_syms = {line.split()[-1] for line in nm.stdout.splitlines() if line.strip()}
    jni_syms = {s for s in lib_syms if s.startswith("Java_")}
    for s in sorted(header_syms - jni_syms):
        problems.append(f"native method without C code in {a.library}: {s}")
    for s in sorted(jni_syms - header_syms):
        problems.append(f"C code for no native method (stale?): {s}")
    # (sanitizer builds add compiler-reserved "__" symbols; they are not ours)
    other = sorted(s for s in lib_syms - jni_syms
                   if s not in ("JNI_OnLoad", "JNI_OnUnload", "_init", "_fini") and not s.startswith("__"))
    if other:
        problems.append(f"{a.library} exports non-JNI symbols: {other}")

    calls, referenced, unknown = glue_uses(a.glue, api)
    for name, line in unknown:
        problems.append(f"{a.glue}:{line}: calls {name}, which is not an NID_API function of noduleid.h")
    for name, nargs, line in calls:
        if nargs != api[name]:
            problems.append(f"{a.glue}:{line}: {name} called with {nargs} arguments, "
                            f"noduleid.h declares {api[name]}")

    unbound = {}
    for raw in Path(a.unbound).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, _, reason = line.partition(":")
        name = name.strip()
        if not reason.strip():
            problems.append(f"{a.unbound}: {name} has no reason")
        unbound[name] = reason.strip()
    for n in sorted(set(unbound) - set(api)):
        problems.append(f"{a.unbound}: {n} is not an NID_API function (removed or misspelt)")
    for n in sorted(set(unbound) & referenced):
        problems.append(f"{n} is listed as unbound but the glue uses it")
    for n in sorted(set(api) - referenced - set(unbound)):
        problems.append(f"{n} (noduleid.h) is neither bound in {Path(a.glue).name} nor listed in "
                        f"{Path(a.unbound).name}")

    print(f"NID_API functions: {len(api)}; bound: {len(referenced)}; unbound: {len(set(api) - referenced)}; "
          f"native methods: {len(natives)}; glue calls checked: {len(calls)}")
    for n in sorted(api):
        if n in referenced:
            print(f"  bound    {n}")
    for n in sorted(api):
        if n not in referenced:
            print(f"  UNBOUND  {n}: {unbound.get(n, '(no reason listed)')}")
    if problems:
        print("\nDRIFT:", file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        return 1
    print("ok: Java natives, JNI header, glue symbols and noduleid.h agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
