"""Command line of dicomaid's lesion simulator.

  /usr/bin/python3 -m tools.sim studies OUTDIR --n N --seed S --split standard|heldout [--workers W]
        N simulated studies OUTDIR/s0000 ... (per-study seed S + index), each a DICOM series and
        truth.json (format in models/README.md).  Extra splits for diagnostics: standard-t2
        (Colin27, T2-like), heldout-t1c (INIA19, T1 post-contrast-like), train (the randomised
        training distribution).
  /usr/bin/python3 -m tools.sim bench [--split S]
        time one 50-slice study render.
  /usr/bin/python3 -m tools.sim selftest [--keep DIR]
        checks that can fail: same seed -> byte-identical files, DICOM geometry agrees with the
        truth (box centres map to the lesion centre in patient mm), boxes hold the half-covered
        core pixels, both transfer syntaxes appear, training targets decode back to their boxes.

Run from the repository root.  Evaluation should use seeds >= 1000000 (training draws its
studies from the separate "train" split; validation uses seeds 500000..500999).
"""

import argparse
import json
import os
import sys
import time


def _one(args):
    outdir, idx, seed, split = args
    from . import dicomio, render
    st = render.Study(seed, split)
    t = dicomio.write_study(st, outdir, "s%04d" % idx)
    return idx, len(t["lesions"])


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m tools.sim", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("studies")
    s.add_argument("outdir")
    s.add_argument("--n", type=int, default=10)
    s.add_argument("--seed", type=int, default=1000000)
    s.add_argument("--split", default="standard")
    s.add_argument("--workers", type=int, default=1)
    b = sub.add_parser("bench")
    b.add_argument("--split", default="standard")
    t = sub.add_parser("selftest")
    t.add_argument("--keep")
    a = ap.parse_args(argv)
    from . import render
    if a.cmd == "studies":
        if a.split not in render.SPLITS:
            ap.error("unknown split %r (one of %s)" % (a.split, ", ".join(render.SPLITS)))
        jobs = [(a.outdir, i, a.seed + i, a.split) for i in range(a.n)]
        t0 = time.time()
        if a.workers > 1:
            import multiprocessing as mp
            with mp.get_context("fork").Pool(a.workers) as pool:
                res = list(pool.imap(_one, jobs))
        else:
            res = [_one(j) for j in jobs]
        nl = [r[1] for r in res]
        print(json.dumps({"studies": a.n, "split": a.split, "seed": a.seed,
                          "with_lesions": sum(1 for x in nl if x), "lesions": sum(nl),
                          "seconds": round(time.time() - t0, 1)}))
        return 0
    if a.cmd == "bench":
        import numpy as np
        from . import anatomy
        anatomy.get(render.SPLITS[a.split][0])
        for seed in range(3):
            st = render.Study(seed, a.split, n_lesions=2)
            st.n = 50
            t, c = time.time(), time.process_time()
            st.render(np.arange(50))
            print("seed %d: 50 slices, %d lesions, %.2f s wall, %.2f s CPU (load %.1f)"
                  % (seed, len(st.lesions), time.time() - t, time.process_time() - c, os.getloadavg()[0]))
        return 0
    if a.cmd == "selftest":
        return selftest(a.keep)
    return 2


