#!/usr/bin/python3
"""Regenerates fixtures/io/: small models that exercise model loading and the
graph view (unsorted nodes, IR 3 inputs shadowing initializers, weights as
Constant nodes, external data).  /usr/bin/python3 tools/make_io_fixtures.py"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "io")


def vi(name, dims):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def main():
    os.makedirs(os.path.join(OUT, "external"), exist_ok=True)
    rng = np.random.default_rng(7)
    w1 = rng.standard_normal((8, 16)).astype(np.float32)
    w2 = rng.standard_normal((4, 8)).astype(np.float32)

    # Nodes listed in reverse order of execution.
    nodes = [
        helper.make_node("Gemm", ["h", "w2"], ["y"], name="fc2", transB=1),
        helper.make_node("Relu", ["g"], ["h"], name="relu"),
        helper.make_node("Gemm", ["x", "w1"], ["g"], name="fc1", transB=1),
    ]
    g = helper.make_graph(nodes, "unsorted", [vi("x", ["N", 16])], [vi("y", ["N", 4])],
                          initializer=[numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, os.path.join(OUT, "unsorted.onnx"))

    # IR 3: every initializer is also listed as a graph input.
    g = helper.make_graph(list(reversed(nodes)), "ir3", [vi("x", [1, 16]), vi("w1", [8, 16]), vi("w2", [4, 8])],
                          [vi("y", [1, 4])],
                          initializer=[numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 8)])
    m.ir_version = 3
    onnx.save(m, os.path.join(OUT, "ir3_shadow.onnx"))

    # Weights stored as Constant nodes (as PaddleOCR's exporter does).
    cnodes = [helper.make_node("Constant", [], ["w1"], name="c1", value=numpy_helper.from_array(w1)),
              helper.make_node("Constant", [], ["w2"], name="c2", value=numpy_helper.from_array(w2))]
    g = helper.make_graph(cnodes + list(reversed(nodes)), "constants", [vi("x", ["N", 16])], [vi("y", ["N", 4])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    m.metadata_props.add(key="source", value="onnx-lrsc fixture")
    onnx.save(m, os.path.join(OUT, "constant_weights.onnx"))

    # External data: both weights in one file, at offsets.
    g = helper.make_graph(list(reversed(nodes)), "external", [vi("x", ["N", 16])], [vi("y", ["N", 4])],
                          initializer=[numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save_model(m, os.path.join(OUT, "external", "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    print("wrote fixtures to", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
