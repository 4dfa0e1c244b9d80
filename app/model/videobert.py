"""VideoBert: a frame encoder (CNN) per sampled frame, then a Transformer across the frames.

The two stages are separate calls because they batch differently: the CNN batches frames (of
many videos at once), the Transformer batches whole sequences padded to a common length.
A clip model's CNN is a video network: it sees clips of ``clip_frames`` consecutive sampled
frames (``encode_clips``), and the Transformer's positions are clips instead of frames. A model
without trained temporal weights has no Transformer: ``encode_sequences`` then reports no
boundaries and uniform attention.
Inference calls run under ``torch.inference_mode()`` and, for bf16/fp16, autocast; the CNN then
also runs channels_last, which is what makes bf16 fast on CPUs with AMX and on GPUs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from app.model.heads import BoundaryHead
from app.model.manifest import InputSpec
from app.model.temporal import TemporalEncoder

log = logging.getLogger(__name__)

Precision = Literal["fp32", "bf16", "fp16"]
_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class SequenceOutput:
    """The Transformer's answer for one video, as fp32 CPU tensors."""

    boundary_prob: Tensor  # (T,) P(a transition lies between sample i and i+1); last is 0
    attention_mass: Tensor  # (T,) attention each sample receives in the last layer; sums to 1
    hidden: Tensor  # (T, d_model); the input features (T, D) for a model without a Transformer


def resize_and_crop(x: Tensor, short_side: int, crop: int) -> Tensor:
    """(N, 3, H, W) float -> (N, 3, crop, crop): short side to ``short_side`` (antialiased
    bilinear), then the centre crop."""
    H, W = x.shape[-2:]
    scale = short_side / min(H, W)
    size = (max(crop, round(H * scale)), max(crop, round(W * scale)))
    if size != (H, W):
        x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
    top, left = (size[0] - crop) // 2, (size[1] - crop) // 2
    return x[:, :, top:top + crop, left:left + crop]


