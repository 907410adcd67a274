import os
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from phantom.config import make_config  # noqa: E402
from phantom.generate import generate_dataset  # noqa: E402

SEED = 1


@pytest.fixture(scope="session")
def ci_dataset(tmp_path_factory):
    """The `ci` scale, lossless (FFV1), generated once per test session."""
    out = str(tmp_path_factory.mktemp("ci"))
    cfg = make_config("ci", {"codec": "ffv1"})
    generate_dataset(cfg, SEED, out, jobs=2, log=None)
    return out, cfg
