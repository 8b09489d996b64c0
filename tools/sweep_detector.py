#!/usr/bin/python3
"""A small hyper-parameter sweep for the detector: launch several training runs, keep the best.

  nice -n 19 /usr/bin/python3 tools/sweep_detector.py --out runs/sweep --minutes 10 \\
      [--nproc 2] [--parallel 1] [--grid lr=1e-3,2e-3 w_size=0.1,0.2] [-- EXTRA TRAIN ARGS]

Each point of the grid (the Cartesian product of the --grid values) is one run of
tools/train_detector.py under `torchrun --nproc_per_node=NPROC` (DDP, gloo) with --minutes
each, in OUT/run-<i>/; --parallel runs that many at once (keep nproc * parallel <= cores).
When all have finished, the run with the highest validation metric (summary.json
"best_metric", computed on the standard validation splits only) is copied to OUT/best.pt and
the table of all runs to OUT/sweep.json.  On a cluster, point --nproc at the cores (or wrap the
same command in the scheduler's torchrun); nothing here is machine-specific.
"""

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

DEFAULT_GRID = ["lr=1e-3,2e-3", "w_size=0.1"]


def parse_grid(items):
    keys, vals = [], []
    for it in items:
        k, v = it.split("=", 1)
        keys.append(k)
        vals.append(v.split(","))
    return [dict(zip(keys, combo)) for combo in itertools.product(*vals)]


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--parallel", type=int, default=1)
    ap.add_argument("--grid", nargs="+", default=DEFAULT_GRID)
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    points = parse_grid(a.grid)
    runs = []
    for i, pt in enumerate(points):
        rd = os.path.join(a.out, "run-%d" % i)
        args = ["--out", rd, "--minutes", str(a.minutes), "--seed", str(100 + i)]
        for k, v in pt.items():
            args += ["--" + k.replace("_", "-"), v]
        if a.nproc > 1:
            cmd = ["torchrun", "--nproc_per_node=%d" % a.nproc, "--redirects", "1", "--tee", "1",
                   "--log_dir", os.path.join(rd, "torchrun"), "--master_port", str(29500 + i),
                   os.path.join(HERE, "train_detector.py")] + args + extra
        else:
            cmd = [sys.executable, os.path.join(HERE, "train_detector.py")] + args + extra
        runs.append({"run": i, "dir": rd, "params": pt, "cmd": cmd})
    pending = list(runs)
    active = []
    while pending or active:
        while pending and len(active) < a.parallel:
            r = pending.pop(0)
            os.makedirs(r["dir"], exist_ok=True)
            logf = open(os.path.join(r["dir"], "stdout.log"), "w")
            print("sweep: start run %d %s" % (r["run"], r["params"]), flush=True)
            r["proc"] = subprocess.Popen(r["cmd"], stdout=logf, stderr=subprocess.STDOUT)
            r["t0"] = time.time()
            active.append(r)
        time.sleep(2)
        for r in list(active):
            if r["proc"].poll() is not None:
                r["rc"] = r["proc"].returncode
                r["seconds"] = round(time.time() - r["t0"], 1)
                active.remove(r)
                try:
                    with open(os.path.join(r["dir"], "summary.json")) as f:
                        r["summary"] = json.load(f)
                except (OSError, ValueError):
                    r["summary"] = None
                m = r["summary"]["best_metric"] if r["summary"] else None
                print("sweep: run %d rc=%d metric=%s" % (r["run"], r["rc"], m), flush=True)
    table = []
    for r in runs:
        m = r["summary"]["best_metric"] if r.get("summary") else None
        table.append({"run": r["run"], "params": r["params"], "rc": r.get("rc"), "metric": m,
                      "steps": r["summary"]["steps"] if r.get("summary") else None, "dir": r["dir"]})
    ok = [t for t in table if t["metric"] is not None and t["rc"] == 0]
    best = max(ok, key=lambda t: t["metric"]) if ok else None
    if best:
        shutil.copyfile(os.path.join(best["dir"], "best.pt"), os.path.join(a.out, "best.pt"))
    with open(os.path.join(a.out, "sweep.json"), "w") as f:
        json.dump({"runs": table, "best": best}, f, indent=1)
    print(json.dumps({"best": best}), flush=True)
    return 0 if best else 1


if __name__ == "__main__":
    sys.exit(main())
