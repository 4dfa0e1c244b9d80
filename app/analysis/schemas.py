"""The response bodies of an analysis (pydantic only): validated when rendered, and the
OpenAPI document's schemas.

Times are seconds (float), scores are in 0..1, as in the hosted video APIs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

_EXAMPLE_VIDEO: dict[str, JsonValue] = {
    "container": "mp4", "codec": "h264", "width": 640, "height": 272, "duration_s": 10.0,
    "fps": 25.0, "size_bytes": 1003405, "frames_sampled": 20, "sampling_mode": "exact",
    "sample_fps": 2.0}
_EXAMPLE_TIMINGS: dict[str, JsonValue] = {
    "decode_ms": 180.2, "queue_ms": 3.1, "inference_ms": 240.5, "model_tail_ms": 35.2,
    "refine_ms": 40.0,
    "analysis_ms": 2.0, "thumbnails_ms": 0.0, "total_ms": 470.0, "batch_size": 1}


class ParentLabel(BaseModel):
    label: str = Field(description="the nearest category above the label (WordNet)")
    score: float = Field(ge=0, le=1, description="the category's score: the sum over its "
                                                 "classes, so never below the label's")


class Label(BaseModel):
    label: str
    class_id: int | None = Field(description="the CNN's class; null for a category")
    score: float = Field(ge=0, le=1)
    kind: Literal["class", "category"] = Field(
        "class", description="class: one of the CNN's classes; category: a group of them "
                             "(\"bicycle\", \"dog\"), answered when none of its classes is "
                             "confident but together they are")
    parent: ParentLabel | None = Field(None, description="the nearest category above")


class Evidence(BaseModel):
    label: str = Field(description="a class of the model's CNN")
    contribution: float = Field(description="its part of the similarity (the parts of the "
                                            "mixed classes sum to it)")


class CustomLabel(BaseModel):
    """One of the caller's labels, scored through the CNN's classes (ConSE)."""

    label: str
    probability: float = Field(ge=0, le=1, description="across the labels of this request "
                                                       "(they sum to 1): which one fits best")
    similarity: float = Field(ge=-1, le=1, description="raw cosine in text space: how well it "
                                                       "fits at all (low everywhere: none fits)")
    evidence: list[Evidence] = Field(description="the classes that contributed most")


class ShotLabels(BaseModel):
    index: int
    start_s: float
    end_s: float
    labels: list[Label]
    custom_labels: list[CustomLabel] | None = None


class FrameLabels(BaseModel):
    time_s: float
    labels: list[Label]


class VideoMetadata(BaseModel):
    container: str
    codec: str
    width: int
    height: int
    duration_s: float
    fps: float
    size_bytes: int
    frames_sampled: int
    sampling_mode: Literal["exact", "fast"]
    sample_fps: float


class ModelRef(BaseModel):
    name: str
    version: str


class Timings(BaseModel):
    """Server-side milliseconds of wall time within the request: none exceeds ``total_ms``.
    Frame models stream: the CNN runs on the first frames while the rest decode, so the
    stages overlap and need not add up to ``total_ms``."""

    decode_ms: float = Field(description="wall time of decoding the sampled frames")
    queue_ms: float = Field(description="wall time during which some of this video's frames "
                                        "waited for a model batch")
    inference_ms: float = Field(description="wall time during which a model batch was "
                                            "computing this video's frames (batches may carry "
                                            "other videos too)")
    model_tail_ms: float = Field(0.0, description="model time after the last frame was "
                                                  "decoded: what the model added to latency")
    refine_ms: float = 0.0
    labels_ms: float = Field(0.0, description="embedding the labels you named")
    analysis_ms: float = 0.0
    thumbnails_ms: float = 0.0
    total_ms: float = 0.0
    batch_size: int = 1


class ClassifyResponse(BaseModel):
    request_id: str
    model: ModelRef
    video: VideoMetadata
    video_labels: list[Label]
    video_labels_reason: str | None = Field(
        None, description="why video_labels is empty, when it is")
    guesses: list[Label] | None = Field(
        None, description="with show_guesses=true and no label above min_confidence: the best "
                          "labels below it")
    custom_labels: list[CustomLabel] | None = Field(
        None, description="with labels= or label_set=: your labels for the whole video, best "
                          "first")
    labels_truncated: list[str] | None = Field(
        None, description="labels longer than the text encoder's token limit, scored on "
                          "their start")
    shot_labels: list[ShotLabels]
    frame_labels: list[FrameLabels] | None = None
    timings: Timings

    model_config = ConfigDict(json_schema_extra={"example": {
        "request_id": "9f1c2e7a4b6d4d0f",
        "model": {"name": "videobert-lite0", "version": "1.0.0"},
        "video": _EXAMPLE_VIDEO,
        "video_labels": [{"label": "mountain bike", "class_id": 671, "score": 0.41}],
        "shot_labels": [{"index": 0, "start_s": 0.0, "end_s": 1.2,
                         "labels": [{"label": "mountain bike", "class_id": 671,
                                     "score": 0.52}]}],
        "frame_labels": None,
        "timings": _EXAMPLE_TIMINGS,
    }})


class Shot(BaseModel):
    index: int
    start_s: float
    end_s: float


class ImportancePoint(BaseModel):
    time_s: float
    score: float = Field(ge=0, le=1)


class Keyframe(BaseModel):
    time_s: float
    shot_index: int
    score: float = Field(ge=0, le=1)
    thumbnail_jpeg_base64: str | None = None


class SubtitleCue(BaseModel):
    """A cue of a text subtitle track in the file (mov_text, SubRip, ASS, WebVTT)."""

    start_s: float
    end_s: float
    text: str
    language: str | None = Field(description="The track's language tag (ISO 639-2), if any.")
    track: int = Field(description="Which subtitle track (0-based, in file order).")


class Segment(BaseModel):
    start_s: float
    end_s: float
    shot_index: int
    score: float = Field(ge=0, le=1)


class SummarizeResponse(BaseModel):
    request_id: str
    model: ModelRef
    video: VideoMetadata
    shots: list[Shot]
    importance: list[ImportancePoint]
    keyframes: list[Keyframe]
    highlights: list[Segment]
    highlight_duration_s: float
    budget_s: float
    subtitles: list[SubtitleCue] = Field(default_factory=list, description="The file's own "
                                         "text subtitles, by start time (empty without any).")
    timings: Timings

    model_config = ConfigDict(json_schema_extra={"example": {
        "request_id": "9f1c2e7a4b6d4d0f",
        "model": {"name": "videobert-lite0", "version": "1.0.0"},
        "video": _EXAMPLE_VIDEO,
        "shots": [{"index": 0, "start_s": 0.0, "end_s": 1.2},
                  {"index": 1, "start_s": 1.2, "end_s": 3.04}],
        "importance": [{"time_s": 0.0, "score": 0.62}, {"time_s": 0.5, "score": 0.81}],
        "keyframes": [{"time_s": 0.5, "shot_index": 0, "score": 0.81,
                       "thumbnail_jpeg_base64": None}],
        "highlights": [{"start_s": 0.0, "end_s": 1.2, "shot_index": 0, "score": 0.7}],
        "highlight_duration_s": 1.2, "budget_s": 1.5,
        "timings": _EXAMPLE_TIMINGS,
    }})


class AnalyzeResponse(BaseModel):
    """POST /v1/analyze: the features asked for, from one computation. ``labels`` gives the
    fields of /v1/classify's answer, ``shots`` and ``summary`` those of /v1/summarize's."""

    request_id: str
    model: ModelRef
    video: VideoMetadata
    features: list[Literal["labels", "shots", "summary"]]
    video_labels: list[Label] | None = None
    video_labels_reason: str | None = None
    guesses: list[Label] | None = None
    custom_labels: list[CustomLabel] | None = None
    labels_truncated: list[str] | None = None
    shot_labels: list[ShotLabels] | None = None
    frame_labels: list[FrameLabels] | None = None
    shots: list[Shot] | None = None
    importance: list[ImportancePoint] | None = None
    keyframes: list[Keyframe] | None = None
    highlights: list[Segment] | None = None
    highlight_duration_s: float | None = None
    budget_s: float | None = None
    subtitles: list[SubtitleCue] | None = None
    timings: Timings
