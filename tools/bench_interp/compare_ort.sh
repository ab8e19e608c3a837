#!/bin/sh
# Checks the interpreter's outputs against ONNX Runtime's on the same random
# input: prints, per model and batch, the largest absolute difference and the
# largest difference relative to the output's largest magnitude.
#
# usage: tools/bench_interp/compare_ort.sh [MODEL ...]   (default: vgg16 alexnet googlenet resnet18)
# environment: BUILD, MODELS_DIR, BATCHES ("1 8"), THREADS (2), ORT_RUN as in bench.sh
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
MODELS_DIR=${MODELS_DIR:-$BUILD/models}
BATCHES=${BATCHES:-"1 8"}
THREADS=${THREADS:-2}
ORT_RUN=${ORT_RUN:-$ROOT/tools/ort_run.js}
DRIVER=$BUILD/tools/bench_interp/bench_interp
[ $# -gt 0 ] || set -- vgg16 alexnet googlenet resnet18
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for m in "$@"; do
    f=$MODELS_DIR/$m.onnx
    [ -f "$f" ] || /usr/bin/python3 "$ROOT/tools/export_torchvision.py" --out "$MODELS_DIR" "$m" >&2
    for b in $BATCHES; do
        rm -rf "$TMP/o" && mkdir -p "$TMP/o/ort"
        "$DRIVER" "$f" --batch "$b" --runs 1 --threads "$THREADS" --save "$TMP/o" >/dev/null
        node "$ORT_RUN" "$f" "$TMP/o/input_0.npy" --threads "$THREADS" --outdir "$TMP/o/ort" \
            --quiet >/dev/null
        /usr/bin/python3 - "$TMP/o" "$m" "$b" <<'PY'
import glob, os, sys
import numpy as np
d, m, b = sys.argv[1:]
ours = np.load(os.path.join(d, "output_0.npy"))
ref = np.load(sorted(glob.glob(os.path.join(d, "ort", "*.npy")))[0])
assert ours.shape == ref.shape, (ours.shape, ref.shape)
diff = np.abs(ours.astype(np.float64) - ref)
print("%-10s batch %-3s max_abs_diff %.3g  max_rel_diff %.3g (of max |y| %.3g)" %
      (m, b, diff.max(), diff.max() / max(np.abs(ref).max(), 1e-30), np.abs(ref).max()))
PY
    done
done
