"""EfficientNet-B0 (Tan & Le 2019): torchvision's EfficientNet with the B0 MBConv settings (SiLU, squeeze and
excitation, depthwise 3x3/5x5 convolutions, BatchNorm).

The tiny variant is torchvision's EfficientNet built from the same B0 settings with width_mult 0.25 and
depth_mult 0.5 (MBConvConfig scales channels to multiples of 8 and rounds layer counts up) on a 64x64 input.
"""
from functools import partial
from typing import Dict

from torch import nn
from torchvision.models import efficientnet

from .spec import DatasetSpec, image_inputs
from .weights import perturb_batchnorm_

# (expand_ratio, kernel, stride, input_channels, out_channels, num_layers) of EfficientNet-B0's seven stages.
B0_STAGES = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
             (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1)]


def build(c: Dict) -> nn.Module:
    stage = partial(efficientnet.MBConvConfig, width_mult=c["width_mult"], depth_mult=c["depth_mult"])
    settings = [stage(*s) for s in B0_STAGES]
    model = efficientnet.EfficientNet(settings, dropout=0.2, stochastic_depth_prob=0.2, num_classes=c["num_classes"])
    perturb_batchnorm_(model)
    return model.eval()


SOURCE = "EfficientNet-B0 (Tan & Le 2019), torchvision.models.efficientnet_b0(weights=None) structure"
NOTES = ["BatchNorm running statistics and affine parameters perturbed away from the identity"]
SPECS = [
    DatasetSpec("efficientnet-b0", "efficientnet-b0", SOURCE,
                dict(width_mult=1.0, depth_mult=1.0, num_classes=1000, image_size=224), build, image_inputs,
                ("logits",), NOTES),
    DatasetSpec("efficientnet-b0-tiny", "efficientnet-b0",
                SOURCE + " (reduced: width_mult 0.25, depth_mult 0.5, 10 classes, 64x64 input)",
                dict(width_mult=0.25, depth_mult=0.5, num_classes=10, image_size=64), build, image_inputs,
                ("logits",), NOTES),
]