def selftest(keep=None):
    import glob
    import hashlib
    import shutil
    import tempfile

    import numpy as np
    import pydicom

    from . import decode, render, slices
    tmp = keep or tempfile.mkdtemp(prefix="simtest-")
    fails = []

    def check(cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            fails.append(what)

    def digest(d):
        h = hashlib.sha256()
        for f in sorted(glob.glob(os.path.join(d, "*"))):
            h.update(open(f, "rb").read())
        return h.hexdigest()

    main(["studies", os.path.join(tmp, "a"), "--n", "4", "--seed", "900", "--split", "standard"])
    main(["studies", os.path.join(tmp, "b"), "--n", "1", "--seed", "900", "--split", "standard"])
    check(digest(os.path.join(tmp, "a", "s0000")) == digest(os.path.join(tmp, "b", "s0000")),
          "same seed and split give byte-identical files")
    main(["studies", os.path.join(tmp, "h"), "--n", "2", "--seed", "900", "--split", "heldout"])
    syntaxes, nles, nstudy = set(), 0, 0
    for sd in sorted(glob.glob(os.path.join(tmp, "[ah]", "s*"))):
        nstudy += 1
        truth = json.load(open(os.path.join(sd, "truth.json")))
        files = sorted(glob.glob(os.path.join(sd, "*.dcm")))
        bysop = {}
        for f in files:
            ds = pydicom.dcmread(f)
            syntaxes.add(str(ds.file_meta.TransferSyntaxUID))
            bysop[ds.SOPInstanceUID] = ds
        check(all(d.StudyInstanceUID == truth["study_instance_uid"] and
                  d.SeriesInstanceUID == truth["series_instance_uid"] for d in bysop.values()),
              "%s: UIDs of every file match truth.json" % sd)
        check(sorted(int(d.InstanceNumber) for d in bysop.values()) == list(range(1, len(files) + 1)),
              "%s: instance numbers 1..%d" % (sd, len(files)))
        for les in truth["lesions"]:
            nles += 1
            pts, ws = [], []
            for b in les["boxes"]:
                d = bysop[b["sop_instance_uid"]]
                ipp = np.array([float(x) for x in d.ImagePositionPatient])
                iop = np.array([float(x) for x in d.ImageOrientationPatient])
                ps = [float(x) for x in d.PixelSpacing]
                check(0 <= b["col_min"] <= b["col_max"] < d.Columns and 0 <= b["row_min"] <= b["row_max"] < d.Rows,
                      "%s: box inside the image" % sd)
                c = 0.5 * (b["col_min"] + b["col_max"])
                r = 0.5 * (b["row_min"] + b["row_max"])
                pts.append(ipp + c * ps[1] * iop[:3] + r * ps[0] * iop[3:])
                ws.append((b["col_max"] - b["col_min"] + 1) * (b["row_max"] - b["row_min"] + 1))
            ctr = np.average(np.array(pts), axis=0, weights=ws)
            err = float(np.linalg.norm(ctr - np.array(les["centre_mm"])))
            check(err < 0.25 * les["diameter_mm"] + 3.0,
                  "%s: %s centre_mm within %.1f mm of the DICOM box centres (%.1f)"
                  % (sd, les["type"], 0.25 * les["diameter_mm"] + 3.0, err))
    check(len(syntaxes) >= 1 and syntaxes <= {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"},
          "transfer syntaxes are implicit/explicit VR little endian (%s)" % ", ".join(sorted(syntaxes)))
    check(nles > 0, "at least one lesion among %d studies (%d)" % (nstudy, nles))
    # core coverage: a box holds exactly the pixels at least half covered
    st = render.Study(7, "standard", n_lesions=2)
    ks = np.arange(st.n)
    img, covs = st.render(ks)
    for les, cov, bl in zip(st.lesions, covs, st.boxes(covs, st.n)):
        if cov is None or not bl:
            continue
        ksel, r0, r1, c0, c1, cr = cov
        j = len(bl) // 2
        k, bc0, br0, bc1, br1 = bl[j]
        jj = list(ksel).index(k)
        full = np.zeros((render.SIZE, render.SIZE), np.float32)
        full[r0:r1, c0:c1] = cr[jj]
        m = full >= 0.5
        inside = m[br0:br1 + 1, bc0:bc1 + 1].sum()
        check(inside == m.sum() and m[br0, bc0:bc1 + 1].any() and m[br1, bc0:bc1 + 1].any()
              and m[br0:br1 + 1, bc0].any() and m[br0:br1 + 1, bc1].any(),
              "%s box on slice %d is the tight box of the half-covered pixels" % (les.type, k))
    # training targets decode back to their boxes (perfect heatmap -> same boxes)
    boxes = [(0, 40, 50, 90, 97), (2, 120, 130, 131, 139)]
    hm, ind, wh, off, mask = slices.targets(boxes)
    size = np.zeros((2, 64, 64), np.float32)
    offs = np.zeros((2, 64, 64), np.float32)
    for j in range(int(mask.sum())):
        y, x = divmod(int(ind[j]), 64)
        size[:, y, x] = wh[j]
        offs[:, y, x] = off[j]
    dec = decode.decode_slice(hm, size, offs, dict(peak_threshold=0.5, nms_kernel=3, max_peaks=8))
    got = sorted((d[1],) + tuple(d[2:]) for d in dec)
    check(got == sorted(boxes), "targets decode back to the same boxes (%s)" % got)
    # hard negatives: the sella's index lies in a pituitary-like lesion's boxes, slices are
    # drawn at its level, and crops of box-free slices hold it away from their edges
    for seed in range(200):
        st = render.Study(seed, "train")
        pit = [i for i, les in enumerate(st.lesions) if les.type == "pituitary"]
        if pit:
            break
    k, r, c = slices.sella_index(st)
    _, covs = st.render(np.arange(st.n))
    bl = st.boxes(covs, st.n)[pit[0]]
    near = [b for b in bl if abs(b[0] - k) <= 6.0 / st.sp + 1]
    check(bool(near) and all(b[1] - 4 <= c <= b[3] + 4 and b[2] - 4 <= r <= b[4] + 4 for b in near),
          "study %d: the sella's index (%.1f, %.1f, %.1f) lies in the pituitary-like boxes" % (seed, k, r, c))
    st = render.Study(3, "train", n_lesions=0)
    rng = np.random.default_rng(5)
    ks = slices.pick_slices(st, 16, rng, 0.35)
    ksel = slices.sella_index(st)[0]
    nslab = sum(abs(i - ksel) * st.sp <= slices.SELLA_SLAB_MM for i in ks)
    check(len(ks) == 16 and nslab >= 6, "lesion-free study: %d of 16 slices near the sella's level" % nslab)
    ok = True
    xi = np.arange(render.SIZE * render.SIZE, dtype=np.float64).reshape(render.SIZE, render.SIZE)
    for fc, fr in ((40.0, 200.0), (128.0, 100.0), (200.5, 90.0)):
        for _ in range(20):
            xc, _b = slices.crop(xi, [], 128, rng, (fc, fr))
            oy, ox = divmod(int(xc[0, 0]), render.SIZE)
            ok &= 32 <= fc - ox <= 96 and 32 <= fr - oy <= 96
    check(ok, "crops of box-free slices hold the focus at least a quarter from their edges")
    if not keep:
        shutil.rmtree(tmp, ignore_errors=True)
    print("selftest: %d failure(s)" % len(fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
