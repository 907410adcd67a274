"""Exams (videos and tracklets of one examination), linking detections into
tracklets, and clip building."""
from __future__ import annotations

import enum
import json
import os
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

from ._lazy import np, dtypes as _dt
from ._core import (Handle, _as_array, _buf, _check, _encode_path,
                    _enum_value, _f32, _new_handle, _out_array, _str)
from ._noduleid import ffi, lib
from .video import Video, _frame_view


Box = Tuple[float, float, float, float]
"""(x, y, w, h) in pixels, COCO convention: top-left corner and size."""


class Interp(enum.IntEnum):
    """Box of a frame between two key frames (nid_interp)."""
    UNION = lib.NID_INTERP_UNION    #: bounding box of the two (the paper)
    LINEAR = lib.NID_INTERP_LINEAR  #: linear interpolation


class Filter(enum.IntEnum):
    """Resampling filter of the crops (nid_filter)."""
    AREA = lib.NID_FILTER_AREA
    BILINEAR = lib.NID_FILTER_BILINEAR
    NEAREST = lib.NID_FILTER_NEAREST


class Sampling(enum.IntEnum):
    """How clip frames are picked from a tracklet (nid_sampling)."""
    UNIFORM = lib.NID_SAMPLE_UNIFORM  #: one clip, frames evenly spaced
    WINDOWS = lib.NID_SAMPLE_WINDOWS  #: sliding windows of T frames


class Pad(enum.IntEnum):
    """What lies outside the image (nid_pad)."""
    ZERO = lib.NID_PAD_ZERO
    REPLICATE = lib.NID_PAD_REPLICATE


class Coords(enum.IntEnum):
    """Coordinate channels of a clip (nid_coords)."""
    NONE = lib.NID_COORDS_NONE    #: image channels only
    FRAME = lib.NID_COORDS_FRAME  #: + Y (depth in the frame) and X (crop scale)


def _box_c(box) -> "ffi.CData":
    b = ffi.new("nid_box *")
    x, y, w, h = (float(v) for v in box)
    b.x, b.y, b.w, b.h = x, y, w, h
    return b


def _box_py(b) -> Box:
    return (float(b.x), float(b.y), float(b.w), float(b.h))


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    return float(lib.nid_box_iou(_box_c(a), _box_c(b)))


# --------------------------------------------------------------------------
# Clip options
# --------------------------------------------------------------------------

def _clip_defaults():
    o = ffi.new("nid_clip_options *")
    lib.nid_clip_options_init(o)
    return o


_CD = _clip_defaults()


@dataclass
class ClipOptions:
    """How clips are cut from a tracklet (nid_clip_options). Defaults are
    the C library's; enum fields take members, ints or names (e.g.
    filter="bilinear"). Each clip is C x T x H x W float32 with values
    (pixel / 255 - mean[c]) / std[c]."""
    frames: int = int(_CD.frames)          #: T
    height: int = int(_CD.height)          #: H
    width: int = int(_CD.width)            #: W
    channels: int = int(_CD.channels)      #: C: 3 or 1
    margin: float = _f32(_CD.margin)      #: context around the box
    filter: Union[Filter, int, str] = Filter(_CD.filter)
    interp: Union[Interp, int, str] = Interp(_CD.interp)
    sampling: Union[Sampling, int, str] = Sampling(_CD.sampling)
    window_stride: int = int(_CD.window_stride)  #: <= 0: T
    pad: Union[Pad, int, str] = Pad(_CD.pad)
    mean: Tuple[float, float, float] = tuple(_f32(v) for v in _CD.mean)
    std: Tuple[float, float, float] = tuple(_f32(v) for v in _CD.std)
    #: "frame": two more channels with each pixel's place in the frame
    coords: Union[Coords, int, str] = Coords(_CD.coords)
    #: > 0: ``channels`` more channels at the end, the frames cropped again
    #: with this margin (the nodule's surroundings); 0: none
    context_margin: float = _f32(_CD.context_margin)

    def _to_c(self):
        o = ffi.new("nid_clip_options *")
        lib.nid_clip_options_init(o)
        o.frames, o.height, o.width = self.frames, self.height, self.width
        o.channels = self.channels
        o.margin = float(self.margin)
        o.filter = _enum_value(self.filter, Filter, "filter")
        o.interp = _enum_value(self.interp, Interp, "interp")
        o.sampling = _enum_value(self.sampling, Sampling, "sampling")
        o.window_stride = self.window_stride
        o.pad = _enum_value(self.pad, Pad, "pad")
        mean, std = list(self.mean), list(self.std)
        if len(mean) != 3 or len(std) != 3:
            raise ValueError("ClipOptions: mean and std need 3 values")
        o.mean = [float(v) for v in mean]
        o.std = [float(v) for v in std]
        o.coords = _enum_value(self.coords, Coords, "coords")
        o.context_margin = float(self.context_margin)
        return o

    @classmethod
    def _from_c(cls, o) -> "ClipOptions":
        return cls(int(o.frames), int(o.height), int(o.width),
                   int(o.channels), _f32(o.margin), Filter(o.filter),
                   Interp(o.interp), Sampling(o.sampling),
                   int(o.window_stride), Pad(o.pad),
                   tuple(_f32(v) for v in o.mean),
                   tuple(_f32(v) for v in o.std), Coords(o.coords),
                   _f32(o.context_margin))


