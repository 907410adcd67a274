#!/usr/bin/env python3
"""gen_jni.py - generate the mechanical part of the Java binding from noduleid.h.

Like bindings/python/gen_cdef.py for the Python binding, the Java binding
carries no hand-written copy of the header's constants, struct layouts or
pass-through functions. CMake runs this at build time on include/noduleid.h
(and the include/noduleid/*.h headers it includes, if any) and writes:

  Consts.java          every enum constant and integer #define of the header
                       (Java enums take their values from here);
  NativeLayout.java    for each struct, the order of its fields as they cross
                       JNI: numbers in one long[] (floats and doubles as their
                       raw bits, nested structs and fixed arrays flattened),
                       strings in one String[] / byte[][];
  NativeApi.java       the native methods of the mechanical functions;
  noduleid_jni_gen.h   the C side: a pack/unpack pair per struct and the JNI
                       functions of NativeApi; included by native/noduleid_jni.c
                       after its helpers (jstr, check, get_cstr, ...).

A function is mechanical when each parameter is a handle (an opaque nid_*
pointer), a scalar, a C string (const char *), a struct pointer (in when
const, out otherwise; a null Java layout passes NULL), a scalar/handle
out-parameter, or a primitive array with its counts (below); its int return
is a status that becomes NoduleIdException. One scalar out-parameter is the
native's result; with several, each is a one-element Java array (null:
NULL).

Arrays. The header's buffer convention is read off the signature:
  - input: one or more `const T *p` in a row followed by their counts, the
    run of size_t parameters right after them: the extent is the product of
    the run (`const float *x, size_t n, size_t d` -> n*d; `const float *a,
    const float *b, size_t n, size_t d` -> n*d each), or the parameter named
    `<p>_len` when the run has one (`clips, n, clips_len` -> clips_len);
  - output: one or more `T *p` in a row followed by a size_t whose name ends
    in `cap`: each holds cap elements (the caller sizes the Java array; the
    glue checks cap <= length);
  T is float, double, int32_t/uint32_t (int[]), int64_t (long[]) or uint8_t
  (byte[]). The glue checks every extent against the Java array's length
  before the call (IllegalArgumentException naming the function, the
  parameter and both numbers; NullPointerException for a null array with a
  non-zero extent, a null array of extent 0 passes NULL) and never lets the
  library touch memory past a Java array. Elements are taken with
  Get<Type>ArrayElements and released with JNI_ABORT for inputs (nothing
  copied back) and for outputs of a failed call (caller's array untouched,
  as the C API promises); outputs of a successful call are released with
  mode 0 (copied back). GetPrimitiveArrayCritical is never used: the
  library may call the Java log handler from inside any call (no JNI
  call is allowed in a critical region) and clustering or embedding can
  run for seconds, which a critical region would stall the garbage
  collector for.
  Where the signature does not tell the extents, the function stays
  hand-written in native/noduleid_jni.c; HAND_WRITTEN below lists the ones
  that the rules above would read wrongly, with the reason. The others that
  stay hand-written fail the rules by themselves: arrays of structs
  (nid_exam_add_tracklet's boxes, nid_link_detections), pixel pointers
  (nid_video_from_frames, nid_crop_resize), an array without a count
  (nid_online_add: d comes from the handle), a char buffer
  (nid_default_model_path), callbacks (nid_group_exam,
  nid_model_embed_exam, nid_set_log_callback); and the direct-buffer
  overloads, which are natives of their own (Native.*Direct).

Functions listed in unbound.txt are skipped.

Header forms it takes: `void (nid_x_init)(nid_x *p);` (a parenthesised
name, so that a function-like macro of the same name can stand beside it)
is a declaration like any other; function-like macros are ignored; and
`nid_x_init_sized`, the target of such a macro, is bound through nid_x_init.

The parser is pycparser (Debian python3-pycparser) over the declarations
gen_cdef.py extracts; anything it cannot classify is left to the
hand-written glue rather than guessed.

Usage: gen_jni.py --header include/noduleid.h --unbound bindings/java/unbound.txt \
                  --java-out DIR --c-out FILE
       gen_jni.py --header include/noduleid.h --dump   (the model, as text)
"""
import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
import gen_cdef  # noqa: E402  (strip_comments, parse)

try:
    from pycparser import c_ast, c_parser  # noqa: E402
except ImportError:  # pragma: no cover - a machine without the package
    raise SystemExit("gen_jni.py: needs pycparser (Debian package python3-pycparser; scripts/install-deps.sh)")

PRELUDE = """
typedef unsigned long size_t; typedef int int32_t; typedef unsigned int uint32_t;
typedef long int64_t; typedef unsigned long uint64_t; typedef unsigned char uint8_t;
typedef signed char int8_t; typedef unsigned short uint16_t; typedef short int16_t;
"""

