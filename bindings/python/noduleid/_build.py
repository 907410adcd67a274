"""cffi builder (API mode) of noduleid._noduleid.

The C declarations are generated at build time from the *installed*
noduleid.h by gen_cdef.py, so the extension is compiled against exactly the
header and library that pkg-config finds (set PKG_CONFIG_PATH to pick an
installation). cffi then checks every declaration against the real header
while compiling.

Environment:
  PKG_CONFIG_PATH       where noduleid.pc is (as for any pkg-config build)
  NODULEID_NO_RPATH=1   do not record the library directory as RUNPATH in
                        the extension (by default it is, unless it is a
                        system directory, so a library installed under a
                        private prefix is found without LD_LIBRARY_PATH)
"""
import os
import shlex
import subprocess
import sys

from cffi import FFI

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_HERE))
import gen_cdef  # noqa: E402  (bindings/python/gen_cdef.py)

_SYSTEM_LIBDIRS = {"/usr/lib", "/lib", "/usr/lib64", "/lib64",
                   "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"}

# Declarations the binding adds to the header's: the callback
# trampolines (cffi def_extern) and the text of the generated cdef, compiled
# into the module so tests/test_drift.py can compare it with the header.
_EXTRA_CDEF = """
extern "Python" void _nid_py_log(int, const char *, void *);
extern "Python" int _nid_py_progress(size_t, size_t, const char *, void *);
extern "Python" int _nid_py_abort(void *);
extern "Python" int _nid_py_video_source(nid_video **, const nid_exam *,
                                         size_t, void *);
const char *_nid_py_cdef(void);
"""


def _pkg_config(*args):
    try:
        out = subprocess.run(["pkg-config"] + list(args) + ["noduleid"],
                             check=True, capture_output=True, text=True)
    except FileNotFoundError:
        raise SystemExit("noduleid build: pkg-config not found "
                         "(apt-get install pkg-config)")
    except subprocess.CalledProcessError as e:
        raise SystemExit("noduleid build: pkg-config cannot find noduleid "
                         "(install libnoduleid, or set PKG_CONFIG_PATH to the "
                         "directory holding noduleid.pc): " + e.stderr.strip())
    return out.stdout.strip()


def _c_string(text):
    """text as a C string literal, one source line per line of text."""
    lines = []
    for line in text.splitlines(True):
        esc = line.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        lines.append('"%s"' % esc)
    return "\n".join(lines) or '""'


def make_builder():
    includedir = _pkg_config("--variable=includedir")
    header = os.path.join(includedir, "noduleid.h")
    cdef, _functions = gen_cdef.parse(gen_cdef.read_header(header))

    cflags = shlex.split(_pkg_config("--cflags"))
    libs = shlex.split(_pkg_config("--libs"))
    include_dirs = [a[2:] for a in cflags if a.startswith("-I")]
    library_dirs = [a[2:] for a in libs if a.startswith("-L")]
    libraries = [a[2:] for a in libs if a.startswith("-l")]
    rpath = []
    if os.environ.get("NODULEID_NO_RPATH", "") in ("", "0"):
        rpath = [os.path.normpath(d) for d in library_dirs
                 if os.path.realpath(d) not in _SYSTEM_LIBDIRS]

    ffi = FFI()
    ffi.cdef(cdef + _EXTRA_CDEF)
    ffi.set_source(
        "noduleid._noduleid",
        "#include <noduleid.h>\n"
        "static const char _nid_py_cdef_text[] =\n" + _c_string(cdef) + ";\n"
        "const char *_nid_py_cdef(void) { return _nid_py_cdef_text; }\n",
        include_dirs=include_dirs,
        library_dirs=library_dirs,
        libraries=libraries,
        runtime_library_dirs=rpath,
        extra_compile_args=[a for a in cflags if not a.startswith("-I")],
    )
    return ffi


ffibuilder = make_builder()

if __name__ == "__main__":
    # Build in place (for development): python3 noduleid/_build.py
    ffibuilder.compile(tmpdir=os.path.dirname(_HERE), verbose=True)
