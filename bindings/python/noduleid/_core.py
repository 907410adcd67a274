"""Errors, status checking, logging, handles and numpy helpers shared by the
modules of the noduleid package."""
from __future__ import annotations

import enum
import errno as _errno
import math
import os
import stat as _stat
import struct
import threading
from typing import Callable, Optional, Type

from ._lazy import np
from ._noduleid import ffi, lib

# --------------------------------------------------------------------------
# Enumerations (values from the compiled header)
# --------------------------------------------------------------------------


class Status(enum.IntEnum):
    """Status codes of the C API (nid_status)."""
    OK = lib.NID_OK
    EINVAL = lib.NID_EINVAL
    ENOMEM = lib.NID_ENOMEM
    EIO = lib.NID_EIO
    EFORMAT = lib.NID_EFORMAT
    EBUFSIZE = lib.NID_EBUFSIZE
    ENOTSUP = lib.NID_ENOTSUP
    ECANCELED = lib.NID_ECANCELED
    ERANGE = lib.NID_ERANGE
    EMISMATCH = lib.NID_EMISMATCH
    EINTERNAL = lib.NID_EINTERNAL


class LogLevel(enum.IntEnum):
    """Log levels (nid_log_level); a callback gets messages <= its level."""
    ERROR = lib.NID_LOG_ERROR
    WARN = lib.NID_LOG_WARN
    INFO = lib.NID_LOG_INFO
    DEBUG = lib.NID_LOG_DEBUG


def _enum_value(value, cls: Type[enum.IntEnum], what: str, names=None) -> int:
    """An enum argument given as a member, an int or a (case-insensitive)
    name; `names` maps extra aliases to members."""
    if isinstance(value, str):
        key = value.strip().lower()
        if names and key in names:
            return int(names[key])
        for m in cls:
            if m.name.lower() == key:
                return int(m)
        choices = sorted([m.name.lower() for m in cls] + list(names or ()))
        raise ValueError("%s: unknown value %r (expected one of %s)"
                         % (what, value, ", ".join(choices)))
    try:
        return int(cls(int(value)))
    except (ValueError, TypeError):
        raise ValueError("%s: unknown value %r" % (what, value)) from None


# --------------------------------------------------------------------------
# Exceptions
# --------------------------------------------------------------------------


class NoduleIdError(Exception):
    """A libnoduleid call failed.

    Attributes:
        code: the negative status code (see :class:`Status`).
        message: the library's message (nid_last_error()): which function,
            argument, file, frame or field, expected vs. got.
    """

    def __init__(self, code: int, message: str):
        super().__init__(code, message)
        self.code = int(code)
        self.message = message

    @property
    def status(self):
        try:
            return Status(self.code)
        except ValueError:
            return self.code

    def __str__(self) -> str:
        name = self.status.name if isinstance(self.status, Status) else str(self.code)
        return "%s [NID_%s]" % (self.message, name) if name != "OK" else self.message

    def __reduce__(self):
        return (type(self), (self.code, self.message))


class InvalidArgumentError(NoduleIdError, ValueError):
    """NID_EINVAL: invalid argument (NULL, zero size, NaN, bad option...)."""


class OutOfMemoryError(NoduleIdError, MemoryError):
    """NID_ENOMEM: out of memory."""


class FileIOError(NoduleIdError, OSError):
    """NID_EIO: a file could not be opened, read or written (the message
    names the file). As an :class:`OSError`, ``errno`` is the operating
    system's error number (``errno.EIO`` when it cannot be told) and
    ``filename`` the path the call was given; ``code`` stays the library's
    status. Missing files raise :class:`NoSuchFileError` (a
    ``FileNotFoundError``), unreadable ones :class:`FilePermissionError` (a
    ``PermissionError``), directories :class:`IsADirectoryIOError`."""

    def __init__(self, code: int, message: str, os_errno: int = _errno.EIO,
                 filename: Optional[str] = None):
        NoduleIdError.__init__(self, code, message)
        self.errno = os_errno
        self.strerror = message
        self.filename = filename

    def __reduce__(self):
        return (type(self), (self.code, self.message, self.errno, self.filename))


