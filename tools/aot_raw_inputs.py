"""The raw input file of fluidml-aot-run (tools/aot_run.c): every input's bytes, concatenated in the compiled
model's input order (DIR/model.json), taken from a dataset's input_K.pb files matched by name. Shared by
tests/datasets/check_dataset.py and bench/aot_memory.py."""
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper


def read_tensor(path: Path):
    """(name, array) of a serialized TensorProto."""
    tensor = onnx.TensorProto()
    tensor.ParseFromString(path.read_bytes())
    return tensor.name, numpy_helper.to_array(tensor)


def raw_inputs(test_data_dir: Path, model_json: Path):
    """(bytes, names of dataset inputs the model does not take); ValueError when an input is missing or differs."""
    provided = dict(read_tensor(path) for path in sorted(test_data_dir.glob("input_*.pb")))
    raw = bytearray()
    for spec in json.loads(model_json.read_text())["inputs"]:
        value = provided.pop(spec["name"], None)
        if value is None:
            raise ValueError(f"the compiled model's input '{spec['name']}' has no .pb in the dataset")
        if str(value.dtype) != spec["dtype"] or list(value.shape) != list(spec["shape"]):
            raise ValueError(f"input '{spec['name']}' is {value.dtype}{list(value.shape)} in the dataset, "
                             f"{spec['dtype']}{list(spec['shape'])} in the compiled model")
        data = np.ascontiguousarray(value).tobytes()
        assert len(data) == spec["bytes"], (spec, len(data))
        raw += data
    return bytes(raw), sorted(provided)
