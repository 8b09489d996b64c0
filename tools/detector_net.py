#!/usr/bin/python3
"""dicomaid's lesion detection network: definition, FLOP counter and ONNX export.

A CenterNet-style fully convolutional detector for one MR slice (input N x 1 x 256 x 256, float32,
normalised intensities).  The encoder halves the resolution five times (256 -> 8); the decoder
is a light FPN-like top-down path (1x1 laterals, x2 nearest upsampling, additions, 3x3
smoothing) back to 1/4 resolution (64 x 64), where three heads predict, per cell:

  heatmap  N x 3 x 64 x 64  class centre probability (sigmoid) for glioma, meningioma, pituitary
  wh       N x 2 x 64 x 64  box width and height in output cells (at the centre cell)
  offset   N x 2 x 64 x 64  sub-cell offset of the centre (x, y)

Every convolution is Conv + BatchNorm + ReLU during training; for inference BatchNorm is folded
into the convolution (fuse_bn()), which is what the ONNX file contains.

Default width gives about 1.34 M parameters and 0.72 GFLOP (2 x multiply-accumulates) per slice.
The same module, narrower and on a smaller input, is one of the golden fixtures
(tools/nn_fixtures.py), so the engine is checked on exactly this topology.

Usage:
  /usr/bin/python3 tools/detector_net.py --export bench/detector_bench.onnx [--seed 2026]
  /usr/bin/python3 tools/detector_net.py --info            # parameters, GFLOP per slice, layers
  /usr/bin/python3 tools/detector_net.py --gemm-shapes --batch 16
        # one line per convolution: "M K N count" = im2col GEMM shape (M = output channels / group,
        # K = input channels / group * kh * kw, N = output H * W * batch) as bench/sgemm_shapes reads
The weights exported here are untrained (fixed seed); a later issue trains the network.
"""

import argparse
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

CLASSES = ("glioma", "meningioma", "pituitary")
INPUT_SIZE = 256
DEFAULT_SEED = 2026
OPSET = 13


class ConvBNReLU(nn.Sequential):
    def __init__(self, cin, cout, k=3, stride=1, relu=True):
        layers = [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False),
                  nn.BatchNorm2d(cout)]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class DetectorNet(nn.Module):
    """CenterNet-lite.  width scales every channel count (default 16 -> 16/32/64/128/256)."""

    def __init__(self, width=16, num_classes=len(CLASSES), head_ch=None):
        super().__init__()
        w = width
        head_ch = head_ch or 2 * w
        self.stem = ConvBNReLU(1, w, 3, stride=2)                 # 1/2
        self.enc1 = ConvBNReLU(w, w, 3)
        self.down2 = ConvBNReLU(w, 2 * w, 3, stride=2)            # 1/4
        self.enc2 = ConvBNReLU(2 * w, 2 * w, 3)
        self.down3 = ConvBNReLU(2 * w, 4 * w, 3, stride=2)        # 1/8
        self.enc3 = ConvBNReLU(4 * w, 4 * w, 3)
        self.down4 = ConvBNReLU(4 * w, 8 * w, 3, stride=2)        # 1/16
        self.enc4 = ConvBNReLU(8 * w, 8 * w, 3)
        self.down5 = ConvBNReLU(8 * w, 16 * w, 3, stride=2)       # 1/32
        self.enc5 = ConvBNReLU(16 * w, 16 * w, 3)
        # top-down path: laterals to a common width, then 3x3 smoothing after each merge
        d = 2 * w
        self.lat5 = ConvBNReLU(16 * w, 4 * d, 1, relu=False)
        self.lat4 = ConvBNReLU(8 * w, 4 * d, 1, relu=False)
        self.smooth4 = ConvBNReLU(4 * d, 2 * d, 3)
        self.lat3 = ConvBNReLU(4 * w, 2 * d, 1, relu=False)
        self.smooth3 = ConvBNReLU(2 * d, d, 3)
        self.lat2 = ConvBNReLU(2 * w, d, 1, relu=False)
        # heads at 1/4 resolution; the shared 3x3 trunk also smooths the last merge
        self.head_trunk = ConvBNReLU(d, head_ch, 3)
        self.hm = nn.Conv2d(head_ch, num_classes, 1)
        self.wh = nn.Conv2d(head_ch, 2, 1)
        self.off = nn.Conv2d(head_ch, 2, 1)
        nn.init.constant_(self.hm.bias, -2.19)   # CenterNet prior: sigmoid(-2.19) ~ 0.1

    def forward(self, x):
        x = self.enc1(self.stem(x))
        c2 = self.enc2(self.down2(x))
        c3 = self.enc3(self.down3(c2))
        c4 = self.enc4(self.down4(c3))
        c5 = self.enc5(self.down5(c4))
        p = self.lat5(c5)
        p = F.interpolate(p, scale_factor=2.0, mode="nearest") + self.lat4(c4)
        p = self.smooth4(F.relu(p))
        p = F.interpolate(p, scale_factor=2.0, mode="nearest") + self.lat3(c3)
        p = self.smooth3(F.relu(p))
        p = F.interpolate(p, scale_factor=2.0, mode="nearest") + self.lat2(c2)
        t = self.head_trunk(F.relu(p))
        return torch.sigmoid(self.hm(t)), self.wh(t), self.off(t)


OUTPUT_NAMES = ["heatmap", "wh", "offset"]