def _clip_opts(options: Optional[ClipOptions]):
    return (options or ClipOptions())._to_c()


# --------------------------------------------------------------------------
# Exam
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class ExamInfo:
    exam_id: Optional[str]
    patient_id: Optional[str]
    date: Optional[str]
    meta: Optional[dict]    #: the free-form "meta" object
    source: Optional[str]   #: file it was loaded from
    n_videos: int
    n_tracklets: int

    def __repr__(self) -> str:
        # One line: the "meta" object can be kilobytes (read .meta for it).
        return ("ExamInfo(exam_id=%r, patient_id=%r, date=%r, n_videos=%d, "
                "n_tracklets=%d%s)" % (self.exam_id, self.patient_id, self.date,
                                       self.n_videos, self.n_tracklets,
                                       ", meta={...}" if self.meta else ""))


@dataclass(frozen=True)
class ExamVideo:
    """One video of an exam."""
    index: int
    id: str
    path: str
    resolved_path: str   #: path resolved against the JSON file's directory
    n_frames: int        #: -1: unknown
    fps: float           #: 0: unknown
    width: int           #: 0: unknown
    height: int
    first_tracklet: int
    n_tracklets: int


@dataclass(frozen=True)
class Tracklet:
    """One tracklet: frames start..end (inclusive) of video ``video``."""
    index: int
    id: str
    video: int
    nodule: int          #: -1: unknown
    start: int
    end: int
    n_key_frames: int


