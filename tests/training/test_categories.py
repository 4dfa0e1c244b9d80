"""The shot-boundary categories of the model card: each holds what its name says."""

from __future__ import annotations

import numpy as np
import pytest

from training import categories, synth
from training.metrics import Counts

from .test_synth import SOURCES


@pytest.fixture(scope="module")
def edits() -> tuple[dict[str, list[synth.Edit]], list[synth.Shot]]:
    config = synth.PoolConfig(shots_per_photo=8, shots_per_clip=4)
    pool = synth.make_shot_pool(SOURCES, np.random.default_rng(0), config)
    return categories.category_edits(pool, SOURCES, np.random.default_rng(1), videos=2)


def test_every_category_has_its_videos(
        edits: tuple[dict[str, list[synth.Edit]], list[synth.Shot]]) -> None:
    by_category, _ = edits
    assert set(by_category) == {*categories.TRANSITION_CATEGORIES,
                                *categories.NO_TRANSITION_CATEGORIES}
    assert all(len(videos) == 2 for videos in by_category.values())


def test_categories_without_transitions_have_none(
        edits: tuple[dict[str, list[synth.Edit]], list[synth.Shot]]) -> None:
    by_category, _ = edits
    for name in categories.NO_TRANSITION_CATEGORIES:
        assert all(edit.transitions == () for edit in by_category[name]), name
    assert all(e.duration_s == categories.LONG_SHOT_S for e in by_category["long single shot"])


def test_transition_categories_hold_their_kind(
        edits: tuple[dict[str, list[synth.Edit]], list[synth.Shot]]) -> None:
    by_category, _ = edits
    kinds = {"cuts": "cut", "short shots": "cut", "same-camera cuts": "cut",
             "dissolves": "dissolve", "fades": "fade"}
    for name, kind in kinds.items():
        transitions = [t for e in by_category[name] for t in e.transitions]
        assert transitions and all(t.kind == kind for t in transitions), name


def test_short_shots_are_short(
        edits: tuple[dict[str, list[synth.Edit]], list[synth.Shot]]) -> None:
    by_category, _ = edits
    for edit in by_category["short shots"]:
        inner = [b.centre_s - a.centre_s for a, b in zip(edit.transitions, edit.transitions[1:],
                                                           strict=False)]
        assert inner and all(0.3 - 1e-9 <= length <= 1.0 + 1e-9 for length in inner)


def test_a_same_camera_cut_jumps_far_enough_in_the_clip(
        edits: tuple[dict[str, list[synth.Edit]], list[synth.Shot]]) -> None:
    by_category, extra = edits
    shots = {s.digest: s for s in extra}
    clip_s = {s.name: s.duration_s for s in SOURCES if s.is_clip}
    for edit in by_category["same-camera cuts"]:
        assert len({segment.shot for segment in edit.segments}) == 1  # one camera
        shot = shots[edit.segments[0].shot]
        assert shot.motion.kind == "static"

        def clip_time(local_s: float, shot: synth.Shot = shot) -> float:
            return synth._pingpong(shot.clip_offset_s + local_s * shot.clip_speed,
                                   clip_s[shot.source])

        for before, after in zip(edit.segments, edit.segments[1:], strict=False):
            leaving = before.local_start_s + (before.end_s - before.start_s)
            assert abs(clip_time(after.local_start_s) - clip_time(leaving)) >= \
                min(categories.MIN_JUMP_S, 0.4 * clip_s[shot.source]) - 1e-9


def test_false_boundaries_are_counted_per_minute() -> None:
    result = categories.CategoryResult(Counts(fp=3), minutes=1.5)
    assert result.false_per_minute == pytest.approx(2.0)
    assert categories.CategoryResult().false_per_minute == 0.0
