#!/usr/bin/python3
"""End-to-end checks of `onnx-lrsc compress` on the fixture models.

usage: e2e_check.py --lrsc BIN --src SOURCE_DIR --work DIR (--model NAME ... | --bad-usage)

For every model and option set: compress with --report (twice, to check that
the files are byte-identical), then require
  - the ONNX checker (onnx.checker.check_model, full_check=True) accepts the output,
  - ONNX Runtime loads and runs it and agrees with `onnx-lrsc run` on it to 1e-4
    relative (tools/check_ort_agreement.js on the model's fixed input),
  - the JSON report parses, has a held-out validation figure and
    totals.params_after < totals.params_before,
  - the graph's inputs and outputs (names, types, shapes) are unchanged.
--bad-usage checks that wrong invocations fail with one error line and write
nothing. One line per case, then `N passed, N failed`.
Exit: 1 if any case failed; else 77 (skipped) when python onnx or
onnxruntime-node is missing, so the checks they do were not made; else 0.
"""
import argparse
import filecmp
import json
import math
import os
import shutil
import subprocess
import sys

try:
    import onnx
except ImportError:
    onnx = None

# option sets run on every hand-built fixture (name, options)
SMALL_SETS = [
    ("default", []),
    ("rank_nnz", ["--rank", "2", "--nnz", "20"]),
    ("columns", ["--sparse-structure", "columns"]),
    ("rows", ["--sparse-structure", "rows"]),
    ("gather_reduce", ["--rank", "1", "--density", "0.1", "--sparse-form", "gather-reduce"]),
    ("gather_scatter", ["--rank", "1", "--density", "0.1", "--sparse-form", "gather-scatter"]),
    ("dense_rebuilt", ["--rank", "1", "--density", "0.1", "--sparse-form", "dense-rebuilt"]),
    ("latency", ["--objective", "latency"]),
    ("independent_sens", ["--independent", "--sensitivity", "--target", "3"]),
]
FASHION_SETS = [
    ("default", []),
    ("rank_nnz", ["--rank", "8", "--nnz", "2000"]),
    ("columns", ["--sparse-structure", "columns"]),
    ("gather_reduce", ["--rank", "4", "--density", "0.02", "--sparse-form", "gather-reduce"]),
    ("dense_rebuilt", ["--rank", "4", "--density", "0.02", "--sparse-form", "dense-rebuilt"]),
    ("latency", ["--objective", "latency", "--target", "8"]),
    ("relu_rounds", ["--relu-rounds", "2", "--target", "8"]),
]
# per-model extras: calibration source, extra options, extra option sets
FIXED_BATCH = {"old_ir3": ["--batch", "1"]}
# models with no layer onnx-lrsc can compress (every Conv grouped): the output
# must still be valid, but cannot be smaller
NOTHING_TO_COMPRESS = {"conv_groups"}
# Known bugs, reported: these cases are expected to fail (XFAIL, not counted as
# failures); one that starts to pass prints XPASS so the entry can be removed.
KNOWN_BUGS = {
}


class Ctx:
    def __init__(self, a):
        self.lrsc, self.src, self.work = a.lrsc, a.src, a.work
        self.passed = self.failed = self.xfail = 0
        self.missing = set()
        self.node = shutil.which("node") or shutil.which("nodejs")
        nm = os.environ.get("LRSC_NODE_MODULES", os.path.join(self.src, "tools", "node_modules"))
        self.node_modules = nm if os.path.isdir(os.path.join(nm, "onnxruntime-node")) else None
        if onnx is None:
            self.missing.add("python onnx")
        if not self.node or not self.node_modules:
            self.missing.add("onnxruntime-node")

    def line(self, ok, name, text, known=None):
        if known:
            self.xfail += 0 if ok else 1
            print("%s %s: %s (known bug: %s)" % ("XPASS" if ok else "XFAIL", name, text, known), flush=True)
            return
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        print("%s %s: %s" % ("PASS" if ok else "FAIL", name, text), flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, **kw)


def io_lines(ctx, path):
    r = run([ctx.lrsc, "dump", path])
    if r.returncode != 0:
        raise RuntimeError("dump %s: %s" % (path, r.stderr.strip().splitlines()[-1:]))
    return [l for l in r.stdout.splitlines() if l.startswith(("input ", "output "))]


