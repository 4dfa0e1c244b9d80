"""Model workers: one per device instance, each owning its model copy and one thread.

A batch holds the sampled frames of several videos. The CNN sees the frames of all of them in
chunks of ``max_batch_frames`` (the best CNN batch on CPU is 8-16 frames; on GPU larger), then the
Transformer runs once over the padded batch of sequences with a padding mask.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from app.model import LoadedModel

log = logging.getLogger(__name__)


@dataclass
class ModelInput:
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB, already model-sized
    times_s: np.ndarray  # (T,) presentation time of each frame

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])


@dataclass
class ModelOutput:
    probs: np.ndarray  # (T, C) softmax over classes
    features: np.ndarray  # (T, D) CNN features
    boundary_prob: np.ndarray  # (T,) P(transition between sample i and i+1)
    attention_mass: np.ndarray  # (T,)
    times_s: np.ndarray  # (T,) time of each position (a clip model's position is a clip)


def visible_devices(device_setting: str) -> list[str]:
    """The devices to run model workers on: every visible CUDA device, or the CPU."""
    if device_setting == "cpu":
        return ["cpu"]
    if torch.cuda.is_available():
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if device_setting == "cuda":
        raise RuntimeError("VIDEOBERT_DEVICE=cuda but no CUDA device is visible")
    return ["cpu"]


def default_torch_threads() -> int:
    return max(1, os.cpu_count() or 1)


class ModelWorker:
    """Runs batches for one model on one device, on its own thread."""

    def __init__(self, loaded: LoadedModel, device: str, *, max_batch_frames: int) -> None:
        self.loaded = loaded
        self.device = device
        self.max_batch_frames = max_batch_frames
        self.executor = ThreadPoolExecutor(max_workers=1,
                                           thread_name_prefix=f"model-{device}")

    def run_batch(self, inputs: Sequence[ModelInput]) -> list[ModelOutput]:
        model = self.loaded.model
        counts = [item.num_frames for item in inputs]
        all_frames = np.concatenate([item.frames for item in inputs], axis=0)
        features_chunks: list[torch.Tensor] = []
        logits_chunks: list[torch.Tensor] = []
        with torch.inference_mode():
            for start in range(0, all_frames.shape[0], self.max_batch_frames):
                chunk = model.preprocess(all_frames[start:start + self.max_batch_frames])
                chunk = chunk.to(self.device, non_blocking=True)
                features, logits = model.encode_frames(chunk)
                features_chunks.append(features.float())
                logits_chunks.append(logits.float())
            features_all = torch.cat(features_chunks)  # (sum T_i, D)
            probs_all = torch.softmax(torch.cat(logits_chunks), dim=-1)  # (sum T_i, C)
            per_video = list(torch.split(features_all, counts))
            sequences = model.encode_sequences(per_video)
            probs_split = torch.split(probs_all, counts)
        outputs = []
        for item, feats, probs, seq in zip(inputs, per_video, probs_split, sequences,
                                           strict=True):
            outputs.append(ModelOutput(
                times_s=item.times_s,
                probs=probs.cpu().numpy(),
                features=feats.cpu().numpy(),
                boundary_prob=seq.boundary_prob.float().cpu().numpy(),
                attention_mass=seq.attention_mass.float().cpu().numpy(),
            ))
        return outputs

    def warm_up(self, crop: int) -> None:
        """One full pass on dummy frames so that the first real request pays no set-up cost."""
        frames = np.zeros((4, crop, crop, 3), dtype=np.uint8)
        times = np.arange(4, dtype=np.float64) / 2
        self.run_batch([ModelInput(frames, times), ModelInput(frames[:2], times[:2])])

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
