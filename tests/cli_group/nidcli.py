"""Shared helpers of the `noduleid group|embed|compare|info` tests: running
the program, the one-line error check, and a synthetic exam whose pixels
are known exactly (FFV1, lossless), so that a Python reference can rebuild
every clip and embed it with PyTorch."""
import json
import math
import os
import re
import subprocess

import numpy as np

CLI = os.environ["NID_CLI"]
SRC = os.environ["NID_SOURCE_DIR"]
MODELS = os.environ.get("NID_TEST_MODELS", "")
SAMPLE = os.path.join(SRC, "examples", "sample-exam", "P0001", "P0001-E1.json")


def run(*args, code=0, env=None, timeout=120):
    e = dict(os.environ)
    e.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if env:
        e.update(env)
    p = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True,
                       timeout=timeout, env=e)
    assert p.returncode == code, (args, p.returncode, p.stdout[-2000:],
                                  p.stderr[-2000:])
    return p


def run_json(*args, **kw):
    return json.loads(run(*args, **kw).stdout)


def assert_error(args, code, *needles, env=None):
    """A bad input: exit `code`, exactly one line on stderr beginning with
    'noduleid: ' and naming each needle, nothing on stdout."""
    p = run(*args, code=code, env=env)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("noduleid: "), lines[0]
    for n in needles:
        assert str(n) in lines[0], (n, lines[0])
    # the user's words: a library function's name only with --verbose
    if not (env or {}).get("NODULEID_VERBOSE") and "--verbose" not in args:
        assert not re.search(r"\bnid_[a-z0-9_]+: ", lines[0]), lines[0]
    assert p.stdout == "", p.stdout
    return lines[0]


def features():
    return set(run_json("version", "--json")["features"])


# ---- a synthetic exam with known pixels --------------------------------

W, H, NF = 160, 120, 30

# (video, id, nodule, key frames [(frame, [x, y, w, h]), ...])
TRACKLETS = [
    (0, "a0", 1, [(0, [20, 10, 40, 80]), (6, [24, 12, 42, 78]),
                  (11, [26, 14, 40, 80])]),
    (0, "a1", 2, [(8, [100, 20, 44, 70]), (25, [96, 24, 44, 72])]),
    (0, "a2", 1, [(20, [30, 30, 40, 80])]),      # 1 frame
    (1, "b0", 2, [(0, [90, 5, 48, 90]), (9, [92, 8, 48, 90])]),
    (1, "b1", 3, [(5, [10, 40, 50, 76]), (12, [12, 38, 52, 76]),
                  (20, [14, 36, 50, 78])]),
    (1, "b2", 1, [(15, [60, 0, 40, 80]), (29, [70, 2.5, 40.5, 80])]),
    (1, "b3", 2, [(16, [0, 44, 46, 76]), (19, [2, 43, 46, 76])]),
]


def frames_of(video):
    """The frames of video `video`: smooth background plus textured blobs,
    moving a little, as uint8 NF x H x W."""
    rng = np.random.default_rng(100 + video)
    yy, xx = np.mgrid[0:H, 0:W]
    out = np.empty((NF, H, W), np.uint8)
    base = rng.normal(0, 1, (H, W))
    for f in range(NF):
        img = 110 + 40 * np.sin((xx + 2 * f) / 11.0) * np.cos(yy / 9.0)
        img += 25 * base
        for k in range(4):
            cx = 30 + 35 * k + 3 * math.sin(f / 4 + k)
            cy = 40 + 20 * ((k + video) % 3)
            r2 = (xx - cx) ** 2 / 200.0 + (yy - cy) ** 2 / 120.0
            img -= 70 * np.exp(-r2) * (1 + 0.3 * np.sin(xx / (2 + k)))
        out[f] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return out