class Exam(Handle):
    """The annotations of one exam: its videos and their tracklets
    (``Exam.load(path)``, ``Exam.create()``, ``Exam.import_coco_vid()``).

    The exam is a sequence of its tracklets: ``len(exam)``, ``exam[i]``
    (negative indices and slices too), ``exam["v0-t1"]`` by id, ``for t in
    exam``; :attr:`tracklets` and :attr:`videos` list them. Reading from several threads is fine; modifying needs the exam to
    itself. Close with :meth:`close` or a ``with`` block.
    """

    __slots__ = ()

    def __init__(self, _ptr):
        """Use :meth:`create`, :meth:`load` or :meth:`import_coco_vid`."""
        super().__init__(_ptr, lib.nid_exam_free)

    @classmethod
    def create(cls, exam_id: Optional[str] = None,
               patient_id: Optional[str] = None,
               date: Optional[str] = None) -> "Exam":
        """An empty exam; date is "YYYY-MM-DD" or None."""
        enc = [s.encode() if s is not None else ffi.NULL
               for s in (exam_id, patient_id, date)]
        return cls(_new_handle("nid_exam", lib.nid_exam_create, *enc))

    @classmethod
    def load(cls, path: Union[str, os.PathLike]) -> "Exam":
        """Load a "noduleid-exam" JSON file.

        Raises:
            FileIOError: cannot open/read (message names the file); a
                missing file is also a ``FileNotFoundError`` with
                ``errno.ENOENT`` and ``filename``.
            FormatError: bad content (message names file and JSON path).
        """
        return cls(_new_handle("nid_exam", lib.nid_exam_load,
                               _encode_path(path), path=path))

    @classmethod
    def import_coco_vid(cls, path: Union[str, os.PathLike]) -> "Exam":
        """Import a COCO-VID style annotation file as an exam."""
        return cls(_new_handle("nid_exam", lib.nid_exam_import_coco_vid,
                               _encode_path(path), path=path))

    def save(self, path: Union[str, os.PathLike]) -> None:
        """Write the exam as JSON (atomically replacing ``path``)."""
        _check(lib.nid_exam_save(self._ptr, _encode_path(path)), path=path,
               write=True)

    @property
    def info(self) -> ExamInfo:
        i = ffi.new("nid_exam_info *")
        lib.nid_exam_info_init(i)
        _check(lib.nid_exam_get_info(self._ptr, i))
        meta = _str(i.meta_json)
        return ExamInfo(_str(i.exam_id), _str(i.patient_id), _str(i.date),
                        json.loads(meta) if meta is not None else None,
                        _str(i.source), int(i.n_videos), int(i.n_tracklets))

    def set_meta(self, meta: Union[dict, str, None]) -> None:
        """Replace the free-form "meta" object (dict or JSON text), or
        remove it (None)."""
        if isinstance(meta, dict):
            meta = json.dumps(meta)
        _check(lib.nid_exam_set_meta(
            self._ptr, meta.encode() if meta is not None else ffi.NULL))

    def add_video(self, id: str, path: str, *, n_frames: int = -1,
                  fps: float = 0.0, width: int = 0, height: int = 0) -> int:
        """Append a video; return its index."""
        p = self._ptr
        i = ffi.new("nid_exam_video_info *")
        lib.nid_exam_video_info_init(i)
        sid, spath = ffi.new("char[]", id.encode()), \
            ffi.new("char[]", os.fsencode(path))
        i.id, i.path = sid, spath
        i.n_frames, i.fps, i.width, i.height = n_frames, fps, width, height
        idx = ffi.new("size_t *")
        _check(lib.nid_exam_add_video(p, i, idx))
        return int(idx[0])

    def add_tracklet(self, video: int, id: str, frames: Sequence[int],
                     boxes, nodule: int = -1) -> int:
        """Add a tracklet to video ``video`` with key frames ``frames``
        (strictly increasing) and their (x, y, w, h) ``boxes`` (n x 4);
        return its index."""
        p = self._ptr
        fa = _as_array(frames, _dt.I64, "frames", ndim=1)
        ba = _as_array(boxes, _dt.F32, "boxes", ndim=2)
        if ba.shape != (fa.shape[0], 4):
            raise ValueError("add_tracklet: boxes must be %d x 4, got shape %s"
                             % (fa.shape[0], ba.shape))
        idx = ffi.new("size_t *")
        _check(lib.nid_exam_add_tracklet(
            p, int(video), id.encode(), int(nodule), _buf(fa),
            ffi.cast("const nid_box *", _buf(ba)), fa.shape[0], idx))
        return int(idx[0])

    def video(self, v: int) -> ExamVideo:
        """Video ``v`` of the exam."""
        i = ffi.new("nid_exam_video_info *")
        lib.nid_exam_video_info_init(i)
        _check(lib.nid_exam_get_video(self._ptr, int(v), i))
        return ExamVideo(int(v), _str(i.id), _str(i.path),
                         _str(i.resolved_path), int(i.n_frames), float(i.fps),
                         int(i.width), int(i.height), int(i.first_tracklet),
                         int(i.n_tracklets))

    @property
    def videos(self) -> List[ExamVideo]:
        return [self.video(v) for v in range(self.info.n_videos)]

    def _index(self, t: Union[int, str]) -> int:
        if isinstance(t, str):
            return self.find_tracklet(t)
        return int(t)

    def tracklet(self, t: Union[int, str]) -> Tracklet:
        """Tracklet ``t`` (index or id)."""
        t = self._index(t)
        i = ffi.new("nid_tracklet_info *")
        lib.nid_tracklet_info_init(i)
        _check(lib.nid_exam_get_tracklet(self._ptr, t, i))
        return Tracklet(t, _str(i.id), int(i.video), int(i.nodule),
                        int(i.start), int(i.end), int(i.n_key_frames))

    @property
    def tracklets(self) -> List[Tracklet]:
        return [self.tracklet(t) for t in range(len(self))]

    def __len__(self) -> int:
        return self.info.n_tracklets

    def __getitem__(self, key):
        """Tracklet by index (negative from the end), by id, or a list of
        them for a slice."""
        if isinstance(key, slice):
            return [self.tracklet(t) for t in range(*key.indices(len(self)))]
        if isinstance(key, str):
            return self.tracklet(key)
        try:
            t = key.__index__()
        except AttributeError:
            raise TypeError("Exam indices must be int, str or slice, not %s"
                            % type(key).__name__) from None
        n = len(self)
        if t < 0:
            t += n
        if not 0 <= t < n:
            raise IndexError("tracklet index %d out of range (%d tracklets)"
                             % (key, n))
        return self.tracklet(t)

    def __iter__(self):
        for t in range(len(self)):
            yield self.tracklet(t)

    def __contains__(self, item) -> bool:
        if isinstance(item, Tracklet):
            item = item.id
        if not isinstance(item, str):
            return False
        try:
            self.find_tracklet(item)
            return True
        except IndexError:
            return False

    def find_tracklet(self, id: str) -> int:
        """Index of the tracklet with this id (OutOfRangeError if none)."""
        t = ffi.new("size_t *")
        _check(lib.nid_exam_find_tracklet(self._ptr, id.encode(), t))
        return int(t[0])

    def key_frames(self, t: Union[int, str]) -> Tuple[np.ndarray, np.ndarray]:
        """Key frames of tracklet t: (frames int64 [n], boxes float32
        [n x 4])."""
        tr = self.tracklet(t)
        frames = np.empty(tr.n_key_frames, dtype=_dt.I64)
        boxes = np.empty((tr.n_key_frames, 4), dtype=_dt.F32)
        f = ffi.new("int64_t *")
        b = ffi.new("nid_box *")
        for k in range(tr.n_key_frames):
            _check(lib.nid_exam_key_frame(self._ptr, tr.index, k, f, b))
            frames[k] = f[0]
            boxes[k] = _box_py(b)
        return frames, boxes

    def tracklet_box(self, t: Union[int, str], frame: int,
                     interp: Union[Interp, int, str] = "union") -> Box:
        """Box of tracklet t on ``frame`` (key frame box, or interpolated)."""
        b = ffi.new("nid_box *")
        _check(lib.nid_exam_tracklet_box(self._ptr, self._index(t), int(frame),
                                         _enum_value(interp, Interp, "interp"),
                                         b))
        return _box_py(b)

    def cannot_link(self, max_iou: float = 0.5) -> np.ndarray:
        """Pairs of tracklet indices (m x 2, uint32) that the exam says are
        different nodules: tracklets of one video visible in common frames
        with boxes apart (median IoU < ``max_iou``). Pass them to
        :func:`cluster` as ``cannot_link``."""
        n = ffi.new("size_t *")
        rc = lib.nid_exam_cannot_link(self._ptr, float(max_iou), ffi.NULL, 0, n)
        if rc not in (lib.NID_OK, lib.NID_EBUFSIZE):
            _check(rc)
        out = np.zeros((int(n[0]), 2), np.uint32)
        if len(out):
            _check(lib.nid_exam_cannot_link(self._ptr, float(max_iou),
                                            _buf(out, True), len(out), n))
        return out

    def link_detections(self, video: int, detections, **options) -> int:
        """See :func:`link_detections`."""
        return link_detections(self, video, detections, **options)

    def clip_count(self, t: Union[int, str],
                   options: Optional[ClipOptions] = None) -> Tuple[int, int]:
        """(number of clips, number of floats) tracklet t gives."""
        n, nf = ffi.new("size_t *"), ffi.new("size_t *")
        _check(lib.nid_clip_count(self._ptr, self._index(t),
                                  _clip_opts(options), n, nf))
        return int(n[0]), int(nf[0])

    def clip_frames(self, t: Union[int, str],
                    options: Optional[ClipOptions] = None,
                    clip: int = 0) -> np.ndarray:
        """Frame numbers (int64, T of them) of clip ``clip`` of tracklet
        t."""
        o = _clip_opts(options)
        out = np.empty(int(o.frames), dtype=_dt.I64)
        _check(lib.nid_clip_frames(self._ptr, self._index(t), o, int(clip),
                                   _buf(out, True), out.size, ffi.NULL))
        return out

    def __repr__(self) -> str:
        if self.closed:
            return "<noduleid.Exam (closed)>"
        i = self.info
        return "<noduleid.Exam %r: %d videos, %d tracklets>" % (
            i.exam_id, i.n_videos, i.n_tracklets)


