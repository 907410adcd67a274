#!/usr/bin/env python3
"""Generate the cffi declarations (cdef) of libnoduleid from noduleid.h.

noduleid.h is an umbrella over the module headers noduleid/*.h: read_header()
inlines each `#include "..."` of a header next to it (once per file, in
include order), which gives the declarations in the order a C compiler
sees them.

The Python binding never carries a hand-written copy of the C API: its build
(noduleid/_build.py) runs this on the installed header, and the test
tests/test_drift.py checks that the compiled module's cdef equals what this
script makes of the repository's include/noduleid.h.

What it does to the header, in order:
  * removes comments (/* */ and //), keeping string literals intact;
  * drops preprocessor lines (with their continuation lines) and everything
    inside `#ifdef __cplusplus` blocks (the extern "C" wrapper);
  * turns object-like `#define NID_X value` constants into declarations
    cffi can take in API mode: `#define NID_X ...` for integer expressions
    (cffi reads the value from the compiled header), and
    `static const char *const NID_X;` for string constants;
  * removes the NID_API export macro and the stability markers
    NID_EXPERIMENTAL and NID_DEPRECATED(msg);
  * keeps typedefs, enums, structs and prototypes as written.

Usage:
  gen_cdef.py HEADER            print the cdef
  gen_cdef.py HEADER -o FILE    write it to FILE
  gen_cdef.py HEADER --functions  list the NID_API function names
"""
import argparse
import os
import re
import sys

_EXPORT_MACROS = {"NID_API", "NODULEID_H"}
_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]+"([^"]+)"[^\n]*$', re.M)


def read_header(path, _seen=None):
    """Text of header `path` with its local includes (`#include "x.h"`,
    resolved against the header's directory) inlined, each file once."""
    seen = set() if _seen is None else _seen
    path = os.path.realpath(path)
    if path in seen:
        return ""
    seen.add(path)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    here = os.path.dirname(path)

    def inline(m):
        target = os.path.join(here, m.group(1))
        if not os.path.isfile(target):
            raise FileNotFoundError("%s includes \"%s\", not found next to it"
                                    % (path, m.group(1)))
        return read_header(target, seen)
    return _INCLUDE.sub(inline, text)


def strip_comments(text):
    """Remove C comments, leaving string and char literals untouched."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                raise ValueError("unterminated comment")
            # Keep newlines so line-based processing still sees the lines.
            out.append("\n" * text.count("\n", i, j + 2) or " ")
            i = j + 2
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _logical_lines(text):
    """Join backslash-continued lines."""
    return text.replace("\\\n", " ").split("\n")


def parse(header_text):
    """Return (cdef text, list of NID_API function names)."""
    lines = _logical_lines(strip_comments(header_text))
    body = []
    defines = []
    skip_depth = 0   # > 0 while inside #ifdef __cplusplus
    depth = 0        # nesting of #if* seen while skipping
    for line in lines:
        s = line.strip()
        if s.startswith("#"):
            directive = s[1:].strip()
            word = directive.split(None, 1)[0] if directive else ""
            if skip_depth:
                if word.startswith("if"):
                    depth += 1
                elif word == "endif":
                    if depth == 0:
                        skip_depth = 0
                    else:
                        depth -= 1
                elif word in ("else", "elif") and depth == 0:
                    skip_depth = 0
                continue
            if word == "ifdef" and directive.split()[1:2] == ["__cplusplus"]:
                skip_depth, depth = 1, 0
                continue
            m = re.match(r"define\s+([A-Za-z_]\w*)(\s+(.*))?$", directive)
            if m and m.group(1) not in _EXPORT_MACROS \
                    and not directive[len("define"):].lstrip()[len(m.group(1)):].startswith("("):
                value = (m.group(3) or "").strip()
                if value.startswith('"'):
                    defines.append("static const char *const %s;" % m.group(1))
                elif value:
                    defines.append("#define %s ..." % m.group(1))
            continue
        if skip_depth:
            continue
        body.append(line)
    code = "\n".join(body)
    # (a name may be parenthesised: void (nid_x_init)(nid_x *p), next to a
    # function-like macro of that name)
    functions = sorted(set(re.findall(
        r"\bNID_API\b[^;(]*?\(?\s*\b(nid_\w+)\s*\)?\s*\(", code)))
    code = re.sub(r"\bNID_API\b\s*", "", code)
    code = re.sub(r"\bNID_EXPERIMENTAL\b\s*", "", code)
    code = re.sub(r"\bNID_DEPRECATED\s*\((?:[^()\"]|\"(?:\\.|[^\"\\])*\")*\)\s*", "", code)
    # Normalise whitespace per declaration: one statement per line, inner
    # runs of blanks collapsed, so formatting changes in the header do not
    # count as drift.
    code = re.sub(r"[ \t]+", " ", code)
    code = re.sub(r"\s*\n\s*", "\n", code).strip()
    cdef = "\n".join(defines) + "\n" + code + "\n"
    return cdef, functions


def function_macros(header_text):
    """{macro: function} for the header's function-like macros that call an
    nid_ function, e.g. nid_x_init(p) -> nid_x_init_sized (a call of the
    macro in compiled code is a call of that function)."""
    text = strip_comments(header_text).replace("\\\n", " ")
    return dict(re.findall(
        r"^[ \t]*#[ \t]*define[ \t]+(nid_\w+)\([^)]*\)[ \t]+\(?(nid_\w+)\s*\(",
        text, flags=re.M))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("header")
    ap.add_argument("-o", "--output")
    ap.add_argument("--functions", action="store_true",
                    help="list the NID_API function names instead")
    args = ap.parse_args(argv)
    cdef, functions = parse(read_header(args.header))
    text = "\n".join(functions) + "\n" if args.functions else cdef
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