def onnx_io(path):
    m = onnx.load(path, load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    ins = [i.SerializeToString() for i in m.graph.input if i.name not in inits]
    return ins, [o.SerializeToString() for o in m.graph.output]


def outputs_exist(path):
    return [p for p in (path, path + ".data") if os.path.exists(p)]


def compress_case(ctx, model, calib, opts, out):
    """One compression; returns (rc, stderr)."""
    for p in outputs_exist(out):
        os.remove(p)
    r = run([ctx.lrsc, model, out, "--calib", calib, "--report", out[:-5] + ".json",
             "--threads", "2", "--quiet"] + opts)
    return r.returncode, r.stderr.strip()


def check_case(ctx, name, model, calib, opts, out, shrink=True):
    """All checks but ORT (done per model, in one node run). Returns (ok, text, report)."""
    rc, err = compress_case(ctx, model, calib, opts, out)
    if rc != 0 or not os.path.exists(out):
        return False, "compress exited %d: %s" % (rc, err.splitlines()[-1:] or ""), None
    try:
        with open(out[:-5] + ".json") as f:
            rep = json.load(f)
    except (OSError, ValueError) as e:
        return False, "report: %s" % e, None
    t = rep.get("totals", {})
    v = rep.get("validation") or {}
    pa, pb = t.get("params_after", 1 << 60), t.get("params_before", 0)
    if not (pa < pb if shrink else pa <= pb):
        return False, "params %s -> %s not smaller" % (t.get("params_before"), t.get("params_after")), rep
    verr = v.get("rel_output_error")
    if not v.get("samples") or not isinstance(verr, (int, float)) or not math.isfinite(verr):
        return False, "report has no held-out validation: %s" % json.dumps(v), rep
    # determinism: the same run again gives the same bytes
    # (same file name in another folder: external data locations name the file)
    out2 = os.path.join(os.path.dirname(out), "again", os.path.basename(out))
    os.makedirs(os.path.dirname(out2), exist_ok=True)
    rc, err = compress_case(ctx, model, calib, opts, out2)
    if rc != 0:
        return False, "second compression exited %d: %s" % (rc, err), rep
    for a, b in ((out, out2), (out + ".data", out2 + ".data")):
        if os.path.exists(a) != os.path.exists(b) or (os.path.exists(a) and not filecmp.cmp(a, b, shallow=False)):
            return False, "not deterministic: %s and %s differ" % (os.path.basename(a), os.path.basename(b)), rep
    # graph inputs and outputs unchanged
    if io_lines(ctx, model) != io_lines(ctx, out):
        return False, "graph inputs/outputs changed (dump): %s vs %s" % (io_lines(ctx, model), io_lines(ctx, out)), rep
    if onnx is not None:
        if onnx_io(model) != onnx_io(out):
            return False, "graph inputs/outputs changed (onnx ValueInfo)", rep
        try:
            onnx.checker.check_model(onnx.load(out), full_check=True)
        except Exception as e:  # the checker raises several types
            return False, "onnx checker: %s" % str(e).splitlines()[0], rep
    text = "params %d -> %d (%.2fx), %d -> %d bytes, held-out error %.4f" % (
        t["params_before"], t["params_after"], t["params_before"] / t["params_after"],
        t.get("bytes_before", 0), t.get("bytes_after", 0), verr)
    return True, text, rep


def ort_check(ctx, inputs, outs):
    """{case file basename: (ok, text)} from tools/check_ort_agreement.js, or None when skipped."""
    if "onnxruntime-node" in ctx.missing:
        return None
    env = dict(os.environ, NODE_PATH=ctx.node_modules)
    r = run([ctx.node, os.path.join(ctx.src, "tools", "check_ort_agreement.js"), "--lrsc", ctx.lrsc,
             "--tol", "1e-4", "--threads", "1", "--inputs", inputs,
             "--work", os.path.join(os.path.dirname(outs[0]), "ort")] + outs, env=env)
    if r.returncode == 77:
        ctx.missing.add("onnxruntime-node")
        return None
    res = {}
    for l in r.stdout.splitlines():
        for o in outs:
            b = os.path.basename(o)[:-5]
            if l[5:].startswith(b + ":"):
                res[b] = (l.startswith("ok"), l[5 + len(b) + 2:])
    for o in outs:
        b = os.path.basename(o)[:-5]
        res.setdefault(b, (False, "no result from check_ort_agreement.js: %s" % (r.stderr.strip() or r.stdout.strip())[-300:]))
    return res


def check_model(ctx, name):
    src = ctx.src
    model = os.path.join(src, "fixtures", "models", name + ".onnx")
    inputs = os.path.join(src, "fixtures", "models", name + ".inputs")
    if name == "fashion_mnist_alexnetish":
        calib = os.path.join(src, "fixtures", "data", "fashion_mnist_calib")
        base, sets = ["--preset", "unit"], FASHION_SETS
    elif name == "cifar10_vggish":
        calib = os.path.join(src, "fixtures", "data", "cifar10_calib")
        base, sets = ["--preset", "signed"], FASHION_SETS[:2]
    else:
        calib = os.path.join(src, "fixtures", "calib_e2e", name)
        base, sets = FIXED_BATCH.get(name, []), list(SMALL_SETS)
        if name == "external_data":
            sets.append(("external_out", ["--external-data"]))
        if name in FIXED_BATCH:
            sets.append(("auto_batch", None))
    d = os.path.join(ctx.work, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    done = []
    for case, opts in sets:
        out = os.path.join(d, case + ".onnx")
        try:
            full = base + opts if opts is not None else []
            ok, text, _ = check_case(ctx, name + "/" + case, model, calib, full, out,
                                     name not in NOTHING_TO_COMPRESS)
        except Exception as e:
            ok, text = False, "error: %s" % e
        done.append((case, out, ok, text))
    good = [out for case, out, ok, text in done if ok]
    ort = ort_check(ctx, inputs, good) if good else {}
    for case, out, ok, text in done:
        if ok and ort is not None:
            ok2, otext = ort[case]
            ok, text = ok2, text + "; ORT " + otext
        elif ok:
            text += "; ORT not checked"
        ctx.line(ok, name + "/" + case, text, KNOWN_BUGS.get((name, case)))


def bad_usage(ctx):
    src = ctx.src
    model = os.path.join(src, "fixtures", "models", "tiny_cnn.onnx")
    calib = os.path.join(src, "fixtures", "calib_e2e", "tiny_cnn")
    d = os.path.join(ctx.work, "bad_usage")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "empty"))
    os.makedirs(os.path.join(d, "sub"))
    same = os.path.join(d, "same.onnx")
    shutil.copyfile(model, same)
    out = os.path.join(d, "out.onnx")
    cases = [
        ("missing_calib", [model, out], out),
        ("empty_calib", [model, out, "--calib", os.path.join(d, "empty")], out),
        ("missing_calib_path", [model, out, "--calib", os.path.join(d, "nowhere")], out),
        ("output_is_input", [same, same, "--calib", calib], None),
        ("output_is_input_other_spelling", [same, os.path.join(d, "sub", "..", "same.onnx"), "--calib", calib], None),
        ("max_error_tiny", [model, out, "--calib", calib, "--max-error", "1e-9", "--target", "8"], out),
        ("bad_target", [model, out, "--calib", calib, "--target", "0.5"], out),
        ("unknown_option", [model, out, "--calib", calib, "--no-such-option"], out),
    ]
    for case, args, must_not_exist in cases:
        for p in outputs_exist(out):
            os.remove(p)
        r = run([ctx.lrsc] + args + ["--quiet", "--threads", "2"])
        errs = [l for l in r.stderr.splitlines() if l.strip()]
        probs = []
        if r.returncode == 0:
            probs.append("exit status 0")
        if r.returncode < 0:
            probs.append("killed by signal %d" % -r.returncode)
        if len(errs) != 1:
            probs.append("%d stderr lines" % len(errs))
        if must_not_exist and outputs_exist(must_not_exist):
            probs.append("left %s" % outputs_exist(must_not_exist))
        if must_not_exist is None and not filecmp.cmp(same, model, shallow=False):
            probs.append("input model was modified")
        leftovers = [f for f in os.listdir(d) if f not in ("empty", "sub", "same.onnx")]
        if leftovers:
            probs.append("left files %s" % leftovers)
        msg = errs[0] if errs else "(no message)"
        ctx.line(not probs, "bad_usage/" + case, "; ".join(probs) + (" -- " if probs else "") + msg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lrsc", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--model", action="append", default=[])
    ap.add_argument("--bad-usage", action="store_true")
    a = ap.parse_args()
    ctx = Ctx(a)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
    for m in a.model:
        check_model(ctx, m)
    if a.bad_usage:
        bad_usage(ctx)
    for what in sorted(ctx.missing):
        print("SKIPPED checks: %s is not installed" % what)
    print("%d passed, %d failed" % (ctx.passed, ctx.failed) +
          (" (%d known bugs: XFAIL)" % ctx.xfail if ctx.xfail else ""))
    if ctx.failed:
        return 1
    return 77 if ctx.missing else 0


if __name__ == "__main__":
    sys.exit(main())
