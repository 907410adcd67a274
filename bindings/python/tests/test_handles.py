"""Handle lifetime: close(), context managers, use after close, garbage
collection, and no leak over 10 000 create/free cycles."""
import gc
import os

import numpy as np
import pytest

import noduleid


def _make_handles():
    return [noduleid.OnlineClusterer(4, 0.5),
            noduleid.Exam.create("e1"),
            noduleid.Video.from_frames(np.zeros((2, 8, 8), np.uint8))]


def test_close_is_idempotent_and_use_after_close_raises():
    for h in _make_handles():
        assert not h.closed
        h.close()
        assert h.closed
        h.close()  # idempotent
        with pytest.raises(noduleid.ClosedError, match="is closed"):
            len(h)
        with pytest.raises(noduleid.ClosedError):
            with h:
                pass
        assert "closed" in repr(h) or isinstance(h, noduleid.OnlineClusterer)
    oc = noduleid.OnlineClusterer(4, 0.5)
    oc.close()
    with pytest.raises(noduleid.ClosedError):
        oc.add(np.ones(4, np.float32))
    with pytest.raises(noduleid.ClosedError):
        oc.labels()
    v = noduleid.Video.from_frames(np.zeros((2, 8, 8), np.uint8))
    v.close()
    with pytest.raises(noduleid.ClosedError):
        v[0]
    with pytest.raises(noduleid.ClosedError):
        v.info


def test_context_managers_close():
    with noduleid.Exam.create() as ex, \
            noduleid.Video.from_frames(np.zeros((1, 4, 4), np.uint8)) as v, \
            noduleid.OnlineClusterer(0, 0.5) as oc:
        assert len(ex) == 0 and len(v) == 1 and len(oc) == 0
    assert ex.closed and v.closed and oc.closed
    # closed on the way out of an exception too
    with pytest.raises(RuntimeError):
        with noduleid.Exam.create() as ex2:
            raise RuntimeError
    assert ex2.closed


def test_closing_a_video_keeps_a_built_frame_valid():
    frames = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    v = noduleid.Video.from_frames(frames)
    f = v[2]
    v.close()
    np.testing.assert_array_equal(f, frames[2])  # a copy owned by numpy


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="Linux only")
def test_no_leak_over_10000_cycles(record_property):
    x = np.ones(16, np.float32)
    frames = np.zeros((4, 32, 32), np.uint8)

    def cycle(i):
        oc = noduleid.OnlineClusterer(16, 0.5)
        oc.add(x)
        ex = noduleid.Exam.create("e%d" % i)
        ex.add_video("v", "v.mp4")
        v = noduleid.Video.from_frames(frames, copy=True)
        if i % 2:  # half closed explicitly, half left to ffi.gc
            oc.close()
            ex.close()
            v.close()

    for i in range(1000):  # warm up allocator and caches
        cycle(i)
    gc.collect()
    before = _rss_bytes()
    for i in range(10000):
        cycle(i)
    gc.collect()
    growth = _rss_bytes() - before
    record_property("rss_growth_bytes", growth)
    print("RSS growth over 10000 cycles: %d KiB" % (growth // 1024))
    # Each cycle allocates ~4 KiB of frames plus the handles: a leak of
    # any of them would add >= 40 MB.
    assert growth < 4 * 1024 * 1024, growth
