#!/bin/sh
# Interpreter vs ONNX Runtime (CPU) on torchvision CNNs.
#
# usage: tools/bench_interp/bench.sh [MODEL ...]       (default: vgg16 alexnet googlenet resnet18)
# environment:
#   BUILD=build            build folder holding tools/bench_interp/bench_interp
#   MODELS_DIR=build/models  where <name>.onnx live (exported by tools/export_torchvision.py if absent)
#   BATCHES="1 8"  RUNS=5  THREADS=2
#   STAT=median            wall time per engine: median (default) or min over the runs
#                          (min is the steadier figure when other work shares the machine)
#   onnxruntime-node 1.30 under tools/node_modules (tools/setup.sh) or on NODE_PATH
# Prints, per model and batch, each engine's median wall time over RUNS runs
# after one warm-up and their ratio (interpreter / ORT), the same for median
# process CPU time (steadier than wall time when other work shares the
# machine), and both engines' peak RSS.  The engines run one after the
# other for each row so that load from other processes hits both alike.
# Two builds of the interpreter are compared by tools/bench_interp/ab.sh.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
MODELS_DIR=${MODELS_DIR:-$BUILD/models}
BATCHES=${BATCHES:-"1 8"}
RUNS=${RUNS:-5}
THREADS=${THREADS:-2}
STAT=${STAT:-median}
case "$STAT" in median|min) ;; *) echo "bench.sh: STAT must be median or min" >&2; exit 2 ;; esac
ORT_CPU=$ROOT/tools/bench_interp/ort_cpu.js
DRIVER=$BUILD/tools/bench_interp/bench_interp
[ $# -gt 0 ] || set -- vgg16 alexnet googlenet resnet18

[ -x "$DRIVER" ] || { echo "bench.sh: $DRIVER missing (build the project first)" >&2; exit 2; }
for m in "$@"; do
    if [ ! -f "$MODELS_DIR/$m.onnx" ]; then
        /usr/bin/python3 "$ROOT/tools/export_torchvision.py" --out "$MODELS_DIR" "$m" >&2
    fi
done

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
printf '%-10s %5s %10s %10s %6s %10s %10s %6s %10s %10s\n' model batch interp_ms ort_ms ratio \
    interp_cpu ort_cpu ratio interp_rss ort_rss

for m in "$@"; do
    for b in $BATCHES; do
        f=$MODELS_DIR/$m.onnx
        # peak RSS (KB) from /usr/bin/time; timings from each tool's own report
        /usr/bin/time -f '%M' -o "$TMP/ours.rss" \
            "$DRIVER" "$f" --batch "$b" --runs "$RUNS" --threads "$THREADS" >"$TMP/ours.out"
        /usr/bin/time -f '%M' -o "$TMP/ort.rss" \
            node "$ORT_CPU" "$f" "$b" "$RUNS" "$THREADS" >"$TMP/ort.out"
        ours=$(sed -n "s/.*${STAT}_ms=\([0-9.]*\).*/\1/p" "$TMP/ours.out")
        cpu=$(sed -n 's/.*cpu_ms=\([0-9.]*\).*/\1/p' "$TMP/ours.out")
        ort=$(sed -n "s/.*${STAT}_ms \([0-9.]*\).*/\1/p" "$TMP/ort.out" | tail -1)
        ocpu=$(sed -n 's/.*cpu_ms \([0-9.]*\).*/\1/p' "$TMP/ort.out" | tail -1)
        orss=$(tail -1 "$TMP/ort.rss")
        irss=$(tail -1 "$TMP/ours.rss")
        awk -v m="$m" -v b="$b" -v o="$ours" -v r="$ort" -v c="$cpu" -v oc="$ocpu" \
            -v ir="$irss" -v or="$orss" \
            'BEGIN { printf "%-10s %5d %10.1f %10.1f %6.2f %10.1f %10.1f %6.2f %9.0fM %9.0fM\n",
                     m, b, o, r, (r > 0 ? o / r : 0), c, oc, (oc > 0 ? c / oc : 0),
                     ir / 1024, or / 1024 }'
    done
done
