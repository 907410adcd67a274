"""Realism checks: speckle statistics, intensity histograms, contact sheet.

    python3 -m phantom realism --data DATASET_DIR --out REPORT_DIR \
        [--dicom DICOM_DIR]   (e.g. the shared data's dicom/ folder)

Numbers (written to REPORT_DIR/realism.json):
  * pre-log envelope SNR (mean/std) in a homogeneous, densely scattering
    region of a rendered phantom: 1.91 for fully developed speckle
    (Rayleigh); also on that region's 8-bit output.
  * "like with like" 8-bit patch SNR on log-compressed data: median
    mean/std over homogeneous 16x16 patches, selected the same way on the
    real DICOM loops and on the phantom's decoded videos.
  * intensity histograms (8-bit) of both, plotted to histograms.png.
  * contact_sheet.png: phantom frames with ground-truth boxes, and real frames.
"""

import argparse
import glob
import json
import math
import os
import types

import numpy as np

RAYLEIGH_SNR = math.sqrt(math.pi / (4 - math.pi))   # 1.913


def homogeneous_envelope(seed=0, width=320, height=240, px_mm=0.15, frames=4, knobs=None):
    """Render frames of a uniform, densely scattering, non-attenuating medium.

    Returns (envelope stack, 8-bit stack) for the central region."""
    from .render import Imaging, render, noise_table
    noise_table()
    vol = np.ones((8, 8, 8), np.complex64)
    vol.imag = 0.0
    an = types.SimpleNamespace(volume=vol, gland_level=1.0, alpha0=0.0)
    rng = np.random.default_rng(seed)
    pat = types.SimpleNamespace(anatomy=an, nodules=[],
                                lattice_rot=(math.cos(0.7), math.sin(0.7)),
                                lattice_off=tuple(rng.uniform(0, 1000, 3)))
    img = Imaging(width, height, px_mm, rng, knobs or {})
    envs, outs = [], []
    for t in range(frames):
        pose = {"cx": 45.0, "cy": 45.0 + 3.0 * t, "theta": 0.3 + 0.5 * t, "phi": 0.0,
                "strain": 0.0, "bx": 0.0, "by": 0.0, "bz": 0.0}
        frame, _, env, _ = render(img, pat, pose, want_env=True)
        h0, h1 = height // 8, height - height // 8
        w0, w1 = width // 8, width - width // 8
        envs.append(env[h0:h1, w0:w1])
        outs.append(frame[h0:h1, w0:w1])
    return np.stack(envs), np.stack(outs)


def envelope_snr(env):
    env = np.asarray(env, np.float64)
    return float(env.mean() / env.std())


def patch_snr(frames, size=16, valid=None, lo=30, hi=225, max_rel=0.12):
    """Median mean/std over homogeneous patches of 8-bit frames.

    A patch is homogeneous when its four quadrant means differ by at most
    max_rel of the patch mean and its mean lies in [lo, hi] (away from black
    background and saturation).  valid: optional boolean mask of usable
    pixels (same shape as a frame), all pixels of a patch must be valid."""
    vals = []
    for f in frames:
        f = np.asarray(f, np.float64)
        H, W = f.shape
        for y in range(0, H - size + 1, size):
            for x in range(0, W - size + 1, size):
                if valid is not None and not valid[y:y + size, x:x + size].all():
                    continue
                p = f[y:y + size, x:x + size]
                m = p.mean()
                if not lo <= m <= hi:
                    continue
                h = size // 2
                q = [p[:h, :h].mean(), p[:h, h:].mean(), p[h:, :h].mean(), p[h:, h:].mean()]
                if (max(q) - min(q)) > max_rel * m:
                    continue
                s = p.std()
                if s > 0:
                    vals.append(m / s)
    if not vals:
        return {"patches": 0}
    v = np.array(vals)
    return {"patches": int(v.size), "median": round(float(np.median(v)), 3),
            "p25": round(float(np.percentile(v, 25)), 3), "p75": round(float(np.percentile(v, 75)), 3)}


def hist_stats(pixels):
    a = np.asarray(pixels).ravel().astype(np.float64)
    h = np.bincount(a.astype(np.int64), minlength=256)[:256] / max(a.size, 1)
    return {"mean": round(float(a.mean()), 2), "std": round(float(a.std()), 2),
            "p5": float(np.percentile(a, 5)), "p50": float(np.percentile(a, 50)),
            "p95": float(np.percentile(a, 95))}, h


def load_dicom_loops(dicom_dir):
    """Grey frames and a usable-pixel mask per real DICOM loop (pydicom).

    Palette-colour loops are mapped through their LUT; only grey pixels
    (R == G == B, i.e. not colour Doppler or coloured overlay) inside the
    image's non-black support are kept."""
    import pydicom
    from pydicom.pixel_data_handlers.util import apply_color_lut
    out = []
    for path in sorted(glob.glob(os.path.join(dicom_dir, "*.dcm"))):
        ds = pydicom.dcmread(path)
        a = ds.pixel_array
        if a.ndim == 2:
            a = a[None]
        if ds.PhotometricInterpretation == "PALETTE COLOR":
            rgb = apply_color_lut(a, ds).astype(np.float64)
            if rgb.max() > 255:
                rgb = rgb / 257.0
            grey = (rgb[..., 0] == rgb[..., 1]) & (rgb[..., 1] == rgb[..., 2])
            frames = np.clip(rgb[..., 0], 0, 255).astype(np.uint8)
            valid = grey.all(axis=0)
        else:
            frames = a.astype(np.uint8)
            valid = np.ones(frames.shape[1:], bool)
        # Usable support: pixels that are not black in most frames (the
        # sector), which excludes the background around the image.
        support = (frames > 8).mean(axis=0) > 0.5
        out.append({"file": os.path.basename(path), "frames": frames, "valid": valid & support})
    return out


