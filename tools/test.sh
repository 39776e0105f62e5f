#!/usr/bin/env bash
# The whole test suite: install what is missing, build, run ctest (its summary line closes the output).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
bash tools/build.sh "$@"
cd "${FLUIDML_BUILD_DIR:-build}"
# Compiled objects are cached inside the build tree, so tests never read a cache filled outside this build.
export FLUIDML_CACHE_DIR="$PWD/jit-cache"
# Full-size dataset models are labelled slow: `ctest -L slow` runs them.
ctest --output-on-failure -j2 -LE slow
