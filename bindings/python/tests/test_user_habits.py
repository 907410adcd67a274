"""What Python users expect (issue 17): built-in exception types with the
real errno and filename, the exam as a sequence, one-line reprs, defaults
that follow the model, a scikit-learn-style clustering estimator."""
import errno
import os
import pickle
import stat

import numpy as np
import pytest

import noduleid

MODELS = os.environ.get("NID_TEST_MODELS", "")
needs_model = pytest.mark.skipif(
    "torch" not in noduleid.features()
    or not os.path.exists(os.path.join(MODELS, "vm.nidm")),
    reason="no libtorch or no model fixture")


# -- exceptions -------------------------------------------------------------

def test_missing_file_is_file_not_found(tmp_path):
    path = str(tmp_path / "nope.json")
    with pytest.raises(FileNotFoundError) as ei:
        noduleid.Exam.load(path)
    e = ei.value
    assert isinstance(e, noduleid.FileIOError) and isinstance(e, noduleid.NoduleIdError)
    assert e.errno == errno.ENOENT
    assert e.filename == path
    assert e.code == noduleid.Status.EIO
    assert path in str(e)
    # the pathlib form is reported as given (a str)
    with pytest.raises(FileNotFoundError) as ei:
        noduleid.Exam.load(tmp_path / "nope.json")
    assert ei.value.filename == path
    e2 = pickle.loads(pickle.dumps(e))
    assert type(e2) is type(e) and e2.errno == errno.ENOENT and e2.filename == path


def test_missing_folder_on_save_is_file_not_found(tmp_path):
    with noduleid.Exam.create("x") as ex:
        target = str(tmp_path / "no-such-dir" / "x.json")
        with pytest.raises(FileNotFoundError) as ei:
            ex.save(target)
        assert ei.value.filename == target and ei.value.errno == errno.ENOENT


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_file_is_permission_error(tmp_path):
    p = tmp_path / "locked.json"
    p.write_text("{}")
    p.chmod(0)
    with pytest.raises(PermissionError) as ei:
        noduleid.Exam.load(str(p))
    assert ei.value.errno == errno.EACCES


def test_plain_io_error_has_real_errno_not_status():
    e = noduleid.error_from_status(noduleid.Status.EIO, "write failed")
    assert isinstance(e, OSError) and e.errno == errno.EIO and e.code == -3


def test_value_and_memory_errors_are_builtins():
    with pytest.raises(ValueError):
        noduleid.cluster(np.full((3, 2), np.nan, np.float32), threshold=0.5)
    assert issubclass(noduleid.OutOfMemoryError, MemoryError)
    assert issubclass(noduleid.InvalidArgumentError, ValueError)
    assert issubclass(noduleid.NoSuchFileError, FileNotFoundError)
    assert issubclass(noduleid.FilePermissionError, PermissionError)


# -- the exam as a sequence -------------------------------------------------

def _exam():
    ex = noduleid.Exam.create("ex-1", "pat-1", "2024-03-01")
    ex.set_meta({"notes": "x" * 10000})
    v0 = ex.add_video("v0", "a.mp4", n_frames=30, width=64, height=48)
    v1 = ex.add_video("v1", "b.mp4", n_frames=30, width=64, height=48)
    b = (1, 2, 10, 10)
    ex.add_tracklet(v0, "v0-t0", [0, 9], [b, b], nodule=0)
    ex.add_tracklet(v1, "v1-t0", [3, 5], [b, b], nodule=1)
    ex.add_tracklet(v1, "v1-t1", [6, 8], [b, b])
    return ex


def test_exam_is_a_sequence_of_tracklets():
    with _exam() as ex:
        assert len(ex) == 3
        ids = [t.id for t in ex]
        assert ids == ["v0-t0", "v1-t0", "v1-t1"]
        assert ex[0].id == "v0-t0" and ex[-1].id == "v1-t1"
        assert ex["v1-t0"].video == 1
        assert [t.index for t in ex[1:]] == [1, 2]
        assert "v1-t1" in ex and "nope" not in ex and ex[0] in ex
        with pytest.raises(IndexError):
            ex[3]
        with pytest.raises(IndexError):
            ex[-4]
        with pytest.raises(TypeError):
            ex[1.5]
        t = ex[2]
        assert (t.start, t.end, t.nodule) == (6, 8, -1)
        with pytest.raises(Exception):
            t.start = 0          # frozen dataclass
        assert [v.id for v in ex.videos] == ["v0", "v1"]
        assert ex.videos[1].first_tracklet == 1 and ex.videos[1].n_tracklets == 2


