"""Shared fixtures of the Python binding's tests.

Run by ctest (python_binding) with PYTHONPATH at the package built by
build_for_test.sh; by hand:
    sh bindings/python/tests/build_for_test.sh build build/nidpy
    PYTHONPATH=$PWD/build/nidpy/site /usr/bin/python3 -m pytest bindings/python/tests
"""
import os

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("NID_SOURCE_DIR",
                            os.path.normpath(os.path.join(HERE, "..", "..", "..")))


@pytest.fixture(scope="session")
def header_path():
    return os.path.join(SOURCE_DIR, "include", "noduleid.h")


@pytest.fixture(autouse=True)
def _no_log_callback():
    """Every test starts and ends without a log callback."""
    import noduleid
    noduleid.set_log_callback(None)
    yield
    noduleid.set_log_callback(None)
