#!/usr/bin/python3
"""Train dicomaid's brain-tumour detector on one accelerator, fed by many CPU data workers.

  python3 tools/train_detector_accel.py --out runs/a1 --minutes 8 --device cuda --workers 15

The same network, losses and simulated data as tools/train_detector.py (the CPU and torchrun DDP
trainer); this one is for a machine with a GPU and many cores, where rendering studies, not the
network, is the bottleneck.  Two DataLoaders render from the "train" split all the time (random
128 x 128 crops and whole 256 x 256 slices, split over --workers processes); their samples go
into two ring buffers on the device, and every step trains on one batch drawn from each buffer.
A sample is used --replay times on average at most (steps wait for data beyond that), so the
accelerator reuses rendered samples instead of idling, without memorising a small pool.  Each
batch also gets a random intensity remap on the device (gamma, gain, noise) and, with --blur, a
random Gaussian blur (lower effective resolution), on top of the simulator's own
randomisation; --resume continues from earlier weights.  The schedule is by wall time: linear warm-up, cosine
decay to 2 % of --lr.  Weights are kept twice (the trained ones and an exponential moving
average) and written every --ckpt-seconds as NumPy archives, OUT/last.npz and OUT/ema.npz (keys
are the state_dict's), so a run cut short still leaves a usable checkpoint and any torch
version can read it.  tools/export_detector.py --npz turns one into the bundled model.

Without an accelerator (--device cpu) the same loop continues a model on the CPU; there the
data workers should yield to training, and --replay then sets the balance, e.g.
  tools/train_detector_accel.py --device cpu --workers 1 --worker-nice 10 --threads 2 \
      --crop-batch 32 --full-batch 8 --replay 3 --resume W.npz --lr 5e-4 --warmup 100 ...
(training waits for fresh samples beyond 3 uses each, and the niced workers then get the cores).

--mine W.npz adds mined hard negatives: each crop worker runs the network of weights W on the
slices it renders with no lesion on them and, with probability --mine-crops, centres a crop of
such a slice on one of that network's false peaks (heatmap >= --mine-min) instead of at random,
so training sees most often the places where W sees lesions that are not there.
"""

import argparse
import json
import os
import queue
import sys
import threading
import time

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import math  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import detnet  # noqa: E402
import train_detector as td  # noqa: E402


class Ring:
    """A fixed-capacity buffer of samples (x, hm, ind, wh, off, mask) on the device."""

    def __init__(self, cap, size, dev):
        o = size // 4
        self.cap, self.n, self.pos, self.added = cap, 0, 0, 0
        half = torch.float16
        self.t = [torch.zeros((cap, 1, size, size), dtype=half, device=dev),
                  torch.zeros((cap, 3, o, o), dtype=half, device=dev),
                  torch.zeros((cap, td.sslices.MAXOBJ), dtype=torch.int64, device=dev),
                  torch.zeros((cap, td.sslices.MAXOBJ, 2), dtype=torch.float32, device=dev),
                  torch.zeros((cap, td.sslices.MAXOBJ, 2), dtype=torch.float32, device=dev),
                  torch.zeros((cap, td.sslices.MAXOBJ), dtype=torch.float32, device=dev)]
        self.dev = dev

    def add(self, batch):
        b = batch[0].shape[0]
        idx = (torch.arange(b) + self.pos) % self.cap
        idx = idx.to(self.dev)
        for dst, src in zip(self.t, batch):
            dst[idx] = src.to(self.dev, non_blocking=True).to(dst.dtype)
        self.pos = (self.pos + b) % self.cap
        self.n = min(self.cap, self.n + b)
        self.added += b

    def sample(self, b):
        idx = torch.randint(0, self.n, (b,), device=self.dev)
        x, hm, ind, wh, off, mask = (t[idx] for t in self.t)
        return x.float(), hm.float(), ind, wh, off, mask


def intensity_aug(x, p=0.8):
    """Per-sample random gamma, gain and Gaussian noise on normalised images in [0, 2]."""
    n = x.shape[0]
    dev = x.device
    on = (torch.rand(n, 1, 1, 1, device=dev) < p).float()
    g = torch.exp(torch.randn(n, 1, 1, 1, device=dev) * 0.25 * on)
    a = torch.exp(torch.randn(n, 1, 1, 1, device=dev) * 0.10 * on)
    y = 2.0 * torch.pow((x * 0.5).clamp(min=0.0), g) * a
    s = torch.rand(n, 1, 1, 1, device=dev) * 0.04 * (torch.rand(n, 1, 1, 1, device=dev) < 0.3).float()
    y = y + torch.randn_like(y) * s
    return y.clamp(0.0, td.sslices.CLIP)


