"""Models: load a model package (TorchScript + metadata), embed clips and
tracklets, compare embeddings."""
from __future__ import annotations

import enum
import json
import os
from dataclasses import dataclass
from typing import Optional, Tuple, Union

from ._lazy import np, dtypes as _dt
from ._core import (Handle, _as_array, _buf, _check, _cstr_field,
                    _encode_path, _enum_value, _f32, _new_handle, _out_array, _str)
from ._noduleid import ffi, lib
from .exam import ClipOptions, Coords, Exam, Filter, Interp, Pad, _clip_opts
from .video import Video


class CompareMode(enum.IntEnum):
    """How two embeddings are compared (nid_compare_mode): similarity s,
    distance d = 1 - s."""
    COSINE = lib.NID_COMPARE_COSINE  #: s = cos(a, b)
    VERIFY = lib.NID_COMPARE_VERIFY  #: s = mean of p(a, b) and p(b, a)


ModeLike = Union[CompareMode, int, str]


class Precision(enum.IntEnum):
    """Arithmetic of the network (nid_precision; ``Model.load(precision=)``).
    BF16 needs a CPU with AVX-512 BF16 or AMX-BF16, INT8 a package with an
    int8 graph (``python3 -m training quantize``); otherwise the model runs
    in FP32 with a logged warning, and ``ModelInfo.precision`` says so.
    AUTO is BF16 where the package's bf16 graph holds the accuracy bound
    (cosine 0.999 to fp32) and the CPU has native bf16, FP32 otherwise."""
    FP32 = lib.NID_PRECISION_FP32  #: float32 (default)
    BF16 = lib.NID_PRECISION_BF16  #: bfloat16 CNN (the package's bf16 graph, or autocast)
    INT8 = lib.NID_PRECISION_INT8  #: the package's statically quantised CNN
    AUTO = lib.NID_PRECISION_AUTO  #: the fastest that holds the bound: BF16 or FP32


def compare_mode_name(mode: ModeLike) -> Optional[str]:
    """The C library's name of a compare mode, None if unknown."""
    return _str(lib.nid_compare_mode_name(int(mode)))


@dataclass(frozen=True)
class ModelInfo:
    """Facts about a model, from its package metadata."""
    format_version: int
    arch: str
    has_verify: bool
    frames: int
    height: int
    width: int
    channels: int
    mean: Tuple[float, float, float]
    std: Tuple[float, float, float]
    margin: float
    filter: Filter
    interp: Interp
    pad: Pad
    embed_dim: int
    normalized: bool
    compare: CompareMode     #: the mode the thresholds refer to
    tau: float               #: clustering threshold on d = 1 - s
    pair_threshold: float    #: a pair is "same" when s >= this
    calibrated: bool
    model_id: str
    device: str
    n_threads: int
    description: Optional[str]
    meta: Optional[dict]     #: the whole metadata JSON
    path: Optional[str]
    coords: Coords = Coords.NONE  #: coordinate channels of its clips
    precision: Precision = Precision.FP32  #: what runs (after any fallback)
    #: > 0: its clips have context channels cropped with this margin
    context_margin: float = 0.0

    def __repr__(self) -> str:
        # One line: description and metadata can be kilobytes (read .meta).
        return ("ModelInfo(model_id=%r, arch=%r, input=%dx%dx%dx%d, embed_dim=%d, "
                "compare=%s, tau=%r, verify=%s, device=%r)"
                % (self.model_id, self.arch, self.channels, self.frames,
                   self.height, self.width, self.embed_dim,
                   getattr(self.compare, "name", self.compare).lower(), self.tau,
                   self.has_verify, self.device))


