"""Training and validation slices with CenterNet targets, streamed from simulated studies.

This module owns turning simulated studies into network inputs exactly as the manifest says
the C side will (series percentile normalisation p1/p99, clip [0, 2]) plus targets at stride 4:
  hm    (3, 64, 64)  Gaussian peaks at box centres, channel = lesion type
  ind   (M,)         flat index y*64+x of each box's centre cell,   mask (M,) 1 for real boxes
  wh    (M, 2)       box width, height in cells,   off (M, 2) sub-cell centre offset
Boxes (inclusive pixel indices) map to continuous [c0, c1+1) x [r0, r1+1).

Nothing is written to disk: `stream(seed)` yields samples forever, drawing new studies from the
"train" split (its own random stream, disjoint from the evaluation splits whatever the seed).
Part of the slices and crops away from lesions are hard negatives: the skull base about the
sella, where a lesion-free study is most easily mistaken for a pituitary-like lesion.  With a
miner (a model's heatmap function), crops of slices with no box can also be placed over that
model's own false peaks, wherever they lie (mined hard negatives).
"""

import math

import numpy as np
from scipy.ndimage import maximum_filter

from . import render

STRIDE = 4
OUT = render.SIZE // STRIDE
MAXOBJ = 6
P_LOW, P_HIGH, CLIP = 1.0, 99.0, 2.0
# Hard negatives: the skull base about the sella is where lesion-free training studies drew
# most confident false lesions (typed pituitary-like).  Of the slices picked away from
# lesions, HARD_SLICES are drawn within SELLA_SLAB_MM of the sella's level; a crop of a slice
# with no box on it is placed over the sella's column and row with probability HARD_CROPS.
HARD_SLICES = 0.35
HARD_CROPS = 0.5
SELLA_SLAB_MM = 12.0
# Mined hard negatives: on a slice with no box, the miner's heatmap peaks (3 x 3 maxima of the
# per-cell maximum over types) at or above MINE_MIN are false lesions of the mining model; up to
# MINE_PEAKS of them, the highest first, are the candidate crop centres.
MINE_MIN = 0.1
MINE_PEAKS = 4


def normalise(img, proxy):
    lo, hi = np.percentile(proxy, [P_LOW, P_HIGH])
    if hi <= lo:
        return np.zeros_like(img)
    return np.clip((img - lo) / (hi - lo), 0.0, CLIP).astype(np.float32)


def gaussian_radius(h, w, min_overlap=0.7):
    """CenterNet's radius so that a box shifted within it keeps IoU >= min_overlap."""
    a1, b1 = 1, h + w
    c1 = w * h * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1 ** 2 - 4 * a1 * c1)) / 2
    a2, b2 = 4, 2 * (h + w)
    c2 = (1 - min_overlap) * w * h
    r2 = (b2 + math.sqrt(b2 ** 2 - 4 * a2 * c2)) / 2
    a3, b3 = 4 * min_overlap, -2 * min_overlap * (h + w)
    c3 = (min_overlap - 1) * w * h
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def targets(boxes, size=render.SIZE):
    """boxes: list of (cls, c0, r0, c1, r1) in pixel coordinates of a size x size input."""
    OUT = size // STRIDE
    _YY, _XX = np.mgrid[0:OUT, 0:OUT].astype(np.float32)
    hm = np.zeros((3, OUT, OUT), np.float32)
    ind = np.zeros(MAXOBJ, np.int64)
    wh = np.zeros((MAXOBJ, 2), np.float32)
    off = np.zeros((MAXOBJ, 2), np.float32)
    mask = np.zeros(MAXOBJ, np.float32)
    for j, (c, c0, r0, c1, r1) in enumerate(boxes[:MAXOBJ]):
        w = (c1 - c0 + 1) / STRIDE
        h = (r1 - r0 + 1) / STRIDE
        cx = (c0 + c1 + 1) / 2.0 / STRIDE
        cy = (r0 + r1 + 1) / 2.0 / STRIDE
        x, y = min(int(cx), OUT - 1), min(int(cy), OUT - 1)
        rad = max(0.0, gaussian_radius(h, w))
        sig = max((2 * rad + 1) / 6.0, 0.5)
        g = np.exp(-((_XX - x) ** 2 + (_YY - y) ** 2) / (2 * sig * sig))
        np.maximum(hm[c], g, out=hm[c])
        ind[j] = y * OUT + x
        wh[j] = (w, h)
        off[j] = (cx - x, cy - y)
        mask[j] = 1.0
    return hm, ind, wh, off, mask


