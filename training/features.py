"""Frozen-CNN features of rendered frames, cached on disk by frame key.

The CNN is the served one (``app.model``: EfficientNet-Lite0 with the released weights, the
manifest's preprocessing), so the Transformer trains on exactly the features the service
computes. Features are stored as float16 shards under ``training/cache/<encoder tag>/``; the
tag names the weights' sha256 and the precision, so a different CNN never reads stale features.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import torch

from app.model.videobert import VideoBert

logger = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = Path(__file__).resolve().parent / "cache"
# bf16 + channels_last reaches its best frames/s at batch 8-16 on this CPU (docs/performance.md).
BATCH_FRAMES = 16


class FeatureCache:
    """Key -> (D,) float32 features, persisted as numbered ``.npz`` shards."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.features: dict[str, np.ndarray] = {}
        folder.mkdir(parents=True, exist_ok=True)
        for shard in sorted(folder.glob("shard-*.npz")):
            with np.load(shard) as data:
                for key, row in zip(data["keys"].tolist(), data["features"], strict=True):
                    self.features[key] = row
        logger.info("feature cache %s: %d frames", folder, len(self.features))

    def __contains__(self, key: str) -> bool:
        return key in self.features

    def __len__(self) -> int:
        return len(self.features)

    def get(self, keys: Sequence[str]) -> np.ndarray:
        """(len(keys), D) float32."""
        return np.stack([self.features[k] for k in keys]).astype(np.float32)

    def add(self, keys: Sequence[str], features: np.ndarray) -> None:
        if not keys:
            return
        half = features.astype(np.float16)
        index = len(list(self.folder.glob("shard-*.npz")))
        path = self.folder / f"shard-{index:05d}.npz"
        # Write then rename, so an interrupted run never leaves a half-written shard behind.
        tmp = self.folder / f".tmp-{index:05d}.npz"
        np.savez(tmp, keys=np.array(keys), features=half)
        tmp.rename(path)
        for key, row in zip(keys, half, strict=True):
            self.features[key] = row


def encoder_tag(weights_sha256: str, precision: str) -> str:
    return f"{weights_sha256[:12]}-{precision}"


def extract(model: VideoBert, keys: Iterable[str], render: Callable[[str], np.ndarray],
            cache: FeatureCache, *, flush_every: int = 2048) -> dict[str, float]:
    """Render and encode every key not yet cached. Returns counts and timings."""
    todo = sorted({k for k in keys if k not in cache})
    started = time.perf_counter()
    render_s = cnn_s = 0.0
    pending_keys: list[str] = []
    pending: list[np.ndarray] = []
    for start in range(0, len(todo), BATCH_FRAMES):
        batch = todo[start:start + BATCH_FRAMES]
        t0 = time.perf_counter()
        frames = np.stack([render(k) for k in batch])  # (N, 224, 224, 3) uint8
        t1 = time.perf_counter()
        features, _ = model.encode_frames(model.preprocess(frames))  # (N, D)
        cnn_s += time.perf_counter() - t1
        render_s += t1 - t0
        pending_keys.extend(batch)
        pending.append(features.numpy())
        if len(pending_keys) >= flush_every:
            cache.add(pending_keys, np.concatenate(pending))
            pending_keys, pending = [], []
            logger.info("features: %d / %d frames", start + len(batch), len(todo))
    if pending_keys:
        cache.add(pending_keys, np.concatenate(pending))
    return {"frames_encoded": float(len(todo)), "render_s": round(render_s, 2),
            "cnn_s": round(cnn_s, 2), "total_s": round(time.perf_counter() - started, 2)}


def precision_agreement(model: VideoBert, frames: np.ndarray) -> dict[str, float]:
    """Compare bf16 autocast (channels_last) with fp32 on real frames: top-1 agreement and the
    relative feature error. The recipe uses bf16 only where top-1 agrees."""
    saved = model.precision
    x = model.preprocess(frames)
    try:
        model.set_precision("fp32")
        feats32, logits32 = model.encode_frames(x)
        model.set_precision("bf16")
        feats16, logits16 = model.encode_frames(x)
    finally:
        model.set_precision(saved)
    agree = (logits32.argmax(1) == logits16.argmax(1)).float().mean().item()
    rel = ((feats16 - feats32).norm(dim=1) / feats32.norm(dim=1).clamp_min(1e-6)).mean().item()
    return {"frames": float(len(frames)), "top1_agreement": round(agree, 4),
            "feature_rel_error": round(rel, 4)}


def set_threads(threads: int) -> None:
    if threads > 0:
        torch.set_num_threads(threads)
