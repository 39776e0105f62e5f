"""fluidml's model datasets: the model families of the FluidML paper, written in PyTorch, exported to ONNX with
random weights and PyTorch's own outputs as reference data. See datasets/make_dataset.py for the command line.
"""
from typing import Dict

from . import bert, convbert, efficientnet, gpt_neox, ibert, mobilenet, resnet, vgg
from .generate import GENERATOR_VERSION, generate
from .spec import DatasetSpec

_FAMILIES = (bert, convbert, ibert, gpt_neox, vgg, efficientnet, resnet, mobilenet)


def all_datasets() -> Dict[str, DatasetSpec]:
    """Every dataset by name, in listing order (families as in the paper, full size before tiny)."""
    return {spec.name: spec for family in _FAMILIES for spec in family.SPECS}


__all__ = ["DatasetSpec", "GENERATOR_VERSION", "all_datasets", "generate"]
