#!/usr/bin/python3
"""dicomaid's bundled brain-tumour detector: network definition, BN folding and ONNX export.

This module owns the architecture of the model shipped under models/.  It is a CenterNet-style
fully convolutional network for one axial MR slice:

  input   "image"    N x 1 x 256 x 256  float32, normalised as models/brain-tumour-detector.ini says
  output  "heatmap"  N x 3 x 64 x 64    sigmoid already applied; channel k = class k of the manifest
                                        (0 glioma, 1 meningioma, 2 pituitary): probability that
                                        a lesion core centre falls in that output cell
  output  "size"     N x 2 x 64 x 64    box width, height of the core box in output cells (x 4 =
                                        input pixels), read at the peak cell
  output  "offset"   N x 2 x 64 x 64    sub-cell position (x, y) of the centre inside the peak cell,
                                        in output cells (0..1)

Encoder: stride-2 stem, then four stride-2 stages with residual blocks (256 -> 8), so the deepest
features see the whole head (location matters: meningiomas touch the skull, pituitary lesions
sit in the sella).  Decoder: an FPN-like top-down path (1x1 laterals, x2 nearest Resize, Add,
3x3 smoothing) back to stride 4.  Only Conv, BatchNormalization (folded at export), Relu, Add,
Resize (nearest) and Sigmoid appear in the exported graph (dicomaid's engine supports them).

  /usr/bin/python3 tools/detnet.py --info
  /usr/bin/python3 tools/detnet.py --export models/brain-tumour-detector.onnx [--ckpt CKPT.pt]
"""

import argparse
import copy
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

CLASSES = ("glioma", "meningioma", "pituitary")
INPUT_SIZE = 256
STRIDE = 4
OPSET = 13
INPUT_NAME = "image"
OUTPUT_NAMES = ["heatmap", "size", "offset"]


class CBR(nn.Sequential):
    def __init__(self, cin, cout, k=3, stride=1, relu=True):
        layers = [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False),
                  nn.BatchNorm2d(cout)]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class Res(nn.Module):
    """Two 3x3 conv-BN, identity shortcut, ReLU after the Add."""

    def __init__(self, c):
        super().__init__()
        self.a = CBR(c, c)
        self.b = CBR(c, c, relu=False)

    def forward(self, x):
        return F.relu(x + self.b(self.a(x)))


class TumourNet(nn.Module):
    def __init__(self, widths=(8, 16, 32, 64, 128), dec=32, num_classes=len(CLASSES)):
        super().__init__()
        w0, w1, w2, w3, w4 = widths
        self.stem = nn.Sequential(CBR(1, w0, 3, 2), CBR(w0, w0))          # 1/2
        self.s4 = nn.Sequential(CBR(w0, w1, 3, 2), Res(w1))               # 1/4
        self.s8 = nn.Sequential(CBR(w1, w2, 3, 2), Res(w2))               # 1/8
        self.s16 = nn.Sequential(CBR(w2, w3, 3, 2), Res(w3))              # 1/16
        self.s32 = nn.Sequential(CBR(w3, w4, 3, 2), Res(w4), Res(w4))     # 1/32
        self.lat32 = CBR(w4, dec * 2, 1, relu=False)
        self.lat16 = CBR(w3, dec * 2, 1, relu=False)
        self.sm16 = CBR(dec * 2, dec * 2)
        self.lat8 = CBR(w2, dec * 2, 1, relu=False)
        self.sm8 = CBR(dec * 2, dec)
        self.lat4 = CBR(w1, dec, 1, relu=False)
        self.trunk = CBR(dec, dec)          # shared head trunk, also smooths the last merge
        self.hm = nn.Conv2d(dec, num_classes, 1)
        self.wh = nn.Conv2d(dec, 2, 1)
        self.off = nn.Conv2d(dec, 2, 1)
        nn.init.constant_(self.hm.bias, -4.0)
        nn.init.constant_(self.wh.bias, 4.0)
        nn.init.constant_(self.off.bias, 0.5)

    def forward(self, x):
        c4 = self.s4(self.stem(x))
        c8 = self.s8(c4)
        c16 = self.s16(c8)
        c32 = self.s32(c16)
        p = self.lat32(c32)
        p = F.interpolate(p, scale_factor=2.0, mode="nearest") + self.lat16(c16)
        p = self.sm16(F.relu(p))
        p = F.interpolate(p, scale_factor=2.0, mode="nearest") + self.lat8(c8)
        p = self.sm8(F.relu(p))
        p = F.interpolate(p, scale_factor=2.0, mode="nearest") + self.lat4(c4)
        t = self.trunk(F.relu(p))
        return self.hm(t), self.wh(t), self.off(t)   # heatmap as logits (training)


