#!/usr/bin/python3
"""`fluidml tune` and `fluidml bench --profile` through the CLI, on a small model generated here (conv, ReLU,
residual Add, pooling, a Gemm): tune twice into a fresh cost cache, the second run measures nothing; a corrupt
cache is reported and ignored; bad models and thread lists are user errors (exit 2); bench --profile --json
lists every node with a positive time and a total within the timed runs. No timing thresholds.
usage: tune_check.py FLUIDML_BINARY WORK_DIR
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper


def make_model(path):
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.standard_normal((16, 8, 3, 3)).astype(np.float32) * 0.2, "w1")
    w2 = numpy_helper.from_array(rng.standard_normal((8, 16, 1, 1)).astype(np.float32) * 0.2, "w2")
    fc = numpy_helper.from_array(rng.standard_normal((10, 8)).astype(np.float32) * 0.2, "fc")
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2"),
        helper.make_node("Add", ["c2", "x"], ["s"], name="residual"),
        helper.make_node("GlobalAveragePool", ["s"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc"], ["y"], name="gemm", transB=1),
    ]
    graph = helper.make_graph(nodes, "tune_check", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 12, 12])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], [w1, w2, fc])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    with open(path, "wb") as f:
        f.write(model.SerializeToString())


def run(binary, args, cache):
    env = dict(os.environ, FLUIDML_CACHE_DIR=cache)
    return subprocess.run([binary] + args, capture_output=True, text=True, env=env, timeout=600)


def main():
    binary, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    model = os.path.join(work, "model.onnx")
    make_model(model)
    cache = os.path.join(work, "cache")
    failures = []

    def check(condition, message):
        if not condition:
            failures.append(message)
            print("FAIL:", message)

    first = run(binary, ["tune", model, "--threads", "1,2", "--json"], cache)
    check(first.returncode == 0, f"tune exits {first.returncode}: {first.stderr}")
    cold = json.loads(first.stdout)
    print("cold:", cold)
    check(cold["measured"] > 0 and cold["cached"] == 0, "the first tune measures everything")
    check(cold["measured"] + cold["analytic"] == cold["unique_entries"], "every entry measured or analytic")
    check(cold["nodes"] >= 5 and cold["variants"] >= cold["nodes"] - 1, "every lowered node has variants")
    check(cold["conversions"] > 0, "tensor conversions are enumerated")
    check(os.path.isfile(os.path.join(cache, "costs.json")), "the cache file exists")
    with open(os.path.join(cache, "costs.json")) as f:
        stored = json.load(f)
    check(stored["format"] == "fluidml-costs-1" and len(stored["entries"]) == cold["cache_entries"],
          "costs.json holds the entries")
    check(sorted(stored["rates"].keys()) == ["1", "2"], "machine rates per thread count")

    second = run(binary, ["tune", model, "--threads", "1,2", "--json"], cache)
    check(second.returncode == 0, f"second tune exits {second.returncode}: {second.stderr}")
    warm = json.loads(second.stdout)
    print("warm:", warm)
    check(warm["measured"] == 0 and warm["analytic"] == 0, "the second tune measures nothing")
    check(warm["cached"] == warm["unique_entries"] == cold["unique_entries"], "the second tune finds every entry cached")

    text = run(binary, ["tune", model], cache)  # the human-readable summary
    check(text.returncode == 0 and "0 measured" in text.stdout and "wall time" in text.stdout, "summary: " + text.stdout)

    with open(os.path.join(cache, "costs.json"), "w") as f:
        f.write('{"format": "fluidml-costs-1", "entries": ')  # truncated
    corrupt = run(binary, ["tune", model, "--json"], cache)
    check(corrupt.returncode == 0, f"tune over a corrupt cache exits {corrupt.returncode}")
    check("ignoring the cost cache" in corrupt.stderr and "not valid JSON" in corrupt.stderr,
          "the corrupt cache is reported: " + corrupt.stderr)
    check(json.loads(corrupt.stdout)["measured"] > 0, "the corrupt cache's entries are not trusted")

    for args, needle in [(["tune", os.path.join(work, "missing.onnx")], "missing.onnx"),
                         (["tune", model, "--threads", "0"], "--threads"),
                         (["tune", model, "--threads", "1,x"], "--threads"),
                         (["bench", model, "--threads", "1,2"], "--threads"),
                         (["tune"], "tune")]:
        bad = run(binary, args, cache)
        check(bad.returncode == 2 and needle in bad.stderr and "fluidml: error:" in bad.stderr,
              f"{args}: exit {bad.returncode}, stderr {bad.stderr!r}")

    bench = run(binary, ["bench", model, "--profile", "--json", "--iters", "5", "--warmup", "1"], cache)
    check(bench.returncode == 0, f"bench --profile exits {bench.returncode}: {bench.stderr}")
    result = json.loads(bench.stdout)
    profile = result["profile"]
    names = {node["name"] for node in profile["nodes"]}
    check({"conv1", "conv2", "pool", "gemm"} <= names, f"profiled nodes: {sorted(names)}")
    check(all(node["calls"] == 5 and node["total_ns"] > 0 for node in profile["nodes"]), "every node timed each run")
    check(0 < profile["total_ms"] * 5 <= sum(result["latencies_ms"]), "profile total within the timed runs")
    check(abs(sum(group["percent"] for group in profile["by_op"]) - 100) < 1e-6, "op shares add up to 100%")
    plain = run(binary, ["bench", model, "--profile", "--iters", "3"], cache)
    check(plain.returncode == 0 and "slowest nodes" in plain.stdout and "by kernel strategy" in plain.stdout,
          "bench --profile prints the tables")

    print(f"{0 if failures else 1} failed" if failures else "all tune checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
