"""The model store: ``<store_dir>/<name>/<version>/manifest.json`` -> a ready VideoBert.

Every file a manifest names is verified against its sha256 before it is unpickled, so a
truncated download, a swapped file or an untrained placeholder stops the service at start-up with
a message that names the file, instead of serving wrong answers.

Frame encoders come from a registry keyed by ``frame_encoder.arch``. A builder receives the spec
and the verified weights path and returns a module whose ``forward(x (N,3,H,W))`` returns
``(features (N, feature_dim), logits (N, num_classes))``; a clip backbone (``kind="clip"``:
torchvision's Kinetics video networks) takes ``x (B,3,T,H,W)`` and answers per clip. New
backbones register a builder; nothing else changes.

Weights that cannot ship in the repo carry a ``url`` and the sha256 ``PENDING`` until
``videobert models pull NAME`` fetches them; a model whose ``temporal.weights`` is null is served
without a Transformer.
"""

from __future__ import annotations

import json
import logging
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from app.errors import InvalidOption, ModelNotFound, ModelStoreError
from app.model.efficientnet_lite import load_efficientnet_lite0
from app.model.files import (
    confined_file,
    sha256_file,
    verified_weights,
)
from app.model.fusion import fuse_conv_bn_act
from app.model.heads import BoundaryHead
from app.model.manifest import (
    MANIFEST_NAME,
    FrameEncoderSpec,
    Manifest,
    read_manifest,
)
from app.model.mobilenet import build_mobilenet_v2
from app.model.temporal import TemporalEncoder
from app.model.text_space import TextSpace, load_text_space
from app.model.tiny import load_tiny_encoder
from app.model.video_backbones import CLIP_ARCHS, build_clip_backbone
from app.model.videobert import Precision, VideoBert

log = logging.getLogger(__name__)

BackboneBuilder = Callable[[FrameEncoderSpec, Path], nn.Module]
_BACKBONES: dict[str, BackboneBuilder] = {}


def register_backbone(arch: str, builder: BackboneBuilder) -> None:
    """Make ``frame_encoder.arch == arch`` buildable. Registering a name twice is a bug."""
    if arch in _BACKBONES:
        raise ValueError(f"backbone {arch!r} is already registered")
    _BACKBONES[arch] = builder


def backbone_archs() -> list[str]:
    return sorted(_BACKBONES)


def _known_archs() -> str:
    # Registration order: the built-in image encoders first, then the video networks.
    return ", ".join(_BACKBONES)


def _build_efficientnet_lite0(spec: FrameEncoderSpec, weights: Path) -> nn.Module:
    if spec.feature_dim != 1280:
        raise ModelStoreError(f"efficientnet_lite0 has feature_dim 1280, the manifest says "
                              f"{spec.feature_dim}.")
    return load_efficientnet_lite0(weights, num_classes=spec.num_classes)


def _build_tiny_cnn(spec: FrameEncoderSpec, weights: Path) -> nn.Module:
    return load_tiny_encoder(weights, spec.feature_dim, spec.num_classes)


register_backbone("efficientnet_lite0", _build_efficientnet_lite0)
register_backbone("tiny_cnn", _build_tiny_cnn)
register_backbone("mobilenet_v2", build_mobilenet_v2)
for _arch in CLIP_ARCHS:
    register_backbone(_arch, build_clip_backbone)


@dataclass
class LoadedModel:
    manifest: Manifest
    labels: list[str]
    model: VideoBert
    name: str
    version: str
    folder: Path
    # Words: user labels and label sets (None for a model without a text encoder).
    text: TextSpace | None = None
    # Categories above the classes, (name, class ids) each; None when the manifest names no
    # hierarchy. ``app/postprocess/hierarchy.py`` answers with them.
    categories: list[tuple[str, list[int]]] | None = None

    @property
    def can_classify(self) -> bool:
        """False for a backbone without a classifier: it serves summaries only."""
        return bool(self.labels)

    def require_text(self) -> TextSpace:
        """The model's text space, or the 422 ``labels_not_supported`` error without one."""
        if self.text is None or not self.labels:
            raise InvalidOption(f"Model {self.name} {self.version} has no text encoder, so it "
                                "cannot score words: not labels you name, not a library "
                                "search. Choose a model that lists label_sets in GET /v1/models.",
                                code="labels_not_supported")
        return self.text

    def require_classifier(self) -> None:
        """Raise the 422 ``model_cannot_classify`` error if this model has no classifier;
        cheap, so call it before decoding a classify request."""
        if not self.can_classify:
            raise InvalidOption(f"Model {self.name} {self.version} has no classifier (its "
                                "frame encoder only computes features): it serves summaries. "
                                "Choose a model with labels for classification (GET "
                                "/v1/models).", code="model_cannot_classify")


