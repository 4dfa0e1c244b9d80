"""The API's own shapes: errors, models. The analysis bodies and options live in
``app.analysis`` (jobs and the CLI share them); they are re-exported here for the routes.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from app.analysis.options import RequestOptions
from app.analysis.schemas import AnalyzeResponse, ClassifyResponse, SummarizeResponse

__all__ = ["AnalyzeOptions", "AnalyzeResponse", "ClassifyResponse", "ErrorBody",
           "ErrorResponse", "InputSpec", "ModelInfo", "ModelsResponse", "RequestOptions",
           "SummarizeResponse", "error_responses"]


class IndexableOptions(RequestOptions):
    """For the OpenAPI document of /v1/classify and /v1/summarize: their options, plus
    ``index`` (the route reads it itself)."""

    index: bool = Field(False, description="Also add the video to your library (as POST "
                        "/v1/videos does): the answer gains video_id, from the same "
                        "computation.")
    name: str | None = Field(None, description="With index=true: the video's name in your "
                             "library (its file name, say; at most 200 characters).")


class AnalyzeOptions(IndexableOptions):
    """For the OpenAPI document of /v1/analyze: its options are /v1/classify's and
    /v1/summarize's, plus which features to answer (the route reads them itself)."""

    features: str | None = Field(
        None, description="Comma-separated or repeated: labels, shots, summary (default all).")


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


def error_responses(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses=`` for OpenAPI: each status with the error body and its meaning."""
    return {code: {"model": ErrorResponse, "description": text}
            for code, text in descriptions.items()}


class InputSpec(BaseModel):
    short_side: int
    crop: int
    mean: list[float]
    std: list[float]
    sample_fps: float
    max_frames: int


class ModelInfo(BaseModel):
    name: str
    version: str
    description: str
    default: bool
    labels_count: int
    frame_encoder: str
    temporal: str
    input: InputSpec
    devices: list[str]
    text_encoder: bool = Field(False, description="whether it scores labels you name "
                                                  "(classify's labels= option)")
    label_sets: dict[str, int] = Field(default_factory=dict,
                                       description="label_set= names and their label counts")


class ModelsResponse(BaseModel):
    models: list[ModelInfo]


# The upload routes read their body as a stream (api/upload.py), so FastAPI cannot infer it:
# declared here for the OpenAPI document, so that generated clients can upload.
VIDEO_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The video: a multipart file field `video` (options may be sent as "
                       "further form fields), or the raw bytes with a `video/*` Content-Type.",
        "content": {
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["video"],
                "properties": {"video": {"type": "string", "format": "binary"}}}},
            "video/*": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
