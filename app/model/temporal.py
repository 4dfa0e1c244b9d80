"""Transformer encoder across the frame sequence of a video (nanoGPT style, bidirectional).

Videos of different lengths share one padded batch: a boolean mask (B, T), True at real samples,
keeps padded positions out of every attention, so a valid position's output is the same whether
its video runs alone or padded beside a longer one. Everything else (LayerNorm, MLP) acts per
position, so padding cannot leak in there either.

The blocks are written out rather than taken from ``nn.TransformerEncoder``, whose fast path fails
under bf16 autocast (docs/performance.md, "Pitfalls"), and so that the last layer can return its
attention weights: the attention mass each sample receives is the importance signal analysis uses.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        self.n_heads = n_heads
        self.dropout = dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor, need_weights: bool = False
                ) -> tuple[Tensor, Tensor | None]:
        """x (B, T, C), mask (B, T) bool -> y (B, T, C) and, if asked, the attention weights
        (B, n_heads, T, T) in fp32, zero on padded keys."""
        B, T, C = x.shape
        hs = C // self.n_heads
        q, k, v = self.qkv(x).split(C, dim=2)
        q = q.view(B, T, self.n_heads, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_heads, hs).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_heads, hs).transpose(1, 2)  # (B, nh, T, hs)
        keep = mask[:, None, None, :]  # (B, 1, 1, T): which keys may be attended to
        dropout_p = self.dropout if self.training else 0.0
        att: Tensor | None = None
        if need_weights:
            # Softmax in fp32 even under autocast: the weights are reported, not just used.
            scores = (q @ k.transpose(-2, -1)).float() * (1.0 / math.sqrt(hs))  # (B, nh, T, T)
            att = scores.masked_fill(~keep, float("-inf")).softmax(dim=-1)
            y = F.dropout(att, dropout_p, self.training).to(v.dtype) @ v  # (B, nh, T, hs)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, dropout_p=dropout_p)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        return self.resid_dropout(self.proj(y)), att


class MLP(nn.Module):
    def __init__(self, d_model: int, ratio: int, dropout: float) -> None:
        super().__init__()
        self.fc = nn.Linear(d_model, ratio * d_model)
        self.proj = nn.Linear(ratio * d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.dropout(self.proj(F.gelu(self.fc(x))))
        return out


class Block(nn.Module):
    """Pre-LN transformer block."""

    def __init__(self, d_model: int, n_heads: int, mlp_ratio: int, dropout: float) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, n_heads, dropout)
        self.ln_2 = nn.LayerNorm(d_model)
        self.mlp = MLP(d_model, mlp_ratio, dropout)

    def forward(self, x: Tensor, mask: Tensor, need_weights: bool = False
                ) -> tuple[Tensor, Tensor | None]:
        y, att = self.attn(self.ln_1(x), mask, need_weights)
        x = x + y
        return x + self.mlp(self.ln_2(x)), att


def sinusoidal_positions(max_len: int, d_model: int) -> Tensor:
    """The fixed sine/cosine table of "Attention is all you need": (max_len, d_model)."""
    position = torch.arange(max_len, dtype=torch.float32)[:, None]  # (L, 1)
    inv_freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32)
                         * (-math.log(10000.0) / d_model))  # (ceil(d/2),)
    table = torch.zeros(max_len, d_model)
    table[:, 0::2] = torch.sin(position * inv_freq)
    table[:, 1::2] = torch.cos(position * inv_freq[: d_model // 2])
    return table


class TemporalEncoder(nn.Module):
    """``forward(x (B,T,D), mask (B,T) bool) -> (hidden (B,T,d_model), attention_mass (B,T))``.

    ``attention_mass[b, j]`` is the attention position j receives in the last layer, averaged
    over heads and over the valid query positions: it sums to 1 over the valid positions of each
    sequence and is 0 on padding. Padded rows of ``hidden`` are 0.
    """

    pos_table: Tensor  # (max_len, d_model) buffer, sinusoidal positions only

    def __init__(self, feature_dim: int, d_model: int, n_layers: int, n_heads: int,
                 max_len: int, mlp_ratio: int = 4,
                 positions: Literal["sinusoidal", "learned"] = "sinusoidal",
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.d_model = d_model
        self.max_len = max_len
        # LayerNorm first: CNN features of different backbones come on very different scales.
        self.input_norm = nn.LayerNorm(feature_dim)
        self.input_proj = nn.Linear(feature_dim, d_model)
        self.pos_emb: nn.Embedding | None = None
        if positions == "learned":
            self.pos_emb = nn.Embedding(max_len, d_model)
        else:
            # Not persistent: it is a function of the config, not something to ship in weights.
            self.register_buffer("pos_table", sinusoidal_positions(max_len, d_model),
                                 persistent=False)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, mlp_ratio, dropout)
                                    for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.apply(self._init_weights)
        # GPT-2's scaled init of the residual projections keeps the residual stream's variance
        # independent of depth.
        for name, param in self.named_parameters():
            if name.endswith("proj.weight") and name.startswith("blocks."):
                nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * n_layers))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        B, T, _ = x.shape
        if self.max_len < T:
            raise ValueError(f"sequence of {T} samples is longer than max_len {self.max_len}")
        if not bool(mask.any(dim=1).all()):
            raise ValueError("every sequence needs at least one valid position")
        h = self.input_proj(self.input_norm(x))  # (B, T, d)
        if self.pos_emb is not None:
            h = h + self.pos_emb(torch.arange(T, device=x.device))
        else:
            h = h + self.pos_table[:T].to(h.dtype)
        h = self.drop(h)
        att: Tensor | None = None
        for i, block in enumerate(self.blocks):
            h, att = block(h, mask, need_weights=i == len(self.blocks) - 1)
        h = self.ln_f(h)
        h = h.masked_fill(~mask[:, :, None], 0.0)  # (B, T, d)
        assert att is not None  # the last block always reports its weights
        queries = mask.float() / mask.sum(dim=1, keepdim=True).float()  # (B, T), sums to 1
        # Elementwise ops, not a matmul, so that autocast leaves the sum in fp32.
        mass = (att * queries[:, None, :, None]).sum(dim=(1, 2)) / att.shape[1]  # (B, T)
        return h, mass