# --- building ------------------------------------------------------------------------------------

def build_frame_encoder(spec: FrameEncoderSpec, path: Path) -> nn.Module:
    """The frame encoder ``spec`` describes, loaded from ``path`` (not verified here), in eval
    mode. ModelStoreError for an unknown arch or weights that do not fit it."""
    builder = _BACKBONES.get(spec.arch)
    if builder is None:
        raise ModelStoreError(f"Unknown frame_encoder.arch {spec.arch!r}; known: "
                              f"{_known_archs()}.")
    try:
        return builder(spec, path).eval()
    except (RuntimeError, KeyError, pickle.UnpicklingError) as exc:
        raise ModelStoreError(f"Weights {path} do not fit frame encoder {spec.arch!r}: "
                              f"{exc}") from exc


def load_frame_encoder(manifest: Manifest, folder: Path) -> nn.Module:
    """The verified, pretrained frame encoder a manifest names (in eval mode)."""
    spec = manifest.frame_encoder
    if spec.arch not in _BACKBONES:
        raise ModelStoreError(f"Unknown frame_encoder.arch {spec.arch!r} in model "
                              f"{manifest.name} {manifest.version}; known: "
                              f"{_known_archs()}.")
    path = verified_weights(spec.weights, folder, f"{manifest.name} {manifest.version} "
                                                   "frame encoder")
    return build_frame_encoder(spec, path)


def build_sequence_modules(manifest: Manifest) -> tuple[TemporalEncoder, BoundaryHead]:
    """Fresh (untrained) temporal encoder and boundary head shaped as the manifest says."""
    t = manifest.temporal
    # Sized even when temporal.weights is null: this is what training builds.
    temporal = TemporalEncoder(manifest.frame_encoder.feature_dim, t.d_model, t.n_layers,
                               t.n_heads, t.max_len, mlp_ratio=t.mlp_ratio,
                               positions=t.positions)
    return temporal, BoundaryHead(t.d_model, t.head_hidden)


def sequence_state_dict(model: VideoBert) -> dict[str, torch.Tensor]:
    """What ``temporal.pt`` holds: the temporal encoder and the heads, not the CNN."""
    return {k: v.detach().cpu() for k, v in model.state_dict().items()
            if k.startswith(("temporal.", "boundary_head."))}


def save_temporal_weights(model: VideoBert, path: Path) -> str:
    """Write ``temporal.pt`` and return its sha256 for the manifest."""
    torch.save(sequence_state_dict(model), path)
    return sha256_file(path)


def _load_sequence_weights(model: VideoBert, path: Path) -> None:
    state = torch.load(path, map_location="cpu", weights_only=True)
    parts: dict[str, dict[str, torch.Tensor]] = {"temporal": {}, "boundary_head": {}}
    for key, value in state.items():
        prefix, _, rest = key.partition(".")
        if prefix not in parts:
            # Never let this file overwrite the verified CNN (or anything else).
            raise ModelStoreError(f"Weights {path} hold an unexpected tensor {key!r}; only "
                                  "temporal.* and boundary_head.* belong there.")
        parts[prefix][rest] = value
    if model.temporal is None or model.boundary_head is None:
        raise ModelStoreError(f"Weights {path}: this model was built without a temporal "
                              "encoder.")
    try:
        model.temporal.load_state_dict(parts["temporal"], strict=True)
        model.boundary_head.load_state_dict(parts["boundary_head"], strict=True)
    except RuntimeError as exc:
        raise ModelStoreError(f"Weights {path} do not fit the manifest's temporal spec: "
                              f"{exc}") from exc


def _read_labels(manifest: Manifest, folder: Path) -> list[str]:
    ref = manifest.labels
    if ref is None:  # a backbone without a classifier (the schema checks num_classes is 0)
        return []
    what = f"{manifest.name} {manifest.version} labels"
    path = confined_file(folder, ref, what)
    labels = path.read_text(encoding="utf-8").splitlines()
    if len(labels) != manifest.frame_encoder.num_classes:
        raise ModelStoreError(f"{what}: {path} has {len(labels)} lines, the frame encoder has "
                              f"{manifest.frame_encoder.num_classes} classes.")
    return labels


