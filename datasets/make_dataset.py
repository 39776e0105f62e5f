#!/usr/bin/python3
"""Makes one of fluidml's model datasets: a PyTorch model of a FluidML-paper family with random weights, exported to
ONNX (opset 17, batch 1, static shapes) with PyTorch's outputs on deterministic inputs as reference data.

usage: /usr/bin/python3 datasets/make_dataset.py NAME [-o DIR] [--seed N] [--force]
       /usr/bin/python3 datasets/make_dataset.py --list

Writes DIR/model.onnx, DIR/meta.json and DIR/test_data_set_0/{input,output}_K.pb (the ONNX conformance layout,
readable by `fluidml run MODEL --inputs DIR/test_data_set_0`). DIR defaults to datasets/cache/NAME-seedN. A
directory already holding the same dataset (name, seed, generator version) is reused; --force remakes it.
Needs Debian's python3-torch, python3-torchvision and python3-onnx; nothing is downloaded.
"""
import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import fluidml_datasets  # noqa: E402  (needs the path above)


def default_dir(name: str, seed: int) -> Path:
    return HERE / "cache" / f"{name}-seed{seed}"


def print_list(datasets) -> None:
    width = max(len(name) for name in datasets)
    for name, spec in datasets.items():
        print(f"{name:<{width}}  {spec.source}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", nargs="?", help="dataset name (see --list)")
    parser.add_argument("-o", "--output", type=Path, help="dataset directory (default datasets/cache/NAME-seedN)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and inputs (default 0)")
    parser.add_argument("--force", action="store_true", help="remake the dataset even if it is cached")
    parser.add_argument("--list", action="store_true", help="list the datasets and exit")
    args = parser.parse_args()

    datasets = fluidml_datasets.all_datasets()
    if args.list:
        print_list(datasets)
        return 0
    if args.name is None:
        parser.error("a dataset NAME is required (or --list)")
    if args.name not in datasets:
        print(f"error: unknown dataset '{args.name}'; known: {', '.join(datasets)}", file=sys.stderr)
        return 2
    if args.seed < 0:
        print(f"error: --seed must be non-negative, got {args.seed}", file=sys.stderr)
        return 2

    out_dir = args.output or default_dir(args.name, args.seed)
    start = time.monotonic()
    try:
        meta, made = fluidml_datasets.generate(datasets[args.name], out_dir, args.seed, force=args.force)
    except FileExistsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not made:
        print(f"{args.name}: cached in {out_dir}")
        return 0
    flops = meta["flops"]["total"]
    print(f"{args.name}: wrote {out_dir} in {time.monotonic() - start:.1f} s "
          f"({meta['parameters']:,} parameters, {flops / 1e9:.3f} GFLOPs, {meta['nodes']} nodes, "
          f"export {meta['export_seconds']:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
