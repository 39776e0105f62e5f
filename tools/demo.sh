#!/usr/bin/env bash
# The main job on the default model: install what is missing, build, make the default model, inspect it, run it
# compiled (checked against the reference interpreter), and compare the baseline pipeline (no memory reuse)
# with the fluidml pipeline: latency, arena and peak RSS side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
bash tools/build.sh
mkdir -p out
MODEL=out/default.onnx
SHAPES=(--shape hidden_states=1x16x64 --shape attention_mask=1x16)
/usr/bin/python3 datasets/make_default_model.py "$MODEL"
./build/tools/fluidml inspect "$MODEL" "${SHAPES[@]}"
./build/tools/fluidml run "$MODEL" "${SHAPES[@]}" --check --outputs out/default_outputs
for pipeline in baseline fluidml; do
  ./build/tools/fluidml bench "$MODEL" "${SHAPES[@]}" --pipeline "$pipeline" --iters 50 --json > "out/bench_$pipeline.json"
done
/usr/bin/python3 - <<'PY'
import json
rows = {p: json.load(open(f"out/bench_{p}.json")) for p in ("baseline", "fluidml")}
print(f"\n{'pipeline':10} {'latency ms':>11} {'arena KiB':>10} {'lower bound KiB':>16} {'weights KiB':>12} {'peak RSS MiB':>13} {'compile ms':>11}")
for name, r in rows.items():
    print(f"{name:10} {r['latency_ms']:11.4f} {r['arena_bytes']/1024:10.1f} {r['lower_bound_bytes']/1024:16.1f} "
          f"{r['weights_bytes']/1024:12.1f} {r['peak_rss_bytes']/2**20:13.1f} {r['compile_ms']:11.1f}")
PY
