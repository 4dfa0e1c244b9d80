"""Boundary peaks, refinement inside a gap, and shots built from boundaries."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from app.postprocess import (
    Boundary,
    boundary_candidates,
    find_boundaries,
    merge_short_shots,
    refine_boundary,
    refinement_windows,
    shots_from_boundaries,
    verified_boundaries,
)
from app.postprocess.boundaries import MAX_BOUNDARIES_TO_REFINE

TIMES = np.arange(10) * 0.5  # a 2 fps timeline: 0.0, 0.5, ..., 4.5


def test_a_peak_becomes_one_boundary_in_the_middle_of_its_gap() -> None:
    probs = np.array([0.05, 0.1, 0.3, 0.95, 0.6, 0.1, 0.05, 0.05, 0.05, 0.0])

    boundaries = find_boundaries(TIMES, probs, 0.5)

    assert boundaries == [Boundary(time_s=1.75, index=3, score=0.95)]


def test_separate_peaks_each_become_a_boundary_in_time_order() -> None:
    probs = np.array([0.05, 0.7, 0.05, 0.05, 0.05, 0.05, 0.99, 0.05, 0.05, 0.0])

    boundaries = find_boundaries(TIMES, probs, 0.5)

    assert [(b.index, b.time_s) for b in boundaries] == [(1, 0.75), (6, 3.25)]


def test_gaps_below_the_threshold_give_no_boundary() -> None:
    probs = np.array([0.2, 0.49, 0.3, 0.1, 0.0, 0.1, 0.2, 0.3, 0.4, 0.0])

    assert find_boundaries(TIMES, probs, 0.5) == []


def test_the_last_entry_has_no_gap_and_is_ignored() -> None:
    probs = np.zeros(10)
    probs[-1] = 1.0

    assert find_boundaries(TIMES, probs, 0.5) == []


def test_one_sample_has_no_gap() -> None:
    assert find_boundaries(np.array([0.0]), np.array([1.0]), 0.5) == []


def test_all_gaps_at_one_keep_every_other_gap_and_radius_zero_keeps_all() -> None:
    probs = np.ones(10)

    suppressed = find_boundaries(TIMES, probs, 0.5)
    every = find_boundaries(TIMES, probs, 0.5, nms_radius=0)

    assert [b.index for b in suppressed] == [0, 2, 4, 6, 8]
    assert [b.index for b in every] == list(range(9))


# --- refine_boundary on synthetic strips ------------------------------------------------------

FRAME_S = 1.0 / 30.0


def _scene(seed: int, size: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, size=(size, size))


def _with_noise(frames: np.ndarray, amplitude: float = 3.0) -> np.ndarray:
    """Sensor noise / small motion, so that no difference in the strip is exactly 0."""
    noise = np.random.default_rng(99).uniform(-amplitude, amplitude, size=frames.shape)
    return np.clip(frames + noise, 0, 255).astype(np.uint8)


def test_refine_finds_a_hard_cut_within_one_frame() -> None:
    times = 1.0 + np.arange(16) * FRAME_S
    a, b = _scene(1), _scene(2)
    frames = _with_noise(np.stack([a] * 7 + [b] * 9))  # frame 7 is the first of the new shot

    refined = refine_boundary(times, frames)

    assert refined == pytest.approx((times[6] + times[7]) / 2)
    assert abs(refined - times[7]) <= FRAME_S


def test_refine_prefers_the_cut_over_ordinary_motion() -> None:
    times = np.arange(16) * FRAME_S
    a, b = np.kron(_scene(1, 8), np.ones((4, 4))), _scene(2)  # a: 4x4-pixel blocks
    moving = [np.roll(a, k, axis=1) for k in range(11)]  # a pan: every difference moderate
    frames = _with_noise(np.stack(moving + [b] * 5))

    refined = refine_boundary(times, frames)

    assert refined == pytest.approx((times[10] + times[11]) / 2)


def test_refine_puts_a_dissolve_at_the_middle_of_the_transition() -> None:
    times = 2.0 + np.arange(25) * FRAME_S
    a, b = _scene(3), _scene(4)
    alphas = np.clip((np.arange(25) - 5) / 10.0, 0.0, 1.0)  # frames 5..15 blend a -> b
    frames = _with_noise(np.stack([(1 - w) * a + w * b for w in alphas]))

    refined = refine_boundary(times, frames)

    true_middle = (times[5] + times[15]) / 2
    assert abs(refined - true_middle) <= FRAME_S


def test_refine_puts_a_fade_through_black_at_the_black_frame() -> None:
    times = np.arange(21) * FRAME_S
    a, b = _scene(5), _scene(6)
    levels = np.abs(np.arange(21) - 10) / 6.0  # 1 at the ends, 0 (black) at frame 10
    scenes = [a if k < 10 else b for k in range(21)]
    frames = _with_noise(np.stack([min(w, 1.0) * s for w, s in zip(levels, scenes,
                                                                    strict=True)]))

    refined = refine_boundary(times, frames)

    assert abs(refined - times[10]) <= FRAME_S


def test_refine_with_change_everywhere_returns_the_middle_of_the_gap() -> None:
    times = np.arange(11) * FRAME_S
    a, b = _scene(3), _scene(4)
    frames = _with_noise(np.stack([(1 - k / 10) * a + k / 10 * b for k in range(11)]))

    assert refine_boundary(times, frames) == pytest.approx(times[5])


def test_refine_without_any_change_returns_the_middle_of_the_gap() -> None:
    frames = np.stack([_scene(7)] * 5).astype(np.uint8)

    assert refine_boundary(np.array([1.0, 1.1, 1.2, 1.3, 1.4]), frames) == pytest.approx(1.2)


def test_refine_with_one_frame_returns_its_time() -> None:
    assert refine_boundary(np.array([3.0]), _scene(8)[None]) == 3.0


def test_refine_rejects_frames_that_do_not_match_the_times() -> None:
    with pytest.raises(ValueError, match="one frame per time"):
        refine_boundary(np.array([0.0, 0.1]), np.zeros((3, 8, 8)))


# --- refine_boundary on a real encoded video --------------------------------------------------

FPS = 25


def _write_clip(path: Path) -> None:
    """H.264 clip, 25 fps: scene A (frames 0-24), hard cut to B (25-49), a dissolve B -> C over
    frames 50-60, then C; each scene pans slowly so frames are never identical."""
    scenes = [np.kron(_scene(seed, 16), np.ones((8, 8))) for seed in (11, 12, 13)]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 128, 128, "yuv420p"
        stream.time_base = Fraction(1, FPS)
        for k in range(85):
            if k < 25:
                gray = scenes[0]
            elif k < 50:
                gray = scenes[1]
            else:
                w = min(max((k - 50) / 10.0, 0.0), 1.0)
                gray = (1 - w) * scenes[1] + w * scenes[2]
            gray = np.roll(gray, k, axis=1)
            rgb = np.repeat(gray[:, :, None], 3, axis=2).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = k
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _gray_strip(path: Path, start_s: float, end_s: float) -> tuple[np.ndarray, np.ndarray]:
    times, frames = [], []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if frame.time is not None and start_s <= frame.time <= end_s:
                times.append(frame.time)
                frames.append(frame.to_ndarray(format="gray", width=64, height=64))
    return np.array(times), np.stack(frames)


def test_refine_on_a_real_h264_clip_finds_the_cut_and_the_dissolve(tmp_path: Path) -> None:
    clip = tmp_path / "cut_and_dissolve.mp4"
    _write_clip(clip)

    cut = refine_boundary(*_gray_strip(clip, 0.5, 1.5))
    dissolve = refine_boundary(*_gray_strip(clip, 1.5, 3.0))

    assert abs(cut - 25 / FPS) <= 1 / FPS  # first frame of scene B
    assert abs(dissolve - 55 / FPS) <= 1 / FPS  # middle of frames 50..60


# --- shots ------------------------------------------------------------------------------------

def _boundary(index: int, score: float = 0.9) -> Boundary:
    return Boundary(time_s=float((TIMES[index] + TIMES[index + 1]) / 2), index=index,
                    score=score)


def test_shots_tile_the_video_and_own_the_samples_between_boundaries() -> None:
    shots = shots_from_boundaries([_boundary(5), _boundary(2)], 5.0, 10)

    assert [(s.index, s.start_s, s.end_s, s.sample_indices) for s in shots] == [
        (0, 0.0, 1.25, [0, 1, 2]), (1, 1.25, 2.75, [3, 4, 5]), (2, 2.75, 5.0, [6, 7, 8, 9])]


def test_no_boundary_gives_one_shot_over_everything() -> None:
    shots = shots_from_boundaries([], 5.0, 10)

    assert [(s.start_s, s.end_s, s.sample_indices) for s in shots] == [
        (0.0, 5.0, list(range(10)))]


def test_a_boundary_at_every_gap_gives_one_shot_per_sample() -> None:
    shots = shots_from_boundaries([_boundary(i) for i in range(9)], 5.0, 10)

    assert [s.sample_indices for s in shots] == [[i] for i in range(10)]
    assert shots[-1].end_s == 5.0


def test_duration_zero_still_gives_a_shot_with_every_sample() -> None:
    shots = shots_from_boundaries([], 0.0, 1)

    assert [(s.start_s, s.end_s, s.sample_indices) for s in shots] == [(0.0, 0.0, [0])]


def test_a_boundary_outside_the_gaps_is_rejected() -> None:
    with pytest.raises(ValueError, match="outside"):
        shots_from_boundaries([Boundary(time_s=4.75, index=9, score=0.9)], 5.0, 10)


def test_merging_drops_the_weaker_boundary_of_a_too_short_shot() -> None:
    strong = Boundary(time_s=1.0, index=1, score=0.9)
    weak = Boundary(time_s=1.2, index=2, score=0.6)
    other = Boundary(time_s=5.0, index=9, score=0.8)

    assert merge_short_shots([other, weak, strong], 10.0, 0.5) == [strong, other]


def test_merging_a_short_first_shot_drops_its_end_boundary() -> None:
    early = Boundary(time_s=0.2, index=0, score=0.99)
    later = Boundary(time_s=4.0, index=7, score=0.6)

    assert merge_short_shots([early, later], 10.0, 1.0) == [later]
    assert merge_short_shots([early, later], 10.0, 0.0) == [early, later]


def test_refinement_windows_skip_short_gaps_and_stop_at_the_cap() -> None:
    times = np.array([0.0, 0.5, 0.6, 1.1, 1.6])
    boundaries = [Boundary(time_s=0.25, index=0, score=0.9),
                  Boundary(time_s=0.55, index=1, score=0.9),  # a 0.1 s gap: precise already
                  Boundary(time_s=1.35, index=3, score=0.9),
                  Boundary(time_s=1.6, index=4, score=0.9)]  # the last sample: no gap after it
    assert refinement_windows(times, boundaries) == [(0, (0.0, 0.5)), (2, (1.1, 1.6))]
    many = [Boundary(time_s=i + 0.5, index=i, score=0.9) for i in range(100)]
    windows = refinement_windows(np.arange(101.0), many)
    assert len(windows) == MAX_BOUNDARIES_TO_REFINE


def _strip(times: np.ndarray, cut_at: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Textured 16x16 frames, still until ``cut_at`` where another picture starts."""
    rng = np.random.default_rng(0)
    before, after = rng.integers(0, 256, (2, 16, 16))
    frames = np.stack([after if cut_at is not None and k >= cut_at else before
                       for k in range(len(times))]).astype(np.uint8)
    return times, frames


