#!/usr/bin/python3
"""Evaluate the shipped C detection path on held-out simulated studies (issue 4).

For each split (standard: the training anatomy and contrast; heldout: an anatomy and contrast
never seen in training) this script

  1. generates N studies with seeds never used in training (>= 1 000 000; models/README.md):
        /usr/bin/python3 -m tools.sim studies DIR --n N --seed S --split SPLIT
  2. runs the C detector exactly as shipped on them:  src/dicomaid-detect --model M DIR
  3. scores its JSON against each study's truth.json:
     - study AUC (lesion vs none) from study_probability (Mann-Whitney, ties count one half);
     - lesion sensitivity at 0.5, 1 and 2 false positives per study (FROC: every listed lesion
       is a candidate; a candidate hits a true lesion when, on at least one image both have a
       box on, the 2-D IoU of the inclusive boxes is >= 0.3 -- the one of best mean IoU when
       it hits several; a true lesion is found at threshold t when a candidate with
       probability >= t hits it; candidates that hit nothing are the false positives;
       candidates that hit an already found lesion are neither);
     - mean box IoU and type accuracy of hits: for each found true lesion, its
       highest-probability hit, the mean IoU over the images both have a box on, and whether
       the type agrees (the same definitions as the training side's tools/sim/decode.py);
     - at the operating threshold (the manifest's study_threshold, or --threshold): the
       sensitivity, false positives per study, and the same hit figures;
     - detector wall time per slice;
     - 95 % intervals of the study AUC and the sensitivities at 0.5, 1 and 2 FP/study, by a
       bootstrap over studies (--bootstrap B resamples, seeded; 0 turns it off);
     - with --compare M2: the same figures for a second model on the same studies, and the
       differences with paired intervals (both models scored on each resample), the way to
       tell whether a new model is better or only different.
Prints a table and writes JSON (--json). numpy is the only dependency.

  /usr/bin/python3 tools/eval_detect.py --n 40 --json eval.json
  /usr/bin/python3 tools/eval_detect.py --reuse DIR      # score studies generated before
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPLIT_SEEDS = {"standard": 1_000_000, "heldout": 2_000_000}
HIT_IOU = 0.3
FP_RATES = (0.5, 1.0, 2.0)


def box_iou(a, b):
    """2-D IoU of two inclusive pixel boxes given as dicts."""
    c0, c1 = max(a["col_min"], b["col_min"]), min(a["col_max"], b["col_max"])
    r0, r1 = max(a["row_min"], b["row_min"]), min(a["row_max"], b["row_max"])
    if c1 < c0 or r1 < r0:
        return 0.0
    inter = (c1 - c0 + 1) * (r1 - r0 + 1)

    def area(x):
        return (x["col_max"] - x["col_min"] + 1) * (x["row_max"] - x["row_min"] + 1)
    return inter / float(area(a) + area(b) - inter)


def lesion_ious(pred, true):
    """IoUs of pred's and true's boxes on the images both have a box on."""
    tb = {b["sop_instance_uid"]: b for b in true["boxes"]}
    return [box_iou(b, tb[b["sop_instance_uid"]]) for b in pred["boxes"]
            if b["sop_instance_uid"] in tb]


def auc(scores, labels):
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties)."""
    s = np.asarray(scores, float)
    y = np.asarray(labels, bool)
    npos, nneg = int(y.sum()), int((~y).sum())
    if npos == 0 or nneg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[order[j + 1]] == s[order[i]]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1
        i = j + 1
    return float((ranks[y].sum() - npos * (npos + 1) / 2.0) / (npos * nneg))


def mean(v):
    return float(np.mean(v)) if len(v) else float("nan")


