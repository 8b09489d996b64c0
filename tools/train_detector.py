#!/usr/bin/python3
"""Train dicomaid's brain-tumour detector (tools/detnet.py) on simulated slices, on CPU.

Single process:
  nice -n 19 /usr/bin/python3 tools/train_detector.py --out runs/r1 --minutes 55
Data parallel (torch.distributed DDP, gloo backend; one process per core):
  nice -n 19 torchrun --nproc_per_node=2 --redirects 1 --tee 1 --log_dir runs/r1/torchrun \
      tools/train_detector.py --out runs/r1 --minutes 55
  (--redirects 1 --tee 1: Debian's torch 1.13 torchrun under Python 3.11 cannot parse its own
  default "--redirects 0"; any other value works.)

Every process draws its own stream of simulated studies (tools/sim, split "train": Colin27
anatomy, randomised T1c-like and T2-like contrasts, pose, elastic deformation, resolution, bias,
noise, mass effect) through a DataLoader worker; nothing is written to disk.  The schedule is
by wall time (--minutes): linear warm-up, then cosine decay to 2 % of --lr, so a run of any
length ends annealed.  Rank 0 writes OUT/last.pt every --ckpt-minutes, validates on whole
simulated studies (splits standard and standard-t2, seeds 500000.., never the held-out anatomy)
every --val-minutes and at the end, keeps OUT/best.pt by the validation metric (mean of study
AUC, lesion sensitivity at 1 FP/study, type accuracy and box IoU of hits, over both splits),
and writes OUT/summary.json and OUT/log.jsonl.

Export the result with tools/export_detector.py --ckpt OUT/best.pt.
"""

import argparse
import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import detnet  # noqa: E402
from tools.sim import decode as sdec  # noqa: E402
from tools.sim import slices as sslices  # noqa: E402

DECODE = dict(peak_threshold=0.10, nms_kernel=3, max_peaks=8, link_overlap=0.30, link_gap=1,
              min_slices=1, stride=4)


def load_npz_state(path):
    """The state_dict kept in a NumPy archive (the accelerator trainer's last.npz / ema.npz)."""
    z = np.load(path)
    return {k: torch.from_numpy(np.array(z[k])) for k in z.files}


def miner(npz, cfg):
    """A heatmap function for mined hard negatives (sim/slices.py, stream): the network of
    weights npz (a state_dict archive) in eval mode, slices (n, S, S) -> probabilities."""
    net = detnet.build(cfg)
    net.load_state_dict(load_npz_state(npz))
    net.eval()

    def heat(x):
        with torch.no_grad():
            return torch.sigmoid(net(torch.from_numpy(np.ascontiguousarray(x[:, None])))[0]).numpy()
    return heat


class Stream(torch.utils.data.IterableDataset):
    """mine: None, or (weights .npz, network cfg, share of crops, peak floor) for mined hard
    negatives; the mining network is built inside each data worker."""

    def __init__(self, seed, crop, hard=(sslices.HARD_SLICES, sslices.HARD_CROPS), p_none=0.15,
                 mine=None):
        self.seed = seed
        self.crop = crop
        self.hard = hard
        self.p_none = p_none
        self.mine = mine

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid = info.id if info is not None else 0
        torch.set_num_threads(1)
        m = self.mine if self.mine and self.crop < sslices.render.SIZE else None
        for s in sslices.stream(self.seed * 100 + wid, crop_size=self.crop, p_none=self.p_none,
                                hard_slices=self.hard[0], hard_crops=self.hard[1],
                                miner=miner(m[0], m[1]) if m else None,
                                mine_crops=m[2] if m else 0.0,
                                mine_min=m[3] if m else sslices.MINE_MIN):
            yield tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in s)


VAL_SEEDS = {"standard": 500000, "standard-t2": 500000,
             # the randomised training distribution itself: its studies draw seeds below
             # 1000000 (sim/slices.py), so these are never trained on
             "train": 6000000}


