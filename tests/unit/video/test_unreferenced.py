"""Skipping H.264 pictures nothing references: same frames, bit for bit, fewer decoded."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from app.video import DecodedVideo, SamplingSpec, VideoPolicy, decode
from app.video.refs import avcc_length_size, is_unreferenced_h264
from tests.media import read_counter, sample_clip
from tests.unit.video.conftest import MakeVideo

POLICY = VideoPolicy()
CROP_CODE_FRAC = 0.5 * 256 / 224


def _prefixed(*nals: bytes, size: int = 4) -> bytes:
    return b"".join(len(n).to_bytes(size, "big") + n for n in nals)


def test_nal_ref_idc_decides() -> None:
    sei, non_ref_b, ref_p = b"\x06\x05\x01\x80", b"\x01\x9a\x00", b"\x41\x9a\x00"
    assert is_unreferenced_h264(_prefixed(sei, non_ref_b), 4)
    assert not is_unreferenced_h264(_prefixed(sei, ref_p), 4)
    assert not is_unreferenced_h264(_prefixed(non_ref_b, ref_p), 4)  # one reference slice
    assert not is_unreferenced_h264(_prefixed(b"\x65\x88"), 4)  # IDR
    assert not is_unreferenced_h264(_prefixed(sei), 4)  # no slice at all
    assert is_unreferenced_h264(_prefixed(non_ref_b, size=2), 2)
    assert is_unreferenced_h264(b"\x00\x00\x00\x01\x06\x05\x00\x00\x01\x01\x9a", None)
    assert not is_unreferenced_h264(b"\x00\x00\x01\x21\x9a", None)


def test_malformed_packets_count_as_references() -> None:
    assert not is_unreferenced_h264(b"", 4)
    assert not is_unreferenced_h264(b"\x00\x00\x00\x09\x01\x9a", 4)  # length past the end
    assert not is_unreferenced_h264(b"\x00\x00\x00\x00\x01\x9a", 4)  # zero length
    assert not is_unreferenced_h264(b"\x01\x9a\x00", None)  # no start code


def test_avcc_length_size() -> None:
    assert avcc_length_size(bytes([1, 0x64, 0, 0x1F, 0xFF, 0xE1, 0])) == 4
    assert avcc_length_size(bytes([1, 0x64, 0, 0x1F, 0xFD, 0xE1, 0])) == 2
    assert avcc_length_size(b"\x00\x00\x00\x01\x67") is None
    assert avcc_length_size(None) is None


def _both(path: Path, spec: SamplingSpec) -> tuple[DecodedVideo, DecodedVideo]:
    return (decode(path, POLICY, replace(spec, skip_unreferenced=False)),
            decode(path, POLICY, replace(spec, skip_unreferenced=True)))


@pytest.mark.parametrize("kwargs", [
    {"gop": 50, "duration_s": 6.0},                    # long GOPs, seeks
    {"vfr": True, "duration_s": 3.0},                  # timestamps, not indices
    {"container": "ts", "duration_s": 3.0},            # Annex B (start codes)
])
@pytest.mark.parametrize("fps", [2.0, 7.0])
def test_same_frames_fewer_decoded(video: MakeVideo, kwargs: dict[str, object],
                                   fps: float) -> None:
    name = "ref_" + "_".join(f"{k}{v}" for k, v in kwargs.items()) + ".mp4"
    path = video(name, pattern="counter", **kwargs)
    full, skipping = _both(path, SamplingSpec(fps=fps))
    assert np.array_equal(skipping.frames, full.frames)
    np.testing.assert_array_equal(skipping.times_s, full.times_s)
    assert skipping.frames_decoded < full.frames_decoded
    counters = [read_counter(f, CROP_CODE_FRAC) for f in skipping.frames]
    assert counters == sorted(set(counters))


def test_real_clip_same_frames() -> None:
    path = sample_clip("bikes.mp4")
    full, skipping = _both(path, SamplingSpec(fps=2.0))
    assert np.array_equal(skipping.frames, full.frames)
    assert skipping.frames_decoded <= full.frames_decoded


def test_other_codecs_decode_every_frame_as_before(video: MakeVideo) -> None:
    path = video("ref_vp9.webm", codec="libvpx-vp9", container="webm", duration_s=2.0)
    full, skipping = _both(path, SamplingSpec(fps=2.0))
    assert np.array_equal(skipping.frames, full.frames)
    assert skipping.frames_decoded == full.frames_decoded


def test_fast_mode_is_unchanged(video: MakeVideo) -> None:
    path = video("ref_gop50.mp4", pattern="counter", gop=50, duration_s=6.0)
    spec = SamplingSpec(fps=2.0, mode="fast")
    full, skipping = _both(path, spec)
    assert np.array_equal(skipping.frames, full.frames)
    assert skipping.frames_decoded == full.frames_decoded
