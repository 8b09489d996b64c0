"""Simulated axial MR series with lesions: random study parameters, lesions, rendering, truth.

This module owns one simulated study (`Study`): everything random about it is drawn once from
its seed in __init__ (acquisition geometry, head pose, elastic deformation, contrast, bias field,
lesions), and `render(ks, step)` produces any subset of its slices, so the training generator
can draw a few slices of a study and the DICOM writer all of them, with identical pixels.

Geometry.  Patient coordinates are DICOM's LPS (PS3.3 C.7.6.2.1.1).  Slice k, pixel (row r,
column c) sits at  P = O + k*sp*n + c*ps*u + r*ps*v  (u = row direction, v = column direction,
n = u x v, O = centre of the first pixel of the first slice).  The head pose maps a patient point
to the base anatomy's RAS template space  q = q0 + M (F (P - p_h))  (F = diag(-1,-1,1) LPS->RAS,
M = rotation / anisotropic scaling), followed by a smooth random elastic displacement.

Partial volume.  The contrasted base volume is filtered along the template z axis with a box
of the slice thickness before sampling (slices are near-axial), and lesions, which are
analytic, are evaluated at 3 positions across the slab and averaged; the truth uses 6.

Lesions (template space, analytic): an ellipsoid with a smooth random radial irregularity,
clipped by the inner skull plane for meningiomas; components (enhancing rim, necrosis, solid,
calcification, cyst) and oedema (weighted by white-matter membership, so it follows white
matter); mass effect is a volume-preserving radial push  r_src = cbrt(r^3 - a^3)  tapered to
zero at 3a, applied to the coordinates at which the anatomy is sampled.
"""

import math

import numpy as np
from scipy import ndimage as ndi

from . import anatomy

TYPES = ("glioma", "meningioma", "pituitary")
T1_MAX = 2.5
IC_LEVELS = 8
_LUT_INDEX = {}


def lut_index(b):
    """uint16 volume: quantised intracranial fraction * 256 + quantised T1 (0..T1_MAX)."""
    if b.name not in _LUT_INDEX:
        t1q = np.clip(np.rint(b.t1 * (255.0 / T1_MAX)), 0, 255).astype(np.uint16)
        icq = np.clip(np.rint(b.ic * (IC_LEVELS - 1)), 0, IC_LEVELS - 1).astype(np.uint16)
        _LUT_INDEX[b.name] = icq * 256 + t1q
    return _LUT_INDEX[b.name]
SIZE = 256
COARSE = 33

# Contrast families.  Brain lookup: normalised-T1 control points -> intensity, applied inside the
# intracranial mask; extracranial lookup outside it.  Lesion component levels in the same units.
XB = np.array([0.0, 0.28, 0.68, 1.0, 1.5])
XE = np.array([0.0, 0.1, 0.5, 0.85, 1.35, 2.5])
FAMILIES = {
    # T1 post-contrast-like: CSF dark, GM < WM, fat bright; enhancing tissue brighter than WM
    "t1c": dict(yb=[0.18, 0.28, 0.68, 1.0, 1.3], ye=[0.0, 0.08, 0.5, 0.85, 1.3, 1.8],
                rim=(1.35, 1.75), necrosis=(0.15, 0.38), solid=(1.2, 1.55), nonenh=(0.42, 0.58),
                edema=(0.55, 0.72), mening=(1.25, 1.6), calc=(0.05, 0.15), pit=(1.05, 1.35),
                cyst=(0.22, 0.4)),
    # T2-like: CSF bright, GM > WM, fat moderately bright; fluid and oedema bright
    "t2": dict(yb=[1.6, 1.6, 0.9, 0.62, 0.5], ye=[0.0, 0.06, 0.35, 0.7, 0.95, 1.1],
               rim=(0.8, 1.1), necrosis=(1.35, 1.7), solid=(0.85, 1.1), nonenh=(1.05, 1.3),
               edema=(1.05, 1.3), mening=(0.72, 1.0), calc=(0.04, 0.12), pit=(0.75, 1.0),
               cyst=(1.3, 1.6)),
}

SPLITS = {
    # name: (base, families, jitter, augment)
    "standard": ("colin27", ("t1c",), 0.06, False),
    "heldout": ("inia19", ("t2",), 0.06, False),
    "standard-t2": ("colin27", ("t2",), 0.06, False),
    "heldout-t1c": ("inia19", ("t1c",), 0.06, False),
    "train": ("colin27", ("t1c", "t2"), 0.22, True),
}