class Deploy(nn.Module):
    """The exported graph: sigmoid on the heatmap, BN folded."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        h, s, o = self.net(x)
        return torch.sigmoid(h), s, o


def fuse_bn(module):
    """Deep copy in eval mode with every Conv2d followed by BatchNorm2d folded into one Conv2d."""
    m = copy.deepcopy(module).eval()

    def walk(parent):
        for name, child in list(parent.named_children()):
            if isinstance(child, CBR):
                conv, bn = child[0], child[1]
                fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size,
                                  stride=conv.stride, padding=conv.padding, bias=True)
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                with torch.no_grad():
                    fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
                    fused.bias.copy_(bn.bias - bn.running_mean * scale)
                setattr(parent, name, nn.Sequential(fused, *list(child.children())[2:]))
            else:
                walk(child)
    walk(m)
    return m


def count_flops(net, size=INPUT_SIZE):
    """2 x multiply-accumulates of every Conv2d for one 1 x 1 x size x size input."""
    total = [0]

    def hook(mod, inp, out):
        k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
        total[0] += 2 * k * out.numel()
    hs = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        net.eval()(torch.zeros(1, 1, size, size))
    for h in hs:
        h.remove()
    return total[0]


def build(cfg=None):
    cfg = dict(cfg or {})
    return TumourNet(widths=tuple(cfg.get("widths", (8, 16, 32, 64, 128))), dec=cfg.get("dec", 32))


def run_onnx_numpy(model, x):
    """Evaluate the exported graph with numpy, independently of torch (only the ops this network
    exports: Conv, Relu, Add, Resize nearest, Sigmoid, Identity, Constant).  Returns the outputs
    in graph order."""
    import numpy as np
    from onnx import numpy_helper
    env = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    env[model.graph.input[0].name] = x.astype(np.float32)

    def attr(node, name, default):
        for a in node.attribute:
            if a.name == name:
                if a.type == a.INTS:
                    return list(a.ints)
                if a.type == a.INT:
                    return a.i
                if a.type == a.STRING:
                    return a.s.decode()
                if a.type == a.TENSOR:
                    return numpy_helper.to_array(a.t)
                if a.type == a.FLOAT:
                    return a.f
        return default

    for node in model.graph.node:
        ins = [env[n] if n else None for n in node.input]
        op = node.op_type
        if op == "Constant":
            out = attr(node, "value", None)
        elif op == "Identity":
            out = ins[0]
        elif op == "Relu":
            out = np.maximum(ins[0], 0)
        elif op == "Sigmoid":
            out = 1.0 / (1.0 + np.exp(-ins[0]))
        elif op == "Add":
            out = ins[0] + ins[1]
        elif op == "Resize":
            scales = ins[2] if len(ins) > 2 and ins[2] is not None and ins[2].size else None
            if attr(node, "mode", "nearest") != "nearest" or scales is None:
                raise RuntimeError("numpy check: unsupported Resize")
            fy, fx = int(round(scales[2])), int(round(scales[3]))
            out = ins[0].repeat(fy, axis=2).repeat(fx, axis=3)
        elif op == "Conv":
            w = ins[1]
            b = ins[2] if len(ins) > 2 else None
            if attr(node, "group", 1) != 1 or attr(node, "dilations", [1, 1]) != [1, 1]:
                raise RuntimeError("numpy check: unsupported Conv")
            st = attr(node, "strides", [1, 1])
            pd = attr(node, "pads", [0, 0, 0, 0])
            xi = np.pad(ins[0], ((0, 0), (0, 0), (pd[0], pd[2]), (pd[1], pd[3])))
            n, c, hh, ww = xi.shape
            o, _, kh, kw = w.shape
            ho, wo = (hh - kh) // st[0] + 1, (ww - kw) // st[1] + 1
            s0, s1, s2, s3 = xi.strides
            cols = np.lib.stride_tricks.as_strided(
                xi, (n, c, kh, kw, ho, wo), (s0, s1, s2, s3, s2 * st[0], s3 * st[1]))
            out = np.einsum("nckluv,ockl->nouv", cols, w, optimize=True)
            if b is not None:
                out = out + b[None, :, None, None]
        else:
            raise RuntimeError("numpy check: op %s not implemented" % op)
        env[node.output[0]] = np.asarray(out, dtype=np.float32) if op != "Constant" else out
    return [env[o.name] for o in model.graph.output]


def export_onnx(net, path, check=True):
    """Fold BN, export opset 13 with a dynamic batch, check with onnx.checker, compare with torch.
    Returns the max abs difference between torch and the ONNX reference evaluation (or None)."""
    import numpy as np
    import onnx
    dep = Deploy(fuse_bn(net)).eval()
    x = torch.randn(2, 1, INPUT_SIZE, INPUT_SIZE, generator=torch.Generator().manual_seed(7))
    torch.onnx.export(dep, x, path, opset_version=OPSET, input_names=[INPUT_NAME],
                      output_names=OUTPUT_NAMES, dynamic_axes={INPUT_NAME: {0: "N"},
                      **{n: {0: "N"} for n in OUTPUT_NAMES}}, do_constant_folding=True)
    model = onnx.load(path)
    onnx.checker.check_model(model)
    ops = sorted({n.op_type for n in model.graph.node})
    allowed = {"Conv", "Relu", "Add", "Resize", "Sigmoid", "Constant", "Shape", "Gather", "Cast",
               "Concat", "Identity", "Unsqueeze", "Slice", "Mul", "Floor", "Div", "ConstantOfShape"}
    bad = [o for o in ops if o not in allowed]
    if bad:
        raise RuntimeError("unexpected ops in export: %s" % bad)
    diff = None
    if check:
        # compare the un-fused training-mode net (eval) with the folded ONNX graph, evaluated by
        # onnx's reference evaluator when available, else by the folded torch module
        with torch.no_grad():
            ref = Deploy(copy.deepcopy(net).eval())(x)
        outs = run_onnx_numpy(model, x.numpy())
        how = "numpy evaluation of the ONNX graph vs torch"
        diff = max(float(np.abs(a - b.numpy()).max()) for a, b in zip(outs, ref))
        scale = max(float(b.abs().max()) for b in ref)
        if not diff <= 1e-3 * max(1.0, scale):
            raise RuntimeError("ONNX graph and torch disagree: max abs diff %g" % diff)
        print("export: %s ops=%s max|onnx-torch|=%.2e (%s)" % (path, ",".join(ops), diff, how))
    return diff


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--info", action="store_true")
    ap.add_argument("--export", metavar="ONNX")
    ap.add_argument("--ckpt", help="checkpoint written by tools/train_detector.py")
    ap.add_argument("--seed", type=int, default=2026)
    a = ap.parse_args(argv)
    torch.manual_seed(a.seed)
    cfg = {}
    state = None
    if a.ckpt:
        ck = torch.load(a.ckpt, map_location="cpu")
        cfg, state = ck.get("cfg", {}), ck["model"]
    net = build(cfg)
    if state is not None:
        net.load_state_dict(state)
    if a.info or not a.export:
        n = sum(p.numel() for p in net.parameters())
        print("params=%d gflop_per_slice=%.3f" % (n, count_flops(net) / 1e9))
    if a.export:
        export_onnx(net, a.export)
    return 0


if __name__ == "__main__":
    sys.exit(main())
