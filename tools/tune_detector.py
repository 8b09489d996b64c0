#!/usr/bin/python3
"""Pick the best of several trained weight files on the validation studies, tune its decoding
thresholds there, and write a checkpoint that tools/export_detector.py turns into the bundled
model.

  /usr/bin/python3 tools/tune_detector.py --out runs/a1/best.pt runs/a1/ema.npz runs/a1/last.npz
  /usr/bin/python3 tools/export_detector.py --ckpt runs/a1/best.pt --version 1.1

Inputs are NumPy archives of a state_dict (tools/train_detector_accel.py writes them) or torch
checkpoints of tools/train_detector.py; the network configuration comes from the archive's
meta.json beside it (or --widths/--dec).  Validation uses whole simulated studies of the
`standard` and `standard-t2` splits, seeds 500000.. (Colin27 only: never the held-out anatomy,
never the evaluation seeds >= 1000000); `--splits standard,standard-t2,train` adds studies of
the randomised training distribution itself (seeds 6000000.., which training never draws), so
that false positives under the domain randomisation count too.  The decoding grid and the
metric are the trainer's (mean of study AUC, lesion sensitivity at 1 FP/study, type accuracy
and box IoU of hits over the splits).  With --mirror every candidate runs as the C side runs
a manifest with `mirror_average = columns` (each slice also mirrored left-right, the outputs
averaged), and the checkpoint records it for the export.  study_threshold is then the lowest
threshold that keeps false-positive studies (no true lesion, probability above it) at or
under --max-fp-rate of the lesion-free validation studies.
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import torch  # noqa: E402

import detnet  # noqa: E402
import train_detector as td  # noqa: E402



def load_weights(path, cfg_args):
    """(cfg, state_dict, info) from a .npz archive or a torch checkpoint; info["decode"] is the
    checkpoint's tuned decoding when it has one (tune_detector.py writes it)."""
    if path.endswith(".npz"):
        meta_path = os.path.join(os.path.dirname(path), "meta.json")
        meta = {}
        if os.path.exists(meta_path):
            with open(meta_path) as f:
                meta = json.load(f)
        cfg = meta.get("cfg") or cfg_args
        state = td.load_npz_state(path)
        info = {"step": meta.get("step", 0), "minutes": meta.get("minutes", 0.0), "source": path}
        return cfg, state, info
    ck = torch.load(path, map_location="cpu")
    return ck.get("cfg", cfg_args), ck["model"], {"step": ck.get("step", 0), "minutes": ck.get("minutes", 0.0),
                                                  "source": path, "decode": ck.get("decode")}


def study_threshold(outs_by_split, p, max_fp_rate):
    probs_neg = []
    for outs in outs_by_split.values():
        for pred, true in td.decode_studies(outs, p):
            if not true:
                probs_neg.append(max([l["probability"] for l in pred], default=0.0))
    probs_neg.sort()
    if not probs_neg:
        return 0.5
    allowed = int(max_fp_rate * len(probs_neg))
    # threshold just above the (allowed+1)-th highest negative probability
    k = len(probs_neg) - 1 - allowed
    thr = probs_neg[k] + 1e-3 if k >= 0 else 0.05
    return float(min(0.95, max(0.05, round(thr, 3))))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", nargs="+")
    ap.add_argument("--out", required=True, help="checkpoint to write (.pt)")
    ap.add_argument("--val-studies", type=int, default=6, help="per split")
    ap.add_argument("--max-fp-rate", type=float, default=0.1)
    ap.add_argument("--splits", default="standard,standard-t2",
                    help="validation splits, comma-separated: standard, standard-t2, train")
    ap.add_argument("--widths", default="8,16,32,64,128")
    ap.add_argument("--dec", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mirror", action="store_true",
                    help="average each slice's outputs with its left-right mirror's "
                         "(the manifest's mirror_average = columns)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    cfg_args = {"widths": [int(x) for x in a.widths.split(",")], "dec": a.dec}
    vset = td.validation_studies(a.val_studies, [x for x in a.splits.split(",") if x])
    best = None
    report = []
    for w in a.weights:
        cfg, state, info = load_weights(w, cfg_args)
        net = detnet.build(cfg)
        net.load_state_dict(state)
        outs = {sp: td.predict(net, v, mirror=a.mirror) for sp, v in vset.items()}
        p, m, res = td.tune_decode(outs)
        report.append({"weights": w, "metric_tuned": m, "decode": {k: v for k, v in p.items() if k != "stride"},
                       "val": res})
        print(json.dumps(report[-1]), flush=True)
        if best is None or m > best[0]:
            best = (m, w, cfg, state, info, p, res, outs)
    m, w, cfg, state, info, p, res, outs = best
    dec = {k: v for k, v in p.items() if k != "stride"}
    dec["study_threshold"] = study_threshold(outs, p, a.max_fp_rate)
    dec["mirror_average"] = "columns" if a.mirror else "none"
    ck = {"model": state, "cfg": cfg, "step": info["step"], "minutes": info["minutes"], "decode": dec,
          "val_tuned": res, "metric_tuned": m, "source": w, "candidates": report}
    torch.save(ck, a.out)
    print(json.dumps({"chosen": w, "metric_tuned": m, "decode": dec}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
