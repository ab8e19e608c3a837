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

    # ---- hostile-input corpus (issue 8) ----------------------------------
    # Truncations and bit flips: kept only where Python's protobuf (an
    # independent parser) also rejects the bytes, so each one is malformed.
    from google.protobuf.message import DecodeError

    def rejected(data):
        try:
            onnx.ModelProto().ParseFromString(data)
        except DecodeError:
            return True
        return False

    big = base_model(nodes=[helper.make_node("Conv", ["x", "w"], ["y"], name="conv", kernel_shape=[1],
                                             strides=[1], pads=[0, 0])]).SerializeToString()
    kept = 0
    for cut in range(7, len(big), 9):
        if kept < 8 and rejected(big[:cut]):
            save("cut_%d.onnx" % cut, big[:cut], "not a valid ONNX model")
            kept += 1
    import random
    rng = random.Random(8)
    kept = 0
    while kept < 6:
        pos = rng.randrange(len(big))
        flipped = bytearray(big)
        flipped[pos] ^= 1 << rng.randrange(8)
        if rejected(bytes(flipped)):
            save("bitflip_%d.onnx" % pos, bytes(flipped), "not a valid ONNX model")
            kept += 1
    # Wire-level damage.
    save("wire_group.onnx", field(1, 0, varint(8)) + varint((7 << 3) | 3), "not a valid ONNX model")
    save("wire_field_zero.onnx", field(1, 0, varint(8)) + varint(0) + b"\x01", "not a valid ONNX model")
    save("wire_long_varint.onnx", varint(1 << 3) + b"\xff" * 11, "not a valid ONNX model")
    save("wire_huge_length.onnx", varint((7 << 3) | 2) + varint(0xFFFFFFFF) + b"\0" * 8, "not a valid ONNX model")
    # ir_version (a varint) sent as a string: the wrong wire type for the field.
    save("wrong_wire_type.onnx", field(1, 2, b"8") + field(7, 2, b""), "not a valid ONNX model")
    save("gzip.onnx", b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + good[:40], "not a valid ONNX model")
    m = base_model()
    m.ir_version = 0
    save("ir_0.onnx", m, "IR version 0 is not supported")
    # TypeProto nests without bound (sequence of sequence of ...).
    tp = helper.make_tensor_type_proto(TensorProto.FLOAT, [1])
    for _ in range(100):
        tp = helper.make_sequence_type_proto(tp)
    m = base_model()
    vi = m.graph.value_info.add()
    vi.name = "deep"
    vi.type.CopyFrom(tp)
    save("deep_type.onnx", m, "nested more than")

    # Tensors whose sizes cannot be right.
    t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1 << 20, 1 << 20], raw_data=b"")
    save("dims_huge.onnx", base_model(init=[t]), "raw_data has 0 bytes")
    t = TensorProto(name="w", data_type=TensorProto.DOUBLE, dims=[(1 << 63) - 1], raw_data=b"")
    save("dims_bytes_overflow.onnx", base_model(init=[t]), "overflow")
    t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[0, 4], raw_data=b"\0" * 16)
    save("dims_zero_with_data.onnx", base_model(init=[t]), "its dims need 0")
    t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1] * 9, raw_data=b"\0" * 4)
    save("rank_9.onnx", base_model(init=[t]), "has rank 9")
    t = TensorProto(name="w", data_type=0, dims=[1, 4], raw_data=b"\0" * 16)
    save("dtype_undefined.onnx", base_model(init=[t]), "unknown data type 0")
    t = TensorProto(name="w", data_type=TensorProto.INT64, dims=[1, 4], float_data=[1, 2, 3, 4])
    save("typed_wrong_field.onnx", base_model(init=[t]), "holds 0 values, dims need 4")
    t = TensorProto(name="w", data_type=TensorProto.COMPLEX64, dims=[2], float_data=[1, 2, 3])
    save("complex_odd.onnx", base_model(init=[t]), "holds 3 values, dims need 4")
    t = TensorProto(name="w", data_type=TensorProto.STRING, dims=[1], raw_data=b"abcd")
    save("string_raw.onnx", base_model(init=[t]), "string tensors cannot use raw_data")
    t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1, 4], raw_data=b"\0" * 16)
    t.segment.begin, t.segment.end = 0, 2
    save("segmented.onnx", base_model(init=[t]), "is segmented")
    # A Constant node whose tensor attribute lies about its size.
    bad_value = TensorProto(name="c", data_type=TensorProto.FLOAT, dims=[4], raw_data=b"\0" * 15)
    nodes = [helper.make_node("Constant", [], ["w"], name="const", value=bad_value),
             helper.make_node("Add", ["x", "w"], ["y"], name="add")]
    save("constant_bad_size.onnx", base_model(init=[], nodes=nodes), "attribute 'value'")
    # The same inside an If branch (subgraphs are checked too).
    inner = helper.make_graph([helper.make_node("Constant", [], ["z"], name="inner", value=bad_value)], "then",
                              [], [helper.make_tensor_value_info("z", TensorProto.FLOAT, [4])])
    nodes = [helper.make_node("If", ["x"], ["y"], name="if", then_branch=inner, else_branch=inner)]
    save("subgraph_bad_tensor.onnx", base_model(nodes=nodes), "raw_data has 15 bytes")

    # Graph structure.
    nodes = [helper.make_node("Relu", ["a"], ["a"], name="self"), helper.make_node("Add", ["x", "a"], ["y"], name="add")]
    save("self_loop.onnx", base_model(nodes=nodes), "cycle")
    nodes = [helper.make_node("Relu", ["c"], ["a"], name="n1"), helper.make_node("Relu", ["a"], ["b"], name="n2"),
             helper.make_node("Relu", ["b"], ["c"], name="n3"), helper.make_node("Add", ["x", "c"], ["y"], name="n4")]
    save("cycle_3.onnx", base_model(nodes=nodes), "cycle")
    t1 = helper.make_tensor("w", TensorProto.FLOAT, [1, 4], [1, 2, 3, 4])
    save("init_twice.onnx", base_model(init=[t1, t1]), "defined twice")
    t = helper.make_tensor("", TensorProto.FLOAT, [1, 4], [1, 2, 3, 4])
    save("init_no_name.onnx", base_model(init=[t]), "has no name")
    m = base_model()
    m.graph.input.extend([m.graph.input[0]])
    save("input_twice.onnx", m, "listed twice")
    nodes = [helper.make_node("", ["x", "w"], ["y"], name="noop")]
    save("no_op_type.onnx", base_model(nodes=nodes), "has no op_type")
    nodes = [helper.make_node("Relu", ["w"], ["x"], name="r"), helper.make_node("Add", ["x", "w"], ["y"], name="add")]
    save("output_is_input.onnx", base_model(nodes=nodes), "already defined")

    # External data that must be refused.
    ext("ext_negative_offset.onnx", "ext_data.bin", "bad external data offset", offset=-1)
    ext("ext_bad_length.onnx", "ext_data.bin", "bad external data length", length="16 bytes")
    ext("ext_backslash.onnx", "..\\ext_data.bin", "contains '\\'")
    ext("ext_folder_itself.onnx", ".", "resolves outside the model's folder")
    ext("ext_inner_dotdot.onnx", "sub/../../bad/ext_data.bin", "contains '..'")
    ext("ext_offset_overflow.onnx", "ext_data.bin", "bad external data offset", offset="99999999999999999999999")
    t = TensorProto(name="w", data_type=TensorProto.STRING, dims=[1])
    t.data_location = TensorProto.EXTERNAL
    e = t.external_data.add()
    e.key, e.value = "location", "ext_data.bin"
    save("ext_string.onnx", base_model(init=[t]), "string tensors cannot be external")

    with open(os.path.join(OUT, "EXPECTED.tsv"), "w") as f:
        f.write("# file\texpected fragment of the error line (regenerate: tools/make_bad_models.py)\n")
        for name, expect in cases:
            f.write("%s\t%s\n" % (name, expect))
    print("wrote %d malformed models to %s" % (len(cases), os.path.normpath(OUT)))


if __name__ == "__main__":
    sys.exit(main())
