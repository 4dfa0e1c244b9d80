from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.errors import UnsupportedMedia, VideoRejected
from app.video import (
    SamplingSpec,
    VideoPolicy,
    decode,
    decode_gray_strip,
    decode_gray_strips,
    decode_thumbnails,
)
from tests.media import frame_times, keyframe_times, read_counter, sample_clip
from tests.unit.video.conftest import MakeVideo

POLICY = VideoPolicy()
CROP_CODE_FRAC = 0.5 * 256 / 224  # where read_counter finds the code inside a 224 crop


def expected_times(path: Path, targets: np.ndarray) -> np.ndarray:
    """Ground truth from a plain decode: the last frame at or before each target, deduplicated."""
    times = frame_times(path)
    picked = [times[max(np.searchsorted(times, t + 1e-9, side="right") - 1, 0)] for t in targets]
    return np.unique(np.array(picked))


def counters(frames: np.ndarray) -> list[int]:
    return [read_counter(frame, CROP_CODE_FRAC) for frame in frames]


def test_bikes_exact_2fps_lands_on_the_frame_on_screen() -> None:
    path = sample_clip("bikes.mp4")
    result = decode(path, POLICY, SamplingSpec(fps=2.0))
    assert result.frames.shape == (20, 224, 224, 3)
    assert result.frames.dtype == np.uint8
    assert result.mode == "exact"
    targets = np.arange(20) * 0.5 + 0.25
    np.testing.assert_allclose(result.times_s, expected_times(path, targets))
    assert result.info.duration_s == pytest.approx(10.0)


def test_long_gop_seeks_once_per_interval_and_decodes_no_frame_twice(video: MakeVideo) -> None:
    # 150 frames, keyframes at frames 0, 50, 100; targets at 1 s, 3 s, 5 s (frames 25, 75, 125).
    path = video("gop50.mp4", pattern="counter", gop=50, duration_s=6.0)
    np.testing.assert_allclose(keyframe_times(path), [0.0, 2.0, 4.0])
    result = decode(path, POLICY, SamplingSpec(num_frames=3, skip_unreferenced=False))
    assert counters(result.frames) == [25, 75, 125]
    np.testing.assert_allclose(result.times_s, [1.0, 3.0, 5.0])
    # Frames 0-25, then a seek to 50 and 50-75, then a seek to 100 and 100-125.
    assert result.frames_decoded == 3 * 26
    # Skipping pictures nothing references gives the same frames for less decoding.
    lean = decode(path, POLICY, SamplingSpec(num_frames=3))
    assert counters(lean.frames) == [25, 75, 125]
    assert np.array_equal(lean.frames, result.frames)
    assert lean.frames_decoded < result.frames_decoded


def test_dense_targets_in_long_gop_pick_every_right_frame(video: MakeVideo) -> None:
    path = video("gop50.mp4", pattern="counter", gop=50, duration_s=6.0)
    result = decode(path, POLICY, SamplingSpec(fps=3.0))
    targets = (np.arange(18) + 0.5) / 3.0
    np.testing.assert_allclose(result.times_s, expected_times(path, targets))
    assert counters(result.frames) == [round(t * 25) for t in result.times_s]


def test_variable_frame_rate_is_sampled_by_timestamp(video: MakeVideo) -> None:
    path = video("vfr.mp4", pattern="counter", vfr=True, duration_s=3.0)
    times = frame_times(path)
    gaps = np.diff(times)
    assert gaps.min() < gaps.max() / 4  # really variable
    result = decode(path, POLICY, SamplingSpec(fps=4.0))
    np.testing.assert_allclose(result.times_s, expected_times(path, (np.arange(12) + 0.5) / 4))
    # The counter is the frame's index in presentation order.
    assert counters(result.frames) == [int(np.abs(times - t).argmin()) for t in result.times_s]


def test_fast_mode_returns_nearest_keyframes(video: MakeVideo) -> None:
    path = video("gop50.mp4", pattern="counter", gop=50, duration_s=6.0)
    result = decode(path, POLICY, SamplingSpec(fps=2.0, mode="fast"))
    assert result.mode == "fast"
    np.testing.assert_allclose(result.times_s, [0.0, 2.0, 4.0])
    assert counters(result.frames) == [0, 50, 100]
    assert result.frames_decoded == 3


