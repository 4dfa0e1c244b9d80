"""Shared fixtures for the model tests: real frames from the sample clips, the real CNN."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from app.model.efficientnet_lite import EfficientNetLite0, load_efficientnet_lite0
from app.model.files import resolve_weights
from app.model.manifest import read_manifest
from app.model.store import build_sequence_modules
from app.model.videobert import VideoBert


def decode_frames(path: Path, indices: list[int]) -> np.ndarray:
    """The frames at the given decode indices, full size, as (N, H, W, 3) uint8 RGB."""
    wanted = set(indices)
    frames = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                frames.append(frame.to_ndarray(format="rgb24"))
            if i >= max(indices):
                break
    return np.stack(frames)


@pytest.fixture(scope="session")
def lite0_weights() -> Path:
    manifest = read_manifest(DEFAULT_MANIFEST)
    return resolve_weights(manifest.frame_encoder.weights, DEFAULT_MANIFEST.parent)


@pytest.fixture(scope="session")
def lite0(lite0_weights: Path) -> EfficientNetLite0:
    return load_efficientnet_lite0(lite0_weights)


REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_MANIFEST = REPO_ROOT / "model_store" / "videobert-lite0" / "1.0.0" / "manifest.json"


@pytest.fixture(scope="session")
def lite0_videobert(lite0: EfficientNetLite0) -> VideoBert:
    """The real CNN with the default manifest's preprocessing (and an untrained Transformer)."""
    manifest = read_manifest(DEFAULT_MANIFEST)
    temporal, head = build_sequence_modules(manifest)
    return VideoBert(lite0, temporal, head, manifest.input).eval()