def fuse_bn(module):
    """Return a copy of module (eval mode) with every Conv2d+BatchNorm2d pair folded into the conv."""
    import copy
    m = copy.deepcopy(module).eval()

    def fold(seq):
        for name, child in list(seq.named_children()):
            if isinstance(child, nn.Sequential):
                kids = list(child.children())
                if len(kids) >= 2 and isinstance(kids[0], nn.Conv2d) and isinstance(kids[1], nn.BatchNorm2d):
                    conv, bn = kids[0], kids[1]
                    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size,
                                      stride=conv.stride, padding=conv.padding,
                                      dilation=conv.dilation, groups=conv.groups, bias=True)
                    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                    with torch.no_grad():
                        fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
                        b0 = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
                        fused.bias.copy_((b0 - bn.running_mean) * scale + bn.bias)
                    rest = kids[2:]
                    setattr(seq, name, nn.Sequential(fused, *rest))
                else:
                    fold(child)
            else:
                fold(child)
    fold(m)
    return m


def randomize_bn(module, gen):
    """Give every BatchNorm non-trivial statistics so folding is exercised (untrained nets)."""
    for mod in module.modules():
        if isinstance(mod, nn.BatchNorm2d):
            c = mod.num_features
            with torch.no_grad():
                mod.weight.copy_(1.0 + 0.1 * torch.randn(c, generator=gen))
                mod.bias.copy_(0.1 * torch.randn(c, generator=gen))
                mod.running_mean.copy_(0.1 * torch.randn(c, generator=gen))
                mod.running_var.copy_(1.0 + 0.2 * torch.rand(c, generator=gen))


def build(seed=DEFAULT_SEED, width=16, fused=True):
    """The benchmark/export model: deterministic for a seed, eval mode, BN folded when fused."""
    torch.manual_seed(seed)
    net = DetectorNet(width=width)
    gen = torch.Generator().manual_seed(seed + 1)
    randomize_bn(net, gen)
    net.eval()
    return fuse_bn(net) if fused else net


def conv_layers(module, input_shape):
    """Run a forward pass with hooks; return [(name, conv, input_shape, output_shape)] in order."""
    found = []
    hooks = []
    for name, mod in module.named_modules():
        if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d)):
            hooks.append(mod.register_forward_hook(
                lambda m, i, o, name=name: found.append((name, m, tuple(i[0].shape), tuple(o.shape)))))
    try:
        with torch.no_grad():
            module(torch.zeros(input_shape))
    finally:
        for h in hooks:
            h.remove()
    return found


def count_flops(module, input_shape):
    """FLOPs (2 x MACs) of convolutions and linear layers for one forward pass of input_shape.

    Elementwise work (bias, activations, additions, resampling) is not counted: it is below 1 % here.
    """
    macs = 0
    for _, m, ishape, oshape in conv_layers(module, input_shape):
        kh, kw = m.kernel_size
        if isinstance(m, nn.Conv2d):
            macs += oshape[0] * oshape[1] * oshape[2] * oshape[3] * (m.in_channels // m.groups) * kh * kw
        else:
            macs += ishape[0] * ishape[1] * ishape[2] * ishape[3] * (m.out_channels // m.groups) * kh * kw
    return 2 * macs


def gemm_shapes(module, batch):
    """im2col GEMM shape per convolution and group: (M, K, N, count)."""
    out = []
    for name, m, ishape, oshape in conv_layers(module, (batch, 1, INPUT_SIZE, INPUT_SIZE)):
        kh, kw = m.kernel_size
        g = m.groups
        out.append((name, m.out_channels // g, (m.in_channels // g) * kh * kw,
                    oshape[0] * oshape[2] * oshape[3], g))
    return out


def export(module, path, input_shape=(1, 1, INPUT_SIZE, INPUT_SIZE), opset=OPSET, dynamic_batch=True):
    dummy = torch.zeros(input_shape)
    dyn = {"input": {0: "batch"}} if dynamic_batch else None
    if dyn:
        for name in OUTPUT_NAMES:
            dyn[name] = {0: "batch"}
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, dummy, path, opset_version=opset, input_names=["input"],
                          output_names=OUTPUT_NAMES, dynamic_axes=dyn, do_constant_folding=True)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--export", metavar="PATH", help="write the ONNX file (opset 13)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--info", action="store_true", help="print parameters and GFLOP per slice")
    ap.add_argument("--gemm-shapes", action="store_true", help="print im2col GEMM shapes (M K N count)")
    ap.add_argument("--batch", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    net = build(args.seed, args.width)
    if args.info:
        params = sum(p.numel() for p in net.parameters())
        gf = count_flops(net, (1, 1, INPUT_SIZE, INPUT_SIZE)) / 1e9
        print(f"parameters={params} gflop_per_slice={gf:.4f}")
        for name, m, ishape, oshape in conv_layers(net, (1, 1, INPUT_SIZE, INPUT_SIZE)):
            print(f"  {name:18s} {str(ishape):22s} -> {str(oshape):22s} k={m.kernel_size} s={m.stride}")
    if args.gemm_shapes:
        for name, m_, k_, n_, cnt in gemm_shapes(net, args.batch):
            print(f"{m_} {k_} {n_} {cnt} {name}")
    if args.export:
        export(net, args.export)
        print(f"wrote {args.export}", file=sys.stderr)
    if not (args.info or args.gemm_shapes or args.export):
        ap.print_help()
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
