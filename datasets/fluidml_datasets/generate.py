"""Makes one dataset directory: model.onnx, meta.json and test_data_set_0/{input,output}_K.pb.

Everything is written into a hidden sibling folder first and renamed into place at the end, so an interrupted or
failed run leaves either the previous dataset or nothing. meta.json doubles as the cache key: a directory whose
meta.json has the same name, seed and generator version is reused as is.
"""
import collections
import json
import os
import shutil
import time
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import onnx
import torch
import torchvision
from onnx import numpy_helper

from .flops import count_flops
from .spec import DatasetSpec

# Bump when a change to any model, input or export setting changes what a dataset holds: it invalidates caches.
GENERATOR_VERSION = 1
OPSET = 17


def _is_cached(meta_path: Path, spec: DatasetSpec, seed: int) -> bool:
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return False
    return (meta.get("name") == spec.name and meta.get("seed") == seed
            and meta.get("generator_version") == GENERATOR_VERSION)


def _write_tensor(path: Path, array: np.ndarray, name: str) -> None:
    path.write_bytes(numpy_helper.from_array(np.ascontiguousarray(array), name).SerializeToString())


def _describe(name: str, array: np.ndarray) -> Dict:
    return {"name": name, "dtype": str(array.dtype), "shape": list(array.shape)}


def _export(spec: DatasetSpec, seed: int, work: Path) -> Dict:
    """Builds, runs and exports the model into `work`; returns the meta.json contents."""
    torch.manual_seed(seed)
    model = spec.build(spec.config)
    inputs: List[Tuple[str, np.ndarray]] = spec.make_inputs(spec.config, np.random.default_rng(seed))
    input_names = [name for name, _ in inputs]
    args = tuple(torch.from_numpy(array) for _, array in inputs)
    with torch.no_grad():
        outputs = model(*args)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    if len(outputs) != len(spec.output_names):
        raise RuntimeError(f"{spec.name}: the model returns {len(outputs)} outputs, the spec names "
                           f"{len(spec.output_names)}")

    model_path = work / "model.onnx"
    start = time.monotonic()
    torch.onnx.export(model, args, str(model_path), opset_version=OPSET, do_constant_folding=True,
                      input_names=input_names, output_names=list(spec.output_names),
                      training=torch.onnx.TrainingMode.EVAL, export_params=True)
    export_seconds = time.monotonic() - start
    onnx.checker.check_model(str(model_path))
    proto = onnx.load(str(model_path))

    # The reference data is only meaningful if the graph's interface is exactly the module's.
    initializers = {init.name for init in proto.graph.initializer}
    graph_inputs = [i.name for i in proto.graph.input if i.name not in initializers]
    graph_outputs = [o.name for o in proto.graph.output]
    if graph_inputs != input_names or graph_outputs != list(spec.output_names):
        raise RuntimeError(f"{spec.name}: exported graph has inputs {graph_inputs} and outputs {graph_outputs}, "
                           f"expected {input_names} and {list(spec.output_names)}")

    data = work / "test_data_set_0"
    data.mkdir()
    for k, (name, array) in enumerate(inputs):
        _write_tensor(data / f"input_{k}.pb", array, name)
    output_arrays = [tensor.numpy() for tensor in outputs]
    for k, (name, array) in enumerate(zip(spec.output_names, output_arrays)):
        _write_tensor(data / f"output_{k}.pb", array, name)

    op_types = collections.Counter(node.op_type for node in proto.graph.node)
    return {
        "name": spec.name,
        "family": spec.family,
        "source": spec.source,
        "notes": spec.notes,
        "config": spec.config,
        "seed": seed,
        "inputs": [_describe(name, array) for name, array in inputs],
        "outputs": [_describe(name, array) for name, array in zip(spec.output_names, output_arrays)],
        "parameters": sum(p.numel() for p in model.parameters()),
        "onnx_initializer_elements": sum(int(np.prod(init.dims, dtype=np.int64)) for init in proto.graph.initializer),
        "flops": count_flops(proto),
        "nodes": len(proto.graph.node),
        "op_types": dict(sorted(op_types.items())),
        "opset": OPSET,
        "generator_version": GENERATOR_VERSION,
        "torch_version": torch.__version__,
        "torchvision_version": torchvision.__version__,
        "onnx_version": onnx.__version__,
        "export_seconds": round(export_seconds, 2),
    }


def generate(spec: DatasetSpec, out_dir: Path, seed: int, force: bool = False) -> Tuple[Dict, bool]:
    """Makes the dataset in `out_dir` unless it is already there; returns (meta, whether it was made now).

    An existing directory without a dataset's meta.json is only replaced with force=True, so a mistyped -o never
    deletes someone's files."""
    out_dir = Path(out_dir)
    meta_path = out_dir / "meta.json"
    if not force and _is_cached(meta_path, spec, seed):
        return json.loads(meta_path.read_text()), False
    if out_dir.exists() and not force and not meta_path.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} exists and is not a dataset directory; pass --force to replace it")

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        started = time.monotonic()
        meta = _export(spec, seed, work)
        meta["generate_seconds"] = round(time.monotonic() - started, 2)
        (work / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        if out_dir.exists():
            old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
            out_dir.rename(old)
            work.rename(out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            work.rename(out_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return meta, True
