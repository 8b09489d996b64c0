"""Base anatomies for the lesion simulator: real head MRI volumes from Debian's mricron-data.

This module owns turning a template volume into what the renderer needs, in template RAS
millimetres on a regular voxel grid (origin + isotropic voxel size):

  t1     float32 T1 intensity normalised so that the white-matter peak is 1.0
  ic     float32 intracranial mask (brain + a 2 mm CSF rim), soft 0..1: inside it the "brain"
         contrast lookup applies (CSF/GM/WM remap), outside the "extracranial" one (scalp, bone)
  wm     float32 white-matter membership 0..1 (oedema follows white matter)
  sites  candidate lesion sites: deep white-matter points (glioma), inner-skull surface points
         with outward normals (meningioma convexity/parasagittal), falx points, the sella.

Bases:
  colin27  /usr/share/mricron/templates/ch2.nii.gz (Colin27 T1, 1 mm, with skull and scalp) and
           ch2bet.nii.gz (the same, brain extracted) for the brain mask.  Used for training and
           for the "standard" evaluation split.
  inia19   /usr/share/mricron/templates/inia19-t1-brain.nii.gz: a different brain (the INIA19
           rhesus macaque T1 template, brain extracted, 0.5 mm), scaled x2.2 to human size, with a
           synthetic CSF rim, skull (cortical bone with a marrow band) and scalp (fat, muscle,
           skin) built from distance shells.  Never used in training: the "heldout" split.

Prepared bases are cached as .npz under $DICOMAID_SIM_CACHE (default ~/.cache/dicomaid-sim).

Synthetic coverings.  `coverings(b)` gives, for training only, what the renderer needs to swap a
base's real skull and scalp for layered coverings drawn per study (domain randomisation of
everything outside the intracranial mask): the distance from that mask in quarter millimetres
and a fixed smooth texture field, cached beside the base.
"""

import os

import numpy as np
from scipy import ndimage as ndi

TEMPLATES = "/usr/share/mricron/templates"
CACHE_VERSION = 5


class Base:
    """A prepared anatomy.  Arrays are indexed [i, j, k] = RAS axes x, y, z."""

    def __init__(self, d):
        self.name = str(d["name"])
        self.t1 = d["t1"]
        self.ic = d["ic"]
        self.wm = d["wm"]
        self.origin = d["origin"].astype(np.float64)
        self.vs = float(d["vs"])
        self.centre = d["centre"].astype(np.float64)
        self.sella = d["sella"].astype(np.float64)
        self.mid_x = float(d["mid_x"])
        self.deep_pts = d["deep_pts"]
        self.deep_depth = d["deep_depth"]
        self.surf_pts = d["surf_pts"]
        self.surf_nrm = d["surf_nrm"]
        self.falx_pts = d["falx_pts"]
        self.half_extent = d["half_extent"].astype(np.float64)

    def to_vox(self, mm):
        """mm (..., 3) -> fractional voxel indices (..., 3)."""
        return (mm - self.origin) / self.vs


def _load(name):
    import nibabel as nib
    im = nib.load(os.path.join(TEMPLATES, name))
    a = np.asarray(im.get_fdata(), dtype=np.float32)
    aff = im.affine
    # every volume used here has a diagonal affine; make it RAS-positive
    for ax in range(3):
        if aff[ax, ax] < 0:
            a = np.flip(a, axis=ax)
            aff = aff.copy()
            aff[ax, 3] = aff[ax, 3] + aff[ax, ax] * (a.shape[ax] - 1)
            aff[ax, ax] = -aff[ax, ax]
    return np.ascontiguousarray(a), float(aff[0, 0]), aff[:3, 3].astype(np.float64)


def _wm_peak(t1, brain):
    """Intensity of the white-matter mode: the highest histogram peak above the brain's 72nd
    intensity percentile (T1: white matter is the brightest brain tissue)."""
    v = t1[brain > 0]
    hi = np.percentile(v, 99.5)
    h, e = np.histogram(v, bins=100, range=(0, hi))
    h = ndi.gaussian_filter1d(h.astype(np.float64), 2)
    lo = int(np.searchsorted(e, np.percentile(v, 72)))
    k = lo + int(np.argmax(h[lo:]))
    return 0.5 * (e[k] + e[k + 1])


