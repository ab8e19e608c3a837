#!/usr/bin/python3
"""Regenerate the small hand-built ONNX fixtures under fixtures/models/.

usage: /usr/bin/python3 tools/make_fixtures.py [--out DIR]

Every model is built with the onnx helper API from a fixed seed, so reruns give
byte-identical files. Each MODEL.onnx gets MODEL.inputs/<input name>.npy, a fixed
input that tests feed to ONNX Runtime and to onnx-lrsc's interpreter.
The trained fixtures (fashion_mnist_alexnetish, cifar10_vggish) come from
tools/train_fashion_mnist.py and tools/train_cifar10.py instead; their inputs are
written here too, from fixtures/data.
"""
import argparse
import os
import shutil

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
F32 = TensorProto.FLOAT


class Builder:
    """Collects nodes and initialisers for one graph, with per-model seeded weights."""

    def __init__(self, seed):
        self.rs = np.random.RandomState(seed)
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, prefix):
        self.n += 1
        return "%s_%d" % (prefix, self.n)

    def const(self, name, arr):
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def weight(self, name, shape, fan_in):
        return self.const(name, (self.rs.randn(*shape) * np.sqrt(2.0 / fan_in)).astype(np.float32))

    def bias(self, name, n):
        return self.const(name, (self.rs.randn(n) * 0.1).astype(np.float32))

    def node(self, op, inputs, outputs=None, **attrs):
        if outputs is None:
            outputs = [self.name(op.lower())]
        self.nodes.append(helper.make_node(op, inputs, outputs, name=self.name(op), **attrs))
        return outputs[0] if len(outputs) == 1 else outputs

    def conv(self, x, cin, cout, k, bias=True, group=1, **attrs):
        kh, kw = (k, k) if isinstance(k, int) else k
        w = self.weight(self.name("conv_w"), (cout, cin // group, kh, kw), cin // group * kh * kw)
        ins = [x, w] + ([self.bias(self.name("conv_b"), cout)] if bias else [])
        return self.node("Conv", ins, kernel_shape=[kh, kw], group=group, **attrs)

    def bn(self, x, c):
        rs = self.rs
        p = [self.const(self.name("bn_scale"), (1 + 0.2 * rs.randn(c)).astype(np.float32)),
             self.const(self.name("bn_bias"), (0.1 * rs.randn(c)).astype(np.float32)),
             self.const(self.name("bn_mean"), (0.1 * rs.randn(c)).astype(np.float32)),
             self.const(self.name("bn_var"), (0.5 + rs.rand(c)).astype(np.float32))]
        return self.node("BatchNormalization", [x] + p, epsilon=1e-5)

    def gemm(self, x, k, n, transB=1, alpha=1.0, beta=1.0, bias_shape=None):
        shape = (n, k) if transB else (k, n)
        w = self.weight(self.name("fc_w"), shape, k)
        b = self.bias(self.name("fc_b"), n)
        if bias_shape is not None:
            self.inits[-1] = numpy_helper.from_array(
                numpy_helper.to_array(self.inits[-1]).reshape(bias_shape), b)
        attrs = {"transB": transB}
        if alpha != 1.0:
            attrs["alpha"] = alpha
        if beta != 1.0:
            attrs["beta"] = beta
        return self.node("Gemm", [x, w, b], **attrs)

    def model(self, name, inputs, outputs, opset=13, ir=None, inits_as_inputs=False):
        graph_inputs = list(inputs)
        if inits_as_inputs:
            # Old exporters listed every initialiser as a graph input too.
            for t in self.inits:
                graph_inputs.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
        g = helper.make_graph(self.nodes, name, graph_inputs, outputs, initializer=self.inits)
        m = helper.make_model(g, producer_name="onnx-lrsc fixtures",
                              opset_imports=[helper.make_opsetid("", opset)])
        if ir is not None:
            m.ir_version = ir
        else:
            m.ir_version = 7  # opset 13 needs IR >= 7; keep it fixed across onnx versions
        onnx.checker.check_model(m)
        return m


def vinfo(name, shape, elem=F32):
    return helper.make_tensor_value_info(name, elem, shape)


# ---------------------------------------------------------------- models

def tiny_cnn():
    b = Builder(101)
    x = b.conv("input", 3, 8, 3, pads=[1, 1, 1, 1])
    x = b.node("Relu", [b.bn(x, 8)])
    x = b.node("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = b.conv(x, 8, 16, 3, pads=[1, 1, 1, 1])
    x = b.node("Relu", [x])
    x = b.node("GlobalAveragePool", [x])
    x = b.node("Flatten", [x], axis=1)
    x = b.gemm(x, 16, 10)
    b.node("Softmax", [x], ["prob"], axis=1)
    return b.model("tiny_cnn", [vinfo("input", ["batch", 3, 32, 32])], [vinfo("prob", ["batch", 10])]), \
        {"input": (2, 3, 32, 32)}


def mlp_gemm():
    b = Builder(102)
    x = b.node("Relu", [b.gemm("input", 64, 128, transB=1)])
    x = b.node("Relu", [b.gemm(x, 128, 48, transB=0, alpha=0.5, beta=2.0)])
    b.gemm(x, 48, 10, transB=1, bias_shape=(1, 10))
    b.nodes[-1].output[0] = "logits"
    return b.model("mlp_gemm", [vinfo("input", ["batch", 64])], [vinfo("logits", ["batch", 10])]), \
        {"input": (3, 64)}


def matmul_const():
    """tf2onnx-style dense layers: MatMul whose weight is reached via Transpose / Reshape."""
    b = Builder(103)
    wt = b.weight("dense/kernel_t", (96, 64), 64)            # stored transposed
    w1 = b.node("Transpose", [wt], perm=[1, 0])
    x = b.node("MatMul", ["input:0", w1])
    x = b.node("Relu", [b.node("Add", [x, b.bias("dense/bias", 96)])])
    wf = b.weight("dense_1/kernel_flat", (96 * 32,), 96)     # stored flat
    shp = b.const("dense_1/shape", np.array([96, 32], dtype=np.int64))
    w2 = b.node("Reshape", [wf, shp])
    x = b.node("MatMul", [x, w2])
    x = b.node("Add", [x, b.bias("dense_1/bias", 32)])
    # plain constant MatMul weight on the right, 3-D activation on the left
    x = b.node("Reshape", [x, b.const("reshape_3d", np.array([0, 4, 8], dtype=np.int64))])
    x = b.node("MatMul", [x, b.weight("dense_2/kernel", (8, 5), 8)])
    b.node("Identity", [x], ["output:0"])
    return b.model("matmul_const", [vinfo("input:0", ["batch", 64])], [vinfo("output:0", ["batch", 4, 5])]), \
        {"input:0": (2, 64)}


def constant_weights():
    """Weights held by Constant nodes (as in PaddleOCR's paddle2onnx exports), no initialisers."""
    b = Builder(104)

    def cnode(arr):
        out = b.name("const")
        b.nodes.append(helper.make_node("Constant", [], [out], name=b.name("Constant"),
                                        value=numpy_helper.from_array(arr.astype(np.float32), out + "_v")))
        return out

    rs = b.rs
    x = b.node("Conv", ["x", cnode(rs.randn(8, 3, 3, 3) * 0.27), cnode(rs.randn(8) * 0.1)],
               kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2])
    x = b.node("HardSigmoid", [x], alpha=0.2, beta=0.5)
    x = b.node("Conv", [x, cnode(rs.randn(8, 1, 3, 3) * 0.47)], kernel_shape=[3, 3],
               pads=[1, 1, 1, 1], group=8)
    x = b.node("Relu", [x])
    x = b.node("Conv", [x, cnode(rs.randn(16, 8, 1, 1) * 0.5), cnode(rs.randn(16) * 0.1)],
               kernel_shape=[1, 1])
    x = b.node("Relu", [x])
    x = b.node("GlobalAveragePool", [x])
    x = b.node("Flatten", [x], axis=1)
    x = b.node("MatMul", [x, cnode(rs.randn(16, 6) * 0.35)])
    x = b.node("Add", [x, cnode(rs.randn(6) * 0.1)])
    b.node("Softmax", [x], ["softmax_0.tmp_0"], axis=-1)
    return b.model("constant_weights", [vinfo("x", ["batch", 3, 16, 16])],
                   [vinfo("softmax_0.tmp_0", ["batch", 6])]), {"x": (1, 3, 16, 16)}


def old_ir3():
    """IR 3 / opset 8 with every initialiser also listed as a graph input."""
    b = Builder(105)
    x = b.conv("data", 1, 6, 5)
    x = b.bn(x, 6)
    x = b.node("Relu", [x])
    x = b.node("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = b.conv(x, 6, 12, 3)
    x = b.node("Relu", [x])
    x = b.node("Reshape", [x, b.const("shape", np.array([1, 12 * 4 * 4], dtype=np.int64))])
    x = b.node("Relu", [b.gemm(x, 192, 32)])
    x = b.gemm(x, 32, 10)
    b.node("Softmax", [x], ["prob"], axis=1)
    return b.model("old_ir3", [vinfo("data", [1, 1, 16, 16])], [vinfo("prob", [1, 10])],
                   opset=8, ir=3, inits_as_inputs=True), {"data": (1, 1, 16, 16)}


def external_data():
    b = Builder(106)
    x = b.node("Relu", [b.conv("input", 4, 16, 3, pads=[1, 1, 1, 1])])
    x = b.node("Relu", [b.conv(x, 16, 16, 3, pads=[1, 1, 1, 1], strides=[2, 2])])
    x = b.node("Flatten", [x], axis=1)
    b.gemm(x, 16 * 4 * 4, 10)
    b.nodes[-1].output[0] = "logits"
    return b.model("external_data", [vinfo("input", ["batch", 4, 8, 8])], [vinfo("logits", ["batch", 10])]), \
        {"input": (2, 4, 8, 8)}


def conv_chain(name, seed, cin, hw, layers):
    """A chain of Conv(+Relu) layers, each described by (cout, kernel, attrs)."""
    b = Builder(seed)
    x, c = "input", cin
    for i, (cout, k, attrs) in enumerate(layers):
        attrs = dict(attrs)
        bias = attrs.pop("bias", True)
        x = b.conv(x, c, cout, k, bias=bias, **attrs)
        if i + 1 < len(layers):
            x = b.node("Relu", [x])
        c = cout
    b.nodes[-1].output[0] = "output"
    m = b.model(name, [vinfo("input", ["batch", cin, hw[0], hw[1]])], [vinfo("output", ["batch", c, "out_h", "out_w"])])
    return m, {"input": (2, cin, hw[0], hw[1])}


CONV_CHAINS = {
    # asymmetric padding, strides, non-square kernels, no bias
    "conv_pads_strides": (107, 3, (17, 13), [
        (8, 3, {"pads": [1, 0, 2, 1], "strides": [2, 1]}),
        (8, (1, 5), {"pads": [0, 2, 0, 2], "bias": False}),
        (12, (3, 1), {"strides": [1, 2], "pads": [1, 0, 1, 0]}),
        (6, 1, {}),
    ]),
    "conv_dilations": (108, 4, (20, 20), [
        (8, 3, {"dilations": [2, 2], "pads": [2, 2, 2, 2]}),
        (8, 3, {"dilations": [3, 1], "pads": [1, 0, 1, 0], "strides": [2, 2]}),
        (4, 3, {"dilations": [2, 2]}),
    ]),
    "conv_groups": (109, 8, (12, 12), [
        (16, 3, {"group": 2, "pads": [1, 1, 1, 1]}),
        (16, 3, {"group": 4, "strides": [2, 2]}),
        (12, 1, {"group": 4}),
    ]),
    # MobileNet-style depthwise separable blocks, depth multiplier 1 and 2
    "conv_depthwise": (110, 6, (16, 16), [
        (6, 3, {"group": 6, "pads": [1, 1, 1, 1]}),
        (12, 1, {}),
        (24, 3, {"group": 12, "pads": [1, 1, 1, 1], "strides": [2, 2], "bias": False}),
        (8, 1, {}),
    ]),
    "conv_autopad": (111, 3, (15, 15), [
        (8, 3, {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
        (8, 4, {"auto_pad": "SAME_LOWER"}),
        (4, 3, {"auto_pad": "VALID"}),
    ]),
}


def residual_branches():
    """Skip connection (Add) and parallel branches (Concat) around convolutions."""
    b = Builder(112)
    x = b.node("Relu", [b.bn(b.conv("input", 3, 16, 3, pads=[1, 1, 1, 1], bias=False), 16)])
    y = b.node("Relu", [b.bn(b.conv(x, 16, 16, 3, pads=[1, 1, 1, 1], bias=False), 16)])
    y = b.bn(b.conv(y, 16, 16, 3, pads=[1, 1, 1, 1], bias=False), 16)
    x = b.node("Relu", [b.node("Add", [x, y])])
    p = b.node("Relu", [b.conv(x, 16, 8, 1)])
    q = b.node("Relu", [b.conv(x, 16, 8, 3, pads=[1, 1, 1, 1])])
    r = b.node("MaxPool", [x], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1])
    r = b.node("Relu", [b.conv(r, 16, 8, 1)])
    x = b.node("Concat", [p, q, r], axis=1)
    x = b.node("AveragePool", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = b.node("GlobalAveragePool", [b.conv(x, 24, 32, 3, pads=[1, 1, 1, 1])])
    x = b.node("Flatten", [x], axis=1)
    b.gemm(x, 32, 10)
    b.nodes[-1].output[0] = "logits"
    return b.model("residual_branches", [vinfo("input", ["batch", 3, 16, 16])],
                   [vinfo("logits", ["batch", 10])]), {"input": (2, 3, 16, 16)}


def save_inputs(name, shapes, out, seed):
    d = os.path.join(out, name + ".inputs")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    rs = np.random.RandomState(seed)
    for k, shape in shapes.items():
        arr = rs.uniform(-1.0, 1.0, size=shape).astype(np.float32)
        np.save(os.path.join(d, sanitize(k) + ".npy"), arr)


def sanitize(name):
    return "".join(ch if ch.isalnum() and ch.isascii() or ch in "._-" else "_" for ch in name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "fixtures", "models"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    builders = [tiny_cnn, mlp_gemm, matmul_const, constant_weights, old_ir3, residual_branches]
    made = [(f.__name__, *f()) for f in builders]
    for name, (seed, cin, hw, layers) in CONV_CHAINS.items():
        made.append((name, *conv_chain(name, seed, cin, hw, layers)))

    for i, (name, model, shapes) in enumerate(made):
        onnx.save(model, os.path.join(args.out, name + ".onnx"))
        save_inputs(name, shapes, args.out, 1000 + i)

    m, shapes = external_data()
    path = os.path.join(args.out, "external_data.onnx")
    if os.path.exists(path + ".data"):
        os.remove(path + ".data")  # save appends to an existing data file
    onnx.save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location="external_data.onnx.data", size_threshold=0)
    save_inputs("external_data", shapes, args.out, 999)
    made.append(("external_data", m, shapes))

    # Fixed inputs for the trained fixtures, from the committed evaluation data.
    data = os.path.join(ROOT, "fixtures", "data")
    for name, npy, scale in [("fashion_mnist_alexnetish", "fashion_mnist_test_500.npy", None),
                             ("cifar10_vggish", "cifar10_test_500.npy", "pm1")]:
        src = os.path.join(data, npy)
        if not os.path.exists(os.path.join(args.out, name + ".onnx")) or not os.path.exists(src):
            continue
        imgs = np.load(src)[:4].astype(np.float32) / 255.0
        if scale == "pm1":
            imgs = (imgs - 0.5) / 0.5
        d = os.path.join(args.out, name + ".inputs")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        np.save(os.path.join(d, "input.npy"), imgs.astype(np.float32))

    for name, _, _ in made:
        p = os.path.join(args.out, name + ".onnx")
        print("%-22s %8d bytes" % (name, os.path.getsize(p)))


if __name__ == "__main__":
    main()
