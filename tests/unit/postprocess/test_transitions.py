"""What a gap's frames say: cut, gradual transition or camera motion, on real photos moved and
edited the way footage is (25 fps, 64 px gray, as the decoder hands them over)."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
from PIL import Image

from app.postprocess.transitions import classify_gap, compensated_difference, global_shift

FPS = 25.0
FRAMES = 13  # a 0.5 s gap between two 2 fps samples, both ends included
TIMES = np.arange(FRAMES) / FPS


def photo(name: str) -> np.ndarray:
    image = np.asarray(getattr(skimage.data, name)(), dtype=np.float32)
    return image[..., :3].mean(axis=2) if image.ndim == 3 else image


def view(image: np.ndarray, cx: float, cy: float, side: float) -> np.ndarray:
    """A side x side window of ``image`` around (cx, cy), scaled to 64 x 64 like the decoder."""
    h, w = image.shape
    x0 = int(np.clip(cx - side / 2, 0, w - side))
    y0 = int(np.clip(cy - side / 2, 0, h - side))
    crop = image[y0:y0 + int(side), x0:x0 + int(side)]
    return np.asarray(Image.fromarray(crop).resize((64, 64), Image.Resampling.BILINEAR),
                      dtype=np.float32)


def centred(name: str, scale: float = 0.5) -> np.ndarray:
    image = photo(name)
    h, w = image.shape
    return view(image, w / 2, h / 2, min(h, w) * scale)


def encoded(frames: list[np.ndarray], seed: int = 0) -> np.ndarray:
    """Frames as a decoder gives them: sensor/compression noise, uint8."""
    rng = np.random.default_rng(seed)
    return np.stack([np.clip(f + rng.normal(0, 1.5, f.shape), 0, 255) for f in frames]
                    ).astype(np.uint8)


def pan(name: str, px_per_frame: float) -> np.ndarray:
    image = photo(name)
    h, w = image.shape
    side = min(h, w) * 0.5
    start = w / 2 - px_per_frame * FRAMES / 2
    return encoded([view(image, start + px_per_frame * k, h / 2, side) for k in range(FRAMES)])


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea", "camera", "brick"])
@pytest.mark.parametrize("speed", [5, 10, 20, 40])
def test_a_pan_is_motion_not_a_cut(name: str, speed: int) -> None:
    assert classify_gap(TIMES, pan(name, speed)).kind == "motion"


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
def test_a_crash_zoom_is_motion(name: str) -> None:
    image = photo(name)
    h, w = image.shape
    base = min(h, w) * 0.8
    frames = encoded([view(image, w / 2, h / 2, base * 3.0 ** (-k / (FRAMES - 1)))
                      for k in range(FRAMES)])
    assert classify_gap(TIMES, frames).kind == "motion"


@pytest.mark.parametrize("flash_frames", [1, 2])
def test_a_camera_flash_is_not_a_cut(flash_frames: int) -> None:
    still = centred("astronaut")
    frames = encoded([np.clip(still * (2.5 if 5 <= k < 5 + flash_frames else 1.0), 0, 255)
                      for k in range(FRAMES)])
    assert classify_gap(TIMES, frames).kind == "motion"


def test_something_passing_close_to_the_lens_is_not_a_cut() -> None:
    still = centred("coffee")
    frames = []
    for k in range(FRAMES):
        frame = still.copy()
        left = -40 + 12 * k
        frame[:, max(0, left):max(0, left + 40)] = 20  # a dark body sweeping across
        frames.append(frame)
    assert classify_gap(TIMES, encoded(frames)).kind == "motion"


@pytest.mark.parametrize(("before", "after"), [("astronaut", "coffee"), ("chelsea", "camera"),
                                                ("brick", "grass")])
def test_a_cut_is_placed_between_its_two_frames(before: str, after: str) -> None:
    frames = encoded([centred(before) if k < 6 else centred(after) for k in range(FRAMES)])
    evidence = classify_gap(TIMES, frames)
    assert evidence.kind == "cut"
    assert evidence.times_s == [pytest.approx((TIMES[5] + TIMES[6]) / 2)]


def test_a_cut_in_the_middle_of_a_pan_is_still_a_cut() -> None:
    a, b = photo("astronaut"), photo("chelsea")
    frames = [view(a if k < 4 else b, 200 + 6 * k, 200, 200) for k in range(FRAMES)]
    evidence = classify_gap(TIMES, encoded(frames))
    assert evidence.kind == "cut" and len(evidence.times_s) == 1


def test_a_shot_shorter_than_the_gap_gives_two_cuts_strongest_first() -> None:
    shots = [centred("astronaut")] * 3 + [centred("coffee")] * 7 + [centred("brick")] * 3
    evidence = classify_gap(TIMES, encoded(shots))
    assert evidence.kind == "cut"
    assert sorted(evidence.times_s) == [pytest.approx((TIMES[2] + TIMES[3]) / 2),
                                        pytest.approx((TIMES[9] + TIMES[10]) / 2)]


def test_a_dissolve_is_gradual_and_placed_in_its_middle() -> None:
    a, b = centred("astronaut"), centred("coffee")
    frames = [(1 - t) * a + t * b for t in np.clip((np.arange(FRAMES) - 2) / 8, 0, 1)]
    evidence = classify_gap(TIMES, encoded(frames))
    assert evidence.kind == "gradual"
    assert abs(evidence.times_s[0] - (TIMES[2] + TIMES[10]) / 2) <= 1.5 / FPS


def test_a_fade_to_black_is_gradual() -> None:
    still = centred("chelsea")
    frames = [still * (1 - t) for t in np.clip((np.arange(FRAMES) - 3) / 6, 0, 1)]
    assert classify_gap(TIMES, encoded(frames)).kind == "gradual"


def test_a_still_gap_is_motion_and_a_tiny_strip_keeps_its_candidate() -> None:
    still = centred("camera")
    assert classify_gap(TIMES, encoded([still] * FRAMES)).kind == "motion"
    short = classify_gap(TIMES[:2], encoded([still] * 2))
    assert short.kind == "cut" and short.times_s == [pytest.approx(TIMES[1] / 2)]


def test_global_shift_finds_a_sub_pixel_pan() -> None:
    image = photo("astronaut")
    a = view(image, 256, 256, 256)
    b = view(image, 256 + 10, 256 - 6, 256)  # 2.5 and -1.5 pixels at 64 px
    dy, dx = global_shift(a, b)
    assert dy == pytest.approx(1.5, abs=0.35) and dx == pytest.approx(-2.5, abs=0.35)
    assert compensated_difference(a, b) < 0.3 * float(np.abs(a - b).mean())


def test_frames_and_times_must_match() -> None:
    with pytest.raises(ValueError, match="frames"):
        classify_gap(TIMES, np.zeros((3, 8, 8), dtype=np.uint8))