def _sites(brain, ic, wm, vs, origin, sella, rng):
    """Candidate lesion sites in mm."""
    grid = lambda idx: origin + np.asarray(idx, dtype=np.float64).T * vs
    depth = ndi.distance_transform_edt(brain > 0) * vs
    wms = ndi.gaussian_filter(wm, 3.0 / vs)
    zmin = sella[2] - 5.0
    kz = np.arange(brain.shape[2]) * vs + origin[2]
    cand = (depth >= 8.0) & (wms > 0.35) & (kz[None, None, :] > zmin)
    idx = np.nonzero(cand)
    sel = rng.choice(len(idx[0]), size=min(20000, len(idx[0])), replace=False)
    deep = grid([i[sel] for i in idx])
    deep_depth = depth[tuple(i[sel] for i in idx)]
    # inner-skull surface: boundary voxels of the intracranial mask, above the skull base
    icb = ic > 0.5
    surf = icb & ~ndi.binary_erosion(icb)
    g = np.stack(np.gradient(ndi.gaussian_filter(icb.astype(np.float32), 2.0)), -1)
    idx = np.nonzero(surf & (kz[None, None, :] > sella[2] + 15.0))
    sel = rng.choice(len(idx[0]), size=min(20000, len(idx[0])), replace=False)
    sidx = tuple(i[sel] for i in idx)
    spts = grid(sidx)
    nrm = -g[sidx]
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True) + 1e-9
    # falx: mid-sagittal intracranial points well above the corpus callosum level
    icdepth = ndi.distance_transform_edt(icb) * vs
    return deep.astype(np.float32), deep_depth.astype(np.float32), spts.astype(np.float32), \
        nrm.astype(np.float32), icdepth


def _prepare_colin(rng):
    t1, vs, org = _load("ch2.nii.gz")
    bet, _, _ = _load("ch2bet.nii.gz")
    brain = ndi.binary_fill_holes(bet > 0)
    # the sella (pituitary fossa) located by eye on the mid-sagittal slice of ch2:
    # voxel (90, 130, 44) -> RAS mm
    sella = org + np.array([90.0, 130.0, 44.0]) * vs
    wmv = _wm_peak(t1, brain)
    t1n = t1 / wmv
    return t1n, brain, vs, org, sella


def _prepare_inia(rng):
    t1, vs0, org0 = _load("inia19-t1-brain.nii.gz")
    scale = 2.2
    vs = vs0 * scale                     # 1.1 mm voxels after scaling to human size
    pad = 18
    t1 = np.pad(t1, pad)
    org = (org0 - pad * vs0) * scale
    brain = ndi.binary_fill_holes(t1 > 0)
    brain = ndi.binary_opening(brain, iterations=1)
    wmv = _wm_peak(t1, brain)
    t1n = t1 / wmv
    # the sella: below the floor of the hypothalamus, voxel (84, 117, 40) of the original grid
    sella = org + (np.array([84.0, 117.0, 40.0]) + pad) * vs
    # synthetic coverings, by distance (mm) from the brain surface
    dist = ndi.distance_transform_edt(~brain) * vs
    shell = np.zeros_like(t1n)
    shell[(dist > 0) & (dist <= 2.5)] = 0.28          # CSF rim
    shell[(dist > 2.5) & (dist <= 8.0)] = 0.07        # cortical bone
    shell[(dist > 4.2) & (dist <= 6.2)] = 0.85        # diploe (marrow)
    shell[(dist > 8.0) & (dist <= 11.0)] = 1.35       # subcutaneous fat
    shell[(dist > 11.0) & (dist <= 13.0)] = 0.55      # muscle / galea
    shell[(dist > 13.0) & (dist <= 14.5)] = 0.75      # skin
    tex = ndi.gaussian_filter(rng.standard_normal(t1n.shape).astype(np.float32), 1.0) * 0.25
    shell = np.where(shell > 0, shell * (1.0 + tex), 0.0)
    t1n = np.where(brain, t1n, shell).astype(np.float32)
    return t1n, brain, vs, org, sella