class NoSuchFileError(FileIOError, FileNotFoundError):
    """NID_EIO because the file (or, when writing, its folder) does not
    exist: ``errno.ENOENT``; caught by ``except FileNotFoundError``."""


class FilePermissionError(FileIOError, PermissionError):
    """NID_EIO because the file may not be read or written: ``errno.EACCES``;
    caught by ``except PermissionError``."""


class IsADirectoryIOError(FileIOError, IsADirectoryError):
    """NID_EIO because the path is a directory: ``errno.EISDIR``."""


class FormatError(NoduleIdError, ValueError):
    """NID_EFORMAT: malformed or unsupported content of a file."""


class BufferTooSmallError(NoduleIdError, ValueError):
    """NID_EBUFSIZE: an output buffer is too small."""


class NotSupportedError(NoduleIdError, NotImplementedError):
    """NID_ENOTSUP: feature not compiled in or not supported."""


class CancelledError(NoduleIdError):
    """NID_ECANCELED: cancelled by a progress callback."""


class OutOfRangeError(NoduleIdError, IndexError):
    """NID_ERANGE: index or value out of range."""


class MismatchError(NoduleIdError, ValueError):
    """NID_EMISMATCH: inputs disagree (sizes, models, versions)."""


class InternalError(NoduleIdError, RuntimeError):
    """NID_EINTERNAL: internal error of the library (a bug)."""


class ClosedError(ValueError):
    """A handle (Video, Exam, Model, OnlineClusterer) was used after
    close()."""


_ERRORS = {
    Status.EINVAL: InvalidArgumentError,
    Status.ENOMEM: OutOfMemoryError,
    Status.EIO: FileIOError,
    Status.EFORMAT: FormatError,
    Status.EBUFSIZE: BufferTooSmallError,
    Status.ENOTSUP: NotSupportedError,
    Status.ECANCELED: CancelledError,
    Status.ERANGE: OutOfRangeError,
    Status.EMISMATCH: MismatchError,
    Status.EINTERNAL: InternalError,
}


def status_str(code: int) -> str:
    """Name and description of a status code, e.g. "NID_EINVAL: invalid
    argument"."""
    return _str(lib.nid_status_str(int(code)))


def _str(p) -> Optional[str]:
    """A borrowed C string as a Python str (None for NULL)."""
    if p == ffi.NULL:
        return None
    return ffi.string(p).decode("utf-8", "replace")


def _os_errno(path, write: bool) -> int:
    """Why the operating system would refuse `path` (ENOENT, EACCES,
    EISDIR, ...), or EIO when it would not (the library failed later)."""
    target = path
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if not write:
            return _errno.ENOENT
        target = os.path.dirname(os.path.abspath(path))
        try:
            st = os.stat(target)
        except OSError as e:
            return e.errno or _errno.EIO
        if not _stat.S_ISDIR(st.st_mode):
            return _errno.ENOTDIR
        return _errno.EIO if os.access(target, os.W_OK | os.X_OK) else _errno.EACCES
    except OSError as e:
        return e.errno or _errno.EIO
    if _stat.S_ISDIR(st.st_mode):
        return _errno.EISDIR
    if not os.access(path, os.W_OK if write else os.R_OK):
        return _errno.EACCES
    return _errno.EIO


_OS_ERRORS = {_errno.ENOENT: NoSuchFileError, _errno.EACCES: FilePermissionError,
              _errno.EPERM: FilePermissionError, _errno.EISDIR: IsADirectoryIOError}


def error_from_status(code: int, message: Optional[str] = None, path=None,
                      write: bool = False) -> NoduleIdError:
    """The exception for status `code`; message defaults to
    nid_last_error() of this thread. `path`: the file the failed call was
    given (an NID_EIO then becomes FileNotFoundError/PermissionError/...
    with the real errno and filename); `write`: the call writes it."""
    if message is None:
        message = _str(lib.nid_last_error()) or status_str(code)
    if code == Status.EIO:
        if path is None:
            return FileIOError(code, message)
        name = os.fsdecode(path)
        err = _os_errno(name, write)
        return _OS_ERRORS.get(err, FileIOError)(code, message, err, name)
    return _ERRORS.get(code, NoduleIdError)(code, message)