def score_split(studies, threshold):
    """studies: list of (truth dict, prediction dict or None). Returns the metrics dict."""
    n = len(studies)
    labels, probs = [], []
    cands = []          # (probability, study index, candidate index)
    hits = {}           # (study, cand) -> list of (true index, mean iou, max iou)
    ntrue = 0
    skipped = 0
    for si, (truth, pred) in enumerate(studies):
        tl = truth["lesions"]
        ntrue += len(tl)
        labels.append(len(tl) > 0)
        if pred is None or "skipped" in pred:
            skipped += 1
            probs.append(0.0)
            continue
        probs.append(pred["study_probability"])
        for ci, c in enumerate(pred["lesions"]):
            cands.append((c["probability"], si, ci))
            h = []
            for ti, t in enumerate(tl):
                ious = lesion_ious(c, t)
                if ious and max(ious) >= HIT_IOU:
                    h.append((ti, float(np.mean(ious)), max(ious)))
            hits[(si, ci)] = h

    # each candidate hits at most one true lesion: the one of best mean IoU (as the
    # training side's tools/sim/decode.py scores it)
    for k, h in hits.items():
        hits[k] = [max(h, key=lambda x: x[1])] if h else []

    # FROC over all candidate thresholds
    cands.sort(key=lambda x: -x[0])
    found = set()
    fp = 0
    curve = [(float("inf"), 0.0, 0.0)]   # (threshold, fp per study, sensitivity)
    i = 0
    while i < len(cands):
        t = cands[i][0]
        while i < len(cands) and cands[i][0] == t:
            _, si, ci = cands[i]
            h = hits[(si, ci)]
            if h:
                found.add((si, h[0][0]))
            else:
                fp += 1
            i += 1
        curve.append((t, fp / float(n), len(found) / float(ntrue) if ntrue else float("nan")))
    sens_at = {}
    for r in FP_RATES:
        ok = [c[2] for c in curve if c[1] <= r + 1e-12]
        sens_at[str(r)] = max(ok) if ok else 0.0

    # quality of hits: for each true lesion its highest-probability hitting candidate, at
    # any threshold (as tools/sim/decode.py), and at the operating threshold
    best_hit = {}
    for p, si, ci in cands:   # descending probability
        for ti, miou, _ in hits[(si, ci)]:
            if (si, ti) not in best_hit:
                truth, pred = studies[si]
                best_hit[(si, ti)] = (p, miou, pred["lesions"][ci]["type"] ==
                                      truth["lesions"][ti]["type"])
    found_op = {k: v for k, v in best_hit.items() if v[0] >= threshold}
    fp_op = sum(1 for p, si, ci in cands if p >= threshold and not hits[(si, ci)])
    by_type = {}
    for si, (truth, _) in enumerate(studies):
        for ti, t in enumerate(truth["lesions"]):
            d = by_type.setdefault(t["type"], [0, 0])
            d[0] += 1
            d[1] += (si, ti) in found_op
    return {
        "studies": n,
        "studies_with_lesions": int(sum(labels)),
        "true_lesions": ntrue,
        "skipped_series": skipped,
        "study_auc": auc(probs, labels),
        "sensitivity_at_fp_per_study": sens_at,
        "operating_threshold": threshold,
        "sensitivity_at_threshold": len(found_op) / float(ntrue) if ntrue else float("nan"),
        "fp_per_study_at_threshold": fp_op / float(n) if n else float("nan"),
        "mean_box_iou_of_hits": mean([v[1] for v in best_hit.values()]),
        "type_accuracy_of_hits": mean([v[2] for v in best_hit.values()]),
        "mean_box_iou_of_hits_at_threshold": mean([v[1] for v in found_op.values()]),
        "type_accuracy_of_hits_at_threshold": mean([v[2] for v in found_op.values()]),
        "sensitivity_by_type_at_threshold": {k: v[1] / float(v[0]) for k, v in
                                             sorted(by_type.items())},
        "froc": [{"threshold": c[0], "fp_per_study": c[1], "sensitivity": c[2]}
                 for c in curve[1:]],
    }


BOOT_KEYS = ["study_auc"] + ["sensitivity_at_fp_per_study/%s" % r for r in FP_RATES]


def boot_values(m):
    """The bootstrapped figures of one scored resample (None where undefined)."""
    out = {}
    for k in BOOT_KEYS:
        if "/" in k:
            v = m[k.split("/")[0]][k.split("/")[1]] if m["true_lesions"] else float("nan")
        else:
            v = m[k]
        out[k] = None if np.isnan(v) else v
    return out


