"""ConvBERT (Jiang et al. 2020) with the module structure of Hugging Face's ConvBertModel (conv-bert-base config):
BERT embeddings and post-LN layers whose self-attention is the mixed attention block. With head_ratio 2 half of
the hidden width goes to ordinary self-attention heads and half to span-based dynamic convolution:

  key_conv = SeparableConv1D(hidden)                    depthwise conv (kernel 9) + pointwise conv + bias
  kernel   = softmax(Linear(key_conv * query))          one 9-tap kernel per position and head
  out      = sum_j kernel[j] * conv_out[pos + j - 4]    over the zero-padded 9-neighbourhood of Linear(hidden)

Hugging Face gathers the neighbourhood with nn.functional.unfold; here it is zero padding + 9 shifted slices
stacked on a new last axis, which is the same tensor [batch, seq, all_head, 9] and exports as Concat/Slice.
"""
import math
from typing import Dict

import torch
from torch import nn

from .bert import BertEmbeddings, BertLayer, extended_attention_mask
from .spec import DatasetSpec, token_inputs
from .weights import init_transformer_


class SeparableConv1D(nn.Module):
    """Depthwise conv over the sequence, pointwise conv to `out_channels`, plus a bias; on [batch, channels, seq]."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__()
        self.depthwise = nn.Conv1d(in_channels, in_channels, kernel_size, groups=in_channels,
                                   padding=kernel_size // 2, bias=False)
        self.pointwise = nn.Conv1d(in_channels, out_channels, kernel_size=1, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x)) + self.bias


class ConvBertSelfAttention(nn.Module):
    """Mixed attention: num_attention_heads / head_ratio self-attention heads, concatenated with as many
    span-based dynamic convolution heads; each head has (hidden / heads) / 2 channels."""

    def __init__(self, c: Dict):
        super().__init__()
        self.num_heads = max(1, c["num_attention_heads"] // c["head_ratio"])
        self.head_size = (c["hidden_size"] // self.num_heads) // 2
        self.all_head_size = self.num_heads * self.head_size
        self.kernel_size = c["conv_kernel_size"]
        hidden = c["hidden_size"]
        self.query = nn.Linear(hidden, self.all_head_size)
        self.key = nn.Linear(hidden, self.all_head_size)
        self.value = nn.Linear(hidden, self.all_head_size)
        self.key_conv_attn_layer = SeparableConv1D(hidden, self.all_head_size, self.kernel_size)
        self.conv_kernel_layer = nn.Linear(self.all_head_size, self.num_heads * self.kernel_size)
        self.conv_out_layer = nn.Linear(hidden, self.all_head_size)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], x.shape[1], self.num_heads, self.head_size).permute(0, 2, 1, 3)

    def neighbourhoods(self, x: torch.Tensor) -> torch.Tensor:
        """[batch, seq, channels] -> [batch, seq, channels, kernel]: element j is x at position pos + j - pad, zero
        outside the sequence (what unfold with kernel [k, 1] and padding [pad, 0] gives)."""
        batch, seq, channels = x.shape
        pad = (self.kernel_size - 1) // 2
        # Zeros concatenated rather than nn.functional.pad: torch exports the latter with a pads subgraph (a
        # Slice with step -1) that its constant folding cannot fold, hiding every later shape from inference.
        zeros = torch.zeros(batch, pad, channels, dtype=x.dtype)
        padded = torch.cat([zeros, x, zeros], dim=1)
        return torch.stack([padded[:, j:j + seq, :] for j in range(self.kernel_size)], dim=-1)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch, seq = hidden.shape[0], hidden.shape[1]
        mixed_query = self.query(hidden)
        key_conv = self.key_conv_attn_layer(hidden.transpose(1, 2)).transpose(1, 2)

        # Dynamic convolution: a softmax-normalized kernel per (position, head) applied to the neighbourhood.
        conv_kernel = self.conv_kernel_layer(key_conv * mixed_query)
        conv_kernel = torch.softmax(torch.reshape(conv_kernel, [-1, self.kernel_size, 1]), dim=1)
        conv_out = self.neighbourhoods(self.conv_out_layer(hidden))
        conv_out = torch.reshape(conv_out, [-1, self.head_size, self.kernel_size])
        conv_out = torch.reshape(torch.matmul(conv_out, conv_kernel), [batch, seq, self.num_heads, self.head_size])

        q, k, v = self.split_heads(mixed_query), self.split_heads(self.key(hidden)), \
            self.split_heads(self.value(hidden))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_size) + mask
        context = torch.matmul(torch.softmax(scores, dim=-1), v).permute(0, 2, 1, 3)
        mixed = torch.cat([context, conv_out], dim=2)
        return mixed.reshape(batch, seq, 2 * self.all_head_size)


class ConvBertModel(nn.Module):
    """Inputs input_ids, attention_mask, token_type_ids [batch, seq] int64; output last_hidden_state (ConvBertModel
    has no pooler)."""

    def __init__(self, c: Dict):
        super().__init__()
        self.embeddings = BertEmbeddings(c, c["embedding_size"])
        if c["embedding_size"] != c["hidden_size"]:
            self.embeddings_project = nn.Linear(c["embedding_size"], c["hidden_size"])
        self.encoder = nn.ModuleList(BertLayer(c, ConvBertSelfAttention(c)) for _ in range(c["num_hidden_layers"]))

    def forward(self, input_ids, attention_mask, token_type_ids):
        mask = extended_attention_mask(attention_mask)
        hidden = self.embeddings(input_ids, token_type_ids)
        if hasattr(self, "embeddings_project"):
            hidden = self.embeddings_project(hidden)
        for layer in self.encoder:
            hidden = layer(hidden, mask)
        return hidden


BASE_CONFIG = dict(vocab_size=30522, embedding_size=768, hidden_size=768, num_hidden_layers=12,
                   num_attention_heads=12, head_ratio=2, conv_kernel_size=9, num_groups=1, intermediate_size=3072,
                   max_position_embeddings=512, type_vocab_size=2, layer_norm_eps=1e-12, pad_token_id=0,
                   seq_len=128)
# 4 configured heads with head_ratio 2: 2 self-attention heads + 2 dynamic-convolution heads of 16 channels.
TINY_CONFIG = dict(BASE_CONFIG, vocab_size=1000, embedding_size=64, hidden_size=64, num_hidden_layers=2,
                   num_attention_heads=4, intermediate_size=128, max_position_embeddings=64, seq_len=16)

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


def build(c: Dict) -> nn.Module:
    if c["num_groups"] != 1:
        raise ValueError("only num_groups 1 (plain Linear FFN) is implemented")
    model = ConvBertModel(c)
    init_transformer_(model)
    with torch.no_grad():
        for sub in model.modules():
            if isinstance(sub, SeparableConv1D):
                sub.bias.normal_(0.0, 0.02)
    return model.eval()


def make_inputs(c: Dict, rng):
    # ConvBERT uses BERT's uncased WordPiece vocabulary: [CLS] 101, [SEP] 102, [PAD] 0.
    return token_inputs(c, rng, INPUT_NAMES, first_id=101, last_id=102, pad_id=c["pad_token_id"])


SOURCE = ("ConvBERT-base (Jiang et al. 2020), Hugging Face ConvBertModel structure: mixed attention with head_ratio "
          "2 (self-attention heads + span-based dynamic convolution, kernel 9), num_groups 1, post-LN, erf GELU")
NOTES = ["the unfold of the dynamic convolution is written as zero padding + 9 stacked shifted slices (same values)"]
SPECS = [
    DatasetSpec("convbert-base", "convbert", SOURCE, BASE_CONFIG, build, make_inputs, ("last_hidden_state",),
                NOTES),
    DatasetSpec("convbert-tiny", "convbert",
                SOURCE + " (reduced: 2 layers, hidden 64, 2 attention + 2 convolution heads, FFN 128, vocab 1000)",
                TINY_CONFIG, build, make_inputs, ("last_hidden_state",), NOTES),
]