def make_exam(d, with_truth=True):
    """Write v0.mkv, v1.mkv (FFV1 gray) and exam.json into d; return the
    exam path and the frames of each video."""
    d = str(d)
    vids = []
    for v in range(2):
        fr = frames_of(v)
        path = os.path.join(d, "v%d.mkv" % v)
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f",
                        "rawvideo", "-pix_fmt", "gray", "-s", "%dx%d" % (W, H),
                        "-r", "25", "-i", "-", "-c:v", "ffv1", "-pix_fmt",
                        "gray", path], input=fr.tobytes(), check=True)
        vids.append(fr)
    videos = []
    for v in range(2):
        trk = []
        for (vv, tid, nod, kfs) in TRACKLETS:
            if vv != v:
                continue
            t = {"id": tid, "start": kfs[0][0], "end": kfs[-1][0],
                 "key_frames": [{"frame": f, "box": b} for f, b in kfs]}
            if with_truth:
                t["nodule"] = nod
            trk.append(t)
        videos.append({"id": "v%d" % v, "path": "v%d.mkv" % v,
                       "n_frames": NF, "fps": 25.0, "width": W, "height": H,
                       "tracklets": trk})
    exam = {"format": "noduleid-exam", "version": 1, "exam_id": "SYN-E1",
            "patient_id": "SYN", "date": "2024-02-29", "videos": videos}
    path = os.path.join(d, "exam.json")
    with open(path, "w") as f:
        json.dump(exam, f)
    return path, vids


# ---- the clip builder, independently ------------------------------------

def box_at(kfs, frame):
    """Union rule: a key frame's own box, else the bounding box of the two
    adjacent key frames' boxes."""
    for f, b in kfs:
        if f == frame:
            return [float(np.float32(v)) for v in b]
    for (f0, b0), (f1, b1) in zip(kfs, kfs[1:]):
        if f0 < frame < f1:
            b0 = [float(np.float32(v)) for v in b0]
            b1 = [float(np.float32(v)) for v in b1]
            x0, y0 = min(b0[0], b1[0]), min(b0[1], b1[1])
            x1 = max(b0[0] + b0[2], b1[0] + b1[2])
            y1 = max(b0[1] + b0[3], b1[1] + b1[3])
            return [x0, y0, x1 - x0, y1 - y0]
    raise AssertionError("frame outside the tracklet")


def box_matrix(n_in, n_out):
    """Exact area weights (shrinking only): output j averages
    [j s, (j + 1) s), s = in / out."""
    assert n_in >= n_out
    s = n_in / n_out
    m = np.zeros((n_out, n_in))
    for j in range(n_out):
        a, b = j * s, (j + 1) * s
        for i in range(int(math.floor(a)), min(int(math.ceil(b)), n_in)):
            m[j, i] = (min(i + 1, b) - max(i, a)) / s
    return m


def crop(img, box, margin):
    """Pixel rectangle [floor(x - m w), ceil(x + w + m w)) (same in y),
    m w rounded to float32, zero outside the image."""
    x, y, w, h = box
    m = np.float32(margin)
    mx, my = float(m * np.float32(w)), float(m * np.float32(h))
    x0, x1 = math.floor(x - mx), math.ceil(x + w + mx)
    y0, y1 = math.floor(y - my), math.ceil(y + h + my)
    xs, ys = np.arange(x0, x1), np.arange(y0, y1)
    out = np.zeros((len(ys), len(xs)))
    vy, vx = (ys >= 0) & (ys < img.shape[0]), (xs >= 0) & (xs < img.shape[1])
    out[np.ix_(vy, vx)] = img[ys[vy]][:, xs[vx]]
    return out