# C scalar type -> (jni type, java type); every number travels in a long slot.
SCALARS = {
    "int": ("jint", "int"), "int32_t": ("jint", "int"), "unsigned": ("jint", "int"),
    "unsigned int": ("jint", "int"), "uint32_t": ("jint", "int"),
    "int64_t": ("jlong", "long"), "uint64_t": ("jlong", "long"), "size_t": ("jlong", "long"),
    "float": ("jfloat", "float"), "double": ("jdouble", "double"),
}
JAVA_OF = {"jint": "int", "jlong": "long", "jfloat": "float", "jdouble": "double",
           "jbyteArray": "byte[]", "jlongArray": "long[]", "jobjectArray": "byte[][]",
           "jintArray": "int[]", "jfloatArray": "float[]", "jdoubleArray": "double[]",
           "jstring": "String", "void": "void"}

# C element type of an array parameter -> (JNI array type, JNI element type, <Type> of the JNI calls).
ARRAYS = {
    "float": ("jfloatArray", "jfloat", "Float"), "double": ("jdoubleArray", "jdouble", "Double"),
    "int32_t": ("jintArray", "jint", "Int"), "uint32_t": ("jintArray", "jint", "Int"),
    "int64_t": ("jlongArray", "jlong", "Long"), "uint8_t": ("jbyteArray", "jbyte", "Byte"),
}
# Scalar out-parameter (several in one function) -> its one-element Java array.
SCALAR_OUT_ARRAY = {"jint": ("jintArray", "Int"), "jlong": ("jlongArray", "Long"),
                    "jfloat": ("jfloatArray", "Float"), "jdouble": ("jdoubleArray", "Double")}

# Functions whose signature matches the array rules (see the module comment)
# but whose buffers have other extents: generating them would let the
# library read or write past a Java array. Hand-written in native/noduleid_jni.c.
HAND_WRITTEN = {
    "nid_cluster_dist": "dist is the n x n matrix: its extent is n*n, not the count n after it",
    "nid_cluster_means": "labels holds n entries (the count before it), not k; counts holds k and has no capacity",
    "nid_exam_cannot_link": "pairs_cap counts pairs: the buffer holds 2 * pairs_cap values",
    "nid_gallery_match": "match and distance hold n entries each and have no capacity parameter",
    "nid_grouping_nodules": "sizes holds n_nodules entries and has no capacity parameter",
}


def read_header(path):
    """The header text with its local includes (include/noduleid/*.h) inlined,
    in the order a compiler sees them (gen_cdef.read_header)."""
    return gen_cdef.read_header(str(path))


def _int_defines(text):
    """Object-like integer #defines NID_* -> value (evaluated, may reference earlier ones)."""
    vals = {}
    body = gen_cdef.strip_comments(text).replace("\\\n", " ")
    for m in re.finditer(r"^\s*#\s*define\s+(NID_\w+)[ \t]+([^\n]+)$", body, flags=re.M):
        name, expr = m.group(1), m.group(2).strip()
        if expr.startswith('"') or not re.fullmatch(r"[\w\s()|&<>+\-*~^]+", expr):
            continue
        expr = re.sub(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]+\b", r"\1", expr)
        expr = re.sub(r"\(\s*(?:unsigned|int|long|size_t|uint\d+_t|int\d+_t)\s*\)", "", expr)
        names = re.findall(r"[A-Za-z_]\w*", expr)
        if any(n not in vals for n in names):
            continue
        try:
            vals[name] = int(eval(expr, {"__builtins__": {}}, dict(vals)))  # noqa: S307 - digits/operators/known names only
        except Exception:  # noqa: BLE001 - not an integer expression: not a constant for Java
            continue
    return vals


def _type_name(node):
    """('scalar'|'struct'|'handle'|..., name, pointer depth, const-of-pointee)."""
    depth, const = 0, False
    while isinstance(node, c_ast.PtrDecl):
        depth += 1
        node = node.type
    if isinstance(node, c_ast.FuncDecl):
        return "funcptr", None, depth, False
    if isinstance(node, c_ast.ArrayDecl):
        return "array", None, depth, False
    if isinstance(node, c_ast.TypeDecl):
        const = "const" in node.quals
        t = node.type
        if isinstance(t, c_ast.IdentifierType):
            return "ident", " ".join(t.names), depth, const
        if isinstance(t, (c_ast.Struct, c_ast.Enum)):
            return "tag", t.name, depth, const
    return "other", None, depth, const


