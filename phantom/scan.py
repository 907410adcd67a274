"""Scanning: probe trajectories for the videos of one exam.

A video is a sequence of probe poses built from segments.  Each "visit"
segment targets a nodule (or a close pair) with a view (transverse,
longitudinal, radial, anti-radial, oblique) and a motion (sweep, fan,
rotate, dwell with compression) sized so the nodule stays visible for about
a planned number of frames; transit segments move the probe between visits
(and may pass other nodules).  Hand tremor and breathing are added on top.
"""

import math

import numpy as np
from scipy import ndimage

from .anatomy import SIZE_MM

VIEWS = ("transverse", "longitudinal", "radial", "antiradial", "oblique")
NIPPLE = (SIZE_MM[0] / 2, SIZE_MM[1] / 2)


def view_angle(rng, view, centre):
    """Azimuth of the probe's lateral axis for a named view."""
    if view == "transverse":
        th = 0.0
    elif view == "longitudinal":
        th = math.pi / 2
    elif view in ("radial", "antiradial"):
        th = math.atan2(centre[1] - NIPPLE[1], centre[0] - NIPPLE[0])
        if view == "antiradial":
            th += math.pi / 2
    else:
        th = rng.uniform(0, math.pi)
    return th + math.radians(rng.normal(0, 8))


def sample_length(rng, cfg):
    v = cfg["len_median"] * math.exp(cfg["len_sigma"] * rng.standard_normal())
    return int(np.clip(round(v), cfg["len_min"], cfg["len_cap"]))


def _poses(n):
    return {k: np.zeros(n) for k in ("cx", "cy", "theta", "phi", "strain")}


def _compression(rng, n, cfg, amount):
    if amount <= 0 or n < 8:
        return np.zeros(n)
    period = rng.uniform(30, 90)
    t = np.arange(n)
    return amount * 0.5 * (1 - np.cos(2 * math.pi * t / period + rng.uniform(0, 0.5)))


def visit_segment(rng, cfg, img_w_mm, nods, length, view=None):
    """Poses for a visit of one nodule (or a pair) visible ~length frames."""
    centre = np.mean([n.centre for n in nods], axis=0)
    if len(nods) == 2:
        d = nods[1].centre - nods[0].centre
        theta = math.atan2(d[1], d[0]) + math.radians(rng.normal(0, 5))
        view = "pair"
        lat = 0.0
    else:
        view = view or VIEWS[int(rng.integers(len(VIEWS)))]
        theta = view_angle(rng, view, centre)
        room = max(0.0, img_w_mm / 2 - nods[0].extent - 2.0)
        lat = rng.uniform(-0.6, 0.6) * room
    u = np.array([math.cos(theta), math.sin(theta)])
    e = np.array([-math.sin(theta), math.cos(theta)])
    e3 = np.array([e[0], e[1], 0.0])
    h = max(n.half_extent_along(e3) for n in nods)
    hv = 0.85 * h
    zc = float(centre[2])
    base = centre[:2] - lat * u
    if length < 60:
        motion = "sweep" if rng.random() < 0.6 else "fan"
    elif length < 200:
        motion = str(rng.choice(["sweep", "fan", "rotate", "dwell"], p=[0.3, 0.2, 0.25, 0.25]))
    else:
        motion = "rotate" if rng.random() < 0.35 else "dwell"
    if view == "pair" and motion == "rotate":
        motion = "dwell"
    comp = cfg["max_compression"] * rng.uniform(0.3, 1.0) if (
        motion == "dwell" or rng.random() < 0.25) else 0.0
    if motion in ("sweep", "fan"):
        v = float(np.clip(2 * hv / max(length, 1), 0.015, 3.5))
        m1, m2 = rng.uniform(1.0, 4.0, 2)
        # Approach and leave faster than the pass over the nodule.
        va = max(v, rng.uniform(0.35, 0.7))
        s = np.concatenate([np.arange(-(h + m1), -h, va), np.arange(-h, h, v),
                            np.arange(h, h + m2, va)])
        n = len(s)
        if rng.random() < 0.5:
            s = -s
        p = _poses(n)
        if motion == "sweep":
            p["cx"] = base[0] + s * e[0]
            p["cy"] = base[1] + s * e[1]
            p["phi"][:] = math.radians(rng.normal(0, 4))
        else:
            sp = rng.uniform(-3, 3)
            p["cx"][:] = base[0] + sp * e[0]
            p["cy"][:] = base[1] + sp * e[1]
            p["phi"] = np.arctan2(s - sp, zc)
        p["theta"] = theta + np.linspace(0, math.radians(rng.normal(0, 6)), n)
    elif motion == "rotate":
        n = length + int(rng.integers(2, 10))
        dth = math.radians(rng.uniform(40, 150)) * (1 if rng.random() < 0.5 else -1)
        th = theta + dth * _ease(np.linspace(0, 1, n))
        s0 = rng.uniform(-0.3, 0.3) * h
        p = _poses(n)
        p["theta"] = th
        p["cx"] = centre[0] - lat * np.cos(th) - s0 * np.sin(th)
        p["cy"] = centre[1] - lat * np.sin(th) + s0 * np.cos(th)
        p["phi"][:] = math.radians(rng.normal(0, 4))
    else:  # dwell: rocking in elevation, slow drift, compression cycles
        n = length + int(rng.integers(2, 10))
        t = np.arange(n)
        s = 0.35 * h * np.sin(2 * math.pi * t / rng.uniform(60, 200) + rng.uniform(0, 6.3))
        drift = rng.uniform(-2, 2) * np.linspace(-1, 1, n)
        p = _poses(n)
        p["cx"] = base[0] + s * e[0] + drift * u[0]
        p["cy"] = base[1] + s * e[1] + drift * u[1]
        p["theta"] = theta + math.radians(rng.normal(0, 10)) * np.sin(
            2 * math.pi * t / rng.uniform(150, 400))
        p["phi"][:] = math.radians(rng.normal(0, 4))
    p["strain"] = _compression(rng, n, cfg, comp)
    info = {"nodules": [int(x.id) for x in nods], "view": view, "motion": motion,
            "planned_len": int(length), "frames": int(n),
            "theta_deg": round(math.degrees(theta) % 360, 2),
            "compression": round(float(comp), 4)}
    return p, info


