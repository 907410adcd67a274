"""Version, features, status codes, exception mapping (real errors from the
library) and the log callback."""
import os
import re
import threading

import numpy as np
import pytest

import noduleid
from noduleid import ffi, lib
from noduleid._core import _check


def test_version_matches_header(header_path):
    # noduleid.h includes noduleid/core.h, which holds the version
    core = os.path.join(os.path.dirname(header_path), "noduleid", "core.h")
    with open(core, encoding="utf-8") as f:
        text = f.read()
    ver = re.search(r'#define NID_VERSION_STRING "([^"]+)"', text).group(1)
    assert noduleid.version() == ver == noduleid.__version__
    major, minor, patch = (int(v) for v in ver.split("."))
    assert noduleid.version_number() == major * 10000 + minor * 100 + patch
    assert noduleid.features() <= {"blas", "video", "dicom", "torch", "cuda"}


def test_status_str_and_enum():
    assert noduleid.status_str(noduleid.Status.EINVAL).startswith("NID_EINVAL")
    assert [int(s) for s in noduleid.Status] == list(range(0, -11, -1))


def _raises(exc_type, code, fn, *args, **kw):
    with pytest.raises(exc_type) as ei:
        fn(*args, **kw)
    e = ei.value
    assert isinstance(e, noduleid.NoduleIdError)
    assert e.code == code
    assert e.message and e.message in str(e)
    return e


def test_invalid_argument_nan_names_the_value():
    x = np.ones((4, 3), np.float32)
    x[2, 1] = np.nan
    e = _raises(noduleid.InvalidArgumentError, lib.NID_EINVAL,
                noduleid.cluster, x, "single", 0.5)
    assert isinstance(e, ValueError)
    assert "x[2][1]" in e.message and "nan" in e.message
    # The message is nid_last_error() of this thread, unchanged.
    assert e.message == noduleid.last_error()
    noduleid.clear_error()
    assert noduleid.last_error() == ""


def test_io_error_names_the_path(tmp_path):
    missing = str(tmp_path / "no-such-exam.json")
    e = _raises(noduleid.FileIOError, lib.NID_EIO, noduleid.Exam.load, missing)
    assert isinstance(e, OSError)
    assert missing in e.message