def study_slices(st, ks, flip=False, jitter=0.0, rng=None):
    """Render slices ks of study st, normalised.  Returns (x (len(ks),256,256), per-slice box
    lists [(cls, c0, r0, c1, r1)], per-lesion truth [{"type": cls, "boxes": {j: box}}])."""
    vol = st.contrast_volume()
    proxy, _ = st.render(np.arange(st.n), step=4, vol=vol, truth=False)
    img, covs = st.render(ks, vol=vol)
    lo, hi = np.percentile(proxy, [P_LOW, P_HIGH])
    if jitter and rng is not None:
        lo = lo + (hi - lo) * rng.normal(0, jitter)
        hi = hi * (1 + rng.normal(0, jitter))
    x = np.clip((img - lo) / max(hi - lo, 1e-6), 0.0, CLIP).astype(np.float32)
    per = [[] for _ in ks]
    lesions = []
    for les, bl in zip(st.lesions, st.boxes(covs, len(ks))):
        c = render.TYPES.index(les.type)
        if flip:
            bl = [(j, 255 - c1, r0, 255 - c0, r1) for (j, c0, r0, c1, r1) in bl]
        for (j, c0, r0, c1, r1) in bl:
            per[j].append((c, c0, r0, c1, r1))
        if bl:
            lesions.append({"type": c, "boxes": {j: (c0, r0, c1, r1) for (j, c0, r0, c1, r1) in bl}})
    if flip:
        x = x[:, :, ::-1].copy()
    return x, per, lesions


def sella_index(st):
    """(slice, row, column) of the base's sella in study st, as continuous indices."""
    k, r, c = st.to_index(st.to_patient(np.asarray(st.base.sella, dtype=np.float64)))
    return float(k), float(r), float(c)


def pick_slices(st, k, rng, hard=0.0):
    """k distinct slice indices, about 65 % near lesions when there are any; of the rest, a
    share `hard` near the sella's level (hard negatives when no lesion is there)."""
    lk = []
    for les in st.lesions:
        kc, _, _ = st.to_index(st.to_patient(les.c))
        ext = les.core_bound() / st.sp
        lo, hi = int(max(0, math.floor(kc - ext))), int(min(st.n - 1, math.ceil(kc + ext)))
        if hi >= lo:
            lk.extend(range(lo, hi + 1))
    lk = sorted(set(lk))
    nl = min(len(lk), int(round(0.65 * k)))
    ks = set(int(x) for x in rng.choice(lk, nl, replace=False)) if nl else set()
    if hard > 0:
        ksel = sella_index(st)[0]
        slab = [i for i in range(st.n) if abs(i - ksel) * st.sp <= SELLA_SLAB_MM and i not in ks]
        nh = min(len(slab), int(round(hard * (k - len(ks)))))
        if nh:
            ks |= set(int(x) for x in rng.choice(slab, nh, replace=False))
    others = [i for i in range(st.n) if i not in ks]
    ks |= set(int(x) for x in rng.choice(others, min(len(others), k - len(ks)), replace=False))
    return sorted(set(ks))


def mined_foci(heat, thr=MINE_MIN, k=MINE_PEAKS):
    """Pixel (column, row) centres of the highest false peaks in heat (3, H/4, W/4 probabilities
    of a slice with no lesion): 3 x 3 local maxima of the maximum over types, at least thr."""
    h = heat.max(axis=0)
    peak = (h == maximum_filter(h, size=3, mode="constant", cval=-1.0)) & (h >= thr)
    rows, cols = np.nonzero(peak)
    order = np.argsort(-h[rows, cols], kind="stable")[:k]
    return [((cols[i] + 0.5) * STRIDE, (rows[i] + 0.5) * STRIDE) for i in order]


