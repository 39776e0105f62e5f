#!/usr/bin/python3
"""Several fluidml pipelines against ONNX Runtime, interleaved in one run, on the dataset models.

Each round runs ORT, then every pipeline, each in its own process (compare.py's runners); a latency is the median
of the round medians, min-max over every timed run beside it. Ratios come from one interleaved run only: the
machines are shared and absolute times drift. Outputs are checked against the dataset's PyTorch reference for ORT
and for every pipeline (max abs diff).

    /usr/bin/python3 bench/pipelines.py --pipelines fluidml,nchwc --models resnet50,vgg16,mobilenet-v2,efficientnet-b0
    /usr/bin/python3 bench/pipelines.py --pipelines fluidml,nchwc --tiny --rounds 2

The first pipeline is the base: the table shows each other pipeline's speedup over it, and every pipeline's
ratio to ORT. Writes bench/results/<tag>.json and .md (--out, --tag) and prints the markdown table.
"""
import argparse
import copy
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402
from bench_common import BENCH_DIR, DEFAULT_MODELS, MIB, ROOT, BenchError, dataset_dir, log  # noqa: E402


def bench_model(args, name, workdir):
    rows = []
    try:
        directory = dataset_dir(args.fluidml, name)
    except BenchError as e:
        log(f"[{name}] dataset: {e}")
        return [{"model": name, "threads": t, "error": f"dataset: {e}"} for t in args.threads]
    model, inputs = directory / "model.onnx", directory / "test_data_set_0"
    for threads in args.threads:
        row = {"model": name, "threads": threads, "errors": {}, "pipelines": {}}
        rounds = {"ort": [], **{p: [] for p in args.pipelines}}
        ort_out = workdir / f"{name}-t{threads}-ort"
        for r in range(args.rounds):
            if "ort" not in row["errors"]:
                try:
                    rounds["ort"].append(compare.run_ort(args, model, inputs, threads, ort_out if r == 0 else None))
                    log(f"[{name} t{threads} round {r + 1}] ORT {rounds['ort'][-1]['latency_ms']:9.3f} ms")
                except BenchError as e:
                    row["errors"]["ort"] = str(e)
            for pipeline in args.pipelines:
                if pipeline in row["errors"]:
                    continue
                run_args = copy.copy(args)
                run_args.pipeline = pipeline
                try:
                    rounds[pipeline].append(compare.run_fluidml_bench(run_args, model, threads))
                    log(f"[{name} t{threads} round {r + 1}] {pipeline} {rounds[pipeline][-1]['latency_ms']:9.3f} ms")
                except BenchError as e:
                    row["errors"][pipeline] = str(e)
                    log(f"[{name} t{threads}] {pipeline} failed: {e}")
        row["ort"] = compare.summarize(rounds["ort"])
        for pipeline in args.pipelines:
            row["pipelines"][pipeline] = compare.summarize(rounds[pipeline])
        if not args.no_check:
            if row["ort"] is not None:
                try:
                    row["ort_max_abs_diff"] = compare.max_abs_diff_in_child(inputs, ort_out, args.timeout)
                except BenchError as e:
                    row["errors"]["ort_check"] = str(e)
            for pipeline in args.pipelines:
                out = workdir / f"{name}-t{threads}-{pipeline}"
                run_args = copy.copy(args)
                run_args.pipeline = pipeline
                try:
                    compare.run_fluidml_outputs(run_args, model, inputs, out, threads)
                    summary = row["pipelines"][pipeline] or {}
                    summary["max_abs_diff"] = compare.max_abs_diff_in_child(inputs, out, args.timeout)
                    row["pipelines"][pipeline] = summary
                except BenchError as e:
                    row["errors"][f"{pipeline}_check"] = str(e)
        if not row["errors"]:
            del row["errors"]
        rows.append(row)
    return rows


