#!/usr/bin/python3
"""Cross-check libnoduleid's crop + resize (nid_crop_resize) against
PyTorch and OpenCV, through tests/clip_driver.

  crop       pixel rectangle [floor(x - m w), ceil(x + w + m w)) (same in y),
             padded with zeros or the edge pixel: numpy slicing of np.pad
  bilinear   torch.nn.functional.interpolate(mode="bilinear",
             align_corners=False), float32
  nearest    source index floor((dst + 0.5) * in / out) in exact integers
             (must match pixel for pixel); agreement with torch
             "nearest-exact" is reported too
  area       shrinking axes: an exact box-filter matrix written here from
             the definition, and cv2.resize(INTER_AREA) on float32 where
             OpenCV's tables are exact (it drops overlaps < 1e-3 pixel),
             and torch adaptive_avg_pool2d for integer factors; growing
             axes: torch bilinear
  channels   gray replicated to 3; RGB -> 1 as 0.299 R + 0.587 G + 0.114 B

Values are compared as pixel / 255 (driver: mean 0, std 1) within 1e-4.

Usage: check_clip_torch.py PATH/TO/clip_driver
Exits 1 on any failure.
"""
import math
import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np
import torch
import torch.nn.functional as F

DRIVER = sys.argv[1] if len(sys.argv) > 1 else "./clip_driver"
TMP = tempfile.mkdtemp(prefix="nid_clip_")
TOL = 1e-4
AREA, BILINEAR, NEAREST = 0, 1, 2
PAD_ZERO, PAD_REPLICATE = 0, 1
rng = np.random.default_rng(20230801)
failures = []
worst = {}


def crop(img, box, margin, pad):
    """img: H x W x C float64. Returns the padded crop (ch x cw x C)."""
    x, y, w, h = (float(np.float32(v)) for v in box)
    m = np.float32(margin)
    # margin * size is rounded to float32, then all in double
    mx, my = float(m * np.float32(w)), float(m * np.float32(h))
    x0, x1 = math.floor(x - mx), math.ceil(x + w + mx)
    y0, y1 = math.floor(y - my), math.ceil(y + h + my)
    x1 = max(x1, x0 + 1)
    y1 = max(y1, y0 + 1)
    H, W = img.shape[:2]
    xs, ys = np.arange(x0, x1), np.arange(y0, y1)
    if pad == PAD_REPLICATE:
        return img[np.clip(ys, 0, H - 1)][:, np.clip(xs, 0, W - 1)]
    out = np.zeros((len(ys), len(xs), img.shape[2]))
    vy, vx = (ys >= 0) & (ys < H), (xs >= 0) & (xs < W)
    out[np.ix_(vy, vx)] = img[ys[vy]][:, xs[vx]]
    return out


def torch_resize(c, oh, ow, mode):
    t = torch.from_numpy(np.ascontiguousarray(c.transpose(2, 0, 1))[None])
    t = t.float()
    kw = {"align_corners": False} if mode == "bilinear" else {}
    r = F.interpolate(t, size=(oh, ow), mode=mode, **kw)
    return r[0].numpy().transpose(1, 2, 0).astype(np.float64)


def box_matrix(n_in, n_out):
    """Exact area weights: output j averages [j s, (j + 1) s), s = in/out."""
    s = n_in / n_out
    m = np.zeros((n_out, n_in))
    for j in range(n_out):
        a, b = j * s, (j + 1) * s
        for i in range(int(math.floor(a)), min(int(math.ceil(b)), n_in)):
            m[j, i] = (min(i + 1, b) - max(i, a)) / s
    return m


def bilinear_matrix(n_in, n_out):
    s = n_in / n_out
    m = np.zeros((n_out, n_in))
    for j in range(n_out):
        src = max((j + 0.5) * s - 0.5, 0.0)
        i0 = int(src)
        i1 = i0 + 1 if i0 < n_in - 1 else i0
        l1 = src - i0
        m[j, i0] += 1 - l1
        m[j, i1] += l1
    return m