# Training-only randomisation (the "train" split): the share of studies whose skull and scalp
# are replaced by random layered coverings, and of studies with a random tissue lookup.
P_COVER = 0.5
P_RANDOM_LUT = 0.25
P_CARVE = 0.7           # of the studies with coverings
P_T2 = 0.6              # of training studies in the T2-like family (the rest T1c-like)
P_SMOOTH = 0.4          # of training studies whose anatomy (not the lesions) is smoothed
SMOOTH_MM = (1.0, 3.0)  # in-plane Gaussian sigma of that smoothing, mm


def _random_cover(rng):
    """Layer outer radii (mm beyond the intracranial mask) and normalised-T1 levels of synthetic
    coverings: CSF, cortical bone with a marrow band, fat, muscle, skin, then air."""
    csf = rng.uniform(0.0, 2.5)
    bone = csf + rng.uniform(3.0, 9.0)
    dip0 = csf + (bone - csf) * rng.uniform(0.2, 0.45)
    dip1 = dip0 + (bone - csf) * rng.uniform(0.15, 0.4)
    fat = bone + rng.uniform(0.5, 5.0)
    mus = fat + rng.uniform(0.5, 3.0)
    skin = mus + rng.uniform(0.8, 2.5)
    edges = np.array([csf, dip0, dip1, bone, fat, mus, skin])
    vals = np.array([rng.uniform(0.15, 0.4), rng.uniform(0.02, 0.15), rng.uniform(0.55, 1.15),
                     rng.uniform(0.02, 0.15), rng.uniform(1.05, 1.5), rng.uniform(0.4, 0.7),
                     rng.uniform(0.55, 0.95)])
    d = (np.arange(256) + 0.5) / 4.0
    table = np.where(d <= skin, vals[np.minimum(np.searchsorted(edges, d), len(vals) - 1)], 0.0)
    cover = dict(table=table.astype(np.float32), tex=float(rng.uniform(0.02, 0.15)), csf=csf, carve=None)
    if rng.random() < P_CARVE:
        # the skull base around the sella as coverings too (fossa, sinus, no face below):
        # an ellipsoid about the sella, reaching anteriorly and down, topped 4..12 mm above it
        dy, dz, top = rng.uniform(10.0, 30.0), rng.uniform(5.0, 15.0), rng.uniform(4.0, 12.0)
        cover["carve"] = (np.array([0.0, dy, -dz]), np.array([rng.uniform(12.0, 25.0),
                                                             rng.uniform(30.0, 60.0), top + dz]))
    return cover


def _carve(b, cover, idx, tex):
    """Make the ellipsoid cover["carve"] (offset from the sella, radii, mm) extracranial in index
    volume idx: its voxels get the coverings by their distance from the brain left around it."""
    off, rad = cover["carve"]
    c = b.sella + off
    pad = 16.0
    lo = np.maximum(np.floor(b.to_vox(c - rad - pad)).astype(int), 0)
    hi = np.minimum(np.ceil(b.to_vox(c + rad + pad)).astype(int) + 1, idx.shape)
    if np.any(hi <= lo):
        return
    sl = tuple(slice(a, z) for a, z in zip(lo, hi))
    ax = [b.origin[i] + np.arange(lo[i], hi[i]) * b.vs - c[i] for i in range(3)]
    X, Y, Z = np.meshgrid(ax[0] / rad[0], ax[1] / rad[1], ax[2] / rad[2], indexing="ij")
    inside = X * X + Y * Y + Z * Z < 1.0
    keep = (b.ic[sl] > 0.5) & ~inside
    if not keep.any():
        return
    dist = ndi.distance_transform_edt(~keep)[inside] * b.vs
    t1 = cover["table"][np.clip(np.rint(dist * 4.0), 0, 255).astype(int)]
    t1 = t1 * (1.0 + cover["tex"] * tex[sl][inside])
    icq = np.where(dist <= cover["csf"] + 1.0, IC_LEVELS - 1, 0).astype(np.uint16)
    sub = idx[sl]
    sub[inside] = icq * 256 + np.clip(np.rint(t1 * (255.0 / T1_MAX)), 0, 255).astype(np.uint16)


def _random_lut(st, rng):
    """A random tissue lookup (brain and extracranial) with random lesion component levels kept
    apart from grey and white matter, so that lesions stay visible by contrast, not by rule."""
    gm, wm = rng.uniform(0.3, 1.4, 2)
    while abs(gm - wm) < 0.1:
        gm, wm = rng.uniform(0.3, 1.4, 2)
    csf = rng.uniform(0.1, 1.8)
    st.yb = np.array([csf * rng.uniform(0.5, 1.1), csf, gm, wm, rng.uniform(0.3, 1.6)])
    st.ye = np.concatenate([[0.0], rng.uniform(0.0, 1.6, len(XE) - 1)])
    for k in st.levels:
        if k == "calc":
            st.levels[k] = float(rng.uniform(0.03, 0.2))
            continue
        for _ in range(50):
            v = rng.uniform(0.05, 1.9)
            if k == "edema" or min(abs(v - gm), abs(v - wm)) >= 0.15:
                break
        st.levels[k] = float(v)


