"""Clustering, distances and evaluation: results against scikit-learn /
scipy, and zero-copy passing of numpy arrays."""
import numpy as np
import pytest

import noduleid
import noduleid.clustering as ncluster
from noduleid import ffi

sklearn = pytest.importorskip("sklearn")
from scipy.cluster.hierarchy import linkage  # noqa: E402
from scipy.spatial.distance import cdist, pdist  # noqa: E402
from scipy.stats import beta  # noqa: E402
from sklearn.cluster import AgglomerativeClustering  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.metrics import roc_auc_score, roc_curve  # noqa: E402
from sklearn.metrics.cluster import pair_confusion_matrix  # noqa: E402


def canonical(labels):
    """Renumber labels 0..k-1 in order of first appearance."""
    seen = {}
    return np.array([seen.setdefault(v, len(seen)) for v in labels], np.int32)


@pytest.fixture(scope="module")
def digits():
    return load_digits().data.astype(np.float32)  # 1797 x 64


def gap_tau(x64, method, metric, k):
    """A threshold in the widest gap of the merge heights near k clusters,
    so float rounding cannot change the cut."""
    h = np.sort(linkage(pdist(x64, metric), method=method)[:, 2])
    n = len(x64)
    best = max(range(n - k - 20, n - k + 20), key=lambda i: h[i + 1] - h[i])
    return float(np.float32((h[best] + h[best + 1]) / 2))


@pytest.mark.parametrize("method,metric", [("single", "euclidean"),
                                           ("average", "cosine"),
                                           ("complete", "euclidean")])
def test_cluster_equals_sklearn_on_digits(digits, method, metric):
    x = digits[:600]
    x64 = x.astype(np.float64)
    tau = gap_tau(x64, method, metric, 60)
    labels, k = noduleid.cluster(x, method, tau, metric=metric)
    ref = AgglomerativeClustering(n_clusters=None, distance_threshold=tau,
                                  linkage=method, metric=metric
                                  ).fit(x64).labels_
    assert labels.dtype == np.int32
    assert k == len(set(ref)) > 1
    np.testing.assert_array_equal(labels, canonical(ref))


def test_paper_method_and_seed(digits):
    x = digits[:300]
    tau = gap_tau(x.astype(np.float64), "single", "euclidean", 40)
    single, _ = noduleid.cluster(x, "single", tau, metric="euclidean")
    a, ka = noduleid.cluster(x, "paper", tau, seed=7, metric="euclidean")
    b, _ = noduleid.cluster(x, "paper", tau, seed=7, metric="euclidean")
    np.testing.assert_array_equal(a, b)
    # single linkage is the closure of the paper method: every paper cluster
    # lies inside one single-linkage cluster.
    for c in range(ka):
        assert len(set(single[a == c])) == 1
    assert noduleid.cluster_method_parse("complete") == noduleid.Method.COMPLETE
    assert noduleid.cluster_method_name(noduleid.Method.PAPER) == "paper"


def test_distance_matrix_equals_scipy_and_fills_out_in_place(digits):
    x = digits[:200] + 1.0
    for metric in ("cosine", "euclidean"):
        out = np.full((200, 200), -1, np.float32)
        res = noduleid.distance_matrix(x, metric, out=out)
        assert res is out
        np.testing.assert_allclose(out, cdist(x.astype(np.float64), x, metric),
                                   rtol=1e-5, atol=2e-6)
    with pytest.raises(ValueError, match="out must be"):
        noduleid.distance_matrix(x, out=np.empty((200, 200), np.float64))


def test_cluster_distances_and_online_equal_offline(digits):
    x = digits[:250] + 1.0
    tau = gap_tau(x.astype(np.float64), "single", "cosine", 30)
    ref, k = noduleid.cluster(x, "single", tau)
    D = noduleid.distance_matrix(x, "cosine")
    lab, k2 = noduleid.cluster_distances(D, "single", tau)
    np.testing.assert_array_equal(lab, ref)
    with noduleid.OnlineClusterer(x.shape[1], tau) as oc:
        ids = oc.add_many(x)
        assert ids.shape == (250,) and len(oc) == 250
        np.testing.assert_array_equal(oc.labels(), ref)
        assert oc.n_clusters == k
        stable = oc.labels(canonical=False)
        np.testing.assert_array_equal(canonical(stable), ref)
        oc.reset()
        assert len(oc) == 0 and oc.labels().shape == (0,)
    # the distance-fed clusterer gives the same partition
    od = noduleid.OnlineClusterer(0, tau)
    for i in range(len(x)):
        od.add_distances(D[i, :i])
    np.testing.assert_array_equal(od.labels(), ref)
    od.close()


