"""torchvision's Kinetics-400 video classifiers as clip backbones (``frame_encoder.kind="clip"``).

Each network is built with torchvision's constructor and ``weights=None`` (nothing downloads at
run time), loaded strictly from the verified file the manifest names, and then split into a body
that ends at the pooled vector before the final classifier and that classifier. So a backbone's
``forward(x (B, 3, T, H, W))`` returns ``(features (B, feature_dim), logits (B, num_classes))``
with the same logits torchvision's own ``forward`` gives.

The Kinetics weights download from the PyTorch site: ``videobert models pull NAME`` fetches and
verifies them (app/model/pull.py); ``KINETICS400_WEIGHTS`` below names them per arch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torchvision.models import WeightsEnum
from torchvision.models import video as tv_video

from app.errors import ModelStoreError
from app.model.manifest import FrameEncoderSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipArch:
    constructor: Callable[..., nn.Module]
    weights: WeightsEnum  # the Kinetics-400 weights (URL, transforms, categories)
    feature_dim: int
    head: str  # the attribute holding the final classifier
    min_frames: int = 1
    fixed_frames: int | None = None  # positional embeddings sized for exactly this many


CLIP_ARCHS: dict[str, ClipArch] = {
    "r3d_18": ClipArch(tv_video.r3d_18, tv_video.R3D_18_Weights.KINETICS400_V1, 512, "fc"),
    "mc3_18": ClipArch(tv_video.mc3_18, tv_video.MC3_18_Weights.KINETICS400_V1, 512, "fc"),
    "r2plus1d_18": ClipArch(tv_video.r2plus1d_18, tv_video.R2Plus1D_18_Weights.KINETICS400_V1,
                            512, "fc"),
    # S3D pools with a (2, 7, 7) window after a temporal stride of 8: at least 14 frames.
    "s3d": ClipArch(tv_video.s3d, tv_video.S3D_Weights.KINETICS400_V1, 1024, "classifier",
                    min_frames=14),
    "mvit_v2_s": ClipArch(tv_video.mvit_v2_s, tv_video.MViT_V2_S_Weights.KINETICS400_V1, 768,
                          "head", fixed_frames=16),
    "swin3d_t": ClipArch(tv_video.swin3d_t, tv_video.Swin3D_T_Weights.KINETICS400_V1, 768,
                         "head"),
}
KINETICS400_WEIGHTS: dict[str, WeightsEnum] = {arch: a.weights for arch, a in CLIP_ARCHS.items()}


def kinetics400_labels() -> list[str]:
    """The 400 Kinetics class names, in logit order (shipped inside torchvision)."""
    return list(tv_video.R3D_18_Weights.KINETICS400_V1.meta["categories"])


class _S3DPooled(nn.Module):
    """S3D up to the pooled 1024-d vector. torchvision's S3D applies its 1x1x1 conv classifier
    at every position and then averages; the conv is linear, so classifying the average is the
    same thing."""

    def __init__(self, net: tv_video.S3D) -> None:
        super().__init__()
        self.features = net.features
        self.avgpool = net.avgpool

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.features(x))  # (B, 1024, T', H', W')
        return x.mean(dim=(2, 3, 4))  # (B, 1024)


class _S3DHead(nn.Module):
    def __init__(self, classifier: nn.Sequential) -> None:
        super().__init__()
        self.classifier = classifier  # Dropout, Conv3d(1024, C, 1)

    def forward(self, features: Tensor) -> Tensor:
        logits: Tensor = self.classifier(features[:, :, None, None, None])
        return logits.flatten(1)  # (B, C)


class ClipClassifier(nn.Module):
    """``forward(x (B, 3, T, H, W)) -> (features (B, D), logits (B, C))``."""

    def __init__(self, body: nn.Module, head: nn.Module, feature_dim: int) -> None:
        super().__init__()
        self.body = body
        self.head = head
        self.feature_dim = feature_dim

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        features = self.body(x)  # (B, D)
        return features, self.head(features)


def split_classifier(arch: str, net: nn.Module) -> ClipClassifier:
    """A loaded torchvision video network -> the same network returning (features, logits)."""
    spec = CLIP_ARCHS[arch]
    if isinstance(net, tv_video.S3D):
        return ClipClassifier(_S3DPooled(net), _S3DHead(net.classifier), spec.feature_dim)
    head = getattr(net, spec.head)
    setattr(net, spec.head, nn.Identity())  # the net now ends at the pooled vector
    return ClipClassifier(net, head, spec.feature_dim)


def build_torchvision_net(arch: str, num_classes: int = 400) -> nn.Module:
    """The bare torchvision network with random weights (no download)."""
    if arch not in CLIP_ARCHS:
        raise ModelStoreError(f"Unknown clip arch {arch!r}; known: {', '.join(CLIP_ARCHS)}.")
    return CLIP_ARCHS[arch].constructor(weights=None, num_classes=num_classes)


def load_clip_backbone(arch: str, weights_path: Path, num_classes: int = 400) -> ClipClassifier:
    """Build ``arch`` and load the verified state dict (strictly) before splitting it."""
    net = build_torchvision_net(arch, num_classes)
    state: dict[str, Any] = torch.load(weights_path, map_location="cpu", weights_only=True)
    net.load_state_dict(state, strict=True)
    return split_classifier(arch, net).eval()


def check_clip_spec(spec: FrameEncoderSpec) -> None:
    """What the manifest must say for ``spec.arch``; ModelStoreError naming the field."""
    arch = CLIP_ARCHS[spec.arch]
    if spec.kind != "clip" or spec.clip_frames is None:
        raise ModelStoreError(f"{spec.arch} is a video network: the manifest's frame_encoder "
                              "needs kind 'clip' and clip_frames.")
    if spec.feature_dim != arch.feature_dim:
        raise ModelStoreError(f"{spec.arch} has feature_dim {arch.feature_dim}, the manifest "
                              f"says {spec.feature_dim}.")
    if spec.num_classes == 0:
        raise ModelStoreError(f"{spec.arch} is a classifier: num_classes must be positive.")
    if spec.clip_frames < arch.min_frames:
        raise ModelStoreError(f"{spec.arch} needs clips of at least {arch.min_frames} frames, "
                              f"the manifest says clip_frames {spec.clip_frames}.")
    if arch.fixed_frames is not None and spec.clip_frames != arch.fixed_frames:
        raise ModelStoreError(f"{spec.arch} takes clips of exactly {arch.fixed_frames} frames, "
                              f"the manifest says clip_frames {spec.clip_frames}.")


def build_clip_backbone(spec: FrameEncoderSpec, weights: Path) -> nn.Module:
    """The store's builder for every arch in ``CLIP_ARCHS``."""
    check_clip_spec(spec)
    return load_clip_backbone(spec.arch, weights, spec.num_classes)
