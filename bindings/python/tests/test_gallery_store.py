"""GalleryStore binding: exams in, matching against numpy on the patient's
latest exam, export/import through the gallery file format, several writer
processes, errors as typed exceptions."""
import multiprocessing as mp
import sqlite3

import numpy as np
import pytest

import noduleid
from noduleid import Gallery, GalleryStore

MODEL = "sha256:" + "ab" * 32
D = 8


def unit(x):
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_add_match_get_export(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "g.nidb"
    a = rng.normal(size=(2, D)).astype(np.float32)
    b = rng.normal(size=(3, D)).astype(np.float32)
    other = rng.normal(size=(2, D)).astype(np.float32)
    with GalleryStore(path, model_id=MODEL, embed_dim=D, create=True) as s:
        assert (s.model_id, s.embed_dim, len(s)) == (MODEL, D, 0)
        ids1 = s.add_exam("P1", "E1", "2023-01-02", ["N1", "N2"], a, [3, 1])
        ids_o = s.add_exam("P2", "E1", "2023-05-05", ["N1", "N2"], other)
        ids2 = s.add_exam("P1", "E2", "2024-01-02", ["N1", "N2", "N3"], b)
        assert list(ids1) == [1, 2] and list(ids_o) == [3, 4]
        assert list(ids2) == [5, 6, 7] and len(s) == 7
        assert s.has_exam("P1", "E2") and not s.has_exam("P1", "E3")
        e, v = s.get(2)
        assert (e.index, e.patient_id, e.exam_id, e.date, e.label,
                e.n_tracklets) == (2, "P1", "E1", "2023-01-02", "N2", 1)
        np.testing.assert_allclose(v, unit(a[1]), rtol=1e-6)
        assert "7 entries" in repr(s)

    # match: candidates are P1's latest exam (E2) only, never P2's rows
    with GalleryStore(path, read_only=True) as s:
        q = np.stack([b[1] + 0.01 * rng.normal(size=D), other[0],
                      rng.normal(size=D)]).astype(np.float32)
        m, dist = s.match("P1", q, MODEL)
        ref = 1 - unit(q) @ unit(b).T            # numpy, against E2's rows
        assert m[0] == 6 and dist[0] == pytest.approx(ref[0].min(), abs=1e-5)
        assert m[1] not in ids_o and m[2] not in ids_o
        for i in (1, 2):
            assert dist[i] == pytest.approx(ref[i].min(), abs=1e-5)
            if m[i] != -1:
                assert m[i] == ids2[int(np.argmin(ref[i]))]
        m, dist = s.match("nobody", q, MODEL)
        assert list(m) == [-1, -1, -1] and np.isinf(dist).all()
        with pytest.raises(noduleid.MismatchError):
            s.match("P1", q, "sha256:" + "00" * 32)
        with pytest.raises(noduleid.FileIOError):
            s.add_exam("P3", "E1", "2024-01-01", ["N1"], a[:1])  # read-only

        g, ids = s.export("P1")
        assert list(ids) == [1, 2, 5, 6, 7] and len(g) == 5
        assert [g.entry(i).exam_id for i in range(5)] == ["E1"] * 2 + ["E2"] * 3
        g.save(tmp_path / "p1.nidg")
        g_all, ids_all = s.export()
        assert list(ids_all) == list(range(1, 8))

    # import the file format into a new store, twice: nothing added twice
    with GalleryStore(tmp_path / "h.nidb", model_id=MODEL, embed_dim=D,
                      create=True) as h:
        assert h.import_gallery(tmp_path / "p1.nidg") == 5
        assert h.import_gallery(g_all, skip_existing=True) == 2
        assert h.import_gallery(g_all, skip_existing=True) == 0
        assert len(h) == 7
        with pytest.raises(noduleid.InvalidArgumentError, match="P1"):
            h.import_gallery(g_all)
        assert len(h) == 7


def test_errors(tmp_path):
    with pytest.raises(noduleid.FileIOError):
        GalleryStore(tmp_path / "missing.nidb")
    with pytest.raises(noduleid.InvalidArgumentError):
        GalleryStore(tmp_path / "x.nidb", create=True)     # no model id
    g = Gallery(MODEL, D)
    g.add("P", "E", "2024-01-01", "N1", np.ones(D))
    g.save(tmp_path / "file.nidg")
    with pytest.raises(noduleid.FormatError, match="file.nidg"):
        GalleryStore(tmp_path / "file.nidg")               # not a store
    path = tmp_path / "s.nidb"
    GalleryStore(path, model_id=MODEL, embed_dim=D, create=True).close()
    with pytest.raises(noduleid.MismatchError):
        GalleryStore(path, model_id="sha256:" + "00" * 32)
    with pytest.raises(noduleid.MismatchError):
        GalleryStore(path, embed_dim=D + 1)
    with pytest.raises(ValueError, match="71 bytes"):
        GalleryStore(path, model_id="x" * 80)
    with GalleryStore(path) as s:
        x = np.ones((2, D), dtype=np.float32)
        with pytest.raises(ValueError, match="2 rows for 1 labels"):
            s.add_exam("P", "E", "2024-01-01", ["N1"], x)
        with pytest.raises(noduleid.InvalidArgumentError, match="date"):
            s.add_exam("P", "E", "2024-02-30", ["N1", "N2"], x)
        with pytest.raises(noduleid.MismatchError):
            s.add_exam("P", "E", "2024-01-01", ["N1"], np.ones((1, D + 1)))
        x[1, 0] = np.nan
        with pytest.raises(noduleid.InvalidArgumentError):
            s.add_exam("P", "E", "2024-01-01", ["N1", "N2"], x)
        assert len(s) == 0                 # nothing of a failed exam
        s.add_exam("P", "E", "2024-01-01", ["N1"], np.ones((1, D)))
        with pytest.raises(noduleid.InvalidArgumentError, match="N1"):
            s.add_exam("P", "E", "2024-01-01", ["N2", "N1"], np.ones((2, D)))
        assert len(s) == 1
        with pytest.raises(noduleid.OutOfRangeError):
            s.get(99)
    s.close()
    with pytest.raises(noduleid.ClosedError):
        len(s)


def _writer(path, w, n_exams, q):
    try:
        rng = np.random.default_rng(w)
        with GalleryStore(path, busy_timeout_ms=120000) as s:
            total = 0.0
            for e in range(n_exams):
                x = rng.normal(size=(2, D)).astype(np.float32)
                s.add_exam("P%d-%d" % (w, e % 7), "W%d-E%d" % (w, e),
                           "2024-01-01", ["N1", "N2"], x)
                total += float(unit(x).sum())
        q.put((w, total))
    except Exception as exc:  # pragma: no cover - reported by the parent
        q.put((w, repr(exc)))


def test_concurrent_writer_processes(tmp_path):
    path = str(tmp_path / "c.nidb")
    GalleryStore(path, model_id=MODEL, embed_dim=D, create=True).close()
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    n_w, n_e = 4, 40
    procs = [ctx.Process(target=_writer, args=(path, w, n_e, q))
             for w in range(n_w)]
    for p in procs:
        p.start()
    got = dict(q.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert all(isinstance(v, float) for v in got.values()), got
    with GalleryStore(path, read_only=True) as s:
        assert len(s) == n_w * n_e * 2
        g, ids = s.export()
        assert sorted(ids) == list(range(1, n_w * n_e * 2 + 1))
        emb = np.stack([g.embedding(i) for i in range(len(g))])
        assert emb.sum() == pytest.approx(sum(got.values()), rel=1e-4)
        exams = {g.entry(i).exam_id for i in range(len(g))}
        assert len(exams) == n_w * n_e
    # the file is an ordinary SQLite database in WAL mode
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()