class Model:
    def __init__(self, header_text):
        cdef, self.api_names = gen_cdef.parse(header_text)
        # `NID_API void (nid_x_init)(nid_x *p);`: the parenthesised name
        # (beside a function-like macro nid_x_init) is a declaration too.
        body = gen_cdef.strip_comments(header_text)
        self.api_names = sorted(set(self.api_names) | set(
            re.findall(r"\bNID_API\b[^;(]*?\(\s*(nid_\w+)\s*\)\s*\(", body)))
        cdef = "\n".join(ln for ln in cdef.splitlines() if not ln.startswith("#define"))
        ast = c_parser.CParser().parse(PRELUDE + cdef, filename="noduleid.h")
        self.enums = {}        # enum typedef -> [(NAME, value)]
        self.structs = {}      # struct typedef -> [(field name, decl node)]
        self.opaque = set()    # typedef struct nid_x nid_x; without a body
        self.funcs = {}        # name -> FuncDecl
        self.funcptrs = set()
        self.defines = _int_defines(header_text)
        for ext in ast.ext:
            if isinstance(ext, c_ast.Typedef):
                t = ext.type
                if isinstance(t, c_ast.PtrDecl) and isinstance(t.type, c_ast.FuncDecl):
                    self.funcptrs.add(ext.name)
                elif isinstance(t, c_ast.TypeDecl) and isinstance(t.type, c_ast.Enum):
                    self.enums[ext.name] = self._enum_values(t.type)
                elif isinstance(t, c_ast.TypeDecl) and isinstance(t.type, c_ast.Struct):
                    if t.type.decls is None:
                        self.opaque.add(ext.name)
                    else:
                        self.structs[ext.name] = [(d.name, d.type) for d in t.type.decls]
            elif isinstance(ext, c_ast.Decl) and isinstance(ext.type, c_ast.FuncDecl) \
                    and ext.name in self.api_names:
                self.funcs[ext.name] = ext.type
        self.consts = {}
        for name, vals in self.enums.items():
            for k, v in vals:
                self.consts[k] = v
        for k, v in self.defines.items():
            self.consts.setdefault(k, v)

    def _enum_values(self, enum):
        out, nxt = [], 0
        for e in enum.values.enumerators:
            if e.value is not None:
                nxt = self._eval(e.value)
            out.append((e.name, nxt))
            nxt += 1
        return out

    def _eval(self, node):
        if isinstance(node, c_ast.Constant):
            return int(node.value.rstrip("uUlL"), 0)
        if isinstance(node, c_ast.UnaryOp):
            v = self._eval(node.expr)
            return {"-": -v, "+": v, "~": ~v}[node.op]
        if isinstance(node, c_ast.BinaryOp):
            a, b = self._eval(node.left), self._eval(node.right)
            return {"|": a | b, "&": a & b, "<<": a << b, ">>": a >> b, "+": a + b, "-": a - b,
                    "*": a * b}[node.op]
        if isinstance(node, c_ast.ID):
            for vals in self.enums.values():
                for k, v in vals:
                    if k == node.name:
                        return v
        raise SystemExit(f"gen_jni.py: cannot evaluate enum value {node}")

    # ---- struct layouts ------------------------------------------------------
    def layout(self, sname, prefix="", cpath=""):
        """Flattened slots of a struct: (nums, strs, skipped).
        nums: (JAVA_NAME, c expression, c scalar type); strs: (JAVA_NAME, c expr, char-array size or 0)."""
        nums, strs, skipped = [], [], []
        fields = self.structs[sname]
        skip_next = None
        for fname, decl in fields:
            jname = (prefix + fname).upper()
            expr = f"{cpath}{fname}"
            if fname == "struct_size":  # set by the init function, at every level
                continue
            if skip_next and fname == skip_next:
                skipped.append(prefix + fname)
                continue
            kind, tname, depth, const = _type_name(decl)
            if kind == "array":
                ek, et, ed, _ = _type_name(decl.type)
                n = self._eval(decl.dim)
                if ek == "ident" and et == "char" and ed == 0:
                    strs.append((jname, expr, n))
                elif ek == "ident" and et in SCALARS and ed == 0:
                    for i in range(n):
                        nums.append((f"{jname}" if i == 0 else f"{jname}_{i}", f"{expr}[{i}]", et))
                else:
                    skipped.append(prefix + fname)
                continue
            if kind == "ident" and depth == 0 and tname in self.structs:
                n2, s2, k2 = self.layout(tname, prefix + fname + "_", expr + ".")
                nums += n2
                strs += s2
                skipped += k2
            elif kind == "ident" and depth == 0 and (tname in SCALARS or tname in self.enums):
                nums.append((jname, expr, tname if tname in SCALARS else "int"))
            elif kind == "ident" and depth == 1 and tname == "char" and const:
                strs.append((jname, expr, 0))
            else:
                # pointers to arrays, callbacks, payloads: hand-written glue
                skipped.append(prefix + fname)
                skip_next = "n_" + fname
        return nums, strs, skipped

    def has_init(self, sname):
        return f"{sname}_init" in self.funcs

    # ---- functions ---------------------------------------------------------------
    def _struct_in_ok(self, t):
        """A const struct crosses as its layout when every field it leaves out
        is an optional array with its count (`const T *x; size_t n_x;`, NULL
        and 0 as the init function leaves them), not a callback or a pointer
        the call needs."""
        skipped = self.layout(t)[2]
        if not skipped:
            return True
        names = {f: d for f, d in self._flat_fields(t)}
        for f in skipped:
            if f.startswith("n_") and f[2:] in skipped:
                continue
            d = names.get(f)
            if d is None or "n_" + f not in skipped:
                return False
            k, _, depth, _ = _type_name(d)
            if k != "ident" or depth != 1:
                return False
        return True

    def _flat_fields(self, sname, prefix=""):
        for fname, decl in self.structs[sname]:
            k, t, d, _ = _type_name(decl)
            if k == "ident" and d == 0 and t in self.structs:
                yield from self._flat_fields(t, prefix + fname + "_")
            else:
                yield prefix + fname, decl

    def classify(self, name):
        """A list of parameter roles and the return role, or None when not mechanical."""
        fd = self.funcs[name]
        params = [] if fd.args is None else fd.args.params
        if len(params) == 1 and isinstance(params[0], c_ast.Typename):
            params = []
        rk, rt, rd, rconst = _type_name(fd.type)
        if rk == "ident" and rd == 0 and rt == "void":
            ret = ("void",)
        elif rk == "ident" and rd == 0 and rt == "int":
            ret = ("status",)
        elif rk == "ident" and rd == 0 and rt in SCALARS:
            ret = ("value", rt)
        elif rk == "ident" and rd == 1 and rt == "char" and rconst:
            ret = ("string",)
        else:
            return None
        if any(p.name is None for p in params):
            return None
        types = [_type_name(p.type) for p in params]
        names = [p.name for p in params]

        def is_arr(i, const):
            k, t, d, c = types[i]
            return k == "ident" and d == 1 and t in ARRAYS and c == const

        def is_count(i):
            k, t, d, _ = types[i]
            return k == "ident" and d == 0 and t == "size_t"

        # array groups first: index -> ("arr_in", extent names) / ("arr_out", cap name)
        arrays, i = {}, 0
        while i < len(params):
            for const in (True, False):
                if not is_arr(i, const):
                    continue
                j = i
                while j < len(params) and is_arr(j, const):
                    j += 1
                run = []
                while j + len(run) < len(params) and is_count(j + len(run)):
                    run.append(names[j + len(run)])
                group = range(i, j)
                if const:
                    if not run:
                        return None  # no count: the extent comes from elsewhere
                    for g in group:
                        own = [r for r in run if r == names[g] + "_len"]
                        if own:
                            arrays[g] = ("arr_in", own)
                        elif len(run) <= 2:
                            arrays[g] = ("arr_in", run)
                        else:
                            return None
                elif run and run[0].endswith("cap"):
                    for g in group:
                        arrays[g] = ("arr_out", [run[0]])
                elif j - i > 1:
                    return None  # several outputs without a capacity
                i = j - 1
                break
            i += 1
        roles, n_out = [], 0
        for i, p in enumerate(params):
            k, t, d, const = types[i]
            nxt = names[i + 1] if i + 1 < len(params) else ""
            if i in arrays:
                kind, ext = arrays[i]
                roles.append((kind, p.name, t, ext))
            elif k == "ident" and d == 0 and (t in SCALARS or t in self.enums):
                roles.append(("scalar", p.name, t if t in SCALARS else "int"))
            elif k == "ident" and d == 1 and t in self.opaque:
                roles.append(("handle", p.name, t))
            elif k == "ident" and d == 2 and t in self.opaque and not const and i == 0:
                roles.append(("handle_out", p.name, t))
                n_out += 1
            elif k == "ident" and d == 1 and t == "char" and const:
                roles.append(("cstr", p.name))
            elif k == "ident" and d == 1 and t in self.structs:
                # an array of structs (followed by its count), or a struct
                # with pointers/callbacks the layout leaves out: hand-written
                if (re.fullmatch(r"n(_\w+)?", nxt) and is_count(i + 1)) or \
                        (const and not self._struct_in_ok(t)):
                    return None
                roles.append(("struct_in" if const else "struct_out", p.name, t))
            elif k == "ident" and d == 1 and (t in SCALARS or t in self.enums) and not const \
                    and not (nxt and re.search(r"cap$", nxt)):
                roles.append(("scalar_out", p.name, t if t in SCALARS else "int"))
                n_out += 1
            else:
                return None
        has_arrays = bool(arrays)
        str_outs = [r for r in roles if r[0] == "struct_out" and self.layout(r[2])[1]]
        handle_outs = [r for r in roles if r[0] == "handle_out"]
        if n_out > 1 and not handle_outs:
            # several scalar outs: one-element Java arrays each
            roles = [("scalar_out_arr",) + r[1:] if r[0] == "scalar_out" else r for r in roles]
            n_out = 0
        if n_out > 1 or len(str_outs) > 1 or (n_out and str_outs):
            return None
        if ret[0] in ("value", "string") and (n_out or str_outs):
            return None
        if ret[0] == "void" and n_out:
            return None
        if ret[0] in ("value", "string") and has_arrays:
            return None
        return roles, ret


