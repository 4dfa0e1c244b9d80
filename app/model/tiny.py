"""A tiny deterministic frame encoder (arch ``tiny_cnn``) for tests about the machinery.

It runs in well under a millisecond a frame, and its features still follow the picture: colour
statistics (per-channel mean and standard deviation) make frames of different scenes land far
apart, which is what shot and boundary logic downstream needs to see.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn
from torchvision.ops import Conv2dNormActivation

TINY_FEATURE_DIM = 32
TINY_NUM_CLASSES = 8


class TinyFrameEncoder(nn.Module):
    """``forward(x (N,3,H,W)) -> (features (N,feature_dim), logits (N,num_classes))``."""

    def __init__(self, feature_dim: int = TINY_FEATURE_DIM,
                 num_classes: int = TINY_NUM_CLASSES) -> None:
        super().__init__()
        self.feature_dim = feature_dim
        self.num_classes = num_classes
        # Two strided convs see texture; a coarse summary is all a test model needs.
        self.conv = nn.Sequential(
            Conv2dNormActivation(3, 8, 3, stride=4, norm_layer=None),
            Conv2dNormActivation(8, 16, 3, stride=4, norm_layer=None),
        )
        self.proj = nn.Linear(6 + 16, feature_dim)
        self.classifier = nn.Linear(feature_dim, num_classes)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        N = x.shape[0]
        flat = x.reshape(N, 3, -1)  # (N, 3, H*W)
        stats = torch.cat([flat.mean(-1), flat.std(-1, correction=0)], dim=1)  # (N, 6)
        texture = self.conv(x).mean(dim=(2, 3))  # (N, 16)
        features = torch.tanh(self.proj(torch.cat([stats, texture], dim=1)))  # (N, feature_dim)
        return features, self.classifier(features)


def seeded_tiny_encoder(seed: int = 0, feature_dim: int = TINY_FEATURE_DIM,
                        num_classes: int = TINY_NUM_CLASSES) -> TinyFrameEncoder:
    """The same weights for the same seed on every machine (initialised under a forked RNG, so
    the caller's global random state is untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return TinyFrameEncoder(feature_dim, num_classes)


def load_tiny_encoder(weights_path: Path, feature_dim: int = TINY_FEATURE_DIM,
                      num_classes: int = TINY_NUM_CLASSES) -> TinyFrameEncoder:
    model = TinyFrameEncoder(feature_dim, num_classes)
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()
