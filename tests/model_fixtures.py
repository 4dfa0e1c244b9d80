"""A tiny deterministic model store for tests about the machinery (batching, API, caching).

``make_tiny_store(tmp_path)`` writes ``<root>/tiny/0.0.1/`` with seeded weights, labels and a
manifest whose sha256s are correct, so ``load_model(root, "tiny")`` works in milliseconds.
"""

from __future__ import annotations

from pathlib import Path

import torch

from app.model.files import sha256_file
from app.model.manifest import (
    ClassLabelsRef,
    FrameEncoderSpec,
    InputSpec,
    Manifest,
    SamplingDefaults,
    TemporalSpec,
    WeightsRef,
    write_manifest,
)
from app.model.store import build_sequence_modules, sequence_state_dict
from app.model.tiny import TINY_FEATURE_DIM, seeded_tiny_encoder
from app.model.videobert import VideoBert

TINY_D_MODEL = 32


def tiny_manifest(name: str = "tiny", version: str = "0.0.1", num_classes: int = 8, *,
                  crop: int = 64, short_side: int = 72, encoder_sha256: str = "PENDING",
                  temporal_sha256: str = "PENDING", labels_sha256: str = "PENDING") -> Manifest:
    return Manifest(
        name=name, version=version, description="Tiny seeded test model (not trained).",
        frame_encoder=FrameEncoderSpec(
            arch="tiny_cnn", feature_dim=TINY_FEATURE_DIM, num_classes=num_classes,
            weights=WeightsRef(source="file", path="frame_encoder.pt", sha256=encoder_sha256)),
        input=InputSpec(short_side=short_side, crop=crop),
        temporal=TemporalSpec(
            d_model=TINY_D_MODEL, n_layers=2, n_heads=2, max_len=512, head_hidden=32,
            weights=WeightsRef(source="file", path="temporal.pt", sha256=temporal_sha256)),
        sampling=SamplingDefaults(fps=2.0, max_frames=256),
        labels=ClassLabelsRef(path="labels.txt", sha256=labels_sha256),
    )


def make_tiny_store(root: Path, name: str = "tiny", version: str = "0.0.1",
                    num_classes: int = 8, seed: int = 0, crop: int = 64,
                    short_side: int = 72) -> Path:
    """Write a complete tiny model into ``root/name/version`` and return ``root`` (the store
    directory to pass to ``load_model`` or as the model store setting)."""
    folder = root / name / version
    folder.mkdir(parents=True, exist_ok=True)
    encoder = seeded_tiny_encoder(seed, TINY_FEATURE_DIM, num_classes)
    torch.save(encoder.state_dict(), folder / "frame_encoder.pt")
    (folder / "labels.txt").write_text(
        "".join(f"tiny class {i}\n" for i in range(num_classes)), encoding="utf-8")

    draft = tiny_manifest(name, version, num_classes, crop=crop, short_side=short_side)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        temporal, head = build_sequence_modules(draft)
    model = VideoBert(encoder, temporal, head, draft.input)
    torch.save(sequence_state_dict(model), folder / "temporal.pt")

    manifest = tiny_manifest(
        name, version, num_classes, crop=crop, short_side=short_side,
        encoder_sha256=sha256_file(folder / "frame_encoder.pt"),
        temporal_sha256=sha256_file(folder / "temporal.pt"),
        labels_sha256=sha256_file(folder / "labels.txt"))
    write_manifest(manifest, folder)
    return root