def crop(x, boxes, size, rng, focus=None):
    """A size x size crop (offsets multiple of the stride) that holds every box when it can;
    boxes cut by the crop are clipped to it (kept when at least half of the box is inside).
    With no box, a focus (column, row) is kept at least a quarter of the crop from its edges."""
    S = x.shape[-1]
    if size >= S:
        return x, boxes
    m = (S - size) // STRIDE
    lo_x = lo_y = 0
    hi_x = hi_y = m
    if not boxes and focus is not None:
        q = size // 4
        fc, fr = focus
        lo_x, hi_x = max(0, math.ceil((fc + q - size) / STRIDE)), min(m, math.floor((fc - q) / STRIDE))
        lo_y, hi_y = max(0, math.ceil((fr + q - size) / STRIDE)), min(m, math.floor((fr - q) / STRIDE))
    elif boxes:
        lo_x = max(0, -(-(max(b[3] for b in boxes) - size + 1) // STRIDE))
        hi_x = min(m, min(b[1] for b in boxes) // STRIDE)
        lo_y = max(0, -(-(max(b[4] for b in boxes) - size + 1) // STRIDE))
        hi_y = min(m, min(b[2] for b in boxes) // STRIDE)
    ox = STRIDE * int(rng.integers(lo_x, hi_x + 1)) if hi_x >= lo_x else STRIDE * int(rng.integers(0, m + 1))
    oy = STRIDE * int(rng.integers(lo_y, hi_y + 1)) if hi_y >= lo_y else STRIDE * int(rng.integers(0, m + 1))
    out = []
    for (c, c0, r0, c1, r1) in boxes:
        a0 = (c1 - c0 + 1) * (r1 - r0 + 1)
        c0n, c1n = max(c0 - ox, 0), min(c1 - ox, size - 1)
        r0n, r1n = max(r0 - oy, 0), min(r1 - oy, size - 1)
        if c1n >= c0n and r1n >= r0n and (c1n - c0n + 1) * (r1n - r0n + 1) >= 0.5 * a0:
            out.append((c, c0n, r0n, c1n, r1n))
    return x[..., oy:oy + size, ox:ox + size], out


def stream(seed, k_per_study=16, p_none=0.15, crop_size=render.SIZE, crops_per_slice=None,
           hard_slices=HARD_SLICES, hard_crops=HARD_CROPS, miner=None, mine_crops=0.0,
           mine_min=MINE_MIN):
    """Yield (image (1,S,S), hm, ind, wh, off, mask) forever (S = crop_size); with crops, each
    rendered slice gives crops_per_slice crops (default 4 when cropping, else 1): rendering
    costs about twice the network's training step per 128 x 128 crop, so crops are reused.
    hard_slices and hard_crops: the share of hard negatives about the sella (see HARD_SLICES).
    miner: a function from slices (n, S, S) to heatmap probabilities (n, 3, S/4, S/4); with it, a
    crop of a slice with no box is centred, with probability mine_crops, on one of the miner's
    false peaks (mined_foci) when there is one, before the sella rule is tried."""
    if crops_per_slice is None:
        crops_per_slice = 4 if crop_size < render.SIZE else 1
    rng = np.random.default_rng([seed, 31337])
    pool = []          # samples of the last few studies, drawn at random so batches mix studies
    while True:
        while len(pool) < 2 * k_per_study * crops_per_slice:
            sseed = int(rng.integers(0, 1000000))
            st = render.Study(sseed, "train", p_none=p_none)
            ks = pick_slices(st, k_per_study, rng, hard_slices)
            flip = bool(rng.random() < 0.5)
            x, per, _ = study_slices(st, ks, flip=flip, jitter=0.03, rng=rng)
            ksel, rsel, csel = sella_index(st)
            focus = (render.SIZE - 1 - csel if flip else csel, rsel)
            foci = [None] * len(ks)
            free = [j for j in range(len(ks)) if not per[j]]
            if miner is not None and mine_crops > 0 and crop_size < render.SIZE and free:
                for j, h in zip(free, miner(x[free])):
                    foci[j] = mined_foci(h, mine_min)
            for j in np.repeat(np.arange(len(ks)), crops_per_slice):
                near = abs(ks[j] - ksel) * st.sp <= SELLA_SLAB_MM
                if foci[j] and rng.random() < mine_crops:
                    f = foci[j][int(rng.integers(len(foci[j])))]
                else:
                    f = focus if (hard_crops > 0 and near and rng.random() < hard_crops) else None
                xi, bi = crop(x[j], per[j], crop_size, rng, f)
                hm, ind, wh, off, mask = targets(bi, xi.shape[-1])
                pool.append((np.ascontiguousarray(xi[None]), hm, ind, wh, off, mask))
        for _ in range(k_per_study * crops_per_slice):
            yield pool.pop(int(rng.integers(len(pool))))


def validation_set(split, seeds):
    """Whole studies for validation: list of (images (n,1,256,256) float16, per-lesion truth
    [{"type", "boxes": {slice: box}}])."""
    out = []
    for s in seeds:
        st = render.Study(s, split)
        x, _, lesions = study_slices(st, np.arange(st.n))
        out.append((x[:, None].astype(np.float16), lesions))
    return out
