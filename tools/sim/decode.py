"""Reference (numpy) implementation of the manifest's decoding and of the detection metrics.

This module owns the Python twin of dicomaid's C post-processing, written from
models/README.md ([decode]), used for validation during training and to choose thresholds,
and the metrics of issue 4 (study AUC, lesion sensitivity at given false positives per study,
mean box IoU and type accuracy of hits).  Images here are 256 x 256 with square pixels, so the
input-to-image mapping is the identity.
"""

import math

import numpy as np
from scipy import ndimage as ndi


def rnd(x):
    return int(math.floor(x + 0.5))


def decode_slice(hm, size, off, p):
    """hm (C, H, W) sigmoid scores, size (2, H, W), off (2, H, W) -> list of
    (score, cls, col_min, row_min, col_max, row_max) for a 256 x 256 image."""
    stride = p.get("stride", 4)
    score = hm.max(0)
    cls = hm.argmax(0)
    k = int(p.get("nms_kernel", 3))
    mx = ndi.maximum_filter(score, size=k, mode="constant", cval=-1.0)
    ys, xs = np.nonzero((score >= p["peak_threshold"]) & (score >= mx))
    order = np.argsort(-score[ys, xs], kind="stable")[: int(p.get("max_peaks", 8))]
    out = []
    lim = hm.shape[1] * stride - 1
    for i in order:
        y, x = ys[i], xs[i]
        cx = (x + off[0, y, x]) * stride
        cy = (y + off[1, y, x]) * stride
        w = max(float(size[0, y, x]), 0.0) * stride
        h = max(float(size[1, y, x]), 0.0) * stride
        c0 = min(max(rnd(cx - w / 2), 0), lim)
        c1 = min(max(rnd(cx + w / 2) - 1, c0), lim)
        r0 = min(max(rnd(cy - h / 2), 0), lim)
        r1 = min(max(rnd(cy + h / 2) - 1, r0), lim)
        out.append((float(score[y, x]), int(cls[y, x]), c0, r0, c1, r1))
    return out


def area(b):
    return (b[2] - b[0] + 1) * (b[3] - b[1] + 1)


def inter(a, b):
    w = min(a[2], b[2]) - max(a[0], b[0]) + 1
    h = min(a[3], b[3]) - max(a[1], b[1]) + 1
    return max(w, 0) * max(h, 0)


def iou(a, b):
    i = inter(a, b)
    return i / float(area(a) + area(b) - i)


def link(per_slice, p, ncls=3):
    """per_slice: list (slice order) of decode_slice lists.  Returns lesions as dicts
    {probability, type, boxes: {slice: (c0, r0, c1, r1)}, scores}."""
    gap = int(p.get("link_gap", 1))
    thr = float(p.get("link_overlap", 0.3))
    lesions = []
    for s, dets in enumerate(per_slice):
        taken = set()
        for det in sorted(dets, key=lambda d: -d[0]):
            box = det[2:]
            best, bo = None, thr
            for li, les in enumerate(lesions):
                if li in taken:
                    continue
                last = les["last"]
                if not (1 <= s - last <= gap + 1):
                    continue
                lb = les["boxes"][last]
                ov = inter(box, lb) / float(min(area(box), area(lb)))
                if ov >= bo:
                    best, bo = li, ov
            if best is None:
                lesions.append({"boxes": {s: box}, "scores": {s: det[0]},
                                "cls": np.eye(ncls)[det[1]] * det[0], "last": s})
                taken.add(len(lesions) - 1)
            else:
                les = lesions[best]
                les["boxes"][s] = box
                les["scores"][s] = det[0]
                les["cls"] = les["cls"] + np.eye(ncls)[det[1]] * det[0]
                les["last"] = s
                taken.add(best)
    out = []
    for les in lesions:
        if len(les["boxes"]) < int(p.get("min_slices", 1)):
            continue
        out.append({"probability": max(les["scores"].values()), "type": int(np.argmax(les["cls"])),
                    "boxes": les["boxes"]})
    return out


def auc(pos, neg):
    pos, neg = np.asarray(pos, float), np.asarray(neg, float)
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    gt = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(gt) / (len(pos) * len(neg))


def evaluate(studies, fps=(0.5, 1.0, 2.0), hit_iou=0.3):
    """studies: list of (pred_lesions, true_lesions) where true lesions are
    {"type": int, "boxes": {slice: box}}.  Returns the metrics dict."""
    sp, sn = [], []
    cand = []            # (prob, true-lesion key or None, type ok, mean IoU)
    n_true = 0
    for si, (pred, true) in enumerate(studies):
        prob = max([l["probability"] for l in pred], default=0.0)
        (sp if true else sn).append(prob)
        n_true += len(true)
        for l in pred:
            best = None
            for ti, t in enumerate(true):
                shared = [s for s in l["boxes"] if s in t["boxes"]]
                ious = [iou(l["boxes"][s], t["boxes"][s]) for s in shared]
                if ious and max(ious) >= hit_iou:
                    m = float(np.mean(ious))
                    if best is None or m > best[1]:
                        best = (ti, m, l["type"] == t["type"])
            if best is None:
                cand.append((l["probability"], None, False, 0.0))
            else:
                cand.append((l["probability"], (si, best[0]), best[2], best[1]))
    cand.sort(key=lambda c: -c[0])
    nst = len(studies)
    res = {"studies": nst, "with_lesion": len(sp), "true_lesions": n_true, "auc": auc(sp, sn)}
    for fp_rate in fps:
        found, fp, best = set(), 0, 0.0
        allowed = fp_rate * nst
        for c in cand:
            if c[1] is None:
                if fp + 1 > allowed:
                    break
                fp += 1
            else:
                found.add(c[1])
        res["sens@%gfp" % fp_rate] = len(found) / max(n_true, 1)
    # hits over all candidates (each true lesion's best-scoring hit)
    seen, ious, ok = set(), [], []
    for c in cand:
        if c[1] is not None and c[1] not in seen:
            seen.add(c[1])
            ious.append(c[3])
            ok.append(c[2])
    res["mean_iou"] = float(np.mean(ious)) if ious else 0.0
    res["type_acc"] = float(np.mean(ok)) if ok else 0.0
    res["sens_any"] = len(seen) / max(n_true, 1)
    return res
