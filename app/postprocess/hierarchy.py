"""Categories above the classifier's classes: "bicycle" when no kind of bicycle is sure.

ImageNet's 1000 classes are leaves; a frame of a street may be 0.2 "mountain bike" and 0.2
"bicycle-built-for-two", which no threshold keeps, though it is surely a bicycle. A category's
probability is the sum of its classes' probabilities (they are exclusive outcomes of one
softmax), so a parent is always at least as confident as any child. The answer is the most
specific label that is confident, and its parent: a class when one is, otherwise the smallest
confident category. The categories come from WordNet (``training/label_hierarchy.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.postprocess.types import Label, ParentLabel


@dataclass(frozen=True)
class Hierarchy:
    names: list[str]  # N categories, most specific (fewest classes) first
    members: np.ndarray  # (C, N) float: 1 where class c is below category n
    class_parent: np.ndarray  # (C,) the smallest category holding the class, -1 if none
    category_parent: np.ndarray  # (N,) the smallest category holding this one, -1 if none
    narrower: np.ndarray  # (N, N) bool: category b's classes are a proper subset of a's

    @classmethod
    def from_categories(cls, num_classes: int, categories: list[tuple[str, list[int]]]
                        ) -> Hierarchy:
        """``categories``: (name, class ids), in any order."""
        ordered = sorted(categories, key=lambda c: (len(c[1]), c[0]))
        # float64, the readout's dtype: no converted copy of the matrix per request.
        members = np.zeros((num_classes, len(ordered)), dtype=np.float64)
        for n, (_, classes) in enumerate(ordered):
            members[classes, n] = 1.0
        mask = members.astype(bool)
        sizes = mask.sum(axis=0)
        # b inside a: every class of b is in a, and a is bigger.
        overlap = mask.T.astype(np.int32) @ mask.astype(np.int32)  # (N, N) shared classes
        narrower = (overlap == sizes[None, :]) & (sizes[:, None] > sizes[None, :])
        class_parent = np.array([int(np.flatnonzero(row)[0]) if row.any() else -1
                                 for row in mask])  # columns are ordered smallest first
        category_parent = np.array([int(np.flatnonzero(narrower[:, n])[0])
                                    if narrower[:, n].any() else -1
                                    for n in range(len(ordered))])
        return cls([name for name, _ in ordered], members, class_parent, category_parent,
                   narrower)

    def category_probs(self, class_probs: np.ndarray) -> np.ndarray:
        """(..., N) probabilities of the categories: the sums of their classes'."""
        summed: np.ndarray = np.clip(
            class_probs @ self.members.astype(class_probs.dtype, copy=False), 0.0, 1.0)
        return summed

    def with_parents(self, labels: list[Label], category_scores: np.ndarray) -> list[Label]:
        """Each class label with its nearest category and that category's score."""
        out = []
        for label in labels:
            parent = int(self.class_parent[label.class_id])
            out.append(label if parent < 0 else _with_parent(label, self.names[parent],
                                                             category_scores[parent]))
        return out

    def specific_labels(self, class_labels: list[Label], category_scores: np.ndarray,
                        top_k: int, min_confidence: float) -> list[Label]:
        """The confident classes (``class_labels``, already cut at ``min_confidence``) with
        their parents, and every confident category none of whose classes or narrower
        categories is confident itself; best first, ``top_k`` of them."""
        confident_classes = np.zeros(self.members.shape[0], dtype=bool)
        confident_classes[[label.class_id for label in class_labels]] = True
        confident = category_scores >= min_confidence
        covered = (self.members[confident_classes].sum(axis=0) > 0) | (
            (self.narrower & confident[None, :]).any(axis=1))
        answer = self.with_parents(class_labels, category_scores)
        for n in np.flatnonzero(confident & ~covered).tolist():
            parent = int(self.category_parent[n])
            label = Label(label=self.names[n], class_id=-1, score=float(category_scores[n]),
                          kind="category")
            answer.append(label if parent < 0 else _with_parent(
                label, self.names[parent], category_scores[parent]))
        answer.sort(key=lambda lb: -lb.score)
        return answer[:top_k]


def _with_parent(label: Label, name: str, score: float) -> Label:
    return Label(label=label.label, class_id=label.class_id, score=label.score,
                 kind=label.kind, parent=ParentLabel(label=name, score=float(score)))