def tracklet_box(exam: Exam, t: Union[int, str], frame: int,
                 interp: Union[Interp, int, str] = "union") -> Box:
    """Box of tracklet t of ``exam`` on ``frame``."""
    return exam.tracklet_box(t, frame, interp)


def link_detections(exam: Exam, video: int, detections, *,
                    iou_threshold: Optional[float] = None,
                    max_gap: Optional[int] = None,
                    min_length: Optional[int] = None,
                    min_score: Optional[float] = None) -> int:
    """Link per-frame detections of video ``video`` into tracklets added to
    ``exam``; return how many were added.

    ``detections`` is an n x 6 array-like of (frame, x, y, w, h, score)
    rows. Options default to the C library's (IoU 0.3, max gap 5, min
    length 8, min score 0).
    """
    p = exam._ptr
    d = np.asarray(detections, dtype=np.float64)
    if d.size == 0:
        d = d.reshape(0, 6)
    if d.ndim != 2 or d.shape[1] != 6:
        raise ValueError("link_detections: expected n x 6 rows of (frame, x, "
                         "y, w, h, score), got shape %s" % (d.shape,))
    n = d.shape[0]
    dets = ffi.new("nid_detection[]", max(n, 1))
    for i in range(n):
        row = d[i]
        if row[0] != np.floor(row[0]) or not np.isfinite(row[0]):
            raise ValueError("link_detections: detection %d: frame %r is not "
                             "an integer" % (i, row[0]))
        dets[i].frame = int(row[0])
        dets[i].box.x, dets[i].box.y = float(row[1]), float(row[2])
        dets[i].box.w, dets[i].box.h = float(row[3]), float(row[4])
        dets[i].score = float(row[5])
    o = ffi.new("nid_link_options *")
    lib.nid_link_options_init(o)
    if iou_threshold is not None:
        o.iou_threshold = iou_threshold
    if max_gap is not None:
        o.max_gap = max_gap
    if min_length is not None:
        o.min_length = min_length
    if min_score is not None:
        o.min_score = min_score
    added = ffi.new("size_t *")
    _check(lib.nid_link_detections(p, int(video), dets, n, o, added))
    return int(added[0])


