"""Per-patient 3-D anatomy: layered breast tissue volume and nodules.

Coordinates are millimetres in the tissue frame: x, y horizontal (the skin
plane), z depth below the skin.  The background (layers, ligaments, ducts,
vessels, ribs, texture) is baked into one coarse complex volume
(real = mean backscatter amplitude, imag = amplitude attenuation per mm) so a
frame samples both with a single trilinear gather.  Nodules are analytic
(evaluated per pixel near their cross-section) so their boxes are exact.
"""

import math

import numpy as np
from scipy import ndimage

GRID_MM = (0.75, 0.75, 0.4)    # background voxel (x, y, depth): fine in depth
SIZE_MM = (90.0, 90.0, 42.0)    # x, y, depth

# Echogenicity classes of nodules: name -> (probability, amplitude range
# relative to the patient's glandular tissue level).
ECHO_CLASSES = (
    ("anechoic", 0.10, (0.05, 0.12)),
    ("hypoechoic", 0.58, (0.14, 0.45)),
    ("isoechoic", 0.20, (0.70, 0.95)),
    ("hyperechoic", 0.12, (1.25, 1.60)),
)


def _smooth_noise(rng, shape, sigma_mm, vox_per_mm, coarse=2):
    """Zero-mean unit-std smooth noise on `shape`, built on a grid `coarse`
    times coarser then linearly upsampled (cheap)."""
    cs = tuple(max(4, int(math.ceil(n / coarse)) + 1) for n in shape)
    a = rng.standard_normal(cs).astype(np.float32)
    a = ndimage.gaussian_filter(a, [max(0.5, sigma_mm * v / coarse) for v in vox_per_mm],
                                mode="wrap")
    a = ndimage.zoom(a, [n / c for n, c in zip(shape, cs)], order=1)
    a = a[tuple(slice(0, n) for n in shape)]
    a -= a.mean()
    a /= a.std() + 1e-12
    return a


def _smoothstep(x):
    """Cubic smoothstep of x clipped to [0, 1] (float32, in place on a copy)."""
    x = np.asarray(x, dtype=np.float32).copy()
    np.maximum(x, 0.0, out=x)
    np.minimum(x, 1.0, out=x)
    y = x * x
    x *= -2.0
    x += 3.0
    y *= x
    return y