def bootstrap(studies, threshold, reps, seed=20261126, other=None, other_threshold=None):
    """95 % percentile intervals of study AUC and of the sensitivities at 0.5, 1 and 2 FP per
    study, over `reps` resamples of the studies with replacement (a study drawn twice counts
    as two studies).  With 40 studies a split's figures move by several hundredths from one
    set of studies to another; this says by how much.  Returns (intervals, differences).
    With `other` (the same studies scored for a second model, in the same order), the
    differences are the intervals of this model minus the other, both taken on the same
    resamples (a paired comparison); without it they are None."""
    rng = np.random.default_rng(seed)
    n = len(studies)
    vals = {k: [] for k in BOOT_KEYS}
    diffs = {k: [] for k in BOOT_KEYS}
    for _ in range(reps):
        idx = rng.integers(0, n, n)
        a = boot_values(score_split([studies[i] for i in idx], threshold))
        b = boot_values(score_split([other[i] for i in idx], other_threshold)) if other else None
        for k in BOOT_KEYS:
            if a[k] is None:
                continue          # e.g. no lesion drawn: no sensitivity
            vals[k].append(a[k])
            if b is not None and b[k] is not None:
                diffs[k].append(a[k] - b[k])

    def intervals(d):
        return {k: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] if v else None
                for k, v in d.items()}
    return intervals(vals), intervals(diffs) if other else None


def run(cmd, cwd=None, **kw):
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, cwd=cwd, check=True, **kw)


def generate(sim_root, out, n, seed, split, workers):
    cmd = ["/usr/bin/python3", "-m", "tools.sim", "studies", out, "--n", str(n), "--seed",
           str(seed), "--split", split]
    if workers:
        cmd += ["--workers", str(workers)]
    run(cmd, cwd=sim_root)


def load_studies(folder):
    truths = []
    for name in sorted(os.listdir(folder)):
        p = os.path.join(folder, name, "truth.json")
        if os.path.isfile(p):
            with open(p) as f:
                truths.append(json.load(f))
    return truths


def detect(binary, model, folder, threads):
    cmd = [binary]
    if model:
        cmd += ["--model", model]
    cmd.append(folder)
    env = dict(os.environ)
    if threads:
        env["OPENBLAS_NUM_THREADS"] = str(threads)
    t0 = time.time()
    p = run(cmd, stdout=subprocess.PIPE, env=env)
    return json.loads(p.stdout.decode()), time.time() - t0


def manifest_threshold(path):
    sec = None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("["):
                sec = line.strip("[]").strip()
            elif sec == "decode" and "=" in line:
                k, v = (x.strip() for x in line.split("=", 1))
                if k == "study_threshold":
                    return float(v)
    return 0.5


def fmt(v, pct=False):
    if isinstance(v, float) and v != v:
        return "n/a"
    return ("%.3f" % v)