def blur_aug(x, p=0.4, max_sigma=1.5):
    """With probability p, one random Gaussian blur (sigma 0.3..max_sigma pixels) for the whole
    batch: inputs of lower effective resolution than the training renders."""
    if float(torch.rand(())) >= p:
        return x
    sigma = 0.3 + float(torch.rand(())) * (max_sigma - 0.3)
    r = max(1, int(math.ceil(3 * sigma)))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, device=x.device, dtype=x.dtype) / sigma) ** 2)
    k = k / k.sum()
    y = torch.nn.functional.pad(x, (r, r, r, r), mode="replicate")
    y = torch.nn.functional.conv2d(y, k.view(1, 1, 1, -1))
    return torch.nn.functional.conv2d(y, k.view(1, 1, -1, 1))


def feeder(it, q, stop):
    """Move batches from a DataLoader iterator into a queue until stop is set."""
    try:
        for b in it:
            while not stop.is_set():
                try:
                    q.put(b, timeout=0.5)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return
    except Exception as e:  # a dead worker ends this stream, not the run
        print(json.dumps({"feeder_error": repr(e)}), flush=True)


def save_npz(path, state):
    tmp = path + ".tmp.npz"
    np.savez(tmp, **{k: v.detach().float().cpu().numpy() if v.is_floating_point() else v.cpu().numpy()
                     for k, v in state.items()})
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=8.0)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--workers", type=int, default=15, help="data worker processes in all")
    ap.add_argument("--full-workers", type=int, default=0, help="of them, rendering whole slices "
                    "(0: a third)")
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--crop-batch", type=int, default=64)
    ap.add_argument("--full-batch", type=int, default=16)
    ap.add_argument("--crop-cap", type=int, default=200000, help="crop ring buffer capacity")
    ap.add_argument("--full-cap", type=int, default=40000)
    ap.add_argument("--replay", type=float, default=8.0, help="mean uses of a rendered sample, at most")
    ap.add_argument("--min-fill", type=int, default=512)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--wd", type=float, default=1e-4)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--w-size", type=float, default=0.1)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--widths", default="8,16,32,64,128")
    ap.add_argument("--dec", type=int, default=32)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--ckpt-seconds", type=float, default=60.0)
    ap.add_argument("--max-steps", type=int, default=0)
    ap.add_argument("--blur", type=float, default=0.0, help="probability of a random blur per batch")
    ap.add_argument("--resume", help="start from these weights (.npz of a state_dict)")
    ap.add_argument("--worker-nice", type=int, default=0, help="niceness of the data workers (on a "
                    "CPU-only machine, so that training gets the cores and rendering the idle time)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads of the training process (0: torch's choice)")
    ap.add_argument("--p-none", type=float, default=0.15, help="share of lesion-free training studies")
    ap.add_argument("--hard-slices", type=float, default=td.sslices.HARD_SLICES,
                    help="share of the slices away from lesions drawn near the sella's level")
    ap.add_argument("--hard-crops", type=float, default=td.sslices.HARD_CROPS,
                    help="probability that a crop of such a slice with no box is placed over the sella")
    ap.add_argument("--mine", metavar="NPZ", help="mined hard negatives: crops of slices with no box "
                    "are placed over the false peaks of the network with these weights")
    ap.add_argument("--mine-crops", type=float, default=0.5,
                    help="with --mine, probability that such a crop is placed over a mined peak")
    ap.add_argument("--mine-min", type=float, default=td.sslices.MINE_MIN,
                    help="with --mine, the lowest heatmap probability that counts as a false peak")
    a = ap.parse_args(argv)
    cfg = {"widths": [int(x) for x in a.widths.split(",")], "dec": a.dec}
    mine = (a.mine, cfg, a.mine_crops, a.mine_min) if a.mine else None

    # prepare (or load) the anatomy once, then start the data workers (fork) before the
    # accelerator is initialised and before any thread exists
    base = td.sslices.render.anatomy.get("colin27")
    td.sslices.render.anatomy.coverings(base)
    nfull = a.full_workers or max(1, a.workers // 3)
    ncrop = max(1, a.workers - nfull)
    iters = {}
    for name, size, nw, salt in (("crop", a.crop, ncrop, 1), ("full", 256, nfull, 2)):
        loader = torch.utils.data.DataLoader(td.Stream(a.seed * 1000 + salt, size, (a.hard_slices, a.hard_crops), a.p_none, mine), batch_size=32,
                                             num_workers=nw, prefetch_factor=4,
                                             worker_init_fn=lambda _w: os.nice(a.worker_nice) if a.worker_nice else None)
        iters[name] = iter(loader)

    dev = torch.device(a.device if (a.device != "cuda" or torch.cuda.is_available()) else "cpu")
    if dev.type != a.device:
        print(json.dumps({"warning": "no CUDA device, training on CPU"}), flush=True)
        torch.set_num_threads(max(1, (os.cpu_count() or 2) // 4))
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    if dev.type == "cuda":
        print(json.dumps({"device": torch.cuda.get_device_name(0), "torch": torch.__version__}), flush=True)

    net = detnet.build(cfg).to(dev)
    if dev.type == "cuda":
        net = net.to(memory_format=torch.channels_last)
    if a.resume:
        net.load_state_dict(td.load_npz_state(a.resume))
    ema = {k: v.detach().clone().float() for k, v in net.state_dict().items()}
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=a.wd)

    stop = threading.Event()
    streams = {}
    for name, size, batch, cap in (("crop", a.crop, a.crop_batch, a.crop_cap),
                                   ("full", 256, a.full_batch, a.full_cap)):
        q = queue.Queue(maxsize=256)
        th = threading.Thread(target=feeder, args=(iters[name], q, stop), daemon=True)
        th.start()
        streams[name] = dict(q=q, ring=Ring(cap, size, dev), batch=batch, used=0, th=th)

    def drain(block):
        got = 0
        for s in streams.values():
            while True:
                try:
                    b = s["q"].get(timeout=0.2) if (block and got == 0) else s["q"].get_nowait()
                except queue.Empty:
                    break
                s["ring"].add(b)
                got += 1
        return got

    log = open(os.path.join(a.out, "log.jsonl"), "a")
    t0 = time.time()
    budget = a.minutes * 60.0
    step = 0
    run = None
    last_ck = last_log = t0
    waits = 0

    def checkpoint(tag=""):
        save_npz(os.path.join(a.out, "last%s.npz" % tag), net.state_dict())
        save_npz(os.path.join(a.out, "ema%s.npz" % tag), ema)
        with open(os.path.join(a.out, "meta.json"), "w") as f:
            json.dump({"cfg": cfg, "step": step, "minutes": (time.time() - t0) / 60.0, "args": vars(a),
                       "rendered": {k: s["ring"].added for k, s in streams.items()},
                       "decode": {k: v for k, v in td.DECODE.items() if k != "stride"}}, f, indent=1)

    net.train()
    while True:
        now = time.time()
        frac = (now - t0) / budget
        if frac >= 1.0 or (a.max_steps and step >= a.max_steps):
            break
        drain(False)
        todo = []
        for name, s in streams.items():
            r = s["ring"]
            if r.n >= min(a.min_fill, r.cap) and s["used"] + s["batch"] <= a.replay * r.added:
                todo.append(name)
        if not todo:
            waits += 1
            if not drain(True) and not any(s["th"].is_alive() for s in streams.values()):
                print(json.dumps({"error": "every data stream ended"}), flush=True)
                break
            continue
        lr = a.lr * min(1.0, (step + 1) / a.warmup) * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        parts = np.zeros(3)
        for name in todo:
            s = streams[name]
            x, hm, ind, wh, off, mask = s["ring"].sample(s["batch"])
            x = intensity_aug(x)
            if a.blur > 0:
                x = blur_aug(x, a.blur)
            if dev.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
                out = net(x)
            out = tuple(o.float().contiguous() for o in out)
            loss, p = td.losses(out, hm, ind, wh, off, mask, a.w_size)
            (loss / len(todo)).backward()
            parts += np.array(p) / len(todo)
            s["used"] += s["batch"]
        torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
        opt.step()
        step += 1
        with torch.no_grad():
            d = min(a.ema, (1 + step) / (10 + step))
            for k, v in net.state_dict().items():
                if v.is_floating_point():
                    ema[k].mul_(d).add_(v.float(), alpha=1 - d)
                else:
                    ema[k].copy_(v)
        run = parts if run is None else 0.98 * run + 0.02 * parts
        now = time.time()
        if now - last_log >= 10.0:
            rec = {"step": step, "min": round((now - t0) / 60, 2), "lr": round(lr, 6),
                   "hm": round(float(run[0]), 4), "wh": round(float(run[1]), 4), "off": round(float(run[2]), 4),
                   "rendered": {k: s["ring"].added for k, s in streams.items()},
                   "used": {k: s["used"] for k, s in streams.items()}, "waits": waits}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(json.dumps(rec), flush=True)
            last_log = now
        if now - last_ck >= a.ckpt_seconds:
            checkpoint()
            last_ck = now
    checkpoint()
    stop.set()
    summary = {"steps": step, "minutes": round((time.time() - t0) / 60, 2), "device": str(dev),
               "rendered": {k: s["ring"].added for k, s in streams.items()},
               "used": {k: s["used"] for k, s in streams.items()}, "waits": waits}
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps(summary), flush=True)
    os._exit(0)   # do not wait for the data workers to notice


if __name__ == "__main__":
    sys.exit(main())
