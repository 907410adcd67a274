"""Image formation: scatterer field -> PSF -> envelope -> attenuation/gain ->
log compression -> 8-bit, for one probe plane at a time (linear probe).

The scatterers are a fixed periodic 3-D complex Gaussian lattice (shared by
all patients, rotated and offset per patient) sampled by trilinear
interpolation at the tissue position of every pixel.  The lattice is fine in
depth (axial) and coarser horizontally, which mimics the elevational beam
thickness: the same tissue point gives the same speckle in neighbouring
frames and speckle decorrelates smoothly as the plane moves.  Multiplying by
the tissue's mean backscatter amplitude and convolving with a separable PSF
(Gaussian-modulated cosine axially, depth-dependent Gaussian laterally) gives
complex IQ whose magnitude is a Rayleigh-distributed envelope where the
scatterers are dense (fully developed speckle).
"""

import math

import numpy as np
from scipy import ndimage

from .anatomy import GRID_MM

# Scatterer lattice: spacing (mm) and period (cells) per axis.
LATTICE_MM = (0.40, 0.40, 0.11)
LATTICE_N = (127, 113, 331)
LATTICE_SEED = 20260105
# Linear interpolation of white noise scales its variance by 2/3 per
# interpolated axis on average; divide it out so unit echo gives unit RMS.
_TRI_RMS = (2.0 / 3.0) ** 1.0   # bilinear in x, y only (see below)

_TABLE = None
_PX_GUESS = 0.25   # upper bound of the pixel size (mm) for region padding


def noise_table():
    """The padded periodic complex scatterer table (built once per process)."""
    global _TABLE
    if _TABLE is None:
        rng = np.random.default_rng(LATTICE_SEED)
        n = LATTICE_N
        t = (rng.standard_normal(n, dtype=np.float32)
             + 1j * rng.standard_normal(n, dtype=np.float32)) * np.float32(math.sqrt(0.5))
        t = np.pad(t.astype(np.complex64), ((0, 1), (0, 1), (0, 1)), mode="wrap")
        _TABLE = np.ascontiguousarray(t)
    return _TABLE


def trilinear(arr, fx, fy, fz, periodic):
    """Trilinear sample of arr at fractional indices.  Periodic arrays must be
    padded by one cell at the high end (see noise_table)."""
    nx, ny, nz = arr.shape
    if periodic:
        fx = np.mod(fx, nx - 1)
        fy = np.mod(fy, ny - 1)
        fz = np.mod(fz, nz - 1)
    else:
        fx = np.clip(fx, 0, nx - 1.001)
        fy = np.clip(fy, 0, ny - 1.001)
        fz = np.clip(fz, 0, nz - 1.001)
    ix = fx.astype(np.int32)
    iy = fy.astype(np.int32)
    iz = fz.astype(np.int32)
    wx = fx - ix.astype(np.float32)
    wy = fy - iy.astype(np.float32)
    wz = fz - iz.astype(np.float32)
    b = (ix * ny + iy) * nz + iz
    a = arr.ravel()
    sx, sy = ny * nz, nz
    c00 = a[b] + (a[b + 1] - a[b]) * wz
    c01 = a[b + sy] + (a[b + sy + 1] - a[b + sy]) * wz
    c10 = a[b + sx] + (a[b + sx + 1] - a[b + sx]) * wz
    c11 = a[b + sx + sy] + (a[b + sx + sy + 1] - a[b + sx + sy]) * wz
    c0 = c00 + (c01 - c00) * wy
    c1 = c10 + (c11 - c10) * wy
    return c0 + (c1 - c0) * wx


