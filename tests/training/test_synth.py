"""The synthetic edit generator: labels sit where the transitions are, blended frames are the
blends their keys claim, and a seed fixes everything."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from training import synth
from training.sources import Source


def _photo(name: str, seed: int) -> Source:
    # Smooth random colour fields: distinct per source, cheap to render.
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    image = Image.fromarray(small).resize((320, 240), Image.Resampling.BILINEAR)
    return Source(name=name, group=name, frames=(image,), fps=0.0)


def _clip(name: str, seed: int) -> Source:
    rng = np.random.default_rng(seed)
    frames = tuple(Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
                   for _ in range(10))
    return Source(name=name, group=name, frames=frames, fps=10.0)


SOURCES = [_photo(f"p{i}", i) for i in range(4)] + [_clip("c0", 99)]


@pytest.fixture(scope="module")
def pool() -> list[synth.Shot]:
    config = synth.PoolConfig(shots_per_photo=2, shots_per_clip=2)
    return synth.make_shot_pool(SOURCES, np.random.default_rng(0), config)


def _two_shot_edit(pool: list[synth.Shot], kind: synth.TransitionKind, centre_s: float,
                   duration_s: float) -> synth.Edit:
    a, b = pool[0], next(s for s in pool if s.group != pool[0].group)
    transition = synth.Transition(kind, centre_s, duration_s)
    return synth.Edit(
        segments=(synth.Segment(a.digest, 0.0, transition.end_s, 0.0),
                  synth.Segment(b.digest, transition.start_s, 10.0, 0.0)),
        transitions=(transition,), duration_s=10.0)


def test_cut_is_labelled_in_the_gap_that_holds_it(pool: list[synth.Shot]) -> None:
    edit = _two_shot_edit(pool, "cut", 2.3, 0.0)
    times = np.arange(8) * 0.5 + 0.25  # 0.25, 0.75, ..., 3.75
    labels, weights = synth.boundary_labels(edit, times)
    assert labels.tolist() == [0, 0, 0, 0, 1, 0, 0, 0]  # 2.25 < 2.3 <= 2.75
    assert weights.tolist() == [1, 1, 1, 1, 1, 1, 1, 0]  # no gap after the last sample


def test_gradual_transition_labels_its_centre_and_ignores_its_other_gaps(
        pool: list[synth.Shot]) -> None:
    edit = _two_shot_edit(pool, "dissolve", 2.0, 1.2)  # 1.4 .. 2.6
    times = np.arange(8) * 0.5 + 0.25
    labels, weights = synth.boundary_labels(edit, times)
    assert labels.tolist() == [0, 0, 0, 1, 0, 0, 0, 0]  # 1.75 < 2.0 <= 2.25
    # Gaps (1.25, 1.75) and (2.25, 2.75) overlap the dissolve without holding its centre.
    assert weights.tolist() == [1, 1, 0, 1, 0, 1, 1, 0]


def test_frame_keys_switch_shots_at_the_cut(pool: list[synth.Shot]) -> None:
    edit = _two_shot_edit(pool, "cut", 2.3, 0.0)
    shots = {s.digest: s for s in pool}
    a, b = edit.segments[0].shot, edit.segments[1].shot
    assert synth.frame_key(edit, shots, 2.29).startswith(f"s/{a}/")
    assert synth.frame_key(edit, shots, 2.3).startswith(f"s/{b}/")
    # Shot-local time starts with the segment: 0.7 s into b is grid frame round(5.6) = 6.
    assert synth.frame_key(edit, shots, 3.0) == f"s/{b}/6"


def test_dissolve_frame_is_the_blend_it_claims(pool: list[synth.Shot]) -> None:
    edit = _two_shot_edit(pool, "dissolve", 2.0, 1.0)  # 1.5 .. 2.5
    shots = {s.digest: s for s in pool}
    renderer = synth.FrameRenderer(pool, SOURCES)
    key = synth.frame_key(edit, shots, 1.75)  # a quarter of the way through
    a, b = edit.segments[0].shot, edit.segments[1].shot
    assert key == f"d/{a}/14/{b}/2/5"  # a at 1.75 s, b at 0.25 s, alpha 5/20
    frame = renderer.render_key(key).astype(np.int32)
    frame_a = renderer.render_key(f"s/{a}/14").astype(np.float32)
    frame_b = renderer.render_key(f"s/{b}/2").astype(np.float32)
    expected = np.clip(np.round(0.75 * frame_a + 0.25 * frame_b), 0, 255).astype(np.int32)
    assert np.array_equal(frame, expected)
    assert not np.array_equal(frame, frame_a.astype(np.int32))


def test_exact_time_dissolve_frame_is_the_blend_of_both_shots(pool: list[synth.Shot]) -> None:
    edit = _two_shot_edit(pool, "dissolve", 2.0, 1.0)
    renderer = synth.FrameRenderer(pool, SOURCES)
    size = (64, 48)
    got = renderer.render_at(edit, 2.25, size).astype(np.float32)  # alpha 0.75
    frame_a = renderer.shot_frame(edit.segments[0].shot, 2.25, size).astype(np.float32)
    frame_b = renderer.shot_frame(edit.segments[1].shot, 0.75, size).astype(np.float32)
    expected = np.clip(np.round(0.25 * frame_a + 0.75 * frame_b), 0, 255)
    assert np.array_equal(got, expected)


def test_fade_passes_through_black(pool: list[synth.Shot]) -> None:
    edit = _two_shot_edit(pool, "fade", 2.0, 1.0)
    shots = {s.digest: s for s in pool}
    renderer = synth.FrameRenderer(pool, SOURCES)
    assert synth.frame_key(edit, shots, 2.0) == "black"
    half_dark = synth.frame_key(edit, shots, 1.75)  # fading out: half brightness of shot a
    assert half_dark == f"f/{edit.segments[0].shot}/14/10"
    assert renderer.render_at(edit, 2.0, (32, 32)).max() == 0


def test_timeline_labels_match_its_transitions(pool: list[synth.Shot]) -> None:
    rng = np.random.default_rng(5)
    seen = 0
    for _ in range(40):
        timeline = synth.make_timeline(pool, rng)
        times = timeline.times_s
        assert np.all(np.diff(times) > 0)
        assert 16 <= len(times) <= 128
        expected = np.zeros(len(times), dtype=np.float32)
        for transition in timeline.edit.transitions:
            gaps = np.flatnonzero((times[:-1] < transition.centre_s)
                                  & (transition.centre_s <= times[1:]))
            expected[gaps] = 1.0
            seen += len(gaps)
        assert np.array_equal(timeline.labels, expected)
        # Two transitions never share a gap, and consecutive shots are different shots.
        centres = [t.centre_s for t in timeline.edit.transitions]
        assert int(timeline.labels.sum()) == sum(times[0] < c <= times[-1] for c in centres)
        digests = [s.shot for s in timeline.edit.segments]
        assert all(a != b for a, b in zip(digests, digests[1:], strict=False))
    assert seen > 40  # the check above ran on many transitions


def test_samples_on_either_side_of_a_labelled_cut_show_different_shots(
        pool: list[synth.Shot]) -> None:
    rng = np.random.default_rng(11)
    checked = 0
    for _ in range(30):
        timeline = synth.make_timeline(pool, rng, allow_gradual=False)
        for i in np.flatnonzero(timeline.labels):
            before, after = timeline.keys[i].split("/")[1], timeline.keys[i + 1].split("/")[1]
            assert before != after
            checked += 1
        for i in np.flatnonzero(timeline.labels[:-1] == 0):
            assert timeline.keys[i].split("/")[1] == timeline.keys[i + 1].split("/")[1]
    assert checked > 20


def test_same_seed_same_sequences_and_different_seed_differs() -> None:
    def build(seed: int) -> tuple[list[synth.Shot], list[synth.Timeline]]:
        rng = np.random.default_rng(seed)
        pool = synth.make_shot_pool(SOURCES, rng, synth.PoolConfig(2, 1, 2))
        return pool, [synth.make_timeline(pool, rng) for _ in range(5)]

    pool_a, first = build(3)
    pool_b, again = build(3)
    _, other = build(4)
    assert [s.digest for s in pool_a] == [s.digest for s in pool_b]
    for x, y in zip(first, again, strict=True):
        assert x.keys == y.keys and x.edit == y.edit and x.fps == y.fps
        assert np.array_equal(x.times_s, y.times_s) and np.array_equal(x.labels, y.labels)
    assert [t.keys for t in first] != [t.keys for t in other]
    renderer_a = synth.FrameRenderer(pool_a, SOURCES)
    renderer_b = synth.FrameRenderer(pool_b, SOURCES)
    key = first[0].keys[3]
    assert np.array_equal(renderer_a.render_key(key), renderer_b.render_key(key))
