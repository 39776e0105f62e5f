#!/usr/bin/env bash
# Configures and builds fluidml into build/ (Release). Extra arguments go to cmake, e.g. -DFLUIDML_SANITIZE=ON.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${FLUIDML_BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
ninja -C "$BUILD_DIR"
