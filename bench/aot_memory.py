#!/usr/bin/python3
"""Memory and latency of the dataset models compiled ahead of time: weights file, arena, peak RSS, create time.

For each model, `fluidml compile` writes WORK/NAME (libmodel.so, weights.bin, ...; the wall time is recorded), then
`fluidml-aot-run WORK/NAME --threads T --json` runs it in a fresh process on the dataset's own inputs
(test_data_set_0, written as the runner's raw input file; --generated-inputs: the runner's deterministic ones, whose
all-zero token ids leave most of an embedding table unread and so under-report RSS), and a markdown table compares
the process's peak RSS with the size of weights.bin (the runner itself, libc and libmodel.so add a few MiB; RSS /
weights near 1 + arena / weights means the weights are mapped once and nothing else is copied).

    /usr/bin/python3 bench/aot_memory.py                          # the eight full-size dataset models
    /usr/bin/python3 bench/aot_memory.py bert-tiny resnet50-tiny --json /tmp/rows.json
    /usr/bin/python3 bench/aot_memory.py --fluidml build-x/tools/fluidml --threads 2 --keep

Datasets come from datasets/cache/NAME-seed0 and are made with `fluidml datasets make NAME` when missing. The runner
defaults to fluidml-aot-run next to the fluidml binary. Exits 1 when a model fails (the table still lists the rest
with the error), 2 on a usage error.
"""
import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench_common import DEFAULT_MODELS, MIB, ROOT, BenchError, dataset_dir, log, run_process


def write_raw_inputs(dataset, out_dir):
    """The dataset's .pb inputs as the runner's raw file, in the compiled model's input order (model.json)."""
    sys.path.insert(0, str(ROOT / "tools"))
    from aot_raw_inputs import raw_inputs
    try:
        raw, _ = raw_inputs(dataset / "test_data_set_0", out_dir / "model.json")
    except ValueError as error:
        raise BenchError(str(error))
    path = out_dir / "inputs.bin"
    path.write_bytes(raw)
    return path


def measure(args, name, work):
    row = {"model": name}
    try:
        model = dataset_dir(args.fluidml, name) / "model.onnx"
        out_dir = work / name
        if out_dir.exists():
            shutil.rmtree(out_dir)
        log(f"[{name}] fluidml compile {model}")
        start = time.monotonic()
        run_process([args.fluidml, "compile", model, "-o", out_dir, "--threads", args.threads], args.timeout)
        row["compile_s"] = time.monotonic() - start
        row["weights_file_bytes"] = (out_dir / "weights.bin").stat().st_size
        log(f"[{name}] compiled in {row['compile_s']:.1f} s; fluidml-aot-run --threads {args.threads}")
        command = [args.runner, out_dir, "--threads", args.threads, "--iters", args.iters, "--warmup", args.warmup,
                   "--json"]
        if not args.generated_inputs:
            command += ["--inputs", write_raw_inputs(model.parent, out_dir)]
        text = run_process(command, args.timeout)
        lines = [line for line in text.splitlines() if line.strip().startswith("{")]
        if not lines:
            raise BenchError(f"fluidml-aot-run printed no JSON: {text.strip()[-200:]!r}")
        row.update(json.loads(lines[-1]))
        log(f"[{name}] median {row['median_ms']:.2f} ms, peak RSS {row['peak_rss_bytes'] / MIB:.1f} MiB")
        if not args.keep:
            shutil.rmtree(out_dir, ignore_errors=True)
    except (BenchError, OSError, json.JSONDecodeError) as e:
        row["error"] = str(e)
        log(f"[{name}] FAILED: {e}")
    return row


def fmt(value, digits):
    return "—" if value is None else f"{value:.{digits}f}"


def markdown(rows, args):
    header = ["model", "weights.bin MiB", "arena MiB", "peak RSS MiB", "RSS / weights", "create ms", "median ms",
              "compile s"]
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        mib = lambda key: row[key] / MIB if row.get(key) is not None else None  # noqa: E731
        weights, rss = mib("weights_file_bytes"), mib("peak_rss_bytes")
        out.append("| " + " | ".join([
            row["model"], fmt(weights, 1), fmt(mib("arena_bytes"), 1), fmt(rss, 1),
            fmt(rss / weights if rss is not None and weights else None, 2), fmt(row.get("create_ms"), 1),
            fmt(row.get("median_ms"), 2), fmt(row.get("compile_s"), 1)]) + " |")
    text = "\n".join(out) + "\n"
    text += (f"\n{args.threads} thread(s), {args.warmup} warm-up + {args.iters} timed runs in one fluidml-aot-run "
             f"process per model on {'generated' if args.generated_inputs else 'the dataset'} inputs; peak RSS = "
             f"the runner's VmHWM after the runs; create = fluidml_model_create (maps weights.bin).\n")
    failures = [f"- {row['model']}: {row['error']}" for row in rows if "error" in row]
    if failures:
        text += "\nFailures:\n" + "\n".join(failures) + "\n"
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help=f"dataset names (default: {' '.join(DEFAULT_MODELS)})")
    parser.add_argument("--fluidml", type=Path, default=ROOT / "build" / "tools" / "fluidml")
    parser.add_argument("--runner", type=Path, help="fluidml-aot-run (default: next to --fluidml)")
    parser.add_argument("--work", type=Path, help="where the compiled models go (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the compiled models")
    parser.add_argument("--generated-inputs", action="store_true",
                        help="the runner's deterministic inputs instead of the dataset's")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per compile or run")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also writes the rows as JSON")
    args = parser.parse_args()
    args.runner = args.runner or args.fluidml.parent / "fluidml-aot-run"
    for tool in (args.fluidml, args.runner):
        if not tool.is_file():
            print(f"error: {tool} does not exist (build it, or pass --fluidml/--runner)", file=sys.stderr)
            return 2
    if args.threads < 1 or args.iters < 1 or args.warmup < 0:
        print("error: --threads and --iters must be at least 1, --warmup non-negative", file=sys.stderr)
        return 2

    temporary = None
    if args.work is None:
        temporary = tempfile.mkdtemp(prefix="fluidml-aot-memory-")
        args.work = Path(temporary)
    try:
        args.work.mkdir(parents=True, exist_ok=True)
        rows = [measure(args, name, args.work) for name in (args.models or DEFAULT_MODELS)]
    finally:
        if temporary is not None and not args.keep:
            shutil.rmtree(temporary, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps({"threads": args.threads, "iters": args.iters, "warmup": args.warmup,
                                         "generated_inputs": args.generated_inputs, "rows": rows}, indent=2) + "\n")
    print(markdown(rows, args), end="")
    return 1 if any("error" in row for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