def validation_studies(n, splits=("standard", "standard-t2")):
    """Whole validation studies of each split (standard, standard-t2: seeds 500000 .. +n;
    train: seeds 6000000 .. +n), cached on disk (they are deterministic)."""
    import pickle
    cache = os.environ.get("DICOMAID_SIM_CACHE", os.path.expanduser("~/.cache/dicomaid-sim"))
    splits = tuple(splits)
    tag = "" if splits == ("standard", "standard-t2") else "-" + "+".join(splits)
    path = os.path.join(cache, "val-%d%s.pkl" % (n, tag))
    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except (OSError, EOFError, pickle.UnpicklingError):
        pass
    t = time.time()
    v = {sp: sslices.validation_set(sp, range(VAL_SEEDS[sp], VAL_SEEDS[sp] + n)) for sp in splits}
    os.makedirs(cache, exist_ok=True)
    with open(path + ".%d" % os.getpid(), "wb") as f:
        pickle.dump(v, f)
    os.replace(path + ".%d" % os.getpid(), path)
    print("validation set: %d studies in %.0f s" % (len(splits) * n, time.time() - t), flush=True)
    return v


def focal_loss(logits, gt):
    """CenterNet's penalty-reduced focal loss on sigmoid(logits)."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = gt.eq(1).float()
    neg = 1.0 - pos
    pl = torch.log(p) * (1 - p) ** 2 * pos
    nl = torch.log(1 - p) * p ** 2 * (1 - gt) ** 4 * neg
    npos = pos.sum().clamp(min=1.0)
    return -(pl.sum() + nl.sum()) / npos


def gather(feat, ind):
    n, c = feat.shape[:2]
    f = feat.view(n, c, -1).permute(0, 2, 1)
    return f.gather(1, ind.unsqueeze(2).expand(-1, -1, c))


def losses(out, hm, ind, wh, off, mask, w_size=0.1):
    h, s, o = out
    lh = focal_loss(h, hm)
    m = mask.unsqueeze(2)
    npos = mask.sum().clamp(min=1.0)
    ls = (F.l1_loss(gather(s, ind) * m, wh * m, reduction="sum")) / npos
    lo = (F.l1_loss(gather(o, ind) * m, off * m, reduction="sum")) / npos
    return lh + w_size * ls + lo, (lh.item(), ls.item(), lo.item())


@torch.no_grad()
def predict(net, vset, bs=16, mirror=False):
    """Network outputs (sigmoid heatmap, size, offset) for every slice of every study; with
    mirror, averaged with those of the slice mirrored left-right, mirrored back, as the C side
    does for `mirror_average = columns` (models/README.md): the column offset of the mirrored
    run becomes 1 - offset."""
    net.eval()
    outs = []
    for x, true in vset:
        hs, ss, os_ = [], [], []
        for i in range(0, len(x), bs):
            xb = torch.from_numpy(x[i:i + bs].astype(np.float32))
            h, s, o = net(xb)
            h = torch.sigmoid(h)
            if mirror:
                hm, sm, om = (torch.flip(t, dims=[-1]) for t in net(torch.flip(xb, dims=[-1])))
                om = torch.stack([1.0 - om[:, 0], om[:, 1]], 1)
                h, s, o = (h + torch.sigmoid(hm)) / 2, (s + sm) / 2, (o + om) / 2
            hs.append(h.numpy())
            ss.append(s.numpy())
            os_.append(o.numpy())
        outs.append((np.concatenate(hs), np.concatenate(ss), np.concatenate(os_), true))
    net.train()
    return outs


def decode_studies(outs, p):
    studies = []
    for h, s, o, true in outs:
        per = [sdec.decode_slice(h[j], s[j], o[j], p) for j in range(len(h))]
        studies.append((sdec.link(per, p), true))
    return studies


def validate(net, vset, p=None):
    return decode_studies(predict(net, vset), p or DECODE)


def tune_decode(outs_by_split):
    """Grid search of the decoding thresholds on validation outputs; returns (params, metric)."""
    best = (None, -1.0)
    for thr in (0.05, 0.1, 0.2, 0.3):
        for lo in (0.2, 0.3, 0.5):
            for ms in (1, 2):
                p = dict(DECODE, peak_threshold=thr, link_overlap=lo, min_slices=ms)
                res = {sp: sdec.evaluate(decode_studies(o, p)) for sp, o in outs_by_split.items()}
                m = metric_of(res)
                if m > best[1] + 1e-9:
                    best = (p, m, res)
    return best


def metric_of(res):
    vals = []
    for r in res.values():
        a = r["auc"] if not math.isnan(r["auc"]) else 0.5
        vals.append((a + r["sens@1fp"] + r["type_acc"] + r["mean_iou"]) / 4.0)
    return float(np.mean(vals))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=55.0, help="wall-time budget of the training loop")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: no limit)")
    ap.add_argument("--batch", type=int, default=16, help="global batch (split over processes)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--wd", type=float, default=1e-4)
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument("--crop", type=int, default=128, help="train on random crops of this size (multiple of 32; "
                    "256 = whole slices) until --full-frac of the time is left; validation uses whole slices")
    ap.add_argument("--crop-batch", type=int, default=32, help="global batch during the crop phase")
    ap.add_argument("--full-frac", type=float, default=0.3, help="last fraction of the time on whole slices")
    ap.add_argument("--w-size", type=float, default=0.1)
    ap.add_argument("--widths", default="8,16,32,64,128")
    ap.add_argument("--dec", type=int, default=32)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch threads per process (0: 2 / world)")
    ap.add_argument("--workers", type=int, default=1, help="data worker processes per rank")
    ap.add_argument("--ckpt-minutes", type=float, default=4.0)
    ap.add_argument("--val-minutes", type=float, default=20.0)
    ap.add_argument("--val-studies", type=int, default=6, help="per validation split")
    ap.add_argument("--resume", help="checkpoint to start from (weights only)")
    ap.add_argument("--p-none", type=float, default=0.15, help="share of lesion-free training studies")
    ap.add_argument("--hard-slices", type=float, default=sslices.HARD_SLICES,
                    help="share of the slices away from lesions drawn near the sella's level")
    ap.add_argument("--hard-crops", type=float, default=sslices.HARD_CROPS,
                    help="probability that a crop of such a slice with no box is placed over the sella")
    ap.add_argument("--mine", metavar="NPZ", help="mined hard negatives: crops of slices with no box "
                    "are placed over the false peaks of the network with these weights (.npz)")
    ap.add_argument("--mine-crops", type=float, default=0.5,
                    help="with --mine, probability that such a crop is placed over a mined peak")
    ap.add_argument("--mine-min", type=float, default=sslices.MINE_MIN,
                    help="with --mine, the lowest heatmap probability that counts as a false peak")
    a = ap.parse_args(argv)

    distributed = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
    if distributed:
        dist.init_process_group("gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
    else:
        rank, world = 0, 1
    torch.set_num_threads(a.threads or max(1, 2 // world))
    torch.manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    cfg = {"widths": [int(x) for x in a.widths.split(",")], "dec": a.dec}
    net = detnet.build(cfg)
    if a.resume:
        net.load_state_dict(torch.load(a.resume, map_location="cpu")["model"])
    model = torch.nn.parallel.DistributedDataParallel(net) if distributed else net
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=a.wd)
    mine = (a.mine, cfg, a.mine_crops, a.mine_min) if a.mine else None

    def make_loader(crop, batch, salt):
        return torch.utils.data.DataLoader(Stream(a.seed * 1000 + rank * 10 + salt, crop, (a.hard_slices, a.hard_crops),
                                                  a.p_none, mine),
                                           batch_size=max(1, batch // world), num_workers=a.workers,
                                           prefetch_factor=4 if a.workers else 2)
    cropping = a.crop < 256 and a.full_frac < 1.0
    loader = make_loader(a.crop, a.crop_batch, 1) if cropping else make_loader(256, a.batch, 2)
    log = open(os.path.join(a.out, "log.jsonl"), "a") if rank == 0 else None
    vset = None

    def load_vset():
        return validation_studies(a.val_studies)

    if distributed:
        dist.barrier()
    best = -1.0
    t0 = time.time()
    last_ck = last_val = t0
    budget = a.minutes * 60.0
    step = 0
    run = np.zeros(3)
    summary = {}

    def save(path, extra=None):
        ck = {"model": net.state_dict(), "cfg": cfg, "step": step, "args": vars(a),
              "minutes": (time.time() - t0) / 60.0, "decode": {k: v for k, v in DECODE.items() if k != "stride"}}
        ck.update(extra or {})
        torch.save(ck, path + ".tmp")
        os.replace(path + ".tmp", path)

    def do_val():
        nonlocal vset
        if vset is None:
            vset = load_vset()
        res = {sp: sdec.evaluate(validate(net, v)) for sp, v in vset.items()}
        return res, metric_of(res)

    it = iter(loader)
    while True:
        frac = (time.time() - t0) / budget
        flag = torch.tensor([frac, 1.0 if (frac >= 1.0 or (a.max_steps and step >= a.max_steps)) else 0.0])
        if distributed:
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        frac, stop = float(flag[0]), flag[1] > 0
        if stop:
            break
        lr = a.lr * min(1.0, (step + 1) / a.warmup) * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))
        for g in opt.param_groups:
            g["lr"] = lr
        if cropping and frac >= 1.0 - a.full_frac:
            del it, loader                       # ends the crop workers
            cropping = False
            loader = make_loader(256, a.batch, 2)
            it = iter(loader)
            if rank == 0:
                print("switching to whole slices at step %d" % step, flush=True)
        x, hm, ind, wh, off, mask = next(it)
        out = model(x)
        loss, parts = losses(out, hm, ind, wh, off, mask, a.w_size)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
        opt.step()
        step += 1
        run = 0.98 * run + 0.02 * np.array(parts) if step > 1 else np.array(parts)
        now = time.time()
        if rank == 0:
            if step % 20 == 0:
                rec = {"step": step, "min": round((now - t0) / 60, 2), "lr": lr, "hm": run[0], "wh": run[1],
                       "off": run[2], "samples": x.shape[0] * world, "size": x.shape[-1]}
                log.write(json.dumps(rec) + "\n")
                log.flush()
                print(json.dumps(rec), flush=True)
            if now - last_ck >= a.ckpt_minutes * 60:
                save(os.path.join(a.out, "last.pt"))
                last_ck = now
            if a.val_studies > 0 and now - last_val >= a.val_minutes * 60:
                res, m = do_val()
                rec = {"step": step, "min": round((time.time() - t0) / 60, 2), "val": res, "metric": m}
                log.write(json.dumps(rec) + "\n")
                log.flush()
                print(json.dumps(rec), flush=True)
                if m > best:
                    best = m
                    save(os.path.join(a.out, "best.pt"), {"val": res, "metric": m})
                last_val = time.time()
    in_sync = None
    if distributed:
        # DDP keeps replicas identical; check it (one number per rank), before rank 0 loads
        # the best checkpoint for the final validation
        chk = torch.tensor([float(sum(p.double().sum() for p in net.parameters()))], dtype=torch.float64)
        allc = [torch.zeros_like(chk) for _ in range(world)]
        dist.all_gather(allc, chk)
        in_sync = all(abs(float(c) - float(allc[0])) <= 1e-9 * max(1.0, abs(float(allc[0]))) for c in allc)
        if rank == 0:
            print("ddp: %d ranks, parameters in sync: %s" % (world, in_sync), flush=True)
    if rank == 0:
        save(os.path.join(a.out, "last.pt"))
        if a.val_studies > 0:
            res, m = do_val()
            rec = {"step": step, "min": round((time.time() - t0) / 60, 2), "val": res, "metric": m, "final": True}
            log.write(json.dumps(rec) + "\n")
            print(json.dumps(rec), flush=True)
            if m >= best:
                best = m
                save(os.path.join(a.out, "best.pt"), {"val": res, "metric": m})
            # tune the decoding thresholds of the best checkpoint on the validation studies
            ck = torch.load(os.path.join(a.out, "best.pt"), map_location="cpu")
            net.load_state_dict(ck["model"])
            p, tm, tres = tune_decode({sp: predict(net, v) for sp, v in vset.items()})
            ck["decode"] = {k: v for k, v in p.items() if k != "stride"}
            ck["val_tuned"], ck["metric_tuned"] = tres, tm
            torch.save(ck, os.path.join(a.out, "best.pt"))
            print(json.dumps({"tuned_decode": ck["decode"], "metric_tuned": tm, "val_tuned": tres}), flush=True)
            summary_extra = {"tuned_decode": ck["decode"], "metric_tuned": tm}
        summary = {"steps": step, "minutes": round((time.time() - t0) / 60, 2), "best_metric": best,
                   "world": world, "args": vars(a)}
        if a.val_studies > 0:
            summary.update(summary_extra)
        if in_sync is not None:
            summary["ddp_params_in_sync"] = bool(in_sync)
        with open(os.path.join(a.out, "summary.json"), "w") as f:
            json.dump(summary, f, indent=1)
        print(json.dumps(summary), flush=True)
    if distributed:
        dist.barrier()
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
