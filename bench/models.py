"""Which model store the benchmark serves: the real default model, or a stand-in for development.

The stand-in is the default manifest (same EfficientNet-Lite0 weights, same Transformer shape)
with seeded, untrained Transformer weights: it computes exactly as much as the real model, so
timings carry over, but its answers mean nothing. Results taken with it are marked.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import torch

from app.errors import VideoBertError
from app.model import load_model
from app.model.manifest import MANIFEST_NAME
from app.model.store import build_sequence_modules, read_manifest, save_temporal_weights
from app.model.videobert import VideoBert
from app.settings import REPO_ROOT

log = logging.getLogger(__name__)

DEFAULT_STORE = REPO_ROOT / "model_store"
DEFAULT_MODEL = "videobert-lite0"


def default_model_error(store: Path = DEFAULT_STORE, name: str = DEFAULT_MODEL) -> str | None:
    """None when the real default model loads; otherwise why not."""
    try:
        load_model(store, name)
    except VideoBertError as exc:
        return exc.message
    return None


def stand_in_store(folder: Path, store: Path = DEFAULT_STORE, name: str = DEFAULT_MODEL,
                   seed: int = 0) -> Path:
    """A copy of the default model's newest version with seeded Transformer weights."""
    versions = sorted(p for p in (store / name).iterdir() if (p / MANIFEST_NAME).is_file())
    source = versions[-1]
    target = folder / name / source.name
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    manifest = read_manifest(source / MANIFEST_NAME)
    if manifest.labels is not None:
        shutil.copy(source / manifest.labels.path, target / manifest.labels.path)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        temporal, head = build_sequence_modules(manifest)
    shell = VideoBert(torch.nn.Identity(), temporal, head, manifest.input)
    weights = manifest.temporal.weights
    if weights is None:
        raise ValueError(f"{name} has no Transformer weights to stand in for")
    digest = save_temporal_weights(shell, target / weights.path)
    raw = json.loads((source / MANIFEST_NAME).read_text(encoding="utf-8"))
    raw["temporal"]["weights"]["sha256"] = digest
    raw["temporal"]["weights"].pop("url", None)
    raw["training"] = None
    raw["description"] = "Benchmark stand-in: untrained Transformer weights."
    (target / MANIFEST_NAME).write_text(json.dumps(raw, indent=2), encoding="utf-8")
    load_model(folder, name)  # fail here, not in a server, if the copy does not load
    return folder
