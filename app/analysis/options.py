"""The options of an analysis, as a caller sends them (query parameters, form fields, a job).

Pydantic only: HTTP, the jobs and the CLI validate the same options with the same messages, and
``to_pipeline`` turns them into what the pipeline takes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.errors import InvalidOption
from app.inference.pipeline import PipelineOptions

MAX_LABELS = 64
MAX_LABEL_CHARS = 200
# Fields that may be repeated (``labels=a&labels=b``); every other field takes its last value.
LIST_FIELDS = frozenset({"labels"})


def validation_problems(exc: ValidationError, whole: str) -> str:
    """pydantic's errors as one line: "field: message; ..." (``whole`` names a model-level
    error, which has no field)."""
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or whole}: {err['msg']}"
                     for err in exc.errors())


class RequestOptions(BaseModel):
    """Options for classify and summarize, from query parameters or form fields."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str | None = Field(None, description="Model name (GET /v1/models); default model.")
    fps: float | None = Field(None, gt=0, le=30, description="Timeline sampling rate.")
    max_frames: int | None = Field(None, ge=1, le=2048,
                                   description="Cap on sampled frames; long videos lower fps.")
    num_frames: int | None = Field(None, ge=1, le=2048,
                                   description="Sample exactly N uniform frames instead of fps.")
    mode: Literal["exact", "fast"] = Field(
        "exact", description="exact: frames at the sampled times; fast: nearest keyframes "
                             "(approximate times, much cheaper).")
    top_k: int = Field(5, ge=1, le=100)
    min_confidence: float = Field(0.05, ge=0, le=1)
    include_frames: bool = Field(False, description="Also return labels per sampled frame.")
    summary_ratio: float = Field(0.15, gt=0, le=1,
                                 description="Highlight length budget as a share of the video.")
    num_keyframes: int | None = Field(None, ge=1, le=64)
    thumbnails: bool = Field(False, description="Return a small base64 JPEG per keyframe.")
    thumbnail_px: int = Field(160, ge=32, le=640)
    refine_boundaries: bool = True
    format: Literal["json", "jpeg"] = Field(
        "json", description="summarize only: jpeg returns the keyframes as one contact sheet.")
    labels: list[str] | None = Field(
        None, description=f"classify only: your own classes (up to {MAX_LABELS}, each up to "
                          f"{MAX_LABEL_CHARS} characters), as repeated fields or one JSON list. "
                          "The answer's custom_labels score each one.")
    label_set: str | None = Field(
        None, max_length=64, description="classify only: a named label set of the model "
                                         "(GET /v1/models), e.g. genres or kinetics400.")
    show_guesses: bool = Field(
        False, description="classify only: when no label reaches min_confidence, also return "
                           "the best guesses below it.")

    @field_validator("labels", mode="before")
    @classmethod
    def _labels_list(cls, value: Any) -> Any:
        # One field holding a JSON list is the same as the list sent as repeated fields.
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str) \
                and value[0].lstrip().startswith("["):
            try:
                value = json.loads(value[0])
            except json.JSONDecodeError:
                raise ValueError("labels: not a valid JSON list of strings") from None
        return value

    @field_validator("labels")
    @classmethod
    def _labels_valid(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if len(value) > MAX_LABELS:
            raise ValueError(f"at most {MAX_LABELS} labels, got {len(value)}")
        cleaned: list[str] = []
        for label in value:
            text = " ".join(label.split())
            if not text:
                raise ValueError("a label is empty")
            if len(text) > MAX_LABEL_CHARS:
                raise ValueError(f"a label is longer than {MAX_LABEL_CHARS} characters")
            if "\ufffd" in text:  # what invalid UTF-8 decodes to
                raise ValueError("a label is not valid UTF-8")
            if text not in cleaned:
                cleaned.append(text)
        return cleaned

    @classmethod
    def parse(cls, *sources: Iterable[tuple[str, str]] | dict[str, str]) -> RequestOptions:
        """Options from (name, value) pairs: query parameters, then form fields (a later source
        wins; a list field collects every value)."""
        merged: dict[str, Any] = {}
        lists: dict[str, list[str]] = {}
        for source in sources:
            for name, value in (source.items() if isinstance(source, dict) else source):
                if name in LIST_FIELDS:
                    lists.setdefault(name, []).append(value)
                else:
                    merged[name] = value
        merged.update(lists)
        try:
            return cls.model_validate(merged)
        except ValidationError as exc:
            raise InvalidOption(f"Invalid option(s): {validation_problems(exc, 'options')}. "
                                "See /docs for the allowed values.") from None

    def to_pipeline(self) -> PipelineOptions:
        return PipelineOptions(
            model=self.model, fps=self.fps, max_frames=self.max_frames,
            num_frames=self.num_frames, mode=self.mode, top_k=self.top_k,
            min_confidence=self.min_confidence, include_frames=self.include_frames,
            summary_ratio=self.summary_ratio, num_keyframes=self.num_keyframes,
            thumbnails=self.thumbnails or self.format == "jpeg",
            thumbnail_px=self.thumbnail_px if self.format == "json" else max(self.thumbnail_px,
                                                                             240),
            refine_boundaries=self.refine_boundaries, labels=tuple(self.labels or ()),
            label_set=self.label_set, show_guesses=self.show_guesses)
