"""Distances, offline clustering and the online clusterer."""
from __future__ import annotations

import enum
from typing import Optional, Tuple, Union

from ._lazy import np, dtypes as _dt
from ._core import (Handle, _as_array, _buf, _check, _enum_value, _new_handle,
                    _out_array, _str)
from ._noduleid import ffi, lib


class Metric(enum.IntEnum):
    """Distance between embeddings (nid_metric)."""
    COSINE = lib.NID_METRIC_COSINE        #: 1 - cos(a, b), in [0, 2]
    EUCLIDEAN = lib.NID_METRIC_EUCLIDEAN  #: ||a - b||_2


class Method(enum.IntEnum):
    """Clustering methods (nid_cluster_method); all link items whose
    distance is < threshold."""
    PAPER = lib.NID_CLUSTER_PAPER        #: Algorithm 1 of Jiang et al. 2023
    SINGLE = lib.NID_CLUSTER_SINGLE      #: single linkage cut at threshold
    AVERAGE = lib.NID_CLUSTER_AVERAGE    #: average linkage (UPGMA)
    COMPLETE = lib.NID_CLUSTER_COMPLETE  #: complete linkage


MetricLike = Union[Metric, int, str]
MethodLike = Union[Method, int, str]


def cluster_method_name(method: MethodLike) -> Optional[str]:
    """The C library's name of a method ("paper", ...), None if unknown."""
    return _str(lib.nid_cluster_method_name(int(method)))


def cluster_method_parse(name: str) -> Method:
    """Parse a method name with the C library's parser."""
    out = ffi.new("int *")
    _check(lib.nid_cluster_method_parse(name.encode(), out))
    return Method(out[0])


def _options(method, threshold, seed, metric, n_threads, cannot_link=None):
    """The options struct, and the constraint array it points to (keep it
    alive for the call)."""
    opts = ffi.new("nid_cluster_options *")
    lib.nid_cluster_options_init(opts)
    opts.method = _enum_value(method, Method, "method")
    opts.metric = _enum_value(metric, Metric, "metric")
    opts.threshold = float(threshold)
    opts.seed = int(seed) & 0xFFFFFFFFFFFFFFFF
    opts.n_threads = int(n_threads)
    keep = None
    if cannot_link is not None:
        cl = np.asarray(cannot_link)
        if cl.size:
            if cl.ndim != 2 or cl.shape[1] != 2:
                raise ValueError("cannot_link must be an m x 2 array of item index "
                                 "pairs, got shape %s" % (cl.shape,))
            if (cl < 0).any():
                raise ValueError("cannot_link: negative item index")
            keep = np.ascontiguousarray(cl, dtype=np.uint32)
            opts.cannot_link = _buf(keep)
            opts.n_cannot_link = len(keep)
    return opts, keep


def distance_matrix(x: np.ndarray, metric: MetricLike = "cosine", *,
                    n_threads: int = 0,
                    out: Optional[np.ndarray] = None) -> np.ndarray:
    """All-pairs distances of the rows of ``x`` (n x d float32).

    Args:
        x: n x d embeddings; float32 C-contiguous arrays are passed to C
            without a copy (other dtypes are converted).
        metric: "cosine" (1 - cos, zero-norm rows are an error) or
            "euclidean".
        n_threads: <= 0 uses all cores.
        out: optional n x n float32 array filled in place.

    Returns:
        The n x n float32 distance matrix (``out`` when given).

    Raises:
        InvalidArgumentError: empty input, NaN/Inf, zero-norm row (cosine).
    """
    xa = _as_array(x, _dt.F32, "x", ndim=2)
    n, d = xa.shape
    res = _out_array(out, (n, n), _dt.F32, "distance_matrix")
    needed = ffi.new("size_t *")
    _check(lib.nid_distance_matrix(_buf(xa), n, d,
                                   _enum_value(metric, Metric, "metric"),
                                   int(n_threads), _buf(res, True), res.size,
                                   needed))
    return res


