#!/usr/bin/python3
"""PyTorch CPU side of bench/nn_bench.sh: throughput of the detector on the same ONNX file.

Builds tools/detector_net.py's network (BatchNorm folded, as in the ONNX file), loads every
weight from the ONNX file's initializers by name (so both sides run the very same file; the run
fails if any name or shape differs), and times inference on random input:

  /usr/bin/python3 tools/torch_bench.py --model bench/detector_bench.onnx --batch 16 --threads 2 \
      [--seconds 5 | -n ITERATIONS] [--warmup 3] [--mode eager|jit]

eager: torch.inference_mode() on the nn.Module (oneDNN convolutions, NCHW);
jit:   torch.jit.trace + torch.jit.freeze + optimize_for_inference (oneDNN layouts, fused ops).
The last line is the same as `dicomaid-nn bench`'s:  slices_per_s=<float> gflops=<float>
(GFLOP counted as 2 x multiply-accumulates of the convolutions, tools/detector_net.py).
Set OMP_NUM_THREADS to the same T as --threads (nn_bench.sh does) so no idle pool spins.
"""

import argparse
import os
import sys
import time

import numpy as np
import onnx
import torch
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import detector_net  # noqa: E402


def load_onnx_weights(net, path):
    model = onnx.load(path)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    state = net.state_dict()
    missing = [k for k in state if k not in inits]
    if missing:
        raise SystemExit(f"torch_bench: {path}: no initializer for {missing[:3]}...: "
                         "not an export of tools/detector_net.py")
    new = {}
    for k, v in state.items():
        a = inits[k]
        if tuple(a.shape) != tuple(v.shape):
            raise SystemExit(f"torch_bench: {path}: {k} has shape {a.shape}, expected {tuple(v.shape)}")
        new[k] = torch.from_numpy(a.copy())
    net.load_state_dict(new)
    inp = model.graph.input[0].type.tensor_type.shape.dim
    return tuple(d.dim_value for d in inp[1:])


def main(argv):
    ap = argparse.ArgumentParser(description="PyTorch CPU throughput of the detector ONNX file")
    ap.add_argument("--model", default="bench/detector_bench.onnx")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("-n", "--iterations", type=int, default=0, help="fixed iteration count")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--mode", choices=("eager", "jit"), default="eager")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    net = detector_net.build(fused=True)
    chw = load_onnx_weights(net, args.model)
    net.eval()
    x = torch.randn((args.batch,) + chw, generator=torch.Generator().manual_seed(1))
    gflop = detector_net.count_flops(net, (1,) + chw) / 1e9

    run = net
    if args.mode == "jit":
        with torch.no_grad():
            run = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(net, x)))
    with torch.inference_mode():
        for _ in range(args.warmup):
            run(x)
        n = 0
        t0 = time.perf_counter()
        while True:
            run(x)
            n += 1
            el = time.perf_counter() - t0
            if (args.iterations and n >= args.iterations) or (not args.iterations and el >= args.seconds):
                break
    sps = n * args.batch / el
    print(f"torch {torch.__version__} mode={args.mode} batch={args.batch} threads={args.threads} "
          f"iterations={n} seconds={el:.3f} ms_per_batch={1000 * el / n:.2f} "
          f"gflop_per_slice={gflop:.4f} mkldnn={torch.backends.mkldnn.is_available()}")
    print(f"slices_per_s={sps:.3f} gflops={sps * gflop:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
