#!/usr/bin/env bash
# Installs the exact Debian 12 packages fluidml needs. Idempotent: it calls apt only when something is missing.
# Needs root (or sudo) the first time.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  llvm-19-dev libzstd-dev
  libonnx-dev libprotobuf-dev protobuf-compiler libonnx-testdata python3-onnx python3-numpy
  python3-torch python3-torchvision
  nlohmann-json3-dev catch2
  libimgui-dev libstb-dev libglfw3-dev libgl-dev libgl1-mesa-dri
  libgraphviz-dev graphviz
  xvfb xauth
)

missing=()
for package in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages are installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "setup: missing packages (${missing[*]}) and not root: run this script as root" >&2
    exit 2
  fi
fi
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