def _check(status: int, path=None, write: bool = False) -> int:
    """Raise the typed exception for a negative status; return it else.
    Must run right after the call, on the same thread (the message is
    thread-local in the library, and cffi calls run on the calling
    thread). `path`/`write`: see :func:`error_from_status`."""
    if status < 0:
        raise error_from_status(status, path=path, write=write)
    return status


# --------------------------------------------------------------------------
# Logging
# --------------------------------------------------------------------------

_log_lock = threading.Lock()
_log_fn: Optional[Callable[[int, str], None]] = None


@ffi.def_extern()
def _nid_py_log(level, msg, payload):
    # Runs on whatever thread called into the library; cffi takes the GIL.
    # An exception raised by the user's callback is printed by cffi and
    # does not propagate into C.
    fn = _log_fn
    if fn is not None:
        fn(level, ffi.string(msg).decode("utf-8", "replace"))


def set_log_callback(fn: Optional[Callable[[int, str], None]],
                     max_level=LogLevel.WARN) -> None:
    """Install a process-wide log callback ``fn(level, message)`` receiving
    library messages with level <= max_level (a :class:`LogLevel`, int or
    name such as "debug"). ``fn=None`` restores the default (silent).

    The callback may run on any thread that calls into the library; it is
    called with the GIL held. Exceptions it raises are printed to stderr
    and otherwise ignored. Every failing call logs its message at DEBUG.
    """
    global _log_fn
    level = _enum_value(max_level, LogLevel, "max_level",
                        {"warning": LogLevel.WARN})
    with _log_lock:
        if fn is None:
            lib.nid_set_log_callback(ffi.NULL, 0, ffi.NULL)
            _log_fn = None
        else:
            if not callable(fn):
                raise TypeError("set_log_callback: fn must be callable or None")
            _log_fn = fn
            lib.nid_set_log_callback(lib._nid_py_log, level, ffi.NULL)


def log_to_logging(logger=None, max_level=LogLevel.INFO) -> None:
    """Send library messages to a :mod:`logging` logger (default
    ``logging.getLogger("noduleid")``)."""
    import logging
    lg = logger or logging.getLogger("noduleid")
    to_py = {LogLevel.ERROR: logging.ERROR, LogLevel.WARN: logging.WARNING,
             LogLevel.INFO: logging.INFO, LogLevel.DEBUG: logging.DEBUG}
    set_log_callback(lambda lv, m: lg.log(to_py.get(lv, logging.DEBUG), m),
                     max_level)


# --------------------------------------------------------------------------
# Handles
# --------------------------------------------------------------------------


class Handle:
    """Base of the classes owning a C handle. The handle is freed by
    close(), by leaving a ``with`` block, or by the garbage collector
    (ffi.gc) — whichever comes first. close() is idempotent; any other use
    after close raises :class:`ClosedError`.

    Thread safety follows the C handle: Video, Exam (when modified) and
    OnlineClusterer are for one thread at a time; a Model may be shared.
    Do not close a handle while another thread is using it.
    """

    __slots__ = ("_h", "__weakref__")

    def __init__(self, ptr, free):
        self._h = ffi.gc(ptr, free)

    @property
    def _ptr(self):
        h = self._h
        if h is None:
            raise ClosedError("%s is closed" % type(self).__name__)
        return h

    @property
    def closed(self) -> bool:
        """True after close()."""
        return self._h is None

    def close(self) -> None:
        """Free the C handle now. Idempotent."""
        h, self._h = self._h, None
        if h is not None:
            ffi.release(h)   # runs the ffi.gc destructor now, once

    def __enter__(self):
        self._ptr  # raise on a closed handle
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _new_handle(ctype: str, create, *args, path=None):
    """Call create(&out, *args); return the new handle (not yet gc'd).
    `path`: the file it reads (for the error, see :func:`_check`)."""
    out = ffi.new(ctype + " **")
    _check(create(out, *args), path=path)
    return out[0]