def build_clip(video: Video, exam: Exam, tracklet: Union[int, str],
               options: Optional[ClipOptions] = None, *,
               out: Optional[np.ndarray] = None) -> np.ndarray:
    """Build the clips of a tracklet from its video.

    Returns:
        N x C x T x H x W float32 (N = 1 for uniform sampling), the layout
        of PyTorch video models; ``out`` when given (filled in place).

    Raises:
        MismatchError: the tracklet runs past the video or a box lies
            outside its frames.
    """
    t = exam._index(tracklet)
    o = _clip_opts(options)
    n = ffi.new("size_t *")
    nf = ffi.new("size_t *")
    _check(lib.nid_clip_count(exam._ptr, t, o, n, nf))
    # channels as the library counts them (image, coordinate, context)
    per = int(n[0]) * int(o.frames) * int(o.height) * int(o.width)
    shape = (int(n[0]), int(nf[0]) // per, int(o.frames), int(o.height),
             int(o.width))
    res = _out_array(out, shape, _dt.F32, "build_clip")
    _check(lib.nid_clip_build(video._ptr, exam._ptr, t, o, _buf(res, True),
                              res.size, n, ffi.NULL))
    return res


def crop_resize(frame: np.ndarray, box: Box,
                options: Optional[ClipOptions] = None, *,
                out: Optional[np.ndarray] = None) -> np.ndarray:
    """Crop ``box`` (grown by options.margin) out of a H x W or H x W x 3
    uint8 frame and resize it; returns C x H x W float32, normalised (C:
    the image channels, + 2 with coords "frame"; never context channels:
    a clip's are this crop with margin = context_margin)."""
    f, _keep = _frame_view(frame)
    o = _clip_opts(options)
    channels = int(o.channels) + (2 if o.coords == lib.NID_COORDS_FRAME else 0)
    shape = (channels, int(o.height), int(o.width))
    res = _out_array(out, shape, _dt.F32, "crop_resize")
    _check(lib.nid_crop_resize(f, _box_c(box), o, _buf(res, True), res.size,
                               ffi.NULL))
    return res

