"""noduleid - Python binding of libnoduleid (ultrasound nodule
re-identification across video clips).

The main job, an exam's tracklets grouped into nodules, is one call::

    exam = noduleid.Exam.load("exam.json")           # videos + tracklets
    g = noduleid.group(exam)                         # the default model
    for n in g.nodules:
        print(n.label, n.tracklets)                  # N1 ('v0-t0', ...)

and its stages are there to call one by one::

    model  = noduleid.Model.load(noduleid.default_model_path()[0])
    emb    = model.embed_exam(exam)                  # n x D, every video
    D      = model.distance_matrix(emb)
    labels, k = noduleid.cluster_distances(D, "paper", model.info.tau)
    scores = noduleid.eval_clusters(truth, labels)

Arrays: inputs are numpy arrays passed to C without copies when they have
the C type (float32 embeddings/clips, int32 labels, float64 scores, uint8
frames) and are C-contiguous; outputs are numpy arrays allocated here and
filled by C (most functions take ``out=`` to fill your own).

Errors raise :class:`NoduleIdError` subclasses carrying the status ``code``
and the library's ``message``. Handles (:class:`Video`, :class:`Exam`,
:class:`Model`, :class:`OnlineClusterer`) are freed by ``close()``, a
``with`` block or the garbage collector.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, FrozenSet

from ._noduleid import ffi, lib
from ._core import (BufferTooSmallError, CancelledError, ClosedError,
                    FileIOError, FilePermissionError, FormatError, Handle,
                    InternalError, IsADirectoryIOError, NoSuchFileError,
                    InvalidArgumentError, LogLevel, MismatchError,
                    NoduleIdError, NotSupportedError, OutOfMemoryError,
                    OutOfRangeError, Status, error_from_status,
                    log_to_logging, set_log_callback, status_str)
# The other modules are imported at the first use of one of their names
# (PEP 562 __getattr__ below): `import noduleid` loads the library, the
# error types and logging only, not numpy (noduleid._lazy), dataclasses or
# the wrappers (issue 14: <= 50 ms over the bare interpreter). For type
# checkers and readers, the names and where they come from:
if TYPE_CHECKING:
    from .clustering import (Method, Metric, NoduleClustering, OnlineClusterer, cluster,
                          cluster_distances, cluster_method_name,
                          cluster_method_parse, distance_matrix)
    from .evaluate import (AucResult, BinaryResult, ClusterScores, DelongResult,
                           Estimate, clopper_pearson, eval_auc, eval_clusters,
                           eval_delong, eval_threshold, eval_youden)
    from .video import PixelFormat, Video, VideoInfo
    from .exam import (Box, ClipOptions, Coords, Exam, ExamInfo, ExamVideo, Filter, Interp,
                       Pad, Sampling, Tracklet, box_iou, build_clip, crop_resize,
                       link_detections, tracklet_box)
    from .model import CompareMode, Model, ModelInfo, Precision, compare_mode_name
    from .gallery import Gallery, GalleryEntry
    from .pipeline import (Grouping, ModelSource, Nodule, OnlineStep,
                           SettingSource, Timings, cluster_means,
                           default_model_path, group)
    from .gallery_store import GalleryStore

# Imported together at the first look-up of any of their names.
_LAZY_MODULES = ("clustering", "evaluate", "video", "exam", "model", "gallery",
                 "pipeline", "gallery_store")

__version__ = ffi.string(lib.NID_VERSION_STRING).decode()
"""Version of the header the extension was compiled against."""

_FEATURES = {"blas": lib.NID_FEATURE_BLAS, "video": lib.NID_FEATURE_VIDEO,
             "dicom": lib.NID_FEATURE_DICOM, "torch": lib.NID_FEATURE_TORCH,
             "cuda": lib.NID_FEATURE_CUDA}


def version() -> str:
    """Version string of the loaded library, e.g. "0.1.0"."""
    return ffi.string(lib.nid_version_string()).decode()


def version_number() -> int:
    """Version of the loaded library as MAJOR*10000 + MINOR*100 + PATCH."""
    return int(lib.nid_version_number())


def features(load: bool = True) -> FrozenSet[str]:
    """Optional features usable in this process: a subset of
    {"blas", "video", "dicom", "torch", "cuda"}. libtorch, FFmpeg and DCMTK
    are backend modules that the library loads at first use; this loads
    every one not loaded yet (libtorch takes a while) to find out which
    work. With load=False nothing is loaded: the answer is "blas" and the
    backends loaded so far."""
    bits = lib.nid_features() if load else \
        lib.nid_features_ex(lib.NID_FEATURES_LOADED)
    return frozenset(name for name, bit in _FEATURES.items() if bits & bit)


def load_backend(name: str) -> None:
    """Load backend module `name` ("torch", "ffmpeg" or "dicom") now
    instead of at its first use. Raises NotSupportedError naming the file
    tried and the loader's error when it is missing or broken."""
    from ._core import _check
    _check(lib.nid_backend_load(name.encode()))