def camel(cname):
    parts = cname[len("nid_"):].split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def read_unbound(path):
    names = set()
    if path:
        for raw in Path(path).read_text().splitlines():
            line = raw.strip()
            if line and not line.startswith("#"):
                names.add(line.partition(":")[0].strip())
    return names


def mechanical(model, unbound):
    """name -> (roles, ret) for the functions the generator binds."""
    const_in = set()
    for fd in model.funcs.values():
        for p in ([] if fd.args is None else fd.args.params):
            k, t, d, const = _type_name(p.type)
            if k == "ident" and d == 1 and const and t in model.structs:
                const_in.add(t)
    out = {}
    for name in sorted(model.funcs):
        if name in unbound or name in HAND_WRITTEN:
            continue
        # X_init of a struct no function takes as input: the out-struct
        # natives initialise their own.
        if name.endswith("_init") and name[:-5] in model.structs and name[:-5] not in const_in:
            continue
        # X_init_sized: the natives initialise through the header's X_init
        # macro, which passes the C struct's own size; a size from Java
        # could only be wrong.
        if name.endswith("_init_sized") and name[:-11] in model.structs:
            continue
        c = model.classify(name)
        if c:
            out[name] = c
    return out


# ---------------------------------------------------------------- Java output
HEADER_NOTE = ("Generated by bindings/java/gen_jni.py from include/noduleid.h at build time; "
               "do not edit.")


