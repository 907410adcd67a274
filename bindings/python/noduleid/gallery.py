"""Nodule gallery: a patient's nodules from earlier exams, kept for the next
exam (docs/gallery-format.md), and matching a new exam's nodules to them."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Tuple, Union

from ._lazy import np, dtypes as _dt
from ._core import (Handle, _as_array, _buf, _check, _cstr_field,
                    _encode_path, _new_handle, _str)
from ._noduleid import ffi, lib


@dataclass(frozen=True)
class GalleryEntry:
    """One stored nodule."""
    index: int
    patient_id: str
    exam_id: str
    date: str          #: exam date "YYYY-MM-DD"
    label: str         #: nodule label within the exam, e.g. "N1"
    n_tracklets: int   #: tracklet embeddings averaged into it


class _GalleryInfo:
    """model_id, embed_dim and len() of a gallery or a gallery store, from
    its nid_gallery_info (the subclass names the C getter)."""
    _get_info = None  # the nid_*_get_info function

    def _info(self):
        i = ffi.new("nid_gallery_info *")
        lib.nid_gallery_info_init(i)
        _check(type(self)._get_info(self._ptr, i))
        return i

    @property
    def model_id(self) -> str:
        return _cstr_field(self._info().model_id)

    @property
    def embed_dim(self) -> int:
        return int(self._info().embed_dim)

    def __len__(self) -> int:
        return int(self._info().n_entries)


class Gallery(_GalleryInfo, Handle):
    """Nodules of earlier exams, all embedded by one model
    (``Gallery(model_id, embed_dim)`` or ``Gallery.load(path)``).
    Mutation (:meth:`add`) one thread at a time. Close with :meth:`close`
    or a ``with`` block."""

    _get_info = lib.nid_gallery_get_info

    __slots__ = ()

    def __init__(self, model_id: str, embed_dim: int, *, _ptr=None):
        if _ptr is None:
            _ptr = _new_handle("nid_gallery", lib.nid_gallery_create,
                               model_id.encode(), int(embed_dim))
        super().__init__(_ptr, lib.nid_gallery_free)

    @classmethod
    def load(cls, path: Union[str, os.PathLike]) -> "Gallery":
        """Read a gallery file (every field and CRC is checked)."""
        ptr = _new_handle("nid_gallery", lib.nid_gallery_load,
                          _encode_path(path), path=path)
        return cls("", 0, _ptr=ptr)

    def save(self, path: Union[str, os.PathLike]) -> None:
        """Write the gallery atomically (temp file, fsync, rename)."""
        _check(lib.nid_gallery_save(self._ptr, _encode_path(path)), path=path,
               write=True)

    def add(self, patient_id: str, exam_id: str, date: str, label: str,
            embedding: np.ndarray, n_tracklets: int = 1) -> int:
        """Add one nodule (its embedding is stored normalised); return its
        entry index."""
        e = _as_array(embedding, _dt.F32, "embedding", ndim=1)
        _check(lib.nid_gallery_add(self._ptr, patient_id.encode(),
                                   exam_id.encode(), date.encode(),
                                   label.encode(), _buf(e), e.shape[0],
                                   int(n_tracklets)))
        return len(self) - 1

    def entry(self, i: int) -> GalleryEntry:
        """Entry i (IndexError-like OutOfRangeError when out of range)."""
        n = len(self)
        i = int(i) + n if i < 0 else int(i)
        e = ffi.new("nid_gallery_entry *")
        lib.nid_gallery_entry_init(e)
        _check(lib.nid_gallery_get_entry(self._ptr, i if i >= 0 else n, e))
        return GalleryEntry(i, _str(e.patient_id), _str(e.exam_id),
                            _str(e.date), _str(e.label), int(e.n_tracklets))

    def embedding(self, i: int) -> np.ndarray:
        """Entry i's (unit-norm) embedding as a new float32 array."""
        out = np.empty(self.embed_dim, dtype=_dt.F32)
        _check(lib.nid_gallery_get_embedding(self._ptr, int(i),
                                             _buf(out, True), out.shape[0]))
        return out

    def match(self, patient_id: str, embeddings: np.ndarray, model_id: str,
              threshold: Optional[float] = None
              ) -> Tuple[np.ndarray, np.ndarray]:
        """Match a new exam's nodules (n x d rows) to the patient's latest
        exam: returns (entry index or -1 per row as int64, distance per row
        as float32; see nid_gallery_match)."""
        x = _as_array(embeddings, _dt.F32, "embeddings", ndim=2)
        o = ffi.new("nid_match_options *")
        lib.nid_match_options_init(o)
        if threshold is not None:
            o.threshold = float(threshold)
        mid = model_id.encode()
        if len(mid) >= len(o.model_id):
            raise ValueError("model_id: at most %d bytes" % (len(o.model_id) - 1))
        o.model_id = mid
        n = x.shape[0]
        m = np.empty(n, dtype=_dt.I64)
        dist = np.empty(n, dtype=_dt.F32)
        _check(lib.nid_gallery_match(self._ptr, patient_id.encode(),
                                     _buf(x) if x.size else ffi.NULL, n,
                                     x.shape[1], o, _buf(m, True),
                                     _buf(dist, True)))
        return m, dist