def prepare(name):
    rng = np.random.default_rng(12345)
    if name == "colin27":
        t1n, brain, vs, org, sella = _prepare_colin(rng)
    elif name == "inia19":
        t1n, brain, vs, org, sella = _prepare_inia(rng)
    else:
        raise ValueError("unknown base %r" % name)
    # crop to the head
    nz = np.nonzero(t1n > 0.05)
    lo = np.maximum([a.min() - 4 for a in nz], 0)
    hi = np.minimum([a.max() + 5 for a in nz], t1n.shape)
    sl = tuple(slice(a, b) for a, b in zip(lo, hi))
    t1n, brain = t1n[sl], brain[sl]
    org = org + lo * vs
    icb = ndi.binary_dilation(brain, iterations=max(1, int(round(2.0 / vs))))
    ic = ndi.gaussian_filter(icb.astype(np.float32), 0.7)
    wm = np.clip((t1n - 0.80) / 0.14, 0, 1) * brain
    wm = wm.astype(np.float32)
    deep, deep_depth, spts, nrm, icdepth = _sites(brain, ic, wm, vs, org, sella, rng)
    bidx = np.nonzero(brain)
    centre = org + np.array([a.mean() for a in bidx]) * vs
    # mid-sagittal plane: brain centroid x (templates are roughly symmetric)
    mid_x = centre[0]
    kx = int(round((mid_x - org[0]) / vs))
    kz = np.arange(brain.shape[2]) * vs + org[2]
    fmask = (icdepth[kx] > 12.0) & (kz[None, :] > centre[2] + 12.0)
    fidx = np.nonzero(fmask)
    sel = rng.choice(len(fidx[0]), size=min(3000, len(fidx[0])), replace=False)
    falx = np.stack([np.full(len(sel), mid_x), org[1] + fidx[0][sel] * vs, org[2] + fidx[1][sel] * vs], 1)
    ext = np.array([a.max() - a.min() for a in bidx]) * vs / 2
    return dict(name=name, t1=t1n.astype(np.float32), ic=ic.astype(np.float32), wm=wm,
                origin=org, vs=vs, centre=centre, sella=sella, mid_x=mid_x, deep_pts=deep,
                deep_depth=deep_depth, surf_pts=spts, surf_nrm=nrm, falx_pts=falx.astype(np.float32),
                half_extent=ext)


_BASES = {}
_COVER = {}


def _cached(fname, build, compress=False):
    """The arrays of $DICOMAID_SIM_CACHE/fname, made by build() and saved there when missing or
    unreadable (written to a temporary name, then renamed)."""
    cache = os.environ.get("DICOMAID_SIM_CACHE", os.path.expanduser("~/.cache/dicomaid-sim"))
    path = os.path.join(cache, fname)
    if os.path.exists(path):
        try:
            return dict(np.load(path))
        except Exception:
            pass
    d = build()
    os.makedirs(cache, exist_ok=True)
    tmp = path + ".%d.tmp.npz" % os.getpid()
    (np.savez_compressed if compress else np.savez)(tmp, **d)
    os.replace(tmp, path)
    return d


def _build_coverings(b):
    dist = ndi.distance_transform_edt(~(b.ic > 0.5)) * b.vs
    dq = np.clip(np.rint(dist * 4.0), 0, 255).astype(np.uint8)
    rng = np.random.default_rng(4711)
    tex = ndi.gaussian_filter(rng.standard_normal(b.t1.shape).astype(np.float32), 1.0)
    tex /= tex.std() + 1e-9
    return dict(dq=dq, tex=tex.astype(np.float16))


def coverings(b):
    """(dq, tex) for base b: dq uint8 = distance (mm * 4, capped at 255) of each voxel from the
    intracranial mask (ic > 0.5; 0 inside it), tex float32 smooth texture, zero mean, std ~1."""
    if b.name not in _COVER:
        d = _cached("%s-cover-v%d.npz" % (b.name, CACHE_VERSION), lambda: _build_coverings(b), True)
        _COVER[b.name] = (d["dq"], d["tex"].astype(np.float32))
    return _COVER[b.name]


def get(name):
    """The prepared base `name` (colin27 | inia19), cached in memory and on disk."""
    if name not in _BASES:
        _BASES[name] = Base(_cached("%s-v%d.npz" % (name, CACHE_VERSION), lambda: prepare(name)))
    return _BASES[name]