def dataset_frames(data_dir, max_videos=6, per_video=6):
    from .video import read_frames
    ds = json.load(open(os.path.join(data_dir, "dataset.json")))
    exams = [p for s in ("train", "val", "test") for p in ds["splits"][s]]
    picked = []
    for ep in sorted(exams):
        ex = json.load(open(os.path.join(data_dir, ep)))
        for v in ex["videos"]:
            picked.append((os.path.join(data_dir, os.path.dirname(ep)), ex, v))
    picked = picked[:max_videos]
    out = []
    for d, ex, v in picked:
        fr = read_frames(os.path.join(d, v["path"]), v["width"], v["height"])
        idx = np.linspace(0, len(fr) - 1, per_video).round().astype(int)
        boxes = {}
        for t in v["tracklets"]:
            allb = ex["meta"]["videos"][v["id"]]["boxes"][t["id"]]
            for f in idx:
                if t["start"] <= f <= t["end"]:
                    boxes.setdefault(int(f), []).append((t["nodule"], allb[f - t["start"]]))
        out.append({"exam": ex["exam_id"], "video": v["id"], "frames": fr, "idx": idx, "boxes": boxes})
    return out


def contact_sheet(samples, real, path, cols=6):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle
    rows = len(samples) + (1 if real else 0)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 2.4, rows * 1.9))
    axes = np.atleast_2d(axes)
    for r, s in enumerate(samples):
        for c, f in enumerate(s["idx"][:cols]):
            ax = axes[r, c]
            ax.imshow(s["frames"][f], cmap="gray", vmin=0, vmax=255)
            for nid, b in s["boxes"].get(int(f), []):
                ax.add_patch(Rectangle((b[0] - 0.5, b[1] - 0.5), b[2], b[3], fill=False,
                                       color="yellow", lw=0.8))
                ax.text(b[0], b[1] - 2, str(nid), color="yellow", fontsize=6)
            ax.set_title("%s %s f%d" % (s["exam"], s["video"], f), fontsize=6)
            ax.axis("off")
    if real:
        k = 0
        for loop in real:
            for f in np.linspace(0, len(loop["frames"]) - 1, 3).round().astype(int):
                if k < cols:
                    ax = axes[-1, k]
                    ax.imshow(loop["frames"][f], cmap="gray", vmin=0, vmax=255)
                    ax.set_title("real: %s f%d" % (loop["file"][:16], f), fontsize=6)
                    k += 1
        for ax in axes[-1]:
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_histograms(hists, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for name, h in hists.items():
        ax.plot(np.arange(256), h, label=name, lw=1)
    ax.set_xlabel("8-bit intensity")
    ax.set_ylabel("fraction of pixels")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m phantom realism")
    ap.add_argument("--data", required=True, help="a generated dataset directory")
    ap.add_argument("--out", required=True)
    ap.add_argument("--dicom", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                    "shared", "data", "dicom"))
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    res = {}
    env, out8 = homogeneous_envelope()
    res["homogeneous_prelog_envelope_snr"] = round(envelope_snr(env), 4)
    res["rayleigh_snr"] = round(RAYLEIGH_SNR, 4)
    res["homogeneous_8bit_snr"] = round(float(out8.mean() / out8.std()), 3)
    res["homogeneous_8bit_patch_snr"] = patch_snr(out8)
    samples = dataset_frames(a.data)
    ph = np.concatenate([s["frames"] for s in samples])
    res["phantom_8bit_patch_snr"] = patch_snr(ph[::3])
    res["phantom_8bit_patch_snr_8px"] = patch_snr(ph[::3], size=8)
    st, h_ph = hist_stats(ph)
    res["phantom_histogram"] = st
    hists = {"phantom (all frames)": h_ph}
    real = []
    if os.path.isdir(a.dicom):
        real = load_dicom_loops(a.dicom)
        res["real"] = {}
        for loop in real:
            st, h = hist_stats(loop["frames"][:, loop["valid"]])
            res["real"][loop["file"]] = {"frames": int(len(loop["frames"])),
                                         "shape": list(loop["frames"].shape[1:]),
                                         "patch_snr": patch_snr(loop["frames"], valid=loop["valid"]),
                                         "patch_snr_8px": patch_snr(loop["frames"], size=8,
                                                                    valid=loop["valid"]),
                                         "histogram": st}
            hists["real " + loop["file"]] = h
    contact_sheet(samples, real, os.path.join(a.out, "contact_sheet.png"))
    plot_histograms(hists, os.path.join(a.out, "histograms.png"))
    with open(os.path.join(a.out, "realism.json"), "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    print(json.dumps(res, indent=1))
    return 0
