#!/usr/bin/env python3
"""check_headers.py - the public headers stand on their own.

  check_headers.py --include DIR --cc CC [--cc CC2] --cxx CXX [--cxx CXX2]
                   [--library LIB --exports LIST --check-symbols SCRIPT]

Checks, failing with a list of problems:
  1. include/noduleid.h includes every include/noduleid/*.h, and nothing
     that does not exist;
  2. each of them, and the umbrella, compiles alone as C (c99, c11) and C++
     (c++11, c++17) with -Wall -Wextra -Werror -pedantic, twice in a row
     (include guards);
  3. its functions have C linkage from C++: a C++ object taking the
     address of each function the header declares NID_API references only
     unmangled names;
  4. NID_DEPRECATED(msg): using a deprecated-marked declaration fails under
     -Werror=deprecated-declarations with msg in the message, compiles with
     a warning otherwise, and without one under NID_NO_DEPRECATION_WARNINGS;
     NID_EXPERIMENTAL expands to nothing;
  5. with --library: tests/check_symbols.sh passes on the built library and
     fails when the export list lacks a name or has one too many.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

problems = []


def strip_comments(text):
    return re.sub(r"//[^\n]*", "", re.sub(r"/\*.*?\*/", " ", text, flags=re.S))


def declared(path):
    with open(path, encoding="utf-8") as f:
        text = strip_comments(f.read())
    # (a name may be parenthesised, next to a function-like macro)
    return re.findall(r"\bNID_API\b[^;(]*?\(?\s*\b(nid_\w+)\s*\)?\s*\(", text)


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def compile_ok(compiler, lang_flags, source, workdir, include, extra=(),
               obj=None):
    src = os.path.join(workdir, "t.cpp" if "c++" in " ".join(lang_flags) else "t.c")
    with open(src, "w", encoding="utf-8") as f:
        f.write(source)
    out = ["-c", "-o", obj] if obj else ["-fsyntax-only"]
    return run([compiler, *lang_flags, "-Wall", "-Wextra", "-pedantic",
                "-I", include, *extra, *out, src])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--include", required=True)
    ap.add_argument("--cc", action="append", default=[])
    ap.add_argument("--cxx", action="append", default=[])
    ap.add_argument("--library")
    ap.add_argument("--exports")
    ap.add_argument("--check-symbols")
    a = ap.parse_args()
    inc = a.include
    moddir = os.path.join(inc, "noduleid")
    modules = sorted(n for n in os.listdir(moddir) if n.endswith(".h"))
    if len(modules) < 5:
        problems.append("only %d module headers in %s" % (len(modules), moddir))

    # 1. the umbrella includes every module header
    with open(os.path.join(inc, "noduleid.h"), encoding="utf-8") as f:
        umbrella = f.read()
    included = re.findall(r'^#include\s+"noduleid/([\w.]+)"', umbrella, re.M)
    for m in modules:
        if m not in included:
            problems.append("noduleid.h does not include noduleid/%s" % m)
    for m in included:
        if m not in modules:
            problems.append("noduleid.h includes noduleid/%s, which does not exist" % m)

    headers = ["noduleid.h"] + ["noduleid/" + m for m in modules]
    c_modes = [("c", ["-x", "c", "-std=c99"]), ("c", ["-x", "c", "-std=c11"])]
    cxx_modes = [("c++", ["-x", "c++", "-std=c++11"]), ("c++", ["-x", "c++", "-std=c++17"])]
    checked = 0
    with tempfile.TemporaryDirectory() as work:
        # 2. each header alone, C and C++
        for h in headers:
            for compilers, modes in ((a.cc, c_modes), (a.cxx, cxx_modes)):
                for comp in compilers:
                    for _, flags in modes:
                        src = '#include "%s"\n#include "%s"\nint nid_test_unused;\n' % (h, h)
                        r = compile_ok(comp, flags, src, work, inc, ["-Werror"])
                        checked += 1
                        if r.returncode:
                            problems.append("%s alone does not compile with %s %s:\n%s"
                                            % (h, comp, " ".join(flags), r.stderr))
        # 3. C linkage from C++
        for h in ["noduleid/" + m for m in modules]:
            names = declared(os.path.join(inc, h))
            if h.endswith(("core.h",)) and not names:
                problems.append("%s declares no function" % h)
            if not names:
                continue
            src = '#include "%s"\nvoid *nid_test_refs[] = {\n%s};\n' % (
                h, "".join("    (void *)&%s,\n" % n for n in names))
            for comp in a.cxx:
                obj = os.path.join(work, "t.o")
                r = compile_ok(comp, ["-x", "c++", "-std=c++11"], src, work, inc,
                               ["-Werror", "-Wno-pedantic"], obj=obj)
                if r.returncode:
                    problems.append("%s: C++ object does not compile:\n%s" % (h, r.stderr))
                    continue
                syms = run(["nm", "-u", obj]).stdout.split()
                mangled = [s for s in syms if s.startswith("_Z") and "nid_" in s]
                refs = [s for s in syms if s.startswith("nid_")]
                if mangled:
                    problems.append("%s: C++ sees C++ linkage for %s" % (h, mangled))
                if sorted(refs) != sorted(names):
                    problems.append("%s: C++ object references %s, expected %s"
                                    % (h, sorted(refs), sorted(names)))
        # 4. NID_DEPRECATED and NID_EXPERIMENTAL
        msg = "use nid_version_number() instead"
        dep = ('#include "noduleid/core.h"\n'
               'NID_DEPRECATED("%s") NID_API unsigned nid_test_old(void);\n'
               'NID_EXPERIMENTAL NID_API unsigned nid_test_new(void);\n'
               '#define NID_T_STR(x) #x\n#define NID_T_XSTR(x) NID_T_STR(x)\n'
               'typedef char nid_test_empty[sizeof NID_T_XSTR(NID_EXPERIMENTAL) == 1 ? 1 : -1];\n'
               'unsigned nid_test_use(void) { return nid_test_old() + nid_test_new(); }\n' % msg)
        for comp, flags in ([(c, ["-x", "c", "-std=c99"]) for c in a.cc]
                            + [(c, ["-x", "c++", "-std=c++11"]) for c in a.cxx]):
            r = compile_ok(comp, flags, dep, work, inc, ["-Werror=deprecated-declarations"])
            if r.returncode == 0 or msg not in r.stderr:
                problems.append("%s %s: a use of a NID_DEPRECATED declaration did not fail "
                                "under -Werror=deprecated-declarations with its message:\n%s"
                                % (comp, flags[1], r.stderr))
            r = compile_ok(comp, flags, dep, work, inc)
            if r.returncode or msg not in r.stderr:
                problems.append("%s %s: a use of a NID_DEPRECATED declaration did not compile "
                                "with a warning quoting its message:\n%s" % (comp, flags[1], r.stderr))
            r = compile_ok(comp, flags, dep, work, inc,
                           ["-Werror", "-DNID_NO_DEPRECATION_WARNINGS"])
            if r.returncode:
                problems.append("%s %s: NID_NO_DEPRECATION_WARNINGS does not silence "
                                "NID_DEPRECATED:\n%s" % (comp, flags[1], r.stderr))
        # 5. the export check fails when it should
        if a.library:
            with open(a.exports, encoding="utf-8") as f:
                names = f.read().split()
            sh = ["sh", a.check_symbols, a.library]
            r = run(sh + [a.exports])
            if r.returncode:
                problems.append("check_symbols.sh fails on the built library:\n" + r.stdout + r.stderr)
            for label, lst, want in (
                    ("a declared function the library lacks", names + ["nid_not_in_the_library"],
                     "nid_not_in_the_library"),
                    ("an exported function not declared", names[1:], names[0])):
                p = os.path.join(work, "exports")
                with open(p, "w", encoding="utf-8") as f:
                    f.write("\n".join(lst) + "\n")
                r = run(sh + [p])
                if r.returncode == 0 or want not in r.stderr:
                    problems.append("check_symbols.sh passes with %s (%s):\n%s"
                                    % (label, want, r.stdout + r.stderr))

    for p in problems:
        print("FAIL:", p, file=sys.stderr)
    if problems:
        return 1
    print("ok: %d headers, %d compilations (C, C++), C linkage, NID_DEPRECATED, "
          "NID_EXPERIMENTAL%s" % (len(headers), checked,
                                  ", export check" if a.library else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