def java_consts(model):
    lines = java_head(["The header's constants."], "Consts")
    for ename, vals in model.enums.items():
        lines.append(f"    // {ename}")
        for k, v in vals:
            lines.append(f"    static final int {k} = {v};")
    lines.append("    // integer #defines")
    for k, v in model.defines.items():
        jt, suffix = ("int", "") if -2**31 <= v < 2**31 else ("long", "L")
        lines.append(f"    static final {jt} {k} = {v}{suffix};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def java_head(doc, cls, *first):
    """package line, class comment (doc lines + the generated note), class line."""
    text = [" *  " + d for d in doc] + [f" *  {HEADER_NOTE} */"]
    text[0] = "/** " + doc[0]
    return ["package org.noduleid;", ""] + text + [f"final class {cls} {{"] + list(first) + \
        [f"    private {cls}() {{}}"]


def java_layout(model, structs):
    lines = java_head(["How each struct of the header crosses JNI: numbers in one long[] (ints as",
                       "longs, floats and doubles as their raw bits, nested structs and fixed arrays",
                       "flattened in field order), strings in one String[] / byte[][]."], "NativeLayout") + [
             "",
             "    static float f(long[] a, int i) { return Float.intBitsToFloat((int) a[i]); }",
             "    static double d(long[] a, int i) { return Double.longBitsToDouble(a[i]); }",
             "    static int i(long[] a, int i) { return (int) a[i]; }",
             "    static void set(long[] a, int i, float v) { a[i] = Float.floatToRawIntBits(v); }",
             "    static void set(long[] a, int i, double v) { a[i] = Double.doubleToRawLongBits(v); }",
             "    static void set(long[] a, int i, long v) { a[i] = v; }"]
    for s in structs:
        nums, strs, skipped = model.layout(s)
        lines += ["", f"    /** {s}" + (f"; not crossing: {', '.join(skipped)}" if skipped else "") + " */",
                  f"    static class {s} {{", f"        {s}() {{}}",
                  f"        static final int NUMS = {len(nums)};", f"        static final int STRS = {len(strs)};"]
        for i, (j, _, _) in enumerate(nums):
            lines.append(f"        static final int {j} = {i};")
        for i, (j, _, _) in enumerate(strs):
            lines.append(f"        static final int S_{j} = {i};")
        names = ", ".join(f'"{j}"' for j, _, _ in nums)
        lines.append(f"        /** Number slots in order (check_jni_drift.py compares them with the header). */")
        lines.append(f"        static final String[] NUM_FIELDS = {{{names}}};")
        names = ", ".join(f'"{j}"' for j, _, _ in strs)
        lines.append(f"        static final String[] STR_FIELDS = {{{names}}};")
        lines.append("    }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _jni_params(model, roles):
    out = []
    for r in roles:
        if r[0] == "scalar":
            out.append((SCALARS[r[2]][0], r[1]))
        elif r[0] == "handle":
            out.append(("jlong", r[1]))
        elif r[0] == "cstr":
            out.append(("jbyteArray", r[1]))
        elif r[0] in ("struct_in", "struct_out"):
            out.append(("jlongArray", r[1]))
            if r[0] == "struct_in" and model.layout(r[2])[1]:
                out.append(("jobjectArray", r[1] + "_strs"))
        elif r[0] in ("arr_in", "arr_out"):
            out.append((ARRAYS[r[2]][0], r[1]))
        elif r[0] == "scalar_out_arr":
            out.append((SCALAR_OUT_ARRAY[SCALARS[r[2]][0]][0], r[1]))
    return out


def _jni_return(model, roles, ret):
    for r in roles:
        if r[0] == "handle_out":
            return "jlong"
        if r[0] == "scalar_out":
            return SCALARS[r[2]][0]
        if r[0] == "struct_out" and model.layout(r[2])[1]:
            return "jobjectArray"
    if ret[0] == "value":
        return SCALARS[ret[1]][0]
    if ret[0] == "string":
        return "jstring"
    return "void"


def java_api(model, funcs):
    lines = java_head(["Native methods of the mechanical functions of noduleid.h, one per C function",
                       "(named after it: nid_exam_get_info -> examGetInfo). Structs travel as",
                       "NativeLayout arrays; an out-struct with strings returns them as String[]."],
                      "NativeApi", "    static { Native.load(); }")
    for name, (roles, ret) in funcs.items():
        jr = _jni_return(model, roles, ret)
        jt = "String[]" if jr == "jobjectArray" else JAVA_OF[jr]
        ps = ", ".join(f"{'byte[][]' if t == 'jobjectArray' else JAVA_OF[t]} {camel('nid_' + n)}"
                       for t, n in _jni_params(model, roles))
        throws = " throws NoduleIdException" if ret[0] == "status" else ""
        lines.append(f"    /** {name}. */")
        lines.append(f"    static native {jt} {camel(name)}({ps}){throws};")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------- C output
# One number slot <-> one struct member; floats and doubles keep their bits.
PUT_NUM = {"float": "{{ int32_t b; memcpy(&b, &s->{e}, 4); v[{i}] = b; }}",
           "double": "memcpy(&v[{i}], &s->{e}, 8);", None: "v[{i}] = (jlong)s->{e};"}
GET_NUM = {"float": "{{ int32_t b = (int32_t)v[{i}]; memcpy(&s->{e}, &b, 4); }}",
           "double": "memcpy(&s->{e}, &v[{i}], 8);", None: "s->{e} = ({t})v[{i}];"}


def _slot_lines(nums, table):
    return ["    " + table.get(t, table[None]).format(i=i, e=e, t=t) for i, (_, e, t) in enumerate(nums)]


def c_glue(model, funcs, structs):
    o = ["/* " + HEADER_NOTE, " * Included by native/noduleid_jni.c after its helpers. */",
         '#include "org_noduleid_NativeApi.h"', ""]
    for s in structs:
        nums, strs, _ = model.layout(s)
        S = s.upper()
        o.append(f"#define NIDJ_{S}_NUMS {len(nums)}")
        o.append(f"#define NIDJ_{S}_STRS {len(strs)}")
        # C -> slots, and slots -> C (strings: see nidj_set_str in the glue)
        o.append(f"static inline void nidj_put_{s}({s} *s, jlong *v, const char **str)")
        o += ["{", "    (void)v; (void)str;"] + _slot_lines(nums, PUT_NUM)
        for i, (_, e, n) in enumerate(strs):
            if n:
                o.append(f"    s->{e}[{n - 1}] = '\\0';")
            o.append(f"    str[{i}] = s->{e};")
        o.append("}")
        o.append(f"static inline int nidj_get_{s}(JNIEnv *env, {s} *s, const jlong *v, char *const *str)")
        o += ["{", "    (void)env; (void)v; (void)str;"] + _slot_lines(nums, GET_NUM)
        for i, (j, e, n) in enumerate(strs):
            if n:
                o.append(f'    if (!nidj_set_str(env, "{s}.{j.lower()}", s->{e}, sizeof s->{e}, str[{i}])) return 0;')
            else:
                o.append(f"    if (str[{i}]) s->{e} = str[{i}];")
        o += ["    return 1;", "}"]
        init = f"{s}_init(s)" if model.has_init(s) else "memset(s, 0, sizeof *s)"
        # Java arrays -> struct; tmp gets the malloc'd strings (nidj_free_strs)
        o.append(f"static inline int nidj_in_{s}(JNIEnv *env, {s} *s, jlongArray la, jobjectArray sa, char **tmp)")
        o.append("{")
        o.append(f"    jlong v[NIDJ_{S}_NUMS + 1];")
        o.append(f"    {init};")
        o.append(f"    if (!nidj_layout_in(env, \"{s}\", la, v, NIDJ_{S}_NUMS, sa, tmp, NIDJ_{S}_STRS)) return 0;")
        o.append(f"    return nidj_get_{s}(env, s, v, tmp);")
        o.append("}")
        o.append(f"static inline jobjectArray nidj_out_{s}(JNIEnv *env, {s} *s, jlongArray la)")
        o.append("{")
        o.append(f"    jlong v[NIDJ_{S}_NUMS + 1];")
        o.append(f"    const char *str[NIDJ_{S}_STRS + 1];")
        o.append(f"    nidj_put_{s}(s, v, str);")
        o.append(f"    return nidj_layout_out(env, \"{s}\", la, v, NIDJ_{S}_NUMS, str, NIDJ_{S}_STRS);")
        o.append("}")
        o.append("")
    for name, (roles, ret) in funcs.items():
        jr = _jni_return(model, roles, ret)
        ps = "".join(f", {t} {n}" for t, n in _jni_params(model, roles))
        o.append(f"JNIEXPORT {jr} JNICALL Java_org_noduleid_NativeApi_{camel(name).replace('_', '_1')}"
                 f"(JNIEnv *env, jclass cls{ps})")
        o.append("{")
        o.append("    (void)env; (void)cls;")
        body, args, cleanup, result, arrays, post = [], [], [], None, [], []
        fail = "0" if jr not in ("void", "jstring", "jobjectArray") else ("NULL" if jr != "void" else "")
        for r in roles:
            kind, pn = r[0], r[1]
            if kind == "scalar":
                args.append(f"({r[2]}){pn}")
            elif kind == "handle":
                args.append(f"({r[2]} *)(intptr_t){pn}")
            elif kind == "handle_out":
                body.append(f"    {r[2]} *{pn} = NULL;")
                args.append(f"&{pn}")
                result = f"(jlong)(intptr_t){pn}"
            elif kind == "scalar_out":
                body.append(f"    {r[2]} {pn}_v = 0;")
                args.append(f"&{pn}_v")
                result = f"({jr}){pn}_v"
            elif kind == "cstr":
                body.insert(0, f"    char *{pn}_s = NULL;")
                body.append(f"    if (!get_cstr(env, {pn}, &{pn}_s)) goto done;")
                args.append(f"{pn}_s")
                cleanup.append(f"    free({pn}_s);")
            elif kind in ("struct_in", "struct_out"):
                s = r[2]
                body.insert(0, f"    {s} {pn}_c;")
                if kind == "struct_in":
                    # a null layout passes NULL (the library's defaults, or its message)
                    nstr = len(model.layout(s)[1])
                    sa = f"{pn}_strs" if nstr else "NULL"
                    body.insert(0, f"    char *{pn}_t[NIDJ_{s.upper()}_STRS + 1] = {{0}};")
                    body.append(f"    if ({pn} && !nidj_in_{s}(env, &{pn}_c, {pn}, {sa}, {pn}_t)) goto done;")
                    cleanup.append(f"    nidj_free_strs({pn}_t, NIDJ_{s.upper()}_STRS);")
                    args.append(f"{pn} ? &{pn}_c : NULL")
                else:
                    body.append(f"    {s.replace('nid_', 'nid_', 1)}_init(&{pn}_c);" if model.has_init(s)
                                else f"    memset(&{pn}_c, 0, sizeof {pn}_c);")
                    body.append(f"    if (!nidj_out_len(env, \"{s}\", {pn}, NIDJ_{s.upper()}_NUMS)) goto done;")
                    args.append(f"&{pn}_c")
            elif kind in ("arr_in", "arr_out"):
                # checked against the counts, which are parameters: after the loop
                arrays.append(r)
                _, jet, T = ARRAYS[r[2]]
                body.insert(0, f"    {jet} *{pn}_e = NULL;")
                args.append(f"({'const ' if kind == 'arr_in' else ''}{r[2]} *){pn}_e")
                mode = "JNI_ABORT" if kind == "arr_in" else "ok ? 0 : JNI_ABORT"
                cleanup.append(f"    if ({pn}_e) (*env)->Release{T}ArrayElements(env, {pn}, {pn}_e, {mode});")
            elif kind == "scalar_out_arr":
                ja, T = SCALAR_OUT_ARRAY[SCALARS[r[2]][0]]
                body.insert(0, f"    {r[2]} {pn}_v = 0;")
                body.append(f'    if ({pn} && (*env)->GetArrayLength(env, {pn}) < 1) {{ '
                            f'THROW_IAE("{name}: {pn} is an empty array (one element is written)"); goto done; }}')
                args.append(f"{pn} ? &{pn}_v : NULL")
                post.append(f"    if ({pn}) {{ {SCALARS[r[2]][0]} {pn}_j = ({SCALARS[r[2]][0]}){pn}_v; "
                            f"(*env)->Set{T}ArrayRegion(env, {pn}, 0, 1, &{pn}_j); }}")
        # the arrays: every extent against its Java array, then the elements
        for r in arrays:
            kind, pn, _, ext = r
            prod = " * ".join(ext)
            if len(ext) == 1:
                body.append(f'    if (!nidj_array_fits(env, "{name}", "{pn}", {pn}, {ext[0]}, 1, "{prod}")) goto done;')
            else:
                body.append(f'    if (!nidj_array_fits(env, "{name}", "{pn}", {pn}, {ext[0]}, {ext[1]}, "{prod}")) goto done;')
        for r in arrays:
            kind, pn = r[0], r[1]
            _, jet, T = ARRAYS[r[2]]
            body.append(f"    if ({pn} && (*env)->GetArrayLength(env, {pn}) > 0 && "
                        f"!({pn}_e = (*env)->Get{T}ArrayElements(env, {pn}, NULL))) goto done;")
        call = f"{name}({', '.join(args)})"
        out_structs = [r for r in roles if r[0] == "struct_out"]
        if jr != "void":
            body.insert(0, f"    {jr} result = {fail if fail else '0'};")
        if arrays and any(r[0] == "arr_out" for r in arrays):
            body.insert(0, "    int ok = 0; /* outputs are copied back only after a successful call */")
        if ret[0] == "status":
            body.append(f"    if (check(env, {call})) goto done;")
            if any(r[0] == "arr_out" for r in arrays):
                body.append("    ok = 1;")
            body += post
        elif ret[0] == "void":
            body.append(f"    {call};")
        elif ret[0] == "value":
            body.append(f"    result = ({jr}){call};")
        elif ret[0] == "string":
            body.append(f"    result = jstr(env, {call});")
        for r in out_structs:
            s = r[2]
            if model.layout(s)[1]:
                body.append(f"    result = nidj_out_{s}(env, &{r[1]}_c, {r[1]});")
            else:
                body.append(f"    nidj_out_{s}(env, &{r[1]}_c, {r[1]});")
        if result:
            body.append(f"    result = {result};")
        o += body
        o.append("    goto done;")
        o.append("done:")
        o += cleanup
        if jr != "void":
            o.append("    return result;")
        o.append("}")
        o.append("")
    return "\n".join(o) + "\n"


def crossing_structs(model, unbound):
    """The structs a bound function (generated or hand-written) takes, with the
    structs nested in them, in header order; those of unbound.txt functions
    only do not cross."""
    used = set()
    for name, fd in model.funcs.items():
        if name in unbound:
            continue
        for p in ([] if fd.args is None else fd.args.params):
            k, t, d, _ = _type_name(p.type)
            if k == "ident" and t in model.structs:
                used.add(t)
    todo = list(used)
    while todo:
        for _, decl in model.structs[todo.pop()]:
            k, t, d, _ = _type_name(decl)
            if k == "ident" and d == 0 and t in model.structs and t not in used:
                used.add(t)
                todo.append(t)
    return [s for s in model.structs if s in used]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--header", required=True)
    ap.add_argument("--unbound")
    ap.add_argument("--java-out", help="folder for org/noduleid/{Consts,NativeLayout,NativeApi}.java")
    ap.add_argument("--c-out", help="the C file (noduleid_jni_gen.h)")
    ap.add_argument("--dump", action="store_true", help="print the bound functions and layouts")
    a = ap.parse_args(argv)
    model = Model(read_header(a.header))
    unbound = read_unbound(a.unbound)
    funcs = mechanical(model, unbound)
    structs = crossing_structs(model, unbound)
    if a.dump:
        for n, (roles, ret) in funcs.items():
            print(n, ret, [r[0] for r in roles])
        for s in structs:
            nums, strs, skipped = model.layout(s)
            print(s, [j for j, _, _ in nums], [j for j, _, _ in strs], "skipped:", skipped)
    files = {}
    if a.java_out:
        d = Path(a.java_out) / "org" / "noduleid"
        files[d / "Consts.java"] = java_consts(model)
        files[d / "NativeLayout.java"] = java_layout(model, structs)
        files[d / "NativeApi.java"] = java_api(model, funcs)
    if a.c_out:
        files[Path(a.c_out)] = c_glue(model, funcs, structs)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        # unchanged output keeps its timestamp: no needless rebuilds
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