def cluster(x: np.ndarray, method: MethodLike = "paper",
            threshold: float = 0.5, *, seed: int = 0,
            metric: MetricLike = "cosine",
            n_threads: int = 0, cannot_link=None) -> Tuple[np.ndarray, int]:
    """Cluster the rows of ``x`` (n x d float32 embeddings).

    Items are linked when their distance is < ``threshold``; see
    :class:`Method` for the methods ("paper", "single", "average",
    "complete"). ``seed`` drives the random seeds of "paper".
    ``cannot_link``: optional m x 2 item index pairs known to be different
    nodules (e.g. :meth:`Exam.cannot_link`); no cluster holds both items of
    a pair.

    Returns:
        (labels, k): int32 labels 0..k-1 numbered in order of each
        cluster's first item, and the number of clusters k.

    Raises:
        InvalidArgumentError: empty input, NaN/Inf, zero-norm row under
            cosine, bad threshold/method/metric (the message says which).
    """
    xa = _as_array(x, _dt.F32, "x", ndim=2)
    n, d = xa.shape
    labels = np.empty(n, dtype=_dt.I32)
    k = ffi.new("size_t *")
    opts, _keep = _options(method, threshold, seed, metric, n_threads, cannot_link)
    _check(lib.nid_cluster(_buf(xa), n, d, opts, _buf(labels, True), n, k))
    return labels, int(k[0])


def cluster_distances(dist: np.ndarray, method: MethodLike = "paper",
                      threshold: float = 0.5, *,
                      seed: int = 0, cannot_link=None) -> Tuple[np.ndarray, int]:
    """Cluster from a precomputed n x n distance matrix (float32, symmetric
    off the diagonal, finite and >= 0; e.g. 1 - verification probability).
    ``cannot_link`` as in :func:`cluster`.

    Returns:
        (labels, k) as :func:`cluster`.
    """
    da = _as_array(dist, _dt.F32, "dist", ndim=2)
    n = da.shape[0]
    if da.shape != (n, n):
        raise ValueError("cluster_distances: dist must be square, got shape %s"
                         % (da.shape,))
    labels = np.empty(n, dtype=_dt.I32)
    k = ffi.new("size_t *")
    opts, _keep = _options(method, threshold, seed, "cosine", 0, cannot_link)
    _check(lib.nid_cluster_dist(_buf(da), n, opts, _buf(labels, True), n, k))
    return labels, int(k[0])


class OnlineClusterer(Handle):
    """Cluster items as they arrive (e.g. each tracklet when it ends).

    A new item joins the cluster of its nearest earlier item when that
    distance is < threshold and merges every other cluster it is that close
    to (single linkage), so the partition always equals
    ``cluster(items, "single", threshold)``.

    Use ``OnlineClusterer(d, threshold)`` for d-dimensional embeddings, or
    ``OnlineClusterer(0, threshold)`` to feed distances with
    :meth:`add_distances`. One thread at a time per clusterer. Free with
    :meth:`close` or a ``with`` block (or leave it to the garbage
    collector).
    """

    __slots__ = ("d",)

    def __init__(self, d: int, threshold: float = 0.5, *,
                 metric: MetricLike = "cosine"):
        opts, _ = _options("paper", threshold, 0, metric, 0)
        ptr = _new_handle("nid_online", lib.nid_online_create, int(d), opts)
        super().__init__(ptr, lib.nid_online_free)
        self.d = int(d)

    def add(self, x: np.ndarray) -> int:
        """Add one embedding (d floats); return its cluster id now (a
        stable id; ids of earlier items may change by merges)."""
        p = self._ptr
        xa = _as_array(x, _dt.F32, "x", ndim=1)
        if xa.shape[0] != self.d:
            raise ValueError("OnlineClusterer.add: expected %d floats, got %d"
                             % (self.d, xa.shape[0]))
        c = ffi.new("int32_t *")
        _check(lib.nid_online_add(p, _buf(xa), c))
        return int(c[0])

    def add_many(self, x: np.ndarray) -> np.ndarray:
        """Add the rows of x in order; return the id each got on arrival."""
        xa = _as_array(x, _dt.F32, "x", ndim=2)
        return np.array([self.add(row) for row in xa], dtype=_dt.I32)

    def add_distances(self, dist: np.ndarray) -> int:
        """Add one item given its distances to every earlier item
        (len(dist) == len(self)); only for clusterers made with d == 0."""
        p = self._ptr
        da = _as_array(dist, _dt.F32, "dist", ndim=1)
        c = ffi.new("int32_t *")
        ptr = _buf(da) if da.size else ffi.NULL
        _check(lib.nid_online_add_dist(p, ptr, da.shape[0], c))
        return int(c[0])

    def __len__(self) -> int:
        return int(lib.nid_online_size(self._ptr))

    @property
    def n_clusters(self) -> int:
        """Number of clusters now."""
        return int(lib.nid_online_n_clusters(self._ptr))

    def labels(self, canonical: bool = True) -> np.ndarray:
        """Current cluster of every item (int32). canonical=True numbers
        them 0..k-1 in order of first item (as :func:`cluster`); False
        gives the stable ids."""
        p = self._ptr
        n = int(lib.nid_online_size(p))
        out = np.empty(n, dtype=_dt.I32)
        if n == 0:
            return out
        _check(lib.nid_online_labels(p, 1 if canonical else 0,
                                     _buf(out, True), n, ffi.NULL))
        return out

    def reset(self) -> None:
        """Forget all items (keeps dimension and options)."""
        lib.nid_online_reset(self._ptr)


