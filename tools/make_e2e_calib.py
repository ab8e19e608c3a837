#!/usr/bin/python3
"""Regenerate fixtures/calib_e2e/<model>/NN.npy: small seeded calibration sets for
the hand-built fixture models (tests/e2e.cmake).

usage: /usr/bin/python3 tools/make_e2e_calib.py [--files 10] [--per-file 3]

Every file holds [k, ...] float32 samples for the model's (single) input, drawn
from N(mean, std) of the fixed input MODEL.inputs/<input>.npy so that the data
sits in the range the model was built for. Ten files let --holdout keep one file
back, so the report always has a validation figure. Fixed seeds: reruns give
byte-identical files.
"""
import argparse
import os
import zlib

import numpy as np
import onnx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ["tiny_cnn", "mlp_gemm", "matmul_const", "constant_weights", "residual_branches",
          "conv_autopad", "conv_depthwise", "conv_dilations", "conv_groups", "conv_pads_strides",
          "old_ir3", "external_data"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=10)
    ap.add_argument("--per-file", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(ROOT, "fixtures", "calib_e2e"))
    a = ap.parse_args()
    for name in MODELS:
        m = onnx.load(os.path.join(ROOT, "fixtures", "models", name + ".onnx"), load_external_data=False)
        inits = {i.name for i in m.graph.initializer}
        inputs = [i for i in m.graph.input if i.name not in inits]
        assert len(inputs) == 1, name
        inp = inputs[0]
        dims = [d.dim_value if d.HasField("dim_value") else 0 for d in inp.type.tensor_type.shape.dim]
        sample = [d for d in dims[1:]]
        assert all(d > 0 for d in sample), (name, dims)
        fixed = os.path.join(ROOT, "fixtures", "models", name + ".inputs")
        ref = np.load(os.path.join(fixed, os.listdir(fixed)[0])).astype(np.float64)
        mean, std = float(ref.mean()), float(ref.std()) or 1.0
        rs = np.random.RandomState(zlib.crc32(name.encode()))
        d = os.path.join(a.out, name)
        os.makedirs(d, exist_ok=True)
        for f in range(a.files):
            x = rs.normal(mean, std, size=[a.per_file] + sample).astype(np.float32)
            np.save(os.path.join(d, "%02d.npy" % f), x)
        print(name, [a.per_file] + sample, "x", a.files)


if __name__ == "__main__":
    main()