def bilinear_xy_nearest_z(arr, fx, fy, fz):
    """Periodic sample of a padded complex64 table: bilinear in x, y, nearest
    in z (the fine axial lattice is below the pixel size and the axial PSF
    smooths it; x, y interpolation keeps elevational motion smooth)."""
    nx, ny, nz = arr.shape
    # Coordinates are positive (patient offsets are large), so truncation is
    # floor and an integer modulo wraps the lattice.
    ix = fx.astype(np.int32)
    iy = fy.astype(np.int32)
    iz = fz.astype(np.int32)
    wx = fx - ix.astype(np.float32)
    wy = fy - iy.astype(np.float32)
    ix %= nx - 1
    iy %= ny - 1
    iz %= nz - 1
    b = (ix * ny + iy) * nz + iz
    a = arr.ravel()
    sx, sy = ny * nz, nz
    shp = fx.shape + (2,)
    v00 = a[b].view(np.float32).reshape(shp)
    v01 = a[b + sy].view(np.float32).reshape(shp)
    v10 = a[b + sx].view(np.float32).reshape(shp)
    v11 = a[b + sx + sy].view(np.float32).reshape(shp)
    wy = wy[..., None]
    wx = wx[..., None]
    v00 += (v01 - v00) * wy
    v10 += (v11 - v10) * wy
    v00 += (v10 - v00) * wx
    return v00[..., 0], v00[..., 1]


def _upsample2(a, H, W):
    """Linear 2x upsampling of a (ceil(H/2), ceil(W/2)) array to (H, W)."""
    h, w = a.shape
    r = np.empty((2 * h, w), a.dtype)
    r[0::2] = a
    r[1:-1:2] = 0.5 * (a[:-1] + a[1:])
    r[-1] = a[-1]
    c = np.empty((2 * h, 2 * w), a.dtype)
    c[:, 0::2] = r
    c[:, 1:-1:2] = 0.5 * (r[:, :-1] + r[:, 1:])
    c[:, -1] = r[:, -1]
    return c[:H, :W]


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


class Imaging:
    """Fixed imaging geometry and per-video system settings."""

    def __init__(self, width, height, px_mm, rng, knobs):
        self.W, self.H, self.px = int(width), int(height), float(px_mm)
        k = knobs
        # Axial PSF: sigma ~0.13 mm (7.5 MHz, ~0.3 mm FWHM pulse), with a
        # residual modulation (the carrier itself is far below the pixel).
        self.sig_ax = k.get("psf_axial_mm", 0.13) * math.exp(0.1 * rng.standard_normal())
        self.mod_ax = k.get("psf_mod_mm", 0.55)
        self.sig_lat_focus = k.get("psf_lateral_mm", 0.34) * math.exp(0.1 * rng.standard_normal())
        self.focus_mm = rng.uniform(0.35, 0.65) * self.H * self.px
        self.rayleigh_mm = rng.uniform(10.0, 16.0)
        self.dr_db = rng.uniform(*k.get("dynamic_range_db", (38.0, 48.0)))
        self.gain_db = k.get("gain_db", 0.0) + rng.normal(0, 3.0)
        self.white_frac = 0.55          # gland level maps to ~45% grey
        self.tgc = rng.uniform(0.8, 1.05)  # fraction of mean attenuation undone
        self.noise_floor = k.get("noise_floor", 0.02)
        px = self.px
        ra = int(math.ceil(3.0 * self.sig_ax / px))
        za = np.arange(-ra, ra + 1) * px
        ka = np.exp(-za ** 2 / (2 * self.sig_ax ** 2)) * np.cos(2 * math.pi * za / self.mod_ax)
        self.k_ax = (ka / math.sqrt(np.sum(ka ** 2))).astype(np.float32)
        self.k_lat = []
        self.lat_sigmas = (self.sig_lat_focus, self.sig_lat_focus * 1.9)
        for s in self.lat_sigmas:
            rl = int(math.ceil(2.5 * s / px))
            zl = np.arange(-rl, rl + 1) * px
            kl = np.exp(-zl ** 2 / (2 * s * s))
            self.k_lat.append((kl / math.sqrt(np.sum(kl ** 2))).astype(np.float32))
        depth = (np.arange(self.H, dtype=np.float32) + 0.5) * px
        self.depth = depth
        # Lateral PSF widens away from the focus: blend two convolutions.
        w = np.sqrt(1 + ((depth - self.focus_mm) / self.rayleigh_mm) ** 2)
        s0, s1 = self.lat_sigmas
        self.lat_w = np.clip((w * s0 - s0) / (s1 - s0), 0, 1)[:, None].astype(np.float32)
        self.xlat = ((np.arange(self.W, dtype=np.float32) - (self.W - 1) / 2) * px)[None, :]
        self.zdep = depth[:, None]

    def settings(self):
        return {k: round(float(getattr(self, k)), 5) for k in
                ("sig_ax", "mod_ax", "sig_lat_focus", "focus_mm", "dr_db", "gain_db", "tgc")}


