#!/usr/bin/python3
"""Makes a model dataset (datasets/make_dataset.py), runs it with `fluidml run` and compares every output with
PyTorch's reference output.

usage: check_dataset.py FLUIDML_BINARY NAME WORK_DIR [--seed N] [--rtol R] [--atol A] [--tolerance T]
                        [--threads N] [--mcpu CPU [--no-zmm]] [--pipeline P] [--aot RUNNER [--iters K] [--warmup W]]

The dataset is made (or reused, if cached) in WORK_DIR/NAME-seedN; fluidml's outputs go to WORK_DIR/NAME-seedN-out.
With --aot RUNNER (the path of fluidml-aot-run) the model is instead compiled ahead of time with
`fluidml compile model.onnx -o WORK_DIR/NAME-seedN-aot`, the .pb inputs are written as the raw file the runner reads
(inputs.bin in that directory, the compiled model's inputs in graph order, matched by name), the runner runs W
warm-up and K timed runs (defaults 1 and 2; the outputs are the last run's) and its raw outputs (outputs.bin) are
split per output (model.json gives names, dtypes and shapes) and compared exactly like fluidml run's. The compile
wall time and the runner's JSON summary line are printed.
With --mcpu CPU the code is generated for that CPU (`fluidml run/compile --mcpu CPU`, e.g. x86-64-v3 for AVX2 on an
AVX-512 machine): `fluidml run` then also checks against the reference interpreter (--check), the AOT build's
model.json must record that CPU, and the output directories are WORK_DIR/NAME-seedN-out-CPU and -aot-CPU.
With --pipeline P (a name in pipelines/ or a file) fluidml runs and compiles with that pipeline (`--pipeline P`),
`fluidml run` also checks against the reference interpreter (--check), and the output directories end in -STEM
(the pipeline file's stem), e.g. WORK_DIR/NAME-seedN-out-nchwc.
--no-zmm (with --mcpu) also writes the assembly (--dump-asm) and fails when it names an AVX-512 register (zmm).
An output passes when it has the reference's shape and dtype and every element satisfies
    |actual - expected| <= atol + rtol * |expected|        (numpy.isclose; defaults rtol 1e-3, atol 1e-4)
with NaN never equal to anything. --tolerance T sets rtol = T (atol stays). One line per output gives the max
absolute and max relative difference (relative to |expected|, over elements with |expected| > atol) and the verdict.
Exits 0 when every output passes, 1 when one does not or fluidml fails, 2 on a usage error, 77 (ctest's skip
code) when torch / torchvision / onnx cannot be imported.
"""
import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

try:
    import numpy as np
    import onnx  # noqa: F401  (tools/aot_raw_inputs.py reads the .pb files with it)
except ImportError as error:
    print(f"SKIPPED: {error} (install python3-torch python3-torchvision python3-onnx)")
    sys.exit(77)
# make_dataset.py needs these too; checked here so that a missing install skips instead of failing.
for _module in ("torch", "torchvision"):
    if importlib.util.find_spec(_module) is None:
        print(f"SKIPPED: no module named '{_module}' (install python3-torch python3-torchvision)")
        sys.exit(77)

ROOT = Path(__file__).resolve().parents[2]
MAKE_DATASET = ROOT / "datasets" / "make_dataset.py"
DEFAULT_RTOL, DEFAULT_ATOL = 1e-3, 1e-4

sys.path.insert(0, str(ROOT / "tools"))
from aot_raw_inputs import raw_inputs, read_tensor  # noqa: E402


def compare(name: str, actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> bool:
    """Prints one result line for an output; returns whether it passes."""
    if actual.shape != expected.shape or actual.dtype != expected.dtype:
        print(f"FAIL {name}: got {actual.dtype}{list(actual.shape)}, expected {expected.dtype}{list(expected.shape)}")
        return False
    a, e = actual.astype(np.float64), expected.astype(np.float64)
    diff = np.abs(a - e)
    max_abs = float(np.max(diff)) if diff.size else 0.0
    # Elements at the absolute-tolerance noise level would make the relative figure meaningless.
    significant = np.abs(e) > atol
    max_rel = float(np.max(diff[significant] / np.abs(e[significant]))) if np.any(significant) else 0.0
    close = np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=False)
    ok = bool(np.all(close))
    bad = int(close.size - np.count_nonzero(close))
    print(f"{'PASS' if ok else 'FAIL'} {name} {expected.dtype}{list(expected.shape)}: max abs diff {max_abs:.3g}, "
          f"max rel diff {max_rel:.3g} (rtol {rtol:g}, atol {atol:g})"
          + ("" if ok else f"; {bad} of {close.size} elements outside the tolerance"))
    return ok


