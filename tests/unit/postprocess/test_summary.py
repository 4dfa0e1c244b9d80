"""Importance, keyframes and highlight selection."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from app.postprocess import (
    Shot,
    importance_scores,
    knapsack,
    select_highlights,
    select_keyframes,
)
from app.postprocess.highlights import sample_cells, split_shot

from .synthetic import consecutive_shots as _shots
from .synthetic import shot_features, uniform_attention


def _times(num_samples: int, sample_s: float = 0.5) -> np.ndarray:
    return np.arange(num_samples) * sample_s + sample_s / 2


# --- importance -------------------------------------------------------------------------------

def test_importance_spans_0_to_1() -> None:
    features = np.random.default_rng(0).normal(size=(40, 32))
    attention = np.random.default_rng(1).dirichlet(np.ones(40))

    scores = importance_scores(features, attention, _shots(10, 5, 25))

    assert scores.shape == (40,)
    assert scores.min() == 0.0
    assert scores.max() == 1.0


def test_a_typical_sample_outranks_an_outlier_of_the_same_shot() -> None:
    features = shot_features([0] * 8, noise=0.05)
    features[3] += 3.0 * np.random.default_rng(5).normal(size=features.shape[1])

    scores = importance_scores(features, uniform_attention(8), _shots(8))

    assert int(np.argmin(scores)) == 3


def test_a_unique_shot_outranks_a_repeated_one() -> None:
    # shots: A, B, A again, C. A looks like a quarter-plus of the video; C like nothing else.
    features = shot_features([0] * 4 + [1] * 4 + [0] * 4 + [2] * 4, noise=0.02)

    scores = importance_scores(features, uniform_attention(16), _shots(4, 4, 4, 4))

    assert scores[12:].max() > scores[:4].max()
    assert scores[12:].max() > scores[8:12].max()


def test_attention_raises_a_samples_importance() -> None:
    features = np.ones((5, 4))
    attention = np.array([0.1, 0.1, 0.1, 0.6, 0.1])

    scores = importance_scores(features, attention, _shots(5))

    # rep = 1 and distinct = 1 everywhere, so raw = 0.5 + 0.5 * attention / max(attention),
    # then stretched to 0..1.
    np.testing.assert_allclose(scores, [0.0, 0.0, 0.0, 1.0, 0.0])


def test_a_flat_video_is_uniformly_important() -> None:
    scores = importance_scores(np.ones((4, 3)), uniform_attention(4), _shots(4))

    assert scores.tolist() == [1.0] * 4


def test_one_sample_is_fully_important() -> None:
    assert importance_scores(np.zeros((1, 8)), np.array([1.0]), _shots(1)).tolist() == [1.0]


# --- keyframes --------------------------------------------------------------------------------

def test_every_shot_gets_its_most_typical_sample_when_the_budget_allows() -> None:
    sizes = (4, 1, 6, 5)
    features = shot_features([k for k, n in enumerate(sizes) for _ in range(n)], noise=0.05)
    shots = _shots(*sizes)
    # Make one sample of each shot sit exactly at the shot's centre direction.
    typical = [2, 4, 8, 13]
    for shot, i in zip(shots, typical, strict=True):
        features[i] = features[shot.sample_indices].mean(axis=0)
    importance = np.ones(16)

    keyframes = select_keyframes(features, importance, shots, _times(16))

    assert [(k.shot_index, k.sample_index) for k in keyframes] == list(enumerate(typical))
    assert [k.time_s for k in keyframes] == sorted(k.time_s for k in keyframes)


def test_extra_keyframes_go_to_the_most_different_content() -> None:
    # Shot 2 holds two looks (samples 8-11 and 12-15); the one extra keyframe must cover the
    # look that the shot's representative sample does not.
    features = shot_features([0] * 4 + [1] * 4 + [2] * 4 + [3] * 4, noise=0.02)
    shots = _shots(4, 4, 8)

    keyframes = select_keyframes(features, np.ones(16), shots, _times(16), num_keyframes=4)

    in_last_shot = sorted(k.sample_index for k in keyframes if k.shot_index == 2)
    assert len(keyframes) == 4
    assert len(in_last_shot) == 2
    assert in_last_shot[0] in range(8, 12) and in_last_shot[1] in range(12, 16)


def test_a_small_budget_prefers_long_shots() -> None:
    shots = _shots(2, 8, 2, 6)
    features = shot_features([0] * 2 + [1] * 8 + [2] * 2 + [3] * 6)

    keyframes = select_keyframes(features, np.ones(18), shots, _times(18), num_keyframes=2)

    assert [k.shot_index for k in keyframes] == [1, 3]


def test_a_small_budget_prefers_important_shots() -> None:
    shots = _shots(2, 8, 2, 6)
    features = shot_features([0] * 2 + [1] * 8 + [2] * 2 + [3] * 6)
    importance = np.full(18, 0.1)
    importance[:2] = 1.0  # priority 0.5*1 + 0.5*2/8 = 0.625 beats 0.55 (shot 1), 0.425 (shot 3)

    keyframes = select_keyframes(features, importance, shots, _times(18), max_keyframes=2)

    assert [k.shot_index for k in keyframes] == [0, 1]


def test_identical_frames_spread_extra_keyframes_in_time() -> None:
    keyframes = select_keyframes(np.ones((10, 4)), np.ones(10), _shots(10),
                                 np.arange(10) * 0.5, num_keyframes=3)

    assert [k.sample_index for k in keyframes] == [0, 5, 9]


def test_keyframes_of_a_long_single_shot_cover_its_whole_length() -> None:
    # 80 s at 2 fps, one shot; its last 30 s look unlike the rest (another subject), with
    # enough noise that farthest-point by picture alone picks all its extras there.
    rng = np.random.default_rng(0)
    looks = [0] * 100 + [1] * 60
    features = shot_features(looks, noise=0.3, seed=1) + rng.normal(0, 0.05, (160, 16))
    times = _times(160)

    keyframes = select_keyframes(features, np.ones(160), _shots(160), times, num_keyframes=8)

    chosen = sorted(k.time_s for k in keyframes)
    assert len(chosen) == 8
    edges = [0.0, *chosen, 80.0]
    assert max(np.diff(edges)) <= 2 * 80.0 / 8  # no stretch left without a keyframe
    assert any(t < 50.0 for t in chosen[1:]) and any(t >= 50.0 for t in chosen)
    # No two keyframes are near-duplicates in time.
    assert min(np.diff(chosen)) >= 80.0 / 8 / 4


def test_keyframe_budget_is_capped_by_samples_and_may_be_zero() -> None:
    features = shot_features([0, 0, 1])
    shots = _shots(2, 1)

    assert len(select_keyframes(features, np.ones(3), shots, _times(3), num_keyframes=10)) == 3
    assert select_keyframes(features, np.ones(3), shots, _times(3), num_keyframes=0) == []
    assert select_keyframes(features, np.ones(3), shots, _times(3), max_keyframes=0) == []


# --- highlights -------------------------------------------------------------------------------

def test_shots_split_into_equal_pieces_of_at_most_2_s() -> None:
    shot = Shot(index=0, start_s=1.0, end_s=6.0, sample_indices=[0])

    np.testing.assert_allclose(split_shot(shot), [(1.0, 1 + 5 / 3), (1 + 5 / 3, 1 + 10 / 3),
                                                  (1 + 10 / 3, 6.0)])
    assert split_shot(Shot(index=0, start_s=2.0, end_s=2.0, sample_indices=[0])) == []


def test_each_sample_stands_for_the_stretch_up_to_its_neighbours() -> None:
    shot = Shot(index=0, start_s=1.0, end_s=3.0, sample_indices=[0, 1, 2])

    cells = sample_cells(shot, np.array([1.25, 1.75, 2.25]))

    np.testing.assert_allclose(cells, [[1.0, 1.5], [1.5, 2.0], [2.0, 3.0]])


def _greedy_by_density(shots: list[Shot], values: list[float], budget_s: float) -> float:
    total_s, total_value = 0.0, 0.0
    for k in np.argsort([-v / s.duration_s for v, s in zip(values, shots, strict=True)]):
        if total_s + shots[k].duration_s <= budget_s:
            total_s += shots[k].duration_s
            total_value += values[k]
    return total_value


def test_knapsack_beats_greedy_on_a_crafted_case() -> None:
    # Shots of 2.0, 1.5 and 1.5 s (one segment each) with importance 0.7, 0.66, 0.66 and a
    # 3 s budget: greedy by value per second takes the 2 s shot (1.4) and nothing else fits;
    # the two 1.5 s shots together are worth 1.98.
    shots = [Shot(index=0, start_s=0.0, end_s=2.0, sample_indices=[0, 1, 2, 3]),
             Shot(index=1, start_s=2.0, end_s=3.5, sample_indices=[4, 5, 6]),
             Shot(index=2, start_s=3.5, end_s=5.0, sample_indices=[7, 8, 9])]
    times = _times(10)
    importance = np.array([0.7] * 4 + [0.66] * 6)

    segments = select_highlights(shots, importance, times, 5.0, 0.6)

    assert [(s.start_s, s.end_s, s.shot_index) for s in segments] == [(2.0, 3.5, 1),
                                                                        (3.5, 5.0, 2)]
    chosen = sum(s.score * (s.end_s - s.start_s) for s in segments)
    greedy = _greedy_by_density(shots, [1.4, 0.99, 0.99], 3.0)
    assert chosen == pytest.approx(1.98)
    assert chosen > greedy == pytest.approx(1.4)


def test_knapsack_finds_the_optimum_of_small_random_cases() -> None:
    rng = np.random.default_rng(7)
    for _ in range(30):
        values = rng.uniform(0, 1, size=9)
        weights = rng.integers(1, 12, size=9)
        capacity = int(rng.integers(0, 40))

        chosen = knapsack(values, weights, capacity)

        best = max(values[list(subset)].sum()
                   for r in range(10) for subset in itertools.combinations(range(9), r)
                   if weights[list(subset)].sum() <= capacity)
        assert weights[chosen].sum() <= capacity
        assert values[chosen].sum() == pytest.approx(best)


def test_highlights_fit_the_budget_in_time_order_inside_their_shots() -> None:
    rng = np.random.default_rng(11)
    shots = _shots(7, 3, 20, 1, 9, 40)  # 80 samples, 40 s
    importance = rng.uniform(0, 1, size=80)

    segments = select_highlights(shots, importance, _times(80), 40.0, 0.15)

    total = sum(s.end_s - s.start_s for s in segments)
    assert 0 < total <= 0.15 * 40.0 + 1e-9
    assert [s.start_s for s in segments] == sorted(s.start_s for s in segments)
    for s in segments:
        shot = shots[s.shot_index]
        assert shot.start_s <= s.start_s < s.end_s <= shot.end_s
        assert s.end_s - s.start_s <= 2.0 + 1e-9
        assert 0.0 <= s.score <= 1.0


def test_no_budget_gives_no_highlights() -> None:
    assert select_highlights(_shots(4), np.ones(4), _times(4), 2.0, 0.0) == []
    assert select_highlights(_shots(1, sample_s=0.0), np.ones(1), np.zeros(1), 0.0, 0.5) == []


def test_a_full_budget_takes_every_valuable_segment() -> None:
    importance = np.array([1.0, 1.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5])  # shot 1 is worthless

    segments = select_highlights(_shots(2, 2, 4), importance, _times(8), 4.0, 1.0)

    assert [(s.start_s, s.end_s, s.shot_index) for s in segments] == [(0.0, 1.0, 0),
                                                                        (2.0, 4.0, 2)]


def test_highlights_spread_over_shots_rather_than_replaying_one() -> None:
    from app.postprocess.types import Shot

    # One long shot slightly more important than a short one; room for two 2 s pieces.
    times = np.arange(0.25, 10.0, 0.5)  # 20 samples, 2 fps
    importance = np.where(times < 8.0, 0.9, 0.7)
    shots = [Shot(0, 0.0, 8.0, list(range(16))), Shot(1, 8.0, 10.0, list(range(16, 20)))]
    chosen = select_highlights(shots, importance, times, duration_s=10.0, ratio=0.4)
    assert sorted({seg.shot_index for seg in chosen}) == [0, 1]
    assert sum(seg.end_s - seg.start_s for seg in chosen) <= 4.0 + 1e-9
