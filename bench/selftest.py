#!/usr/bin/python3
"""Self-test of the ONNX Runtime side of the benchmark (needs `bash bench/setup.sh`).

1. tensor_proto.mjs reads what the onnx package writes (typed fields float_data/int32_data/int64_data/double_data,
   unpacked dims as proto2 writes them, raw_data, scalars, empty tensors) and writes raw_data TensorProtos that the
   onnx package reads back bit for bit.
2. ort_run.mjs runs a small hand-built model (float and int64 inputs, two outputs) from a test-data folder and writes
   outputs equal to numpy's, and prints the JSON fields compare.py reads.
3. Malformed input files are rejected with exit code 2 and one message.

    /usr/bin/python3 bench/selftest.py
"""
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

BENCH_DIR = Path(__file__).resolve().parent


def check(condition, message):
    if not condition:
        sys.exit(f"selftest: FAILED: {message}")


def tensor_proto_roundtrip(tmp):
    tensors = {
        "f_typed": helper.make_tensor("f_typed", TensorProto.FLOAT, [2, 3], np.arange(6, dtype=np.float32) - 2.5),
        "i64_typed": helper.make_tensor("i64_typed", TensorProto.INT64, [4], [-1, 2**40, -2**62, 7]),
        "i32_typed": helper.make_tensor("i32_typed", TensorProto.INT32, [3], [-5, 0, 2**31 - 1]),
        "b_typed": helper.make_tensor("b_typed", TensorProto.BOOL, [3], [True, False, True]),
        "d_typed": helper.make_tensor("d_typed", TensorProto.DOUBLE, [2], [1.5, -1e300]),
        "u8_typed": helper.make_tensor("u8_typed", TensorProto.UINT8, [2], [255, 3]),
        "i8_raw": numpy_helper.from_array(np.array([-128, 127, 0], dtype=np.int8), "i8_raw"),
        "f_raw": numpy_helper.from_array(np.random.default_rng(0).standard_normal((3, 5, 7)).astype(np.float32),
                                         "f_raw"),
        "i64_raw": numpy_helper.from_array(np.array([[-(2**63), 2**63 - 1]], dtype=np.int64), "i64_raw"),
        "scalar": numpy_helper.from_array(np.array(3.25, dtype=np.float32), "scalar"),
        "empty": numpy_helper.from_array(np.zeros((0, 4), dtype=np.float32), "empty"),
    }
    for name, t in tensors.items():
        (tmp / f"{name}.pb").write_bytes(t.SerializeToString())
    script = """
      import fs from 'node:fs';
      import { parseTensorProto, serializeTensorProto, writeTensorProto } from '%s';
      for (const name of process.argv.slice(1)) {
        const t = parseTensorProto(fs.readFileSync(`%s/${name}.pb`), name);
        fs.writeFileSync(`%s/${name}.out.pb`, serializeTensorProto(t.name, t.type, t.dims, t.data));
        writeTensorProto(`%s/${name}.out2.pb`, t.name, t.type, t.dims, t.data);
      }
    """ % (BENCH_DIR / "tensor_proto.mjs", tmp, tmp, tmp)
    subprocess.run(["node", "--input-type=module", "-e", script, *tensors], check=True, cwd=BENCH_DIR)
    for name, t in tensors.items():
        back = onnx.load_tensor(str(tmp / f"{name}.out.pb"))
        want, got = numpy_helper.to_array(t), numpy_helper.to_array(back)
        check(back.name == name, f"{name}: name {back.name!r}")
        check(got.dtype == want.dtype and got.shape == want.shape, f"{name}: {got.dtype}{got.shape} vs "
              f"{want.dtype}{want.shape}")
        check(np.array_equal(got, want), f"{name}: values differ")
        check((tmp / f"{name}.out2.pb").read_bytes() == (tmp / f"{name}.out.pb").read_bytes(),
              f"{name}: writeTensorProto and serializeTensorProto differ")
    print(f"selftest: TensorProto round trip of {len(tensors)} tensors ok")


def ort_run_model(tmp):
    # y = x * 2 + 1 (float32 [2,3]); n = ids + ids (int64 [4]).
    nodes = [
        helper.make_node("Mul", ["x", "two"], ["x2"]),
        helper.make_node("Add", ["x2", "one"], ["y"]),
        helper.make_node("Add", ["ids", "ids"], ["n"]),
    ]
    graph = helper.make_graph(
        nodes, "selftest",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("ids", TensorProto.INT64, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("n", TensorProto.INT64, [4])],
        [numpy_helper.from_array(np.array(2.0, dtype=np.float32), "two"),
         numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp / "model.onnx"))
    data = tmp / "test_data_set_0"
    data.mkdir()
    x = np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32)
    ids = np.array([3, -4, 2**40, 0], dtype=np.int64)
    (data / "input_0.pb").write_bytes(numpy_helper.from_array(x, "x").SerializeToString())
    (data / "input_1.pb").write_bytes(helper.make_tensor("ids", TensorProto.INT64, [4], ids).SerializeToString())
    out = tmp / "out"
    proc = subprocess.run(["node", str(BENCH_DIR / "ort_run.mjs"), str(tmp / "model.onnx"), "--inputs", str(data),
                           "--outputs", str(out), "--threads", "1", "--warmup", "1", "--iters", "5"],
                          capture_output=True, text=True, check=True)
    result = json.loads(proc.stdout)
    for key in ("latency_ms", "latency_min_ms", "latency_max_ms", "peak_rss_bytes", "threads"):
        check(key in result, f"ort_run.mjs JSON lacks {key}: {result}")
    check(result["latency_min_ms"] <= result["latency_ms"] <= result["latency_max_ms"], f"latencies {result}")
    y = numpy_helper.to_array(onnx.load_tensor(str(out / "output_0.pb")))
    n = numpy_helper.to_array(onnx.load_tensor(str(out / "output_1.pb")))
    check(np.array_equal(y, x * np.float32(2) + np.float32(1)), f"y = {y}")
    check(n.dtype == np.int64 and np.array_equal(n, ids + ids), f"n = {n}")
    print("selftest: ort_run.mjs on a two-output model ok")

    # A truncated input file: exit code 2, one message naming the file.
    bad = tmp / "bad"
    bad.mkdir()
    (bad / "input_0.pb").write_bytes((data / "input_0.pb").read_bytes()[:-3])
    (bad / "input_1.pb").write_bytes((data / "input_1.pb").read_bytes())
    proc = subprocess.run(["node", str(BENCH_DIR / "ort_run.mjs"), str(tmp / "model.onnx"), "--inputs", str(bad)],
                          capture_output=True, text=True)
    check(proc.returncode == 2 and "input_0.pb" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1,
          f"truncated input: exit {proc.returncode}, {proc.stderr!r}")
    print("selftest: a truncated input file is rejected ok")


def main():
    with tempfile.TemporaryDirectory(prefix="fluidml-bench-selftest-") as tmp:
        tmp = Path(tmp)
        (tmp / "proto").mkdir()
        (tmp / "model").mkdir()
        tensor_proto_roundtrip(tmp / "proto")
        ort_run_model(tmp / "model")
    print("selftest: all ok")


if __name__ == "__main__":
    main()