class Model(Handle):
    """A loaded model package (``Model.load(path)``). Immutable: may be
    shared by threads. Close with :meth:`close` or a ``with`` block."""

    __slots__ = ()

    def __init__(self, _ptr):
        """Use :meth:`load`."""
        super().__init__(_ptr, lib.nid_model_free)

    @classmethod
    def load(cls, path: Union[str, os.PathLike], device: str = "cpu",
             threads: int = 0, *, optimize: bool = True,
             max_batch: int = 0,
             precision: Union[Precision, int, str] = Precision.FP32,
             background: bool = False) -> "Model":
        """Load a model package.

        Args:
            device: "cpu", "cuda" or "cuda:N".
            threads: libtorch intra-op threads (<= 0: all cores); the pool
                is process-wide, so give all models the same count.
            optimize: run torch.jit.optimize_for_inference on the CPU.
            max_batch: clips per forward pass (<= 0: library default).
            precision: Precision (or "fp32", "bf16", "int8", "auto"); falls
                back to fp32 with a logged warning where unavailable (auto:
                quietly).
            background: return once the metadata is checked and load the
                network (libtorch, graph, trial run) on a thread of its
                own; the calls that run it wait for it, and group() builds
                clips meanwhile. Its load errors are then raised by
                :meth:`wait` and by those calls.

        Raises:
            FileIOError, FormatError (bad package: message names the
            field), MismatchError, NotSupportedError (no libtorch / CUDA).
        """
        o = ffi.new("nid_model_options *")
        lib.nid_model_options_init(o)
        dev = device.encode()
        if len(dev) >= len(o.device):
            raise ValueError("Model.load: device name too long: %r" % device)
        o.device = dev
        o.n_threads = int(threads)
        o.optimize = 1 if optimize else 0
        o.max_batch = int(max_batch)
        if isinstance(precision, str):
            try:
                precision = Precision[precision.upper()]
            except KeyError:
                raise ValueError("Model.load: precision %r: expected fp32, bf16, int8 or auto"
                                 % precision) from None
        o.precision = int(precision)
        o.background = 1 if background else 0
        return cls(_new_handle("nid_model", lib.nid_model_load,
                               _encode_path(path), o, path=path))

    def wait(self) -> "Model":
        """Wait for a network loaded with ``background=True`` (at once
        otherwise); raises its load error. Returns the model."""
        _check(lib.nid_model_wait(self._ptr))
        return self

    @property
    def info(self) -> ModelInfo:
        i = ffi.new("nid_model_info *")
        lib.nid_model_info_init(i)
        _check(lib.nid_model_get_info(self._ptr, i))
        meta = _str(i.meta_json)
        return ModelInfo(
            int(i.format_version), _cstr_field(i.arch), bool(i.has_verify),
            int(i.frames), int(i.height), int(i.width), int(i.channels),
            tuple(_f32(v) for v in i.mean), tuple(_f32(v) for v in i.std),
            _f32(i.margin), Filter(i.filter), Interp(i.interp), Pad(i.pad),
            int(i.embed_dim), bool(i.normalized), CompareMode(i.compare),
            _f32(i.tau), _f32(i.pair_threshold), bool(i.calibrated),
            _cstr_field(i.model_id), _cstr_field(i.device), int(i.n_threads),
            _str(i.description), json.loads(meta) if meta else None,
            _str(i.path), Coords(i.coords), Precision(i.precision),
            _f32(i.context_margin))

    def clip_options(self) -> ClipOptions:
        """Clip options matching the model's input (size, normalisation,
        crop margin, filter, interp, pad, coords, context_margin)."""
        o = ffi.new("nid_clip_options *")
        _check(lib.nid_model_clip_options(self._ptr, o))
        return ClipOptions._from_c(o)

    def _dim(self) -> int:
        return self.info.embed_dim

    def embed(self, clips: np.ndarray, *,
              out: Optional[np.ndarray] = None) -> np.ndarray:
        """Embed clips (N x C x T x H x W float32 as :func:`build_clip`
        returns, or one C x T x H x W clip) into N x D embeddings."""
        p = self._ptr
        ca = _as_array(clips, _dt.F32, "clips", ndim=(4, 5))
        if ca.ndim == 4:
            ca = ca[None]
        n = ca.shape[0]
        res = _out_array(out, (n, self._dim()), _dt.F32, "embed")
        _check(lib.nid_model_embed(p, _buf(ca), n, ca.size, _buf(res, True),
                                   res.size, ffi.NULL))
        return res

    def embed_tracklet(self, video: Video, exam: Exam,
                       tracklet: Union[int, str],
                       options: Optional[ClipOptions] = None) -> np.ndarray:
        """Embed one tracklet (its clips built from ``video``; windows
        pooled). options=None uses :meth:`clip_options` with one uniformly
        sampled clip. Returns D float32."""
        p = self._ptr
        t = exam._index(tracklet)
        res = np.empty(self._dim(), dtype=_dt.F32)
        o = _clip_opts(options) if options is not None else ffi.NULL
        _check(lib.nid_model_embed_tracklet(p, video._ptr, exam._ptr, t, o,
                                            _buf(res, True), res.size,
                                            ffi.NULL))
        return res

    def embed_exam(self, exam: Exam, options: Optional[ClipOptions] = None,
                   *, windows: bool = False, progress=None, abort=None,
                   video_source=None) -> np.ndarray:
        """Embed every tracklet of ``exam`` (nid_model_embed_exam): n x D
        float32, row t = tracklet t, each as :meth:`embed_tracklet` gives
        it; every video opened once. options/windows: as
        :func:`noduleid.group`; progress, abort and video_source callbacks
        as there (CancelledError when cancelled)."""
        from .pipeline import embed_exam
        return embed_exam(self, exam, options, windows=windows,
                          progress=progress, abort=abort,
                          video_source=video_source)

    def pool(self, emb: np.ndarray) -> np.ndarray:
        """Pool n x D window embeddings into one (mean, renormalised when
        the model's embeddings are normalised)."""
        p = self._ptr
        ea = _as_array(emb, _dt.F32, "emb", ndim=2)
        res = np.empty(ea.shape[1], dtype=_dt.F32)
        _check(lib.nid_model_pool(p, _buf(ea), ea.shape[0], ea.shape[1],
                                  _buf(res, True), res.size))
        return res

    def _pairs(self, a, b):
        aa = _as_array(a, _dt.F32, "a", ndim=(1, 2))
        ba = _as_array(b, _dt.F32, "b", ndim=(1, 2))
        if aa.ndim == 1:
            aa = aa[None]
        if ba.ndim == 1:
            ba = ba[None]
        if aa.shape != ba.shape:
            raise ValueError("a and b differ in shape: %s vs %s"
                             % (aa.shape, ba.shape))
        return aa, ba

    def verify(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Verification head: p(a_i, b_i) that rows a_i and b_i show the
        same nodule (not symmetrised). NotSupportedError without a head."""
        p = self._ptr
        aa, ba = self._pairs(a, b)
        res = np.empty(aa.shape[0], dtype=_dt.F32)
        _check(lib.nid_model_verify(p, _buf(aa), _buf(ba), aa.shape[0],
                                    aa.shape[1], _buf(res, True), res.size))
        return res

    def _mode(self, mode: Optional[ModeLike]) -> int:
        """mode, or the model's own (info.compare, what tau refers to)."""
        if mode is None:
            return int(self.info.compare)
        return _enum_value(mode, CompareMode, "mode")

    def compare(self, a: np.ndarray, b: np.ndarray,
                mode: Optional[ModeLike] = None) -> np.ndarray:
        """Similarity of the pairs (a_i, b_i) under ``mode`` (default: the
        model's own, ``info.compare``)."""
        p = self._ptr
        aa, ba = self._pairs(a, b)
        res = np.empty(aa.shape[0], dtype=_dt.F32)
        _check(lib.nid_model_compare(p, _buf(aa), _buf(ba), aa.shape[0],
                                     aa.shape[1],
                                     self._mode(mode),
                                     _buf(res, True), res.size))
        return res

    def compare_matrix(self, emb: np.ndarray, mode: Optional[ModeLike] = None, *,
                       out: Optional[np.ndarray] = None) -> np.ndarray:
        """All-pairs similarity (n x n, symmetric, diagonal 1) under ``mode``
        (default: the model's own, ``info.compare``)."""
        return self._all_pairs(lib.nid_model_compare_matrix, "compare_matrix",
                               emb, mode, out)

    def distance_matrix(self, emb: np.ndarray, mode: Optional[ModeLike] = None, *,
                        out: Optional[np.ndarray] = None) -> np.ndarray:
        """All-pairs distance max(0, 1 - s), zero diagonal, under ``mode``
        (default: the model's own, ``info.compare``, the mode ``info.tau``
        refers to): the input of :func:`cluster_distances` with threshold
        ``info.tau``."""
        return self._all_pairs(lib.nid_model_distance_matrix,
                               "distance_matrix", emb, mode, out)

    def _all_pairs(self, fn, name: str, emb, mode: Optional[ModeLike],
                   out: Optional[np.ndarray]) -> np.ndarray:
        """n x n matrix of all pairs of rows of emb, by the C function fn
        (nid_model_compare_matrix or nid_model_distance_matrix)."""
        p = self._ptr
        ea = _as_array(emb, _dt.F32, "emb", ndim=2)
        n = ea.shape[0]
        res = _out_array(out, (n, n), _dt.F32, name)
        _check(fn(p, _buf(ea), n, ea.shape[1],
                  self._mode(mode), _buf(res, True),
                  res.size, ffi.NULL))
        return res

    def __repr__(self) -> str:
        if self.closed:
            return "<noduleid.Model (closed)>"
        i = self.info
        return "<noduleid.Model %s D=%d %s>" % (i.arch, i.embed_dim, i.device)
