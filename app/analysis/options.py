"""The options of an analysis, as a caller sends them (query parameters, form fields, a job).

Pydantic only: HTTP, the jobs and the CLI validate the same options with the same messages, and
``to_pipeline`` turns them into what the pipeline takes.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.errors import InvalidOption
from app.inference.pipeline import PipelineOptions


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

    @classmethod
    def parse(cls, query: dict[str, str], form: dict[str, str]) -> RequestOptions:
        merged: dict[str, Any] = {**query, **form}
        try:
            return cls.model_validate(merged)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'options'}: {err['msg']}"
                for err in exc.errors())
            raise InvalidOption(f"Invalid option(s): {problems}. See /docs for the allowed "
                                "values.") from None

    def to_pipeline(self) -> PipelineOptions:
        return PipelineOptions(
            model=self.model, fps=self.fps, max_frames=self.max_frames,
            num_frames=self.num_frames, mode=self.mode, top_k=self.top_k,
            min_confidence=self.min_confidence, include_frames=self.include_frames,
            summary_ratio=self.summary_ratio, num_keyframes=self.num_keyframes,
            thumbnails=self.thumbnails or self.format == "jpeg",
            thumbnail_px=self.thumbnail_px if self.format == "json" else max(self.thumbnail_px,
                                                                             240),
            refine_boundaries=self.refine_boundaries)
