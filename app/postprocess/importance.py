"""Importance of each sampled time: representative of its shot, from a distinct shot, attended."""

from __future__ import annotations

import numpy as np

from app.postprocess.types import Shot

# Floors keep one weak factor from zeroing a sample the others rate highly: a shot that looks
# like the rest of the video, or a sample the Transformer ignores, still counts for half.
_DISTINCT_FLOOR = 0.5
_ATTENTION_FLOOR = 0.5
# Raw scores closer together than this share of the best are rounding noise: a flat curve.
_FLAT = 1e-9


def unit_rows(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), for cosine similarities."""
    x = np.asarray(features, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    unit: np.ndarray = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    return unit


def centrality(features: np.ndarray, shots: list[Shot]) -> np.ndarray:
    """(T,) cosine of each sample to its shot's mean feature (-1..1; 1 for one-sample shots)."""
    unit = unit_rows(features)
    out = np.zeros(len(unit))
    for shot in shots:
        idx = shot.sample_indices
        mean = unit_rows(unit[idx].mean(axis=0, keepdims=True))[0]
        out[idx] = unit[idx] @ mean
    return out


def shot_distinctness(features: np.ndarray, shots: list[Shot]) -> np.ndarray:
    """(S,) duration-weighted mean cosine distance, (1 - cos) / 2 in 0..1, from each shot's mean
    feature to every other shot's. A video of one shot gets 1."""
    unit = unit_rows(features)
    means = unit_rows(np.stack([unit[s.sample_indices].mean(axis=0) for s in shots]))  # (S, D)
    distance = (1.0 - means @ means.T) / 2.0  # (S, S)
    durations = np.array([max(s.duration_s, 0.0) for s in shots])
    if durations.sum() <= 0.0:
        durations = np.array([float(len(s.sample_indices)) for s in shots])
    out = np.ones(len(shots))
    for k in range(len(shots)):
        others = np.ones(len(shots), dtype=bool)
        others[k] = False
        weight = durations[others]
        if others.any() and weight.sum() > 0:
            out[k] = float(weight @ distance[k, others] / weight.sum())
    return np.clip(out, 0.0, 1.0)


def importance_scores(features: np.ndarray, attention_mass: np.ndarray,
                      shots: list[Shot]) -> np.ndarray:
    """(T,) importance in 0..1: the most important sample scores 1, the least 0.

        rep_t      = max(cos(f_t, mean of its shot), 0) / max over the shot of the same
        distinct_k = shot_distinctness_k / max over shots
        attn_t     = attention_mass_t / max_t attention_mass
        raw_t      = rep_t * (0.5 + 0.5 * distinct_k) * (0.5 + 0.5 * attn_t)
        importance = (raw - min(raw)) / (max(raw) - min(raw))    (all 1 if raw is flat)

    Within a shot the most typical sample wins (a representative frame, not a transition
    frame); across shots, content unlike the rest of the video and content the Transformer
    attends to wins (diversity). CNN features of one video are all fairly alike, so raw
    scores sit in a narrow band; stretching them to 0..1 (as TVSum/SumMe-style frame scores
    are) lets the highlight knapsack trade importance against length instead of just filling
    the budget.
    """
    num_samples = len(features)
    rep = np.clip(centrality(features, shots), 0.0, None)
    for shot in shots:
        idx = shot.sample_indices
        top = rep[idx].max()
        rep[idx] = rep[idx] / top if top > 0 else 1.0
    distinct = shot_distinctness(features, shots)
    distinct = distinct / distinct.max() if distinct.max() > 0 else np.ones_like(distinct)
    per_sample_distinct = np.zeros(num_samples)
    for shot, value in zip(shots, distinct, strict=True):
        per_sample_distinct[shot.sample_indices] = value
    attention = np.clip(np.asarray(attention_mass, dtype=np.float64), 0.0, None)
    attention = attention / attention.max() if attention.max() > 0 else np.ones(num_samples)
    raw = (rep * (_DISTINCT_FLOOR + (1 - _DISTINCT_FLOOR) * per_sample_distinct)
           * (_ATTENTION_FLOOR + (1 - _ATTENTION_FLOOR) * attention))
    spread = float(raw.max() - raw.min())
    if spread <= _FLAT * float(raw.max()):
        return np.ones(num_samples)
    scaled: np.ndarray = np.clip((raw - raw.min()) / spread, 0.0, 1.0)
    return scaled