class VideoBert(nn.Module):
    pixel_mean: Tensor  # (1, 3, 1, 1) buffer
    pixel_std: Tensor  # (1, 3, 1, 1) buffer

    def __init__(self, frame_encoder: nn.Module, temporal: TemporalEncoder | None,
                 boundary_head: BoundaryHead | None, input_spec: InputSpec,
                 precision: Precision = "fp32", *, clip_frames: int | None = None) -> None:
        super().__init__()
        if (temporal is None) != (boundary_head is None):
            raise ValueError("the temporal encoder and the boundary head come together")
        self.frame_encoder = frame_encoder
        self.temporal = temporal
        self.boundary_head = boundary_head
        self.input_spec = input_spec
        self.clip_frames = clip_frames
        self.register_buffer("pixel_mean", torch.tensor(input_spec.mean).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("pixel_std", torch.tensor(input_spec.std).view(1, 3, 1, 1),
                             persistent=False)
        self.precision: Precision = "fp32"
        self.set_precision(precision)

    def train(self, mode: bool = True) -> VideoBert:
        """Train mode for the sequence part only: the CNN is a frozen pretrained encoder, and
        BatchNorm must never switch to batch statistics while features are computed."""
        super().train(mode)
        self.frame_encoder.eval()
        return self

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    @property
    def is_clip_model(self) -> bool:
        return self.clip_frames is not None

    @property
    def has_temporal(self) -> bool:
        return self.temporal is not None

    @property
    def _cnn_memory_format(self) -> torch.memory_format:
        # Video networks hold 5-d conv weights: channels_last_3d is their channels_last.
        return torch.channels_last_3d if self.is_clip_model else torch.channels_last

    def set_precision(self, precision: Precision) -> None:
        """fp32, or bf16/fp16 autocast with a channels_last CNN. fp16 needs CUDA (CPU autocast
        in fp16 is slow and loses accuracy); check again after moving the model."""
        if precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"unknown precision {precision!r}: use fp32, bf16 or fp16")
        self.precision = precision
        memory_format = (torch.contiguous_format if precision == "fp32"
                         else self._cnn_memory_format)
        self.frame_encoder.to(memory_format=memory_format)

    def _autocast(self) -> AbstractContextManager[object]:
        if self.precision == "fp32":
            return nullcontext()
        if self.precision == "fp16" and self.device.type != "cuda":
            raise ValueError("fp16 needs a CUDA device; use bf16 on CPU")
        return torch.autocast(device_type=self.device.type,
                              dtype=_AUTOCAST_DTYPES[self.precision])

    def preprocess(self, frames: np.ndarray) -> Tensor:
        """(N, H, W, 3) uint8 RGB -> (N, 3, crop, crop) float32 normalised, on the model's
        device. Frames already at crop x crop (what app.video delivers) are only normalised."""
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"expected (N, H, W, 3) uint8 frames, got {frames.shape} "
                             f"{frames.dtype}")
        spec = self.input_spec
        with torch.inference_mode():
            # Convert on the device: uint8 is a quarter of the bytes to move.
            x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device)  # (N, H, W, 3)
            x = x.permute(0, 3, 1, 2).float()  # (N, 3, H, W)
            if x.shape[-2:] != (spec.crop, spec.crop):
                x = resize_and_crop(x, spec.short_side, spec.crop)  # (N, 3, crop, crop)
            x = (x - self.pixel_mean) / self.pixel_std
            return x.contiguous()

    def encode_frames(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x (N, 3, H, W) preprocessed -> (features (N, D), logits (N, C)), both fp32.
        A backbone without a classifier gives logits (N, 0)."""
        if self.is_clip_model:
            raise ValueError("a clip model encodes clips: use encode_clips")
        return self._encode(x, 4)

    def encode_clips(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, 3, clip_frames, H, W) preprocessed frames -> (features (B, D), logits (B, C)),
        both fp32: one answer per clip."""
        if not self.is_clip_model:
            raise ValueError("an image model encodes frames: use encode_frames")
        if x.shape[2] != self.clip_frames:
            raise ValueError(f"expected clips of {self.clip_frames} frames, got {x.shape[2]}")
        return self._encode(x, 5)

    def _encode(self, x: Tensor, ndim: int) -> tuple[Tensor, Tensor]:
        if x.ndim != ndim or x.shape[1] != 3:
            raise ValueError(f"expected a {ndim}-d input with 3 channels in dim 1, got "
                             f"{tuple(x.shape)}")
        with torch.inference_mode(), self._autocast():
            x = x.to(self.device)
            if self.precision != "fp32":
                x = x.contiguous(memory_format=self._cnn_memory_format)
            features, logits = self.frame_encoder(x)
        return features.float(), logits.float()

    def forward(self, features: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The differentiable sequence path (for training the temporal encoder and heads):
        features (B, T, D), mask (B, T) bool -> (boundary_logits (B, T), hidden (B, T, d),
        attention_mass (B, T)). Use ``transition_mask(mask)`` to mask a loss on the logits.
        Features from ``encode_frames`` are inference tensors: ``.clone()`` them to train."""
        if self.temporal is None or self.boundary_head is None:
            raise ValueError("this model has no temporal encoder (its manifest's "
                             "temporal.weights is null)")
        hidden, mass = self.temporal(features, mask)
        return self.boundary_head(hidden, mask), hidden, mass

    def encode_sequences(self, features: Sequence[Tensor]) -> list[SequenceOutput]:
        """One (T_i, D) feature tensor per video -> one SequenceOutput per video, in order.

        All videos run as one padded batch with a padding mask, so a video's output does not
        depend on what it is batched with. Without a Transformer (no trained temporal weights)
        every video gets boundary_prob 0 (one shot) and uniform attention_mass."""
        if not features:
            return []
        lengths = [int(f.shape[0]) for f in features]
        if min(lengths) == 0:
            raise ValueError("every sequence needs at least one frame")
        if not self.has_temporal:
            return [SequenceOutput(boundary_prob=torch.zeros(n),
                                   attention_mass=torch.full((n,), 1.0 / n),
                                   hidden=f.detach().float().cpu())
                    for f, n in zip(features, lengths, strict=True)]
        B, T, D = len(features), max(lengths), int(features[0].shape[1])
        with torch.inference_mode():
            x = torch.zeros(B, T, D, device=self.device)  # (B, T, D)
            for i, f in enumerate(features):
                x[i, :lengths[i]] = f.to(self.device, torch.float32)
            lengths_t = torch.tensor(lengths, device=self.device)
            mask = torch.arange(T, device=self.device)[None, :] < lengths_t[:, None]  # (B, T)
            with self._autocast():
                logits, hidden, mass = self(x, mask)
            prob = torch.sigmoid(logits.float()).cpu()  # (B, T)
            mass = mass.float().cpu()  # (B, T)
            hidden = hidden.float().cpu()  # (B, T, d)
        return [SequenceOutput(boundary_prob=prob[i, :n], attention_mass=mass[i, :n],
                               hidden=hidden[i, :n]) for i, n in enumerate(lengths)]
