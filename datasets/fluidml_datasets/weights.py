"""Random weights: the published initializers, plus small perturbations of the parameters those initializers set
to constants (biases, norm scales and shifts, BatchNorm running statistics).

Why: with zero biases, unit norm scales and BatchNorm at mean 0 / variance 1, a compiler that dropped a bias add
or mis-folded a BatchNorm would still match PyTorch exactly. Perturbed, every parameter reaches the outputs.
All draws come from torch's global generator, seeded by the caller.
"""
import torch
from torch import nn


def init_transformer_(module: nn.Module, std: float = 0.02) -> None:
    """Hugging Face's BERT-family initializer (normal(0, std) for Linear, Conv1d and Embedding weights, the
    padding row of an embedding zero), with biases normal(0, std) and LayerNorm scale 1 + normal(0, 0.05),
    shift normal(0, 0.05) instead of the constants."""
    for sub in module.modules():
        if isinstance(sub, (nn.Linear, nn.Conv1d)):
            nn.init.normal_(sub.weight, 0.0, std)
            if sub.bias is not None:
                nn.init.normal_(sub.bias, 0.0, std)
        elif isinstance(sub, nn.Embedding):
            nn.init.normal_(sub.weight, 0.0, std)
            if sub.padding_idx is not None:
                with torch.no_grad():
                    sub.weight[sub.padding_idx].zero_()
        elif isinstance(sub, nn.LayerNorm):
            perturb_affine_(sub.weight, sub.bias, 0.05)


def perturb_affine_(weight: torch.Tensor, bias: torch.Tensor, scale: float) -> None:
    """Scale 1 + normal(0, scale), shift normal(0, scale)."""
    with torch.no_grad():
        weight.copy_(1.0 + scale * torch.randn_like(weight))
        bias.copy_(scale * torch.randn_like(bias))


def perturb_batchnorm_(module: nn.Module) -> None:
    """Keeps torchvision's initializer, then gives every BatchNorm running statistics and an affine transform
    that are not the identity, mild enough that deep networks keep activations of order one."""
    for sub in module.modules():
        if isinstance(sub, nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                sub.running_mean.copy_(0.1 * torch.randn_like(sub.running_mean))
                sub.running_var.copy_(0.75 + 0.5 * torch.rand_like(sub.running_var))
            if sub.affine:
                perturb_affine_(sub.weight, sub.bias, 0.1)