def selftest():
    """Metrics on a hand-made case whose answers are worked out in the comments."""
    def box(u, c0, r0, c1, r1):
        return {"sop_instance_uid": u, "col_min": c0, "row_min": r0, "col_max": c1,
                "row_max": r1}
    assert auc([0.9, 0.8, 0.1, 0.8], [1, 1, 0, 0]) == 0.875   # ties count one half
    assert auc([0.1, 0.2], [0, 1]) == 1.0
    t1 = {"lesions": [{"type": "glioma", "boxes": [box("a", 0, 0, 9, 9), box("b", 0, 0, 9, 9)]},
                      {"type": "pituitary", "boxes": [box("b", 50, 50, 59, 59)]}]}
    t2 = {"lesions": []}
    p1 = {"study_probability": 0.9, "lesions": [
        # hits lesion 0 on image b (IoU 1); image a not predicted; type right
        {"type": "glioma", "probability": 0.9, "boxes": [box("b", 0, 0, 9, 9)]},
        # a second hit on lesion 0: neither a new find nor a false positive
        {"type": "meningioma", "probability": 0.8, "boxes": [box("b", 0, 0, 9, 9)]},
        # lesion 1: 5 x 10 inside 10 x 10, IoU 0.5: a hit, type wrong
        {"type": "glioma", "probability": 0.4, "boxes": [box("b", 50, 50, 54, 59)]}]}
    p2 = {"study_probability": 0.7, "lesions": [
        {"type": "glioma", "probability": 0.7, "boxes": [box("z", 0, 0, 9, 9)]}]}  # an FP
    m = score_split([(t1, p1), (t2, p2)], 0.5)
    assert m["study_auc"] == 1.0
    # thresholds 0.9: 1 found, 0 FP; 0.8: same; 0.7: 1 FP (0.5/study); 0.4: 2 found
    assert m["sensitivity_at_fp_per_study"]["0.5"] == 1.0, m["froc"]
    assert [c["sensitivity"] for c in m["froc"]] == [0.5, 0.5, 0.5, 1.0]
    assert [c["fp_per_study"] for c in m["froc"]] == [0, 0, 0.5, 0.5]
    assert m["sensitivity_at_threshold"] == 0.5 and m["fp_per_study_at_threshold"] == 0.5
    # each true lesion's highest-probability hit: lesion 0 by the 0.9 candidate (IoU 1, type
    # right), lesion 1 by the 0.4 one (IoU 0.5, type wrong)
    assert m["mean_box_iou_of_hits"] == 0.75 and m["type_accuracy_of_hits"] == 0.5
    assert m["mean_box_iou_of_hits_at_threshold"] == 1.0
    assert m["type_accuracy_of_hits_at_threshold"] == 1.0
    m = score_split([(t1, p1), (t2, p2)], 0.3)
    assert m["sensitivity_at_threshold"] == 1.0 and m["type_accuracy_of_hits_at_threshold"] == 0.5
    # bootstrap: resamples that draw only one kind of study have no AUC and are left out;
    # every other resample separates the studies perfectly, so the AUC interval is [1, 1];
    # sensitivity at 0.5 FP/study is 1.0 whenever a lesion study is drawn, and a resample of
    # the lesion-free study alone has no lesions (NaN, left out), so that interval is [1, 1]
    ci, _ = bootstrap([(t1, p1), (t2, p2)], 0.5, 200)
    assert ci["study_auc"] == [1.0, 1.0], ci
    assert ci["sensitivity_at_fp_per_study/0.5"] == [1.0, 1.0], ci
    # four copies of the pair with one study's prediction flipped: the interval must widen
    t3 = {"lesions": [{"type": "glioma", "boxes": [box("c", 0, 0, 9, 9)]}]}
    p3 = {"study_probability": 0.1, "lesions": []}
    ci, _ = bootstrap([(t1, p1), (t2, p2), (t3, p3)] * 4, 0.5, 300)
    lo, hi = ci["study_auc"]
    assert lo < 0.75 < hi and lo < hi, ci
    # paired: a model against itself differs by exactly 0 on every resample; against the
    # same studies with the lesion study missed (probability 0.1, no boxes), the AUC and
    # sensitivity differences are never negative and positive on some resample
    same = [(t1, p1), (t2, p2), (t3, p3)] * 4
    _, ci = bootstrap(same, 0.5, 200, other=same, other_threshold=0.5)
    assert all(v == [0.0, 0.0] for v in ci.values()), ci
    worse = [(t1, {"study_probability": 0.1, "lesions": []}), (t2, p2), (t3, p3)] * 4
    _, ci = bootstrap(same, 0.5, 300, other=worse, other_threshold=0.5)
    assert ci["study_auc"][0] >= 0.0 and ci["study_auc"][1] > 0.0, ci
    assert ci["sensitivity_at_fp_per_study/2.0"][0] >= 0.0, ci
    assert ci["sensitivity_at_fp_per_study/2.0"][1] > 0.0, ci
    print("eval_detect: selftest ok")


def load_npy_dump(dump, uid, name):
    p = os.path.join(dump, "%s.%s.npy" % (uid, name))
    return np.load(p) if os.path.exists(p) else None