def markdown(rows, meta, pipelines):
    base = pipelines[0]
    header = ["model", "threads", "ORT ms"]
    for p in pipelines:
        header += [f"{p} ms (min-max)", f"{p}/ORT"]
    for p in pipelines[1:]:
        header += [f"{p} speedup over {base}"]
    header += ["ORT peak RSS MiB"] + [f"{p} peak RSS MiB" for p in pipelines]
    header += [f"{p} weights MiB" for p in pipelines] + [f"{p} arena MiB" for p in pipelines]
    header += ["ORT vs torch"] + [f"{p} vs torch" for p in pipelines]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        ort = row.get("ort") or {}
        results = {p: (row.get("pipelines") or {}).get(p) or {} for p in pipelines}
        cells = [row["model"], str(row["threads"]), compare.fmt(ort.get("latency_ms"), 3)]
        for p in pipelines:
            r = results[p]
            span = (f" ({compare.fmt(r.get('latency_min_ms'), 2)}-{compare.fmt(r.get('latency_max_ms'), 2)})"
                    if r.get("latency_ms") is not None else "")
            cells += [compare.fmt(r.get("latency_ms"), 3) + span,
                      compare.fmt(compare.ratio(r.get("latency_ms"), ort.get("latency_ms")))]
        for p in pipelines[1:]:
            cells.append(compare.fmt(compare.ratio(results[base].get("latency_ms"), results[p].get("latency_ms"))) + "x")
        cells += [compare.fmt(ort["peak_rss_bytes"] / MIB if ort.get("peak_rss_bytes") else None, 1)]
        cells += [compare.fmt(results[p]["peak_rss_bytes"] / MIB if results[p].get("peak_rss_bytes") else None, 1)
                  for p in pipelines]
        cells += [compare.fmt(results[p]["weights_bytes"] / MIB if results[p].get("weights_bytes") is not None else None, 1)
                  for p in pipelines]
        cells += [compare.fmt(results[p]["arena_bytes"] / MIB if results[p].get("arena_bytes") is not None else None, 1)
                  for p in pipelines]
        cells += [compare.fmt_diff(row.get("ort_max_abs_diff"))]
        cells += [compare.fmt_diff(results[p].get("max_abs_diff")) for p in pipelines]
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    text += (f"\n{meta['date']}, {meta['cpu']} ({meta['cpus']} CPUs), {meta['engine_ort']}, fluidml "
             f"{meta['fluidml_commit']}; pipelines {', '.join(pipelines)}; {meta['rounds']} interleaved rounds x "
             f"{meta['iters']} timed runs after {meta['warmup']} warm-up runs per process; latency = median of the "
             f"round medians.\n")
    failures = []
    for row in rows:
        for what, msg in list((row.get("errors") or {}).items()) + ([("", row["error"])] if "error" in row else []):
            failures.append(f"- {row['model']} t{row['threads']}: {what + ': ' if what else ''}{msg}")
    if failures:
        text += "\nFailures:\n" + "\n".join(failures) + "\n"
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipelines", default="fluidml,nchwc", help="comma-separated pipelines; the first is the base")
    parser.add_argument("--models", help="comma-separated dataset names (default: the eight full-size models)")
    parser.add_argument("--tiny", action="store_true", help="the -tiny variants of the models")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--iters", type=int, help="timed runs per process (default 20, 200 with --tiny)")
    parser.add_argument("--warmup", type=int, help="warm-up runs per process (default 5, 50 with --tiny)")
    parser.add_argument("--fluidml", default=str(ROOT / "build" / "tools" / "fluidml"), help="the fluidml binary")
    parser.add_argument("--node", default="node", help="the Node.js binary")
    parser.add_argument("--out", default=str(BENCH_DIR / "results"), help="where the .json and .md go")
    parser.add_argument("--tag", help="results file name (default <date>-pipelines)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per process (default 1800)")
    parser.add_argument("--no-check", action="store_true", help="skip the output comparison with PyTorch")
    args = parser.parse_args()
    args.pipelines = [p for p in args.pipelines.split(",") if p]
    try:
        args.threads = [int(t) for t in args.threads.split(",") if t]
        if not args.threads or min(args.threads) < 1:
            raise ValueError
    except ValueError:
        parser.error("--threads needs positive integers, e.g. 1,2")
    if not args.pipelines:
        parser.error("--pipelines needs at least one pipeline name or file")
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    args.iters = args.iters if args.iters is not None else (200 if args.tiny else 20)
    args.warmup = args.warmup if args.warmup is not None else (50 if args.tiny else 5)
    names = [m for m in (args.models.split(",") if args.models else DEFAULT_MODELS) if m]
    if args.tiny:
        names = [compare.tiny_name(m) for m in names]
    if not (BENCH_DIR / "node_modules" / "onnxruntime-node").is_dir():
        sys.exit("pipelines.py: onnxruntime-node is not installed: run `bash bench/setup.sh`")
    args.fluidml = Path(args.fluidml)
    if not os.access(args.fluidml, os.X_OK):
        sys.exit(f"pipelines.py: no fluidml binary at {args.fluidml} (build it, or pass --fluidml PATH)")
    args.fluidml_run_threads = True
    args.fluidml_bench_warmup = True

    ort_version = json.loads((BENCH_DIR / "node_modules" / "onnxruntime-node" / "package.json").read_text())["version"]
    now = datetime.datetime.now()
    started = time.time()
    rows = []
    with tempfile.TemporaryDirectory(prefix="fluidml-pipelines-") as tmp:
        for name in names:
            rows += bench_model(args, name, Path(tmp))
    meta = {
        "date": now.strftime("%Y-%m-%d %H:%M"),
        "cpu": compare.cpu_name(),
        "cpus": os.cpu_count(),
        "engine_ort": f"onnxruntime-node {ort_version} (CPU EP, graph optimization all)",
        "fluidml_commit": compare.git_commit(),
        "pipelines": args.pipelines,
        "threads": args.threads,
        "rounds": args.rounds,
        "iters": args.iters,
        "warmup": args.warmup,
        "seconds": round(time.time() - started, 1),
    }
    text = markdown(rows, meta, args.pipelines)
    print(text, end="")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    tag = args.tag or (now.strftime("%Y-%m-%d") + "-pipelines" + ("-tiny" if args.tiny else ""))
    (out_dir / f"{tag}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    (out_dir / f"{tag}.md").write_text(text)
    log(f"pipelines.py: wrote {out_dir / (tag + '.json')} and {out_dir / (tag + '.md')}")
    return 1 if any(r.get("errors") or r.get("error") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
