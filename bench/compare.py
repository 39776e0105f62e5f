#!/usr/bin/python3
"""fluidml against ONNX Runtime (onnxruntime-node, CPU), side by side, on the dataset models.

For each model and thread count, R rounds alternate the two engines (ORT, fluidml, ORT, fluidml, ...), each run
in its own process so that peak RSS belongs to one engine; a round's latency is that process's median over K timed
runs, and the table shows the median of the round medians. Both engines' outputs are checked against the
dataset's PyTorch reference outputs (max abs diff), a second oracle next to fluidml's own interpreter tests.

    /usr/bin/python3 bench/compare.py                       # the eight full-size dataset models, 1 and 2 threads
    /usr/bin/python3 bench/compare.py --tiny                # their -tiny variants
    /usr/bin/python3 bench/compare.py --models bert-base,resnet50 --threads 1 --rounds 5

Needs `bash bench/setup.sh` (Node.js + onnxruntime-node) and a built `fluidml` (build/tools/fluidml, or --fluidml
PATH). Writes bench/results/<date>[-tiny].json and .md (--out DIR elsewhere) and prints the markdown table.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import BENCH_DIR, DEFAULT_MODELS, MIB, ROOT, BenchError, dataset_dir, log, run_process


def tiny_name(name):
    """The -tiny variant of a dataset: bert-base -> bert-tiny, resnet50 -> resnet50-tiny."""
    if name.endswith("-tiny"):
        return name
    return (name[:-len("-base")] if name.endswith("-base") else name) + "-tiny"


def parse_json_object(text, what):
    """The JSON object a tool printed: the whole output, else its last line that parses as an object."""
    try:
        value = json.loads(text)
        if isinstance(value, dict):
            return value
    except json.JSONDecodeError:
        pass
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    raise BenchError(f"{what} printed no JSON object: {text.strip()[-200:]!r}")


def read_tensors(directory, prefix):
    import numpy as np  # noqa: F401  (numpy_helper needs it)
    import onnx
    from onnx import numpy_helper
    files = sorted(Path(directory).glob(f"{prefix}_*.pb"), key=lambda p: int(p.stem.split("_")[1]))
    tensors = []
    for f in files:
        proto = onnx.TensorProto()
        proto.ParseFromString(f.read_bytes())
        tensors.append((proto.name, numpy_helper.to_array(proto)))
    return tensors


def max_abs_diff(reference_dir, output_dir):
    """Max |engine - PyTorch| over all outputs (matched by position, as the ONNX test runner does)."""
    import numpy as np
    want = read_tensors(reference_dir, "output")
    got = read_tensors(output_dir, "output")
    if len(got) != len(want):
        raise BenchError(f"{len(got)} outputs written, the reference has {len(want)}")
    worst = 0.0
    for (name, w), (_, g) in zip(want, got):
        if g.shape != w.shape:
            raise BenchError(f"output '{name}': shape {list(g.shape)}, reference {list(w.shape)}")
        if w.size == 0:
            continue
        diff = np.abs(g.astype(np.float64) - w.astype(np.float64))
        if np.isnan(diff).any():
            return float("nan")
        worst = max(worst, float(diff.max()))
    return worst


def max_abs_diff_in_child(reference_dir, output_dir, timeout):
    """max_abs_diff in a child process: this process stays small, since Linux hands the RSS high-water mark of the
    process that starts an engine to that engine's getrusage maxrss."""
    out = run_process([sys.executable, str(Path(__file__).resolve()), "--max-abs-diff", str(reference_dir),
                       str(output_dir)], timeout)
    value = parse_json_object(out, "compare.py --max-abs-diff")["max_abs_diff"]
    return float("nan") if value is None else value


def run_ort(args, model, inputs, threads, outputs=None):
    cmd = [args.node, str(BENCH_DIR / "ort_run.mjs"), str(model), "--inputs", str(inputs), "--threads", str(threads),
           "--warmup", str(args.warmup), "--iters", str(args.iters)]
    if outputs:
        cmd += ["--outputs", str(outputs)]
    return parse_json_object(run_process(cmd, args.timeout), "ort_run.mjs")


