#!/usr/bin/python3
"""Regenerates fixtures/calib/: two tiny models, their calibration inputs, and the
reference layer statistics computed independently with torch (forward pass,
F.unfold for im2col) and numpy float64 (Gram X X^T, mean, column count).

  tools/make_calib_fixture.py        (run from the repository root, /usr/bin/python3)

cnn.onnx: x[N,3,10,10] -> Conv(4x3x3x3, pads 1) -> MaxPool(2, stride 1)
          -> Conv(6x2x3x3, group 2, stride 2, pads t1 l0 b0 r1, dilation 1) -> MatMul(B[5,3])
mlp.onnx: x[N,8] -> Gemm(B[8,6]) -> Gemm(transA=0, transB=1, B[5,6]) -> MatMul(B[5,4])
Reference files: <model>_<k>_gram.npy [G,n,n] and <model>_<k>_mean.npy [G,n] for the k-th
target layer in node order, <model>_counts.npy [layers] (columns per group).
"""
import os

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

out = os.path.join("fixtures", "calib")
os.makedirs(os.path.join(out, "cnn_inputs"), exist_ok=True)
os.makedirs(os.path.join(out, "mlp_inputs"), exist_ok=True)
rng = np.random.RandomState(1234)


def f32(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def save_model(path, nodes, inits, x_shape, y_shape):
    g = helper.make_graph(
        nodes, os.path.basename(path)[:-5],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, path)


def stats(cols_per_group):
    """cols: list over groups of [N, n] float64 -> gram [G,n,n], mean [G,n], N."""
    grams = np.stack([c.T @ c for c in cols_per_group])
    means = np.stack([c.mean(axis=0) for c in cols_per_group])
    return grams, means, cols_per_group[0].shape[0]


def save_ref(prefix, layers):
    counts = []
    for k, cols in enumerate(layers):
        g, m, n = stats(cols)
        np.save(os.path.join(out, f"{prefix}_{k}_gram.npy"), g)
        np.save(os.path.join(out, f"{prefix}_{k}_mean.npy"), m)
        counts.append(n)
    np.save(os.path.join(out, f"{prefix}_counts.npy"), np.array(counts, dtype=np.int64))


# ---- CNN ----
W1, B1 = f32(4, 3, 3, 3, scale=0.3), f32(4, scale=0.1)
W2, B2 = f32(6, 2, 3, 3, scale=0.3), f32(6, scale=0.1)
M = f32(5, 3)
nodes = [
    helper.make_node("Conv", ["x", "W1", "B1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
    helper.make_node("MaxPool", ["c1"], ["p1"], name="pool", kernel_shape=[2, 2], strides=[1, 1],
                     pads=[0, 0, 1, 1]),
    helper.make_node("Conv", ["p1", "W2", "B2"], ["c2"], name="conv2", group=2, strides=[2, 2],
                     pads=[1, 0, 0, 1]),
    helper.make_node("MatMul", ["c2", "M"], ["y"], name="mm"),
]
save_model(os.path.join(out, "cnn.onnx"), nodes, {"W1": W1, "B1": B1, "W2": W2, "B2": B2, "M": M},
           ["N", 3, 10, 10], ["N", 6, 5, 3])
samples = [f32(3, 10, 10), f32(2, 3, 10, 10), f32(3, 10, 10), f32(3, 10, 10)]
for i, s in enumerate(samples):
    np.save(os.path.join(out, "cnn_inputs", f"s{i}.npy"), s)
x = torch.from_numpy(np.concatenate([s.reshape(-1, 3, 10, 10) for s in samples]))
c1 = F.conv2d(x, torch.from_numpy(W1), torch.from_numpy(B1), padding=1)
p1 = F.max_pool2d(F.pad(c1, (0, 1, 0, 1), value=-np.inf), 2, stride=1)
c2 = F.conv2d(F.pad(p1, (0, 1, 1, 0)), torch.from_numpy(W2), torch.from_numpy(B2), stride=2,
              groups=2)


def patches(t, k, stride, pad_lrtb, groups):
    t = F.pad(t, pad_lrtb).double()
    cols = F.unfold(t, k, stride=stride)  # [N, C*k*k, L], channel-major like W.view(M, -1)
    C = t.shape[1]
    per = C // groups * k * k
    return [cols[:, g * per:(g + 1) * per, :].permute(0, 2, 1).reshape(-1, per).numpy()
            for g in range(groups)]


save_ref("cnn", [patches(x, 3, 1, (1, 1, 1, 1), 1),
                 patches(p1, 3, 2, (0, 1, 1, 0), 2),
                 [c2.double().reshape(-1, 5).numpy()]])

# ---- MLP ----
G1, G2, M2 = f32(8, 6, scale=0.5), f32(5, 6, scale=0.5), f32(5, 4)
C1, C2 = f32(6, scale=0.1), f32(5, scale=0.1)
nodes = [
    helper.make_node("Gemm", ["x", "G1", "C1"], ["h1"], name="fc1"),
    helper.make_node("Gemm", ["h1", "G2", "C2"], ["h2"], name="fc2", transB=1, alpha=0.5),
    helper.make_node("MatMul", ["h2", "M2"], ["y"], name="fc3"),
]
save_model(os.path.join(out, "mlp.onnx"), nodes, {"G1": G1, "C1": C1, "G2": G2, "C2": C2, "M2": M2},
           ["N", 8], ["N", 4])
xm = f32(7, 8)
np.save(os.path.join(out, "mlp_inputs", "all.npy"), xm)
h1 = xm.astype(np.float64) @ G1 + C1
h2 = 0.5 * (h1 @ G2.T.astype(np.float64)) + C2
save_ref("mlp", [[xm.astype(np.float64)], [h1], [h2]])
for name in sorted(os.listdir(out)):
    p = os.path.join(out, name)
    if os.path.isfile(p):
        print(name, os.path.getsize(p))
