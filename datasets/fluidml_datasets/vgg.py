"""VGG-16 (Simonyan & Zisserman 2015): torchvision's VGG, configuration "D" (13 3x3 convolutions, 5 max pools, three
fully connected layers), no batch norm.

torchvision's VGG constructor fixes the classifier at 512*7*7 -> 4096 -> 4096; the tiny variant keeps the same 13 + 3
layer structure with every width divided by 16 (conv 4..32, FC 64) and a 64x64 input, so its classifier and the
adaptive pool (2x2 here, 7x7 in the full model: in both the pool sees exactly its output size) are replaced.
"""
from typing import Dict

from torch import nn
from torchvision.models import vgg
from torchvision.models import vgg16

from .spec import DatasetSpec, image_inputs

TINY_CFG = [4, 4, "M", 8, 8, "M", 16, 16, 16, "M", 32, 32, 32, "M", 32, 32, 32, "M"]


def build(c: Dict) -> nn.Module:
    if not c["tiny"]:
        return vgg16(weights=None, num_classes=c["num_classes"]).eval()
    model = vgg.VGG(vgg.make_layers(TINY_CFG, batch_norm=False), num_classes=c["num_classes"])
    side = c["image_size"] // 32
    model.avgpool = nn.AdaptiveAvgPool2d((side, side))
    model.classifier = nn.Sequential(
        nn.Linear(32 * side * side, 64), nn.ReLU(True), nn.Dropout(),
        nn.Linear(64, 64), nn.ReLU(True), nn.Dropout(),
        nn.Linear(64, c["num_classes"]))
    # torchvision draws classifier weights from normal(0, 0.01), sized for fan-ins of 25088 and 4096; at these
    # widths that would shrink the logits to ~1e-4, below any useful comparison tolerance. The standard deviation
    # is scaled so that each layer keeps the full model's gain.
    full_fan_in = iter([512 * 7 * 7, 4096, 4096])
    for m in model.classifier:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01 * (next(full_fan_in) / m.in_features) ** 0.5)
            nn.init.constant_(m.bias, 0)
    return model.eval()


SOURCE = "VGG-16 (Simonyan & Zisserman 2015), torchvision.models.vgg16(weights=None), configuration D"
SPECS = [
    DatasetSpec("vgg16", "vgg16", SOURCE, dict(tiny=False, num_classes=1000, image_size=224), build, image_inputs,
                ("logits",)),
    DatasetSpec("vgg16-tiny", "vgg16",
                SOURCE + " (reduced: widths / 16, classifier 128 -> 64 -> 64 -> 10, 64x64 input)",
                dict(tiny=True, cfg=TINY_CFG, num_classes=10, image_size=64), build, image_inputs, ("logits",)),
]
