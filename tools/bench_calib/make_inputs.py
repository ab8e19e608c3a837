#!/usr/bin/python3
"""Benchmark inputs for bench_calib, from ../shared/data/{photos,faces} (not committed).

  make_inputs.py OUTDIR COUNT [SIZE]   -> COUNT distinct SIZE x SIZE JPEGs (quality 90):
      seeded random crops (50-100% of the shorter side) and flips of the photographs.
  make_inputs.py --model OUT.onnx      -> a small CNN the core interpreter runs
      (Conv/MaxPool/Conv/MaxPool/Conv/MatMul on a 3x224x224 input, random weights).
"""
import glob
import os
import sys

import numpy as np


def make_images(outdir, count, size):
    from PIL import Image
    shared = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")
    srcs = sorted(glob.glob(os.path.join(shared, "photos", "*")) +
                  glob.glob(os.path.join(shared, "faces", "*.jpg")))
    if not srcs:
        sys.exit("no photos under " + shared)
    ims = [Image.open(p).convert("RGB") for p in srcs]
    rng = np.random.RandomState(0)
    os.makedirs(outdir, exist_ok=True)
    for i in range(count):
        im = ims[i % len(ims)]
        w, h = im.size
        s = int(min(w, h) * rng.uniform(0.5, 1.0))
        x, y = rng.randint(0, w - s + 1), rng.randint(0, h - s + 1)
        c = im.crop((x, y, x + s, y + s)).resize((size, size), Image.BILINEAR)
        if rng.rand() < 0.5:
            c = c.transpose(Image.FLIP_LEFT_RIGHT)
        c.save(os.path.join(outdir, "img%05d.jpg" % i), quality=90)


def make_model(path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.RandomState(0)
    def w(*s):
        return numpy_helper.from_array((rng.standard_normal(s) * 0.1).astype(np.float32))
    inits = []
    for name, shape in [("W1", (32, 3, 3, 3)), ("W2", (32, 32, 3, 3)), ("W3", (64, 32, 3, 3)),
                        ("M", (56, 10))]:
        t = w(*shape)
        t.name = name
        inits.append(t)
    nodes = [
        helper.make_node("Conv", ["x", "W1"], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("MaxPool", ["c1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "W2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["c2", "W3"], ["c3"], pads=[1, 1, 1, 1]),
        helper.make_node("MatMul", ["c3", "M"], ["y"]),
    ]
    g = helper.make_graph(nodes, "bench", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, ["N", 3, 224, 224])], [helper.make_tensor_value_info(
        "y", TensorProto.FLOAT, ["N", 64, 56, 10])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, path)


if __name__ == "__main__":
    if sys.argv[1] == "--model":
        make_model(sys.argv[2])
    else:
        make_images(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 224)