def area_reference(c, oh, ow):
    ch, cw = c.shape[:2]
    my = box_matrix(ch, oh) if ch > oh else bilinear_matrix(ch, oh)
    mx = box_matrix(cw, ow) if cw > ow else bilinear_matrix(cw, ow)
    return np.einsum("ij,jkc,lk->ilc", my, c, mx)


def cv2_clean(n_in, n_out):
    """True when OpenCV's area table for this axis is exact: no partial
    overlap within 1e-3 of a pixel boundary."""
    s = n_in / n_out
    for j in range(n_out + 1):
        f = j * s
        frac = f - math.floor(f)
        if 0 < frac < 2e-3 or 1 - 2e-3 < frac < 1:
            return False
    return True


def cv2_area(c, oh, ow):
    r = cv2.resize(c.astype(np.float32), (ow, oh), interpolation=cv2.INTER_AREA)
    if r.ndim == 2:
        r = r[:, :, None]
    return r.astype(np.float64)


def compare(name, got, want, exact=False):
    err = float(np.max(np.abs(got - want))) if got.size else 0.0
    worst[name] = max(worst.get(name, 0.0), err)
    if err > (1e-6 if exact else TOL):
        failures.append(f"{name}: max |diff| {err:.3g}")


def main():
    images = {
        "gray": rng.integers(0, 256, (120, 160, 1), dtype=np.uint8),
        "rgb": rng.integers(0, 256, (61, 97, 3), dtype=np.uint8),
    }
    # smooth content as well, where interpolation errors would show less
    # but the geometry must still agree
    yy, xx = np.mgrid[0:120, 0:160]
    images["smooth"] = (127 + 120 * np.sin(xx / 9.0) * np.cos(yy / 7.0)
                        ).astype(np.uint8)[:, :, None]
    paths = {}
    for k, im in images.items():
        paths[k] = os.path.join(TMP, k + ".raw")
        im.tofile(paths[k])

    out_sizes = [(256, 128), (37, 23), (64, 64), (7, 200), (120, 160),
                 (30, 40), (1, 1)]
    cases = []
    for i in range(150):
        name = ["gray", "rgb", "smooth"][i % 3]
        im = images[name]
        H, W = im.shape[:2]
        kind = i % 5
        if kind == 0:      # well inside
            w, h = rng.uniform(8, W / 2), rng.uniform(8, H / 2)
            x, y = rng.uniform(0, W - w), rng.uniform(0, H - h)
        elif kind == 1:    # touching a border, margin goes outside
            w, h = rng.uniform(5, 40), rng.uniform(5, 40)
            x = rng.choice([0.0, W - w])
            y = rng.choice([0.0, H - h])
        elif kind == 2:    # tiny box, big upscale
            w, h = rng.uniform(1, 4), rng.uniform(1, 4)
            x, y = rng.uniform(0, W - w), rng.uniform(0, H - h)
        elif kind == 3:    # the whole frame
            x, y, w, h = 0.0, 0.0, float(W), float(H)
        else:              # integer box, integer-factor shrinking
            oh, ow = 30, 40
            fy = int(rng.integers(1, H // oh + 1))
            fx = int(rng.integers(1, W // ow + 1))
            h, w = oh * fy, ow * fx
            x, y = float(rng.integers(0, W - w + 1)), float(rng.integers(0, H - h + 1))
        margin = float(rng.choice([0.0, 0.1, 0.25, 0.5])) if kind != 4 else 0.0
        filt = i % 3 if kind != 4 else AREA
        oh, ow = (out_sizes[int(rng.integers(0, len(out_sizes)))]
                  if kind != 4 else (30, 40))
        ch = int(rng.choice([1, 3]))
        pad = int(rng.integers(0, 2))
        fmt = 1 if name == "rgb" else 0
        out = os.path.join(TMP, f"out{i}.f32")
        box = (np.float32(x), np.float32(y), np.float32(w), np.float32(h))
        cases.append((name, box, margin, filt, oh, ow, ch, pad, fmt, out))

    cases_path = os.path.join(TMP, "cases.txt")
    with open(cases_path, "w") as f:
        for (name, box, margin, filt, oh, ow, ch, pad, fmt, out) in cases:
            H, W = images[name].shape[:2]
            f.write(f"{paths[name]} {W} {H} {fmt} "
                    f"{box[0]!r} {box[1]!r} {box[2]!r} {box[3]!r} "
                    f"{margin!r} {filt} {oh} {ow} {ch} {pad} {out}\n")
    # repr of np.float32 prints the shortest text that reads back exactly
    subprocess.run([DRIVER, cases_path], check=True)

    n_cv2 = n_pool = n_torch_nearest_equal = n_nearest = 0
    for idx, (name, box, margin, filt, oh, ow, ch, pad, fmt, out) in \
            enumerate(cases):
        img = images[name].astype(np.float64)
        got = np.fromfile(out, dtype=np.float32).reshape(ch, oh, ow)
        got = got.transpose(1, 2, 0).astype(np.float64) * 255.0
        c = crop(img, box, margin, pad)
        cs = c.shape
        tag = f"case {idx} ({name}, box {tuple(float(v) for v in box)}, " \
              f"margin {margin}, filter {filt}, {oh}x{ow}, crop {cs[0]}x{cs[1]})"
        if filt == BILINEAR:
            want = torch_resize(c, oh, ow, "bilinear")
        elif filt == NEAREST:
            ys = np.minimum(((2 * np.arange(oh) + 1) * cs[0]) // (2 * oh), cs[0] - 1)
            xs = np.minimum(((2 * np.arange(ow) + 1) * cs[1]) // (2 * ow), cs[1] - 1)
            want = c[ys][:, xs]
            t = torch_resize(c, oh, ow, "nearest-exact")
            n_nearest += 1
            n_torch_nearest_equal += int(np.array_equal(t, want))
        else:
            # the library is compared with the numpy box filter below;
            # here the numpy box filter is checked against OpenCV / torch
            want = area_reference(c, oh, ow)
            shrink_y, shrink_x = cs[0] > oh, cs[1] > ow
            if shrink_y and shrink_x and cv2_clean(cs[0], oh) and \
                    cv2_clean(cs[1], ow):
                compare("numpy box filter vs cv2 INTER_AREA",
                        cv2_area(c, oh, ow) / 255.0, want / 255.0)
                n_cv2 += 1
            if shrink_y and shrink_x and cs[0] % oh == 0 and cs[1] % ow == 0:
                t = torch.from_numpy(
                    np.ascontiguousarray(c.transpose(2, 0, 1))[None]).float()
                p = F.adaptive_avg_pool2d(t, (oh, ow))[0].numpy()
                compare("numpy box filter vs adaptive_avg_pool2d",
                        p.transpose(1, 2, 0).astype(np.float64) / 255.0,
                        want / 255.0)
                n_pool += 1
        # channel conversion
        if fmt == 0 and ch == 3:
            want = np.repeat(want, 3, axis=2)
        elif fmt == 1 and ch == 1:
            want = (0.299 * want[:, :, 0:1] + 0.587 * want[:, :, 1:2]
                    + 0.114 * want[:, :, 2:3])
        before = len(failures)
        compare(["area", "bilinear", "nearest"][filt], got / 255.0,
                want / 255.0, exact=(filt == NEAREST))
        if len(failures) > before:
            failures[-1] += " in " + tag

    for k, v in sorted(worst.items()):
        print(f"{k:34s} max |diff| = {v:.3g}")
    print(f"{len(cases)} cases; area also vs cv2 INTER_AREA in {n_cv2}, vs "
          f"adaptive_avg_pool2d in {n_pool}; nearest equal to torch "
          f"nearest-exact in {n_torch_nearest_equal}/{n_nearest}")
    if failures:
        print("FAILED:")
        for f in failures[:20]:
            print("  " + f)
        return 1
    print("all crops agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
