#!/usr/bin/env python3
"""Rename internal nid_ functions and NID_ macros to nid__ / NID__.

Internal helpers must not look like API. Public names are those the public
headers (include/**/*.h) mention; the linker version scripts export nothing
else (lib/noduleid.map, generated from the headers: the declared API, the library compiled
with hidden visibility; lib/backend.map: the modules' nid_backend_* entry
points, found by dlsym from a built name, so every nid_backend_* name is
kept). Everything else is renamed:

  functions  nid_foo  -> nid__foo   declared or defined at file scope in a
                                    C/C++ source of the repository and not
                                    public
  macros     NID_FOO  -> NID__FOO   #define'd in a source outside include/,
                                    not public, and not set from outside the
                                    C sources (CMake -D, scripts, Python, Java)

Types and struct members are left alone. Renaming is whole-word in every
tracked C/C++ source and Markdown document, except the frozen header
tests/abi/noduleid-0.1.0.h and CHANGELOG.md (history). Idempotent: run it
again after merging a branch that adds helpers.

Usage: tools/dev/rename_internal.py [--dry-run] [REPO_ROOT]
"""
import os
import re
import subprocess
import sys

SRC_EXT = (".c", ".h", ".cpp", ".hpp", ".cc")
DOC_EXT = (".md",)
SKIP = {"tests/abi/noduleid-0.1.0.h", "CHANGELOG.md"}

FUNC_DECL = re.compile(
    r"^(?!\s)(?!#)(?!typedef)[A-Za-z_][\w \t\*]*?\b(nid_[a-z0-9]\w*)\s*\(",
    re.M)
MACRO_DEF = re.compile(r"^\s*#\s*define\s+(NID_[A-Z0-9]\w*)", re.M)
WORD = re.compile(r"\b(?:nid|NID)_[A-Za-z0-9]\w*\b")


def tracked(root):
    out = subprocess.run(["git", "-C", root, "ls-files", "-z"], check=True,
                         capture_output=True).stdout
    return [f.decode() for f in out.split(b"\0") if f]


def read(root, f):
    try:
        with open(os.path.join(root, f), encoding="utf-8") as fh:
            return fh.read()
    except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
        return None


def backend_patterns(root):
    pats = []
    for m in ("lib/backend.map", "lib/noduleid.map"):
        text = read(root, m) or ""
        text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
        g = re.search(r"global:(.*?)(local:|\})", text, re.S)
        if not g:
            continue
        for p in re.findall(r"([\w\*\?\[\]!]+)\s*;", g.group(1)):
            if p != "nid_*":  # the library's own: the header decides
                pats.append(re.compile(
                    "^" + p.replace("*", ".*").replace("?", ".") + "$"))
    return pats


def plan(root):
    files = tracked(root)
    public = set()
    for f in files:
        if f.startswith("include/") and f.endswith(".h"):
            public |= set(WORD.findall(read(root, f) or ""))
    keep = backend_patterns(root)
    outside = set()  # names used by CMake, scripts, Python, Java
    funcs, macros = set(), set()
    for f in files:
        text = read(root, f)
        if text is None or f in SKIP:
            continue
        if f.endswith(SRC_EXT):
            funcs |= set(FUNC_DECL.findall(text))
            if not f.startswith("include/"):
                macros |= set(MACRO_DEF.findall(text))
        elif not f.endswith(DOC_EXT):
            outside |= set(WORD.findall(text))
    ren = {}
    for n in funcs:
        if n in public or any(p.match(n) for p in keep):
            continue
        ren[n] = "nid__" + n[4:]
    for n in macros:
        if n in public or n in outside:
            continue
        ren[n] = "NID__" + n[4:]
    return files, ren


def main():
    args = [a for a in sys.argv[1:] if a != "--dry-run"]
    dry = "--dry-run" in sys.argv[1:]
    root = args[0] if args else os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__))))
    files, ren = plan(root)
    if not ren:
        print("rename_internal: nothing to rename")
        return 0
    pat = re.compile(r"\b(" + "|".join(sorted(map(re.escape, ren),
                                              key=len, reverse=True)) + r")\b")
    changed = 0
    for f in files:
        if f in SKIP or not f.endswith(SRC_EXT + DOC_EXT):
            continue
        text = read(root, f)
        if text is None:
            continue
        new = pat.sub(lambda m: ren[m.group(1)], text)
        if new != text:
            changed += 1
            if not dry:
                with open(os.path.join(root, f), "w", encoding="utf-8") as fh:
                    fh.write(new)
    for old in sorted(ren):
        print("%s -> %s" % (old, ren[old]))
    print("rename_internal: %d names, %d files%s" % (
        len(ren), changed, " (dry run)" if dry else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
