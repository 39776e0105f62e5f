"""BERT (Devlin et al. 2019) with the module structure of Hugging Face's BertModel (bert-base-uncased config):
embeddings (word + position + token type, LayerNorm eps 1e-12), post-LN encoder layers with erf GELU, an additive
extended attention mask (1 - mask) * float32 min, and the pooler (dense + tanh on the first token).

The pieces here (embeddings, the extended mask, the attention output / FFN blocks) are reused by convbert.py.
"""
import math
from typing import Dict

import torch
from torch import nn

from .spec import DatasetSpec, token_inputs
from .weights import init_transformer_


def extended_attention_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """[batch, seq] 0/1 mask -> [batch, 1, 1, seq] additive mask: 0 where attended, float32 min where masked."""
    mask = attention_mask[:, None, None, :].to(torch.float32)
    return (1.0 - mask) * torch.finfo(torch.float32).min


class BertEmbeddings(nn.Module):
    """Word + absolute position + token type embeddings, then LayerNorm (dropout is a no-op in eval)."""

    def __init__(self, c: Dict, embedding_size: int):
        super().__init__()
        self.word_embeddings = nn.Embedding(c["vocab_size"], embedding_size, padding_idx=c["pad_token_id"])
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], embedding_size)
        self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], embedding_size)
        self.LayerNorm = nn.LayerNorm(embedding_size, eps=c["layer_norm_eps"])
        self.register_buffer("position_ids", torch.arange(c["max_position_embeddings"])[None, :], persistent=False)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        positions = self.position_ids[:, : input_ids.shape[1]]
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        return self.LayerNorm(x + self.position_embeddings(positions))


class BertSelfAttention(nn.Module):
    """Multi-head scaled dot-product self-attention with an additive mask."""

    def __init__(self, c: Dict):
        super().__init__()
        self.num_heads = c["num_attention_heads"]
        self.head_size = c["hidden_size"] // self.num_heads
        hidden = c["hidden_size"]
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], x.shape[1], self.num_heads, self.head_size).permute(0, 2, 1, 3)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        q, k, v = self.split_heads(self.query(hidden)), self.split_heads(self.key(hidden)), \
            self.split_heads(self.value(hidden))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_size) + mask
        context = torch.matmul(torch.softmax(scores, dim=-1), v).permute(0, 2, 1, 3).contiguous()
        return context.view(context.shape[0], context.shape[1], self.num_heads * self.head_size)


class BertResidualOutput(nn.Module):
    """dense -> (dropout) -> LayerNorm(x + residual): BertSelfOutput and BertOutput in Hugging Face's code."""

    def __init__(self, in_features: int, c: Dict):
        super().__init__()
        self.dense = nn.Linear(in_features, c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class BertIntermediate(nn.Module):
    """dense up to the FFN width, erf GELU."""

    def __init__(self, c: Dict):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["intermediate_size"])
        self.intermediate_act_fn = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.intermediate_act_fn(self.dense(x))


class BertLayer(nn.Module):
    """attention -> add & norm -> FFN -> add & norm. `self_attention` is swappable (ConvBERT)."""

    def __init__(self, c: Dict, self_attention: nn.Module):
        super().__init__()
        self.attention_self = self_attention
        self.attention_output = BertResidualOutput(c["hidden_size"], c)
        self.intermediate = BertIntermediate(c)
        self.output = BertResidualOutput(c["intermediate_size"], c)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        attended = self.attention_output(self.attention_self(hidden, mask), hidden)
        return self.output(self.intermediate(attended), attended)


class BertPooler(nn.Module):
    """dense + tanh on the first token's hidden state."""

    def __init__(self, c: Dict):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(hidden[:, 0]))


class BertModel(nn.Module):
    """Inputs input_ids, attention_mask, token_type_ids [batch, seq] int64; outputs last_hidden_state
    [batch, seq, hidden] and pooler_output [batch, hidden]."""

    def __init__(self, c: Dict):
        super().__init__()
        self.embeddings = BertEmbeddings(c, c["hidden_size"])
        self.encoder = nn.ModuleList(BertLayer(c, BertSelfAttention(c)) for _ in range(c["num_hidden_layers"]))
        self.pooler = BertPooler(c)

    def forward(self, input_ids, attention_mask, token_type_ids):
        mask = extended_attention_mask(attention_mask)
        hidden = self.embeddings(input_ids, token_type_ids)
        for layer in self.encoder:
            hidden = layer(hidden, mask)
        return hidden, self.pooler(hidden)


BASE_CONFIG = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                   intermediate_size=3072, max_position_embeddings=512, type_vocab_size=2, layer_norm_eps=1e-12,
                   pad_token_id=0, seq_len=128)
TINY_CONFIG = dict(BASE_CONFIG, vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                   intermediate_size=128, max_position_embeddings=64, seq_len=16)

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
CLS_ID, SEP_ID = 101, 102  # bert-base-uncased's [CLS] and [SEP]


def build(c: Dict) -> nn.Module:
    model = BertModel(c)
    init_transformer_(model)
    return model.eval()


def make_inputs(c: Dict, rng):
    return token_inputs(c, rng, INPUT_NAMES, first_id=CLS_ID, last_id=SEP_ID, pad_id=c["pad_token_id"])


SOURCE = ("BERT-base-uncased (Devlin et al. 2019), Hugging Face BertModel structure: embeddings + LayerNorm "
          "eps 1e-12, post-LN encoder layers, erf GELU, (1 - mask) * float32-min attention mask, tanh pooler")
SPECS = [
    DatasetSpec("bert-base", "bert", SOURCE, BASE_CONFIG, build, make_inputs,
                ("last_hidden_state", "pooler_output")),
    DatasetSpec("bert-tiny", "bert", SOURCE + " (reduced: 2 layers, hidden 64, 4 heads, FFN 128, vocab 1000)",
                TINY_CONFIG, build, make_inputs, ("last_hidden_state", "pooler_output")),
]