def test_verified_boundaries_keep_a_cut_at_its_frame_and_drop_a_still_gap() -> None:
    times = np.array([0.0, 0.5, 1.0, 1.5])
    candidates = [Boundary(time_s=0.25, index=0, score=0.9),
                  Boundary(time_s=1.25, index=2, score=0.8)]
    windows = [(0, (0.0, 0.5)), (1, (1.0, 1.5))]
    strip_times = np.arange(6) / 10
    strips = [_strip(strip_times, cut_at=3), _strip(1.0 + strip_times)]
    kept = verified_boundaries(times, candidates, windows, strips)
    assert kept == [Boundary(time_s=pytest.approx(0.25), index=0, score=0.9)]


def test_verified_boundaries_keep_unchecked_candidates_with_suppression() -> None:
    times = np.arange(5) * 0.5
    candidates = [Boundary(time_s=0.25, index=0, score=0.6),
                  Boundary(time_s=0.75, index=1, score=0.9),  # stronger neighbour wins
                  Boundary(time_s=1.75, index=3, score=0.7)]
    windows = [(2, (1.5, 2.0))]
    strips = [(np.array([1.6]), np.zeros((1, 8, 8), dtype=np.uint8))]  # too short to check
    assert verified_boundaries(times, candidates, windows, strips) == candidates[1:]


