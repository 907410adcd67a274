"""Gallery store: the archive-scale gallery (an SQLite database, WAL mode,
indexed by patient; docs/gallery-store.md). Grows exam by exam (one
transaction per exam), safe with several writer processes, matching reads
only the patient's rows. The gallery file format (:class:`Gallery`) stays
for import and export."""
from __future__ import annotations

import dataclasses
import os
from typing import List, Optional, Sequence, Tuple, Union

from ._lazy import np, dtypes as _dt
from ._core import (Handle, _as_array, _buf, _check, _cstr_field,
                    _encode_path, _new_handle)
from ._noduleid import ffi, lib
from .gallery import Gallery, GalleryEntry, _GalleryInfo


def _model_id_bytes(model_id: str, what: str) -> bytes:
    mid = model_id.encode()
    if len(mid) >= 72:
        raise ValueError("%s: at most 71 bytes, got %d" % (what, len(mid)))
    return mid


class GalleryStore(_GalleryInfo, Handle):
    """An open gallery store: ``GalleryStore(path)`` opens an existing one,
    ``GalleryStore(path, model_id=..., embed_dim=..., create=True)``
    creates it when missing. One thread at a time per handle (open one per
    thread or process); close with :meth:`close` or a ``with`` block."""

    _get_info = lib.nid_gallery_store_get_info

    __slots__ = ()

    def __init__(self, path: Union[str, os.PathLike], *,
                 model_id: Optional[str] = None, embed_dim: int = 0,
                 create: bool = False, read_only: bool = False,
                 busy_timeout_ms: Optional[int] = None):
        o = ffi.new("nid_store_options *")
        lib.nid_store_options_init(o)
        o.create = 1 if create else 0
        o.read_only = 1 if read_only else 0
        if busy_timeout_ms is not None:
            o.busy_timeout_ms = int(busy_timeout_ms)
        if model_id:
            o.model_id = _model_id_bytes(model_id, "model_id")
        o.embed_dim = int(embed_dim)
        ptr = _new_handle("nid_gallery_store", lib.nid_gallery_store_open,
                          _encode_path(path), o)
        super().__init__(ptr, lib.nid_gallery_store_free)

    def add_exam(self, patient_id: str, exam_id: str, date: str,
                 labels: Sequence[str], embeddings: np.ndarray,
                 n_tracklets: Optional[Sequence[int]] = None) -> np.ndarray:
        """Add one exam's nodules (k labels, k x d embeddings) in one
        transaction; returns their entry ids (int64)."""
        x = _as_array(embeddings, _dt.F32, "embeddings", ndim=2)
        k = len(labels)
        if x.shape[0] != k:
            raise ValueError("embeddings: %d rows for %d labels"
                             % (x.shape[0], k))
        keep = [ffi.new("char[]", str(s).encode()) for s in labels]
        arr = ffi.new("const char *[]", keep) if k else ffi.NULL
        nt = ffi.NULL
        if n_tracklets is not None:
            nta = np.ascontiguousarray(n_tracklets, dtype=_dt.I32)
            if nta.shape != (k,):
                raise ValueError("n_tracklets: %d values for %d labels"
                                 % (nta.size, k))
            nt = ffi.cast("const int32_t *", _buf(nta))
        ids = np.empty(k, dtype=_dt.I64)
        _check(lib.nid_gallery_store_add_exam(
            self._ptr, patient_id.encode(), exam_id.encode(), date.encode(),
            k, arr, _buf(x) if x.size else ffi.NULL, x.shape[1], nt,
            _buf(ids, True) if k else ffi.NULL))
        return ids

    def has_exam(self, patient_id: str, exam_id: str) -> bool:
        f = ffi.new("int *")
        _check(lib.nid_gallery_store_has_exam(self._ptr, patient_id.encode(),
                                              exam_id.encode(), f))
        return bool(f[0])

    def match(self, patient_id: str, embeddings: np.ndarray, model_id: str,
              threshold: Optional[float] = None
              ) -> Tuple[np.ndarray, np.ndarray]:
        """As :meth:`Gallery.match`, against the store: returns (entry id or
        -1 per row, distance per row)."""
        x = _as_array(embeddings, _dt.F32, "embeddings", ndim=2)
        o = ffi.new("nid_match_options *")
        lib.nid_match_options_init(o)
        if threshold is not None:
            o.threshold = float(threshold)
        o.model_id = _model_id_bytes(model_id, "model_id")
        n = x.shape[0]
        m = np.empty(n, dtype=_dt.I64)
        dist = np.empty(n, dtype=_dt.F32)
        _check(lib.nid_gallery_store_match(
            self._ptr, patient_id.encode(), _buf(x) if x.size else ffi.NULL,
            n, x.shape[1], o, _buf(m, True), _buf(dist, True)))
        return m, dist

    def get(self, id: int) -> Tuple[GalleryEntry, np.ndarray]:
        """Entry `id` (as :meth:`add_exam` returned it; its ``index`` is the
        id) and its unit-norm embedding. OutOfRangeError when the store has
        no such entry."""
        out = ffi.new("nid_gallery **")
        _check(lib.nid_gallery_store_get(self._ptr, int(id), out))
        with Gallery("", 0, _ptr=out[0]) as g:
            return dataclasses.replace(g.entry(0), index=int(id)), \
                g.embedding(0)

    def __repr__(self) -> str:
        if self.closed:
            return "<noduleid.GalleryStore (closed)>"
        i = self._info()
        return "<noduleid.GalleryStore %d entries D=%d model %.19s...>" % (
            i.n_entries, i.embed_dim, _cstr_field(i.model_id))

    def export(self, patient_id: Optional[str] = None
               ) -> Tuple[Gallery, np.ndarray]:
        """The entries of one patient (None: all) as an in-memory
        :class:`Gallery` (save it to write the file format) and their ids."""
        out = ffi.new("nid_gallery **")
        ids = ffi.new("int64_t **")
        _check(lib.nid_gallery_store_export(
            self._ptr, patient_id.encode() if patient_id else ffi.NULL, out,
            ids))
        g = Gallery("", 0, _ptr=out[0])
        n = len(g)
        arr = np.frombuffer(ffi.buffer(ids[0], 8 * n), dtype=_dt.I64).copy() \
            if n else np.empty(0, dtype=_dt.I64)
        lib.nid_free_ids(ids[0])
        return g, arr

    def import_gallery(self, gallery: Union[Gallery, str, os.PathLike],
                       skip_existing: bool = False) -> int:
        """Import a gallery (or a gallery file) in one transaction; returns
        how many entries were added."""
        g = gallery if isinstance(gallery, Gallery) else Gallery.load(gallery)
        n = ffi.new("size_t *")
        _check(lib.nid_gallery_store_import(self._ptr, g._ptr,
                                            1 if skip_existing else 0, n))
        return int(n[0])