def test_fast_mode_on_bikes_uses_only_keyframes() -> None:
    path = sample_clip("bikes.mp4")
    result = decode(path, POLICY, SamplingSpec(fps=2.0, mode="fast"))
    keys = keyframe_times(path)
    assert set(np.round(result.times_s, 6)) <= set(np.round(keys, 6))
    assert result.frames_decoded == len(result.times_s)


@pytest.mark.parametrize(("name", "kwargs"), [
    ("vp9.webm", {"container": "webm", "codec": "libvpx-vp9"}),
    ("mpeg4.avi", {"container": "avi", "codec": "mpeg4"}),
    ("mjpeg.avi", {"container": "avi", "codec": "mjpeg"}),
    ("h264.ts", {"container": "ts"}),
])
def test_other_codecs_and_containers(video: MakeVideo, name: str, kwargs: dict[str, str]) -> None:
    path = video(name, pattern="counter", duration_s=2.0, **kwargs)
    result = decode(path, POLICY, SamplingSpec(fps=2.0))
    assert result.frames.shape == (4, 224, 224, 3)
    np.testing.assert_allclose(result.times_s, [0.24, 0.72, 1.24, 1.72])
    assert counters(result.frames) == [6, 18, 31, 43]


@pytest.mark.parametrize(("width", "height"), [(91, 333), (640, 64), (200, 150)])
def test_any_shape_gives_crop_sized_frames(video: MakeVideo, width: int, height: int) -> None:
    path = video(f"shape{width}x{height}.mp4", width=width, height=height, duration_s=0.5)
    result = decode(path, POLICY, SamplingSpec(fps=2.0))
    assert result.frames.shape == (1, 224, 224, 3)


def test_short_side_below_crop_still_gives_crop(video: MakeVideo) -> None:
    path = video("small.mp4", duration_s=0.5)
    result = decode(path, POLICY, SamplingSpec(short_side=100, crop=128))
    assert result.frames.shape == (1, 128, 128, 3)


def test_one_frame_video(video: MakeVideo) -> None:
    path = video("one.mp4", duration_s=0.04)
    result = decode(path, POLICY, SamplingSpec(fps=2.0))
    assert result.frames.shape == (1, 224, 224, 3)
    np.testing.assert_allclose(result.times_s, [0.0])


def test_rotation_from_display_matrix(video: MakeVideo) -> None:
    plain = decode(video("upright.mp4", duration_s=0.5), POLICY, SamplingSpec())
    turned = decode(video("turned.mp4", duration_s=0.5, rotate_deg=90), POLICY, SamplingSpec())
    assert turned.info.rotation_deg == 90
    np.testing.assert_array_equal(turned.frames[0], np.rot90(plain.frames[0], 1))


def test_scene_content_changes_at_cuts(video: MakeVideo) -> None:
    path = video("cuts.mp4", cut_times_s=(1.0,), duration_s=2.0)
    frames = decode(path, POLICY, SamplingSpec(fps=4.0)).frames.astype(np.int16)
    within = np.abs(frames[1] - frames[0]).mean()
    across = np.abs(frames[4] - frames[3]).mean()
    assert within > 0.5 and across > 5 * within


def test_policy_checks_apply_in_decode(video: MakeVideo) -> None:
    path = video("two_seconds.mp4", duration_s=2.0)
    with pytest.raises(VideoRejected) as info:
        decode(path, replace(POLICY, max_duration_s=1.0), SamplingSpec())
    assert info.value.code == "video_too_long"
    with pytest.raises(VideoRejected) as info:
        decode(path, replace(POLICY, max_width=100), SamplingSpec())
    assert info.value.code == "resolution_too_large"


def test_decoded_frame_budget(video: MakeVideo) -> None:
    path = video("gop50.mp4", pattern="counter", gop=50, duration_s=6.0)
    with pytest.raises(VideoRejected) as info:
        decode(path, replace(POLICY, max_decoded_frames=20), SamplingSpec(num_frames=3))
    assert info.value.code == "video_too_large"