def test_reprs_are_short():
    with _exam() as ex:
        r = repr(ex.info)
        assert len(r) < 200, r
        assert "ex-1" in r and "n_tracklets=3" in r
        assert len(ex.info.meta["notes"]) == 10000   # still there
        assert len(repr(ex[0])) < 200
        assert len(repr(ex)) < 200


# -- the model's defaults ---------------------------------------------------

@needs_model
def test_model_defaults_follow_its_compare_mode():
    with noduleid.Model.load(os.path.join(MODELS, "vm.nidm"), threads=1) as m:
        info = m.info
        r = repr(info)
        assert len(r) < 300 and info.model_id in r, r
        rng = np.random.default_rng(0)
        emb = rng.standard_normal((5, info.embed_dim)).astype(np.float32)
        np.testing.assert_array_equal(m.distance_matrix(emb),
                                      m.distance_matrix(emb, info.compare))
        np.testing.assert_array_equal(m.compare_matrix(emb),
                                      m.compare_matrix(emb, info.compare))
        np.testing.assert_array_equal(m.compare(emb, emb[::-1].copy()),
                                      m.compare(emb, emb[::-1].copy(), info.compare))
        if info.compare != noduleid.CompareMode.COSINE:
            assert not np.array_equal(m.distance_matrix(emb),
                                      m.distance_matrix(emb, "cosine"))
        est = noduleid.NoduleClustering(model=m)
        labels = est.fit_predict(emb)
        ref, k = noduleid.cluster_distances(m.distance_matrix(emb), "paper", info.tau)
        np.testing.assert_array_equal(labels, ref)
        assert est.n_clusters_ == k and est.threshold_ == info.tau


# -- scikit-learn-style estimator -------------------------------------------

def _blobs():
    rng = np.random.default_rng(1)
    centres = np.eye(4, 16, dtype=np.float32)[:3] * 10
    x = np.concatenate([c + rng.normal(0, 0.05, (7, 16)) for c in centres])
    return x.astype(np.float32), np.repeat(np.arange(3), 7)


def test_estimator_fit_predict_labels():
    x, truth = _blobs()
    est = noduleid.NoduleClustering(threshold=0.3, method="average")
    assert est.fit(x) is est
    assert est.n_clusters_ == 3
    np.testing.assert_array_equal(est.labels_, truth)
    np.testing.assert_array_equal(est.fit_predict(x), truth)
    assert est.n_features_in_ == 16
    labels, k = noduleid.cluster(x, "average", 0.3)
    np.testing.assert_array_equal(est.labels_, labels)
    d = noduleid.distance_matrix(x)
    pre = noduleid.NoduleClustering(threshold=0.3, method="average", metric="precomputed")
    np.testing.assert_array_equal(pre.fit_predict(d), truth)
    assert est.get_params()["threshold"] == 0.3
    est.set_params(threshold=1e-6, method="single")
    assert est.fit(x).n_clusters_ == len(x)
    with pytest.raises(ValueError):
        est.set_params(bogus=1)
    assert repr(noduleid.NoduleClustering(threshold=0.3)) == "NoduleClustering(threshold=0.3)"
    # cannot-link pairs are honoured
    cl = np.array([[0, 1]], dtype=np.int64)
    split = noduleid.NoduleClustering(threshold=0.3, method="average").fit(x, cannot_link=cl)
    assert split.labels_[0] != split.labels_[1] and split.n_clusters_ == 4


def test_estimator_works_with_sklearn():
    sk = pytest.importorskip("sklearn")
    from sklearn.base import clone
    from sklearn.metrics import adjusted_rand_score
    x, truth = _blobs()
    est = clone(noduleid.NoduleClustering(threshold=0.3, method="single"))
    assert adjusted_rand_score(truth, est.fit_predict(x)) == 1.0
