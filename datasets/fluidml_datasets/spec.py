"""What a dataset is: a named PyTorch model, its configuration, and how to make valid inputs for it.

Each family module (bert.py, resnet.py, ...) exports SPECS, a list of DatasetSpec; __init__.py gathers them.
"""
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Tuple

import numpy as np
import torch


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset: `build(config)` makes the eval-mode module, `make_inputs(config, rng)` its inputs."""

    name: str
    family: str
    source: str  # the published architecture this follows, in a sentence
    config: Dict
    build: Callable[[Dict], torch.nn.Module]
    make_inputs: Callable[[Dict, np.random.Generator], List[Tuple[str, np.ndarray]]]
    output_names: Tuple[str, ...]
    notes: List[str] = field(default_factory=list)  # deviations from the source worth knowing about


def token_inputs(config: Dict, rng: np.random.Generator, names: Tuple[str, ...], *, first_id: int, last_id: int,
                 pad_id: int) -> List[Tuple[str, np.ndarray]]:
    """Token-model inputs of shape [1, seq]: ids drawn below the vocabulary size, framed by the model's start and
    end tokens, then padding; the attention mask is one except on the padded tail so that masking matters;
    token type ids are zeros. Returns (name, array) in the order of `names`."""
    seq, vocab = config["seq_len"], config["vocab_size"]
    num_pad = max(2, seq // 16)
    special = {first_id, last_id, pad_id}
    ids = rng.integers(0, vocab, size=seq, dtype=np.int64)
    # Ordinary tokens avoid the special ids, as a tokenizer's output would.
    for i in range(seq):
        while int(ids[i]) in special:
            ids[i] = rng.integers(0, vocab)
    valid = seq - num_pad
    ids[0], ids[valid - 1], ids[valid:] = first_id, last_id, pad_id
    mask = np.ones(seq, dtype=np.int64)
    mask[valid:] = 0
    arrays = {
        "input_ids": ids[None, :],
        "attention_mask": mask[None, :],
        "token_type_ids": np.zeros((1, seq), dtype=np.int64),
    }
    return [(name, arrays[name]) for name in names]


def image_inputs(config: Dict, rng: np.random.Generator) -> List[Tuple[str, np.ndarray]]:
    """One [1, 3, H, W] float32 image, standard-normal like an ImageNet-normalized picture."""
    size = config["image_size"]
    return [("pixel_values", rng.standard_normal((1, 3, size, size)).astype(np.float32))]