def assembly_ok(args, path: Path) -> bool:
    """--no-zmm: the assembly fluidml wrote for --mcpu has vector code and no AVX-512 register."""
    text = path.read_text() if path.exists() else ""
    if "vfmadd" not in text and "vmulps" not in text:
        print(f"FAIL {args.name}: {path} holds no vector code")
        return False
    zmm = text.count("%zmm")
    print(f"{'PASS' if zmm == 0 else 'FAIL'} {args.name}: {zmm} zmm register uses in the {args.mcpu} assembly "
          f"({text.count('%ymm')} ymm)")
    return zmm == 0


def variant_suffix(args) -> str:
    """What sets this run's output directories apart: -CPU for --mcpu, -STEM for --pipeline."""
    return (f"-{args.mcpu}" if args.mcpu else "") + (f"-{Path(args.pipeline).stem}" if args.pipeline else "")


def run_aot(args, dataset: Path, expected_files, rtol: float) -> int:
    """The --aot mode: fluidml compile, the .pb inputs as one raw file, fluidml-aot-run, then compare()."""
    aot_dir = args.work_dir / (f"{args.name}-seed{args.seed}-aot" + variant_suffix(args))
    if aot_dir.exists():
        shutil.rmtree(aot_dir)
    command = [args.fluidml, "compile", str(dataset / "model.onnx"), "-o", str(aot_dir)]
    if args.threads is not None:
        command += ["--threads", str(args.threads)]
    if args.mcpu:
        command += ["--mcpu", args.mcpu]
    if args.pipeline:
        command += ["--pipeline", args.pipeline]
    if args.no_zmm:
        command += ["--dump-asm", str(args.work_dir / f"{args.name}-seed{args.seed}-aot-{args.mcpu}.s")]
    start = time.monotonic()
    compiled = subprocess.run(command, capture_output=True, text=True)
    seconds = time.monotonic() - start
    if compiled.returncode != 0:
        print(compiled.stdout + compiled.stderr)
        print(f"FAIL {args.name}: fluidml compile exited {compiled.returncode} after {seconds:.1f} s")
        return 1
    print(f"fluidml compile: {seconds:.2f} s")
    if args.no_zmm and not assembly_ok(args, args.work_dir / f"{args.name}-seed{args.seed}-aot-{args.mcpu}.s"):
        return 1
    meta = json.loads((aot_dir / "model.json").read_text())
    if args.mcpu and meta.get("target", {}).get("cpu") != args.mcpu:
        print(f"FAIL {args.name}: model.json records target {meta.get('target')}, expected cpu {args.mcpu}")
        return 1

    # The raw input file: the compiled model's inputs in its graph order, each matched with its .pb by name.
    try:
        raw, unused = raw_inputs(dataset / "test_data_set_0", aot_dir / "model.json")
    except ValueError as error:
        print(f"FAIL {args.name}: {error}")
        return 1
    for name in unused:
        print(f"note: dataset input '{name}' is not an input of the compiled model")
    inputs_file, outputs_file = aot_dir / "inputs.bin", aot_dir / "outputs.bin"
    inputs_file.write_bytes(raw)

    command = [str(args.aot), str(aot_dir), "--inputs", str(inputs_file), "--outputs", str(outputs_file), "--json",
               "--iters", str(args.iters), "--warmup", str(args.warmup)]
    start = time.monotonic()
    run = subprocess.run(command, capture_output=True, text=True)
    seconds = time.monotonic() - start
    if run.returncode != 0:
        print(run.stdout + run.stderr)
        print(f"FAIL {args.name}: fluidml-aot-run exited {run.returncode} after {seconds:.1f} s")
        return 1
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else "{}"
    print(f"fluidml-aot-run: {seconds:.2f} s {summary}")

    data = outputs_file.read_bytes()
    total = sum(spec["bytes"] for spec in meta["outputs"])
    if len(data) != total:
        print(f"FAIL {args.name}: {outputs_file} holds {len(data)} bytes, the outputs {total}")
        return 1
    actual_by_name, offset = {}, 0
    for spec in meta["outputs"]:
        # bool outputs are one byte per element, 0 or 1: numpy's bool reads them as they are.
        flat = np.frombuffer(data, dtype=np.dtype(spec["dtype"]), count=int(np.prod(spec["shape"], dtype=np.int64)),
                             offset=offset)
        actual_by_name[spec["name"]] = flat.reshape(spec["shape"])
        offset += spec["bytes"]
    all_ok = True
    for path in expected_files:
        name, expected = read_tensor(path)
        if name not in actual_by_name:
            print(f"FAIL {name}: not an output of the compiled model ({', '.join(actual_by_name) or 'none'})")
            all_ok = False
            continue
        all_ok &= compare(name, actual_by_name[name], expected, rtol, args.atol)
    print(f"{'PASS' if all_ok else 'FAIL'} {args.name} (AOT)")
    return 0 if all_ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fluidml", help="path of the fluidml binary")
    parser.add_argument("name", help="dataset name (datasets/make_dataset.py --list)")
    parser.add_argument("work_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rtol", type=float, default=DEFAULT_RTOL)
    parser.add_argument("--atol", type=float, default=DEFAULT_ATOL)
    parser.add_argument("--tolerance", type=float, help="same as --rtol")
    parser.add_argument("--threads", type=int, help="fluidml's thread count (run --threads / compile --threads)")
    parser.add_argument("--mcpu", help="the CPU fluidml generates code for (run --mcpu / compile --mcpu)")
    parser.add_argument("--no-zmm", action="store_true", help="fail when the generated assembly uses zmm registers")
    parser.add_argument("--pipeline", help="fluidml's pass pipeline, a name in pipelines/ or a file (run/compile "
                        "--pipeline); also checks against the interpreter")
    parser.add_argument("--aot", type=Path, metavar="RUNNER",
                        help="compile ahead of time and run with this fluidml-aot-run instead of `fluidml run`")
    parser.add_argument("--iters", type=int, default=2, help="--aot: timed runs (default 2)")
    parser.add_argument("--warmup", type=int, default=1, help="--aot: warm-up runs (default 1)")
    args = parser.parse_args()
    rtol = args.tolerance if args.tolerance is not None else args.rtol
    if rtol < 0 or args.atol < 0:
        print("error: tolerances must be non-negative", file=sys.stderr)
        return 2
    if args.threads is not None and not 1 <= args.threads <= 1024:
        print("error: --threads expects an integer in [1, 1024]", file=sys.stderr)
        return 2
    if args.iters < 1 or args.warmup < 0:
        print("error: --iters must be at least 1 and --warmup non-negative", file=sys.stderr)
        return 2
    if args.no_zmm and not args.mcpu:
        print("error: --no-zmm needs --mcpu", file=sys.stderr)
        return 2
    if args.aot is not None and not (args.aot.is_file() and os.access(args.aot, os.X_OK)):
        print(f"error: --aot {args.aot}: not an executable file", file=sys.stderr)
        return 2

    dataset = args.work_dir / f"{args.name}-seed{args.seed}"
    start = time.monotonic()
    made = subprocess.run([sys.executable, str(MAKE_DATASET), args.name, "-o", str(dataset), "--seed",
                           str(args.seed)], capture_output=True, text=True)
    if made.returncode != 0:
        print(made.stdout + made.stderr)
        print(f"FAIL {args.name}: making the dataset failed (exit {made.returncode})")
        return 2 if made.returncode == 2 else 1
    print(made.stdout.strip() + f" [{time.monotonic() - start:.1f} s]")

    expected_files = sorted((dataset / "test_data_set_0").glob("output_*.pb"), key=lambda p: int(p.stem[7:]))
    if args.aot is not None:
        return run_aot(args, dataset, expected_files, rtol)

    out_dir = args.work_dir / (f"{args.name}-seed{args.seed}-out" + variant_suffix(args))
    for stale in out_dir.glob("output_*.pb"):
        stale.unlink()
    start = time.monotonic()
    command = [args.fluidml, "run", str(dataset / "model.onnx"), "--inputs", str(dataset / "test_data_set_0"),
               "--outputs", str(out_dir), "--check-plan"]
    if args.threads is not None:
        command += ["--threads", str(args.threads)]
    if args.mcpu:
        command += ["--mcpu", args.mcpu]
    if args.pipeline:
        command += ["--pipeline", args.pipeline]
    if args.mcpu or args.pipeline:
        command += ["--check"]
    if args.no_zmm:
        out_dir.mkdir(parents=True, exist_ok=True)
        command += ["--dump-asm", str(out_dir / "model.s")]
    run = subprocess.run(command, capture_output=True, text=True)
    seconds = time.monotonic() - start
    if run.returncode != 0:
        print(run.stdout + run.stderr)
        print(f"FAIL {args.name}: fluidml run exited {run.returncode} after {seconds:.1f} s")
        return 1
    print(f"fluidml run: {seconds:.2f} s")
    if args.mcpu or args.pipeline:
        print("\n".join(line for line in run.stdout.splitlines() if line.startswith("check")))
    if args.no_zmm and not assembly_ok(args, out_dir / "model.s"):
        return 1

    all_ok = True
    for path in expected_files:
        name, expected = read_tensor(path)
        actual_path = out_dir / path.name
        if not actual_path.exists():
            print(f"FAIL {name}: fluidml wrote no {path.name}")
            all_ok = False
            continue
        _, actual = read_tensor(actual_path)
        all_ok &= compare(name, actual, expected, rtol, args.atol)
    print(f"{'PASS' if all_ok else 'FAIL'} {args.name}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
