"""The cffi declarations equal the header's, and every NID_API function is
wrapped or listed as intentionally unwrapped."""
import importlib.util
import os
import re

import noduleid
from noduleid import ffi, lib

HERE = os.path.dirname(os.path.abspath(__file__))


def _gen_cdef():
    spec = importlib.util.spec_from_file_location(
        "gen_cdef", os.path.join(HERE, "..", "gen_cdef.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_compiled_cdef_equals_header(header_path):
    gen = _gen_cdef()
    cdef, functions = gen.parse(gen.read_header(header_path))
    compiled = ffi.string(lib._nid_py_cdef()).decode()
    assert compiled == cdef, (
        "the extension was built from another noduleid.h than %s: rebuild "
        "the binding" % header_path)
    assert len(functions) >= 70
    for name in functions:
        assert hasattr(lib, name), name


def test_every_function_wrapped_or_listed(header_path):
    gen = _gen_cdef()
    _, functions = gen.parse(gen.read_header(header_path))
    pkg = os.path.dirname(noduleid.__file__)
    used = set()
    for name in os.listdir(pkg):
        if name.endswith(".py") and name != "_build.py":
            with open(os.path.join(pkg, name), encoding="utf-8") as f:
                used |= set(re.findall(r"\blib\.(nid_\w+)", f.read()))
    # lib.nid_x_init(o) compiles (cffi API mode) to the header's macro,
    # which calls nid_x_init_sized(o, sizeof *o): both are used.
    macros = gen.function_macros(gen.read_header(header_path))
    used |= {macros[u] for u in used if u in macros}
    missing = [f for f in functions
               if f not in used and f not in noduleid.UNWRAPPED]
    assert not missing, "NID_API functions neither wrapped nor in " \
        "noduleid.UNWRAPPED: %s" % missing
    stale = [f for f in list(noduleid.UNWRAPPED) + sorted(used)
             if f not in functions]
    assert not stale, "wrapped/listed but not in the header: %s" % stale
    both = [f for f in noduleid.UNWRAPPED if f in used]
    assert not both, "listed as unwrapped but used: %s" % both


def test_generator_handles_macros_and_comments():
    gen = _gen_cdef()
    text = '''
/* comment with nid_fake(void); */
#ifdef __cplusplus
extern "C" {
#endif
#define NID_A 3u
#define NID_S "x/*y*/"
#define NID_M(x) ((x) + 1)
#define NID_LONG \\
    (NID_A * 2)
// line comment nid_fake2(void);
NID_API int nid_real(const char *s /* inline */, int n);
typedef void (*nid_cb)(int level);
#ifdef __cplusplus
}
#endif
'''
    cdef, funcs = gen.parse(text)
    assert funcs == ["nid_real"]
    assert "#define NID_A ..." in cdef
    assert "static const char *const NID_S;" in cdef
    assert "#define NID_LONG ..." in cdef
    assert "NID_M" not in cdef and "extern" not in cdef
    assert "int nid_real(const char *s , int n);" in cdef
    assert "nid_fake" not in cdef


def test_generator_reads_module_headers_and_markers(tmp_path):
    gen = _gen_cdef()
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "core.h").write_text(
        '#ifndef CORE_H\n#define CORE_H\n#include <stddef.h>\n'
        '#define NID_EXPERIMENTAL\n#define NID_DEPRECATED(msg) x\n'
        'NID_API int nid_a(void);\n#endif\n')
    (tmp_path / "m" / "b.h").write_text(
        '#include "core.h"\n'
        'NID_DEPRECATED("use nid_c() (not \\"d\\")") NID_API int nid_b(void);\n'
        'NID_EXPERIMENTAL\nNID_API int nid_c(size_t n);\n')
    (tmp_path / "all.h").write_text('#include "m/core.h"\n#include "m/b.h"\n')
    cdef, funcs = gen.parse(gen.read_header(str(tmp_path / "all.h")))
    assert funcs == ["nid_a", "nid_b", "nid_c"]
    # declarations in include order, each header once, markers removed
    assert cdef == "\nint nid_a(void);\nint nid_b(void);\nint nid_c(size_t n);\n"
    (tmp_path / "bad.h").write_text('#include "m/missing.h"\n')
    try:
        gen.read_header(str(tmp_path / "bad.h"))
    except FileNotFoundError as e:
        assert "missing.h" in str(e)
    else:
        raise AssertionError("a missing module header was not reported")


def test_generator_reads_sized_init():
    # core.h "Extensible structs": the 0.1.0 function, parenthesised so the
    # macro of the same name does not apply, and the macro calling the sized
    # function
    gen = _gen_cdef()
    text = ('NID_API void nid_x_init_sized(nid_x *p, size_t size);\n'
            'NID_API void (nid_x_init)(nid_x *p);\n'
            '#define nid_x_init(p) \\\n    nid_x_init_sized((p), sizeof *(p))\n')
    cdef, funcs = gen.parse(text)
    assert funcs == ["nid_x_init", "nid_x_init_sized"]
    assert "void (nid_x_init)(nid_x *p);" in cdef and "sizeof" not in cdef
    assert gen.function_macros(text) == {"nid_x_init": "nid_x_init_sized"}


def test_init_passes_the_compiled_size():
    # lib.nid_X_init goes through the header's macro (cffi API mode compiles
    # a C call), so struct_size is this header's sizeof, not the first
    # published size the exported 0.1.0 symbol would set (36 bytes here).
    o = ffi.new("nid_cluster_options *")
    lib.nid_cluster_options_init(o)
    assert o.struct_size == ffi.sizeof("nid_cluster_options")
    assert o.struct_size > 36
    o = ffi.new("nid_clip_options *")
    lib.nid_clip_options_init_sized(o, 4)
    assert o.struct_size == 0  # a size below sizeof(size_t): nothing written
