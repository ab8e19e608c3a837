#!/usr/bin/python3
"""Regenerates fixtures/bad/: malformed ONNX models, each paired in
EXPECTED.tsv with a fragment of the one-line error onnx-lrsc must print.

Run with Debian's python3 (python3-onnx):  /usr/bin/python3 tools/make_bad_models.py
"""
import os
import sys

import onnx
from onnx import TensorProto, helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "bad")


def base_model(init=None, nodes=None, ir=8):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    if nodes is None:
        nodes = [helper.make_node("Add", ["x", "w"], ["y"], name="add")]
    if init is None:
        init = [helper.make_tensor("w", TensorProto.FLOAT, [1, 4], [1, 2, 3, 4])]
    g = helper.make_graph(nodes, "g", [x], [y], initializer=init)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = ir
    return m


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, wire, payload):
    key = varint((num << 3) | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def deep_model(depth):
    """A model whose If nodes nest subgraphs `depth` levels deep."""
    graph = field(2, 2, b"leaf")
    for _ in range(depth):
        attr = field(1, 2, b"then_branch") + field(20, 0, varint(5)) + field(6, 2, graph)
        node = field(4, 2, b"If") + field(5, 2, attr)
        graph = field(1, 2, node)
    return field(1, 0, varint(8)) + field(7, 2, graph) + field(8, 2, field(2, 0, varint(13)))


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = []

    def save(name, data, expect):
        path = os.path.join(OUT, name)
        with open(path, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.SerializeToString())
        cases.append((name, expect))

    good = base_model().SerializeToString()
    save("empty.onnx", b"", "empty file")
    save("not_protobuf.onnx", b"\x89PNG\r\n\x1a\n this is an image, not a model", "not a valid ONNX model")
    save("text.onnx", b"ir_version: 8\ngraph { name: 'g' }\n", "not a valid ONNX model")
    for cut in (3, len(good) // 3, len(good) // 2, len(good) - 5):
        save("truncated_%d.onnx" % cut, good[:cut], "not a valid ONNX model")
    m = base_model()
    m.ir_version = 99
    save("ir_99.onnx", m, "IR version 99 is not supported")
    m = base_model()
    m.ClearField("ir_version")
    save("no_ir.onnx", m, "no ir_version")
    m = base_model()
    m.ClearField("graph")
    save("no_graph.onnx", m, "model has no graph")

    t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1, 4], raw_data=b"\0" * 12)
    save("raw_size_mismatch.onnx", base_model(init=[t]), "raw_data has 12 bytes")
    t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1, 4], float_data=[1, 2, 3])
    save("typed_count_mismatch.onnx", base_model(init=[t]), "holds 3 values, dims need 4")
    t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1 << 40, 1 << 40], raw_data=b"")
    save("dims_overflow.onnx", base_model(init=[t]), "overflow")
    t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1, -4], raw_data=b"")
    save("negative_dim.onnx", base_model(init=[t]), "negative dimension")
    t = TensorProto(name="w", data_type=77, dims=[1, 4], raw_data=b"\0" * 16)
    save("unknown_dtype.onnx", base_model(init=[t]), "unknown data type 77")
    t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1] * 12, raw_data=b"\0" * 4)
    save("rank_12.onnx", base_model(init=[t]), "has rank 12")

    def ext(name, location, expect, offset=None, length=None):
        t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1, 4])
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", location), ("offset", offset), ("length", length)):
            if v is not None:
                e = t.external_data.add()
                e.key, e.value = k, str(v)
        save(name, base_model(init=[t]), expect)

    with open(os.path.join(OUT, "ext_data.bin"), "wb") as f:
        f.write(b"\0" * 16)
    ext("ext_missing_file.onnx", "no_such_file.bin", "no_such_file.bin")
    ext("ext_dotdot.onnx", "../bad/ext_data.bin", "contains '..'")
    ext("ext_absolute.onnx", "/etc/hostname", "is absolute")
    ext("ext_offset_past_end.onnx", "ext_data.bin", "past the end", offset=64)
    ext("ext_length_past_end.onnx", "ext_data.bin", "runs past the end", offset=8, length=16)
    ext("ext_wrong_size.onnx", "ext_data.bin", "external data holds 8 bytes", offset=8)
    ext("ext_bad_offset.onnx", "ext_data.bin", "bad external data offset", offset="12abc")
    ext("ext_no_location.onnx", "", "names no location")

    nodes = [helper.make_node("Relu", ["b"], ["a"], name="n1"), helper.make_node("Relu", ["a"], ["b"], name="n2"),
             helper.make_node("Add", ["x", "a"], ["y"], name="n3")]
    save("cycle.onnx", base_model(nodes=nodes), "cycle")
    nodes = [helper.make_node("Add", ["x", "ghost"], ["y"], name="add")]
    save("dangling_input.onnx", base_model(nodes=nodes), "input 'ghost' is not produced")
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="r1"), helper.make_node("Relu", ["x"], ["y"], name="r2")]
    save("duplicate_output.onnx", base_model(nodes=nodes), "already defined")
    nodes = [helper.make_node("Relu", ["x"], ["z"], name="r1")]
    save("missing_output.onnx", base_model(nodes=nodes), "graph output 'y' is not produced")
    save("deep_nesting.onnx", deep_model(5000), "nested more than")

    with open(os.path.join(OUT, "EXPECTED.tsv"), "w") as f:
        f.write("# file\texpected fragment of the error line (regenerate: tools/make_bad_models.py)\n")
        for name, expect in cases:
            f.write("%s\t%s\n" % (name, expect))
    print("wrote %d malformed models to %s" % (len(cases), os.path.normpath(OUT)))


if __name__ == "__main__":
    sys.exit(main())
