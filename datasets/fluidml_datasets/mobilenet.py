"""MobileNetV2 (Sandler et al. 2018): torchvision's MobileNetV2 (inverted residuals with linear bottlenecks,
ReLU6, depthwise 3x3 convolutions, BatchNorm).

The tiny variant is torchvision's MobileNetV2 with width_mult 0.5 and a shortened inverted-residual setting (the
same seven stages, one block each) on a 64x64 input.
"""
from typing import Dict

from torch import nn
from torchvision.models import MobileNetV2

from .spec import DatasetSpec, image_inputs
from .weights import perturb_batchnorm_

# (expand t, channels c, repeats n, stride s) of the seven stages; the full model's repeats are 1,2,3,4,3,3,1.
TINY_SETTING = [[1, 16, 1, 1], [6, 24, 1, 2], [6, 32, 1, 2], [6, 64, 1, 2], [6, 96, 1, 1], [6, 160, 1, 2],
                [6, 320, 1, 1]]


def build(c: Dict) -> nn.Module:
    model = MobileNetV2(num_classes=c["num_classes"], width_mult=c["width_mult"],
                        inverted_residual_setting=c["inverted_residual_setting"])
    perturb_batchnorm_(model)
    return model.eval()


SOURCE = "MobileNetV2 (Sandler et al. 2018), torchvision.models.mobilenet_v2(weights=None) structure"
NOTES = ["BatchNorm running statistics and affine parameters perturbed away from the identity"]
SPECS = [
    DatasetSpec("mobilenet-v2", "mobilenet-v2", SOURCE,
                dict(width_mult=1.0, inverted_residual_setting=None, num_classes=1000, image_size=224), build,
                image_inputs, ("logits",), NOTES),
    DatasetSpec("mobilenet-v2-tiny", "mobilenet-v2",
                SOURCE + " (reduced: width_mult 0.5, one block per stage, 10 classes, 64x64 input)",
                dict(width_mult=0.5, inverted_residual_setting=TINY_SETTING, num_classes=10, image_size=64), build,
                image_inputs, ("logits",), NOTES),
]
