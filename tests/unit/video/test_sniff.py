from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.errors import UnsupportedMedia
from app.video import sniff_container
from tests.unit.video.conftest import MakeVideo


@pytest.mark.parametrize(("container", "expected"), [
    ("mp4", "mp4"), ("mov", "mp4"), ("mkv", "matroska"), ("webm", "matroska"),
    ("avi", "avi"), ("ts", "mpegts"), ("flv", "flv"),
])
def test_sniffs_real_files(video: MakeVideo, container: str, expected: str) -> None:
    codec = {"webm": "libvpx-vp9", "avi": "mpeg4"}.get(container, "libx264")
    path = video(f"sniff.{container}", container=container, codec=codec, duration_s=0.2)
    assert sniff_container(path) == expected


def test_sniffs_ogg_magic(tmp_path: Path) -> None:
    path = tmp_path / "a.ogv"
    path.write_bytes(b"OggS\x00\x02" + bytes(100))
    assert sniff_container(path) == "ogg"


def test_sniffs_m2ts_with_timestamp_prefix(tmp_path: Path) -> None:
    packet = bytes(4) + b"\x47" + bytes(187)
    path = tmp_path / "a.m2ts"
    path.write_bytes(packet * 6)
    assert sniff_container(path) == "mpegts"


def test_name_does_not_matter(video: MakeVideo, tmp_path: Path) -> None:
    disguised = tmp_path / "movie.txt"
    disguised.write_bytes(video("named.mkv", container="mkv", duration_s=0.2).read_bytes())
    assert sniff_container(disguised) == "matroska"


@pytest.mark.parametrize(("content", "said"), [
    (b"#EXTM3U\n#EXT-X-VERSION:3\n#EXTINF:10,\nself.m3u8\n", "HLS playlist"),
    (b"\xef\xbb\xbf#EXTM3U\nhttp://127.0.0.1/x.ts\n", "HLS playlist"),
    (b"ffconcat version 1.0\nfile '/etc/passwd'\n", "ffconcat"),
    (b"hello, this is not a video\n", "text file"),
    (b"\xff\xd8\xff\xe0" + bytes(64), "JPEG"),
])
def test_rejects_non_video(tmp_path: Path, content: bytes, said: str) -> None:
    path = tmp_path / "upload.mp4"
    path.write_bytes(content)
    with pytest.raises(UnsupportedMedia) as info:
        sniff_container(path)
    assert info.value.code == "unsupported_container"
    assert info.value.status_code == 415
    assert said in info.value.message


def test_rejects_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(UnsupportedMedia) as info:
        sniff_container(path)
    assert info.value.code == "unsupported_container"


def test_rejects_png(tmp_path: Path) -> None:
    path = tmp_path / "still.mp4"
    Image.new("RGB", (32, 32), (255, 0, 0)).save(path, format="PNG")
    with pytest.raises(UnsupportedMedia, match="PNG image"):
        sniff_container(path)


def test_rejects_empty_file_saying_so(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(UnsupportedMedia, match="empty") as info:
        sniff_container(path)
    assert info.value.code == "unsupported_container"


def test_single_ts_sync_byte_is_not_enough(tmp_path: Path) -> None:
    path = tmp_path / "g.ts"
    path.write_bytes(b"G" + bytes(500))
    with pytest.raises(UnsupportedMedia):
        sniff_container(path)