def plane_points(img, pose):
    """Tissue coordinates (3 arrays H x W, mm) of every pixel for a pose.

    pose: dict with cx, cy (probe centre on the skin), theta (azimuth of the
    lateral axis), phi (fan tilt about the lateral axis), strain (compression),
    bx, by, bz (breathing displacement)."""
    th, ph = pose["theta"], pose["phi"]
    u = np.array([math.cos(th), math.sin(th), 0.0], np.float32)
    e = np.array([-math.sin(th), math.cos(th), 0.0], np.float32)
    d = math.cos(ph) * np.array([0, 0, 1.0], np.float32) + math.sin(ph) * e
    eps = pose["strain"]
    z = img.zdep
    x = img.xlat
    if eps > 0:
        # Uniform axial strain in the top zc mm under the probe face, with
        # lateral bulging (Poisson ratio ~0.5); deeper tissue is shifted.
        zc = 25.0
        zr = np.where(z < zc * (1 - eps), z / (1 - eps), z + eps * zc)
        wz = np.clip(1 - zr / zc, 0, 1)
        x = x / (1 + 0.5 * eps * wz)
        z = zr
    ramp = np.clip(0.3 + 0.7 * z / 30.0, 0.3, 1.0)
    px = pose["cx"] + x * u[0] + z * d[0] - pose["bx"] * ramp
    py = pose["cy"] + x * u[1] + z * d[1] - pose["by"] * ramp
    pz = np.broadcast_to(z * d[2], (img.H, img.W)) - pose["bz"] * ramp
    return (np.ascontiguousarray(np.broadcast_to(px, (img.H, img.W)), dtype=np.float32),
            np.ascontiguousarray(np.broadcast_to(py, (img.H, img.W)), dtype=np.float32),
            np.ascontiguousarray(pz, dtype=np.float32))


