#!/usr/bin/env python3
"""Compares two fluidml builds (A = before a change, B = after) on the same models, interleaved.

    /usr/bin/python3 bench/ab.py --a /path/to/old/build/tools/fluidml --b build/tools/fluidml \
        [--models resnet50,bert-base] [--threads 1] [--rounds 3] [--iters 20] [--pipeline fluidml]

Each round runs `fluidml bench MODEL --json` with A then B (alternating which goes first), each in its own process,
so both see the same machine load; the table gives each build's median of round medians, the min-max of its
round medians, and the ratio B/A. Shared machines drift up to 2x from day to day: only these ratios mean anything.
Datasets come from datasets/cache (made with `fluidml datasets make NAME` when missing).
"""
import argparse
import json
import statistics
import sys

from bench_common import DEFAULT_MODELS, BenchError, dataset_dir, log, run_process


def bench_once(fluidml, model, args):
    out = run_process([fluidml, "bench", model, "--json", "--threads", args.threads, "--iters", args.iters,
                       "--pipeline", args.pipeline], timeout=3600)
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", required=True, help="the fluidml binary before the change")
    parser.add_argument("--b", required=True, help="the fluidml binary after the change")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--pipeline", default="fluidml")
    args = parser.parse_args()
    if args.rounds < 1 or args.iters < 1 or args.threads < 1:
        print("error: --rounds, --iters and --threads must be at least 1", file=sys.stderr)
        return 2

    print(f"| model | threads | A ms (min-max) | B ms (min-max) | B/A | A arena MiB | B arena MiB |")
    print("|---|---|---|---|---|---|---|")
    for name in [m for m in args.models.split(",") if m]:
        try:
            model = dataset_dir(args.b, name) / "model.onnx"
            medians = {"a": [], "b": []}
            arena = {}
            for r in range(args.rounds):
                order = ["a", "b"] if r % 2 == 0 else ["b", "a"]
                for which in order:
                    result = bench_once(getattr(args, which), model, args)
                    medians[which].append(result["latency_ms"])
                    arena[which] = result["arena_bytes"] / 2**20
                log(f"[{name}] round {r + 1}: A {medians['a'][-1]:.2f} ms, B {medians['b'][-1]:.2f} ms")
        except BenchError as e:
            print(f"| {name} | {args.threads} | error: {e} | | | | |")
            continue
        a, b = statistics.median(medians["a"]), statistics.median(medians["b"])
        print(f"| {name} | {args.threads} | {a:.2f} ({min(medians['a']):.2f}-{max(medians['a']):.2f}) | "
              f"{b:.2f} ({min(medians['b']):.2f}-{max(medians['b']):.2f}) | {b / a:.3f} | "
              f"{arena['a']:.2f} | {arena['b']:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