def run_fluidml_bench(args, model, threads):
    cmd = [str(args.fluidml), "bench", str(model), "--threads", str(threads), "--iters", str(args.iters), "--json"]
    if args.fluidml_bench_warmup:
        cmd += ["--warmup", str(args.warmup)]
    if args.pipeline:
        cmd += ["--pipeline", args.pipeline]
    return parse_json_object(run_process(cmd, args.timeout), "fluidml bench")


def run_fluidml_outputs(args, model, inputs, outputs, threads):
    cmd = [str(args.fluidml), "run", str(model), "--inputs", str(inputs), "--outputs", str(outputs)]
    if args.pipeline:
        cmd += ["--pipeline", args.pipeline]
    if args.fluidml_run_threads:
        cmd += ["--threads", str(threads)]
    run_process(cmd, args.timeout)


def summarize(rounds):
    """Median of per-round medians; min/max over all runs; peak RSS = the largest round's."""
    if not rounds:
        return None
    out = dict(rounds[-1])  # static fields (arena, weights, compile time, ...) from the last round
    out["latency_ms"] = statistics.median(r["latency_ms"] for r in rounds)
    out["latency_min_ms"] = min(r.get("latency_min_ms", r["latency_ms"]) for r in rounds)
    out["latency_max_ms"] = max(r.get("latency_max_ms", r["latency_ms"]) for r in rounds)
    out["peak_rss_bytes"] = max(r.get("peak_rss_bytes", 0) for r in rounds)
    out["round_latencies_ms"] = [r["latency_ms"] for r in rounds]
    if all("compile_ms" in r for r in rounds):
        out["compile_ms"] = statistics.median(r["compile_ms"] for r in rounds)
    return out


def bench_model(args, name, workdir):
    rows = []
    try:
        directory = dataset_dir(args.fluidml, name)
    except BenchError as e:
        log(f"[{name}] dataset: {e}")
        return [{"model": name, "threads": t, "error": f"dataset: {e}"} for t in args.threads]
    model, inputs = directory / "model.onnx", directory / "test_data_set_0"
    fml_checks = {}  # thread count (or None) -> ("fluidml_max_abs_diff", value) or ("fluidml_check", error)
    for threads in args.threads:
        row = {"model": name, "threads": threads, "errors": {}}
        ort_rounds, fml_rounds = [], []
        ort_out = workdir / f"{name}-t{threads}-ort"
        fml_out = workdir / f"{name}-t{threads}-fluidml"
        for r in range(args.rounds):
            # The first ORT round also writes its outputs (after the timed runs; they do not affect the timing).
            if "ort" not in row["errors"]:
                try:
                    ort_rounds.append(run_ort(args, model, inputs, threads, ort_out if r == 0 else None))
                    log(f"[{name} t{threads} round {r + 1}] ORT      {ort_rounds[-1]['latency_ms']:9.3f} ms")
                except BenchError as e:
                    row["errors"]["ort"] = str(e)
                    log(f"[{name} t{threads}] ORT failed: {e}")
            if not args.ort_only and "fluidml" not in row["errors"]:
                try:
                    fml_rounds.append(run_fluidml_bench(args, model, threads))
                    log(f"[{name} t{threads} round {r + 1}] fluidml  {fml_rounds[-1]['latency_ms']:9.3f} ms")
                except BenchError as e:
                    row["errors"]["fluidml"] = str(e)
                    log(f"[{name} t{threads}] fluidml bench failed: {e}")
        row["ort"] = summarize(ort_rounds)
        row["fluidml"] = summarize(fml_rounds)
        if not args.no_check:
            if row["ort"] is not None:
                try:
                    row["ort_max_abs_diff"] = max_abs_diff_in_child(inputs, ort_out, args.timeout)
                except BenchError as e:
                    row["errors"]["ort_check"] = str(e)
            if not args.ort_only:
                # `fluidml run` without a --threads option gives the same outputs for every thread count: run it once.
                key = threads if args.fluidml_run_threads else None
                if key not in fml_checks:
                    try:
                        run_fluidml_outputs(args, model, inputs, fml_out, threads)
                        diff = max_abs_diff_in_child(inputs, fml_out, args.timeout)
                        fml_checks[key] = ("fluidml_max_abs_diff", diff)
                    except BenchError as e:
                        fml_checks[key] = ("fluidml_check", str(e))
                        log(f"[{name} t{threads}] fluidml run failed: {e}")
                field, value = fml_checks[key]
                if field == "fluidml_check":
                    row["errors"][field] = value
                else:
                    row[field] = value
        if not row["errors"]:
            del row["errors"]
        rows.append(row)
    return rows


