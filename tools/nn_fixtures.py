#!/usr/bin/python3
"""Golden fixtures for dicomaid's ONNX engine (src/nn), generated with PyTorch.

Builds a handful of small networks that together use every operator the engine supports
(issue 3), exports each with torch.onnx.export, runs PyTorch on a fixed input and writes, into
OUTDIR (normally tests/nn/fixtures):

  <name>.onnx              the model
  <name>.input.npy         the input (float32, C order)
  <name>.<output>.npy      PyTorch's result for each graph output, named as in the graph
  MANIFEST.txt             one line per fixture: name, opset, input shape, outputs, op types

tests/nn/golden.sh runs `dicomaid-nn run <name>.onnx <name>.input.npy -o DIR` on each and compares
every output with tests/nn/npycmp (relative max error <= 1e-4).  CI needs none of this: the
fixtures are committed.  Regenerate all of them with one command:

  /usr/bin/python3 tools/nn_fixtures.py tests/nn/fixtures

Output is deterministic (fixed seeds, one intra-op thread); PyTorch and ONNX versions are
recorded in MANIFEST.txt.  Needs Debian's python3-torch, python3-onnx, python3-numpy.
OUTDIR/bad/ receives hand-built malformed models (see bad_models()).  After regenerating,
tools/ort_crosscheck.js checks the fixtures against ONNX Runtime too (independent of PyTorch;
measured agreement 2e-6 or better, 50x inside the tolerance).
"""

import os
import sys
import warnings

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import detector_net  # noqa: E402

SEED = 20261125


def rand_bn(bn, gen):
    c = bn.num_features
    with torch.no_grad():
        bn.weight.copy_(1.0 + 0.2 * torch.randn(c, generator=gen))
        bn.bias.copy_(0.2 * torch.randn(c, generator=gen))
        bn.running_mean.copy_(0.2 * torch.randn(c, generator=gen))
        bn.running_var.copy_(0.5 + torch.rand(c, generator=gen))