def _ease(x):
    return x * x * (3 - 2 * x)


def transit(rng, a, b, n):
    """Move from the last pose of a to the first pose of b in n frames."""
    p = _poses(n)
    w = _ease(np.linspace(0, 1, n + 2)[1:-1])
    for k in p:
        x0, x1 = a[k][-1], b[k][0]
        if k == "theta":
            d = (x1 - x0 + math.pi / 2) % math.pi - math.pi / 2   # planes: mod pi
            x1 = x0 + d
        p[k] = x0 + (x1 - x0) * w
    return p


def _concat(parts):
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _align_theta(prev_last, p):
    """Shift a segment's theta by k*pi so it continues prev_last (same plane)."""
    d = p["theta"][0] - prev_last
    k = round(d / math.pi)
    if k:
        p["theta"] = p["theta"] - k * math.pi
    return p


def plan_exam(rng, patient, cfg):
    """Returns a list of videos: (poses dict of per-frame arrays, segments)."""
    img_w = cfg["width"] * cfg["px_mm"]
    nods = patient.nodules
    visits = []
    for nod in nods:
        k = 1 + int(rng.poisson(max(cfg["visits_per_nodule"] - 1.0, 0.0)))
        # Each visit of a nodule uses a different view (cycling through all).
        views = [VIEWS[j] for j in rng.permutation(len(VIEWS))]
        for j in range(min(k, 10)):
            visits.append(([nod], views[j % len(views)]))
    if len(nods) >= 2 and rng.random() < cfg["p_pair_visit"]:
        pairs = [(i, j) for i in range(len(nods)) for j in range(i + 1, len(nods))
                 if np.linalg.norm(nods[i].centre[:2] - nods[j].centre[:2])
                 + nods[i].extent + nods[j].extent < img_w - 4]
        if pairs:
            i, j = pairs[int(rng.integers(len(pairs)))]
            visits.append(([nods[i], nods[j]], "pair"))
    order = rng.permutation(len(visits))
    visits = [visits[i] for i in order]
    probs = np.array(cfg["visits_per_video"], float)
    probs /= probs.sum()
    videos = []
    i = 0
    while i < len(visits):
        k = 1 + int(rng.choice(len(probs), p=probs))
        group = visits[i:i + k]
        i += k
        parts, segs = [], []
        frame = 0
        for nset, view in group:
            p, info = visit_segment(rng, cfg, img_w, nset, sample_length(rng, cfg), view)
            if parts:
                p = _align_theta(parts[-1]["theta"][-1], p)
                dist = math.hypot(p["cx"][0] - parts[-1]["cx"][-1], p["cy"][0] - parts[-1]["cy"][-1])
                nt = int(np.clip(dist / 1.2, 4, 40)) + int(rng.integers(0, 6))
                parts.append(transit(rng, parts[-1], p, nt))
                segs.append({"type": "transit", "start": frame, "frames": nt})
                frame += nt
            else:
                lead = int(rng.integers(2, 8))
                parts.append({k2: np.repeat(v[:1], lead) for k2, v in p.items()})
                segs.append({"type": "lead-in", "start": 0, "frames": lead})
                frame += lead
            info["start"] = frame
            parts.append(p)
            segs.append(dict(type="visit", **info))
            frame += len(p["cx"])
        tail = int(rng.integers(2, 8))
        parts.append({k2: np.repeat(v[-1:], tail) for k2, v in parts[-1].items()})
        segs.append({"type": "tail", "start": frame, "frames": tail})
        poses = _concat(parts)
        _add_motion_noise(rng, poses, cfg)
        videos.append((poses, segs))
    return videos


def _add_motion_noise(rng, p, cfg):
    n = len(p["cx"])
    def smooth(amp, sigma):
        x = ndimage.gaussian_filter1d(rng.standard_normal(n), sigma, mode="nearest")
        return amp * x / (x.std() + 1e-9) if n > 1 else np.zeros(n)
    p["cx"] = p["cx"] + smooth(cfg["jitter_mm"], 3.0)
    p["cy"] = p["cy"] + smooth(cfg["jitter_mm"], 3.0)
    p["theta"] = p["theta"] + smooth(math.radians(cfg["jitter_deg"]), 4.0)
    p["phi"] = p["phi"] + smooth(math.radians(cfg["jitter_deg"]), 4.0)
    amp = rng.uniform(*cfg["breathing_mm"])
    per = rng.uniform(75, 125)
    ph = rng.uniform(0, 2 * math.pi)
    t = np.arange(n)
    p["bz"] = amp * np.sin(2 * math.pi * t / per + ph)
    p["by"] = 0.3 * amp * np.sin(2 * math.pi * t / per + ph + 0.5)
    p["bx"] = 0.2 * amp * np.sin(2 * math.pi * t / per + ph + 1.0)
    p["strain"] = np.clip(p["strain"], 0.0, 0.3)


def pose_at(p, t):
    return {k: float(v[t]) for k, v in p.items()}
