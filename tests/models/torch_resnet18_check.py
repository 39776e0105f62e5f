#!/usr/bin/python3
"""Exports torchvision's resnet18 (random weights, fixed seed, opset 17) with Debian's PyTorch, runs it with
`fluidml run` and checks fluidml's output against PyTorch's within 1e-4 (max absolute difference).

Exits 77 (ctest's skip code) when python3-torch / python3-torchvision are not installed.
usage: torch_resnet18_check.py FLUIDML_BINARY WORK_DIR
"""
import os
import subprocess
import sys

try:
    import numpy as np
    import onnx
    from onnx import numpy_helper
    import torch
    import torchvision
except ImportError as error:
    print(f"SKIPPED: {error} (install python3-torch python3-torchvision)")
    sys.exit(77)

TOLERANCE = 1e-4


def main():
    fluidml, work = sys.argv[1], sys.argv[2]
    os.makedirs(os.path.join(work, "inputs"), exist_ok=True)
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(x).numpy()
    path = os.path.join(work, "resnet18.onnx")
    torch.onnx.export(model, x, path, opset_version=17, input_names=["input"], output_names=["logits"])
    with open(os.path.join(work, "inputs", "input_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(x.numpy(), "input").SerializeToString())

    out_dir = os.path.join(work, "outputs")
    run = subprocess.run([fluidml, "run", path, "--inputs", os.path.join(work, "inputs"), "--outputs", out_dir],
                         capture_output=True, text=True)
    print(run.stdout)
    if run.returncode != 0:
        print(run.stderr)
        sys.exit(1)
    tensor = onnx.TensorProto()
    with open(os.path.join(out_dir, "output_0.pb"), "rb") as f:
        tensor.ParseFromString(f.read())
    actual = numpy_helper.to_array(tensor)
    diff = float(np.max(np.abs(actual - expected)))
    print(f"resnet18: max |fluidml - torch| = {diff:.3g} (tolerance {TOLERANCE})")
    sys.exit(0 if actual.shape == expected.shape and diff <= TOLERANCE else 1)


if __name__ == "__main__":
    main()