def _nodule_region(nod, px, py, pz, margin):
    """Bounding slices of pixels within the nodule's reach, or None.

    Tested on a grid subsampled by s pixels with the reach enlarged by the
    grid's half diagonal, then widened by s pixels: conservative."""
    c = nod.centre
    s = 6
    H, W = px.shape
    pad = s * 0.75 * 1.5 * _PX_GUESS
    r = nod.extent + margin + pad
    d2 = (px[::s, ::s] - c[0]) ** 2 + (py[::s, ::s] - c[1]) ** 2 + (pz[::s, ::s] - c[2]) ** 2
    m = d2 < r * r
    rows = np.flatnonzero(m.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(m.any(axis=0))
    return (slice(max(0, rows[0] * s - s), min(H, rows[-1] * s + s + 1)),
            slice(max(0, cols[0] * s - s), min(W, cols[-1] * s + s + 1)))


def render(img, patient, pose, want_env=False):
    """Render one frame.  Returns (uint8 HxW, nodule GT list, env or None).

    GT list entries: (nodule id, area_px, (x0, y0, x1, y1) inclusive,
    (mu20, mu11, mu02) normalised central moments)."""
    px_, py_, pz_ = plane_points(img, pose)
    an = patient.anatomy
    # The background volume is smooth at its voxel scale: sample it on every
    # other pixel and interpolate.
    gx, gy, gz = (np.float32(1.0 / v) for v in GRID_MM)
    bg = trilinear(an.volume, px_[::2, ::2] * gx, py_[::2, ::2] * gy, pz_[::2, ::2] * gz,
                   periodic=False)
    echo = _upsample2(np.ascontiguousarray(bg.real), img.H, img.W)
    alpha = _upsample2(np.ascontiguousarray(bg.imag), img.H, img.W)
    gt = []
    for nod in patient.nodules:
        reg = _nodule_region(nod, px_, py_, pz_, 0.0)
        if reg is None:
            continue
        t = nod.traits
        P = np.stack([px_[reg], py_[reg], pz_[reg]], axis=-1)
        sd, tex, q = nod.evaluate(P)
        edge = max(t["edge_mm"], 0.05)
        m = _smoothstep(0.5 - sd / (2 * edge)).astype(np.float32)
        lvl = an.gland_level * t["echo_level"]
        inner = np.maximum(lvl * (1 + t["heterogeneity"] * tex), 0.02 * an.gland_level)
        e_bg = echo[reg]
        e = e_bg * (1 - m) + inner * m
        if t["halo"] != "none":
            hw = t["halo_mm"]
            h = np.exp(-((sd - 0.5 * hw) / (0.5 * hw)) ** 2) * (sd > -0.2)
            e = e * (1 + 0.9 * h) if t["halo"] == "echogenic" else e * (1 - 0.6 * h)
        a = alpha[reg]
        if t["posterior"] == "shadowing":
            a = a + m * 0.14 * t["posterior_strength"]
        elif t["posterior"] == "enhancement":
            a = a * (1 - m * t["posterior_strength"])
        cf = nod.calc_field(q)
        if cf is not None:
            e = np.maximum(e, 7.0 * an.gland_level * cf)
            a = a + cf * np.where(nod.calc_r.max() > 0.7, 1.5, 0.4)
        echo[reg] = e
        alpha[reg] = a
        hard = sd < 0
        area = int(hard.sum())
        if area:
            rr, cc = np.nonzero(hard)
            r0, c0 = reg[0].start, reg[1].start
            rm, cm = rr.mean(), cc.mean()
            mom = (float(((cc - cm) ** 2).mean()), float(((cc - cm) * (rr - rm)).mean()),
                   float(((rr - rm) ** 2).mean()))
            gt.append((nod.id, area, (c0 + int(cc.min()), r0 + int(rr.min()),
                                      c0 + int(cc.max()), r0 + int(rr.max())), mom))
    rot = patient.lattice_rot
    off = patient.lattice_off
    lx, ly, lz = LATTICE_MM
    qx = (rot[0] * px_ + rot[1] * py_) / lx + off[0]
    qy = (-rot[1] * px_ + rot[0] * py_) / ly + off[1]
    qz = pz_ / lz + off[2]
    sre, sim = bilinear_xy_nearest_z(noise_table(), qx, qy, qz)
    amp = echo * np.float32(1.0 / _TRI_RMS)
    re = ndimage.convolve1d(sre * amp, img.k_ax, axis=0, mode="reflect")
    im = ndimage.convolve1d(sim * amp, img.k_ax, axis=0, mode="reflect")
    k0, k1 = img.k_lat
    r0 = ndimage.convolve1d(re, k0, axis=1, mode="reflect")
    i0 = ndimage.convolve1d(im, k0, axis=1, mode="reflect")
    r1 = ndimage.convolve1d(re, k1, axis=1, mode="reflect")
    i1 = ndimage.convolve1d(im, k1, axis=1, mode="reflect")
    w = img.lat_w
    env = np.hypot(r0 + (r1 - r0) * w, i0 + (i1 - i0) * w)
    # Depth attenuation (round trip, includes posterior shadowing /
    # enhancement because it is integrated along each beam = column), TGC.
    cum = np.cumsum(alpha, axis=0) * img.px
    tgc = img.tgc * an.alpha0 * 1.0 * img.zdep
    out_env = env * np.exp(tgc - cum)
    db = 20.0 * np.log10(out_env + img.noise_floor) + img.gain_db
    top = img.white_frac * img.dr_db
    g8 = (db - (top - img.dr_db)) * (255.0 / img.dr_db)
    frame = np.clip(g8 + 0.5, 0, 255).astype(np.uint8)
    return frame, gt, (env if want_env else None), (echo if want_env else None)
