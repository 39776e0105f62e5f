"""ResNet-50 (He et al. 2016): torchvision's ResNet with Bottleneck blocks [3, 4, 6, 3] (v1.5: stride on the 3x3).

The tiny variant is torchvision's ResNet(Bottleneck, [1, 1, 1, 1]) with half-width bottlenecks
(width_per_group 32) on a 64x64 input: the same stem, stages and downsampling, one block per stage.
"""
from typing import Dict

from torch import nn
from torchvision.models import resnet

from .spec import DatasetSpec, image_inputs
from .weights import perturb_batchnorm_


def build(c: Dict) -> nn.Module:
    model = resnet.ResNet(resnet.Bottleneck, c["layers"], num_classes=c["num_classes"],
                          width_per_group=c["width_per_group"])
    perturb_batchnorm_(model)
    return model.eval()


SOURCE = "ResNet-50 (He et al. 2016), torchvision.models.resnet50(weights=None) structure"
NOTES = ["BatchNorm running statistics and affine parameters perturbed away from the identity"]
SPECS = [
    DatasetSpec("resnet50", "resnet50", SOURCE,
                dict(layers=[3, 4, 6, 3], width_per_group=64, num_classes=1000, image_size=224), build, image_inputs,
                ("logits",), NOTES),
    DatasetSpec("resnet50-tiny", "resnet50", SOURCE + " (reduced: Bottleneck [1, 1, 1, 1], width_per_group 32, "
                "10 classes, 64x64 input)",
                dict(layers=[1, 1, 1, 1], width_per_group=32, num_classes=10, image_size=64), build, image_inputs,
                ("logits",), NOTES),
]
