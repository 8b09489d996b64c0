"""Command line of dicomaid's lesion simulator.

  /usr/bin/python3 -m tools.sim studies OUTDIR --n N --seed S --split standard|heldout [--workers W]
        N simulated studies OUTDIR/s0000 ... (per-study seed S + index), each a DICOM series and
        truth.json (format in models/README.md).  Extra splits for diagnostics: standard-t2
        (Colin27, T2-like), heldout-t1c (INIA19, T1 post-contrast-like), train (the randomised
        training distribution).
  /usr/bin/python3 -m tools.sim bench [--split S]
        time one 50-slice study render.

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
            t = time.time()
            st.render(np.arange(50))
            print("seed %d: 50 slices, %d lesions, %.2f s" % (seed, len(st.lesions), time.time() - t))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