def reference_series(ds, man):
    """models/README.md [input] steps 1-3 in numpy, from one series' datasets (pydicom).
    Returns the sorted datasets, the input tensor (n x H x W) and the map (s, ox, oy, dr, dc)."""
    iop = np.array(ds[0].ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:])
    ds.sort(key=lambda d: float(np.dot(np.array(d.ImagePositionPatient, float), normal)))
    vol = np.stack([d.pixel_array.astype(np.float64) * float(getattr(d, "RescaleSlope", 1) or 1)
                    + float(getattr(d, "RescaleIntercept", 0) or 0) for d in ds])
    flat = np.sort(vol.ravel().astype(np.float32))
    k = lambda p: flat[int(np.floor(p / 100.0 * (flat.size - 1)))]
    lo, hi = float(k(man["p_low"])), float(k(man["p_high"]))
    x = np.clip((vol - lo) / (hi - lo), man["clip_min"], man["clip_max"]) if hi > lo \
        else np.zeros_like(vol)
    rows, cols = vol.shape[1:]
    dr, dc = (float(v) for v in getattr(ds[0], "PixelSpacing", [1, 1]))
    size = man["size"]
    s = max(cols * dc, rows * dr) / size
    ox, oy = (size - cols * dc / s) / 2, (size - rows * dr / s) / 2
    u = np.arange(size)
    c = (u + 0.5 - ox) * s / dc - 0.5
    r = (u + 0.5 - oy) * s / dr - 0.5
    cin = (c >= -0.5) & (c <= cols - 0.5)
    rin = (r >= -0.5) & (r <= rows - 0.5)
    cc, rr = np.clip(c, 0, cols - 1), np.clip(r, 0, rows - 1)
    c0, r0 = np.floor(cc).astype(int), np.floor(rr).astype(int)
    c1, r1 = np.minimum(c0 + 1, cols - 1), np.minimum(r0 + 1, rows - 1)
    tx, ty = (cc - c0)[None, None, :], (rr - r0)[None, :, None]
    top = x[:, r0][:, :, c0] * (1 - tx) + x[:, r0][:, :, c1] * tx
    bot = x[:, r1][:, :, c0] * (1 - tx) + x[:, r1][:, :, c1] * tx
    inp = top * (1 - ty) + bot * ty
    inp[:, ~rin, :] = man["pad_value"]
    inp[:, :, ~cin] = man["pad_value"]
    return ds, inp, (s, ox, oy, dr, dc)


def reference_decode(heat, size, offset, geo, shape, man):
    """models/README.md [decode] steps 1-3 for one slice: list of (score, type, box)."""
    s, ox, oy, dr, dc = geo
    rows, cols = shape
    score, typ = heat.max(0), heat.argmax(0)
    h, w = score.shape
    k = man["nms_kernel"] // 2
    peaks = []
    for y in range(h):
        for x in range(w):
            v = score[y, x]
            if v < man["peak_threshold"]:
                continue
            win = score[max(0, y - k):y + k + 1, max(0, x - k):x + k + 1]
            if v < win.max():
                continue
            # ties: the first in row-major order keeps the peak
            first = True
            for yy in range(max(0, y - k), min(h, y + k + 1)):
                for xx in range(max(0, x - k), min(w, x + k + 1)):
                    if (yy, xx) < (y, x) and score[yy, xx] == v:
                        first = False
            if first:
                peaks.append((float(v), y, x))
    peaks.sort(key=lambda p: -p[0])
    out = []
    st = man["output.stride"]
    for v, y, x in peaks[:man["max_peaks"]]:
        cx, cy = (x + offset[0, y, x]) * st, (y + offset[1, y, x]) * st
        bw, bh = max(size[0, y, x], 0) * st, max(size[1, y, x], 0) * st
        rd = lambda t: float(np.floor(t + 0.5))
        c0 = rd((cx - bw / 2 - ox) * s / dc)
        c1 = rd((cx + bw / 2 - ox) * s / dc) - 1
        r0 = rd((cy - bh / 2 - oy) * s / dr)
        r1 = rd((cy + bh / 2 - oy) * s / dr) - 1
        c0, c1 = min(max(c0, 0), cols - 1), min(max(c1, 0), cols - 1)
        r0, r1 = min(max(r0, 0), rows - 1), min(max(r1, 0), rows - 1)
        out.append((v, int(typ[y, x]), {"col_min": int(c0), "row_min": int(r0),
                                        "col_max": int(max(c1, c0)), "row_max": int(max(r1, r0))}))
    return out


