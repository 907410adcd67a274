"""Image formation and ground-truth rules."""

import math

import numpy as np
import pytest

from phantom.gt import eccentricity, iou, key_frames, tracklets_for_video
from phantom.realism import RAYLEIGH_SNR, envelope_snr, homogeneous_envelope, patch_snr


def test_rayleigh_speckle_prelog_envelope():
    """Fully developed speckle: envelope mean/std ~ 1.91 in a homogeneous,
    densely scattering region (pre-log envelope)."""
    env, out8 = homogeneous_envelope(seed=3, frames=3)
    snr = envelope_snr(env)
    assert abs(snr - RAYLEIGH_SNR) < 0.08, snr
    # Rayleigh: intensity (env^2) is exponential -> its mean/std is 1.
    inten = env.astype(np.float64) ** 2
    assert abs(inten.mean() / inten.std() - 1.0) < 0.08
    # Log compression raises the statistic well above 1.91 (8-bit output).
    assert patch_snr(out8)["median"] > 3.0


def test_speckle_correlated_between_neighbouring_frames():
    """The same tissue seen from a plane moved by 0.1 mm gives correlated
    speckle; 3 mm away it is decorrelated."""
    import types
    from phantom.render import Imaging, render, noise_table
    noise_table()
    vol = np.ones((8, 8, 8), np.complex64)
    vol.imag = 0
    an = types.SimpleNamespace(volume=vol, gland_level=1.0, alpha0=0.0)
    pat = types.SimpleNamespace(anatomy=an, nodules=[], lattice_rot=(1.0, 0.0),
                                lattice_off=(100.0, 200.0, 300.0))
    img = Imaging(160, 120, 0.15, np.random.default_rng(0), {})

    def frame(dy):
        pose = dict(cx=40.0, cy=40.0 + dy, theta=0.2, phi=0.0, strain=0.0, bx=0.0, by=0.0, bz=0.0)
        return render(img, pat, pose, want_env=True)[2].ravel()

    a, b, c = frame(0.0), frame(0.1), frame(3.0)
    near = np.corrcoef(a, b)[0, 1]
    far = np.corrcoef(a, c)[0, 1]
    assert near > 0.7, near
    assert abs(far) < 0.15, far


def test_iou_and_eccentricity():
    assert iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert iou([0, 0, 10, 10], [20, 20, 5, 5]) == 0.0
    assert math.isclose(iou([0, 0, 10, 10], [5, 0, 10, 10]), 50 / 150)
    assert eccentricity((1.0, 0.0, 1.0)) == 0.0
    assert math.isclose(eccentricity((4.0, 0.0, 1.0)), math.sqrt(1 - 1 / 4))


def test_key_frame_rule():
    cfg = {"kf_iou": 0.7, "kf_area": 0.35, "kf_shape": 0.2}
    # A box that stays put, then jumps at index 5, then stays.
    boxes = [[10.0, 10.0, 20.0, 20.0]] * 5 + [[40.0, 10.0, 20.0, 20.0]] * 5
    areas = np.full(10, 400.0)
    moms = [(10.0, 0.0, 10.0)] * 10
    assert key_frames(100, boxes, areas, moms, cfg) == [100, 105, 109]
    # Area grows by half without moving the box much: a key frame.
    areas2 = np.array([400.0] * 3 + [650.0] * 3)
    assert key_frames(0, boxes[:6], areas2, moms[:6], cfg) == [0, 3, 5]
    # One-frame tracklet: start == end, a single key frame.
    assert key_frames(7, boxes[:1], areas[:1], moms[:1], cfg) == [7]


def test_tracklets_are_maximal_runs():
    class N:
        def __init__(self, i):
            self.id = i
            self.max_area_mm2 = 10.0
    cfg = {"px_mm": 1.0, "min_area_mm2": 2.0, "vis_frac": 0.15, "gap_fill": 2,
           "min_len": 3, "kf_iou": 0.7, "kf_area": 0.35, "kf_shape": 0.2}
    box = (1, 1, 4, 4)
    m = (1.0, 0.0, 1.0)
    vis = [0, 5, 5, 5, 1, 5, 5, 0, 0, 0, 5, 5, 0, 5, 5, 5, 5]
    per_frame = [({7: (a, box, m)} if a else {}) for a in vis]
    tr = tracklets_for_video(per_frame, [N(7)], cfg)
    # frames 1..6 (the low-area frame 4 is filled), 10..11 too short, 13..16.
    assert [(t["start"], t["end"]) for t in tr] == [(1, 6), (13, 16)]
    assert tr[0]["boxes"][0] == [1.0, 1.0, 4.0, 4.0]
