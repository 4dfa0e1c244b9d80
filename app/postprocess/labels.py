"""Labels at three levels: frame -> shot -> video, weighted by the model's own evidence."""

from __future__ import annotations

import numpy as np

from app.postprocess.types import Label, Shot

# Video score = VIDEO_MAX_WEIGHT * best shot + (1 - VIDEO_MAX_WEIGHT) * duration-weighted mean.
# An even blend lets a label that is confident in one short shot keep half its score, while a
# label present throughout the video still outranks it.
VIDEO_MAX_WEIGHT = 0.5


def frame_weights(probs: np.ndarray) -> np.ndarray:
    """Trust in each frame of one shot: confidence x agreement with the rest of the shot.

    For frame t (probabilities p_t over C classes) in a shot of n frames:
      confidence_t = max_c p_t[c]
      consensus_t  = mean of the other n-1 frames' probabilities (leave-one-out, so a frame
                     never agrees with itself)
      agreement_t  = cos(p_t, consensus_t)    (0..1: probabilities are never negative)
      w_t          = confidence_t * agreement_t
    A one-frame flicker disagrees with its shot and gets a small weight however confident it
    is; the cosine is dominated by the peaks, so the small tail mass every softmax spreads over
    all classes does not make two different answers look alike. A single-frame shot has no one
    to disagree with: agreement 1.
    """
    n = probs.shape[0]
    confidence = probs.max(axis=1)  # (n,)
    if n == 1:
        copied: np.ndarray = confidence.copy()
        return copied
    consensus = (probs.sum(axis=0, keepdims=True) - probs) / (n - 1)  # (n, C)
    norms = np.linalg.norm(probs, axis=1) * np.linalg.norm(consensus, axis=1)  # (n,)
    dots = (probs * consensus).sum(axis=1)  # (n,)
    agreement = np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)
    weighted: np.ndarray = confidence * np.clip(agreement, 0.0, 1.0)
    return weighted


def shot_label_scores(frame_probs: np.ndarray, shots: list[Shot],
                      columns: np.ndarray | None = None) -> np.ndarray:
    """(S, C) score of every class in every shot: the ``frame_weights``-weighted mean of the
    shot's frame probabilities, score_c = sum_t w_t p_t[c] / sum_t w_t (0..1). If every weight
    is 0 (all-zero probabilities) the plain mean is used. ``columns`` (T, K): other per-frame
    scores (the categories above the classes) averaged with the same weights instead."""
    probs = np.clip(np.asarray(frame_probs, dtype=np.float64), 0.0, 1.0)
    values = probs if columns is None else np.clip(np.asarray(columns, dtype=np.float64), 0, 1)
    scores = np.zeros((len(shots), values.shape[1]))
    for k, shot in enumerate(shots):
        weights = frame_weights(probs[shot.sample_indices])
        if weights.sum() <= 0.0:
            weights = np.ones_like(weights)
        scores[k] = weights @ values[shot.sample_indices] / weights.sum()
    return np.clip(scores, 0.0, 1.0)


def video_label_scores(shot_scores: np.ndarray, shots: list[Shot]) -> np.ndarray:
    """(C,) video score of every class from the shot scores s_k:

        video_c = a * max_k s_k[c] + (1 - a) * sum_k d_k s_k[c] / sum_k d_k,   a = 0.5

    with d_k the shot's duration (its sample count when every duration is 0). The max keeps a
    label seen confidently in one short shot; the duration-weighted mean ranks labels that fill
    the video first. Both terms are in 0..1, so the score is too.
    """
    durations = np.array([max(shot.duration_s, 0.0) for shot in shots])
    if durations.sum() <= 0.0:
        durations = np.array([float(len(shot.sample_indices)) for shot in shots])
    mean = durations @ shot_scores / durations.sum()
    best = shot_scores.max(axis=0)
    scores: np.ndarray = np.clip(VIDEO_MAX_WEIGHT * best + (1.0 - VIDEO_MAX_WEIGHT) * mean,
                                 0.0, 1.0)
    return scores


def top_labels(scores: np.ndarray, labels: list[str], top_k: int,
               min_confidence: float) -> list[Label]:
    """The ``top_k`` best classes with a score of at least ``min_confidence``, best first
    (ties: lower class id first)."""
    if top_k < len(scores):
        # Partial selection first: sorting all 1000 classes for every frame is the slow part.
        kth_best = -np.partition(-scores, top_k - 1)[top_k - 1]
        candidates = np.flatnonzero(scores >= kth_best)  # every class tied at the cut too
        order = candidates[np.lexsort((candidates, -scores[candidates]))][:top_k]
    else:
        order = np.argsort(-scores, kind="stable")
    return [Label(label=labels[c], class_id=int(c), score=float(scores[c]))
            for c in order.tolist() if scores[c] >= min_confidence]


def label_scores(frame_probs: np.ndarray, shots: list[Shot], columns: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """((S, C) shot scores, (C,) video scores): frame evidence -> shot -> video (of
    ``columns`` instead, weighted by the frames' class evidence, when given)."""
    shot_scores = shot_label_scores(frame_probs, shots, columns)
    return shot_scores, video_label_scores(shot_scores, shots)


def aggregate_labels(frame_probs: np.ndarray, shots: list[Shot], labels: list[str], top_k: int,
                     min_confidence: float) -> tuple[list[Label], list[list[Label]]]:
    """Video labels and each shot's labels (frame evidence -> shot -> video)."""
    if frame_probs.shape[1] == 0:  # a features-only model: nothing to label
        return [], [[] for _ in shots]
    shot_scores, video_scores = label_scores(frame_probs, shots)
    video = top_labels(video_scores, labels, top_k, min_confidence)
    per_shot = [top_labels(row, labels, top_k, min_confidence) for row in shot_scores]
    return video, per_shot


def frame_labels(frame_probs: np.ndarray, labels: list[str], top_k: int,
                 min_confidence: float) -> list[list[Label]]:
    """Each sampled frame's own top labels: the raw probabilities, no smoothing."""
    if frame_probs.shape[1] == 0:
        return [[] for _ in range(frame_probs.shape[0])]
    probs = np.clip(np.asarray(frame_probs, dtype=np.float64), 0.0, 1.0)
    return [top_labels(row, labels, top_k, min_confidence) for row in probs]
