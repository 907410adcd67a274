"""The main job in one call: an exam's tracklets grouped into nodules
(:func:`group`, nid_group_exam), every tracklet embedded
(:meth:`Model.embed_exam`, nid_model_embed_exam), and the default model
(:func:`default_model_path`)::

    exam = noduleid.Exam.load("exam.json")
    g = noduleid.group(exam)            # the default model
    for n in g.nodules:
        print(n.label, n.tracklets)
"""
from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple, Union

from ._lazy import np, dtypes as _dt
from ._core import _as_array, _buf, _check, _enum_value, _f32
from ._noduleid import ffi, lib
from .clustering import Method
from .evaluate import ClusterScores
from .exam import ClipOptions, Exam, Sampling, _clip_opts
from .model import CompareMode, Model
from .video import Video


ProgressFn = Callable[[int, int, Optional[str]], Optional[bool]]
AbortFn = Callable[[], bool]
VideoSourceFn = Callable[[Exam, int], Union[Video, "np.ndarray"]]


class ModelSource(enum.IntEnum):
    """Where :func:`default_model_path` found the model."""
    ENV = lib.NID_MODEL_FROM_ENV                #: $NODULEID_MODEL
    INSTALL = lib.NID_MODEL_FROM_INSTALL        #: installed with the library
    BUILD_TREE = lib.NID_MODEL_FROM_BUILD_TREE  #: the source tree's model


class SettingSource(enum.IntEnum):
    """Where a setting of a grouping came from."""
    DEFAULT = lib.NID_FROM_DEFAULT
    OPTIONS = lib.NID_FROM_OPTIONS
    MODEL = lib.NID_FROM_MODEL


def default_model_path() -> Tuple[str, ModelSource]:
    """The default model package: $NODULEID_MODEL, else the one installed
    with the library, else (build tree) models/default.nidm. Returns
    (path, source). Raises FileIOError naming the places searched."""
    need = ffi.new("size_t *")
    src = ffi.new("int *")
    buf = ffi.new("char[]", 4096)
    st = lib.nid_default_model_path(buf, 4096, need, src)
    if st == lib.NID_EBUFSIZE:
        buf = ffi.new("char[]", need[0])
        st = lib.nid_default_model_path(buf, need[0], need, src)
    _check(st)
    return ffi.string(buf).decode(), ModelSource(src[0])


@dataclass(frozen=True)
class Timings:
    """Seconds per stage."""
    video_s: float    #: opening videos, decoding, building clips
    embed_s: float    #: the network
    compare_s: float  #: all-pairs similarities
    cluster_s: float  #: constraints and clustering
    score_s: float    #: scoring against the nodule ids
    total_s: float

    @classmethod
    def _from_c(cls, t) -> "Timings":
        return cls(float(t.video_s), float(t.embed_s), float(t.compare_s),
                   float(t.cluster_s), float(t.score_s), float(t.total_s))


@dataclass(frozen=True)
class Nodule:
    """One nodule of a grouping."""
    label: str                 #: "N1", "N2", ... (index + 1)
    index: int                 #: its label value in :attr:`Grouping.labels`
    tracklets: Tuple[str, ...]  #: ids of its tracklets, in exam order
    tracklet_indices: Tuple[int, ...]
    embedding: np.ndarray      #: the normalised mean of its tracklets'


@dataclass(frozen=True)
class OnlineStep:
    """One step of an online grouping: the tracklet added, the stable
    cluster id it got then, and the number of clusters after it."""
    tracklet: str
    cluster: int
    n_clusters: int


@dataclass(frozen=True, eq=False)
class Grouping:
    """The result of :func:`group` (plain Python data; nothing to close)."""
    labels: np.ndarray          #: int32, nodule index of every tracklet
    nodules: List[Nodule]
    tracklet_ids: Tuple[str, ...]
    embeddings: np.ndarray      #: n x D float32 tracklet embeddings
    n_clips: np.ndarray         #: int32, clips pooled per tracklet
    similarity: Optional[np.ndarray]  #: n x n, with similarity=True
    scores: Optional[ClusterScores]   #: vs the exam's nodule ids
    exact: bool                 #: the nodules equal the nodule ids
    n_truth_tracklets: int
    compare: CompareMode
    method: Method
    online: bool
    threshold: float
    seed: int
    method_from: SettingSource
    threshold_from: SettingSource
    n_cannot_link: int
    online_steps: Optional[List[OnlineStep]]
    timings: Timings

    @property
    def n_nodules(self) -> int:
        return len(self.nodules)

    def nodule_of(self, tracklet: Union[int, str]) -> Nodule:
        """The nodule of a tracklet (index or id)."""
        t = (self.tracklet_ids.index(tracklet) if isinstance(tracklet, str)
             else int(tracklet))
        return self.nodules[int(self.labels[t])]

    def __repr__(self) -> str:
        return "<noduleid.Grouping %d tracklets -> %d nodules>" % (
            len(self.labels), len(self.nodules))


# ---- callbacks ----------------------------------------------------------


