"""Heads on top of the temporal encoder's hidden states."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def transition_mask(mask: Tensor) -> Tensor:
    """(B, T) bool: True at i where samples i and i+1 are both real, i.e. where a transition
    between them can exist. The last valid sample of every sequence is False."""
    pairs = torch.zeros_like(mask)
    pairs[:, :-1] = mask[:, :-1] & mask[:, 1:]
    return pairs


class BoundaryHead(nn.Module):
    """Per position i, the logit that a transition (a cut or a gradual change) lies between
    samples i and i+1.

    A cut is a relation between two neighbours, so the head sees both: [h_i, h_{i+1},
    h_{i+1} - h_i] -> MLP. Positions with no real next sample get the most negative finite logit,
    so their probability is exactly 0 and a masked BCE over ``transition_mask`` stays finite.
    """

    def __init__(self, d_model: int, hidden: int = 256) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.LayerNorm(3 * d_model),
            nn.Linear(3 * d_model, hidden),
            nn.GELU(),
            nn.Linear(hidden, 1),
        )

    def forward(self, hidden: Tensor, mask: Tensor) -> Tensor:
        """hidden (B, T, d), mask (B, T) bool -> logits (B, T)."""
        B, T, d = hidden.shape
        nxt = torch.cat([hidden[:, 1:], hidden.new_zeros(B, 1, d)], dim=1)  # (B, T, d): h_{i+1}
        pair = torch.cat([hidden, nxt, nxt - hidden], dim=-1)  # (B, T, 3d)
        logits = self.mlp(pair).squeeze(-1)  # (B, T)
        masked: Tensor = logits.masked_fill(~transition_mask(mask),
                                            torch.finfo(logits.dtype).min)
        return masked
