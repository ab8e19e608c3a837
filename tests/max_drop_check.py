#!/usr/bin/python3
"""--max-drop end to end on the Fashion-MNIST fixture, checked in ONNX Runtime.

Builds calibration tensor files from the committed 500 test images (the first
350, ten files of 35), runs `onnx-lrsc --max-drop D --holdout 3`, then runs the
original and the written model in ONNX Runtime (tools/ort_run.js):
  * on the three held-out files (the split rule of calib/dataset.c: file i of T
    is held out when floor((i+1)H/T) > floor(iH/T)) the top-1 agreement must be
    >= 1 - D, as the report claims (one arg-max flip from float differences
    between the interpreter and ORT is tolerated);
  * on the last 150 images, which the tool never saw, agreement must be within
    three binomial standard errors of 1 - D (the bound was measured on a sample);
  * the report lists the trials, keeps the most compressed passing one, and its
    parameter count is that of the file (float initializers counted here);
  * with --max-error 1e-9 as well no target can pass: non-zero exit, no output
    and no trial files left behind.
Exit 77 (skipped) when onnx or onnxruntime-node is missing.

usage: max_drop_check.py --lrsc BIN --src DIR --work DIR
"""
import argparse
import glob
import json
import math
import os
import shutil
import subprocess
import sys

D = 0.05


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lrsc", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    try:
        import numpy as np
        import onnx
    except ImportError:
        print("skip: numpy/onnx missing")
        return 77
    nm = os.environ.get("LRSC_NODE_MODULES", os.path.join(a.src, "tools", "node_modules"))
    node = shutil.which("node")
    if not node or not os.path.isdir(os.path.join(nm, "onnxruntime-node")):
        print("skip: node or onnxruntime-node missing")
        return 77
    env = dict(os.environ, NODE_PATH=nm)
    model = os.path.join(a.src, "fixtures", "models", "fashion_mnist_alexnetish.onnx")
    x = np.load(os.path.join(a.src, "fixtures", "data", "fashion_mnist_test_500.npy")).astype(np.float32) / 255.0
    shutil.rmtree(a.work, ignore_errors=True)
    calib = os.path.join(a.work, "calib")
    os.makedirs(calib)
    T, H, per = 10, 3, 35
    for i in range(T):
        np.save(os.path.join(calib, "%02d.npy" % i), x[i * per:(i + 1) * per])
    held = np.concatenate([x[i * per:(i + 1) * per] for i in range(T) if (i + 1) * H // T > i * H // T])
    unseen = x[T * per:]
    fails = []

    def check(ok, what):
        print("%s %s" % ("ok  " if ok else "FAIL", what))
        if not ok:
            fails.append(what)

    def top1(path, data, tag):
        inp = os.path.join(a.work, tag + "_in.npy")
        out = os.path.join(a.work, tag + "_out")
        np.save(inp, data)
        r = subprocess.run([node, os.path.join(a.src, "tools", "ort_run.js"), path, inp, "--outdir", out,
                            "--threads", "1", "--quiet"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True)
        if r.returncode != 0:
            raise RuntimeError("ort_run %s: %s" % (path, r.stderr.strip()[-300:]))
        return np.load(glob.glob(os.path.join(out, "*.npy"))[0]).argmax(axis=1)

    out = os.path.join(a.work, "out.onnx")
    rep = os.path.join(a.work, "out.json")
    cmd = [a.lrsc, model, out, "--calib", calib, "--holdout", str(H), "--max-drop", str(D), "--threads", "2",
           "--report", rep, "--quiet"]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    check(r.returncode == 0, "--max-drop %g exits 0 (%s)" % (D, r.stderr.strip()[-200:]))
    if r.returncode != 0:
        return 1
    j = json.load(open(rep))
    trials = j.get("max_drop", {}).get("trials", [])
    check(len(trials) >= 2, "report lists %d trials" % len(trials))
    passed = [t for t in trials if t["passed"]]
    for t in trials:
        check(t["passed"] == (t["top1_agreement"] >= 1 - D - 1e-12),
              "trial %gx: agreement %.4f, passed=%s" % (t["target"], t["top1_agreement"], t["passed"]))
    best = max(t["compression"] for t in passed) if passed else 0
    comp = j["totals"]["compression"]
    check(abs(comp - best) < 1e-3, "written model is the most compressed passing trial (%.3fx)" % comp)
    check(j["validation"]["top1_agreement"] >= 1 - D, "report agreement %.4f >= %.4f" %
          (j["validation"]["top1_agreement"], 1 - D))
    m = onnx.load(out)
    nfloat = sum(int(np.prod(t.dims)) for t in m.graph.initializer if t.data_type == onnx.TensorProto.FLOAT)
    nfloat += sum(int(np.prod(at.t.dims)) for n in m.graph.node if n.op_type == "Constant"
                  for at in n.attribute if at.name == "value" and at.t.data_type == onnx.TensorProto.FLOAT)
    check(nfloat == j["totals"]["params_after"], "file holds %d float parameters, report says %d" %
          (nfloat, j["totals"]["params_after"]))
    check(comp > 1.5, "compression %.2fx" % comp)
    left = [f for f in os.listdir(a.work) if ".try-" in f or ".best-" in f]
    check(not left, "no trial files left (%s)" % left)

    a_held = float(np.mean(top1(model, held, "orig_held") == top1(out, held, "comp_held")))
    check(a_held >= 1 - D - 1.5 / len(held),
          "ORT agreement on the %d held-out samples %.4f >= %.4f" % (len(held), a_held, 1 - D))
    a_new = float(np.mean(top1(model, unseen, "orig_new") == top1(out, unseen, "comp_new")))
    tol = 3 * math.sqrt(D * (1 - D) * (1.0 / len(held) + 1.0 / len(unseen)))
    check(a_new >= 1 - D - tol, "ORT agreement on %d unseen images %.4f >= %.4f - %.4f" %
          (len(unseen), a_new, 1 - D, tol))

    out2 = os.path.join(a.work, "never.onnx")
    r = subprocess.run(cmd[:2] + [out2] + cmd[3:] + ["--max-error", "1e-9"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True)
    left = [f for f in os.listdir(a.work) if f.startswith("never")]
    check(r.returncode != 0 and not left and len(r.stderr.strip().splitlines()) == 1,
          "unreachable bound: exit %d, one line (%s), nothing written %s" % (r.returncode, r.stderr.strip(), left))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
