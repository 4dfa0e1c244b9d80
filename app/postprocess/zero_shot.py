"""Labels the caller chooses, scored through the CNN's classes (ConSE, pure numpy).

ConSE (Norouzi et al., ICLR 2014): a picture's place in text space is the probability-weighted
mean of the text vectors of its ``mix`` most likely ImageNet classes. A user's label is put in
the same space by the same sentence encoder, and its raw score is the cosine between the two.

Two corrections, each measured in ``training/label_eval.py`` (numbers in docs/model-card.md):
- **Hubness** (CSLS, Lample et al. 2018): some phrases ("an animal", "a photo") sit close to
  many class names and so win on every video. A label's raw cosine is lowered by ``hub_weight``
  x its mean cosine with its ``hub_k`` nearest class names: a label is judged by how much
  better it fits this video than it fits the class vocabulary in general.
- **Calibration across the given labels**: ``probability`` is a softmax of the corrected
  scores at ``temperature``, so the labels' probabilities sum to 1 and a clear winner shows as
  one; ``similarity`` stays the raw cosine, so "none of these fits" shows as low similarity
  everywhere even when one label wins the softmax.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ZeroShotOptions:
    mix: int = 10  # classes mixed per picture (ConSE's T)
    hub_k: int = 50
    hub_weight: float = 0.5
    temperature: float = 0.05
    evidence: int = 3  # classes named as the reason for each label


@dataclass
class Evidence:
    """One CNN class's part in a label's similarity: its share of the picture's text vector
    times its cosine with the label; the parts of the mixed classes sum to the similarity."""

    label: str
    contribution: float


@dataclass
class CustomLabel:
    label: str
    probability: float  # 0..1, across the labels of this request (they sum to 1)
    similarity: float  # the raw cosine, -1..1 (in practice 0..1)
    evidence: list[Evidence] = field(default_factory=list)


@dataclass(frozen=True)
class LabelQuery:
    """The caller's labels, embedded once per request: ``vectors`` (L, d) unit rows, and each
    label's hubness (mean cosine with its nearest class names)."""

    texts: list[str]
    vectors: np.ndarray
    hubness: np.ndarray  # (L,)
    class_similarity: np.ndarray  # (C, L) cosine of every class name with every label


@dataclass(frozen=True)
class Words:
    """What ``read_out`` needs to score the caller's labels: the query, the class names' vectors
    (in class id order) and the settings."""

    query: LabelQuery
    class_vectors: np.ndarray  # (C, d)
    options: ZeroShotOptions


def label_query(texts: list[str], vectors: np.ndarray, class_vectors: np.ndarray,
                hub_k: int) -> LabelQuery:
    vectors = vectors.astype(np.float64)
    sims = class_vectors @ vectors.T  # (C, L)
    k = min(hub_k, sims.shape[0])
    nearest = -np.partition(-sims, k - 1, axis=0)[:k]
    return LabelQuery(list(texts), vectors, nearest.mean(axis=0), sims)


def semantic_vectors(class_scores: np.ndarray, class_vectors: np.ndarray, mix: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(P, C) class scores of P pictures (frames, shots or a video) -> ((P, d) unit vectors in
    text space, (P, C) the weight each class got: its score among the ``mix`` best, over the
    vector's norm, 0 elsewhere). A picture with no mass gets the zero vector."""
    scores = np.clip(np.asarray(class_scores, dtype=np.float64), 0.0, None)
    m = min(mix, scores.shape[1])
    weights = np.zeros_like(scores)
    if m > 0:
        top = np.argpartition(-scores, m - 1, axis=1)[:, :m]
        rows = np.arange(scores.shape[0])[:, None]
        weights[rows, top] = scores[rows, top]
    mixed = weights @ class_vectors  # (P, d)
    norms = np.linalg.norm(mixed, axis=1, keepdims=True)
    safe = np.where(norms > 0, norms, 1.0)
    return mixed / safe, weights / safe


def custom_labels(class_scores: np.ndarray, class_vectors: np.ndarray, class_names: list[str],
                  query: LabelQuery, options: ZeroShotOptions) -> list[list[CustomLabel]]:
    """Every picture's custom labels, best first (see the module docstring)."""
    if not query.texts:
        return [[] for _ in range(len(class_scores))]
    pictures, weights = semantic_vectors(class_scores, class_vectors, options.mix)
    similarity = pictures @ query.vectors.T  # (P, L)
    corrected = similarity - options.hub_weight * query.hubness[None, :]
    logits = corrected / options.temperature
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    answers = []
    for p in range(len(pictures)):
        mixed = np.flatnonzero(weights[p])
        parts = weights[p, mixed, None] * query.class_similarity[mixed]  # (m, L)
        row = []
        for j in np.argsort(-probs[p], kind="stable").tolist():
            order = np.argsort(-parts[:, j], kind="stable")[:options.evidence]
            evidence = [Evidence(class_names[int(mixed[i])], float(parts[i, j]))
                        for i in order.tolist() if parts[i, j] > 0]
            row.append(CustomLabel(query.texts[j], float(probs[p, j]),
                                   float(similarity[p, j]), evidence))
        answers.append(row)
    return answers
