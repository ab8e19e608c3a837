#!/bin/bash
# The main job, as the README's first command runs it: installs what is
# missing, builds, compresses the trained Fashion-MNIST fixture 8x with the
# calibration images shipped in fixtures/, prints the report, and checks the
# result in ONNX Runtime (accuracy on 500 test images, before and after).
#   sudo tools/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${LRSC_SKIP_SETUP:-}" ]; then
    tools/setup.sh
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null

model=fixtures/models/fashion_mnist_alexnetish.onnx
out=build/fashion_mnist_lrsc.onnx
echo "== onnx-lrsc $model $out --calib fixtures/data/fashion_mnist_calib --preset unit --target 8"
build/src/onnx-lrsc "$model" "$out" --calib fixtures/data/fashion_mnist_calib --preset unit \
    --target 8 --holdout 4 --report build/fashion_mnist_lrsc.json
echo
echo "== top-1 in ONNX Runtime on 500 test images (fixtures/data)"
for m in "$model" "$out"; do
    node tools/eval_accuracy.js "$m" fixtures/data/fashion_mnist_test_500.npy \
        fixtures/data/fashion_mnist_test_500_labels.npy --norm unit
done