def backend_dir() -> str:
    """Directory searched for the backend modules: $NODULEID_BACKEND_DIR
    if set, else noduleid-<major> next to the loaded libnoduleid."""
    return ffi.string(lib.nid_backend_dir()).decode("utf-8", "replace")


def last_error() -> str:
    """Message of the last failing library call on this thread ("" if
    none). The binding raises it in exceptions already."""
    return ffi.string(lib.nid_last_error()).decode("utf-8", "replace")


def clear_error() -> None:
    """Clear this thread's last error message."""
    lib.nid_clear_error()


# C functions not wrapped, and why (checked by tests/test_drift.py: every
# NID_API function of the header is either used by this package or listed
# here).
UNWRAPPED = {
    # A borrowed view into the decoder's buffer, invalid after the next
    # call: unsafe to hand to Python. Video.read_frame / v[i] copy the
    # frame into a numpy array with nid_video_read_frame instead.
    "nid_video_frame": "borrowed view; Video.read_frame copies instead",
    # In-memory inputs for PACS integrations in C (integrations/orthanc);
    # Python callers read files or pass numpy frames (Video.from_frames).
    "nid_video_open_memory": "for C PACS plugins; Python uses files/frames",
    "nid_exam_load_json": "for C PACS plugins; Python uses Exam.load",
    "nid_model_source_name": "ModelSource names the sources",
}

__all__ = [
    # the main job
    "group", "Grouping", "Nodule", "OnlineStep", "Timings", "SettingSource",
    "default_model_path", "ModelSource", "cluster_means",
    # core
    "version", "version_number", "features", "load_backend", "backend_dir",
    "last_error", "clear_error",
    "status_str", "Status", "LogLevel", "set_log_callback", "log_to_logging",
    # errors
    "NoduleIdError", "InvalidArgumentError", "OutOfMemoryError", "FileIOError",
    "NoSuchFileError", "FilePermissionError", "IsADirectoryIOError",
    "FormatError", "BufferTooSmallError", "NotSupportedError",
    "CancelledError", "OutOfRangeError", "MismatchError", "InternalError",
    "ClosedError", "error_from_status", "Handle",
    # distances and clustering
    "Metric", "Method", "distance_matrix", "cluster", "cluster_distances",
    "cluster_method_name", "cluster_method_parse", "OnlineClusterer",
    "NoduleClustering",
    # evaluation
    "Estimate", "ClusterScores", "AucResult", "DelongResult", "BinaryResult",
    "eval_clusters", "eval_auc", "eval_delong", "eval_threshold",
    "eval_youden", "clopper_pearson",
    # video
    "PixelFormat", "Video", "VideoInfo",
    # exams, tracklets, clips
    "Box", "Interp", "Filter", "Sampling", "Pad", "Coords", "ClipOptions", "Exam",
    "ExamInfo", "ExamVideo", "Tracklet", "box_iou", "tracklet_box",
    "link_detections", "build_clip", "crop_resize",
    # models
    "CompareMode", "Model", "ModelInfo", "Precision", "compare_mode_name",
    # gallery
    "Gallery", "GalleryEntry",
    # gallery store (archive scale; noduleid.batch runs an archive on Dask)
    "GalleryStore",
]


def _load_lazy() -> None:
    """Import the modules of _LAZY_MODULES and bind their names of
    __all__ here, as the eager imports did (idempotent, thread-safe: the
    import system locks each module; the names bound are the same
    objects whichever thread binds them)."""
    import importlib
    mods = [importlib.import_module("." + m, __name__) for m in _LAZY_MODULES]
    g = globals()
    for name in __all__:
        if name not in g:
            for m in mods:
                if name in vars(m):
                    g[name] = vars(m)[name]
                    break


def __getattr__(name: str):
    # only called for names not bound yet
    if name in _LAZY_MODULES or name in __all__:
        _load_lazy()
        g = globals()
        if name in g:
            return g[name]
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def __dir__():
    return sorted(set(globals()) | set(__all__) | set(_LAZY_MODULES))
