"""What a library indexes for each shot: a vector in text space and a visual vector.

- text: the shot's class scores mixed into the text encoder's space (ConSE, as the caller's own
  labels are scored in ``zero_shot.py``), so that a query in words is compared with it directly;
- visual: the mean of the shot's frame features, unit length, for queries by example and
  near-duplicates (the same footage re-encoded, cropped or trimmed lands close by).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.postprocess.labels import label_scores
from app.postprocess.types import Shot
from app.postprocess.zero_shot import semantic_vectors


@dataclass(frozen=True)
class ShotVectors:
    text: np.ndarray  # (S, d) unit rows (zero for a shot with no class mass)
    visual: np.ndarray  # (S, D) unit rows


def shot_vectors(frame_probs: np.ndarray, features: np.ndarray, shots: list[Shot],
                 class_vectors: np.ndarray, mix: int) -> ShotVectors:
    probs = np.asarray(frame_probs, dtype=np.float64)
    feats = np.asarray(features, dtype=np.float64)
    shot_scores, _ = label_scores(probs, shots)
    text, _ = semantic_vectors(shot_scores, class_vectors, mix)
    visual = np.stack([feats[s.sample_indices].mean(axis=0) for s in shots])
    norms = np.linalg.norm(visual, axis=1, keepdims=True)
    visual = visual / np.where(norms > 0, norms, 1.0)
    return ShotVectors(text=text.astype(np.float32), visual=visual.astype(np.float32))
