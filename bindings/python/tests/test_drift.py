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
    with open(header_path, encoding="utf-8") as f:
        cdef, functions = _gen_cdef().parse(f.read())
    compiled = ffi.string(lib._nid_py_cdef()).decode()
    assert compiled == cdef, (
        "the extension was built from another noduleid.h than %s: rebuild "
        "the binding" % header_path)
    assert len(functions) >= 70
    for name in functions:
        assert hasattr(lib, name), name


def test_every_function_wrapped_or_listed(header_path):
    with open(header_path, encoding="utf-8") as f:
        _, functions = _gen_cdef().parse(f.read())
    pkg = os.path.dirname(noduleid.__file__)
    used = set()
    for name in os.listdir(pkg):
        if name.endswith(".py") and name != "_build.py":
            with open(os.path.join(pkg, name), encoding="utf-8") as f:
                used |= set(re.findall(r"\blib\.(nid_\w+)", f.read()))
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