def test_format_error(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('{"format": "noduleid-exam", "version": 1, "videos": [}')
    e = _raises(noduleid.FormatError, lib.NID_EFORMAT, noduleid.Exam.load, p)
    assert "bad.json" in e.message


def test_buffer_too_small_from_raw_call():
    # The Pythonic API sizes every buffer itself; the raw lib call shows the
    # mapping on a real NID_EBUFSIZE.
    x = np.ones((3, 2), np.float32)
    out = np.empty(8, np.float32)
    needed = ffi.new("size_t *")
    with pytest.raises(noduleid.BufferTooSmallError) as ei:
        _check(lib.nid_distance_matrix(ffi.from_buffer("float[]", x), 3, 2, 0,
                                       1, ffi.from_buffer("float[]", out), 8,
                                       needed))
    assert ei.value.code == lib.NID_EBUFSIZE
    assert needed[0] == 9


def test_not_supported_frame_time_without_fps():
    v = noduleid.Video.from_frames(np.zeros((2, 4, 4), np.uint8), fps=0)
    e = _raises(noduleid.NotSupportedError, lib.NID_ENOTSUP, v.frame_time, 1)
    assert isinstance(e, NotImplementedError)
    v2 = noduleid.Video.from_frames(np.zeros((2, 4, 4), np.uint8), fps=4)
    assert v2.frame_time(1) == pytest.approx(0.25)


def test_out_of_range():
    v = noduleid.Video.from_frames(np.zeros((3, 4, 4), np.uint8))
    e = _raises(noduleid.OutOfRangeError, lib.NID_ERANGE, v.read_frame, 3)
    assert isinstance(e, IndexError)
    ex = noduleid.Exam.create()
    e = _raises(noduleid.OutOfRangeError, lib.NID_ERANGE,
                ex.find_tracklet, "nope")
    assert "nope" in e.message


def test_mismatch():
    oc = noduleid.OnlineClusterer(0, 0.5)
    oc.add_distances([])
    e = _raises(noduleid.MismatchError, lib.NID_EMISMATCH,
                oc.add_distances, [0.1, 0.2, 0.3])
    assert isinstance(e, ValueError)
    assert len(oc) == 1  # unchanged on error


def test_out_of_memory():
    # Average linkage needs an n x n float matrix: 2^24 items want 2^50
    # bytes, more than any address space, so the allocation fails for real.
    x = np.ones((1 << 24, 1), np.float32)
    e = _raises(noduleid.OutOfMemoryError, lib.NID_ENOMEM,
                noduleid.cluster, x, "average", 0.5, metric="euclidean")
    assert isinstance(e, MemoryError)


@pytest.mark.parametrize("code,cls", [
    (-1, noduleid.InvalidArgumentError), (-2, noduleid.OutOfMemoryError),
    (-3, noduleid.FileIOError), (-4, noduleid.FormatError),
    (-5, noduleid.BufferTooSmallError), (-6, noduleid.NotSupportedError),
    (-7, noduleid.CancelledError), (-8, noduleid.OutOfRangeError),
    (-9, noduleid.MismatchError), (-10, noduleid.InternalError),
    (-99, noduleid.NoduleIdError)])
def test_every_status_maps_to_its_class(code, cls):
    e = noduleid.error_from_status(code, "msg")
    assert type(e) is cls and e.code == code and e.message == "msg"
    # No C function reports NID_ECANCELED or NID_EINTERNAL on demand; the
    # mapping is what _check uses for every status.
    with pytest.raises(cls):
        _check(code)


def test_python_side_argument_errors():
    with pytest.raises(ValueError, match="metric"):
        noduleid.cluster(np.ones((2, 2), np.float32), metric="manhattan")
    with pytest.raises(ValueError, match="2-dimensional"):
        noduleid.cluster(np.ones(3, np.float32))


def test_log_callback_receives_messages():
    got = []
    noduleid.set_log_callback(lambda lv, m: got.append((lv, m)), "debug")
    with pytest.raises(noduleid.InvalidArgumentError) as ei:
        noduleid.distance_matrix(np.zeros((2, 3), np.float32), "cosine")
    assert any(lv == noduleid.LogLevel.DEBUG and ei.value.message in m
               for lv, m in got), got
    # Below the level: not delivered.
    got.clear()
    noduleid.set_log_callback(lambda lv, m: got.append((lv, m)), "warn")
    with pytest.raises(noduleid.InvalidArgumentError):
        noduleid.distance_matrix(np.zeros((2, 3), np.float32), "cosine")
    assert got == []
    # Removed: not delivered.
    noduleid.set_log_callback(lambda lv, m: got.append((lv, m)), "debug")
    noduleid.set_log_callback(None)
    with pytest.raises(noduleid.InvalidArgumentError):
        noduleid.distance_matrix(np.zeros((2, 3), np.float32), "cosine")
    assert got == []


def test_log_callback_from_other_threads_and_raising_callback(monkeypatch):
    got = []
    noduleid.set_log_callback(lambda lv, m: got.append(threading.get_ident()),
                              noduleid.LogLevel.DEBUG)

    def fail():
        try:
            noduleid.cluster(np.full((2, 2), np.inf, np.float32))
        except noduleid.InvalidArgumentError:
            pass
    ts = [threading.Thread(target=fail) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    # Delivered once per failing call, on the calling (non-main) threads.
    assert len(got) == 4
    assert threading.get_ident() not in got

    # An exception in the callback does not cross into C: cffi reports it
    # through sys.unraisablehook and the library call goes on.
    def bad(lv, m):
        raise RuntimeError("callback failed")
    unraisable = []
    monkeypatch.setattr("sys.unraisablehook", unraisable.append)
    noduleid.set_log_callback(bad, "debug")
    with pytest.raises(noduleid.InvalidArgumentError):
        noduleid.cluster(np.full((2, 2), np.inf, np.float32))
    assert any("callback failed" in str(u.exc_value) for u in unraisable)


def test_log_to_logging(caplog):
    import logging
    noduleid.log_to_logging(max_level="debug")
    with caplog.at_level(logging.DEBUG, logger="noduleid"):
        with pytest.raises(noduleid.InvalidArgumentError):
            noduleid.cluster(np.full((2, 2), np.nan, np.float32))
    assert any("not finite" in r.getMessage() for r in caplog.records)