class _Ctx:
    """What the C callbacks reach through their payload."""

    def __init__(self, exam, progress, abort, video_source):
        self.exam = exam
        self.progress = progress
        self.abort = abort
        self.video_source = video_source
        self.error: Optional[BaseException] = None
        self.keep: list = []  # videos handed to the library, kept alive


@ffi.def_extern()
def _nid_py_progress(done, total, tracklet_id, payload):
    ctx = ffi.from_handle(payload)
    try:
        tid = ffi.string(tracklet_id).decode() if tracklet_id else None
        return 1 if ctx.progress(int(done), int(total), tid) else 0
    except BaseException as e:  # noqa: B902 - re-raised after the call
        ctx.error = e
        return 1


@ffi.def_extern()
def _nid_py_abort(payload):
    ctx = ffi.from_handle(payload)
    try:
        return 1 if ctx.abort() else 0
    except BaseException as e:  # noqa: B902
        ctx.error = e
        return 1


@ffi.def_extern()
def _nid_py_video_source(out, exam, video, payload):
    ctx = ffi.from_handle(payload)
    try:
        v = ctx.video_source(ctx.exam, int(video))
        if isinstance(v, np.ndarray):
            v = Video.from_frames(v, copy=True)
        if not isinstance(v, Video):
            raise TypeError("video_source must return a noduleid.Video or "
                            "a frames array, got %s" % type(v).__name__)
        ptr = v._ptr
        ffi.gc(v._h, None)  # the library frees it now
        v._h = None
        ctx.keep.append(v)  # borrowed pixels stay alive
        out[0] = ptr
        return lib.NID_OK
    except BaseException as e:  # noqa: B902
        ctx.error = e
        return lib.NID_EINVAL


def _options(ctx, clip, compare=None, method=None, threshold=None, seed=0,
             online=False, cannot_link=True, similarity=False):
    o = ffi.new("nid_group_options *")
    lib.nid_group_options_init(o)
    keep = [o]
    if clip is not None:
        co = _clip_opts(clip)
        keep.append(co)
        o.clip = co
    if compare is not None:
        o.compare = _enum_value(compare, CompareMode, "compare")
    if method is not None:
        o.method = _enum_value(method, Method, "method")
    if threshold is not None:
        o.threshold = float(threshold)
    o.seed = int(seed)
    o.online = 1 if online else 0
    o.cannot_link = 1 if cannot_link else 0
    o.keep_similarity = 1 if similarity else 0
    if ctx.progress or ctx.abort or ctx.video_source:
        h = ffi.new_handle(ctx)
        keep.append(h)
        if ctx.progress:
            o.progress = lib._nid_py_progress
            o.progress_payload = h
        if ctx.abort:
            o.abort = lib._nid_py_abort
            o.abort_payload = h
        if ctx.video_source:
            o.video_source = lib._nid_py_video_source
            o.video_payload = h
    return o, keep


def _run(ctx, status):
    if ctx.error is not None:
        raise ctx.error
    _check(status)


def _windows(clip, windows, model):
    if windows and clip is None:
        clip = model.clip_options()
        clip.sampling = Sampling.WINDOWS
    return clip


def embed_exam(model: Model, exam: Exam, options: Optional[ClipOptions] = None,
               *, windows: bool = False, progress: Optional[ProgressFn] = None,
               abort: Optional[AbortFn] = None,
               video_source: Optional[VideoSourceFn] = None) -> np.ndarray:
    """Embed every tracklet of ``exam``: n x D float32, row t = tracklet t
    (see :meth:`Model.embed_exam`)."""
    ctx = _Ctx(exam, progress, abort, video_source)
    o, keep = _options(ctx, _windows(options, windows, model))
    n, d = len(exam), model.info.embed_dim
    res = np.empty((n, d), dtype=_dt.F32)
    st = lib.nid_model_embed_exam(model._ptr, exam._ptr, o, _buf(res, True),
                                  res.size, ffi.NULL, ffi.NULL, ffi.NULL)
    _run(ctx, st)
    del keep
    return res


def group(exam: Exam, model: Optional[Model] = None, *,
          compare=None, method=None, threshold: Optional[float] = None,
          seed: int = 0, online: bool = False, cannot_link: bool = True,
          similarity: bool = False, windows: bool = False,
          clip: Optional[ClipOptions] = None,
          progress: Optional[ProgressFn] = None,
          abort: Optional[AbortFn] = None,
          video_source: Optional[VideoSourceFn] = None) -> Grouping:
    """Group the tracklets of ``exam`` into nodules (nid_group_exam).

    model: a :class:`Model`, or None for the default model
    (:func:`default_model_path`, loaded for this call). The defaults do
    what the model package says: its compare mode, calibrated tau and
    training.cluster_method; the exam's cannot-link pairs are honoured
    (cannot_link=False: none). compare/method/threshold/seed/online
    override them; similarity=True keeps the n x n similarity matrix;
    windows=True (or clip=) embeds sliding windows.

    Callbacks: progress(done, total, tracklet_id) before each tracklet and
    once at the end (tracklet_id None), returning True cancels; abort()
    returning True cancels (both raise :class:`CancelledError`);
    video_source(exam, video_index) returns a :class:`Video` (or a
    T x H x W uint8 frames array) for that exam video, e.g. frames a PACS
    holds, instead of opening its file. An exception raised by a callback
    stops the call and is re-raised.
    """
    own = None
    if model is None:
        own = model = Model.load(default_model_path()[0])
    try:
        ctx = _Ctx(exam, progress, abort, video_source)
        o, keep = _options(ctx, _windows(clip, windows, model), compare,
                           method, threshold, seed, online, cannot_link,
                           similarity)
        out = ffi.new("nid_grouping **")
        st = lib.nid_group_exam(out, model._ptr, exam._ptr, o)
        _run(ctx, st)
        g = ffi.gc(out[0], lib.nid_grouping_free)
        try:
            return _grouping(g, exam)
        finally:
            ffi.release(g)
            del keep
    finally:
        if own is not None:
            own.close()


