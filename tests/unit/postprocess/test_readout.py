"""``read_out`` end to end on hand-made model outputs, including the edge cases."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from app.errors import InferenceFailed, InvalidOption
from app.postprocess import Boundary, ReadoutOptions, VideoReadout, read_out

from .synthetic import LABELS, boundary_probs, probs_for, shot_features, uniform_attention

TIMES = np.arange(20) * 0.5  # 2 fps over a 10 s video
SHOT_OF_SAMPLE = [0] * 6 + [1] * 6 + [2] * 8  # transitions in gaps 5 and 11
CLASS_OF_SHOT = [1, 4, 9]


def _read_out(options: ReadoutOptions | None = None,
              boundaries: list[Boundary] | None = None,
              bprob: np.ndarray | None = None) -> VideoReadout:
    return read_out(TIMES, probs_for([CLASS_OF_SHOT[k] for k in SHOT_OF_SAMPLE]),
                    shot_features(SHOT_OF_SAMPLE), boundary_probs(20, [5, 11]) if bprob is None
                    else bprob, uniform_attention(20), 10.0, LABELS, options, boundaries)


def _all_scores(result: VideoReadout) -> list[float]:
    labels = [*result.video_labels, *(lb for s in result.shots for lb in s.labels),
              *(lb for f in result.frames for lb in f.labels)]
    return ([lb.score for lb in labels] + [p.score for p in result.importance]
            + [k.score for k in result.keyframes] + [h.score for h in result.highlights])


def test_a_three_shot_video_gets_shots_labels_keyframes_and_highlights() -> None:
    result = _read_out()

    assert [(s.start_s, s.end_s, s.sample_indices[0], s.sample_indices[-1])
            for s in result.shots] == [(0.0, 2.75, 0, 5), (2.75, 5.75, 6, 11), (5.75, 10.0, 12, 19)]
    assert [s.labels[0].class_id for s in result.shots] == CLASS_OF_SHOT
    assert sorted(lb.class_id for lb in result.video_labels) == sorted(CLASS_OF_SHOT)
    assert [k.shot_index for k in result.keyframes] == [0, 1, 2]
    assert [p.time_s for p in result.importance] == TIMES.tolist()
    assert result.budget_s == pytest.approx(1.5)
    assert 0 < result.highlight_duration_s <= result.budget_s + 1e-9
    assert result.frames == []
    assert all(0.0 <= s <= 1.0 for s in _all_scores(result))


def test_the_result_is_plain_json() -> None:
    result = _read_out(ReadoutOptions(include_frames=True))

    decoded = json.loads(json.dumps(dataclasses.asdict(result)))

    assert decoded["shots"][1]["start_s"] == 2.75
    assert len(decoded["frames"]) == 20
    assert decoded["frames"][0]["labels"][0] == {"label": "class1", "class_id": 1,
                                                 "score": 0.8, "kind": "class", "parent": None}


def test_given_boundaries_are_used_but_stay_in_their_gap() -> None:
    result = _read_out(boundaries=[Boundary(time_s=2.6, index=5, score=0.9),
                                   Boundary(time_s=100.0, index=11, score=0.9)])

    assert [(s.start_s, s.end_s) for s in result.shots] == [(0.0, 2.6), (2.6, 6.0),
                                                             (6.0, 10.0)]
    assert [s.sample_indices[0] for s in result.shots] == [0, 6, 12]


def test_given_boundaries_replace_the_boundary_heads_peaks() -> None:
    # Verification dropped the candidate in gap 11 (camera motion): one boundary, two shots.
    result = _read_out(boundaries=[Boundary(time_s=2.6, index=5, score=0.9)])
    assert [s.start_s for s in result.shots] == [0.0, 2.6]
    assert _read_out(boundaries=[]).shots[0].end_s == 10.0  # none left: one shot


def test_a_boundary_outside_the_samples_is_an_error() -> None:
    with pytest.raises(ValueError, match="gap index"):
        _read_out(boundaries=[Boundary(time_s=9.9, index=19, score=0.9)])


def test_min_shot_length_merges_a_short_shot() -> None:
    bprob = boundary_probs(20, [5, 7], high=0.9)
    bprob[7] = 0.7  # the weaker of the two boundaries around the 1 s shot

    result = _read_out(ReadoutOptions(min_shot_s=1.5), bprob=bprob)

    assert [s.start_s for s in result.shots] == [0.0, 2.75]


def test_one_sample_and_no_duration() -> None:
    result = read_out(np.array([0.0]), probs_for([3]), np.ones((1, 8)), np.array([0.0]),
                     np.array([1.0]), 0.0, LABELS)

    assert [(s.start_s, s.end_s, s.sample_indices) for s in result.shots] == [(0.0, 0.0, [0])]
    assert [lb.class_id for lb in result.video_labels] == [3]
    assert [(k.sample_index, k.score) for k in result.keyframes] == [(0, 1.0)]
    assert [(p.time_s, p.score) for p in result.importance] == [(0.0, 1.0)]
    assert result.highlights == [] and result.highlight_duration_s == 0.0
    assert result.budget_s == 0.0


def test_a_zero_duration_is_covered_up_to_the_last_sample() -> None:
    result = read_out(TIMES[:4], probs_for([2] * 4), shot_features([0] * 4),
                     boundary_probs(4, []), uniform_attention(4), 0.0, LABELS)

    assert [(s.start_s, s.end_s) for s in result.shots] == [(0.0, 1.5)]
    assert result.budget_s == pytest.approx(0.15 * 1.5)


def test_no_boundary_gives_one_shot_and_one_keyframe() -> None:
    result = _read_out(bprob=np.zeros(20))

    assert [(s.start_s, s.end_s) for s in result.shots] == [(0.0, 10.0)]
    assert len(result.keyframes) == 1


def test_a_boundary_everywhere_still_gives_one_keyframe_per_shot() -> None:
    result = _read_out(bprob=np.ones(20))

    # Gaps 0, 2, ..., 18 survive suppression: a one-sample shot, then pairs of samples.
    assert [s.sample_indices for s in result.shots] == [[0]] + [[i, i + 1]
                                                                for i in range(1, 19, 2)] + [[19]]
    assert [k.shot_index for k in result.keyframes] == list(range(11))
    assert result.highlight_duration_s <= result.budget_s + 1e-9
    assert all(0.0 <= s <= 1.0 for s in _all_scores(result))


def test_a_bad_option_is_an_invalid_option_error() -> None:
    with pytest.raises(InvalidOption, match="summary_ratio") as caught:
        ReadoutOptions(summary_ratio=1.5)

    assert caught.value.code == "invalid_option"


def test_non_finite_model_outputs_fail_the_request() -> None:
    features = shot_features(SHOT_OF_SAMPLE)
    features[3, 0] = np.nan

    with pytest.raises(InferenceFailed, match="features"):
        read_out(TIMES, probs_for([1] * 20), features, np.zeros(20), uniform_attention(20),
                10.0, LABELS)


def test_outputs_of_the_wrong_shape_are_rejected() -> None:
    with pytest.raises(ValueError, match="boundary_prob"):
        read_out(TIMES, probs_for([1] * 20), shot_features(SHOT_OF_SAMPLE), np.zeros(19),
                uniform_attention(20), 10.0, LABELS)
    with pytest.raises(ValueError, match="labels"):
        read_out(TIMES, probs_for([1] * 20), shot_features(SHOT_OF_SAMPLE), np.zeros(20),
                uniform_attention(20), 10.0, LABELS[:5])
