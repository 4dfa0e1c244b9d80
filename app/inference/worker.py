"""Model workers: one per device instance, each owning its model copy and one thread.

A batch holds the sampled frames of several videos. The CNN sees the frames of all of them in
chunks of ``max_batch_frames`` (the best CNN batch on CPU is 8-16 frames; on GPU larger), then the
Transformer runs once over the padded batch of sequences with a padding mask.

A clip model (a video network, ``frame_encoder.kind="clip"``) first groups each video's frames
into clips of ``clip_frames`` consecutive samples: the last partial clip is padded by repeating
its last frame, and a video shorter than one clip is one clip. Clips of all videos run in chunks
of ``max_batch_frames // clip_frames`` clips; each clip is one Transformer position, timed at the
centre of its real frames.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from app.model import LoadedModel, SequenceOutput, VideoBert

log = logging.getLogger(__name__)


@dataclass
class ModelInput:
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB, already model-sized
    times_s: np.ndarray  # (T,) presentation time of each frame

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])


@dataclass
class FrameChunk:
    """Some consecutive sampled frames of one video, streamed from its decoder."""

    frames: np.ndarray  # (n, H, W, 3) uint8 RGB, already model-sized
    times_s: np.ndarray  # (n,)

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])


@dataclass
class FrameFeatures:
    """The CNN's answer for one chunk, kept as tensors: the Transformer step reads them next."""

    times_s: np.ndarray  # (n,)
    features: torch.Tensor  # (n, D) float32
    logits: torch.Tensor  # (n, C) float32