def uniform_frames(start, end, T):
    L = end - start + 1
    if T == 1:
        return [start + (L - 1) // 2]
    return [start + (2 * i * (L - 1) + (T - 1)) // (2 * (T - 1))
            for i in range(T)]


def window_frames(start, end, T, stride):
    L = end - start + 1
    if L <= T:
        return [uniform_frames(start, end, T)]
    n = 1 + (L - T + stride - 1) // stride
    out = []
    for k in range(n):
        off = min(k * stride, L - T)
        out.append([start + off + i for i in range(T)])
    return out


def clip(vids, trk, meta, frames):
    """C x T x H x W float32 clip of tracklet `trk` on `frames`."""
    inp = meta["input"]
    C, Hh, Ww = inp["channels"], inp["height"], inp["width"]
    vid, kfs = trk[0], trk[3]
    out = np.zeros((C, len(frames), Hh, Ww), np.float32)
    for i, f in enumerate(frames):
        c = crop(vids[vid][f].astype(np.float64), box_at(kfs, f),
                 meta["crop"]["margin"])
        r = box_matrix(c.shape[0], Hh) @ c @ box_matrix(c.shape[1], Ww).T
        for ch in range(C):
            out[ch, i] = (r / 255.0 - inp["mean"][ch]) / inp["std"][ch]
    return out


def load_package(path):
    """(scripted module as the C library runs it, metadata)."""
    import torch
    extra = {"noduleid.json": ""}
    torch.jit.load(path, map_location="cpu", _extra_files=extra)
    meta = json.loads(extra["noduleid.json"])
    keep = ["verify"] if meta["kind"] == "verification" else []
    opt = torch.jit.load(path, map_location="cpu")
    if hasattr(opt, "training"):
        opt = torch.jit.freeze(opt.eval(), preserved_attrs=keep)
    opt = torch.jit.optimize_for_inference(opt, keep)
    return opt, meta


def reference_embeddings(pkg, vids, windows_stride=None):
    """Embeddings of every tracklet of the synthetic exam, exam order."""
    import torch
    mod, meta = load_package(pkg)
    T = meta["input"]["frames"]
    order = sorted(range(len(TRACKLETS)), key=lambda i: TRACKLETS[i][0])
    out = [None] * len(TRACKLETS)
    with torch.no_grad():
        for i in order:
            trk = TRACKLETS[i]
            start, end = trk[3][0][0], trk[3][-1][0]
            if windows_stride:
                sets = window_frames(start, end, T, windows_stride)
            else:
                sets = [uniform_frames(start, end, T)]
            clips = np.stack([clip(vids, trk, meta, fr) for fr in sets])
            e = mod(torch.from_numpy(clips)).numpy().astype(np.float64)
            e = e.mean(axis=0)
            if meta["embedding"]["normalized"]:
                e /= np.linalg.norm(e)
            out[i] = e
    # exam order: video 0's tracklets, then video 1's (file order)
    exam_order = [i for v in range(2) for i, t in enumerate(TRACKLETS)
                  if t[0] == v]
    return np.array([out[i] for i in exam_order]), mod, meta


# ---- clustering references ---------------------------------------------

def splitmix64(state):
    mask = (1 << 64) - 1
    state = (state + 0x9E3779B97F4A7C15) & mask
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return state, z ^ (z >> 31)


def canonical(labels):
    first = {}
    return [first.setdefault(int(l), len(first)) for l in labels]


def paper(dist, tau, seed):
    """Algorithm 1 of Jiang et al. 2023 with the seed draws documented in
    noduleid.h (splitmix64, rejection below 2^64 mod m)."""
    n = len(dist)
    labels = [-1] * n
    state, k = seed, 0
    while -1 in labels:
        free = [i for i in range(n) if labels[i] == -1]
        m = len(free)
        lim = (1 << 64) % m
        while True:
            state, r = splitmix64(state)
            if r >= lim:
                break
        s = free[r % m]
        labels[s] = k
        members = [s]
        for i in range(n):
            if labels[i] == -1 and any(dist[i][j] < tau for j in members):
                labels[i] = k
                members.append(i)
        k += 1
    return canonical(labels)


def components(dist, tau, items):
    """Connected components of the graph d < tau on `items`: labels in
    the order of `items`, and the number of components."""
    parent = {i: i for i in items}

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i
    for a in items:
        for b in items:
            if a < b and dist[a][b] < tau:
                parent[find(a)] = find(b)
    roots = [find(i) for i in items]
    return canonical(roots), len(set(roots))


def gap_threshold(dist):
    """A tau between two distinct distances with room on both sides, in
    the middle of the range, so that float rounding cannot move a pair
    across it."""
    n = len(dist)
    d = sorted(dist[i][j] for i in range(n) for j in range(i + 1, n))
    lo, hi = len(d) // 4, 3 * len(d) // 4
    best = max(range(lo, hi), key=lambda i: d[i + 1] - d[i])
    assert d[best + 1] - d[best] > 2e-3, "no clear gap in the distances"
    return (d[best] + d[best + 1]) / 2


# ---- shared by the test files ---------------------------------------------

EMB_TOL = 2e-4   # C (oneDNN, optimize_for_inference) against Python torch
FEAT = features()


def _needs_model():
    import pytest
    return pytest.mark.skipif(
        not {"torch", "video"} <= FEAT or not MODELS,
        reason="needs a build with libtorch and FFmpeg, and NID_TEST_MODELS")


needs_model = _needs_model()


def pkg(name):
    return os.path.join(MODELS, name)


def cos_sim(e):
    u = e / np.linalg.norm(e, axis=1, keepdims=True)
    return np.clip(u @ u.T, -1, 1)
