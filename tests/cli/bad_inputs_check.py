#!/usr/bin/python3
"""Bad-input corpus for the fluidml CLI: each case must end with exit code 2, exactly one
'fluidml: error: ...' line naming the problem, no crash, and no files in the --outputs folder.
Internal errors (a bug in fluidml, here a deliberately wrong pass caught by --check) must end with exit code 1
and one 'fluidml: internal error: ...' line instead.

The corpus is generated here (fixed seed) so that it stays in step with the expectations below.
usage: bad_inputs_check.py FLUIDML_BINARY WORK_DIR
"""
import os
import random
import shutil
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def save(model, path):
    with open(path, "wb") as f:
        f.write(model.SerializeToString())


def mlp(nodes, initializers, inputs=None, outputs=None, opset=17):
    inputs = inputs or [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])]
    outputs = outputs or [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])]
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def write_tensor(array, name, folder):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "input_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(array, name).SerializeToString())


def make_corpus(work):
    w = numpy_helper.from_array(np.ones((4, 3), np.float32), "w")
    good = mlp([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], [w])
    save(good, f"{work}/good.onnx")
    data = good.SerializeToString()
    with open(f"{work}/truncated.onnx", "wb") as f:
        f.write(data[: len(data) - 20])  # cuts into the weight's raw bytes
    rng = random.Random(7)
    with open(f"{work}/random.onnx", "wb") as f:
        f.write(bytes(rng.randrange(256) for _ in range(4096)))
    save(mlp([helper.make_node("FooBar", ["x"], ["y"], name="my_node")], []), f"{work}/unsupported_op.onnx")
    save(mlp([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], []), f"{work}/missing_initializer.onnx")
    save(mlp([helper.make_node("Relu", ["x"], ["r"], name="relu"),
              helper.make_node("Add", ["r", "ghost"], ["y"], name="add")], [],
             outputs=[helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])]), f"{work}/dangling_input.onnx")
    save(mlp([helper.make_node("MatMul", ["x", "w"], ["h"], name="mm")], [w]), f"{work}/dangling_output.onnx")
    save(mlp([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], [w], opset=99), f"{work}/opset99.onnx")
    bad_w = numpy_helper.from_array(np.ones((5, 3), np.float32), "w")
    save(mlp([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], [bad_w]), f"{work}/shape_mismatch.onnx")
    write_tensor(np.ones((1, 5), np.float32), "x", f"{work}/wrong_shape")
    write_tensor(np.ones((1, 4), np.int64), "x", f"{work}/wrong_dtype")
    pipelines = {
        "syntax": '{"passes": [{"pass": "memory-plan",}]}',
        "unknown_pass": '{"passes": [{"pass": "frobnicate"}]}',
        "unknown_option": '{"passes": [{"pass": "memory-plan", "options": {"plannr": "best-of"}}]}',
        "bad_choice": '{"passes": [{"pass": "memory-plan", "options": {"planner": "fastest"}}]}',
        "unknown_key": '{"passes": [{"pass": "memory-plan", "optons": {}}]}',
        "miscompile": '{"passes": [{"pass": "test-perturb-constant"}, {"pass": "memory-plan"}]}',
    }
    for name, text in pipelines.items():
        with open(f"{work}/pipeline_{name}.json", "w") as f:
            f.write(text)
    os.makedirs(f"{work}/not_a_tensor", exist_ok=True)
    with open(f"{work}/not_a_tensor/input_0.pb", "wb") as f:
        f.write(bytes(rng.randrange(256) for _ in range(64)))