@dataclass
class SequenceInput:
    """One whole video's per-frame CNN answers, in time order, for the Transformer."""

    times_s: np.ndarray  # (T,)
    features: torch.Tensor  # (T, D)
    logits: torch.Tensor  # (T, C)

    @property
    def num_frames(self) -> int:
        return int(self.features.shape[0])


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
    return max(1, (os.cpu_count() or 1) // 4)


def clip_frame_indices(num_frames: int, clip_frames: int) -> np.ndarray:
    """(num_clips, clip_frames) indices into one video's frames: consecutive runs of
    ``clip_frames``, the last padded by repeating the video's last frame (which is that clip's
    last frame); at least one clip."""
    if num_frames < 1:
        raise ValueError("a video needs at least one frame")
    num_clips = max(1, -(-num_frames // clip_frames))
    index = np.arange(num_clips * clip_frames).reshape(num_clips, clip_frames)
    return np.minimum(index, num_frames - 1)


def clip_times(times_s: np.ndarray, index: np.ndarray) -> np.ndarray:
    """(num_clips,) centre time of each clip: midway between its first and last real frame
    (padding repeats the last real frame, so ``index[:, -1]`` is always real)."""
    times = np.asarray(times_s, dtype=np.float64)
    centres: np.ndarray = (times[index[:, 0]] + times[index[:, -1]]) / 2
    return centres


# A padded batch costs its longest sequence times its size: past this length ratio within one
# batch, padding wastes more than one more Transformer call costs (docs/performance.md: 8 videos
# of 20-256 samples, 13.6 ms a video padded together against 5.8 ms in two groups).
MAX_LENGTH_RATIO = 2.0


def length_groups(lengths: Sequence[int], max_ratio: float = MAX_LENGTH_RATIO) -> list[list[int]]:
    """Indices grouped so that within a group the longest is at most ``max_ratio`` x the
    shortest; shortest first."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    groups: list[list[int]] = []
    for i in order:
        if groups and lengths[i] <= max_ratio * lengths[groups[-1][0]]:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def encode_by_length(model: VideoBert, features: list[torch.Tensor]) -> list[SequenceOutput]:
    """``model.encode_sequences`` over groups of similar length, answers in input order (each
    sequence is masked, so its answer does not depend on its batch)."""
    out: list[SequenceOutput | None] = [None] * len(features)
    for group in length_groups([int(f.shape[0]) for f in features]):
        for i, result in zip(group, model.encode_sequences([features[i] for i in group]),
                             strict=True):
            out[i] = result
    return [r for r in out if r is not None]


class ModelWorker:
    """Runs batches for one model on one device, on its own thread."""

    def __init__(self, loaded: LoadedModel, device: str, *, max_batch_frames: int) -> None:
        self.loaded = loaded
        self.device = device
        self.max_batch_frames = max_batch_frames
        self.executor = ThreadPoolExecutor(max_workers=1,
                                           thread_name_prefix=f"model-{device}")

    def run_batch(self, inputs: Sequence[ModelInput]) -> list[ModelOutput]:
        """Whole videos: the CNN over every frame, then the Transformer over every sequence."""
        model = self.loaded.model
        all_frames = np.concatenate([item.frames for item in inputs], axis=0)
        with torch.inference_mode():
            if model.is_clip_model:
                counts, times, features_all, logits_all = self._encode_clips(inputs, all_frames)
            else:
                counts = [item.num_frames for item in inputs]
                times = [item.times_s for item in inputs]
                features_all, logits_all = self._encode_frames(all_frames)
            return self._sequence_outputs(times, list(torch.split(features_all, counts)),
                                          list(torch.split(logits_all, counts)))

    def run_frame_chunks(self, chunks: Sequence[FrameChunk]) -> list[FrameFeatures]:
        """The CNN alone, over chunks of several videos (the streaming path's first step)."""
        counts = [chunk.num_frames for chunk in chunks]
        all_frames = np.concatenate([chunk.frames for chunk in chunks], axis=0)
        with torch.inference_mode():
            features_all, logits_all = self._encode_frames(all_frames)
        return [FrameFeatures(chunk.times_s, features, logits) for chunk, features, logits
                in zip(chunks, torch.split(features_all, counts),
                       torch.split(logits_all, counts), strict=True)]

    def run_sequences(self, inputs: Sequence[SequenceInput]) -> list[ModelOutput]:
        """The Transformer alone, over whole videos' CNN answers (the streaming path's last
        step; the answers may come from another worker's device)."""
        with torch.inference_mode():
            return self._sequence_outputs(
                [item.times_s for item in inputs],
                [item.features.to(self.device) for item in inputs],
                [item.logits.to(self.device) for item in inputs])

    def _sequence_outputs(self, times: Sequence[np.ndarray], features: list[torch.Tensor],
                          logits: list[torch.Tensor]) -> list[ModelOutput]:
        sequences = encode_by_length(self.loaded.model, features)
        outputs = []
        for item_times, feats, item_logits, seq in zip(times, features, logits, sequences,
                                                       strict=True):
            outputs.append(ModelOutput(
                times_s=item_times,
                probs=torch.softmax(item_logits, dim=-1).cpu().numpy(),  # C may be 0
                features=feats.cpu().numpy(),
                boundary_prob=seq.boundary_prob.float().cpu().numpy(),
                attention_mass=seq.attention_mass.float().cpu().numpy(),
            ))
        return outputs

    def _encode_frames(self, all_frames: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(sum T_i, H, W, 3) -> features (sum T_i, D), logits (sum T_i, C)."""
        model = self.loaded.model
        features_chunks: list[torch.Tensor] = []
        logits_chunks: list[torch.Tensor] = []
        for start in range(0, all_frames.shape[0], self.max_batch_frames):
            chunk = model.preprocess(all_frames[start:start + self.max_batch_frames])
            chunk = chunk.to(self.device, non_blocking=True)
            features, logits = model.encode_frames(chunk)
            features_chunks.append(features.float())
            logits_chunks.append(logits.float())
        return torch.cat(features_chunks), torch.cat(logits_chunks)

    def _encode_clips(self, inputs: Sequence[ModelInput], all_frames: np.ndarray
                      ) -> tuple[list[int], list[np.ndarray], torch.Tensor, torch.Tensor]:
        """Clips of every video -> (clips per video, clip centre times per video,
        features (sum P_i, D), logits (sum P_i, C))."""
        model = self.loaded.model
        clip_frames = model.clip_frames
        assert clip_frames is not None  # only called for clip models
        indices = [clip_frame_indices(item.num_frames, clip_frames) for item in inputs]
        offsets = np.cumsum([0] + [item.num_frames for item in inputs[:-1]])
        global_index = np.concatenate([index + offset for index, offset
                                       in zip(indices, offsets, strict=True)])  # (sum P_i, L)
        clips_per_chunk = max(1, self.max_batch_frames // clip_frames)
        features_chunks: list[torch.Tensor] = []
        logits_chunks: list[torch.Tensor] = []
        for start in range(0, global_index.shape[0], clips_per_chunk):
            index = global_index[start:start + clips_per_chunk]  # (B, L)
            B, L = index.shape
            # Padding repeats frames: preprocess each distinct frame once, then gather.
            unique, inverse = np.unique(index, return_inverse=True)
            frames = model.preprocess(all_frames[unique])  # (U, 3, H, W)
            frames = frames[torch.from_numpy(inverse.reshape(-1)).to(frames.device)]
            H, W = frames.shape[-2:]
            clips = frames.view(B, L, 3, H, W).permute(0, 2, 1, 3, 4)  # (B, 3, L, H, W)
            clips = clips.contiguous().to(self.device, non_blocking=True)
            features, logits = model.encode_clips(clips)
            features_chunks.append(features.float())
            logits_chunks.append(logits.float())
        times = [clip_times(item.times_s, index) for item, index
                 in zip(inputs, indices, strict=True)]
        counts = [int(index.shape[0]) for index in indices]
        return counts, times, torch.cat(features_chunks), torch.cat(logits_chunks)

    def warm_up(self, crop: int) -> None:
        """One full pass on dummy frames so that the first real request pays no set-up cost."""
        frames = np.zeros((4, crop, crop, 3), dtype=np.uint8)
        times = np.arange(4, dtype=np.float64) / 2
        self.run_batch([ModelInput(frames, times), ModelInput(frames[:2], times[:2])])

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def merge_chunks(parts: Sequence[FrameFeatures]) -> SequenceInput:
    """Streamed chunks -> one sequence in time order. A decoder sends each distinct frame once
    and in order; sorting and dropping repeated times makes the answer independent of that."""
    if not parts:
        raise ValueError("a video needs at least one chunk")
    device = parts[0].features.device
    times = np.concatenate([part.times_s for part in parts])
    order = np.argsort(times, kind="stable")
    sorted_times = times[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = sorted_times[1:] != sorted_times[:-1]
    index = torch.from_numpy(order[first]).to(device)
    features = torch.cat([part.features.to(device) for part in parts])[index]
    logits = torch.cat([part.logits.to(device) for part in parts])[index]
    return SequenceInput(times_s=sorted_times[first], features=features, logits=logits)
