"""numpy, and the package's modules past the core, are loaded at their
first use, not by `import noduleid` (issue 14: loading the binding costs
<= 50 ms over the bare interpreter; numpy alone is ~100 ms). The import
checks run in a fresh interpreter, because this test process has
everything loaded already."""
import ast
import importlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import noduleid
from noduleid import _core


def _fresh(code):
    """Run `code` in a new interpreter with this one's sys.path; return
    the JSON object it prints last."""
    env = dict(os.environ,
               PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    p = subprocess.run([sys.executable, "-c", code], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120)
    assert p.returncode == 0, p.stderr.decode()[-2000:]
    return json.loads(p.stdout.decode().strip().splitlines()[-1])


def test_import_does_not_load_numpy():
    r = _fresh(
        "import json, sys\n"
        "import noduleid\n"
        "before = 'numpy' in sys.modules\n"
        "lazy = sorted(m for m in sys.modules if m.startswith('noduleid.')\n"
        "              and m[9:] in noduleid._LAZY_MODULES)\n"
        # calls that need no arrays: still no numpy
        "noduleid.version(); noduleid.features(load=False)\n"
        "noduleid.ClipOptions(); noduleid.cluster_method_parse('single')\n"
        "after_plain = 'numpy' in sys.modules\n"
        # the first call that returns an array imports it
        "labels, k = noduleid.cluster([[1.0, 0.0], [0.0, 1.0], [1.0, 0.01]],\n"
        "                             'single', 0.1)\n"
        "print(json.dumps({'before': before, 'after_plain': after_plain,\n"
        "    'lazy': lazy,\n"
        "    'after': 'numpy' in sys.modules, 'k': k,\n"
        "    'type': type(labels).__module__ + '.' + type(labels).__name__,\n"
        "    'dtype': str(labels.dtype), 'labels': labels.tolist()}))\n")
    assert r["before"] is False, "import noduleid loaded numpy"
    assert r["lazy"] == [], "import noduleid loaded %s" % r["lazy"]
    assert r["after_plain"] is False, "array-free calls loaded numpy"
    assert r["after"] is True
    assert r["type"] == "numpy.ndarray"
    assert r["dtype"] == "int32"
    assert r["k"] == 2 and r["labels"] == [0, 1, 0]


def test_lazy_proxy_is_numpy():
    from noduleid._lazy import dtypes, np as lazy_np
    assert lazy_np.ndarray is np.ndarray
    assert lazy_np.float32 is np.float32
    assert dtypes.F32 == np.dtype(np.float32) and dtypes.U8 == np.dtype(np.uint8)
    with pytest.raises(AttributeError):
        lazy_np.no_such_numpy_name
    with pytest.raises(AttributeError):
        dtypes.F16
    a = noduleid.distance_matrix(np.eye(3, dtype=np.float32))
    assert isinstance(a, np.ndarray) and a.dtype == np.float32


def test_f32_matches_numpy_repr():
    """_f32 (no numpy) is float(repr(numpy.float32(v))) for random floats,
    powers of two and their neighbours (uneven rounding intervals),
    decimal ties, zeros, subnormals, infinities and overflow."""
    rng = np.random.default_rng(14)
    bits = rng.integers(0, 2 ** 32, 20000, dtype=np.uint64).astype(np.uint32)
    vals = [float(v) for v in bits.view(np.float32)]
    for k in range(-149, 128):
        p = np.float32(2.0 ** k)
        vals += [float(p), float(np.nextafter(p, np.float32(0))),
                 float(np.nextafter(p, np.float32(np.inf)))]
    vals += [0.1, 0.3, 0.5, 1e-45, 3.4028235e38, -0.0, 0.0, 3017974.75,
             -164137.875, 1e39, -1e39, float("inf"), 0.1 + 1e-17]
    with np.errstate(over="ignore"):
        for v in vals:
            want = float(repr(np.float32(v)))
            got = _core._f32(v)
            if np.isnan(want):
                assert np.isnan(got), v
            else:
                assert repr(got) == repr(want), (v, got, want)
    assert np.isnan(_core._f32(float("nan")))


def _type_checking_imports():
    """{name: module} of the `if TYPE_CHECKING:` imports in
    noduleid/__init__.py: where each lazily bound name comes from."""
    tree = ast.parse(open(noduleid.__file__).read())
    names = {}
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom) and imp.level == 1
                for a in imp.names:
                    names[a.asname or a.name] = imp.module
    return names


def test_lazy_names_are_the_modules_objects():
    """Every name bound lazily is the object its module defines (the
    TYPE_CHECKING block says which), every module listed there is lazy,
    and __all__, dir() and the submodule attributes are as with eager
    imports."""
    names = _type_checking_imports()
    assert len(names) > 50
    assert set(m for m in names.values()) == set(noduleid._LAZY_MODULES)
    for name, mod in names.items():
        assert name in noduleid.__all__, name
        m = importlib.import_module("noduleid." + mod)
        assert getattr(noduleid, name) is getattr(m, name), name
    for name in noduleid.__all__:
        assert getattr(noduleid, name) is not None, name
    assert set(noduleid.__all__) <= set(dir(noduleid))
    assert noduleid.exam.Exam is noduleid.Exam
    with pytest.raises(AttributeError):
        noduleid.no_such_name
    r = _fresh("import json, noduleid\n"
               "from noduleid import Exam, group\n"
               "print(json.dumps([Exam.__module__, group.__module__,\n"
               "                  noduleid.pipeline.__name__]))\n")
    assert r == ["noduleid.exam", "noduleid.pipeline", "noduleid.pipeline"]
