#!/usr/bin/python3
"""Builds one ONNX model per sparse-branch form (the graphs onnx-lrsc's rewrite
emits, see src/rewrite/sparse_forms.c) for a VGG-16 fc6-sized Gemm and a
mid-network 3x3 Conv, then times them in ONNX Runtime (onnxruntime-node, 2
intra-op threads) with tools/bench_sparse_forms.js, interleaving the forms
round by round, and prints a table of median latency at batch 1 and 8 (minimum
in brackets: on a shared machine it is the less disturbed figure) plus the
file size.  The graphs mirror what src/rewrite/sparse_forms.c emits.

usage: /usr/bin/python3 tools/bench_sparse_forms.py [--out DIR] [--small] [--runs N]
       (NODE_PATH or LRSC_NODE_MODULES points at a node_modules with onnxruntime-node;
        default tools/node_modules)
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 16  # ScatterND reduction='add' needs 16; the other forms run at 13


def init(name, arr):
    return numpy_helper.from_array(np.ascontiguousarray(arr), name)


def i64(name, vals):
    return init(name, np.array(vals, dtype=np.int64))


class G:
    def __init__(self):
        self.nodes, self.inits = [], []

    def n(self, op, ins, outs, **attrs):
        self.nodes.append(helper.make_node(op, ins, outs, **attrs))
        return outs[0]

    def i(self, name, arr):
        self.inits.append(init(name, arr))
        return name


def random_coo(rng, m, n, density):
    nnz = max(1, int(round(m * n * density)))
    flat = np.sort(rng.choice(m * n, size=nnz, replace=False))
    return flat // n, flat % n, rng.standard_normal(nnz).astype(np.float32)


# ---- Gemm / MatMul sparse branches: X [b, n] -> [b, m] ---------------------------------

def gemm_sparse_gather_reduce(g, x, m, n, rows, cols, vals):
    counts = np.bincount(rows, minlength=m)
    k = int(counts.max())
    idx = np.zeros((m, k), np.int32)
    val = np.zeros((m, k), np.float32)
    pos = np.zeros(m, np.int64)
    for r, c, v in zip(rows, cols, vals):
        idx[r, pos[r]] = c
        val[r, pos[r]] = v
        pos[r] += 1
    g.i("S_idx", idx); g.i("S_val", val); g.i("axes", np.array([2], np.int64))
    t = g.n("Gather", [x, "S_idx"], ["s_g"], axis=1)
    t = g.n("Mul", [t, "S_val"], ["s_m"])
    return g.n("ReduceSum", [t, "axes"], ["s_y"], keepdims=0)


def gemm_sparse_gather_scatter(g, x, m, n, rows, cols, vals):
    g.i("S_col", cols.astype(np.int32)); g.i("S_row", rows.astype(np.int64).reshape(-1, 1))
    g.i("S_val", vals.reshape(-1, 1)); g.i("m1", np.array([m], np.int64))
    g.i("st", np.array([0], np.int64)); g.i("en", np.array([1], np.int64))
    xt = g.n("Transpose", [x], ["s_xt"], perm=[1, 0])
    t = g.n("Gather", [xt, "S_col"], ["s_g"], axis=0)
    t = g.n("Mul", [t, "S_val"], ["s_m"])
    sh = g.n("Shape", [x], ["s_sh"])
    b = g.n("Slice", [sh, "st", "en"], ["s_b"])
    zs = g.n("Concat", ["m1", b], ["s_zs"], axis=0)
    z = g.n("ConstantOfShape", [zs], ["s_z"])
    t = g.n("ScatterND", [z, "S_row", t], ["s_sc"], reduction="add")
    return g.n("Transpose", [t], ["s_y"], perm=[1, 0])


def gemm_sparse_dense_rebuilt(g, x, m, n, rows, cols, vals):
    g.i("S_idx", (rows * n + cols).astype(np.int32)); g.i("S_val", vals)
    g.i("S_numel", np.array([m * n], np.int64)); g.i("S_shape", np.array([m, n], np.int64))
    z = g.n("ConstantOfShape", ["S_numel"], ["s_z"])
    t = g.n("ScatterElements", [z, "S_idx", "S_val"], ["s_flat"], axis=0)
    s = g.n("Reshape", [t, "S_shape"], ["s_S"])
    return g.n("Gemm", [x, s], ["s_y"], transB=1)


def gemm_sparse_cols(g, x, m, n, sel, block):
    g.i("S_sel", sel.astype(np.int32)); g.i("S_blk", block)
    t = g.n("Gather", [x, "S_sel"], ["s_g"], axis=1)
    return g.n("Gemm", [t, "S_blk"], ["s_y"], transB=1)


def gemm_sparse_rows(g, x, m, n, sel, block):
    k = len(sel)
    ext = np.concatenate([block, np.zeros((1, n), np.float32)])
    mp = np.full(m, k, np.int32)
    mp[sel] = np.arange(k)
    g.i("S_blk", ext); g.i("S_map", mp)
    t = g.n("Gemm", [x, "S_blk"], ["s_small"], transB=1)
    return g.n("Gather", [t, "S_map"], ["s_y"], axis=1)


def build_gemm(path, m, n, r, form, rng, density=0.0, nsel=0):
    g = G()
    x = "X"
    bias = g.i("B", rng.standard_normal(m).astype(np.float32))
    if form == "dense":
        g.i("W", (rng.standard_normal((m, n)) * 0.01).astype(np.float32))
        g.n("Gemm", [x, "W", bias], ["Y"], transB=1)
    else:
        g.i("V", (rng.standard_normal((r, n)) * 0.01).astype(np.float32))
        g.i("U", (rng.standard_normal((m, r)) * 0.01).astype(np.float32))
        h = g.n("Gemm", [x, "V"], ["H"], transB=1)
        out = "Y" if form == "lowrank" else "L"
        g.n("Gemm", [h, "U", bias], [out], transB=1)
        if form != "lowrank":
            if form in ("cols", "rows"):
                cnt = n if form == "cols" else m
                sel = np.sort(rng.choice(cnt, size=nsel, replace=False))
                shape = (m, nsel) if form == "cols" else (nsel, n)
                blk = rng.standard_normal(shape).astype(np.float32)
                fn = gemm_sparse_cols if form == "cols" else gemm_sparse_rows
                s = fn(g, x, m, n, sel, blk)
            else:
                rows, cols, vals = random_coo(rng, m, n, density)
                fn = {"gather_reduce": gemm_sparse_gather_reduce,
                      "gather_scatter": gemm_sparse_gather_scatter,
                      "dense_rebuilt": gemm_sparse_dense_rebuilt}[form]
                s = fn(g, x, m, n, rows, cols, vals)
            g.n("Add", ["L", s], ["Y"])
    save(g, path, [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", n])],
         [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", m])])


# ---- Conv: X [b, c, h, w] -> [b, o, h, w], 3x3 pad 1 ----------------------------------

def build_conv(path, o, c, hw, r, form, rng, density=0.0, nsel=0):
    g = G()
    k = 3
    pads = dict(kernel_shape=[k, k], pads=[1, 1, 1, 1])
    bias = g.i("B", rng.standard_normal(o).astype(np.float32))
    if form == "dense":
        g.i("W", (rng.standard_normal((o, c, k, k)) * 0.01).astype(np.float32))
        g.n("Conv", ["X", "W", bias], ["Y"], **pads)
    else:
        g.i("V", (rng.standard_normal((r, c, k, k)) * 0.01).astype(np.float32))
        g.i("U", (rng.standard_normal((o, r, 1, 1)) * 0.01).astype(np.float32))
        h = g.n("Conv", ["X", "V"], ["H"], **pads)
        out = "Y" if form == "lowrank" else "L"
        g.n("Conv", [h, "U", bias], [out], kernel_shape=[1, 1])
        if form == "dense_rebuilt":
            n = c * k * k
            rows, cols, vals = random_coo(rng, o, n, density)
            g.i("S_idx", (rows * n + cols).astype(np.int32)); g.i("S_val", vals)
            g.i("S_numel", np.array([o * n], np.int64))
            g.i("S_shape", np.array([o, c, k, k], np.int64))
            z = g.n("ConstantOfShape", ["S_numel"], ["s_z"])
            t = g.n("ScatterElements", [z, "S_idx", "S_val"], ["s_flat"], axis=0)
            s = g.n("Reshape", [t, "S_shape"], ["s_S"])
            s = g.n("Conv", ["X", s], ["s_y"], **pads)
        elif form == "cols":  # whole input channels (all kernel positions of each)
            sel = np.sort(rng.choice(c, size=nsel, replace=False))
            g.i("S_sel", sel.astype(np.int32))
            g.i("S_blk", rng.standard_normal((o, nsel, k, k)).astype(np.float32))
            t = g.n("Gather", ["X", "S_sel"], ["s_g"], axis=1)
            s = g.n("Conv", [t, "S_blk"], ["s_y"], **pads)
        elif form == "rows":  # whole output channels, plus one zero filter to pad with
            sel = np.sort(rng.choice(o, size=nsel, replace=False))
            blk = np.concatenate([rng.standard_normal((nsel, c, k, k)).astype(np.float32),
                                  np.zeros((1, c, k, k), np.float32)])
            mp = np.full(o, nsel, np.int32)
            mp[sel] = np.arange(nsel)
            g.i("S_blk", blk); g.i("S_map", mp)
            t = g.n("Conv", ["X", "S_blk"], ["s_small"], **pads)
            s = g.n("Gather", [t, "S_map"], ["s_y"], axis=1)
        if form != "lowrank":
            g.n("Add", ["L", s], ["Y"])
    save(g, path, [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", c, hw, hw])],
         [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", o, hw, hw])])


def save(g, path, inputs, outputs):
    graph = helper.make_graph(g.nodes, "bench", inputs, outputs, g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/lrsc_bench_sparse_forms")
    ap.add_argument("--small", action="store_true", help="1024x4096 Gemm instead of fc6")
    ap.add_argument("--runs", type=int, default=15, help="interleaved rounds")
    ap.add_argument("--only", default="", help="gemm or conv")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(0)
    cases = []
    m, n, r = (1024, 4096, 64) if a.small else (4096, 25088, 256)
    if a.only in ("", "gemm"):
        gemm = [("dense", {}), ("lowrank", {}),
                ("gather_reduce", dict(density=0.01)), ("gather_reduce", dict(density=0.003)),
                ("gather_reduce", dict(density=0.001)),
                ("gather_scatter", dict(density=0.01)), ("gather_scatter", dict(density=0.003)),
                ("gather_scatter", dict(density=0.001)),
                ("dense_rebuilt", dict(density=0.01)), ("dense_rebuilt", dict(density=0.001)),
                ("cols", dict(nsel=int(round(n * 0.01)))), ("rows", dict(nsel=int(round(m * 0.01))))]
        for form, kw in gemm:
            tag = "gemm_%s%s" % (form, "_d%g" % kw["density"] if "density" in kw else
                                 "_k%d" % kw["nsel"] if "nsel" in kw else "")
            p = os.path.join(a.out, tag + ".onnx")
            build_gemm(p, m, n, r, form, rng, **kw)
            cases.append((tag, p, "%dx%d r%d" % (m, n, r), [[1, n], [8, n]]))
    if a.only in ("", "conv"):
        o, c, hw, r = 256, 256, 28, 64
        conv = [("dense", {}), ("lowrank", {}), ("dense_rebuilt", dict(density=0.01)),
                ("cols", dict(nsel=3)), ("rows", dict(nsel=3))]
        for form, kw in conv:
            tag = "conv_%s%s" % (form, "_d%g" % kw["density"] if "density" in kw else
                                 "_k%d" % kw["nsel"] if "nsel" in kw else "")
            p = os.path.join(a.out, tag + ".onnx")
            build_conv(p, o, c, hw, r, form, rng, **kw)
            cases.append((tag, p, "%dx%dx3x3 %dx%d r%d" % (o, c, hw, hw, r),
                          [[1, c, hw, hw], [8, c, hw, hw]]))
    env = dict(os.environ)
    here = os.path.dirname(os.path.abspath(__file__))
    nm = env.get("LRSC_NODE_MODULES", os.path.join(here, "node_modules"))
    env["NODE_PATH"] = env.get("NODE_PATH", nm)
    # One node process per group (the Gemm group, the Conv group) so forms
    # are timed interleaved against each other.
    results = {}
    for group in ("gemm_", "conv_"):
        spec = [{"path": p, "shapes": shapes} for tag, p, _, shapes in cases
                if tag.startswith(group)]
        if not spec:
            continue
        sp = os.path.join(a.out, group + "spec.json")
        with open(sp, "w") as f:
            json.dump(spec, f)
        out = subprocess.run(["node", os.path.join(here, "bench_sparse_forms.js"), str(a.runs),
                              sp], env=env, capture_output=True, text=True)
        if out.returncode != 0:
            sys.stderr.write(out.stderr)
            sys.exit(1)
        results.update(json.loads(out.stdout))
    print("%-28s %-22s %16s %16s %10s" % ("model", "layer", "b1 ms (min)", "b8 ms (min)",
                                          "file KiB"))
    for tag, p, layer, shapes in cases:
        r = results[p]
        cols = ["%.2f (%.2f)" % tuple(r["x".join(map(str, s))]) for s in shapes]
        print("%-28s %-22s %16s %16s %10d" % (tag, layer, cols[0], cols[1],
                                              os.path.getsize(p) // 1024), flush=True)


if __name__ == "__main__":
    main()