# ---- the table ---------------------------------------------------------------------------------------------------
def fmt(value, digits=2):
    if value is None:
        return "—"
    if isinstance(value, float) and value != value:
        return "NaN"
    return f"{value:.{digits}f}"


def fmt_diff(value):
    if value is None:
        return "—"
    if value != value:
        return "NaN"
    return f"{value:.1e}"


def ratio(a, b):
    return a / b if a is not None and b else None


def table_rows(rows):
    header = ["model", "threads", "ORT ms", "fluidml ms", "fluidml/ORT", "ORT peak RSS MiB", "fluidml peak RSS MiB",
              "RSS fluidml/ORT", "fluidml arena MiB", "weights MiB", "lower bound MiB", "compile ms",
              "ORT vs torch max\\|diff\\|", "fluidml vs torch max\\|diff\\|"]
    lines = [header]
    for row in rows:
        ort, fml = row.get("ort") or {}, row.get("fluidml") or {}
        ort_ms, fml_ms = ort.get("latency_ms"), fml.get("latency_ms")
        ort_rss = ort["peak_rss_bytes"] / MIB if ort.get("peak_rss_bytes") else None
        fml_rss = fml["peak_rss_bytes"] / MIB if fml.get("peak_rss_bytes") else None
        mib = lambda key: fml[key] / MIB if fml.get(key) is not None else None  # noqa: E731
        lines.append([
            row["model"], str(row["threads"]), fmt(ort_ms, 3), fmt(fml_ms, 3), fmt(ratio(fml_ms, ort_ms)),
            fmt(ort_rss, 1), fmt(fml_rss, 1), fmt(ratio(fml_rss, ort_rss)), fmt(mib("arena_bytes"), 1),
            fmt(mib("weights_bytes"), 1), fmt(mib("lower_bound_bytes"), 1), fmt(fml.get("compile_ms"), 0),
            fmt_diff(row.get("ort_max_abs_diff")), fmt_diff(row.get("fluidml_max_abs_diff"))])
    return lines


def markdown(rows, meta):
    lines = table_rows(rows)
    out = ["| " + " | ".join(lines[0]) + " |", "|" + "---|" * len(lines[0])]
    out += ["| " + " | ".join(cells) + " |" for cells in lines[1:]]
    notes = []
    for row in rows:
        failures = list((row.get("errors") or {}).items()) + ([("", row["error"])] if "error" in row else [])
        for what, msg in failures:
            note = f"- {row['model']}: {what + ': ' if what else ''}{msg}"
            if note not in notes:  # the same failure at every thread count is listed once
                notes.append(note)
    text = "\n".join(out) + "\n"
    text += (f"\n{meta['date']}, {meta['cpu']} ({meta['cpus']} CPUs), {meta['engine_ort']}, fluidml "
             f"{meta['fluidml_commit']} pipeline {meta['pipeline']}; {meta['rounds']} rounds x {meta['iters']} "
             f"timed runs after {meta['warmup']} warm-up runs per process; latency = median of the round medians; "
             f"peak RSS = each engine process's high-water RSS (ORT's includes Node.js and the ORT library: "
             f"{meta['node_baseline_mib']:.0f} MiB before the model loads).\n")
    if notes:
        text += "\nFailures:\n" + "\n".join(notes) + "\n"
    return text


def cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def git_commit():
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True)
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except OSError:
        return "unknown"


