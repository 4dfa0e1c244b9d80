"""Shot-boundary scoring: a predicted boundary is a hit when it lies within a tolerance of a
true transition, and each true transition can be matched once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

TOLERANCE_S = 0.5


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __iadd__(self, other: Counts) -> Counts:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        return self

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn,
                "precision": round(self.precision, 4), "recall": round(self.recall, 4),
                "f1": round(self.f1, 4)}


def match_boundaries(predicted_s: Sequence[float], truth_s: Sequence[float],
                     tolerance_s: float = TOLERANCE_S) -> Counts:
    """Greedy one-to-one matching, closest pairs first (optimal for points on a line when
    the tolerance is shorter than half the distance between true transitions)."""
    pairs = sorted((abs(p - t), i, j) for i, p in enumerate(predicted_s)
                   for j, t in enumerate(truth_s) if abs(p - t) <= tolerance_s)
    used_pred: set[int] = set()
    used_truth: set[int] = set()
    for _, i, j in pairs:
        if i not in used_pred and j not in used_truth:
            used_pred.add(i)
            used_truth.add(j)
    tp = len(used_pred)
    return Counts(tp=tp, fp=len(predicted_s) - tp, fn=len(truth_s) - tp)
