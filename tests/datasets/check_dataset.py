#!/usr/bin/python3
"""Makes a model dataset (datasets/make_dataset.py), runs it with `fluidml run` and compares every output with
PyTorch's reference output.

usage: check_dataset.py FLUIDML_BINARY NAME WORK_DIR [--seed N] [--rtol R] [--atol A] [--tolerance T]

The dataset is made (or reused, if cached) in WORK_DIR/NAME-seedN; fluidml's outputs go to WORK_DIR/NAME-seedN-out.
An output passes when it has the reference's shape and dtype and every element satisfies
    |actual - expected| <= atol + rtol * |expected|        (numpy.isclose; defaults rtol 1e-3, atol 1e-4)
with NaN never equal to anything. --tolerance T sets rtol = T (atol stays). One line per output gives the max
absolute and max relative difference (relative to |expected|, over elements with |expected| > atol) and the verdict.
Exits 0 when every output passes, 1 when one does not or fluidml fails, 2 on a usage error, 77 (ctest's skip
code) when torch / torchvision / onnx cannot be imported.
"""
import argparse
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

try:
    import numpy as np
    import onnx
    from onnx import numpy_helper
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


def read_tensor(path: Path):
    tensor = onnx.TensorProto()
    tensor.ParseFromString(path.read_bytes())
    return tensor.name, numpy_helper.to_array(tensor)


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fluidml", help="path of the fluidml binary")
    parser.add_argument("name", help="dataset name (datasets/make_dataset.py --list)")
    parser.add_argument("work_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rtol", type=float, default=DEFAULT_RTOL)
    parser.add_argument("--atol", type=float, default=DEFAULT_ATOL)
    parser.add_argument("--tolerance", type=float, help="same as --rtol")
    args = parser.parse_args()
    rtol = args.tolerance if args.tolerance is not None else args.rtol
    if rtol < 0 or args.atol < 0:
        print("error: tolerances must be non-negative", file=sys.stderr)
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

    out_dir = args.work_dir / f"{args.name}-seed{args.seed}-out"
    for stale in out_dir.glob("output_*.pb"):
        stale.unlink()
    start = time.monotonic()
    run = subprocess.run([args.fluidml, "run", str(dataset / "model.onnx"), "--inputs",
                          str(dataset / "test_data_set_0"), "--outputs", str(out_dir), "--check-plan"],
                         capture_output=True, text=True)
    seconds = time.monotonic() - start
    if run.returncode != 0:
        print(run.stdout + run.stderr)
        print(f"FAIL {args.name}: fluidml run exited {run.returncode} after {seconds:.1f} s")
        return 1
    print(f"fluidml run: {seconds:.2f} s")

    expected_files = sorted((dataset / "test_data_set_0").glob("output_*.pb"), key=lambda p: int(p.stem[7:]))
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