def rot(ax, ay, az):
    cx, sx, cy, sy, cz, sz = math.cos(ax), math.sin(ax), math.cos(ay), math.sin(ay), math.cos(az), math.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def rand_rot(rng):
    q = rng.standard_normal(4)
    q /= np.linalg.norm(q)
    a, b, c, d = q
    return np.array([[a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
                     [2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b)],
                     [2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d]])


def frame_with(axis0):
    """A rotation matrix whose first column is axis0."""
    a = axis0 / np.linalg.norm(axis0)
    t = np.array([0.0, 0.0, 1.0]) if abs(a[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    b = np.cross(a, t)
    b /= np.linalg.norm(b)
    return np.stack([a, b, np.cross(a, b)], 1)


class Lesion:
    def __init__(self, type_, c, R, Rl, ax, rng, irr_amp):
        self.type = type_
        self.c = np.asarray(c, dtype=np.float64)
        self.R = float(R)
        self.Rl = Rl
        self.ax = np.asarray(ax, dtype=np.float64)
        k = 6
        f = rng.standard_normal((k, 3))
        f *= rng.uniform(1.5, 3.5, (k, 1)) / np.linalg.norm(f, axis=1, keepdims=True)
        self.f, self.ph = f, rng.uniform(0, 2 * np.pi, k)
        self.a = rng.uniform(0.3, 1.0, k) * irr_amp / math.sqrt(k) * 1.6
        fi = rng.standard_normal((4, 3))
        fi *= rng.uniform(2.0, 4.0, (4, 1)) / np.linalg.norm(fi, axis=1, keepdims=True)
        self.fi, self.phi, self.ai = fi, rng.uniform(0, 2 * np.pi, 4), rng.uniform(0.05, 0.12, 4)
        self.tex_f = rng.standard_normal((4, 3)) * 0.35
        self.tex_ph = rng.uniform(0, 2 * np.pi, 4)
        self.clip = None          # (p0, n): core only where dot(q - p0, n) <= 0
        self.mass = None          # (m, a, clip or None)
        self.variant = "solid"
        self.rho_n = 0.0
        self.rho_e = 0.0
        self.calc = []
        self.levels = {}

    def core_bound(self):
        return float(self.ax.max()) * (1.0 + float(self.a.sum())) + 1.0

    def bound(self):
        return self.core_bound() * max(1.0, self.rho_e)

    def rho(self, q):
        """Normalised radius (<= 1: inside the core surface) and unit direction, for q (..., 3)."""
        f32 = np.float32
        d = (q - self.c.astype(f32)) @ (self.Rl / self.ax[None, :]).astype(f32)
        r0 = np.sqrt((d * d).sum(-1)) + f32(1e-6)
        dirn = d / r0[..., None]
        rb = f32(1.0) + (np.sin(dirn @ self.f.T.astype(f32) + self.ph.astype(f32)) * self.a.astype(f32)).sum(-1)
        return r0 / rb, dirn

    def clip_dist(self, q):
        if self.clip is None:
            return None
        p0, n = self.clip
        return (q - p0.astype(np.float32)) @ n.astype(np.float32)

    def core(self, q):
        rho, _ = self.rho(q)
        m = rho <= 1.0
        cd = self.clip_dist(q)
        if cd is not None:
            m &= cd <= 0.0
        return m

    def paint(self, q, alpha_only=False):
        """Core opacity alpha (soft edge ~0.8 mm), core level L, oedema profile e, at q (..., 3).
        alpha_only: only the oedema profile is wanted (L is None)."""
        rho, dirn = self.rho(q)
        if alpha_only:
            e = np.clip((self.rho_e - rho) / (self.rho_e - 1.0) * 1.5, 0.0, 1.0)
            return None, None, np.where(rho < 1.0, np.float32(1.0), e).astype(np.float32)
        rmean = float(self.ax.mean())
        alpha = np.clip((1.0 - rho) * rmean / 0.8 + 0.5, 0.0, 1.0)
        cd = self.clip_dist(q)
        if cd is not None:
            alpha *= np.clip(0.5 - cd / 0.8, 0.0, 1.0)
        lv = self.levels
        if self.type == "glioma" and self.variant == "necrotic":
            rin = self.rho_n * (1.0 + (np.sin(dirn @ self.fi.T + self.phi) * self.ai).sum(-1))
            w = np.clip((rho - rin) * rmean / 0.8 + 0.5, 0.0, 1.0)
            L = w * lv["rim"] + (1 - w) * lv["necrosis"]
        elif self.type == "glioma":
            L = np.full(rho.shape, lv[self.variant], np.float32)
        elif self.type == "meningioma":
            L = np.full(rho.shape, lv["mening"], np.float32)
            for cc, rr in self.calc:
                dd = np.sqrt(((q - cc.astype(np.float32)) ** 2).sum(-1))
                w = np.clip((rr - dd) / 0.6 + 0.5, 0.0, 1.0)
                L = L * (1 - w) + w * lv["calc"]
        else:
            if self.variant == "cystic":
                w = np.clip((rho - self.rho_n) * rmean / 0.8 + 0.5, 0.0, 1.0)
                L = w * lv["pit"] + (1 - w) * lv["cyst"]
            else:
                L = np.full(rho.shape, lv["pit"], np.float32)
        tex = 1.0 + 0.03 * np.sin(q @ self.tex_f.T.astype(np.float32) + self.tex_ph.astype(np.float32)).sum(-1)
        L = L * tex
        return alpha.astype(np.float32), L.astype(np.float32), None

    def displace(self, q):
        """Source coordinates of the anatomy for q under this lesion's mass effect."""
        if self.mass is None:
            return q
        m, a, clip = self.mass
        f32 = np.float32
        m32 = m.astype(f32)
        d = q - m32
        r = np.sqrt((d * d).sum(-1)) + f32(1e-6)
        rs = np.cbrt(np.maximum(r ** 3 - f32(a ** 3), f32(0.0)))
        taper = np.clip(f32(1.0) - (r - f32(a)) / f32(2.0 * a), 0.0, 1.0) ** 2
        k = f32(1.0) - (f32(1.0) - rs / r) * taper
        if clip is not None:
            p0, n = clip
            cd = (q - p0.astype(f32)) @ n.astype(f32)
            k = f32(1.0) - (f32(1.0) - k) * np.clip(f32(0.5) - cd / f32(1.5), 0.0, 1.0)
        return (m32 + d * k[..., None]).astype(f32)


class Study:
    def __init__(self, seed, split="standard", n_lesions=None, p_none=1.0 / 3.0):
        self.seed = int(seed)
        self.split = split
        base, fams, jit, aug = SPLITS[split]
        self.base = anatomy.get(base)
        rng = np.random.default_rng([self.seed, 4242, ["standard", "heldout", "standard-t2",
                                                       "heldout-t1c", "train"].index(split)])
        self.rng = rng
        self.aug = aug
        b = self.base
        # --- acquisition
        self.n = int(rng.integers(40, 61))
        self.thk = float(rng.uniform(2.5, 3.5))
        self.sp = self.thk * (1.0 + (rng.uniform(0.0, 0.2) if rng.random() < 0.3 else 0.0))
        self.ps = float(rng.uniform(0.8, 1.0))
        obl = np.clip(rng.normal(0, 3.0, 3), -8, 8) * np.pi / 180
        Ra = rot(*obl)
        self.u, self.v = Ra[:, 0], Ra[:, 1]
        self.nrm = np.cross(self.u, self.v)
        # --- head pose (patient -> template)
        ang = np.array([rng.uniform(-12, 12), rng.uniform(-8, 8), rng.uniform(-10, 10)]) * np.pi / 180
        if aug:
            ang *= 1.3
        sc = rng.uniform(0.93, 1.07, 3) * rng.uniform(0.95, 1.05)
        if aug:
            sc = rng.uniform(0.85, 1.15, 3) * rng.uniform(0.92, 1.08)
        self.M = np.diag(1.0 / sc) @ rot(*ang).T
        self.F = np.diag([-1.0, -1.0, 1.0])
        self.p_h = np.array([rng.uniform(-10, 10), rng.uniform(-20, 20), rng.uniform(-60, 60)])
        self.q0 = b.centre.copy()
        Minv = np.linalg.inv(self.M)
        # --- elastic deformation on a coarse template grid
        gs = 14.0 if aug else 18.0
        amp = rng.uniform(1.5, 5.0 if aug else 3.5)
        lo = b.origin - 20
        shp = (np.array(b.t1.shape) * b.vs + 40) / gs + 2
        shp = tuple(int(s) for s in shp)
        disp = rng.standard_normal((3,) + shp)
        disp = np.stack([ndi.gaussian_filter(d, 1.0) for d in disp])
        disp *= amp / (disp.std() + 1e-9)
        self.el_lo, self.el_gs, self.el_disp = lo, gs, disp.astype(np.float32)
        # training: a second, large-scale warp that changes the head's proportions
        self.el_disp2 = None
        if aug:
            gs2 = 40.0
            shp2 = tuple(int(x) for x in (np.array(b.t1.shape) * b.vs + 40) / gs2 + 2)
            d2 = rng.standard_normal((3,) + shp2)
            d2 = np.stack([ndi.gaussian_filter(d, 0.7) for d in d2])
            d2 *= rng.uniform(2.0, 6.0) / (d2.std() + 1e-9)
            self.el_gs2, self.el_disp2 = gs2, d2.astype(np.float32)
        # --- contrast
        if aug:
            self.family = "t2" if rng.random() < P_T2 else "t1c"
        else:
            self.family = str(rng.choice(fams))
        fam = FAMILIES[self.family]
        self.yb = np.array(fam["yb"]) * np.exp(rng.normal(0, jit, len(XB)))
        self.ye = np.array(fam["ye"]) * np.exp(rng.normal(0, jit, len(XE)))
        self.gamma = float(np.exp(rng.normal(0, 0.12))) if aug else 1.0
        self.levels = {}
        for k in ("rim", "necrosis", "solid", "nonenh", "edema", "mening", "calc", "pit", "cyst"):
            lo_, hi_ = fam[k]
            w = (hi_ - lo_) * (0.25 if aug else 0.0)
            self.levels[k] = float(rng.uniform(lo_ - w, hi_ + w))
        self.strip = bool(aug and rng.random() < 0.08)     # brain-extracted-looking input
        # bias field coefficients (template mm about the centre, /100)
        self.bias_lin = rng.normal(0, 0.12, 3)
        self.bias_quad = rng.normal(0, 0.08, 3)
        self.noise = float(rng.uniform(0.012, 0.05))
        self.scale = float(rng.uniform(500, 1200))
        # --- stack placement: cover the brain from below the sella when the stack is short
        ext = self.n * self.sp
        top_t = b.centre[2] + b.half_extent[2] + 8
        bot_t = b.sella[2] - 18 - rng.uniform(0, 15)
        z_mid = (bot_t + ext / 2) if ext < (top_t - bot_t) else 0.5 * (top_t + bot_t) + rng.uniform(-10, 10)
        ctr_t = np.array([b.centre[0], b.centre[1], z_mid]) + np.array([rng.uniform(-6, 6), rng.uniform(-8, 8), 0])
        ctr_p = self.p_h + self.F @ (Minv @ (ctr_t - self.q0))
        # slice planes are perpendicular to nrm; centre the stack and the field of view on ctr_p
        self.O = ctr_p - (self.n - 1) / 2 * self.sp * self.nrm - 127.5 * self.ps * (self.u + self.v)
        self.O = self.O + (rng.uniform(-8, 8) * self.u + rng.uniform(-8, 8) * self.v)
        self.reverse = bool(rng.random() < 0.3)           # instance order superior -> inferior
        # --- lesions
        if n_lesions is None:
            x = rng.random()
            n_lesions = 0 if x < p_none else (1 if x < p_none + (1 - p_none) * 0.5 else
                                                (2 if x < p_none + (1 - p_none) * 0.83 else 3))
        self.lesions = []
        for _ in range(n_lesions):
            for _try in range(30):
                les = self._sample_lesion(rng)
                if les is not None and all(np.linalg.norm(les.c - o.c) > les.bound() / max(1.0, les.rho_e)
                                           + o.bound() / max(1.0, o.rho_e) + 6 for o in self.lesions):
                    self.lesions.append(les)
                    break
        for les in self.lesions:
            les.levels = self.levels
        # --- training only: domain randomisation beyond the contrast families and the base's
        # own head (its own random stream, so nothing above changes for any split)
        self.cover = None
        self.smooth = 0.0
        if aug:
            arng = np.random.default_rng([self.seed, 5151])
            if arng.random() < P_COVER:
                self.cover = _random_cover(arng)
            if arng.random() < P_RANDOM_LUT:
                _random_lut(self, arng)
            if arng.random() < P_SMOOTH:
                self.smooth = float(arng.uniform(*SMOOTH_MM))

    # ---------------------------------------------------------------- lesions
    def _sample_lesion(self, rng):
        b = self.base
        t = rng.choice(3, p=[0.45, 0.35, 0.20])
        if t == 2 and any(x.type == "pituitary" for x in self.lesions):
            t = 0
        if t == 0:
            R = math.exp(rng.uniform(math.log(5.0), math.log(25.0)))
            ok = b.deep_depth >= 0.6 * R + 2.0
            if not ok.any():
                return None
            i = rng.choice(np.nonzero(ok)[0])
            c = b.deep_pts[i].astype(np.float64)
            les = Lesion("glioma", c, R, rand_rot(rng), R * rng.uniform(0.8, 1.2, 3), rng, 0.22)
            v = rng.random()
            les.variant = "necrotic" if v < 0.6 else ("solid" if v < 0.8 else "nonenh")
            les.rho_n = rng.uniform(0.45, 0.8)
            les.rho_e = rng.uniform(1.4, 2.6) if rng.random() < 0.9 else 0.0
            les.mass = (c, R * rng.uniform(0.4, 0.8), None)
            return les
        if t == 1:
            R = math.exp(rng.uniform(math.log(5.0), math.log(20.0)))
            v = rng.random()
            if v < 0.2 and len(b.falx_pts):
                p0 = b.falx_pts[rng.integers(len(b.falx_pts))].astype(np.float64)
                side = 1.0 if rng.random() < 0.5 else -1.0
                n = np.array([-side, 0.0, 0.0])
            else:
                pts, nr = b.surf_pts, b.surf_nrm
                if v < 0.45:
                    sel = np.nonzero((np.abs(pts[:, 0] - b.mid_x) < 25) & (nr[:, 2] > 0.3))[0]
                else:
                    sel = np.arange(len(pts))
                i = rng.choice(sel)
                p0, n = pts[i].astype(np.float64), nr[i].astype(np.float64)
            c = p0 - n * R * rng.uniform(0.35, 0.7)
            ax = np.array([R * rng.uniform(0.7, 1.0), R * rng.uniform(0.9, 1.3), R * rng.uniform(0.9, 1.3)])
            les = Lesion("meningioma", c, R, frame_with(n), ax, rng, 0.06)
            les.clip = (p0, n)
            les.mass = (p0, R * rng.uniform(0.6, 0.9), (p0 + n * 1.0, n))
            les.variant = "calc" if rng.random() < 0.25 else "plain"
            if les.variant == "calc":
                for _ in range(int(rng.integers(1, 4))):
                    off = rand_rot(rng)[:, 0] * R * rng.uniform(0, 0.5)
                    les.calc.append((c + off, rng.uniform(1.0, 2.5)))
            les.rho_e = rng.uniform(1.2, 1.6) if rng.random() < 0.3 else 0.0
            return les
        R = rng.uniform(4.0, 10.0)
        ax = R * np.array([rng.uniform(0.8, 1.1), rng.uniform(0.7, 1.0), rng.uniform(1.0, 1.4)])
        c = b.sella + np.array([rng.normal(0, 1.0), rng.normal(0, 1.5), ax[2] * rng.uniform(0.2, 0.6)])
        les = Lesion("pituitary", c, R, rot(*(rng.normal(0, 0.1, 3))), ax, rng, 0.05)
        les.variant = "cystic" if rng.random() < 0.3 else "solid"
        les.rho_n = rng.uniform(0.4, 0.7)
        les.mass = (b.sella, R * 0.5, (b.sella - np.array([0, 0, 2.0]), np.array([0, 0, -1.0])))
        return les

    # ---------------------------------------------------------------- geometry
    def patient(self, k, r, c, t=0.0):
        """Patient (LPS) coordinates of slice k, row r, column c, t mm along the normal."""
        k, r, c, t = (np.asarray(x, dtype=np.float64)[..., None] for x in (k, r, c, t))
        return self.O + k * self.sp * self.nrm + c * self.ps * self.u + r * self.ps * self.v + t * self.nrm

    def to_template(self, P):
        return self.q0 + (P - self.p_h) @ (self.M @ self.F).T

    def to_patient(self, q):
        Minv = np.linalg.inv(self.M)
        return self.p_h + (q - self.q0) @ (self.F @ Minv).T

    def to_index(self, P):
        d = P - self.O
        return d @ self.nrm / self.sp, d @ self.v / self.ps, d @ self.u / self.ps   # k, r, c

    def _elastic(self, q):
        idx = ((q - self.el_lo) / self.el_gs).reshape(-1, 3).T
        d = np.stack([ndi.map_coordinates(self.el_disp[i], idx, order=1, mode="nearest") for i in range(3)], -1)
        if self.el_disp2 is not None:
            idx = ((q - self.el_lo) / self.el_gs2).reshape(-1, 3).T
            d = d + np.stack([ndi.map_coordinates(self.el_disp2[i], idx, order=3, mode="nearest")
                              for i in range(3)], -1)
        return d.reshape(q.shape)

    def _bias(self, q):
        x = (q - self.base.centre) / 100.0
        return np.exp(x @ self.bias_lin + (x * x) @ self.bias_quad)

    # ---------------------------------------------------------------- rendering
    def contrast_volume(self):
        """The base T1 remapped to this study's contrast and box-filtered along z by the slab.
        The remap is one gather through a 2048-entry table indexed by the base's quantised
        (intracranial fraction, T1) volume."""
        b = self.base
        t1v = np.arange(256, dtype=np.float64) * (T1_MAX / 255.0)
        yb = np.interp(t1v, XB, self.yb)
        ye = np.interp(t1v, XE, self.ye) * (0.0 if self.strip else 1.0)
        icv = np.arange(IC_LEVELS, dtype=np.float64)[:, None] / (IC_LEVELS - 1)
        lut = (icv * yb[None, :] + (1.0 - icv) * ye[None, :]).ravel()
        if self.gamma != 1.0:
            lut = np.power(np.maximum(lut, 0), self.gamma)
        idx = lut_index(b)
        if self.cover is not None:
            dq, tex = anatomy.coverings(b)
            out = dq > 0
            t1s = self.cover["table"][dq[out]] * (1.0 + self.cover["tex"] * tex[out])
            idx = idx.copy()
            idx[out] = (idx[out] // 256) * 256 + np.clip(np.rint(t1s * (255.0 / T1_MAX)), 0, 255).astype(np.uint16)
            if self.cover["carve"] is not None:
                _carve(b, self.cover, idx, tex)
        vol = lut.astype(np.float32)[idx]
        w = max(1, int(round(self.thk / b.vs)))
        if w > 1:
            vol = ndi.uniform_filter1d(vol, w, axis=2, mode="nearest")
        return vol

    def render(self, ks, step=1, vol=None, noise=True, truth=True):
        """Images (len(ks), S, S) float32 for slices ks at pixel step `step` (S = 256 / step) and,
        when truth, a list per lesion of per-slice core-coverage arrays (same shape, 0..1)."""
        b = self.base
        ks = np.asarray(ks, dtype=np.float64)
        nk = len(ks)
        S = SIZE // step
        pix = np.arange(S) * step + (step - 1) / 2.0
        g = np.linspace(0, SIZE - 1, COARSE)
        W = np.clip(1.0 - np.abs(pix[:, None] - g[None, :]) / (g[1] - g[0]), 0, None)   # S x COARSE
        # coarse grid: template coordinates (with elastic) and bias
        P = self.patient(ks[:, None, None], g[None, :, None], g[None, None, :])          # nk x C x C x 3
        qa = self.to_template(P)
        q = qa + self._elastic(qa)
        bias = self._bias(q)
        Q = np.einsum("rg,kghd,ch->krcd", W, q.astype(np.float32), W.astype(np.float32), optimize=True)
        B = np.einsum("rg,kgh,ch->krc", W, bias.astype(np.float32), W.astype(np.float32), optimize=True)
        if vol is None:
            vol = self.contrast_volume()
        # lesion regions of interest in (slice, row, col) index space
        def roi(centre, rad):
            kc, rc, cc = self.to_index(self.to_patient(centre))
            rad = rad + 5.0                                   # elastic displacement margin
            kr = (rad + self.thk) / self.sp
            pr = rad / self.ps
            ksel = np.nonzero(np.abs(ks - kc) <= kr)[0]
            r0 = max(0, int((rc - pr) // step)); r1 = min(S, int((rc + pr) // step) + 2)
            c0 = max(0, int((cc - pr) // step)); c1 = min(S, int((cc + pr) // step) + 2)
            return (ksel, r0, r1, c0, c1) if len(ksel) and r1 > r0 and c1 > c0 else None

        def take(a, rr):
            ksel, r0, r1, c0, c1 = rr
            return a[ksel, r0:r1, c0:c1]

        def put(a, rr, v):
            ksel, r0, r1, c0, c1 = rr
            a[ksel, r0:r1, c0:c1] = v

        # mass effect on the sampling coordinates (only inside each lesion's reach)
        Qs = Q.copy() if any(les.mass is not None for les in self.lesions) else Q
        for les in self.lesions:
            if les.mass is not None:
                rr = roi(les.mass[0], 3.0 * les.mass[1] + 2.0)
                if rr is not None:
                    put(Qs, rr, les.displace(take(Qs, rr)))
        # sample the anatomy, skipping points outside the volume
        vox = (Qs - b.origin.astype(np.float32)) / np.float32(b.vs)
        shp = np.array(vol.shape, dtype=np.float32)
        inside = np.all((vox > -1) & (vox < shp), axis=-1)
        img = np.zeros(Q.shape[:3], np.float32)
        pts = vox[inside]
        if len(pts):
            img[inside] = ndi.map_coordinates(vol, pts.T, order=1, mode="constant", cval=0.0, prefilter=False)
        if self.smooth > 0:
            # anatomy with less fine detail (an averaged template, a softer acquisition): the
            # sampled anatomy is blurred in plane before the lesions are painted on it sharp
            sg = self.smooth / (self.ps * step)
            img = ndi.gaussian_filter(img, (0.0, sg, sg), mode="nearest", truncate=3.0)
        dq = (self.M @ self.F @ self.nrm).astype(np.float32)
        # oedema (centre plane), weighted by white-matter membership of the displaced anatomy
        for les in self.lesions:
            if les.rho_e > 1.0:
                rr = roi(les.c, les.core_bound() * les.rho_e)
                if rr is None:
                    continue
                _, _, e = les.paint(take(Q, rr), alpha_only=True)
                m = e > 0.01
                if not m.any():
                    continue
                wm = np.zeros(e.shape, np.float32)
                wm[m] = ndi.map_coordinates(b.wm, ((take(Qs, rr)[m] - b.origin) / b.vs).T,
                                            order=1, mode="constant", cval=0.0, prefilter=False)
                e = e * wm * 0.9
                t = take(img, rr)
                put(img, rr, t * (1 - e) + e * self.levels["edema"])
        # lesion cores: partial volume through the slab (3 positions for the image, 6 for truth)
        covs = []
        for les in self.lesions:
            rr = roi(les.c, les.core_bound())
            cov = None
            if rr is not None:
                qc = take(Q, rr)
                acc_a = np.zeros(qc.shape[:3], np.float32)
                acc_l = np.zeros(qc.shape[:3], np.float32)
                for t in (-self.thk / 3.0, 0.0, self.thk / 3.0):
                    a, L, _ = les.paint(qc + np.float32(t) * dq)
                    acc_a += a
                    acc_l += a * L
                acc_a /= 3.0
                acc_l /= 3.0
                put(img, rr, take(img, rr) * (1 - acc_a) + acc_l)
                if truth:
                    cov_roi = np.zeros(qc.shape[:3], np.float32)
                    for j in range(6):
                        t = self.thk * ((j + 0.5) / 6.0 - 0.5)
                        cov_roi += les.core(qc + np.float32(t) * dq)
                    cov_roi /= 6.0
                    cov = rr + (cov_roi,)
            covs.append(cov)
        img *= B
        if noise:
            rng = np.random.default_rng([self.seed, 77, int(ks[0]) if nk else 0, nk, step])
            s = np.float32(self.noise)
            n1 = rng.standard_normal(img.shape, dtype=np.float32)
            n2 = rng.standard_normal(img.shape, dtype=np.float32)
            img = np.sqrt((img + s * n1) ** 2 + (s * n2) ** 2)
        return img, covs

    # ---------------------------------------------------------------- truth helpers
    def boxes(self, covs, nk):
        """Per lesion: list of (slice position in ks, col_min, row_min, col_max, row_max) for the
        slices with at least one pixel half covered (inclusive boxes)."""
        out = []
        for cov in covs:
            bl = []
            if cov is not None:
                ksel, r0, r1, c0, c1, cr = cov
                for j, kk in enumerate(ksel):
                    m = cr[j] >= 0.5
                    if m.any():
                        rr = np.nonzero(m.any(1))[0]
                        cc = np.nonzero(m.any(0))[0]
                        bl.append((int(kk), int(c0 + cc[0]), int(r0 + rr[0]), int(c0 + cc[-1]), int(r0 + rr[-1])))
            out.append(bl)
        return out

    def core_centre_mm(self, covs, ks):
        """Coverage-weighted centroid of each lesion's core in patient coordinates (None: no
        coverage in the rendered slices)."""
        res = []
        for cov in covs:
            if cov is None:
                res.append(None)
                continue
            ksel, r0, r1, c0, c1, cr = cov
            w = cr.sum()
            if w <= 0:
                res.append(None)
                continue
            kk = np.asarray(ks, dtype=np.float64)[ksel]
            wk = cr.sum((1, 2))
            wr = cr.sum((0, 2))
            wc = cr.sum((0, 1))
            k = (wk * kk).sum() / w
            r = (wr * np.arange(r0, r1)).sum() / w
            c = (wc * np.arange(c0, c1)).sum() / w
            res.append(self.patient(k, r, c))
        return res
