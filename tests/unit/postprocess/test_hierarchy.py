"""Categories above the classes: sums, the most specific confident answer, parents."""

from __future__ import annotations

import numpy as np
import pytest

from app.postprocess.hierarchy import Hierarchy
from app.postprocess.labels import top_labels
from app.postprocess.readout import read_out
from app.postprocess.types import ReadoutOptions

# 0 mountain bike, 1 tandem, 2 cab, 3 minivan, 4 tabby
CLASSES = ["mountain bike", "tandem", "cab", "minivan", "tabby"]
TREE = Hierarchy.from_categories(5, [("vehicle", [0, 1, 2, 3]), ("bicycle", [0, 1]),
                                     ("car", [2, 3])])


def _answer(scores: list[float], threshold: float) -> list[tuple[str, str, str | None]]:
    class_scores = np.array(scores)
    cats = TREE.category_probs(class_scores)
    confident = top_labels(class_scores, CLASSES, 5, threshold)
    return [(lb.label, lb.kind, lb.parent.label if lb.parent else None)
            for lb in TREE.specific_labels(confident, cats, 5, threshold)]


def test_categories_are_ordered_most_specific_first_with_their_parents() -> None:
    assert TREE.names == ["bicycle", "car", "vehicle"]
    assert TREE.class_parent.tolist() == [0, 0, 1, 1, -1]
    assert TREE.category_parent.tolist() == [2, 2, -1]


def test_a_category_sums_its_classes() -> None:
    probs = np.array([[0.2, 0.25, 0.1, 0.05, 0.4]])
    np.testing.assert_allclose(TREE.category_probs(probs), [[0.45, 0.15, 0.6]])


def test_no_sure_kind_of_bicycle_answers_bicycle() -> None:
    # Neither bicycle reaches 0.3, together they do; the cars stay unsure even together.
    assert _answer([0.2, 0.25, 0.1, 0.05, 0.4], 0.3) == [
        ("bicycle", "category", "vehicle"), ("tabby", "class", None)]  # best first


def test_a_confident_class_answers_for_its_categories() -> None:
    # "mountain bike" is sure: neither "bicycle" nor "vehicle" is repeated above it.
    assert _answer([0.6, 0.1, 0.1, 0.1, 0.1], 0.3) == [("mountain bike", "class", "bicycle")]


def test_only_the_widest_category_when_no_narrower_one_is_sure() -> None:
    assert _answer([0.1, 0.1, 0.15, 0.1, 0.1], 0.3) == [("vehicle", "category", None)]


def test_nothing_sure_is_nothing() -> None:
    assert _answer([0.05, 0.05, 0.05, 0.05, 0.1], 0.3) == []


def test_read_out_names_parents_and_answers_categories() -> None:
    n = 4
    probs = np.tile([0.2, 0.25, 0.1, 0.05, 0.4], (n, 1))
    readout = read_out(np.arange(n) * 0.5, probs, np.random.default_rng(0).normal(size=(n, 8)),
                       np.zeros(n), np.ones(n) / n, 2.0, CLASSES,
                       ReadoutOptions(min_confidence=0.3), hierarchy=TREE)
    assert [(lb.label, lb.kind) for lb in readout.video_labels] == [
        ("bicycle", "category"), ("tabby", "class")]
    bicycle = readout.video_labels[0]
    assert bicycle.class_id == -1 and bicycle.score == pytest.approx(0.45)
    assert bicycle.parent is not None and bicycle.parent.label == "vehicle"
    assert bicycle.parent.score == pytest.approx(0.6)
    assert [lb.label for lb in readout.shots[0].labels] == ["bicycle", "tabby"]
    assert readout.video_guesses == []


def test_guesses_carry_parents_when_nothing_is_sure() -> None:
    n = 2
    probs = np.tile([0.05, 0.05, 0.05, 0.05, 0.1], (n, 1))
    readout = read_out(np.arange(n) * 0.5, probs, np.ones((n, 4)), np.zeros(n),
                       np.ones(n) / n, 1.0, CLASSES, ReadoutOptions(min_confidence=0.3),
                       hierarchy=TREE)
    assert readout.video_labels == []
    assert readout.video_guesses[0].label == "tabby"
    assert readout.video_guesses[1].parent is not None