# ---------------------------------------------------------------------------------------------
# (a) convolution variety + BatchNormalization + every activation
class ConvZoo(nn.Module):
    """Convs with padding/stride/dilation/groups/depthwise/rectangular kernels, BN, activations."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)                       # plain 3x3, bias
        self.bn1 = nn.BatchNorm2d(8)                                   # Conv -> BN (kept unfused)
        self.c2 = nn.Conv2d(8, 8, 3, stride=2, padding=1, bias=False)  # strided, no bias
        self.bn2 = nn.BatchNorm2d(8)
        self.c3 = nn.Conv2d(8, 12, 3, padding=2, dilation=2)           # dilated
        self.c4 = nn.Conv2d(12, 12, 3, padding=1, groups=3)            # grouped
        self.c5 = nn.Conv2d(12, 12, 3, padding=1, groups=12)           # depthwise
        self.c6 = nn.Conv2d(12, 6, 1)                                  # pointwise
        self.c7 = nn.Conv2d(6, 6, (3, 1), padding=(1, 0))              # rectangular kernel
        self.c8 = nn.Conv2d(6, 8, 5, stride=(2, 1), padding=(2, 1))    # 5x5, mixed stride/pad
        self.c9 = nn.Conv2d(8, 8, 2, stride=1, padding=0)              # even kernel, no pad
        self.c10 = nn.Conv2d(8, 4, 3, stride=3, padding=0, dilation=(1, 2), groups=2)
        self.c11 = nn.Conv2d(8, 8, 3, stride=2, padding=0)             # odd size, no pad, stride
        self.lrelu = nn.LeakyReLU(0.1)
        self.hsig = nn.Hardsigmoid()
        self.hswish = nn.Hardswish()
        self.relu6 = nn.ReLU6()

    def forward(self, x):
        x = F.relu(self.bn1(self.c1(x)))
        x = self.lrelu(self.bn2(self.c2(x)))
        # the scalar gains push values into every piece of the piecewise activations
        x = torch.tanh(self.c3(x) * 4.0)
        x = self.hswish(self.c4(x) * 12.0)
        x = self.relu6(self.c5(x) * 30.0) * 0.2     # Clip(0, 6)
        x = torch.sigmoid(self.c6(x) * 3.0)
        x = self.hsig(self.c7(x) * 10.0) * 2.0 - 1.0
        x = torch.clamp(self.c8(x) * 5.0, min=-0.5)  # Clip with min only
        y = torch.clamp(self.c9(x), -0.5, 0.8)      # Clip with both bounds
        z = self.c10(x)
        w = F.max_pool2d(F.relu(self.c11(x)), 2, ceil_mode=True)   # partial last window
        return y, z, w


# ---------------------------------------------------------------------------------------------
# (b) mini U-Net: MaxPool, ConvTranspose, Resize (nearest, bilinear both alignments), Concat,
#     Pad, Slice
class UNetMini(nn.Module):
    def __init__(self):
        super().__init__()
        self.e1 = nn.Conv2d(2, 6, 3, padding=1)
        self.e2 = nn.Conv2d(6, 8, 3, padding=1)
        self.e3 = nn.Conv2d(8, 10, 3, padding=1)
        self.up1 = nn.ConvTranspose2d(10, 8, 2, stride=2)                    # k2 s2
        self.d1 = nn.Conv2d(16, 8, 3, padding=1)
        self.up2 = nn.ConvTranspose2d(8, 6, 3, stride=2, padding=1, output_padding=1)
        self.d2 = nn.Conv2d(12, 6, 3, padding=1)
        self.up3 = nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1, groups=2, bias=False)
        self.seg = nn.Conv2d(6 + 4 + 4 + 4, 3, 1)

    def forward(self, x):
        s1 = F.relu(self.e1(x))                                  # H
        s2 = F.relu(self.e2(F.max_pool2d(s1, 2)))                # H/2
        s3 = F.relu(self.e3(F.max_pool2d(s2, 3, stride=2, padding=1)))   # H/4
        u = F.relu(self.up1(s3))                                 # H/2
        u = F.relu(self.d1(torch.cat([u, s2], 1)))
        u = F.relu(self.up2(u))                                  # H
        u = F.relu(self.d2(torch.cat([u, s1], 1)))
        a = F.interpolate(s3[:, :4], scale_factor=4.0, mode="nearest")
        b = F.interpolate(s3[:, 4:8], scale_factor=4.0, mode="bilinear", align_corners=False)
        c = F.interpolate(s2[:, 2:6], scale_factor=2.0, mode="bilinear", align_corners=True)
        t = self.up3(s2)                                         # H, grouped transpose conv
        m = torch.cat([u, a, b, c], 1)
        m = torch.cat([m[:, :6], t + m[:, 6:10], m[:, 10:]], 1)
        seg = self.seg(m)
        # Pad (asymmetric, constant value) then Slice with steps and negative indices
        p = F.pad(seg, (1, 2, 0, 3), mode="constant", value=0.25)
        edge = p[:, 1:, 1:-1:2, ::3]
        return seg, edge


# ---------------------------------------------------------------------------------------------
# (c) ResNet-style classifier: Add, GlobalAveragePool, Flatten, Gemm, Softmax, AveragePool
class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.a = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bna = nn.BatchNorm2d(cout)
        self.b = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bnb = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                       nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bna(self.a(x)))
        y = self.bnb(self.b(y))
        s = x if self.short is None else self.short(x)
        return F.relu(y + s)


class ResNetTiny(nn.Module):
    def __init__(self, classes=5):
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 7, stride=2, padding=3, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.l1 = BasicBlock(8, 8, 1)
        self.l2 = BasicBlock(8, 16, 2)
        self.pool = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        self.l3 = BasicBlock(16, 16, 1)
        self.fc1 = nn.Linear(16, 12)
        self.fc2 = nn.Linear(12, classes)

    def forward(self, x):
        x = F.relu(self.bn(self.stem(x)))
        x = F.max_pool2d(x, 3, stride=2, padding=1)
        x = self.l1(x)
        x = self.l2(x)
        aux = F.avg_pool2d(x, 2)                       # AveragePool k2 s2
        x = self.l3(self.pool(x))
        x = F.adaptive_avg_pool2d(x, 1)                # GlobalAveragePool
        x = torch.flatten(x, 1)                        # Flatten
        x = F.relu(self.fc1(x))                        # Gemm
        logits = self.fc2(x)
        return F.softmax(logits, dim=1), aux


# ---------------------------------------------------------------------------------------------
# (d) elementwise broadcasting and tensor plumbing
class Elementwise(nn.Module):
    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(SEED + 4)
        self.register_buffer("chan", torch.randn(1, 4, 1, 1, generator=g))
        self.register_buffer("row", torch.randn(6, 1, generator=g))
        self.register_buffer("col", torch.rand(5, generator=g) + 0.5)
        self.proj = nn.Parameter(torch.randn(4, 7, generator=g) * 0.3)
        self.w4 = nn.Parameter(torch.randn(5, 3, generator=g) * 0.3)

    def forward(self, x):                           # x: N x 4 x 6 x 5
        a = x - self.chan                           # Sub, [N,4,6,5] - [1,4,1,1]
        b = self.chan - x[:, :, :1, :]              # Sub, [1,4,1,1] - [N,4,1,5]
        c = a * self.row                            # Mul, broadcast [6,1]
        d = c / self.col                            # Div, broadcast [5]
        e = d / (torch.sigmoid(b) + 0.5)            # Div, [N,4,6,5] / [N,4,1,5]
        e = e * 0.5 + b                             # scalar Mul, broadcast Add
        n = x.shape[0]
        f = e.reshape(n, 4, 30)                     # Reshape
        f = f.transpose(1, 2)                       # Transpose  -> N x 30 x 4
        g = torch.matmul(f, self.proj)              # MatMul 3D x 2D -> N x 30 x 7
        h = torch.matmul(f.transpose(1, 2), f)      # batched MatMul -> N x 4 x 4
        h = h.unsqueeze(1)                          # Unsqueeze -> N x 1 x 4 x 4
        h = h.permute(0, 3, 1, 2)                   # Transpose (4D)
        h = h.squeeze(2)                            # Squeeze -> N x 4 x 4
        k = torch.matmul(e.reshape(n, 1, 4, 30).squeeze(1), e.reshape(n, 30, 4))  # N x 4 x 4
        m = torch.matmul(e, self.w4)                # MatMul 4D x 2D -> N x 4 x 6 x 3
        return g, h + k, m


# ---------------------------------------------------------------------------------------------
# (e) shape-computation subgraphs the exporter emits for dynamic sizes
class DynamicShapes(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 4, 3, stride=2, padding=1)
        self.c2 = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 5 * 5, 6)

    def forward(self, x):                            # x: N x 1 x 11 x 13 (odd sizes)
        y = F.relu(self.c1(x))                       # N x 4 x 6 x 7
        # resize back to the input's size, read from the tensor (Shape -> Slice/Gather -> Resize)
        up = F.interpolate(y, size=x.shape[2:], mode="bilinear", align_corners=False)
        # coordinate channel from Range/Cast on the input width, Expand to the batch
        w = x.size(3)
        xs = torch.arange(w, dtype=torch.float32) / float(w)
        xs = xs.reshape(1, 1, 1, -1).expand_as(x)   # Expand to Shape(x)
        z = torch.zeros(x.size(0), 3, x.size(2), w)  # ConstantOfShape
        feat = F.relu(self.c2(up + xs + z[:, :1])) + x
        # view(x.size(0), -1) after cropping and pooling to a fixed size
        p = F.avg_pool2d(feat[:, :, :10, :10], 2)
        flat = p.view(p.size(0), -1)
        return feat, self.fc(flat)


# ---------------------------------------------------------------------------------------------
def build_models():
    """[(name, module, input, output names, opset, dynamic_axes, training mode[, Identity output])]"""
    rng = np.random.default_rng(SEED)
    out = []

    def inp(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED + 1)
    zoo = ConvZoo()
    rand_bn(zoo.bn1, gen)
    rand_bn(zoo.bn2, gen)
    zoo_in = inp(2, 3, 23, 19)
    # TrainingMode.PRESERVE on an eval-mode module keeps BatchNormalization as a node after Conv
    # (the default EVAL export would fold it), so the engine's own folding is tested.
    out.append(("conv_zoo", zoo, zoo_in, ["act_clip", "grouped", "strided"], 13, None, "preserve"))
    out.append(("conv_zoo_op17", zoo, zoo_in, ["act_clip", "grouped", "strided"], 17, None, "preserve"))

    torch.manual_seed(SEED + 2)
    unet = UNetMini()
    unet_in = inp(1, 2, 16, 12)
    out.append(("unet_mini", unet, unet_in, ["seg", "edge"], 13, None, "eval"))
    out.append(("unet_mini_op11", unet, unet_in, ["seg", "edge"], 11, None, "eval"))

    torch.manual_seed(SEED + 3)
    res = ResNetTiny()
    gen = torch.Generator().manual_seed(SEED + 5)
    for m in res.modules():
        if isinstance(m, nn.BatchNorm2d):
            rand_bn(m, gen)
    out.append(("resnet_tiny", res, inp(3, 1, 32, 28), ["probs", "aux"], 13, None, "eval"))

    torch.manual_seed(SEED + 6)
    ew = Elementwise()
    ew_in = inp(2, 4, 6, 5)
    out.append(("elementwise", ew, ew_in, ["proj", "gram", "proj4d"], 13, None, "eval", "gram"))
    out.append(("elementwise_op11", ew, ew_in, ["proj", "gram", "proj4d"], 11, None, "eval", "gram"))

    torch.manual_seed(SEED + 7)
    dyn = DynamicShapes()
    dyn_axes = {"input": {0: "batch", 2: "height", 3: "width"}}
    out.append(("dynamic_shapes", dyn, inp(2, 1, 11, 13), ["feat", "logits"], 13, dyn_axes, "eval"))

    # the shipped detector's topology, narrow and on a small input
    det = detector_net.build(seed=SEED + 8, width=2)
    det_in = inp(2, 1, 64, 64)
    out.append(("detector_tiny", det, det_in, detector_net.OUTPUT_NAMES, 13,
                {"input": {0: "batch"}}, "eval"))
    return out


def insert_identity(model, output):
    """torch.onnx never emits Identity; route one graph output through one (y_pre -> Identity -> y)."""
    for node in model.graph.node:
        for i, o in enumerate(node.output):
            if o == output:
                node.output[i] = output + "_pre"
                model.graph.node.append(onnx.helper.make_node(
                    "Identity", [output + "_pre"], [output], name=output + "_identity"))
                return
    raise SystemExit(f"insert_identity: no node produces {output}")


def export_one(outdir, name, module, x, out_names, opset, dyn_axes, training, identity_on=None):
    module.eval()
    path = os.path.join(outdir, name + ".onnx")
    mode = (torch.onnx.TrainingMode.PRESERVE if training == "preserve"
            else torch.onnx.TrainingMode.EVAL)
    xt = torch.from_numpy(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, xt, path, opset_version=opset, input_names=["input"],
                          output_names=out_names, dynamic_axes=dyn_axes, training=mode,
                          do_constant_folding=True)
    with torch.inference_mode():
        ys = module(xt)
    if isinstance(ys, torch.Tensor):
        ys = (ys,)
    model = onnx.load(path)
    if identity_on:
        insert_identity(model, identity_on)
        onnx.save(model, path)
    onnx.checker.check_model(model)
    graph_outs = [o.name for o in model.graph.output]
    if graph_outs != out_names:
        raise SystemExit(f"{name}: graph outputs {graph_outs} != {out_names}")
    np.save(os.path.join(outdir, name + ".input.npy"), np.ascontiguousarray(x, dtype=np.float32))
    for oname, y in zip(out_names, ys):
        np.save(os.path.join(outdir, f"{name}.{oname}.npy"),
                np.ascontiguousarray(y.detach().numpy(), dtype=np.float32))
    ops = sorted({n.op_type for n in model.graph.node})
    shapes = " ".join(f"{o}={list(y.shape)}" for o, y in zip(out_names, ys))
    return f"{name} opset={opset} input={list(x.shape)} {shapes} ops={','.join(ops)}"


# ---------------------------------------------------------------------------------------------
# Malformed models (written to OUTDIR/bad/): each must make `dicomaid-nn run` fail with one line.
# <case>.expect lists strings the error line must contain (node name and op type, or the
# initializer's name); the model file's name is checked by golden.sh itself.
def bad_models():
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(SEED + 100)
    f32 = TensorProto.FLOAT

    def w(name, shape):
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32) * 0.2, name)

    def empty_tensor(name, dims):      # dims claimed, no data at all
        t = TensorProto()
        t.name = name
        t.data_type = f32
        t.dims.extend(dims)
        return t

    def model(nodes, inits, out_shape=None, opset=13, extra_vi=()):
        g = helper.make_graph(
            nodes, "bad", [helper.make_tensor_value_info("input", f32, [1, 3, 8, 8])],
            [helper.make_tensor_value_info("y", f32, out_shape)], initializer=inits,
            value_info=list(extra_vi))
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)],
                                 producer_name="dicomaid nn_fixtures (malformed on purpose)")

    conv1 = helper.make_node("Conv", ["input", "conv1.weight"], ["c1"], name="conv1",
                             kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    w1 = w("conv1.weight", (4, 3, 3, 3))
    cases = {}

    cases["unknown_op"] = (model([conv1, helper.make_node("FooBar", ["c1"], ["y"], name="mystery")],
                                 [w1]), ["mystery", "FooBar"])
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    cases["resize_cubic"] = (model([conv1, helper.make_node("Resize", ["c1", "", "scales"], ["y"],
                                                            name="up3", mode="cubic")],
                                   [w1, scales]), ["up3", "Resize"])
    short = TensorProto()
    short.CopyFrom(w1)
    short.raw_data = short.raw_data[: 100 * 4]          # 100 floats for a 4x3x3x3 = 108 shape
    cases["initializer_size"] = (model([conv1, helper.make_node("Relu", ["c1"], ["y"], name="r")],
                                       [short]), ["conv1.weight"])
    cases["cycle"] = (model([conv1,
                             helper.make_node("Relu", ["b"], ["a"], name="loop_a"),
                             helper.make_node("Relu", ["a"], ["b"], name="loop_b"),
                             helper.make_node("Add", ["c1", "a"], ["y"], name="join")],
                            [w1]), [])
    bias3 = numpy_helper.from_array(np.ones((1, 3, 1, 1), np.float32), "bias3")
    cases["broadcast_mismatch"] = (model([conv1, helper.make_node("Add", ["c1", "bias3"], ["y"],
                                                                  name="add_bad")],
                                         [w1, bias3]), ["add_bad", "Add"])
    giant = empty_tensor("giant", [1 << 20, 1 << 20, 1, 1, 1, 1])  # 4 TiB, broadcastable
    cases["absurd_dims"] = (model([conv1, helper.make_node("Add", ["c1", "giant"], ["y"],
                                                           name="add_big")],
                                  [w1, giant]), ["giant"])
    neg = empty_tensor("negative", [4, -3])
    cases["negative_dims"] = (model([conv1, helper.make_node("Add", ["c1", "negative"], ["y"],
                                                             name="add_neg")],
                                    [w1, neg]), ["negative"])
    const_giant = helper.make_node("Constant", [], ["k"], name="const_giant",
                                   value=empty_tensor("kv", [1 << 20, 1 << 20, 1, 1, 1, 1]))
    cases["constant_absurd"] = (model([conv1, const_giant,
                                       helper.make_node("Mul", ["c1", "k"], ["y"], name="mul_k")],
                                      [w1]), ["const_giant"])
    cases["conv_channels"] = (model([helper.make_node("Conv", ["input", "w2"], ["y"], name="conv_bad",
                                                      kernel_shape=[3, 3])],
                                    [w("w2", (4, 2, 3, 3))]), ["conv_bad", "Conv"])
    cases["conv_zero_stride"] = (model([helper.make_node("Conv", ["input", "conv1.weight"], ["y"],
                                                         name="conv_s0", kernel_shape=[3, 3],
                                                         strides=[0, 0])],
                                       [w1]), ["conv_s0", "Conv"])
    cases["conv_missing_weight"] = (model([helper.make_node("Conv", ["input"], ["y"], name="conv_nw",
                                                            kernel_shape=[3, 3])], []),
                                    ["conv_nw", "Conv"])
    cases["undefined_input"] = (model([conv1, helper.make_node("Add", ["c1", "nowhere"], ["y"],
                                                               name="add_undef")],
                                      [w1]), ["nowhere"])
    shp = numpy_helper.from_array(np.array([1, 5, 7], np.int64), "shape_bad")
    cases["reshape_count"] = (model([conv1, helper.make_node("Reshape", ["c1", "shape_bad"], ["y"],
                                                             name="reshape_bad")],
                                    [w1, shp]), ["reshape_bad", "Reshape"])
    cases["no_output_producer"] = (model([conv1], [w1]), [])
    return cases


def write_bad(outdir):
    bad = os.path.join(outdir, "bad")
    os.makedirs(bad, exist_ok=True)
    np.save(os.path.join(bad, "input.npy"),
            np.random.default_rng(SEED + 101).standard_normal((1, 3, 8, 8)).astype(np.float32))
    lines = []
    for name, (m, expect) in bad_models().items():
        with open(os.path.join(bad, name + ".onnx"), "wb") as f:
            f.write(m.SerializeToString())
        with open(os.path.join(bad, name + ".expect"), "w") as f:
            f.write("".join(e + "\n" for e in expect))
        lines.append(f"bad/{name} expect={','.join(expect) or '-'}")
    return lines


def main(argv):
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    outdir = argv[0]
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    lines = [f"# generated by tools/nn_fixtures.py with torch {torch.__version__}, onnx {onnx.__version__}"]
    for spec in build_models():
        line = export_one(outdir, *spec)
        print(line)
        lines.append(line)
    for line in write_bad(outdir):
        print(line)
        lines.append(line)
    with open(os.path.join(outdir, "MANIFEST.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
