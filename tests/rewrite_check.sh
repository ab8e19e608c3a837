#!/bin/sh
# Script checks of the models test_rewrite writes to DIR:
#   checker: onnx.checker.check_model(full_check=True) on every rewritten model
#   ort:     ONNX Runtime outputs of original and rewritten models agree
# Exit 77 (skipped) when the Python onnx package or onnxruntime-node is missing.
# usage: rewrite_check.sh checker|ort DIR SOURCE_DIR
mode=$1 dir=$2 src=$3
[ -f "$dir/manifest.txt" ] || { echo "no models in $dir (run test_rewrite first)"; exit 1; }
case $mode in
checker)
    /usr/bin/python3 -c 'import onnx' 2>/dev/null || { echo "python onnx missing"; exit 77; }
    exec /usr/bin/python3 - "$dir" <<'PY'
import glob, sys, onnx
def check(f):
    try:
        onnx.checker.check_model(onnx.load(f), full_check=True)
        return None
    except Exception as e:
        return str(e).splitlines()[0]
bad = skipped = 0
files = sorted(glob.glob(sys.argv[1] + "/*_rw.onnx"))
for f in files:
    # A model the checker refuses before the rewrite says nothing about it.
    why = check(f[:-len("_rw.onnx")] + "_orig.onnx")
    if why:
        skipped += 1
        print("skip", f, "(original fails: %s)" % why)
        continue
    why = check(f)
    if why:
        bad += 1
        print("FAIL", f, why)
print("%d/%d rewritten models pass onnx.checker (full_check), %d skipped"
      % (len(files) - bad - skipped, len(files), skipped))
sys.exit(1 if bad or not files else 0)
PY
    ;;
ort)
    nm=${LRSC_NODE_MODULES:-$src/tools/node_modules}
    [ -d "$nm/onnxruntime-node" ] || { echo "onnxruntime-node not found in $nm"; exit 77; }
    NODE_PATH=$nm exec node "$src/tests/rewrite_ort_compare.js" "$dir"
    ;;
esac
echo "unknown mode $mode"; exit 2