# (name, arguments after the binary, substrings the error line must contain)
CASES = [
    ("truncated file", ["run", "{w}/truncated.onnx"], ["truncated.onnx", "not a valid ONNX model"]),
    ("random bytes", ["run", "{w}/random.onnx"], ["random.onnx", "not a valid ONNX model"]),
    ("missing file", ["run", "{w}/nope.onnx"], ["nope.onnx"]),
    ("unsupported op", ["run", "{w}/unsupported_op.onnx"], ["node 'my_node'", "FooBar", "opset 17"]),
    ("missing initializer", ["run", "{w}/missing_initializer.onnx"], ["node 'mm'", "'w'", "not produced"]),
    ("dangling input", ["run", "{w}/dangling_input.onnx"], ["node 'add'", "'ghost'", "not produced"]),
    ("dangling graph output", ["run", "{w}/dangling_output.onnx"], ["'y'"]),
    ("opset too new", ["run", "{w}/opset99.onnx"], ["99", "18"]),
    ("inner dims mismatch", ["run", "{w}/shape_mismatch.onnx"], ["node 'mm' (MatMul", "4", "5"]),
    ("input of the wrong shape", ["run", "{w}/good.onnx", "--inputs", "{w}/wrong_shape"], ["'x'", "1x4", "1x5"]),
    ("input of the wrong dtype", ["run", "{w}/good.onnx", "--inputs", "{w}/wrong_dtype"], ["'x'", "float32", "int64"]),
    ("input file that is not a tensor", ["run", "{w}/good.onnx", "--inputs", "{w}/not_a_tensor"], ["input_0.pb"]),
    ("inputs folder missing", ["run", "{w}/good.onnx", "--inputs", "{w}/no_such_dir"], ["no_such_dir"]),
    ("shape override of the wrong rank", ["run", "{w}/good.onnx", "--shape", "x=1x4x1"], ["'x'"]),
    ("shape override of an unknown input", ["run", "{w}/good.onnx", "--shape", "nope=1x4"], ["'nope'"]),
    ("malformed --shape", ["run", "{w}/good.onnx", "--shape", "x=1xq"], ["--shape"]),
    ("pipeline with a JSON syntax error", ["plan", "{w}/good.onnx", "--pipeline", "{w}/pipeline_syntax.json"],
     ["pipeline_syntax.json:1:", "invalid JSON"]),
    ("pipeline naming an unknown pass", ["plan", "{w}/good.onnx", "--pipeline", "{w}/pipeline_unknown_pass.json"],
     ["'frobnicate'", "memory-plan"]),
    ("pipeline with an unknown option", ["run", "{w}/good.onnx", "--pipeline", "{w}/pipeline_unknown_option.json"],
     ["'plannr'", "planner"]),
    ("pipeline with a bad option value", ["plan", "{w}/good.onnx", "--pipeline", "{w}/pipeline_bad_choice.json"],
     ["'planner'", "fastest"]),
    ("pipeline with an unknown key", ["plan", "{w}/good.onnx", "--pipeline", "{w}/pipeline_unknown_key.json"],
     ["'passes[0].optons'"]),
    ("unknown pipeline name", ["plan", "{w}/good.onnx", "--pipeline", "fastest"], ["'fastest'", "fluidml"]),
    ("unknown option", ["run", "{w}/good.onnx", "--frobnicate"], ["--frobnicate"]),
    ("unknown command", ["frobnicate"], ["frobnicate"]),
    ("unknown --mcpu CPU", ["run", "{w}/good.onnx", "--mcpu", "pentium-9000"],
     ["--mcpu", "'pentium-9000'", "x86-64-v3"]),
    ("--mcpu of another architecture", ["compile", "{w}/good.onnx", "-o", "{w}/aot", "--mcpu", "cortex-a72"],
     ["'cortex-a72'"]),
    ("non-x86_64 --target", ["bench", "{w}/good.onnx", "--target", "aarch64-unknown-linux-gnu"],
     ["--target", "'aarch64-unknown-linux-gnu'", "x86_64"]),
    ("compile without -o", ["compile", "{w}/good.onnx"], ["-o DIR"]),
]

# (name, arguments after the binary, substrings the internal error line must contain): exit code 1.
INTERNAL_CASES = [
    ("a miscompiling pass caught by --check", ["run", "{w}/good.onnx", "--pipeline", "{w}/pipeline_miscompile.json",
                                               "--check"], ["compiled outputs differ", "imported graph"]),
    ("a miscompiling pass caught by --check --interpret",
     ["run", "{w}/good.onnx", "--pipeline", "{w}/pipeline_miscompile.json", "--check", "--interpret"],
     ["interpreted outputs differ", "imported graph"]),
]


def check_case(fluidml, work, name, args, expected, exit_code, prefix):
    """Runs one case; returns the list of problems (empty: passed) and the first stderr line."""
    out_dir = os.path.join(work, "out_" + name.replace(" ", "_"))
    argv = [fluidml] + [a.format(w=work) for a in args]
    if argv[1] == "run":
        argv += ["--outputs", out_dir]
    proc = subprocess.run(argv, capture_output=True, text=True)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    problems = []
    if proc.returncode != exit_code:
        problems.append(f"exit code {proc.returncode}, expected {exit_code}")
    if len(lines) != 1 or not lines[0].startswith(prefix):
        problems.append(f"stderr is not one {prefix!r} line: {proc.stderr!r}")
    missing = [s for s in expected if s not in proc.stderr]
    if missing:
        problems.append(f"message lacks {missing}: {proc.stderr.strip()!r}")
    if os.path.exists(out_dir) and os.listdir(out_dir):
        problems.append(f"left files in {out_dir}: {os.listdir(out_dir)}")
    return problems, lines[0] if lines else ""


def main():
    fluidml, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    make_corpus(work)
    passed = failed = 0
    cases = [(case, 2, "fluidml: error: ") for case in CASES]
    cases += [(case, 1, "fluidml: internal error: ") for case in INTERNAL_CASES]
    for (name, args, expected), exit_code, prefix in cases:
        problems, first_line = check_case(fluidml, work, name, args, expected, exit_code, prefix)
        if problems:
            failed += 1
            print(f"FAIL {name}: " + "; ".join(problems))
        else:
            passed += 1
            print(f"ok   {name}: {first_line}")
    # The good model must still run, to show the corpus tests the inputs and not a broken binary.
    proc = subprocess.run([fluidml, "run", f"{work}/good.onnx", "--outputs", f"{work}/good_out"],
                          capture_output=True, text=True)
    if proc.returncode == 0 and os.path.exists(f"{work}/good_out/output_0.pb"):
        passed += 1
        print("ok   the well-formed model runs")
    else:
        failed += 1
        print(f"FAIL the well-formed model: exit {proc.returncode}: {proc.stderr}")
    # ... and passes --check with the standard pipeline, to show the internal cases test the pass, not --check.
    proc = subprocess.run([fluidml, "run", f"{work}/good.onnx", "--check"], capture_output=True, text=True)
    if proc.returncode == 0 and "match the interpreter on the imported graph" in proc.stdout:
        passed += 1
        print("ok   the well-formed model passes --check")
    else:
        failed += 1
        print(f"FAIL the well-formed model with --check: exit {proc.returncode}: {proc.stderr}")
    print(f"bad inputs: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