def test_zero_copy_inputs(monkeypatch, digits):
    seen = []
    real = ncluster._buf

    def spy(arr, writable=False):
        seen.append(arr)
        p = real(arr, writable)
        # from_buffer points at the array's own memory
        assert int(ffi.cast("uintptr_t", p)) == arr.ctypes.data
        return p
    monkeypatch.setattr(ncluster, "_buf", spy)
    x = np.ascontiguousarray(digits[:50])
    labels, _ = noduleid.cluster(x, "single", 10.0, metric="euclidean")
    assert seen[0] is x          # the caller's array itself, no copy
    assert seen[1] is labels     # the output is filled in place by C
    seen.clear()
    x64 = digits[:50].astype(np.float64)
    noduleid.cluster(x64, "single", 10.0, metric="euclidean")
    assert seen[0] is not x64 and seen[0].dtype == np.float32  # converted
    seen.clear()
    xs = digits[:100:2]          # not contiguous: one contiguous copy
    noduleid.cluster(xs, "single", 10.0, metric="euclidean")
    assert seen[0].flags.c_contiguous and not np.shares_memory(seen[0], digits)


def test_eval_auc_and_delong_against_sklearn():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 400).astype(np.int32)
    s1 = labels + rng.normal(0, 1.2, 400)
    s2 = np.round(labels + rng.normal(0, 1.5, 400), 1)  # with ties
    r = noduleid.eval_auc(labels, s1)
    assert r.auc.value == pytest.approx(roc_auc_score(labels, s1), abs=1e-12)
    assert r.n_pos == labels.sum() and r.n_neg == 400 - labels.sum()
    assert r.auc.lo < r.auc.value < r.auc.hi and r.variance > 0
    d = noduleid.eval_delong(labels, s1, s2)
    assert d.b.auc.value == pytest.approx(roc_auc_score(labels, s2), abs=1e-12)
    assert 0 <= d.p_value <= 1
    # threshold counts against numpy; Youden against sklearn's roc_curve
    b = noduleid.eval_threshold(labels, s1, 0.5)
    pred = s1 >= 0.5
    assert (b.tp, b.fp, b.tn, b.fn) == (
        int((pred & (labels == 1)).sum()), int((pred & (labels == 0)).sum()),
        int((~pred & (labels == 0)).sum()), int((~pred & (labels == 1)).sum()))
    fpr, tpr, thr = roc_curve(labels, s1)
    t, j = noduleid.eval_youden(labels, s1)
    assert j == pytest.approx(np.max(tpr - fpr), abs=1e-12)
    with pytest.raises(noduleid.InvalidArgumentError, match="label"):
        noduleid.eval_auc(np.array([0, 2, 1], np.int32), [0.1, 0.2, 0.3])


def test_eval_clusters_against_sklearn_pairs():
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 12, 300).astype(np.int32)
    pred = np.where(rng.random(300) < 0.8, truth, rng.integers(0, 15, 300))
    s = noduleid.eval_clusters(truth, pred)
    C = pair_confusion_matrix(truth, pred) // 2   # ordered -> unordered pairs
    tp, fn, fp = C[1, 1], C[1, 0], C[0, 1]
    assert (s.pairs_both, s.pairs_true, s.pairs_pred) == (tp, tp + fn, tp + fp)
    assert s.pair_precision == pytest.approx(tp / (tp + fp))
    assert s.pair_recall == pytest.approx(tp / (tp + fn))
    assert s.n_true_clusters == len(set(truth))


def test_clopper_pearson_against_scipy():
    for k, n in [(0, 10), (3, 10), (10, 10), (37, 120)]:
        e = noduleid.clopper_pearson(k, n)
        lo = 0.0 if k == 0 else beta.ppf(0.025, k, n - k + 1)
        hi = 1.0 if k == n else beta.ppf(0.975, k + 1, n - k)
        assert (e.value, e.lo, e.hi) == pytest.approx((k / n, lo, hi), rel=1e-9)
    with pytest.raises(noduleid.InvalidArgumentError):
        noduleid.clopper_pearson(5, 3)
