"""Gallery binding: round trip through a file, matching against numpy,
errors as typed exceptions."""
import numpy as np
import pytest

import noduleid
from noduleid import Gallery

MODEL = "sha256:" + "cd" * 32


def test_round_trip_and_match(tmp_path):
    rng = np.random.default_rng(5)
    c = rng.normal(size=(3, 16)).astype(np.float32)
    with Gallery(MODEL, 16) as g:
        assert g.model_id == MODEL and g.embed_dim == 16 and len(g) == 0
        for k in range(3):
            assert g.add("P1", "E1", "2023-05-06", "N%d" % (k + 1), c[k],
                         n_tracklets=k + 1) == k
        g.save(tmp_path / "g.nidg")
    h = Gallery.load(tmp_path / "g.nidg")
    assert len(h) == 3
    e = h.entry(-1)
    assert (e.index, e.patient_id, e.exam_id, e.date, e.label,
            e.n_tracklets) == (2, "P1", "E1", "2023-05-06", "N3", 3)
    np.testing.assert_allclose(h.embedding(1), c[1] / np.linalg.norm(c[1]),
                               rtol=1e-6)
    new = np.stack([c[2] + 0.01, rng.normal(size=16)]).astype(np.float32)
    m, d = h.match("P1", new, MODEL)
    ref = 1 - (new[0] @ c[2]) / np.linalg.norm(new[0]) / np.linalg.norm(c[2])
    assert m[0] == 2 and d[0] == pytest.approx(ref, abs=1e-6)
    if m[1] == -1:
        assert d[1] >= 0.5
    m, _ = h.match("P1", new, MODEL, threshold=0.0)
    assert list(m) == [-1, -1]
    m, d = h.match("nobody", new, MODEL)
    assert list(m) == [-1, -1] and np.isinf(d).all()
    h.close()


def test_errors(tmp_path):
    g = Gallery(MODEL, 4)
    g.add("P", "E", "2024-01-01", "N1", np.ones(4))
    with pytest.raises(noduleid.MismatchError, match="gallery made by model"):
        g.match("P", np.ones((1, 4)), "sha256:other")
    with pytest.raises(noduleid.MismatchError):
        g.add("P", "E", "2024-01-01", "N2", np.ones(3))
    with pytest.raises(noduleid.InvalidArgumentError, match="date"):
        g.add("P", "E", "2024-02-30", "N2", np.ones(4))
    with pytest.raises(noduleid.OutOfRangeError):
        g.entry(5)
    with pytest.raises(noduleid.InvalidArgumentError):
        Gallery("", 4)
    with pytest.raises(noduleid.FileIOError, match="missing"):
        Gallery.load(tmp_path / "missing.nidg")
    (tmp_path / "bad").write_bytes(b"\x89NIDGAL\n" + b"\0" * 200)
    with pytest.raises(noduleid.FormatError):
        Gallery.load(tmp_path / "bad")
    with pytest.raises(noduleid.FileIOError):
        g.save(tmp_path / "no" / "dir" / "g.nidg")
    g.close()
    with pytest.raises(noduleid.ClosedError):
        len(g)
