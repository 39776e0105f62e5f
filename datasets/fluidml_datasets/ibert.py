"""I-BERT (Kim et al. 2021) in Hugging Face IBertModel's float mode (quant_mode=False), i.e. the RoBERTa-base
structure: position ids computed in the graph from input_ids (cumsum of the non-padding mask, offset by padding_idx
1), a single token type, post-LN encoder layers with erf GELU, LayerNorm eps 1e-5, and the tanh pooler.

In float mode I-BERT's IntLayerNorm is the textbook formula written out (mean, centred variance, divide by
sqrt(var + eps), scale and shift), so it exports as ReduceMean/Sub/Pow/Sqrt/Div rather than LayerNormalization;
QuantLinear, QuantEmbedding, IntGELU and IntSoftmax are the plain float operations.
"""
import math
from typing import Dict

import torch
from torch import nn

from .bert import extended_attention_mask
from .spec import DatasetSpec, token_inputs
from .weights import init_transformer_


class IntLayerNorm(nn.LayerNorm):
    """I-BERT's layer norm in float mode: the same parameters as nn.LayerNorm, computed step by step."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centred = x - x.mean(dim=2, keepdim=True)
        variance = torch.mean(centred ** 2, dim=2, keepdim=True)
        return centred / torch.sqrt(self.eps + variance) * self.weight + self.bias


def position_ids_from_input_ids(input_ids: torch.Tensor, padding_idx: int) -> torch.Tensor:
    """RoBERTa's positions: padding_idx + 1, + 2, ... over non-padding tokens, padding_idx on padding tokens."""
    mask = input_ids.ne(padding_idx).int()
    incremental = torch.cumsum(mask, dim=1).type_as(mask) * mask
    return incremental.long() + padding_idx


class IBertEmbeddings(nn.Module):
    def __init__(self, c: Dict):
        super().__init__()
        self.padding_idx = c["pad_token_id"]
        hidden = c["hidden_size"]
        self.word_embeddings = nn.Embedding(c["vocab_size"], hidden, padding_idx=self.padding_idx)
        self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], hidden)
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], hidden, padding_idx=self.padding_idx)
        self.LayerNorm = IntLayerNorm(hidden, eps=c["layer_norm_eps"])

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = position_ids_from_input_ids(input_ids, self.padding_idx)
        token_types = torch.zeros_like(input_ids)  # IBertModel's default when no token_type_ids are passed
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_types)
        return self.LayerNorm(x + self.position_embeddings(positions))


class IBertLayer(nn.Module):
    """Self-attention -> dense -> add & IntLayerNorm -> dense, GELU, dense -> add & IntLayerNorm."""

    def __init__(self, c: Dict):
        super().__init__()
        hidden, eps = c["hidden_size"], c["layer_norm_eps"]
        self.num_heads = c["num_attention_heads"]
        self.head_size = hidden // self.num_heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.attention_output = nn.Linear(hidden, hidden)
        self.attention_norm = IntLayerNorm(hidden, eps=eps)
        self.intermediate = nn.Linear(hidden, c["intermediate_size"])
        self.gelu = nn.GELU()
        self.output = nn.Linear(c["intermediate_size"], hidden)
        self.output_norm = IntLayerNorm(hidden, eps=eps)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], x.shape[1], self.num_heads, self.head_size).permute(0, 2, 1, 3)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        q, k, v = self.split_heads(self.query(hidden)), self.split_heads(self.key(hidden)), \
            self.split_heads(self.value(hidden))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_size) + mask
        context = torch.matmul(torch.softmax(scores, dim=-1), v).permute(0, 2, 1, 3).contiguous()
        context = context.view(context.shape[0], context.shape[1], self.num_heads * self.head_size)
        attended = self.attention_norm(self.attention_output(context) + hidden)
        return self.output_norm(self.output(self.gelu(self.intermediate(attended))) + attended)


class IBertModel(nn.Module):
    """Inputs input_ids, attention_mask [batch, seq] int64; outputs last_hidden_state and pooler_output."""

    def __init__(self, c: Dict):
        super().__init__()
        self.embeddings = IBertEmbeddings(c)
        self.encoder = nn.ModuleList(IBertLayer(c) for _ in range(c["num_hidden_layers"]))
        self.pooler = nn.Linear(c["hidden_size"], c["hidden_size"])

    def forward(self, input_ids, attention_mask):
        mask = extended_attention_mask(attention_mask)
        hidden = self.embeddings(input_ids)
        for layer in self.encoder:
            hidden = layer(hidden, mask)
        return hidden, torch.tanh(self.pooler(hidden[:, 0]))


BASE_CONFIG = dict(vocab_size=50265, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                   intermediate_size=3072, max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5,
                   pad_token_id=1, quant_mode=False, seq_len=128)
TINY_CONFIG = dict(BASE_CONFIG, vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                   intermediate_size=128, max_position_embeddings=66, seq_len=16)

INPUT_NAMES = ("input_ids", "attention_mask")
BOS_ID, EOS_ID = 0, 2  # RoBERTa's <s> and </s>; <pad> is 1


def build(c: Dict) -> nn.Module:
    model = IBertModel(c)
    init_transformer_(model)
    return model.eval()


def make_inputs(c: Dict, rng):
    return token_inputs(c, rng, INPUT_NAMES, first_id=BOS_ID, last_id=EOS_ID, pad_id=c["pad_token_id"])


SOURCE = ("I-BERT-base (Kim et al. 2021) float mode = RoBERTa-base structure (Hugging Face IBertModel, "
          "quant_mode=False): cumsum position ids with padding_idx 1, post-LN with explicit layer norm eps 1e-5, "
          "erf GELU, tanh pooler")
SPECS = [
    DatasetSpec("ibert-base", "ibert", SOURCE, BASE_CONFIG, build, make_inputs,
                ("last_hidden_state", "pooler_output")),
    DatasetSpec("ibert-tiny", "ibert", SOURCE + " (reduced: 2 layers, hidden 64, 4 heads, FFN 128, vocab 1000)",
                TINY_CONFIG, build, make_inputs, ("last_hidden_state", "pooler_output")),
]
