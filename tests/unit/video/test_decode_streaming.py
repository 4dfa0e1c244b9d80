"""Streamed decoding: the chunks handed out while decoding are exactly the frames of a plain
decode, each distinct frame once, in time order, in chunks of the asked size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.video import SamplingSpec, VideoPolicy, decode
from tests.media import sample_clip
from tests.unit.video.conftest import MakeVideo

POLICY = VideoPolicy()


SHARES: list[float] = []  # the share each chunk reported, of the last streamed decode


def streamed(path: Path, spec: SamplingSpec, chunk_frames: int
             ) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray, np.ndarray]:
    """(chunks, result times, result frames) of a streamed decode."""
    chunks: list[tuple[np.ndarray, np.ndarray]] = []
    SHARES.clear()

    def sink(times_s: np.ndarray, frames: np.ndarray, share: float) -> None:
        chunks.append((times_s, frames))
        SHARES.append(share)

    result = decode(path, POLICY, spec, on_frames=sink, chunk_frames=chunk_frames)
    return chunks, result.times_s, result.frames


@pytest.mark.parametrize("mode", ["exact", "fast"])
def test_chunks_are_the_frames_of_a_plain_decode(mode: str) -> None:
    path = sample_clip("bikes.mp4")
    spec = SamplingSpec(fps=2.0, mode=mode)  # type: ignore[arg-type]
    plain = decode(path, POLICY, spec)
    chunks, times, frames = streamed(path, spec, chunk_frames=3)
    assert frames.shape == (0, 224, 224, 3)  # the pixels went out as chunks, not twice
    np.testing.assert_array_equal(times, plain.times_s)
    assert all(len(t) == len(f) for t, f in chunks)
    assert [len(t) for t, _ in chunks[:-1]] == [3] * (len(chunks) - 1)
    assert 1 <= len(chunks[-1][0]) <= 3
    np.testing.assert_array_equal(np.concatenate([t for t, _ in chunks]), plain.times_s)
    np.testing.assert_array_equal(np.concatenate([f for _, f in chunks]), plain.frames)
    # How far through the plan each chunk is: rising, and all of it once every frame is out.
    assert sorted(SHARES) == SHARES and 0 < SHARES[0] < 1
    if mode == "exact":  # the plan is the sampled times; each lands on its own frame here
        assert SHARES[-1] == 1.0


def test_a_frame_that_several_targets_land_on_is_sent_once(video: MakeVideo) -> None:
    # 2 frames a second sampled at 6 fps: three targets share each frame.
    path = video("slow.mp4", fps=2, duration_s=3.0)
    spec = SamplingSpec(fps=6.0)
    plain = decode(path, POLICY, spec)
    chunks, times, _ = streamed(path, spec, chunk_frames=4)
    sent = np.concatenate([t for t, _ in chunks])
    assert len(np.unique(sent)) == len(sent) == len(plain.times_s) == 6
    np.testing.assert_array_equal(sent, plain.times_s)
    np.testing.assert_array_equal(np.concatenate([f for _, f in chunks]), plain.frames)


def test_a_video_shorter_than_one_chunk_is_one_chunk() -> None:
    path = sample_clip("bikes.mp4")
    spec = SamplingSpec(num_frames=5)
    chunks, times, _ = streamed(path, spec, chunk_frames=16)
    assert len(chunks) == 1
    np.testing.assert_array_equal(chunks[0][0], times)
