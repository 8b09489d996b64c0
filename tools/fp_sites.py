#!/usr/bin/python3
"""Where a detector's false lesions lie: on the lesion-free validation studies of the
randomised training distribution (split `train`, seeds 6000000.., which training never
draws), count the lesions it finds with probability >= --min-prob, and how many of them lie
within --sella-mm of the sella (the skull base, where a lesion-free study is most easily
taken for a pituitary-like lesion).

  /usr/bin/python3 tools/fp_sites.py --val-studies 48 runs/soup13/best.pt runs/h1/best.pt

Weights as tools/tune_detector.py takes them; the decoding is the checkpoint's own (a .pt
written by tune_detector.py) or --peak/--overlap/--min-slices/--mirror.  Prints one JSON line
per weight file.  Nothing here reads the held-out anatomy.
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import detnet  # noqa: E402
import train_detector as td  # noqa: E402
import tune_detector as tu  # noqa: E402
from tools.sim import render  # noqa: E402
from tools.sim import slices as sslices  # noqa: E402


def sites(lesions, st, sella_mm, min_prob):
    """(number of lesions >= min_prob, of them near the sella, types of those near it)."""
    k0, r0, c0 = sslices.sella_index(st)
    n = near = 0
    types = []
    for les in lesions:
        if les["probability"] < min_prob:
            continue
        n += 1
        ks = sorted(les["boxes"])
        k = 0.5 * (ks[0] + ks[-1])
        c0b, r0b, c1b, r1b = les["boxes"][ks[len(ks) // 2]]
        r, c = 0.5 * (r0b + r1b), 0.5 * (c0b + c1b)
        d = np.sqrt(((k - k0) * st.sp) ** 2 + ((r - r0) * st.ps) ** 2 + ((c - c0) * st.ps) ** 2)
        if d <= sella_mm:
            near += 1
            types.append(render.TYPES[les["type"]])
    return n, near, types


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", nargs="+")
    ap.add_argument("--val-studies", type=int, default=48)
    ap.add_argument("--splits", default="standard,standard-t2,train",
                    help="the validation set to load from the cache (only its train split is used)")
    ap.add_argument("--min-prob", type=float, default=0.4)
    ap.add_argument("--sella-mm", type=float, default=20.0)
    ap.add_argument("--peak", type=float, default=0.3)
    ap.add_argument("--overlap", type=float, default=0.2)
    ap.add_argument("--min-slices", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mirror", action="store_true", help="average each slice's maps with its "
                    "left-right mirror's (mirror_average = columns) where the weights do not say")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    splits = [x for x in a.splits.split(",") if x]
    if "train" not in splits:
        ap.error("--splits must include train")
    vset = td.validation_studies(a.val_studies, splits)["train"]
    seeds = range(td.VAL_SEEDS["train"], td.VAL_SEEDS["train"] + a.val_studies)
    free = [(s, v) for s, v in zip(seeds, vset) if not v[1]]
    studies = [render.Study(s, "train") for s, _ in free]
    cfg_args = {"widths": [8, 16, 32, 64, 128], "dec": 32}
    for w in a.weights:
        cfg, state, info = tu.load_weights(w, cfg_args)
        p = dict(td.DECODE, peak_threshold=a.peak, link_overlap=a.overlap, min_slices=a.min_slices)
        dec = info.get("decode") or {}
        p.update({k: v for k, v in dec.items() if k in p})
        net = detnet.build(cfg)
        net.load_state_dict(state)
        mirror = dec.get("mirror_average", "columns" if a.mirror else "none") == "columns"
        outs = td.predict(net, [v for _, v in free], mirror=mirror)
        n = near = 0
        types = []
        top = []
        for (pred, _), st in zip(td.decode_studies(outs, p), studies):
            a_n, a_near, a_types = sites(pred, st, a.sella_mm, a.min_prob)
            n, near = n + a_n, near + a_near
            types += a_types
            top.append(max([les["probability"] for les in pred], default=0.0))
        print(json.dumps({"weights": w, "lesion_free_studies": len(free), "min_prob": a.min_prob,
                          "false_lesions": n, "near_sella": near,
                          "near_sella_types": {t: types.count(t) for t in sorted(set(types))},
                          "mean_top_probability": round(float(np.mean(top)), 3) if top else None,
                          "decode": {k: p[k] for k in ("peak_threshold", "link_overlap", "min_slices")}}),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