def max_abs_diff_main(reference_dir, output_dir):
    try:
        value = max_abs_diff(reference_dir, output_dir)
    except BenchError as e:
        print(str(e), file=sys.stderr)
        return 2
    print(json.dumps({"max_abs_diff": None if value != value else value}))
    return 0


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--max-abs-diff":  # internal: see max_abs_diff_in_child
        return max_abs_diff_main(sys.argv[2], sys.argv[3])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", help="comma-separated dataset names (default: the eight full-size models)")
    parser.add_argument("--tiny", action="store_true", help="the -tiny variants of the models")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per engine (default 3)")
    parser.add_argument("--iters", type=int, help="timed runs per process (default 20, 200 with --tiny)")
    parser.add_argument("--warmup", type=int, help="warm-up runs per process (default 5, 50 with --tiny)")
    parser.add_argument("--fluidml", default=str(ROOT / "build" / "tools" / "fluidml"), help="the fluidml binary")
    parser.add_argument("--pipeline", help="fluidml pipeline (default: fluidml's default)")
    parser.add_argument("--node", default="node", help="the Node.js binary")
    parser.add_argument("--out", default=str(BENCH_DIR / "results"), help="where the .json and .md go")
    parser.add_argument("--tag", help="results file name (default <date>, <date>-tiny with --tiny)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per process (default 1800)")
    parser.add_argument("--ort-only", action="store_true", help="run ONNX Runtime only")
    parser.add_argument("--no-check", action="store_true", help="skip the output comparison with PyTorch")
    args = parser.parse_args()

    try:
        args.threads = [int(t) for t in args.threads.split(",") if t]
        if not args.threads or min(args.threads) < 1:
            raise ValueError
    except ValueError:
        parser.error("--threads needs positive integers, e.g. 1,2")
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    args.iters = args.iters if args.iters is not None else (200 if args.tiny else 20)
    args.warmup = args.warmup if args.warmup is not None else (50 if args.tiny else 5)
    if args.iters < 1 or args.warmup < 0:
        parser.error("--iters must be >= 1 and --warmup >= 0")
    names = [m for m in (args.models.split(",") if args.models else DEFAULT_MODELS) if m]
    if args.tiny:
        names = [tiny_name(m) for m in names]

    if not (BENCH_DIR / "node_modules" / "onnxruntime-node").is_dir():
        sys.exit("compare.py: onnxruntime-node is not installed: run `bash bench/setup.sh`")
    args.fluidml = Path(args.fluidml)
    if not os.access(args.fluidml, os.X_OK):
        sys.exit(f"compare.py: no fluidml binary at {args.fluidml} (build it, or pass --fluidml PATH)")
    fluidml_help = subprocess.run([str(args.fluidml), "--help"], capture_output=True, text=True).stdout
    if not args.ort_only and "bench" not in fluidml_help:
        log("compare.py: this fluidml has no `bench` command yet; the fluidml columns will show errors")
    args.fluidml_run_threads = "--threads" in fluidml_help
    args.fluidml_bench_warmup = "--warmup" in fluidml_help

    node_version = run_process([args.node, "--version"], 60).strip()
    ort_package = BENCH_DIR / "node_modules" / "onnxruntime-node" / "package.json"
    ort_version = json.loads(ort_package.read_text())["version"]
    now = datetime.datetime.now()
    rows = []
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="fluidml-bench-") as tmp:
        for name in names:
            rows += bench_model(args, name, Path(tmp))
    baselines = [r["ort"]["baseline_rss_bytes"] for r in rows if r.get("ort") and "baseline_rss_bytes" in r["ort"]]
    meta = {
        "date": now.strftime("%Y-%m-%d %H:%M"),
        "cpu": cpu_name(),
        "cpus": os.cpu_count(),
        "engine_ort": f"onnxruntime-node {ort_version} (node {node_version}, CPU EP, graph optimization all, "
                      f"inter-op threads 1)",
        "fluidml": str(args.fluidml),
        "fluidml_commit": git_commit(),
        "pipeline": args.pipeline or "default",
        "threads": args.threads,
        "rounds": args.rounds,
        "iters": args.iters,
        "warmup": args.warmup,
        "node_baseline_mib": statistics.median(baselines) / MIB if baselines else 0.0,
        "seconds": round(time.time() - started, 1),
    }
    text = markdown(rows, meta)
    print(text, end="")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    tag = args.tag or (now.strftime("%Y-%m-%d") + ("-tiny" if args.tiny else ""))
    (out_dir / f"{tag}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    (out_dir / f"{tag}.md").write_text(text)
    log(f"compare.py: wrote {out_dir / (tag + '.json')} and {out_dir / (tag + '.md')}")
    failed = any(r.get("errors") or r.get("error") for r in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
