"""Pipeline results -> response bodies (plain dicts, validated by the schemas)."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from app.analysis.schemas import ClassifyResponse, SummarizeResponse
from app.inference.pipeline import PipelineResult


def _round(value: float, digits: int = 3) -> float:
    return round(float(value), digits)


def _labels(labels: Any) -> list[dict[str, Any]]:
    return [{"label": lb.label, "class_id": None if lb.kind == "category" else int(lb.class_id),
             "score": _round(lb.score, 4), "kind": lb.kind,
             "parent": None if lb.parent is None else {
                 "label": lb.parent.label, "score": _round(lb.parent.score, 4)}}
            for lb in labels]


def _custom(labels: Any) -> list[dict[str, Any]]:
    return [{"label": c.label, "probability": _round(c.probability, 4),
             "similarity": _round(c.similarity, 4),
             "evidence": [{"label": e.label, "contribution": _round(e.contribution, 4)}
                          for e in c.evidence]} for c in labels]


def _metadata(result: PipelineResult) -> dict[str, Any]:
    info = result.info
    times = result.times_s
    sample_fps = (len(times) - 1) / float(times[-1] - times[0]) if len(times) > 1 and \
        times[-1] > times[0] else 0.0
    return {
        "container": info.container, "codec": info.codec, "width": int(info.width),
        "height": int(info.height), "duration_s": _round(info.duration_s),
        "fps": _round(info.fps or 0.0), "size_bytes": int(info.size_bytes),
        "frames_sampled": len(times), "sampling_mode": result.decoded_mode,
        "sample_fps": _round(sample_fps),
    }


def _timings(result: PipelineResult, total_ms: float) -> dict[str, Any]:
    t = result.timings_ms
    return {
        "decode_ms": _round(t.get("decode_ms", 0.0), 1),
        "queue_ms": _round(t.get("queue_ms", 0.0), 1),
        "inference_ms": _round(t.get("inference_ms", 0.0), 1),
        "model_tail_ms": _round(t.get("model_tail_ms", 0.0), 1),
        "refine_ms": _round(t.get("refine_ms", 0.0), 1),
        "labels_ms": _round(t.get("labels_ms", 0.0), 1),
        "analysis_ms": _round(t.get("analysis_ms", 0.0), 1),
        "thumbnails_ms": _round(t.get("thumbnails_ms", 0.0), 1),
        "total_ms": _round(total_ms, 1),
        "batch_size": int(result.batch_size),
    }


def classify_body(result: PipelineResult, *, request_id: str, total_ms: float,
                  include_frames: bool, asked_labels: bool = False,
                  show_guesses: bool = False) -> dict[str, Any]:
    a = result.analysis
    body: dict[str, Any] = {
        "request_id": request_id,
        "model": {"name": result.model_name, "version": result.model_version},
        "video": _metadata(result),
        "video_labels": _labels(a.video_labels),
        "video_labels_reason": None if a.video_labels else "no label above min_confidence",
        "guesses": _labels(a.video_guesses) if show_guesses and not a.video_labels else None,
        "custom_labels": _custom(a.custom_video_labels) if asked_labels else None,
        "labels_truncated": list(result.labels_truncated) if asked_labels else None,
        "shot_labels": [{"index": int(s.index), "start_s": _round(s.start_s),
                         "end_s": _round(s.end_s), "labels": _labels(s.labels),
                         "custom_labels": _custom(s.custom_labels) if asked_labels else None}
                        for s in a.shots],
        "frame_labels": ([{"time_s": _round(f.time_s), "labels": _labels(f.labels)}
                          for f in a.frames] if include_frames else None),
        "timings": _timings(result, total_ms),
    }
    return ClassifyResponse.model_validate(body).model_dump()


def summarize_body(result: PipelineResult, *, request_id: str, total_ms: float
                   ) -> dict[str, Any]:
    a = result.analysis
    # Thumbnails are the analyzer's, decoded and cached apart from the computation.
    keyframes = [{"time_s": _round(k.time_s), "shot_index": int(k.shot_index),
                  "score": _round(k.score, 4), "thumbnail_jpeg_base64": None}
                 for k in a.keyframes]
    body: dict[str, Any] = {
        "request_id": request_id,
        "model": {"name": result.model_name, "version": result.model_version},
        "video": _metadata(result),
        "shots": [{"index": int(s.index), "start_s": _round(s.start_s),
                   "end_s": _round(s.end_s)} for s in a.shots],
        "importance": [{"time_s": _round(p.time_s), "score": _round(p.score, 4)}
                       for p in a.importance],
        "keyframes": keyframes,
        "highlights": [{"start_s": _round(h.start_s), "end_s": _round(h.end_s),
                        "shot_index": int(h.shot_index), "score": _round(h.score, 4)}
                       for h in a.highlights],
        "highlight_duration_s": _round(a.highlight_duration_s),
        "budget_s": _round(a.budget_s),
        "subtitles": [{"start_s": _round(c.start_s), "end_s": _round(c.end_s), "text": c.text,
                       "language": c.language, "track": c.track} for c in result.subtitles],
        "timings": _timings(result, total_ms),
    }
    return SummarizeResponse.model_validate(body).model_dump()


# What each feature of POST /v1/analyze answers, by the key of the combined body.
FEATURE_KEYS = {
    "labels": ("video_labels", "video_labels_reason", "guesses", "custom_labels",
               "labels_truncated", "shot_labels", "frame_labels"),
    "shots": ("shots",),
    "summary": ("importance", "keyframes", "highlights", "highlight_duration_s", "budget_s",
                "subtitles"),
}
COMMON_KEYS = ("request_id", "model", "video", "timings")


def analyze_body(result: PipelineResult, *, request_id: str, total_ms: float,
                 include_frames: bool, asked_labels: bool = False,
                 show_guesses: bool = False) -> dict[str, Any]:
    """Labels, shots and summary of one computation: the classify and summarize bodies
    joined (what both have in common once)."""
    labels = classify_body(result, request_id=request_id, total_ms=total_ms,
                           include_frames=include_frames, asked_labels=asked_labels,
                           show_guesses=show_guesses)
    summary = summarize_body(result, request_id=request_id, total_ms=total_ms)
    return {**{k: labels[k] for k in COMMON_KEYS},
            **{k: labels[k] for k in FEATURE_KEYS["labels"]},
            **{k: summary[k] for k in FEATURE_KEYS["shots"] + FEATURE_KEYS["summary"]}}


def index_body(result: PipelineResult, *, request_id: str, total_ms: float,
               include_frames: bool = False, asked_labels: bool = False,
               show_guesses: bool = False) -> dict[str, Any]:
    """The analyze body and each shot's vectors (``shot_vectors.py``), for a library: one
    cache entry, so indexing the same bytes again costs a cache hit."""
    vectors = result.shot_vectors
    if vectors is None:
        raise ValueError("an index body needs the pipeline's shot vectors")
    body = analyze_body(result, request_id=request_id, total_ms=total_ms,
                        include_frames=include_frames, asked_labels=asked_labels,
                        show_guesses=show_guesses)
    return {**body, "shot_vectors": {"text": encode_vectors(vectors.text),
                                     "visual": encode_vectors(vectors.visual)}}


def from_index_body(body: dict[str, Any], task: str, *, thumbnails: bool) -> dict[str, Any]:
    """The body ``task`` ("classify", "summarize" or "analyze") answers, cut from an index body
    of the same video and options (which holds all of them, computed once)."""
    out = {k: v for k, v in body.items() if k != "shot_vectors"}
    if not thumbnails:  # the index keeps a keyframe per shot for its hits; the caller did not ask
        out["keyframes"] = [{**k, "thumbnail_jpeg_base64": None} for k in out["keyframes"]]
    if task == "analyze":
        return out
    keys = FEATURE_KEYS["labels"] if task == "classify" else (
        FEATURE_KEYS["shots"] + FEATURE_KEYS["summary"])
    return {k: out[k] for k in (*COMMON_KEYS, *keys)}


def encode_vectors(rows: np.ndarray) -> dict[str, Any]:
    """(n, d) floats -> JSON: float32 little-endian, base64 (a cached body is JSON)."""
    array = np.ascontiguousarray(rows, dtype="<f4")
    return {"shape": list(array.shape), "f32": base64.b64encode(array.tobytes()).decode("ascii")}


def decode_vectors(encoded: dict[str, Any]) -> np.ndarray:
    shape = tuple(int(n) for n in encoded["shape"])
    return np.frombuffer(base64.b64decode(encoded["f32"]), dtype="<f4").reshape(shape)


def select_features(body: dict[str, Any], features: list[str]) -> dict[str, Any]:
    """The combined body with only the asked features (and what every answer has)."""
    keep = set(COMMON_KEYS).union(*(FEATURE_KEYS[f] for f in features))
    return {"features": list(features), **{k: v for k, v in body.items() if k in keep}}


def render_body(endpoint: str, result: PipelineResult, *, request_id: str, total_ms: float,
                include_frames: bool, asked_labels: bool = False,
                show_guesses: bool = False) -> dict[str, Any]:
    """The response body of ``endpoint`` ("classify", "summarize", "analyze" or "index")."""
    if endpoint == "index":
        return index_body(result, request_id=request_id, total_ms=total_ms,
                          include_frames=include_frames, asked_labels=asked_labels,
                          show_guesses=show_guesses)
    if endpoint == "summarize":
        return summarize_body(result, request_id=request_id, total_ms=total_ms)
    render = classify_body if endpoint == "classify" else analyze_body
    return render(result, request_id=request_id, total_ms=total_ms,
                  include_frames=include_frames, asked_labels=asked_labels,
                  show_guesses=show_guesses)
