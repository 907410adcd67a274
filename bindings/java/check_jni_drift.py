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
     unbound.txt with a reason, and nothing is both;
  5. enum values: every enum constant and integer #define of the header has
     the same value in the generated Consts.java, and the hand-written Java
     enums take their values from Consts (an integer literal is drift), name
     the C constant whose suffix is their own name (COSINE ->
     NID_METRIC_COSINE, so a swap is caught), and cover every value of the
     C enum they map;
  6. struct field order: for every struct of the header, the slots of its
     NativeLayout class (NUM_FIELDS, STR_FIELDS and the index constants) and
     the order in which the generated C glue packs it (nidj_put_*) follow the
     header's field order.
The header is read here by a small parser of its own (not gen_jni.py's), so
the generated files are checked against the header, not against themselves.
Checks 1-4 run when --glue/--jni-header/--library/--unbound are given, 5-6
when --consts/--layout are given (the negative test runs 5-6 alone on
mutated copies). Prints the table of bound and unbound functions.
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
    # (a name may be parenthesised, void (nid_x_init)(nid_x *p), next to a
    # function-like macro of that name)
    for m in re.finditer(r"\bNID_API\b([^;{]*?)\(?\b(nid_\w+)\)?\s*\(([^;]*?)\)\s*;", text, flags=re.S):
        params = split_args(m.group(3))
        funcs[m.group(2)] = 0 if params in ([], ["void"]) else len(params)
    return funcs


def api_macros(header):
    """{macro: function} for the headers' function-like macros calling an nid_
    function (nid_x_init(p) -> nid_x_init_sized): the glue calling the macro
    calls the function."""
    paths = [Path(header)] + sorted(Path(header).parent.glob("noduleid/*.h"))
    text = strip_c("\n".join(p.read_text() for p in paths)).replace("\\\n", " ")
    return dict(re.findall(r"^[ \t]*#[ \t]*define[ \t]+(nid_\w+)\([^)]*\)[ \t]+\(?(nid_\w+)\s*\(",
                           text, flags=re.M))


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


NATIVE_CLASSES = ("Native", "NativeApi")  # hand-written, generated


def java_natives(srcs):
    """{class: [native method names]} of Native.java and NativeApi.java."""
    problems, natives = [], {c: [] for c in NATIVE_CLASSES}
    decl = re.compile(r"\bnative\s+[\w\[\]<>.$\s]+?\b(\w+)\s*\(", re.S)
    for src in srcs:
        for f in sorted(Path(src).rglob("*.java")):
            text = re.sub(r"/\*.*?\*/|//[^\n]*", "", f.read_text(), flags=re.S)
            text = re.sub(r'"(?:\\.|[^"\\\n])*"', '""', text)
            names = decl.findall(text)
            if names and f.stem not in NATIVE_CLASSES:
                problems.append(f"{f}: native methods outside Native.java/NativeApi.java: {names}")
            if f.stem in NATIVE_CLASSES:
                natives[f.stem] += names
    for c, names in natives.items():
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            problems.append(f"{c}.java: overloaded native methods (mangled JNI names): {dup}")
    both = sorted(set(natives["Native"]) & set(natives["NativeApi"]))
    if both:
        problems.append(f"bound twice, by hand (Native) and generated (NativeApi): {both}")
    return natives, problems


# ------------------------------------------------------------ enums and layouts
def header_text(path, seen=None):
    """The header with its local includes (`#include "x.h"`, resolved next to
    the including file: noduleid.h -> noduleid/*.h) inlined once each,
    comments removed."""
    seen = set() if seen is None else seen
    path = Path(path).resolve()
    if path in seen:
        return ""
    seen.add(path)
    out = []
    for line in path.read_text().splitlines():
        m = re.match(r'\s*#\s*include\s*"([^"]+)"', line)
        if m:
            sub = path.parent / m.group(1)
            if not sub.is_file():
                raise SystemExit(f"check_jni_drift.py: {path} includes {m.group(1)}, not found next to it")
            out.append(header_text(sub, seen))
        else:
            out.append(line)
    return strip_c("\n".join(out))


def _int_eval(expr, known):
    expr = re.sub(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]+\b", r"\1", expr.strip())
    expr = re.sub(r"\(\s*(?:unsigned|int|long)\s*\)", "", expr)
    if not re.fullmatch(r"[\w\s()|&<>+\-*~^]+", expr):
        return None
    if any(n not in known for n in re.findall(r"[A-Za-z_]\w*", expr)):
        return None
    try:
        return int(eval(expr, {"__builtins__": {}}, dict(known)))  # noqa: S307 - integers and known names only
    except Exception:  # noqa: BLE001 - not an integer constant
        return None


def header_consts(text):
    """enum name -> [(NAME, value)], and all integer constants NAME -> value."""
    enums, consts = {}, {}
    for m in re.finditer(r"typedef\s+enum\s+(\w+)\s*\{(.*?)\}\s*(\w+)\s*;", text, flags=re.S):
        vals, nxt = [], 0
        for item in split_args(m.group(2)):
            name, _, expr = item.partition("=")
            name = name.strip()
            if expr.strip():
                nxt = _int_eval(expr, consts)
                if nxt is None:
                    raise SystemExit(f"check_jni_drift.py: cannot evaluate {name} = {expr.strip()}")
            vals.append((name, nxt))
            consts[name] = nxt
            nxt += 1
        enums[m.group(3)] = vals
    for m in re.finditer(r"^\s*#\s*define\s+(NID_\w+)[ \t]+([^\n]+)$", text.replace("\\\n", " "), flags=re.M):
        v = _int_eval(m.group(2), consts)
        if v is not None and m.group(1) not in consts:
            consts[m.group(1)] = v
    return enums, consts


def header_structs(text):
    """struct name -> [(field, kind, type, dim)] in declaration order."""
    structs = {}
    funcptr_types = set(re.findall(r"typedef[^;{}]*?\(\s*\*\s*(\w+)\s*\)\s*\(", text))
    for m in re.finditer(r"typedef\s+struct\s+(\w+)\s*\{(.*?)\}\s*(\w+)\s*;", text, flags=re.S):
        fields = []
        for decl in m.group(2).split(";"):
            decl = " ".join(decl.split())
            if not decl:
                continue
            fp = re.search(r"\(\s*\*\s*(\w+)\s*\)", decl)
            if fp:
                fields.append((fp.group(1), "funcptr", "", 0))
                continue
            parts = decl.split(",")
            first = re.match(r"^(.*?[\s*])(\w+)\s*(?:\[([^\]]+)\])?$", parts[0])
            base = first.group(1).replace("*", "").strip()
            for k, part in enumerate(parts):
                mm = first if k == 0 else re.match(r"^\s*(\**)\s*(\w+)\s*(?:\[([^\]]+)\])?$", part)
                stars = first.group(1).count("*") if k == 0 else len(mm.group(1))
                name, dim = mm.group(2), mm.group(3)
                kind = "ptr" if stars else "array" if dim else "scalar"
                if base in funcptr_types:
                    kind = "funcptr"
                fields.append((name, kind, base, int(dim) if dim else 0))
        structs[m.group(3)] = fields
    return structs


def flatten(structs, sname, prefix=""):
    """The (NUM, STR) slot names of a struct, as NativeLayout names them."""
    nums, strs = [], []
    skip_next = None
    for name, kind, base, dim in structs[sname]:
        jname = (prefix + name).upper()
        if name == "struct_size" or name == skip_next:
            continue
        if kind == "funcptr":
            skip_next = "n_" + name
        elif kind == "ptr":
            if base == "const char":
                strs.append(jname)
            else:
                skip_next = "n_" + name
        elif kind == "array":
            if base == "char":
                strs.append(jname)
            else:
                nums += [jname if i == 0 else f"{jname}_{i}" for i in range(dim)]
        elif base in structs:
            n2, s2 = flatten(structs, base, prefix + name + "_")
            nums += n2
            strs += s2
        else:
            nums.append(jname)
    return nums, strs


def java_strip(text):
    text = re.sub(r"/\*.*?\*/|//[^\n]*", "", text, flags=re.S)
    return re.sub(r'"(?:\\.|[^"\\\n])*"', '""', text)


def check_consts(enums, consts, consts_java):
    problems = []
    jv = {m.group(1): int(m.group(2)) for m in
          re.finditer(r"static final (?:int|long) (\w+) = (-?\d+)L?;", Path(consts_java).read_text())}
    for k, v in consts.items():
        if k not in jv:
            problems.append(f"{consts_java}: {k} (= {v} in the header) is missing")
        elif jv[k] != v:
            problems.append(f"{consts_java}: {k} = {jv[k]}, the header says {v}")
    for k in sorted(set(jv) - set(consts)):
        problems.append(f"{consts_java}: {k} is not a constant of the header (stale?)")
    return problems, len(consts)


def check_java_enums(enums, java_srcs):
    """Hand-written Java enums: values from Consts, names matching, complete."""
    problems, n = [], 0
    owner = {k: e for e, vals in enums.items() for k, _ in vals}
    for src in java_srcs:
        for f in sorted(Path(src).rglob("*.java")):
            if f.name in ("Consts.java", "NativeLayout.java", "NativeApi.java"):
                continue
            text = java_strip(f.read_text())
            for em in re.finditer(r"\benum\s+(\w+)\s*\{(.*?);", text, flags=re.S):
                jenum, body = em.group(1), em.group(2)
                used = {}
                for cm in re.finditer(r"\b([A-Z][A-Z0-9_]*)\s*\(([^()]*(?:\([^()]*\))?[^()]*)\)", body):
                    jname, args = cm.group(1), split_args(cm.group(2))
                    n += 1
                    first = args[0] if args else ""
                    ref = re.fullmatch(r"Consts\.(\w+)", first)
                    if re.fullmatch(r"[-+]?\s*\(?\s*\d[\w\s<>()|]*", first):
                        problems.append(f"{f}: {jenum}.{jname}({first}) hard-codes a C value; "
                                        "take it from Consts (generated from noduleid.h)")
                        continue
                    if not ref:
                        continue  # a sentinel such as Integer.MIN_VALUE
                    cname = ref.group(1)
                    used[cname] = jname
                    cenum = owner.get(cname)
                    if cenum is None:
                        continue  # an integer #define (feature bits)
                    same = [k for k, _ in enums[cenum] if k.endswith("_" + jname)]
                    if same and cname not in same:
                        problems.append(f"{f}: {jenum}.{jname} takes Consts.{cname}, but {cenum} names "
                                        f"{same[0]} for {jname} (swapped values?)")
                cenums = {owner[c] for c in used if c in owner}
                for cenum in sorted(cenums):
                    for k, _ in enums[cenum]:
                        if k not in used:
                            problems.append(f"{f}: enum {jenum} has no constant for {k} of {cenum}")
    return problems, n


def check_layouts(structs, layout_java, c_gen):
    problems = []
    text = java_strip(Path(layout_java).read_text()) if layout_java else ""
    raw = Path(layout_java).read_text() if layout_java else ""
    classes = {}
    for m in re.finditer(r"static class (\w+) \{(.*?)\n    \}", raw, flags=re.S):
        body = m.group(2)
        idx = {k: int(v) for k, v in re.findall(r"static final int (\w+) = (\d+);", body)}
        nf = re.search(r"NUM_FIELDS = \{(.*?)\};", body, flags=re.S)
        sf = re.search(r"STR_FIELDS = \{(.*?)\};", body, flags=re.S)
        classes[m.group(1)] = (idx, re.findall(r'"(\w+)"', nf.group(1) if nf else ""),
                               re.findall(r'"(\w+)"', sf.group(1) if sf else ""))
    del text
    cpack = {}
    if c_gen:
        for m in re.finditer(r"nidj_put_(\w+)\((?:[^)]*)\)\s*\{(.*?)\n\}", Path(c_gen).read_text(), flags=re.S):
            order = []
            # the lines that store into the slots: v[i] = ... s->x, memcpy(&v[i], &s->x ...), str[i] = s->x
            for mm in re.finditer(r"(?:\bv\[\d+\]|\bstr\[\d+\])[^;\n]*?s->([\w.\[\]]+)|"
                                  r"s->([\w.\[\]]+)[^;\n]*?;\s*v\[\d+\] =", m.group(2)):
                e = mm.group(1) or mm.group(2)
                name = re.sub(r"\[0\]$", "", e)
                name = re.sub(r"\[(\d+)\]$", r"_\1", name).replace(".", "_").upper()
                name = re.sub(r"\[0\]", "", name)
                if name not in order:
                    order.append(name)
            cpack[m.group(1)] = order
    for s in structs:
        nums, strs = flatten(structs, s)
        if layout_java and s not in classes:
            continue  # does not cross JNI (only unbound functions take it)
        if layout_java:
            if True:
                idx, jn, js = classes[s]
                if jn != nums:
                    problems.append(f"{layout_java}: {s}.NUM_FIELDS {jn} != the header's field order {nums}")
                if js != strs:
                    problems.append(f"{layout_java}: {s}.STR_FIELDS {js} != the header's field order {strs}")
                for i, name in enumerate(nums):
                    if idx.get(name) != i:
                        problems.append(f"{layout_java}: {s}.{name} = {idx.get(name)}, but it is slot {i} "
                                        "in the header's field order")
                for i, name in enumerate(strs):
                    if idx.get("S_" + name) != i:
                        problems.append(f"{layout_java}: {s}.S_{name} = {idx.get('S_' + name)}, but it is "
                                        f"string {i} in the header's field order")
                if idx.get("NUMS") != len(nums) or idx.get("STRS") != len(strs):
                    problems.append(f"{layout_java}: {s}.NUMS/STRS = {idx.get('NUMS')}/{idx.get('STRS')}, "
                                    f"the header has {len(nums)}/{len(strs)}")
        if c_gen:
            if s not in cpack and layout_java:
                problems.append(f"{c_gen}: no nidj_put_{s}")
            elif cpack[s] != nums + strs:
                problems.append(f"{c_gen}: nidj_put_{s} packs {cpack[s]}, the header's order is {nums + strs}")
    for s in sorted(set(classes) - set(structs)):
        problems.append(f"{layout_java}: layout {s} is not a struct of the header (stale?)")
    if layout_java and len(classes) < 10:
        problems.append(f"{layout_java}: only {len(classes)} layouts parsed: parser broken?")
    return problems, len(set(classes) & set(structs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api-header", required=True)
    ap.add_argument("--glue", action="append", help="C glue files (hand-written and generated)")
    ap.add_argument("--jni-header", action="append", help="javac -h headers")
    ap.add_argument("--java-src", action="append", required=True)
    ap.add_argument("--library")
    ap.add_argument("--unbound")
    ap.add_argument("--consts", help="generated Consts.java")
    ap.add_argument("--layout", help="generated NativeLayout.java")
    ap.add_argument("--c-gen", help="generated C glue (noduleid_jni_gen.h)")
    a = ap.parse_args()
    problems = []

    if a.consts or a.layout:
        text = header_text(a.api_header)
        enums, consts = header_consts(text)
        structs = header_structs(text)
        if len(enums) < 5 or len(structs) < 10:
            problems.append(f"only {len(enums)} enums / {len(structs)} structs parsed from {a.api_header}: "
                            "parser broken?")
        n_consts = n_enum = 0
        if a.consts:
            p, n_consts = check_consts(enums, consts, a.consts)
            problems += p
            p, n_enum = check_java_enums(enums, a.java_src)
            problems += p
        n_layouts = 0
        if a.layout:
            p, n_layouts = check_layouts(structs, a.layout, a.c_gen)
            problems += p
        print(f"constants checked: {n_consts}; Java enum constants checked: {n_enum}; "
              f"struct layouts checked: {n_layouts}")
    if not (a.glue and a.jni_header and a.library and a.unbound):
        return report(problems, "ok: enum values and struct layouts of the Java side agree with the header")

    api = api_functions(a.api_header)
    if len(api) < 50:
        problems.append(f"only {len(api)} NID_API functions parsed from {a.api_header}: parser broken?")

    natives, p = java_natives(a.java_src)
    problems += p
    declared = {f"Java_org_noduleid_{c}_{n.replace('_', '_1')}" for c, ns in natives.items() for n in ns}
    header_syms = set()
    for h in a.jni_header:
        header_syms |= set(re.findall(r"JNIEXPORT[^;]*?JNICALL\s+(Java_org_noduleid_\w+)",
                                      Path(h).read_text(), flags=re.S))
    if declared != header_syms:
        problems.append(f"the native methods and the javac -h headers disagree: {sorted(declared ^ header_syms)}")
    natives = [n for ns in natives.values() for n in ns]
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

    calls, referenced = [], set()
    for glue in a.glue:
        c, r, unknown = glue_uses(glue, api)
        calls += c
        referenced |= r
        for name, line in unknown:
            problems.append(f"{glue}:{line}: calls {name}, which is not an NID_API function of noduleid.h")
        for name, nargs, line in c:
            if nargs != api[name]:
                problems.append(f"{glue}:{line}: {name} called with {nargs} arguments, "
                                f"noduleid.h declares {api[name]}")

    macros = api_macros(a.api_header)
    referenced |= {macros[n] for n in referenced if n in macros}

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
        problems.append(f"{n} (noduleid.h) is neither bound by the glue nor listed in "
                        f"{Path(a.unbound).name}")

    print(f"NID_API functions: {len(api)}; bound: {len(referenced)}; unbound: {len(set(api) - referenced)}; "
          f"native methods: {len(natives)}; glue calls checked: {len(calls)}")
    for n in sorted(api):
        if n in referenced:
            print(f"  bound    {n}")
    for n in sorted(api):
        if n not in referenced:
            print(f"  UNBOUND  {n}: {unbound.get(n, '(no reason listed)')}")
    return report(problems, "ok: Java natives, JNI headers, glue symbols, enum values, struct layouts and "
                            "noduleid.h agree")


def report(problems, ok):
    """Print the problems (exit status 1) or the ok line (0)."""
    if problems:
        print("\nDRIFT:", file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        return 1
    print(ok)
    return 0


if __name__ == "__main__":
    sys.exit(main())