def _grouping(g, exam: Exam) -> Grouping:
    info = ffi.new("nid_grouping_info *")
    lib.nid_grouping_info_init(info)
    _check(lib.nid_grouping_get_info(g, info))
    n, k, d = int(info.n_tracklets), int(info.n_nodules), int(info.embed_dim)
    labels = np.empty(n, dtype=_dt.I32)
    _check(lib.nid_grouping_labels(g, _buf(labels, True), n, ffi.NULL))
    emb = np.empty((n, d), dtype=_dt.F32)
    _check(lib.nid_grouping_embeddings(g, _buf(emb, True), emb.size, ffi.NULL))
    nc = np.empty(n, dtype=_dt.I32)
    _check(lib.nid_grouping_n_clips(g, _buf(nc, True), n, ffi.NULL))
    nod = np.empty((k, d), dtype=_dt.F32)
    sizes = np.empty(k, dtype=_dt.I32)
    _check(lib.nid_grouping_nodules(g, _buf(nod, True), nod.size,
                                    _buf(sizes, True), ffi.NULL))
    sim = None
    if info.has_similarity:
        sim = np.empty((n, n), dtype=_dt.F32)
        _check(lib.nid_grouping_similarity(g, _buf(sim, True), sim.size,
                                           ffi.NULL))
    scores = None
    if info.has_truth:
        s = ffi.new("nid_cluster_scores *")
        lib.nid_cluster_scores_init(s)
        _check(lib.nid_grouping_scores(g, s))
        scores = ClusterScores(
            float(s.pair_precision), float(s.pair_recall), float(s.pair_f),
            float(s.bcubed_precision), float(s.bcubed_recall),
            float(s.bcubed_f), int(s.pairs_true), int(s.pairs_pred),
            int(s.pairs_both), int(s.n_true_clusters),
            int(s.n_pred_clusters))
    ids = tuple(t.id for t in exam.tracklets)
    steps = None
    if info.online:
        tr = np.empty(n, dtype=_dt.I64)
        cl = np.empty(n, dtype=_dt.I32)
        cnt = np.empty(n, dtype=_dt.I64)
        _check(lib.nid_grouping_online_steps(g, _buf(tr, True),
                                             _buf(cl, True), _buf(cnt, True),
                                             n, ffi.NULL))
        steps = [OnlineStep(ids[int(tr[s])], int(cl[s]), int(cnt[s]))
                 for s in range(n)]
    tm = ffi.new("nid_timings *")
    lib.nid_timings_init(tm)
    _check(lib.nid_grouping_get_timings(g, tm))
    nodules = []
    for c in range(k):
        idx = tuple(int(t) for t in np.flatnonzero(labels == c))
        assert len(idx) == int(sizes[c])
        nodules.append(Nodule("N%d" % (c + 1), c,
                              tuple(ids[t] for t in idx), idx, nod[c]))
    return Grouping(labels, nodules, ids, emb, nc, sim, scores,
                    bool(info.exact), int(info.n_truth_tracklets),
                    CompareMode(info.compare), Method(info.method),
                    bool(info.online), _f32(info.threshold), int(info.seed),
                    SettingSource(info.method_from),
                    SettingSource(info.threshold_from),
                    int(info.n_cannot_link), steps, Timings._from_c(tm))


def cluster_means(x: np.ndarray, labels: np.ndarray,
                  k: Optional[int] = None) -> np.ndarray:
    """Each cluster's mean row of ``x`` (n x d), L2-normalised: k x d
    float32 (nid_cluster_means); labels in 0..k-1, every one used."""
    xa = _as_array(x, _dt.F32, "x", ndim=2)
    la = _as_array(labels, _dt.I32, "labels", ndim=1)
    if la.shape[0] != xa.shape[0]:
        raise ValueError("cluster_means: %d labels for %d rows"
                         % (la.shape[0], xa.shape[0]))
    if k is None:
        k = int(la.max()) + 1 if la.size else 0
    out = np.empty((k, xa.shape[1]), dtype=_dt.F32)
    _check(lib.nid_cluster_means(_buf(xa), xa.shape[0], xa.shape[1], _buf(la),
                                 k, _buf(out, True), out.size, ffi.NULL))
    return out