def reference_link(per_slice, uids, man):
    """models/README.md [decode] steps 4-6: lesions as (probability, type, boxes)."""
    def iomin(a, b):
        c0, c1 = max(a["col_min"], b["col_min"]), min(a["col_max"], b["col_max"])
        r0, r1 = max(a["row_min"], b["row_min"]), min(a["row_max"], b["row_max"])
        if c1 < c0 or r1 < r0:
            return 0.0
        ar = lambda x: (x["col_max"] - x["col_min"] + 1) * (x["row_max"] - x["row_min"] + 1)
        return (c1 - c0 + 1) * (r1 - r0 + 1) / float(min(ar(a), ar(b)))
    lesions = []   # dicts: last slice, last box, boxes, scores, types
    for z, dets in enumerate(per_slice):
        taken = set()
        for v, t, b in sorted(dets, key=lambda d: -d[0]):
            best, bo = None, -1
            for li, L in enumerate(lesions):
                if li in taken or not (1 <= z - L["z"] <= man["link_gap"] + 1):
                    continue
                o = iomin(L["box"], b)
                if o >= man["link_overlap"] and o > 0 and o > bo:
                    best, bo = li, o
            if best is None:
                lesions.append({"boxes": [], "scores": [], "types": []})
                best = len(lesions) - 1
            L = lesions[best]
            taken.add(best)
            L["z"], L["box"] = z, b
            L["boxes"].append(dict(b, sop_instance_uid=uids[z]))
            L["scores"].append(v)
            L["types"].append(t)
    out = []
    for L in lesions:
        if len(L["boxes"]) < man["min_slices"]:
            continue
        votes = np.zeros(8)
        for v, t in zip(L["scores"], L["types"]):
            votes[t] += v
        out.append((max(L["scores"]), int(np.argmax(votes)), L["boxes"]))
    out.sort(key=lambda l: -l[0])
    return out


def read_manifest(path):
    man, sec, labels = {}, None, {}
    with open(path) as f:
        for line in f:
            line = line.split(";", 1)[0].strip()
            if line.startswith("["):
                sec = line.strip("[]").strip()
            elif "=" in line:
                k, v = (x.strip() for x in line.split("=", 1))
                if sec.startswith("label") and k == "index":
                    labels[int(v)] = sec[5:].strip()
                elif sec in ("input", "decode", "output"):
                    if sec == "output":
                        k = "output." + k
                    try:
                        man[k] = int(v)
                    except ValueError:
                        try:
                            man[k] = float(v)
                        except ValueError:
                            man[k] = v
    man["labels"] = [labels[i] for i in sorted(labels)]
    return man


