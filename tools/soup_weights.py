#!/usr/bin/python3
"""Average several weight files of the detector into one ("weight soup").

  /usr/bin/python3 tools/soup_weights.py --out runs/soup13/soup.npz A.npz B.npz [...]

Inputs are NumPy archives of a state_dict as tools/train_detector_accel.py writes them; every
floating-point array is averaged (BatchNorm running statistics included), integer arrays
(BatchNorm step counters) are taken from the first file.  Only weights that descend from the
same run (one continued from the other) average into a working network; measure the result
on validation like any other candidate (tools/tune_detector.py takes the archive written here).
"""

import argparse
import os
import sys

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", nargs="+")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    if len(a.weights) < 2:
        sys.exit("soup_weights: give two or more weight files")
    zs = [np.load(w) for w in a.weights]
    keys = zs[0].files
    for w, z in zip(a.weights[1:], zs[1:]):
        if sorted(z.files) != sorted(keys):
            sys.exit("soup_weights: %s has other keys than %s" % (w, a.weights[0]))
    out = {}
    for k in keys:
        arrs = [np.asarray(z[k]) for z in zs]
        if any(x.shape != arrs[0].shape for x in arrs):
            sys.exit("soup_weights: %s differs in shape" % k)
        if arrs[0].dtype.kind == "f":
            out[k] = (sum(x.astype(np.float64) for x in arrs) / len(arrs)).astype(arrs[0].dtype)
        else:
            out[k] = arrs[0]
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    tmp = a.out + ".tmp.npz"
    np.savez(tmp, **out)
    os.replace(tmp, a.out)
    print("soup_weights: %d arrays, mean of %d files -> %s" % (len(out), len(zs), a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