def _read_categories(manifest: Manifest, folder: Path, num_classes: int
                     ) -> list[tuple[str, list[int]]] | None:
    """``label_hierarchy.json``: {"categories": [{"name", "classes": [class ids]}, ...]}."""
    ref = manifest.labels.hierarchy if manifest.labels is not None else None
    if ref is None:
        return None
    what = f"{manifest.name} {manifest.version} label hierarchy"
    path = confined_file(folder, ref, what)
    try:
        categories = [(str(entry["name"]), [int(c) for c in entry["classes"]])
                      for entry in json.loads(path.read_text(encoding="utf-8"))["categories"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelStoreError(f"{what}: {path} is not a valid hierarchy: {exc}") from exc
    for name, classes in categories:
        if not classes or min(classes) < 0 or max(classes) >= num_classes:
            raise ModelStoreError(f"{what}: category {name!r} names classes outside 0.."
                                  f"{num_classes - 1}.")
    return categories


# --- the store -----------------------------------------------------------------------------------

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    # Numeric parts compare as numbers ("1.10" after "1.9"); text sorts before numbers.
    return tuple((1, int(p)) if p.isdigit() else (0, p) for p in re.split(r"[.+-]", version))


def _versions(store_dir: Path, name: str) -> list[str]:
    folder = store_dir / name
    if not folder.is_dir():
        return []
    found = [p.name for p in folder.iterdir() if (p / MANIFEST_NAME).is_file()]
    return sorted(found, key=_version_key)


def list_models(store_dir: Path) -> list[Manifest]:
    """Every readable manifest in the store, by name then version. A broken manifest is logged
    and skipped here (loading it raises the full error)."""
    manifests: list[Manifest] = []
    if not store_dir.is_dir():
        return manifests
    for model_dir in sorted(p for p in store_dir.iterdir() if p.is_dir()):
        for version in _versions(store_dir, model_dir.name):
            try:
                manifests.append(read_manifest(model_dir / version / MANIFEST_NAME))
            except ModelStoreError as exc:
                log.error("skipping model %s %s: %s", model_dir.name, version, exc.message)
    return manifests


def resolve_version(store_dir: Path, name: str, version: str | None = None) -> str:
    """The version to load: the one asked for, or the highest one in the store."""
    # A name is a folder name, never a path (the manifest schema's rule).
    versions = _versions(store_dir, name) if _NAME.fullmatch(name) else []
    if not versions:
        known = sorted({m.name for m in list_models(store_dir)})
        raise ModelNotFound(f"No model named {name!r} in the store. Available: "
                            f"{', '.join(known) or 'none'}.")
    if version is None:
        return versions[-1]
    if version not in versions:
        raise ModelNotFound(f"Model {name!r} has no version {version!r}. Available: "
                            f"{', '.join(versions)}.")
    return version


def load_model(store_dir: Path, name: str, version: str | None = None, device: str = "cpu",
               precision: Precision = "fp32", *, fuse: bool = True) -> LoadedModel:
    """Load, verify and assemble one model. ModelNotFound for an unknown name or version,
    ModelStoreError for anything broken in the store.

    On the CPU the CNN's Conv -> BatchNorm -> activation runs are fused (``fusion.py``: 2x
    faster, logits within 2e-5 of the unfused model in fp32) unless ``fuse`` is false."""
    version = resolve_version(store_dir, name, version)
    folder = store_dir / name / version
    manifest = read_manifest(folder / MANIFEST_NAME)
    if (manifest.name, manifest.version) != (name, version):
        raise ModelStoreError(f"{folder / MANIFEST_NAME} says it is {manifest.name} "
                              f"{manifest.version}, but it lives in {name}/{version}.")
    labels = _read_labels(manifest, folder)
    text = load_text_space(manifest, folder, labels)
    categories = _read_categories(manifest, folder, len(labels))
    frame_encoder = load_frame_encoder(manifest, folder)
    clip_frames = manifest.frame_encoder.clip_frames
    if manifest.temporal.weights is None:
        log.warning("model %s %s has no trained temporal weights: served without a "
                    "Transformer (no shot boundaries, uniform attention)", name, version)
        model = VideoBert(frame_encoder, None, None, manifest.input, clip_frames=clip_frames)
    else:
        temporal, head = build_sequence_modules(manifest)
        model = VideoBert(frame_encoder, temporal, head, manifest.input,
                          clip_frames=clip_frames)
        path = verified_weights(manifest.temporal.weights, folder,
                                 f"{name} {version} temporal")
        _load_sequence_weights(model, path)
    model = model.to(device).eval()
    model.set_precision(precision)
    if fuse and device == "cpu":
        fuse_conv_bn_act(model.frame_encoder)
    log.info("loaded model %s %s on %s (%s)", name, version, device, precision)
    return LoadedModel(manifest=manifest, labels=labels, model=model, name=name,
                       version=version, folder=folder, text=text, categories=categories)
