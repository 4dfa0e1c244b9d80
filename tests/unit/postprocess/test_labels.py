"""Frame -> shot -> video label aggregation."""

from __future__ import annotations

import numpy as np
import pytest

from app.postprocess import Shot, aggregate_labels, frame_labels
from app.postprocess.labels import shot_label_scores, top_labels, video_label_scores

from .synthetic import LABELS, NUM_CLASSES, probs_for
from .synthetic import consecutive_shots as _shots


def test_a_short_shots_confident_label_reaches_the_video_labels() -> None:
    # 4.5 s of class 1, a 1 s shot of class 7, 4.5 s of class 2: class 7 fills 10% of the
    # video, so a bare mean (0.1 * 0.7 + 0.9 * 0.033 = 0.10) would fall under min_confidence.
    probs = probs_for([1] * 9 + [7] * 2 + [2] * 9, confidence=0.7)
    shots = _shots(9, 2, 9)

    video, per_shot = aggregate_labels(probs, shots, LABELS, top_k=3, min_confidence=0.2)

    assert [lb.class_id for lb in video] == [1, 2, 7]
    tail = 0.3 / (NUM_CLASSES - 1)  # what every other frame gives class 7
    assert video[2].score == pytest.approx(0.5 * 0.7 + 0.5 * (0.1 * 0.7 + 0.9 * tail))
    assert probs[:, 7].mean() < 0.2
    assert [lbs[0].class_id for lbs in per_shot] == [1, 7, 2]


def test_a_one_frame_flicker_does_not_beat_the_label_present_across_the_shot() -> None:
    classes = [3] * 10
    classes[4] = 8
    probs = probs_for(classes, confidence=0.4)
    probs[4] = probs_for([8], confidence=0.99)[0]  # the flicker is far more confident
    shots = _shots(10)

    video, per_shot = aggregate_labels(probs, shots, LABELS, top_k=2, min_confidence=0.0)

    assert [lb.class_id for lb in per_shot[0]] == [3, 8]
    assert [lb.class_id for lb in video] == [3, 8]
    flicker = per_shot[0][1].score
    assert flicker < probs[:, 8].mean()  # weighted down below a bare mean
    assert flicker < 0.5 * per_shot[0][0].score


def test_a_one_frame_shot_keeps_that_frames_probabilities() -> None:
    probs = probs_for([5], confidence=0.9)

    scores = shot_label_scores(probs, _shots(1))

    np.testing.assert_allclose(scores[0], probs[0])


def test_video_score_blends_best_shot_and_duration_weighted_mean() -> None:
    shots = [Shot(index=0, start_s=0.0, end_s=1.0, sample_indices=[0]),
             Shot(index=1, start_s=1.0, end_s=4.0, sample_indices=[1])]
    shot_scores = np.array([[0.8, 0.1], [0.2, 0.6]])

    scores = video_label_scores(shot_scores, shots)

    np.testing.assert_allclose(scores, [0.5 * 0.8 + 0.5 * (0.8 + 3 * 0.2) / 4,
                                        0.5 * 0.6 + 0.5 * (0.1 + 3 * 0.6) / 4])


def test_zero_length_shots_are_weighted_by_sample_count() -> None:
    shots = [Shot(index=0, start_s=0.0, end_s=0.0, sample_indices=[0]),
             Shot(index=1, start_s=0.0, end_s=0.0, sample_indices=[1, 2, 3])]

    scores = video_label_scores(np.array([[1.0], [0.0]]), shots)

    np.testing.assert_allclose(scores, [0.5 * 1.0 + 0.5 * 0.25])


def test_labels_are_sorted_capped_filtered_and_in_range() -> None:
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.full(NUM_CLASSES, 0.3), size=30)
    shots = _shots(7, 1, 12, 10)

    video, per_shot = aggregate_labels(probs, shots, LABELS, top_k=4, min_confidence=0.08)

    for level in [video, *per_shot]:
        scores = [lb.score for lb in level]
        assert len(level) <= 4
        assert scores == sorted(scores, reverse=True)
        assert all(0.08 <= s <= 1.0 for s in scores)
        assert all(lb.label == LABELS[lb.class_id] for lb in level)
    all_scores = shot_label_scores(probs, shots)
    assert all_scores.min() >= 0.0 and all_scores.max() <= 1.0


def test_frame_labels_are_each_frames_own_probabilities() -> None:
    probs = probs_for([4, 6], confidence=0.6)

    frames = frame_labels(probs, LABELS, top_k=1, min_confidence=0.5)

    assert [[(lb.class_id, lb.score) for lb in f] for f in frames] == [[(4, 0.6)], [(6, 0.6)]]


def test_a_label_under_min_confidence_is_left_out() -> None:
    probs = probs_for([2, 2], confidence=0.3)

    video, _ = aggregate_labels(probs, _shots(2), LABELS, top_k=5, min_confidence=0.31)

    assert video == []


def test_equal_scores_rank_by_class_id_even_at_the_top_k_cut() -> None:
    scores = np.array([0.1, 0.3, 0.1, 0.3, 0.1])

    top = top_labels(scores, list("abcde"), top_k=3, min_confidence=0.0)

    assert [(lb.class_id, lb.label) for lb in top] == [(1, "b"), (3, "d"), (0, "a")]
