"""Video input: files (FFmpeg), DICOM cine loops (DCMTK) and frames already
in memory."""
from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from typing import Iterator, Optional, Union

from ._lazy import np, dtypes as _dt
from ._core import (Handle, _as_array, _buf, _check, _cstr_field,
                    _encode_path, _enum_value, _new_handle, _out_array)
from ._noduleid import ffi, lib


class PixelFormat(enum.IntEnum):
    """Pixel formats of decoded frames (nid_pixel_format)."""
    GRAY8 = lib.NID_PIX_GRAY8  #: H x W uint8
    RGB24 = lib.NID_PIX_RGB24  #: H x W x 3 uint8


_FORMAT_NAMES = {"gray": PixelFormat.GRAY8, "grey": PixelFormat.GRAY8,
                 "rgb": PixelFormat.RGB24}

FormatLike = Union[PixelFormat, int, str]


def _pixel_format(fmt: FormatLike) -> int:
    return _enum_value(fmt, PixelFormat, "format", _FORMAT_NAMES)


@dataclass(frozen=True)
class VideoInfo:
    """Facts about an open video."""
    n_frames: int
    fps: float        #: 0 when the file does not say
    width: int
    height: int
    format: PixelFormat
    source: str       #: "ffmpeg", "dicom" or "frames"
    codec: str


def _frame_shape(width, height, fmt):
    return (height, width, 3) if fmt == PixelFormat.RGB24 else (height, width)


class Video(Handle):
    """A decoded video: ``Video.open(path)`` or ``Video.from_frames(a)``.

    ``len(v)`` is the number of frames, ``v[i]`` frame i as a new numpy
    array (H x W uint8 for gray, H x W x 3 for RGB; negative indices and
    slices work), iteration yields the frames in order. One thread at a time
    per video. Close with :meth:`close` or a ``with`` block.
    """

    __slots__ = ("_keep",)

    def __init__(self, _ptr, _keep=None):
        """Use :meth:`open` or :meth:`from_frames`."""
        super().__init__(_ptr, lib.nid_video_free)
        self._keep = _keep  # borrowed pixels of from_frames(copy=False)

    @classmethod
    def open(cls, path: Union[str, os.PathLike], format: FormatLike = "gray",
             n_threads: int = 0) -> "Video":
        """Open a video file (DICOM by its magic, else FFmpeg), returning
        frames in ``format`` ("gray" or "rgb").

        Raises:
            FileIOError: the file cannot be opened/read (message names it).
            FormatError: not a video / undecodable.
            NotSupportedError: FFmpeg or DCMTK not compiled in.
        """
        opts = ffi.new("nid_video_options *")
        lib.nid_video_options_init(opts)
        opts.format = _pixel_format(format)
        opts.n_threads = int(n_threads)
        ptr = _new_handle("nid_video", lib.nid_video_open,
                          _encode_path(path), opts, path=path)
        return cls(ptr)

    @classmethod
    def from_frames(cls, frames: np.ndarray, fps: float = 0.0, *,
                    copy: bool = False) -> "Video":
        """Wrap frames already in memory: a T x H x W (gray) or
        T x H x W x 3 (RGB) uint8 array.

        With copy=False (default) the pixels are not copied: the video
        keeps a reference to the array and reads it in place, so changing
        the array changes the video's frames. copy=True lets the library
        copy them.
        """
        a = _as_array(frames, _dt.U8, "frames", ndim=(3, 4))
        if a.ndim == 4 and a.shape[3] != 3:
            raise ValueError("from_frames: expected T x H x W x 3 for RGB, "
                             "got shape %s" % (a.shape,))
        t, h, w = a.shape[:3]
        fmt = PixelFormat.RGB24 if a.ndim == 4 else PixelFormat.GRAY8
        bpp = 3 if a.ndim == 4 else 1
        n = max(t, 1)
        cframes = ffi.new("nid_frame[]", n)
        base = _buf(a)
        step = h * w * bpp
        for i in range(t):
            f = cframes[i]
            f.data = base + i * step
            f.width = w
            f.height = h
            f.stride = w * bpp
            f.format = int(fmt)
        flags = lib.NID_FRAMES_COPY if copy else 0
        ptr = _new_handle("nid_video", lib.nid_video_from_frames, cframes, t,
                          float(fps), flags)
        return cls(ptr, None if copy else (a, base, cframes))

    @property
    def info(self) -> VideoInfo:
        """Size, frame count, fps, format, source and codec."""
        p = self._ptr
        i = ffi.new("nid_video_info *")
        lib.nid_video_info_init(i)
        _check(lib.nid_video_get_info(p, i))
        return VideoInfo(int(i.n_frames), float(i.fps), int(i.width),
                         int(i.height), PixelFormat(i.format),
                         _cstr_field(i.source), _cstr_field(i.codec))

    def __len__(self) -> int:
        return self.info.n_frames

    def read_frame(self, index: int,
                   out: Optional[np.ndarray] = None) -> np.ndarray:
        """Frame ``index`` (0-based, frame-accurate) copied into ``out`` (a
        new array when None). Raises OutOfRangeError outside
        [0, n_frames)."""
        info = self.info
        shape = _frame_shape(info.width, info.height, info.format)
        res = _out_array(out, shape, _dt.U8, "read_frame")
        _check(lib.nid_video_read_frame(self._ptr, int(index),
                                        _buf(res, True), res.size, ffi.NULL))
        return res

    def __getitem__(self, index):
        if isinstance(index, slice):
            idx = range(*index.indices(len(self)))
            return np.stack([self.read_frame(i) for i in idx]) if len(idx) \
                else np.empty((0,) + _frame_shape(self.info.width,
                                                  self.info.height,
                                                  self.info.format), _dt.U8)
        i = int(index)
        if i < 0:
            i += len(self)
        return self.read_frame(i)

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self.read_frame(i)

    def set_format(self, format: FormatLike) -> None:
        """Return frames in ``format`` ("gray" / "rgb") from now on."""
        _check(lib.nid_video_set_format(self._ptr, _pixel_format(format)))

    def frame_time(self, index: int) -> float:
        """Presentation time of frame ``index`` in seconds after frame 0."""
        s = ffi.new("double *")
        _check(lib.nid_video_frame_time(self._ptr, int(index), s))
        return float(s[0])

    def __repr__(self) -> str:
        if self.closed:
            return "<noduleid.Video (closed)>"
        i = self.info
        return "<noduleid.Video %s %dx%d %s, %d frames>" % (
            i.source, i.width, i.height, i.format.name, i.n_frames)


def _frame_view(frame: np.ndarray):
    """A nid_frame pointing into a H x W or H x W x 3 uint8 array (kept
    alive by the caller)."""
    a = _as_array(frame, _dt.U8, "frame", ndim=(2, 3))
    if a.ndim == 3 and a.shape[2] != 3:
        raise ValueError("frame: expected H x W or H x W x 3, got shape %s"
                         % (a.shape,))
    f = ffi.new("nid_frame *")
    buf = _buf(a)
    f.data = buf
    f.height, f.width = a.shape[0], a.shape[1]
    bpp = 3 if a.ndim == 3 else 1
    f.stride = a.shape[1] * bpp
    f.format = int(PixelFormat.RGB24 if a.ndim == 3 else PixelFormat.GRAY8)
    return f, (a, buf)
