#!/bin/sh
# Interpreter vs ONNX Runtime (CPU) on torchvision CNNs.
#
# usage: tools/bench_interp/bench.sh [MODEL ...]       (default: vgg16 alexnet googlenet resnet18)
# environment:
#   BUILD=build            build folder holding tools/bench_interp/bench_interp
#   MODELS_DIR=build/models  where <name>.onnx live (exported by tools/export_torchvision.py if absent)
#   BATCHES="1 8"  RUNS=5  THREADS=2
#   ORT_RUN=tools/ort_run.js  (needs onnxruntime-node: tools/setup.sh, or NODE_PATH)
# Prints, per model and batch, the median wall time of each engine over RUNS
# runs after one warm-up, their ratio (interpreter / ORT), the interpreter's
# median process CPU time, and both engines' peak RSS.  Runs alternate between
# the engines so that load from other processes hits both alike.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
MODELS_DIR=${MODELS_DIR:-$BUILD/models}
BATCHES=${BATCHES:-"1 8"}
RUNS=${RUNS:-5}
THREADS=${THREADS:-2}
ORT_RUN=${ORT_RUN:-$ROOT/tools/ort_run.js}
DRIVER=$BUILD/tools/bench_interp/bench_interp
[ $# -gt 0 ] || set -- vgg16 alexnet googlenet resnet18

[ -x "$DRIVER" ] || { echo "bench.sh: $DRIVER missing (build the project first)" >&2; exit 2; }
[ -f "$ORT_RUN" ] || { echo "bench.sh: $ORT_RUN missing" >&2; exit 2; }
for m in "$@"; do
    if [ ! -f "$MODELS_DIR/$m.onnx" ]; then
        /usr/bin/python3 "$ROOT/tools/export_torchvision.py" --out "$MODELS_DIR" "$m" >&2
    fi
done

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
printf '%-10s %5s %12s %12s %7s %10s %10s %10s\n' model batch interp_ms ort_ms ratio interp_cpu interp_rss ort_rss
for m in "$@"; do
    for b in $BATCHES; do
        f=$MODELS_DIR/$m.onnx
        # peak RSS (KB) from /usr/bin/time; timings from each tool's own report
        /usr/bin/time -f '%M' -o "$TMP/ours.rss" \
            "$DRIVER" "$f" --batch "$b" --runs "$RUNS" --threads "$THREADS" >"$TMP/ours.out"
        /usr/bin/time -f '%M' -o "$TMP/ort.rss" \
            node "$ORT_RUN" "$f" --random "$b" --threads "$THREADS" --bench "$RUNS" --quiet \
            >"$TMP/ort.out"
        ours=$(sed -n 's/.*median_ms=\([0-9.]*\).*/\1/p' "$TMP/ours.out")
        cpu=$(sed -n 's/.*cpu_ms=\([0-9.]*\).*/\1/p' "$TMP/ours.out")
        ort=$(sed -n 's/.*median_ms \([0-9.]*\).*/\1/p' "$TMP/ort.out" | tail -1)
        orss=$(tail -1 "$TMP/ort.rss")
        irss=$(tail -1 "$TMP/ours.rss")
        awk -v m="$m" -v b="$b" -v o="$ours" -v r="$ort" -v c="$cpu" -v ir="$irss" -v or="$orss" \
            'BEGIN { printf "%-10s %5d %12.1f %12.1f %7.2f %10.1f %9.0fM %9.0fM\n",
                     m, b, o, r, (r > 0 ? o / r : 0), c, ir / 1024, or / 1024 }'
    done
done
