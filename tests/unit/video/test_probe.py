from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from app.errors import UnsupportedMedia, VideoRejected
from app.video import VideoPolicy, probe
from tests.media import make_audio_only, sample_clip
from tests.unit.video.conftest import MakeVideo

POLICY = VideoPolicy()


def test_probe_bikes() -> None:
    info = probe(sample_clip("bikes.mp4"), POLICY)
    assert (info.container, info.codec) == ("mp4", "h264")
    assert (info.width, info.height) == (640, 272)
    assert info.fps == 25.0
    assert info.duration_s == pytest.approx(10.0)
    assert info.pixel_format == "yuv420p"
    assert info.has_audio is False
    assert info.size_bytes == sample_clip("bikes.mp4").stat().st_size


def test_probe_bigbuckbunny_has_audio() -> None:
    info = probe(sample_clip("bigbuckbunny.mp4"), POLICY)
    assert (info.width, info.height, info.has_audio) == (1280, 720, True)
    assert info.duration_s == pytest.approx(5.28, abs=0.05)


def test_probe_carphone_ntsc_rate() -> None:
    info = probe(sample_clip("carphone_pristine.mp4"), POLICY)
    assert (info.width, info.height) == (176, 144)
    assert info.fps == pytest.approx(30000 / 1001)


def test_too_many_streams(video: MakeVideo) -> None:
    path = video("streams.mkv", container="mkv", audio_streams=3, duration_s=0.2)
    with pytest.raises(VideoRejected) as info:
        probe(path, replace(POLICY, max_streams=3))
    assert (info.value.code, info.value.status_code) == ("too_many_streams", 422)
    assert probe(path, replace(POLICY, max_streams=4)).has_audio


@pytest.mark.parametrize("limits", [{"max_width": 319}, {"max_height": 200},
                                    {"max_pixels": 320 * 240 - 1}])
def test_resolution_too_large(video: MakeVideo, limits: dict[str, int]) -> None:
    path = video("small.mp4", duration_s=0.2)
    with pytest.raises(VideoRejected) as info:
        probe(path, replace(POLICY, **limits))  # type: ignore[arg-type]
    assert info.value.code == "resolution_too_large"


def test_video_too_long(video: MakeVideo) -> None:
    path = video("two_seconds.mp4", duration_s=2.0)
    with pytest.raises(VideoRejected) as info:
        probe(path, replace(POLICY, max_duration_s=1.5))
    assert info.value.code == "video_too_long"


def test_codec_outside_allowlist(video: MakeVideo) -> None:
    path = video("ffv1.mkv", container="mkv", codec="ffv1", duration_s=0.2)
    with pytest.raises(UnsupportedMedia) as info:
        probe(path, POLICY)
    assert (info.value.code, info.value.status_code) == ("unsupported_codec", 415)


def test_container_outside_policy(video: MakeVideo) -> None:
    path = video("clip.flv", container="flv", duration_s=0.2)
    with pytest.raises(UnsupportedMedia) as info:
        probe(path, POLICY)
    assert info.value.code == "unsupported_container"
    assert probe(path, replace(POLICY, allowed_containers=frozenset({"flv"}))).codec == "h264"


def test_audio_only_has_no_video_stream(tmp_path: Path) -> None:
    path = make_audio_only(tmp_path / "voice.mp4")
    with pytest.raises(UnsupportedMedia) as info:
        probe(path, POLICY)
    assert (info.value.code, info.value.status_code) == ("no_video_stream", 415)


def test_truncated_file_with_mp4_magic(tmp_path: Path) -> None:
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x13" * 200)
    with pytest.raises(VideoRejected) as info:
        probe(path, POLICY)
    assert info.value.code == "decode_failed"


def test_hevc_and_av1_are_probed(video: MakeVideo) -> None:
    hevc = video("hevc.mp4", codec="libx265", duration_s=0.2)
    av1 = video("av1.mkv", codec="libsvtav1", container="mkv", duration_s=0.2)
    assert probe(hevc, POLICY).codec == "hevc"
    assert probe(av1, POLICY).codec == "av1"