def test_verified_cuts_in_neighbouring_gaps_stay_two_boundaries() -> None:
    # A shot of one sample (0.5 s at 2 fps): a cut in gap 0 and another in gap 1.
    times = np.array([0.0, 0.5, 1.0])
    candidates = [Boundary(time_s=0.25, index=0, score=0.9),
                  Boundary(time_s=0.75, index=1, score=0.9)]
    windows = [(0, (0.0, 0.5)), (1, (0.5, 1.0))]
    strip_times = np.arange(6) / 10
    strips = [_strip(strip_times, cut_at=2), _strip(0.5 + strip_times, cut_at=4)]
    kept = verified_boundaries(times, candidates, windows, strips)
    assert [b.index for b in kept] == [0, 1]
    assert [b.time_s for b in kept] == [pytest.approx(0.15), pytest.approx(0.85)]


def test_boundary_candidates_keep_every_peak() -> None:
    times = np.arange(6) * 0.5
    prob = np.array([0.9, 0.8, 0.1, 0.7, 0.1, 0.0])
    candidates, windows = boundary_candidates(times, prob, 0.5)
    assert [b.index for b in candidates] == [0, 1, 3]
    assert [w for _, w in windows] == [(0.0, 0.5), (0.5, 1.0), (1.5, 2.0)]
