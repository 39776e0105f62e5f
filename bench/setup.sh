#!/usr/bin/env bash
# Installs what the ONNX Runtime side of the benchmark needs: Node.js (Debian's nodejs + npm when `node` is missing)
# and onnxruntime-node (pinned in package.json / package-lock.json) into bench/node_modules. Idempotent: it does
# nothing when the pinned onnxruntime-node already loads.
#
# --ignore-scripts is enough: onnxruntime-node ships the CPU library (bin/napi-v6/linux/x64/libonnxruntime.so.1)
# inside the npm package; its postinstall script only downloads the CUDA execution provider, which we don't use.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$BENCH_DIR"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  packages=()
  command -v node >/dev/null || packages+=(nodejs)
  command -v npm >/dev/null || packages+=(npm)
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then SUDO="sudo"; else
      echo "bench/setup: ${packages[*]} missing and not root: run this script as root" >&2
      exit 2
    fi
  fi
  echo "bench/setup: installing ${packages[*]} from Debian"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${packages[@]}"
fi

wanted="$(node -p "require('./package.json').dependencies['onnxruntime-node']")"
loads() {
  node --input-type=module -e "
    import ort from 'onnxruntime-node';
    // importing the package loads its native binding, which links libonnxruntime.so.1
    if (ort.env.versions.node !== '$wanted') process.exit(1);
  " >/dev/null 2>&1
}

if loads; then
  echo "bench/setup: onnxruntime-node $wanted is installed (node $(node --version))"
  exit 0
fi

echo "bench/setup: npm install --ignore-scripts onnxruntime-node@$wanted"
# The lock file pins onnxruntime-node and its dependencies; `npm ci` would wipe node_modules first, so use install.
npm install --ignore-scripts --no-audit --no-fund

if ! loads; then
  echo "bench/setup: onnxruntime-node was installed but does not load; try:" >&2
  echo "  cd bench && node -e \"require('onnxruntime-node')\"" >&2
  exit 1
fi
echo "bench/setup: onnxruntime-node $wanted is installed (node $(node --version))"