def test_decode_timeout(video: MakeVideo) -> None:
    path = video("two_seconds.mp4", duration_s=2.0)
    with pytest.raises(VideoRejected) as info:
        decode(path, replace(POLICY, decode_timeout_s=1e-9), SamplingSpec())
    assert (info.value.code, info.value.status_code) == ("decode_timeout", 422)


def _corrupt_mjpeg(src: Path, dst: Path) -> Path:
    data = bytearray(src.read_bytes())
    starts = [i for i in range(len(data) - 2) if data[i:i + 3] == b"\xff\xd8\xff"]
    for start in starts[10:20]:  # garble ten frames' entropy-coded data
        for k in range(start + 2, start + 600):
            data[k] = 0xFF if k % 3 else 0x00
    dst.write_bytes(bytes(data))
    return dst


def test_corrupt_packets_within_budget_are_skipped(video: MakeVideo, tmp_path: Path) -> None:
    good = video("mjpeg.avi", container="avi", codec="mjpeg", pattern="counter", duration_s=2.0)
    bad = _corrupt_mjpeg(good, tmp_path / "bad.avi")
    result = decode(bad, POLICY, SamplingSpec(fps=25.0))
    assert len(result.frames) == 40  # 50 frames, 10 destroyed
    with pytest.raises(VideoRejected) as info:
        decode(bad, replace(POLICY, max_corrupt_packets=5), SamplingSpec(fps=25.0))
    assert info.value.code == "decode_failed"


def test_disguised_playlist_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "video.mp4"
    path.write_bytes(b"#EXTM3U\n#EXTINF:1,\nhttp://127.0.0.1:9/x.ts\n")
    with pytest.raises(UnsupportedMedia):
        decode(path, POLICY, SamplingSpec())


def test_thumbnails_keep_order_aspect_and_content(video: MakeVideo) -> None:
    path = video("counter.mp4", pattern="counter", duration_s=2.0)
    jpegs = decode_thumbnails(path, [1.0, 0.0, 1.5, 1.0])
    images = [Image.open(io.BytesIO(data)) for data in jpegs]
    assert [im.size for im in images] == [(160, 120)] * 4
    assert [read_counter(np.asarray(im.convert("RGB"))) for im in images] == [25, 0, 37, 25]


def test_gray_strip_returns_every_frame_in_the_window(video: MakeVideo) -> None:
    path = video("counter.mp4", pattern="counter", duration_s=2.0)
    times, frames = decode_gray_strip(path, 0.5, 0.7, size=64)
    np.testing.assert_allclose(times, [0.52, 0.56, 0.60, 0.64, 0.68])
    assert frames.shape == (5, 64, 64) and frames.dtype == np.uint8
    assert [read_counter(f) for f in frames] == [13, 14, 15, 16, 17]


def test_gray_strip_is_bounded(video: MakeVideo) -> None:
    path = video("counter.mp4", pattern="counter", duration_s=2.0)
    times, frames = decode_gray_strip(path, 0.0, 2.0, size=32, max_frames=10)
    assert len(times) == 10 and frames.shape == (10, 32, 32)
    assert times[0] == 0.0 and times[-1] == pytest.approx(1.96)


def test_gray_strips_in_one_pass_equal_one_call_per_window(video: MakeVideo) -> None:
    path = video("gop50.mp4", pattern="counter", gop=50, duration_s=6.0)
    windows = [(0.5, 0.7), (3.1, 3.2), (1.9, 2.1), (5.0, 5.01), (4.9, 5.1)]  # unordered, overlap
    strips = decode_gray_strips(path, windows, size=64)
    assert len(strips) == len(windows)
    for (start, end), (times, frames) in zip(windows, strips, strict=True):
        alone_times, alone_frames = decode_gray_strip(path, start, end, size=64)
        np.testing.assert_array_equal(times, alone_times)
        np.testing.assert_array_equal(frames, alone_frames)
    assert [read_counter(f) for f in strips[2][1]] == [48, 49, 50, 51, 52]  # across a keyframe
    np.testing.assert_allclose(strips[3][0], [5.0])  # a window with one frame in it
    assert decode_gray_strips(path, []) == []