class NoduleClustering:
    """Threshold clustering as a scikit-learn estimator (``fit``,
    ``fit_predict``, ``labels_``, ``n_clusters_``, ``get_params`` /
    ``set_params``), so it drops into notebooks and pipelines written for
    ``sklearn.cluster``; scikit-learn itself is not needed.

    Parameters:
        threshold: link items whose distance is < threshold. None: the
            model's ``info.tau`` when ``model`` is given, else 0.5.
        method: "paper" (Algorithm 1), "single", "average", "complete".
        metric: "cosine", "euclidean", or "precomputed" (``X`` is an n x n
            distance matrix, e.g. ``model.distance_matrix(emb)``).
        seed: random seed of "paper".
        model: a :class:`Model`: ``X`` holds its embeddings, compared with
            the model's own comparison (``model.distance_matrix``) and
            clustered at its threshold; ``metric`` is then ignored.
        n_threads: worker threads (0: all cores).

    Example::

        est = noduleid.NoduleClustering(model=m)
        labels = est.fit_predict(embeddings)     # est.n_clusters_ nodules
    """

    def __init__(self, threshold: Optional[float] = None, *,
                 method: MethodLike = "paper", metric="cosine", seed: int = 0,
                 model=None, n_threads: int = 0):
        self.threshold = threshold
        self.method = method
        self.metric = metric
        self.seed = seed
        self.model = model
        self.n_threads = n_threads

    _PARAMS = ("threshold", "method", "metric", "seed", "model", "n_threads")

    def get_params(self, deep: bool = True) -> dict:
        return {k: getattr(self, k) for k in self._PARAMS}

    def set_params(self, **params) -> "NoduleClustering":
        for k, v in params.items():
            if k not in self._PARAMS:
                raise ValueError("NoduleClustering: unknown parameter %r "
                                 "(expected one of %s)" % (k, ", ".join(self._PARAMS)))
            setattr(self, k, v)
        return self

    def _threshold(self) -> float:
        if self.threshold is not None:
            return float(self.threshold)
        if self.model is not None:
            return float(self.model.info.tau)
        return 0.5

    def fit(self, X, y=None, cannot_link=None) -> "NoduleClustering":
        """Cluster the rows of X (n x d embeddings, or n x n distances with
        metric="precomputed"). ``y`` is ignored (scikit-learn's API)."""
        tau = self._threshold()
        precomputed = isinstance(self.metric, str) and self.metric.lower() == "precomputed"
        if self.model is not None:
            dist = self.model.distance_matrix(X)
            labels, k = cluster_distances(dist, self.method, tau, seed=self.seed,
                                          cannot_link=cannot_link)
            self.n_features_in_ = int(np.shape(X)[1])
        elif precomputed:
            labels, k = cluster_distances(X, self.method, tau, seed=self.seed,
                                          cannot_link=cannot_link)
            self.n_features_in_ = int(np.shape(X)[1])
        else:
            labels, k = cluster(X, self.method, tau, seed=self.seed,
                                metric=self.metric, n_threads=self.n_threads,
                                cannot_link=cannot_link)
            self.n_features_in_ = int(np.shape(X)[1])
        self.labels_ = labels
        self.n_clusters_ = int(k)
        self.threshold_ = tau
        return self

    def fit_predict(self, X, y=None, cannot_link=None) -> np.ndarray:
        """:meth:`fit`, then ``labels_``."""
        return self.fit(X, y, cannot_link=cannot_link).labels_

    def __repr__(self) -> str:
        changed = []
        defaults = {"threshold": None, "method": "paper", "metric": "cosine",
                    "seed": 0, "model": None, "n_threads": 0}
        for k in self._PARAMS:
            v = getattr(self, k)
            if v is not defaults[k] and v != defaults[k]:
                changed.append("%s=%r" % (k, v))
        return "NoduleClustering(%s)" % ", ".join(changed)
