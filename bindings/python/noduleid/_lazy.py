"""numpy, imported at its first use rather than with the package.

``import noduleid`` should cost little more than loading the library: a
process that only asks for the version, the features or a backend, or
that loads the binding to hand it to another tool later, should not pay for
numpy (about 100 ms). Every module of the package refers to numpy as
``np`` from here; the first attribute looked up on it imports numpy, and
each attribute is then cached on the proxy, so later look-ups are plain
attribute reads. Functions still take and return real numpy arrays
(``np.ndarray`` is numpy's own class), only the import is deferred.

``dtypes`` holds the dtype constants the modules share (F32, F64, I32,
I64, U8), made on first use too.
"""
from __future__ import annotations

import importlib


class _LazyModule:
    """Proxy of a module imported at the first attribute look-up."""

    def __init__(self, name: str):
        object.__setattr__(self, "_name", name)

    def __getattr__(self, attr):
        # only called for attributes not cached on the proxy yet
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        mod = importlib.import_module(self._name)
        value = getattr(mod, attr)
        object.__setattr__(self, attr, value)
        return value

    def __setattr__(self, attr, value):
        raise AttributeError("noduleid._lazy: %s proxy is read-only"
                             % self._name)

    def __repr__(self):
        return "<lazy module %r>" % self._name


np = _LazyModule("numpy")


class _Dtypes:
    """numpy dtypes shared by the modules, made at their first use."""

    _NAMES = {"F32": "float32", "F64": "float64", "I32": "int32",
              "I64": "int64", "U8": "uint8"}

    def __getattr__(self, attr):
        try:
            name = self._NAMES[attr]
        except KeyError:
            raise AttributeError(attr) from None
        value = np.dtype(name)
        setattr(self, attr, value)
        return value


dtypes = _Dtypes()
