"""Each defence on its own, with the ones before it bypassed, plus controls that show the threat.

The API tests (test_corpus_api.py) see only the first layer that answers; here the later layers
are called directly, so that a regression in one is not hidden by another.
"""

from __future__ import annotations

import io
from pathlib import Path

import av
import pytest

from app.errors import UnsupportedMedia, VideoBertError, VideoRejected
from app.video import SamplingSpec, VideoPolicy, decode, probe, sniff_container
from app.video.container import DEMUXERS
from tests.hostile.canary import Canary
from tests.hostile.conftest import HostileEnv
from tests.hostile.corpus import SECRET_VIDEO, list_cases

SCRIPTS = [c.name for c in list_cases() if c.name.startswith(("hls_", "concat_", "child"))
           and c.status == 415]
SMALL = SamplingSpec(short_side=72, crop=64)


@pytest.mark.parametrize("name", SCRIPTS)
def test_sniff_names_playlists_and_scripts_as_unsupported(name: str,
                                                          hostile_env: HostileEnv) -> None:
    with pytest.raises(UnsupportedMedia) as err:
        sniff_container(hostile_env.corpus / name)
    assert err.value.code == "unsupported_container"


@pytest.mark.parametrize("kind", sorted(DEMUXERS))
@pytest.mark.parametrize("name", SCRIPTS)
def test_forced_demuxer_never_follows_a_script_past_the_sniff(name: str, kind: str,
                                                              hostile_env: HostileEnv) -> None:
    """As if the sniff had been fooled: the one whitelisted demuxer must fail on the text."""
    policy = VideoPolicy(allowed_containers=frozenset(DEMUXERS))
    with pytest.raises(VideoRejected) as err:
        probe(hostile_env.corpus / name, policy, container=kind)
    assert err.value.code == "decode_failed"
    assert hostile_env.canary.connections == []


def test_control_unguarded_ffmpeg_fetches_a_playlist_url(tmp_path: Path) -> None:
    """Without the whitelists FFmpeg does make the request: the canary is a real detector."""
    with Canary() as canary:
        playlist = tmp_path / "upload.m3u8"
        playlist.write_text("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n"
                            f"http://127.0.0.1:{canary.port}/segment0.ts\n#EXT-X-ENDLIST\n")
        with playlist.open("rb") as fh, pytest.raises(av.FFmpegError):
            av.open(io.BufferedReader(fh), format="hls", options={"rw_timeout": "1000000"})
        assert len(canary.connections) == 1
        assert canary.connections[0].startswith(b"GET /segment0.ts")


def test_control_unguarded_ffmpeg_reads_a_file_named_by_concat(hostile_env: HostileEnv,
                                                               tmp_path: Path) -> None:
    """A concat script beside the secret decodes the secret: what the format whitelist stops."""
    script = hostile_env.root / "concat_control.mp4"
    script.write_text(f"ffconcat version 1.0\nfile '{SECRET_VIDEO}'\n")
    try:
        with av.open(str(script)) as container:
            assert container.format.name == "concat"
            assert container.streams.video[0].codec_context.width == 32
        with pytest.raises(VideoBertError):
            probe(script, VideoPolicy(), container="mp4")
    finally:
        script.unlink()


def test_decoded_size_is_checked_when_the_stream_changes_size(hostile_env: HostileEnv) -> None:
    path = hostile_env.corpus / "size_change.ts"
    policy = VideoPolicy(max_width=4096, max_height=4096, max_pixels=4096 * 4096)
    info = probe(path, policy)
    assert (info.width, info.height) == (64, 16)  # what the header and probing see passes
    with pytest.raises(VideoRejected) as err:
        decode(path, policy, SMALL)
    assert err.value.code == "resolution_too_large"


def test_decoder_max_pixels_refuses_frames_before_they_exist(hostile_env: HostileEnv) -> None:
    """With max_pixels between 64x16 and 4112x16 the decoder itself refuses the wide frames:
    only the small one comes out. Control: with a large limit all five frames come out."""
    path = hostile_env.corpus / "size_change.ts"
    tight = VideoPolicy(max_width=8192, max_height=8192, max_pixels=2000)
    assert len(decode(path, tight, SMALL).frames) == 1
    roomy = VideoPolicy(max_width=8192, max_height=8192, max_pixels=8192 * 8192)
    assert len(decode(path, roomy, SMALL).frames) == 5


def test_stream_count_is_checked_before_anything_else(hostile_env: HostileEnv) -> None:
    path = hostile_env.corpus / "many_streams.mkv"
    with pytest.raises(VideoRejected) as err:
        probe(path, VideoPolicy(max_streams=32))
    assert err.value.code == "too_many_streams"
    assert probe(path, VideoPolicy(max_streams=400)).codec == "h264"  # control


def test_corrupt_packet_budget(hostile_env: HostileEnv) -> None:
    path = hostile_env.corpus / "corrupt_mjpeg.avi"
    assert len(decode(path, VideoPolicy(), SMALL).frames) >= 1
    with pytest.raises(VideoRejected) as err:
        decode(path, VideoPolicy(max_corrupt_packets=0), SMALL)
    assert err.value.code == "decode_failed"


def test_decoded_frame_budget(hostile_env: HostileEnv) -> None:
    """The hour-long file at the default duration limit: seeking keeps the work small, and a
    budget of 10 decoded frames stops a plan that would need more."""
    path = hostile_env.corpus / "hour_long.mp4"
    decoded = decode(path, VideoPolicy(), SamplingSpec(short_side=72, crop=64, max_frames=8))
    assert len(decoded.frames) == 8 and decoded.info.duration_s == pytest.approx(3600, abs=1)
    with pytest.raises(VideoRejected) as err:
        decode(path, VideoPolicy(max_decoded_frames=10),
               SamplingSpec(short_side=72, crop=64, max_frames=8))
    assert err.value.code == "video_too_large"