def _surface(rng, nx, ny, mean, amp, sigma_vox):
    s = rng.standard_normal((nx // 4 + 2, ny // 4 + 2)).astype(np.float32)
    s = ndimage.gaussian_filter(s, sigma_vox / 4.0, mode="wrap")
    s = ndimage.zoom(s, (nx / s.shape[0], ny / s.shape[1]), order=1)[:nx, :ny]
    s = (s - s.mean()) / (s.std() + 1e-12)
    return (np.float32(mean) + np.float32(amp) * s)[:, :, None].astype(np.float32)


def _stamp_tube(dist, pts, radii):
    """Write min(dist, |p - centre| / r) for spheres along a tube."""
    nx, ny, nz = dist.shape
    g = np.array(GRID_MM)
    for p, r in zip(pts, radii):
        reach = 1.6 * r + g
        lo = np.maximum(np.floor((p - reach) / g).astype(int), 0)
        hi = np.minimum(np.ceil((p + reach) / g).astype(int) + 1, (nx, ny, nz))
        if np.any(hi <= lo):
            continue
        xs = np.arange(lo[0], hi[0]) * g[0] - p[0]
        ys = np.arange(lo[1], hi[1]) * g[1] - p[1]
        zs = np.arange(lo[2], hi[2]) * g[2] - p[2]
        d = np.sqrt(xs[:, None, None] ** 2 + ys[None, :, None] ** 2
                    + zs[None, None, :] ** 2) / r
        sub = dist[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        np.minimum(sub, d.astype(np.float32), out=sub)


def _wiggly_path(rng, start, direction, length, step, curl):
    n = max(2, int(length / step))
    d = np.asarray(direction, float)
    d /= np.linalg.norm(d)
    pts = [np.asarray(start, float)]
    for _ in range(n - 1):
        d = d + curl * rng.standard_normal(3) * np.array([1, 1, 0.3])
        d /= np.linalg.norm(d)
        pts.append(pts[-1] + step * d)
    return np.array(pts)


class Anatomy:
    """Background tissue of one patient."""

    def __init__(self, rng, knobs):
        gx, gy, gz = GRID_MM
        nx, ny, nz = (int(round(s / g)) for s, g in zip(SIZE_MM, GRID_MM))
        self.shape = shape = (nx, ny, nz)
        f32 = np.float32
        z = (np.arange(nz, dtype=f32) * f32(gz))[None, None, :]
        # Layer boundaries (depth in mm) as smooth random surfaces.
        skin_t = rng.uniform(1.5, 2.4)
        fat_t = rng.uniform(3.0, 9.0)
        gland_t = rng.uniform(12.0, 20.0)
        retro_t = rng.uniform(1.0, 3.0)
        muscle_t = rng.uniform(5.0, 9.0)
        sv = rng.uniform(20, 40) / gx
        b_skin = _surface(rng, nx, ny, skin_t, 0.15, sv)
        b_fat = b_skin + _surface(rng, nx, ny, fat_t, 1.2, sv)
        b_gland = b_fat + _surface(rng, nx, ny, gland_t, 2.5, sv)
        b_retro = b_gland + _surface(rng, nx, ny, retro_t, 0.4, sv)
        b_muscle = b_retro + _surface(rng, nx, ny, muscle_t, 1.0, sv)
        self.fat_depth = float(np.median(b_fat))
        self.gland_depth = float(np.median(b_gland))
        self.b_fat, self.b_gland = b_fat[:, :, 0], b_gland[:, :, 0]

        def below_of(b, w=0.35):
            return _smoothstep((z - b) * f32(1.0 / w) + f32(0.5))

        # Patient-specific echo levels and textures.
        lv = knobs.get("level_jitter", 0.15)
        jit = lambda: math.exp(lv * rng.standard_normal())
        self.gland_level = 1.0 * jit()
        fat_level = 0.22 * jit()
        skin_level = 1.8 * jit()
        muscle_level = 0.45 * jit()
        sig = (1.0 / gx, 1.0 / gy, 1.0 / gz)   # voxels per mm
        tex = _smooth_noise(rng, shape, rng.uniform(0.8, 2.0), sig)
        tex_amp = f32(rng.uniform(0.2, 0.45))
        lig = _smooth_noise(rng, shape, rng.uniform(3.0, 5.0), sig)
        lob = _smooth_noise(rng, shape, rng.uniform(2.0, 3.5), sig)
        mtex = _smooth_noise(rng, shape, 1.2, sig)

        # Gland: textured, with fat lobules (hypoechoic islands).
        gland = np.exp(tex_amp * tex)
        gland *= f32(self.gland_level)
        fatty = _smoothstep((lob - f32(rng.uniform(0.9, 1.6))) * f32(2.0))
        gland += (f32(fat_level) - gland) * fatty
        del fatty, lob
        # Cooper's ligaments: thin bright sheets = level sets of smooth noise.
        lig *= f32(1.0 / 0.09)
        np.square(lig, out=lig)
        np.negative(lig, out=lig)
        sheet = np.exp(lig)
        del lig
        fat = f32(fat_level) * (1 + f32(0.15) * tex) + f32(1.3) * sheet
        del sheet
        # Muscle: hypoechoic with bright striations roughly parallel to the
        # surface (an oriented cosine warped by noise).
        ang = rng.uniform(0, math.pi)
        xg = (np.arange(nx, dtype=f32) * f32(gx))[:, None, None]
        yg = (np.arange(ny, dtype=f32) * f32(gy))[None, :, None]
        slope = f32(rng.uniform(-0.12, 0.12))
        ph = z + slope * (xg * f32(math.cos(ang)) + yg * f32(math.sin(ang))) + f32(0.6) * mtex
        fib = np.cos(ph * f32(2 * math.pi / rng.uniform(1.2, 2.0)))
        np.maximum(fib, 0, out=fib)
        fib = fib * fib
        fib = fib * fib * fib
        muscle = f32(muscle_level) * (f32(0.8) + f32(0.2) * mtex) + f32(0.9) * fib
        del fib, ph, mtex

        # Layer weights from ordered boundary steps (a partition of unity).
        s1, s2 = below_of(b_skin), below_of(b_fat)
        echo = (1 - s1) * f32(skin_level) * (1 + f32(0.2) * tex)
        alpha = (1 - s1) * f32(1.0)
        echo += (s1 - s2) * fat
        alpha += (s1 - s2) * f32(0.8)
        del fat
        s3 = below_of(b_gland)
        echo += (s2 - s3) * gland
        alpha += (s2 - s3) * f32(1.1)
        del gland
        s4 = below_of(b_retro)
        echo += (s3 - s4) * f32(fat_level)
        alpha += (s3 - s4) * f32(0.8)
        below = below_of(b_muscle)
        echo += (s4 - below) * muscle
        alpha += (s4 - below) * f32(1.2)
        del s1, s2, s3, s4, muscle
        # Below the muscle: intercostal tissue.
        echo += below * f32(muscle_level * 0.9)
        alpha += below * f32(1.2)
        alpha0 = knobs.get("attenuation", 0.07) * math.exp(0.15 * rng.standard_normal())
        alpha *= f32(alpha0)
        # Fascia lines (bright) at fat/gland, gland/retro and muscle top.
        for b, s in ((b_fat, 0.8), (b_gland, 0.6), (b_retro, 1.0)):
            t = (z - b) * f32(1 / 0.35)
            np.square(t, out=t)
            np.negative(t, out=t)
            echo += f32(s) * np.exp(t)

        # Ribs (running along x) and pleura: only the deep slab.
        rib_sp = rng.uniform(20.0, 28.0)
        rib_y0 = rng.uniform(0, rib_sp)
        rib_hw, rib_hh = rng.uniform(4.5, 6.5), rng.uniform(3.0, 4.0)
        rib_top = b_muscle + f32(rng.uniform(1.0, 3.0))
        pleura_z = rib_top + f32(rib_hh + rng.uniform(1.0, 3.0))
        k0 = max(0, int((float(rib_top.min()) - 1.0) / gz))
        self.rib_top = float(np.median(rib_top))
        if k0 < nz:
            zs = z[:, :, k0:]
            dy = np.mod(yg - f32(rib_y0 - rib_sp / 2), f32(rib_sp)) - f32(rib_sp / 2)
            zc = rib_top + f32(rib_hh)
            rho = np.sqrt((dy / f32(rib_hw)) ** 2 + ((zs - zc) / f32(rib_hh)) ** 2)
            cortex = np.exp(-(((rho - 1) * f32(rib_hh / 0.4)) ** 2)) * (zs < zc)
            inner = _smoothstep((1 - rho) * f32(1 / 0.15))
            e = echo[:, :, k0:]
            e *= 1 - inner
            e += f32(3.0) * cortex + f32(0.15) * inner
            e += f32(2.0) * np.exp(-(((zs - pleura_z) * f32(1 / 0.4)) ** 2)) * (1 - inner)
            lung = _smoothstep((zs - pleura_z) * f32(2.0))
            e *= 1 - lung
            e += lung * f32(0.5)
            alpha[:, :, k0:] += f32(3.0) * inner

        # Ducts radiating from the nipple (volume centre), vessels across.
        dist = np.full(shape, 9.0, f32)
        nip = np.array([SIZE_MM[0] / 2, SIZE_MM[1] / 2, 1.5])
        lo, hi = knobs.get("ducts", (4, 9))
        for _ in range(int(rng.integers(lo, hi + 1))):
            a = rng.uniform(0, 2 * math.pi)
            start = nip + np.array([math.cos(a), math.sin(a), 0]) * rng.uniform(2, 8)
            start[2] = self.fat_depth + rng.uniform(1, 4)
            pts = _wiggly_path(rng, start, [math.cos(a), math.sin(a), rng.uniform(0.0, 0.25)],
                               rng.uniform(20, 45), 0.5, 0.05)
            r0 = rng.uniform(0.6, 1.4)
            _stamp_tube(dist, pts, r0 * np.linspace(1.0, 0.45, len(pts)))
        lumen = _smoothstep((1 - dist) * f32(4.0))
        wall = np.exp(-(((dist - f32(1.15)) * f32(5.0)) ** 2))
        echo *= 1 - lumen
        echo += f32(0.08) * lumen + f32(0.9) * wall
        alpha *= 1 - f32(0.6) * lumen
        dist[:] = 9.0
        for _ in range(int(rng.integers(1, 4))):
            a = rng.uniform(0, 2 * math.pi)
            d = np.array([math.cos(a), math.sin(a), rng.uniform(-0.1, 0.1)])
            mid = np.array([SIZE_MM[0] / 2, SIZE_MM[1] / 2,
                            rng.uniform(self.fat_depth - 3, self.gland_depth)])
            mid[:2] += rng.uniform(-25, 25, 2)
            pts = _wiggly_path(rng, mid - 60 * d, d, 120, 0.5, 0.03)
            _stamp_tube(dist, pts, np.full(len(pts), rng.uniform(0.7, 1.8)))
        lumen = _smoothstep((1 - dist) * f32(1 / 0.15))
        echo *= 1 - lumen
        echo += f32(0.03) * lumen
        alpha *= 1 - f32(0.7) * lumen
        del dist, lumen, wall

        np.maximum(echo, f32(0.01), out=echo)
        np.maximum(alpha, f32(0.0), out=alpha)
        vol = np.empty(shape, np.complex64)
        vol.real = echo
        vol.imag = alpha
        self.volume = vol
        self.alpha0 = alpha0


# --------------------------------------------------------------------------
# Nodules


def _rot(yaw, pitch, roll):
    cy, sy = math.cos(yaw), math.sin(yaw)
    cp, sp = math.cos(pitch), math.sin(pitch)
    cr, sr = math.cos(roll), math.sin(roll)
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    return rz @ ry @ rx


def _unit(rng, n):
    v = rng.standard_normal((n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def sample_nodule_traits(rng):
    """Draw one set of nodule appearance traits (independent of position)."""
    names = [c[0] for c in ECHO_CLASSES]
    probs = np.array([c[1] for c in ECHO_CLASSES])
    k = int(rng.choice(len(names), p=probs / probs.sum()))
    lo, hi = ECHO_CLASSES[k][2]
    malignant_like = rng.random() < 0.3
    t = {
        "diameter_mm": float(np.clip(9.0 * math.exp(0.35 * rng.standard_normal()), 4.0, 22.0)),
        "ratio_b": float(rng.uniform(0.55, 1.0)),
        "ratio_c": float(rng.uniform(1.0, 1.3) if (malignant_like and rng.random() < 0.5)
                         else rng.uniform(0.45, 0.9)),
        "echo_class": names[k],
        "echo_u": float(rng.random()),   # position inside the class range
        "echo_level": float(lo + (hi - lo) * rng.random()),
        "heterogeneity": float(rng.uniform(0.0, 0.6)),
        "texture_mm": float(rng.uniform(0.8, 3.0)),
        "lobes": int(rng.integers(0, 6)),
        "lobe_amp": float(rng.uniform(0.0, 0.18)),
        "spicules": int(rng.integers(8, 24)) if malignant_like else 0,
        "spicule_amp": float(rng.uniform(0.1, 0.35)) if malignant_like else 0.0,
        "edge_mm": float(rng.uniform(0.4, 0.9) if malignant_like else rng.uniform(0.08, 0.35)),
        "halo": str(rng.choice(["none", "echogenic", "hypoechoic"], p=[0.6, 0.25, 0.15])),
        "halo_mm": float(rng.uniform(0.4, 1.4)),
        "microcalcs": int(rng.integers(2, 11)) if rng.random() < (0.5 if malignant_like else 0.15) else 0,
        "macrocalc": bool(rng.random() < 0.08),
        "posterior": str("enhancement" if names[k] == "anechoic" else
                         rng.choice(["none", "enhancement", "shadowing"],
                                    p=[0.5, 0.25, 0.25] if not malignant_like else [0.35, 0.1, 0.55])),
        "posterior_strength": float(rng.uniform(0.3, 1.0)),
    }
    if t["echo_class"] == "anechoic":
        t["heterogeneity"] *= 0.2
    return t


def blend_traits(rng, proto, similarity):
    """A nodule's traits: each trait is the patient prototype's with
    probability `similarity`, otherwise an independent draw; continuous traits
    are additionally pulled towards the prototype by `similarity`."""
    own = sample_nodule_traits(rng)
    out = {}
    for key, pv in proto.items():
        ov = own[key]
        if isinstance(pv, (bool, str)) or key in ("lobes", "spicules", "microcalcs"):
            out[key] = pv if rng.random() < similarity else ov
        else:
            mix = similarity * rng.uniform(0.5, 1.0)
            out[key] = float(mix * pv + (1 - mix) * ov)
    # Keep the class-consistent fields consistent.
    if out["echo_class"] != proto["echo_class"] or out["echo_class"] != own["echo_class"]:
        lo, hi = dict((c[0], c[2]) for c in ECHO_CLASSES)[out["echo_class"]]
        out["echo_level"] = float(lo + (hi - lo) * out["echo_u"])
    if out["echo_class"] == "anechoic":
        out["posterior"] = "enhancement"
    if out["spicules"] == 0:
        out["spicule_amp"] = 0.0
    elif out["spicule_amp"] < 0.08:
        out["spicule_amp"] = 0.12
    return out


class Nodule:
    """An analytic 3-D nodule: a lobulated / spiculated ellipsoid."""

    def __init__(self, rng, nid, centre, traits):
        self.id = int(nid)
        self.traits = dict(traits)
        t = self.traits
        self.centre = np.asarray(centre, float)
        a = t["diameter_mm"] / 2.0
        # Semi-axes x (long), y, z (depth); keep the volume-equivalent size.
        ax = np.array([1.0, t["ratio_b"], t["ratio_c"]])
        ax = ax * a / np.cbrt(ax.prod())
        self.axes = ax
        self.yaw = float(rng.uniform(0, math.pi))
        self.R = _rot(self.yaw, math.radians(rng.normal(0, 8)), math.radians(rng.normal(0, 8)))
        nl = t["lobes"]
        self.lobe_dirs = _unit(rng, nl)
        self.lobe_amp = t["lobe_amp"] * rng.uniform(0.5, 1.0, nl)
        self.lobe_k = rng.uniform(2.0, 6.0, nl)
        ns = t["spicules"]
        self.spic_dirs = _unit(rng, ns)
        self.spic_amp = t["spicule_amp"] * rng.uniform(0.4, 1.0, ns)
        self.spic_k = rng.uniform(40.0, 120.0, ns)
        kvec = rng.standard_normal((6, 3))
        kvec /= np.linalg.norm(kvec, axis=1, keepdims=True)
        self.tex_k = kvec * (2 * math.pi / t["texture_mm"]) * rng.uniform(0.7, 1.3, (6, 1))
        self.tex_ph = rng.uniform(0, 2 * math.pi, 6)
        # Calcifications at random interior points (local, unit-ball coords).
        nc = t["microcalcs"]
        pts = _unit(rng, nc) * rng.uniform(0.0, 0.8, (nc, 1)) ** (1 / 3)
        self.calc_pts = pts * self.axes
        self.calc_r = rng.uniform(0.18, 0.35, nc)
        if t["macrocalc"]:
            p = _unit(rng, 1) * rng.uniform(0.0, 0.5) * self.axes
            self.calc_pts = np.vstack([self.calc_pts, p])
            self.calc_r = np.append(self.calc_r, rng.uniform(0.8, 1.5))
        self.extent = float(self.axes.max() * (1 + self.lobe_amp.sum() + self.spic_amp.max(initial=0))
                            + t["halo_mm"] + 2 * t["edge_mm"] + 0.5)
        ab = np.sort(self.axes)[-2:]
        self.max_area_mm2 = float(math.pi * ab[0] * ab[1])

    def half_extent_along(self, n):
        """Support half-width of the core ellipsoid along unit vector n."""
        m = self.R.T @ np.asarray(n, float)
        return float(np.sqrt(np.sum((m * self.axes) ** 2)))

    def params(self):
        d = dict(self.traits)
        d.update({"id": self.id, "centre_mm": [round(float(v), 4) for v in self.centre],
                  "semi_axes_mm": [round(float(v), 4) for v in self.axes],
                  "yaw_deg": round(math.degrees(self.yaw), 3)})
        return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in d.items()}

    def evaluate(self, p):
        """For tissue points p (..., 3) float32 return (signed distance in mm,
        texture in [-2, 2], local coordinates q).

        Signed distance < 0 inside.  Approximate (radial) but smooth and
        consistent across planes, which is what the images and boxes need."""
        f32 = np.float32
        c = self._cache()
        q = (p - c["centre"]) @ c["R"]
        ql = q * c["inv_axes"]
        x, y, z = ql[..., 0], ql[..., 1], ql[..., 2]
        rho = np.sqrt(x * x + y * y + z * z) + f32(1e-9)
        u = ql / rho[..., None]
        r = np.ones_like(rho)
        if c["lobe"] is not None:
            d, k, a = c["lobe"]
            r += np.exp((u @ d - f32(1.0)) * k) @ a
        if c["spic"] is not None:
            d, k, a = c["spic"]
            r += np.exp((u @ d - f32(1.0)) * k) @ a
        ua = u * c["axes"]
        scale = np.sqrt(ua[..., 0] ** 2 + ua[..., 1] ** 2 + ua[..., 2] ** 2)
        sd = (rho - r) * scale
        tex = np.cos(q @ c["tex_k"] + c["tex_ph"]) @ c["tex_w"]
        return sd, tex, q

    def _cache(self):
        c = getattr(self, "_c", None)
        if c is None or c["centre_src"] is not self.centre:
            f32 = np.float32
            c = {"centre_src": self.centre, "centre": self.centre.astype(f32),
                 "R": self.R.astype(f32), "inv_axes": (1.0 / self.axes).astype(f32),
                 "axes": self.axes.astype(f32),
                 "lobe": None, "spic": None,
                 "tex_k": self.tex_k.T.astype(f32).copy(), "tex_ph": self.tex_ph.astype(f32),
                 "tex_w": np.full(len(self.tex_ph), 2.0 / len(self.tex_ph), f32)}
            if len(self.lobe_amp):
                c["lobe"] = (self.lobe_dirs.T.astype(f32).copy(), self.lobe_k.astype(f32),
                             self.lobe_amp.astype(f32))
            if len(self.spic_amp):
                c["spic"] = (self.spic_dirs.T.astype(f32).copy(), self.spic_k.astype(f32),
                             self.spic_amp.astype(f32))
            self._c = c
        return c

    def calc_field(self, q):
        """Calcification amplitude (0..1) at local points q."""
        if not len(self.calc_r):
            return None
        out = np.zeros(q.shape[:-1], np.float32)
        for c, r in zip(self.calc_pts, self.calc_r):
            k = np.float32(-2.0 / (r * r))
            d2 = ((q[..., 0] - np.float32(c[0])) ** 2 + (q[..., 1] - np.float32(c[1])) ** 2
                  + (q[..., 2] - np.float32(c[2])) ** 2)
            np.maximum(out, np.exp(d2 * k), out=out)
        return out


class Patient:
    def __init__(self, index, rng_anat, rng_nod, n_nodules, knobs):
        self.index = index
        self.id = "P%04d" % index
        self.anatomy = Anatomy(rng_anat, knobs)
        # Patient-specific view into the shared scatterer lattice.
        a = rng_anat.uniform(0, 2 * math.pi)
        self.lattice_rot = (math.cos(a), math.sin(a))
        self.lattice_off = tuple(float(v) for v in rng_anat.uniform(0, 1000, 3))
        an = self.anatomy
        sim = knobs.get("similarity", 0.6)
        proto = sample_nodule_traits(rng_nod)
        self.nodules = []
        centres = []
        for k in range(n_nodules):
            traits = blend_traits(rng_nod, proto, sim) if k else dict(proto)
            if k and sim > 0:
                # Sizes within a patient are similar: pull towards the first.
                traits["diameter_mm"] = float(np.clip(
                    proto["diameter_mm"] * math.exp(0.25 * (1 - sim) * rng_nod.standard_normal()
                                                    + 0.12 * rng_nod.standard_normal()), 4.0, 22.0))
            nod = None
            for attempt in range(200):
                nod_try = Nodule(rng_nod, index * 10 + k, (0, 0, 0), traits)
                rz = float(nod_try.axes.max())
                near = centres and rng_nod.random() < knobs.get("p_near", 0.5)
                if near:
                    base = centres[int(rng_nod.integers(len(centres)))]
                    a = rng_nod.uniform(0, 2 * math.pi)
                    dist = base[3] + rz + rng_nod.uniform(2.0, 10.0)
                    c = base[:3] + np.array([math.cos(a) * dist, math.sin(a) * dist, 0.0])
                else:
                    c = np.array([rng_nod.uniform(28, SIZE_MM[0] - 28),
                                  rng_nod.uniform(28, SIZE_MM[1] - 28), 0.0])
                if not (22 <= c[0] <= SIZE_MM[0] - 22 and 22 <= c[1] <= SIZE_MM[1] - 22):
                    continue
                ix = int(np.clip(c[0] / GRID_MM[0], 0, an.b_fat.shape[0] - 1))
                iy = int(np.clip(c[1] / GRID_MM[1], 0, an.b_fat.shape[1] - 1))
                top = an.b_fat[ix, iy] + 0.8 * nod_try.axes[2] + 1.0
                bot = an.b_gland[ix, iy] - 0.3 * nod_try.axes[2]
                c[2] = rng_nod.uniform(top, max(top + 0.5, bot))
                if any(np.linalg.norm(c - b[:3]) < rz + b[3] + 1.5 for b in centres):
                    continue
                nod_try.centre = c
                nod = nod_try
                centres.append(np.append(c, rz))
                break
            if nod is None:   # crowded: accept the last candidate anyway
                nod_try.centre = c
                nod = nod_try
                centres.append(np.append(c, rz))
            self.nodules.append(nod)
