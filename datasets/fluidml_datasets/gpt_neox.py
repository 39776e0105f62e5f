"""GPT-NeoX (Black et al. 2022) with the Pythia-160m configuration and the module structure of Hugging Face's
GPTNeoXForCausalLM: token embedding, pre-LN layers with the parallel residual x + attn(ln1(x)) + mlp(ln2(x)),
fused QKV projection laid out per head, rotary position embedding on the first 25% of each head's dims
(rotate_half style, base 10000), a causal mask (lower triangle, float32 min elsewhere) plus the additive padding
mask, erf GELU MLP, final LayerNorm and an untied, bias-free LM head. No KV cache.
"""
from typing import Dict

import torch
from torch import nn

from .bert import extended_attention_mask
from .spec import DatasetSpec, token_inputs
from .weights import init_transformer_


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """[x1, x2] -> [-x2, x1] on the last axis."""
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class RotaryEmbedding(nn.Module):
    """cos/sin tables [positions, rotary_dims] for rotary position embedding (frequencies repeated twice)."""

    def __init__(self, dims: int, max_positions: int, base: float):
        super().__init__()
        inv_freq = 1.0 / (base ** (torch.arange(0, dims, 2).float() / dims))
        freqs = torch.outer(torch.arange(max_positions).float(), inv_freq)
        table = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("cos_cached", table.cos(), persistent=False)
        self.register_buffer("sin_cached", table.sin(), persistent=False)

    def forward(self, seq_len: int):
        return self.cos_cached[:seq_len], self.sin_cached[:seq_len]


class GPTNeoXAttention(nn.Module):
    def __init__(self, c: Dict):
        super().__init__()
        hidden = c["hidden_size"]
        self.num_heads = c["num_attention_heads"]
        self.head_size = hidden // self.num_heads
        self.rotary_ndims = int(self.head_size * c["rotary_pct"])
        self.rotary_emb = RotaryEmbedding(self.rotary_ndims, c["max_position_embeddings"], c["rotary_emb_base"])
        self.norm_factor = self.head_size ** 0.5
        self.query_key_value = nn.Linear(hidden, 3 * hidden)
        self.dense = nn.Linear(hidden, hidden)

    def rotate(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        rot, rest = x[..., : self.rotary_ndims], x[..., self.rotary_ndims:]
        return torch.cat((rot * cos + rotate_half(rot) * sin, rest), dim=-1)

    def forward(self, hidden: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
        batch, seq = hidden.shape[0], hidden.shape[1]
        # The fused projection is [q | k | v] per head: [batch, seq, heads, 3 * head_size].
        qkv = self.query_key_value(hidden).view(batch, seq, self.num_heads, 3 * self.head_size)
        query = qkv[..., : self.head_size].permute(0, 2, 1, 3)
        key = qkv[..., self.head_size: 2 * self.head_size].permute(0, 2, 1, 3)
        value = qkv[..., 2 * self.head_size:].permute(0, 2, 1, 3)

        cos, sin = self.rotary_emb(seq)
        query, key = self.rotate(query, cos, sin), self.rotate(key, cos, sin)

        scores = torch.matmul(query, key.transpose(-1, -2)) / self.norm_factor
        causal = torch.tril(torch.ones(seq, seq, dtype=torch.bool, device=hidden.device))
        min_value = torch.full((), torch.finfo(scores.dtype).min, dtype=scores.dtype)
        scores = torch.where(causal, scores, min_value) + padding_mask
        context = torch.matmul(torch.softmax(scores, dim=-1), value)
        context = context.permute(0, 2, 1, 3).reshape(batch, seq, self.num_heads * self.head_size)
        return self.dense(context)


class GPTNeoXMLP(nn.Module):
    def __init__(self, c: Dict):
        super().__init__()
        self.dense_h_to_4h = nn.Linear(c["hidden_size"], c["intermediate_size"])
        self.act = nn.GELU()
        self.dense_4h_to_h = nn.Linear(c["intermediate_size"], c["hidden_size"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense_4h_to_h(self.act(self.dense_h_to_4h(x)))


class GPTNeoXLayer(nn.Module):
    def __init__(self, c: Dict):
        super().__init__()
        self.use_parallel_residual = c["use_parallel_residual"]
        self.input_layernorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.post_attention_layernorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.attention = GPTNeoXAttention(c)
        self.mlp = GPTNeoXMLP(c)

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
        attended = self.attention(self.input_layernorm(x), padding_mask)
        if self.use_parallel_residual:
            return self.mlp(self.post_attention_layernorm(x)) + attended + x
        x = attended + x
        return self.mlp(self.post_attention_layernorm(x)) + x


class GPTNeoXForCausalLM(nn.Module):
    """Inputs input_ids, attention_mask [batch, seq] int64; output logits [batch, seq, vocab]."""

    def __init__(self, c: Dict):
        super().__init__()
        self.embed_in = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList(GPTNeoXLayer(c) for _ in range(c["num_hidden_layers"]))
        self.final_layer_norm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.embed_out = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)

    def forward(self, input_ids, attention_mask):
        padding_mask = extended_attention_mask(attention_mask)
        hidden = self.embed_in(input_ids)
        for layer in self.layers:
            hidden = layer(hidden, padding_mask)
        return self.embed_out(self.final_layer_norm(hidden))


BASE_CONFIG = dict(vocab_size=50304, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                   intermediate_size=3072, rotary_pct=0.25, rotary_emb_base=10000, max_position_embeddings=2048,
                   layer_norm_eps=1e-5, use_parallel_residual=True, tie_word_embeddings=False, seq_len=128)
TINY_CONFIG = dict(BASE_CONFIG, vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                   intermediate_size=128, max_position_embeddings=64, seq_len=16)

INPUT_NAMES = ("input_ids", "attention_mask")
EOS_ID, PAD_ID = 0, 1  # Pythia's tokenizer: <|endoftext|> 0, <|padding|> 1


def build(c: Dict) -> nn.Module:
    model = GPTNeoXForCausalLM(c)
    init_transformer_(model)
    return model.eval()


def make_inputs(c: Dict, rng):
    return token_inputs(c, rng, INPUT_NAMES, first_id=EOS_ID, last_id=EOS_ID, pad_id=PAD_ID)


SOURCE = ("GPT-NeoX / Pythia-160m (Black et al. 2022; Biderman et al. 2023), Hugging Face GPTNeoXForCausalLM "
          "structure: parallel residual, rotary embedding on 25% of head dims (base 10000, rotate_half), causal + "
          "padding mask, erf GELU, final LayerNorm, untied LM head without bias")
SPECS = [
    DatasetSpec("gpt-neox", "gpt-neox", SOURCE, BASE_CONFIG, build, make_inputs, ("logits",)),
    DatasetSpec("gpt-neox-tiny", "gpt-neox", SOURCE + " (reduced: 2 layers, hidden 64, 4 heads, FFN 128, vocab 1000)",
                TINY_CONFIG, build, make_inputs, ("logits",)),
]