def reference_check(binary, model, folders):
    """Run dicomaid-detect --dump on each folder (one series per folder) and compare its
    network input and its JSON with this file's numpy implementation of models/README.md."""
    man = read_manifest(model)
    worst = 0.0
    import pydicom
    for folder in folders:
        series = {}
        for dp, _, fs in os.walk(folder):
            for f in fs:
                try:
                    d = pydicom.dcmread(os.path.join(dp, f))
                except Exception:
                    continue
                series.setdefault(str(d.SeriesInstanceUID), []).append(d)
        with tempfile.TemporaryDirectory() as dump:
            p = run([binary, "--model", model, "--dump", dump, folder], stdout=subprocess.PIPE)
            got = json.loads(p.stdout.decode())["studies"]
            for c in got:
                if "skipped" in c:
                    continue
                uid = c["series_instance_uid"]
                ds, inp, geo = reference_series(series[uid], man)
                c_inp = load_npy_dump(dump, uid, "input")[:, 0]
                diff = float(np.abs(c_inp - inp).max())
                worst = max(worst, diff)
                heat = load_npy_dump(dump, uid, "heatmap")
                size = load_npy_dump(dump, uid, "size")
                off = load_npy_dump(dump, uid, "offset")
                shape = ds[0].pixel_array.shape
                per_slice = [reference_decode(heat[z], size[z], off[z], geo, shape, man)
                             for z in range(len(ds))]
                ref = reference_link(per_slice, [str(d.SOPInstanceUID) for d in ds], man)
                ok = len(ref) == len(c["lesions"])
                for (pr, t, boxes), L in zip(ref, c["lesions"]):
                    ok &= abs(pr - L["probability"]) < 1e-4 and man["labels"][t] == L["type"]
                    ok &= boxes == L["boxes"]
                print("reference %s: input max|C-numpy| = %.2e, %d lesions, JSON %s" %
                      (uid, diff, len(ref), "identical" if ok else "DIFFERS"))
                if not ok or diff > 1e-4:
                    return 1
    print("reference check: ok (worst input difference %.2e)" % worst)
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=40, help="studies per split (default 40)")
    ap.add_argument("--splits", default="standard,heldout")
    ap.add_argument("--seed", type=int, default=None,
                    help="base seed (default: 1000000 standard, 2000000 heldout)")
    ap.add_argument("--detect", default=os.path.join(ROOT, "src", "dicomaid-detect"))
    ap.add_argument("--model", default=None,
                    help="manifest (default: the detector's bundled model)")
    ap.add_argument("--threshold", type=float, default=None,
                    help="operating threshold (default: the manifest's study_threshold)")
    ap.add_argument("--sim-root", default=ROOT, help="repository holding tools/sim")
    ap.add_argument("--workdir", default=None, help="keep generated studies here")
    ap.add_argument("--reuse", default=None,
                    help="score studies already generated under REUSE/<split>")
    ap.add_argument("--workers", type=int, default=0, help="simulator workers")
    ap.add_argument("--threads", type=int, default=0, help="OpenBLAS threads for the detector")
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--bootstrap", type=int, default=1000, metavar="B",
                    help="resamples for the 95 %% intervals of AUC and sensitivity (0: none)")
    ap.add_argument("--compare", default=None, metavar="MANIFEST",
                    help="also run this second model on the same studies and report the "
                         "differences (--model minus it) with paired 95 %% intervals")
    ap.add_argument("--selftest", action="store_true", help="check the metrics and exit")
    ap.add_argument("--reference", nargs="+", metavar="STUDY",
                    help="compare the C path with a numpy implementation of models/README.md "
                         "on these study folders (needs pydicom) and exit")
    a = ap.parse_args(argv)
    if a.selftest:
        selftest()
        return 0
    if a.reference:
        return reference_check(a.detect, a.model or os.path.join(ROOT, "models",
                               "brain-tumour-detector.ini"), a.reference)

    model = a.model or os.path.join(ROOT, "models", "brain-tumour-detector.ini")
    threshold = a.threshold if a.threshold is not None else manifest_threshold(model)
    tmp = None
    base = a.reuse or a.workdir
    if base is None:
        tmp = tempfile.TemporaryDirectory(prefix="eval_detect.")
        base = tmp.name
    results = {"command": " ".join([os.path.basename(sys.argv[0])] + (argv or sys.argv[1:])),
               "model": os.path.abspath(model), "hit_iou": HIT_IOU, "splits": {}}
    for split in [s for s in a.splits.split(",") if s]:
        seed = a.seed if a.seed is not None else SPLIT_SEEDS.get(split, 3_000_000)
        if seed < 1_000_000:
            sys.exit("eval_detect: seeds below 1000000 are training seeds")
        folder = os.path.join(base, split)
        if not a.reuse:
            os.makedirs(base, exist_ok=True)
            t0 = time.time()
            generate(a.sim_root, folder, a.n, seed, split, a.workers)
            print("generated %d %s studies in %.0f s" % (a.n, split, time.time() - t0),
                  file=sys.stderr)
        truths = load_studies(folder)
        out, secs = detect(a.detect, model, folder, a.threads)
        preds = {s["series_instance_uid"]: s for s in out["studies"]}
        studies = [(t, preds.get(t["series_instance_uid"])) for t in truths]
        m = score_split(studies, threshold)
        studies2 = thr2 = None
        if a.compare:
            out2, _ = detect(a.detect, a.compare, folder, a.threads)
            preds2 = {s["series_instance_uid"]: s for s in out2["studies"]}
            studies2 = [(t, preds2.get(t["series_instance_uid"])) for t in truths]
            thr2 = manifest_threshold(a.compare)
            va, vb = boot_values(m), boot_values(score_split(studies2, thr2))
            d = {"model": os.path.abspath(a.compare), "operating_threshold": thr2}
            for k in BOOT_KEYS:
                d[k] = {"this": va[k], "other": vb[k], "difference":
                        None if va[k] is None or vb[k] is None else va[k] - vb[k]}
            m["compare"] = d
        nslices = sum(len(os.listdir(os.path.join(folder, d))) - 1
                      for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
        m["seed"] = seed
        m["detect_seconds"] = secs
        m["seconds_per_slice"] = secs / max(nslices, 1)
        m["missing_series"] = sum(1 for _, p in studies if p is None)
        if a.bootstrap > 0:
            # one set of resamples for both: this model's intervals and the paired differences
            m["ci95"], dci = bootstrap(studies, threshold, a.bootstrap, other=studies2,
                                       other_threshold=thr2)
            if dci:
                for k in BOOT_KEYS:
                    m["compare"][k]["difference_ci95"] = dci[k]
        results["splits"][split] = m

    rows = [("studies (with lesions)", lambda m: "%d (%d)" % (m["studies"],
                                                             m["studies_with_lesions"])),
            ("true lesions", lambda m: "%d" % m["true_lesions"]),
            ("study AUC", lambda m: fmt(m["study_auc"]))]
    ci = a.bootstrap > 0

    def interval(m, k):
        v = m["ci95"][k]
        return "%.2f-%.2f" % tuple(v) if v else "-"
    if ci:
        rows.append(("  95 % interval", lambda m: interval(m, "study_auc")))
    for r in FP_RATES:
        rows.append(("sensitivity @ %g FP/study" % r,
                     lambda m, r=r: fmt(m["sensitivity_at_fp_per_study"][str(r)])))
        if ci:
            rows.append(("  95 % interval",
                         lambda m, r=r: interval(m, "sensitivity_at_fp_per_study/%s" % r)))
    rows += [("sensitivity @ p>=%.2f" % threshold, lambda m: fmt(m["sensitivity_at_threshold"])),
             ("FP/study @ p>=%.2f" % threshold, lambda m: fmt(m["fp_per_study_at_threshold"])),
             ("mean box IoU of hits", lambda m: fmt(m["mean_box_iou_of_hits"])),
             ("type accuracy of hits", lambda m: fmt(m["type_accuracy_of_hits"])),
             ("skipped / missing series", lambda m: "%d / %d" % (m["skipped_series"],
                                                                  m["missing_series"])),
             ("detector s/slice", lambda m: "%.3f" % m["seconds_per_slice"])]
    if a.compare:
        def diff(m, k):
            d = m["compare"][k]
            if d["difference"] is None:
                return "n/a"
            ci = d.get("difference_ci95")
            return "%+.3f" % d["difference"] + (" [%+.2f,%+.2f]" % tuple(ci) if ci else "")
        rows.append(("minus --compare model:", lambda m: ""))
        rows.append(("  study AUC", lambda m: diff(m, "study_auc")))
        for r in FP_RATES:
            rows.append(("  sensitivity @ %g FP/study" % r,
                         lambda m, r=r: diff(m, "sensitivity_at_fp_per_study/%s" % r)))
    splits = list(results["splits"])
    w = 22 if a.compare else 14
    print("%-28s" % "metric" + "".join("%*s" % (w, s) for s in splits))
    for name, f in rows:
        print("%-28s" % name + "".join("%*s" % (w, f(results["splits"][s])) for s in splits))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    if tmp:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
