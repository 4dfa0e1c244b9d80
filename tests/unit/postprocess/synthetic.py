"""Hand-made model outputs whose right answers are known."""

from __future__ import annotations

import numpy as np

from app.postprocess import Shot

NUM_CLASSES = 10
LABELS = [f"class{c}" for c in range(NUM_CLASSES)]


def probs_for(classes: list[int], confidence: float = 0.8,
              num_classes: int = NUM_CLASSES) -> np.ndarray:
    """(T, C) softmax-like rows: ``confidence`` on the given class, the rest spread evenly."""
    rest = (1.0 - confidence) / (num_classes - 1)
    probs = np.full((len(classes), num_classes), rest)
    probs[np.arange(len(classes)), classes] = confidence
    return probs


def shot_features(shot_of_sample: list[int], dim: int = 16, noise: float = 0.05,
                  seed: int = 0) -> np.ndarray:
    """(T, D) features: one random direction per shot plus a little per-sample noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(shot_of_sample) + 1, dim))
    return centres[shot_of_sample] + noise * rng.normal(size=(len(shot_of_sample), dim))


def boundary_probs(num_samples: int, gaps: list[int], high: float = 0.9,
                   low: float = 0.05) -> np.ndarray:
    """(T,) boundary probabilities: ``high`` at the given gaps, ``low`` elsewhere, 0 last."""
    probs = np.full(num_samples, low)
    probs[gaps] = high
    probs[-1] = 0.0
    return probs


def uniform_attention(num_samples: int) -> np.ndarray:
    return np.full(num_samples, 1.0 / num_samples)


def consecutive_shots(*sizes: int, sample_s: float = 0.5) -> list[Shot]:
    """Shots of ``sizes`` samples each, back to back, samples ``sample_s`` apart."""
    shots, first = [], 0
    for k, size in enumerate(sizes):
        shots.append(Shot(index=k, start_s=first * sample_s, end_s=(first + size) * sample_s,
                          sample_indices=list(range(first, first + size))))
        first += size
    return shots
