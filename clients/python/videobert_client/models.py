"""The answers' shapes, as TypedDicts: what an editor and a type checker see. Each names the
component of the service's OpenAPI document it mirrors (``SCHEMAS``), and the client's tests
check the fields against the running service's document, so the two cannot drift."""

from __future__ import annotations

from typing import Any, TypedDict


class ModelRef(TypedDict):
    name: str
    version: str


class ParentLabel(TypedDict):
    label: str
    score: float


class Label(TypedDict):
    label: str
    class_id: int | None  # None for a category (a group of classes)
    score: float
    kind: str  # "class" or "category"
    parent: ParentLabel | None


class VideoMetadata(TypedDict):
    container: str
    codec: str
    width: int
    height: int
    duration_s: float
    fps: float
    size_bytes: int
    frames_sampled: int
    sampling_mode: str
    sample_fps: float


class Timings(TypedDict):
    decode_ms: float
    queue_ms: float
    inference_ms: float
    model_tail_ms: float
    refine_ms: float
    labels_ms: float
    analysis_ms: float
    thumbnails_ms: float
    total_ms: float
    batch_size: int


class ShotLabels(TypedDict):
    index: int
    start_s: float
    end_s: float
    labels: list[Label]
    custom_labels: list[dict[str, Any]] | None


class Shot(TypedDict):
    index: int
    start_s: float
    end_s: float


class Keyframe(TypedDict):
    time_s: float
    shot_index: int
    score: float
    thumbnail_jpeg_base64: str | None


class Segment(TypedDict):
    start_s: float
    end_s: float
    shot_index: int
    score: float


class ImportancePoint(TypedDict):
    time_s: float
    score: float


class SubtitleCue(TypedDict):
    start_s: float
    end_s: float
    text: str
    language: str | None
    track: int


class ClassifyResult(TypedDict):
    request_id: str
    model: ModelRef
    video: VideoMetadata
    video_labels: list[Label]
    video_labels_reason: str | None
    guesses: list[Label] | None
    custom_labels: list[dict[str, Any]] | None
    labels_truncated: list[str] | None
    shot_labels: list[ShotLabels]
    frame_labels: list[dict[str, Any]] | None
    timings: Timings


class SummarizeResult(TypedDict):
    request_id: str
    model: ModelRef
    video: VideoMetadata
    shots: list[Shot]
    importance: list[ImportancePoint]
    keyframes: list[Keyframe]
    highlights: list[Segment]
    highlight_duration_s: float
    budget_s: float
    subtitles: list[SubtitleCue]
    timings: Timings


class Job(TypedDict):
    id: str
    task: str
    status: str  # queued, running, succeeded, failed, cancelled
    progress: float
    attempts: int
    created_at: str
    started_at: str | None
    finished_at: str | None
    result: dict[str, Any] | None
    error: dict[str, str] | None
    callback: dict[str, str] | None


# TypedDict -> the OpenAPI component it mirrors.
SCHEMAS: dict[type, str] = {
    ModelRef: "ModelRef", ParentLabel: "ParentLabel", Label: "Label",
    VideoMetadata: "VideoMetadata", Timings: "Timings", ShotLabels: "ShotLabels", Shot: "Shot",
    Keyframe: "Keyframe", Segment: "Segment", ImportancePoint: "ImportancePoint",
    SubtitleCue: "SubtitleCue", ClassifyResult: "ClassifyResponse",
    SummarizeResult: "SummarizeResponse", Job: "JobView",
}
