#!/bin/sh
# Calibration benchmarks: decode+preprocess throughput on 224x224 JPEGs and the
# peak memory of a calibration pass at two sample counts.  Needs ../shared/data
# (photos, faces; optionally the CIFAR-10 model) and a build with
# add_subdirectory(tools/bench_calib).   Usage: tools/bench_calib/run.sh [BUILD_DIR]
set -e
B=${1:-build}
T=${TMPDIR:-/tmp}/lrsc_bench_calib
[ -d "$T/img" ] || /usr/bin/python3 tools/bench_calib/make_inputs.py "$T/img" 1000 224
[ -f "$T/bench.onnx" ] || /usr/bin/python3 tools/bench_calib/make_inputs.py --model "$T/bench.onnx"
for t in 1 2; do
  OPENBLAS_NUM_THREADS=1 "$B/tools/bench_calib/bench_calib" decode --threads $t --repeat 5 "$T/img" | tail -1
done
for n in 100 1000; do
  "$B/tools/bench_calib/bench_calib" collect "$T/bench.onnx" --samples $n --positions 64 "$T/img"
done
