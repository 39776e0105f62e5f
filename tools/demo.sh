#!/usr/bin/env bash
# The main job on the default model: install what is missing, build, make the default model, inspect and run it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
bash tools/build.sh
mkdir -p out
/usr/bin/python3 datasets/make_default_model.py out/default.onnx
./build/tools/fluidml inspect out/default.onnx --shape hidden_states=1x16x64 --shape attention_mask=1x16
./build/tools/fluidml run out/default.onnx --shape hidden_states=1x16x64 --shape attention_mask=1x16 \
  --outputs out/default_outputs