# --------------------------------------------------------------------------
# numpy helpers: inputs are passed with ffi.from_buffer, never copied when
# they already have the C dtype and are C-contiguous.
# --------------------------------------------------------------------------

_CTYPES = None   # {numpy dtype: C type}, made at the first _buf (numpy is lazy)


def _ctypes() -> dict:
    global _CTYPES
    if _CTYPES is None:
        _CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double",
                   np.dtype(np.int32): "int32_t", np.dtype(np.int64): "int64_t",
                   np.dtype(np.uint8): "uint8_t", np.dtype(np.uint32): "uint32_t"}
    return _CTYPES


def _as_array(a, dtype, name: str, ndim=None) -> np.ndarray:
    """`a` as a C-contiguous array of `dtype` — the same object when it
    already is one (no copy), else a converted copy."""
    arr = np.asarray(a)
    if arr.dtype != dtype:
        if dtype.kind in "iu" and arr.dtype.kind == "f":
            raise TypeError("%s: expected integers, got %s" % (name, arr.dtype))
        arr = arr.astype(dtype)
    arr = np.ascontiguousarray(arr)
    if ndim is not None and arr.ndim not in (ndim if isinstance(ndim, tuple) else (ndim,)):
        raise ValueError("%s: expected a %s-dimensional array, got shape %s"
                         % (name, ndim, arr.shape))
    return arr


def _buf(arr: np.ndarray, writable: bool = False):
    """A cdata pointer to arr's memory (no copy)."""
    return ffi.from_buffer(_ctypes()[arr.dtype] + "[]", arr,
                           require_writable=writable)


def _out_array(out, shape, dtype, name: str) -> np.ndarray:
    """`out` checked as a writable C-contiguous array of shape/dtype, or a
    new one."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    if not isinstance(out, np.ndarray) or out.dtype != dtype \
            or tuple(out.shape) != tuple(shape) \
            or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("%s: out must be a writable C-contiguous %s array of "
                         "shape %s" % (name, np.dtype(dtype).name, tuple(shape)))
    return out


def _encode_path(path) -> bytes:
    return os.fsencode(path)


_FLOAT = struct.Struct("=f")


def _to_f32(x: float) -> float:
    """x rounded to the nearest C float (to +-inf beyond its range)."""
    try:
        return _FLOAT.unpack(_FLOAT.pack(x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


def _f32(v) -> float:
    """A C float as the shortest Python float that rounds to it (0.1, not
    0.10000000149011612): the value of repr(numpy.float32(v)), without
    numpy, which module-level defaults would otherwise import. Like
    numpy's Dragon4: the fewest significant digits p that some decimal
    within the float's rounding interval has, and of those the decimal
    nearest to the float (a tie to the even last digit). The candidates
    are the nearest p-digit decimal and its two neighbours (the interval
    is one piece around the float); distances are compared exactly."""
    x = _to_f32(float(v))
    if x == 0.0 or not math.isfinite(x):
        return x
    sign = "-" if x < 0 else ""
    num, den = abs(x).as_integer_ratio()
    for p in range(1, 10):  # 9 digits always suffice for a float
        mant, exp = ("%.*e" % (p - 1, abs(x))).split("e")
        digits, e10 = int(mant.replace(".", "")), int(exp) - (p - 1)
        best = None
        for d in (digits - 1, digits, digits + 1):
            c = float("%s%de%d" % (sign, d, e10))
            if _to_f32(c) != x:
                continue
            # |d 10^e10 - num/den|, scaled by den 10^max(-e10, 0)
            dist = abs(d * den * 10 ** max(e10, 0) - num * 10 ** max(-e10, 0))
            if best is None or (dist, d & 1) < best[:2]:
                best = (dist, d & 1, c)
        if best is not None:
            return best[2]
    return x


def _cstr_field(arr) -> str:
    """A char[N] struct field as str."""
    return ffi.string(arr).decode("utf-8", "replace")

