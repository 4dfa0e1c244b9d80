"""``read_out``: one video's model outputs -> shots, labels, importance, keyframes, highlights."""

from __future__ import annotations

import logging

import numpy as np

from app.errors import InferenceFailed
from app.postprocess.boundaries import find_boundaries, merge_short_shots, shots_from_boundaries
from app.postprocess.hierarchy import Hierarchy
from app.postprocess.highlights import select_highlights
from app.postprocess.importance import importance_scores
from app.postprocess.keyframes import select_keyframes
from app.postprocess.labels import frame_labels, label_scores, top_labels
from app.postprocess.types import (
    Boundary,
    FrameLabels,
    ImportancePoint,
    Label,
    ReadoutOptions,
    VideoReadout,
)
from app.postprocess.zero_shot import CustomLabel, Words, custom_labels

log = logging.getLogger(__name__)


def read_out(times_s: np.ndarray, frame_probs: np.ndarray, features: np.ndarray,
            boundary_prob: np.ndarray, attention_mass: np.ndarray, duration_s: float,
            labels: list[str], options: ReadoutOptions | None = None,
            boundaries: list[Boundary] | None = None, words: Words | None = None,
            hierarchy: Hierarchy | None = None) -> VideoReadout:
    """Everything the API returns about one video, from the model's per-sample outputs.

    ``boundaries``: the video's shot boundaries as checked against its frames
    (``verified_boundaries``), each kept inside its gap; None takes the boundary head's peaks
    at ``options.boundary_threshold`` as they are (``find_boundaries``). ``words``: the
    caller's own labels, scored per shot and for the video (``zero_shot.py``). ``hierarchy``:
    the categories above the classes; with it a shot or video whose classes are all unsure
    can still be labelled by their category ("bicycle"), and each label names its parent
    (``hierarchy.py``). The covered
    duration is
    ``max(duration_s, last sample time)``; the highlight budget is ``summary_ratio`` of it.
    Raises ``ValueError`` for inconsistent shapes and ``InferenceFailed`` for non-finite model
    outputs.
    """
    options = options or ReadoutOptions()
    times, probs, feats, bprob, attention = _checked(
        times_s, frame_probs, features, boundary_prob, attention_mass, labels)
    num_samples = len(times)
    covered_s = max(float(duration_s), float(times[-1]), 0.0)

    if boundaries is None:
        boundaries = find_boundaries(times, bprob, options.boundary_threshold)
    else:
        boundaries = _inside_their_gaps(boundaries, times)
    boundaries = merge_short_shots(boundaries, covered_s, options.min_shot_s)
    shots = shots_from_boundaries(boundaries, covered_s, num_samples)

    video_labels: list[Label] = []
    guesses: list[Label] = []
    custom_video: list[CustomLabel] = []
    if labels:  # a features-only model has no classes to label with
        shot_scores, video_scores = label_scores(probs, shots)
        video_labels = top_labels(video_scores, labels, options.top_k, options.min_confidence)
        guesses = [] if video_labels else top_labels(video_scores, labels, options.top_k, 0.0)
        for shot, row in zip(shots, shot_scores, strict=True):
            shot.labels = top_labels(row, labels, options.top_k, options.min_confidence)
        if hierarchy is not None:
            shot_cats, video_cats = label_scores(probs, shots, hierarchy.category_probs(probs))
            video_labels = hierarchy.specific_labels(video_labels, video_cats, options.top_k,
                                                     options.min_confidence)
            guesses = hierarchy.with_parents(guesses, video_cats) if not video_labels else []
            for shot, cats in zip(shots, shot_cats, strict=True):
                shot.labels = hierarchy.specific_labels(shot.labels, cats, options.top_k,
                                                        options.min_confidence)
        if words is not None:
            named = custom_labels(np.vstack([video_scores[None], shot_scores]),
                                  words.class_vectors, labels, words.query, words.options)
            custom_video = named[0]
            for shot, shot_custom in zip(shots, named[1:], strict=True):
                shot.custom_labels = shot_custom[:options.top_k]
    frames = ([FrameLabels(time_s=float(t), labels=top) for t, top in zip(
        times.tolist(), frame_labels(probs, labels, options.top_k, options.min_confidence),
        strict=True)] if options.include_frames else [])

    importance = importance_scores(feats, attention, shots)
    keyframes = select_keyframes(feats, importance, shots, times, options.num_keyframes,
                                 options.max_keyframes)
    highlights = select_highlights(shots, importance, times, covered_s, options.summary_ratio)
    return VideoReadout(
        video_labels=video_labels,
        shots=shots,
        frames=frames,
        importance=[ImportancePoint(time_s=float(t), score=float(s))
                    for t, s in zip(times.tolist(), importance.tolist(), strict=True)],
        keyframes=keyframes,
        highlights=highlights,
        highlight_duration_s=float(sum(h.end_s - h.start_s for h in highlights)),
        budget_s=float(options.summary_ratio * covered_s),
        custom_video_labels=custom_video,
        video_guesses=guesses,
    )


def _checked(times_s: np.ndarray, frame_probs: np.ndarray, features: np.ndarray,
             boundary_prob: np.ndarray, attention_mass: np.ndarray, labels: list[str]
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    times = np.asarray(times_s, dtype=np.float64)
    probs = np.asarray(frame_probs, dtype=np.float64)
    feats = np.asarray(features, dtype=np.float64)
    bprob = np.asarray(boundary_prob, dtype=np.float64)
    attention = np.asarray(attention_mass, dtype=np.float64)
    num_samples = len(times)
    if times.ndim != 1 or num_samples == 0:
        raise ValueError(f"times_s must be a non-empty 1-d array, got shape {times.shape}")
    if np.any(np.diff(times) < 0):
        raise ValueError("times_s must be non-decreasing")
    expected = {"frame_probs": (probs, 2), "features": (feats, 2),
                "boundary_prob": (bprob, 1), "attention_mass": (attention, 1)}
    for name, (array, ndim) in expected.items():
        if array.ndim != ndim or array.shape[0] != num_samples:
            raise ValueError(f"{name} must have {ndim} dims and {num_samples} rows, "
                             f"got shape {array.shape}")
    if probs.shape[1] != len(labels):
        raise ValueError(f"frame_probs has {probs.shape[1]} classes but there are "
                         f"{len(labels)} labels")
    for name, array in (("times_s", times), ("frame_probs", probs), ("features", feats),
                        ("boundary_prob", bprob), ("attention_mass", attention)):
        if not np.all(np.isfinite(array)):
            raise InferenceFailed(f"The model produced non-finite values ({name}). Retry; if "
                                  "it persists, run the model in fp32 (VIDEOBERT_PRECISION).")
    return times, probs, feats, bprob, attention


def _inside_their_gaps(boundaries: list[Boundary], times: np.ndarray) -> list[Boundary]:
    """Each boundary clamped to its own gap, so that every shot keeps its samples."""
    if any(b.index < 0 or b.index >= len(times) - 1 for b in boundaries):
        raise ValueError(f"boundary gap index outside 0..{len(times) - 2}")
    moved = []
    for boundary in boundaries:
        lo, hi = float(times[boundary.index]), float(times[boundary.index + 1])
        time_s = boundary.time_s
        clamped = min(max(float(time_s), lo), hi) if np.isfinite(time_s) else (lo + hi) / 2.0
        moved.append(Boundary(time_s=clamped, index=boundary.index, score=boundary.score))
    return moved
