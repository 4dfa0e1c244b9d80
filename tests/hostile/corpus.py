"""A corpus of hostile and edge-case uploads, generated here (never downloaded).

    python -m tests.hostile.corpus OUTDIR [--canary-port PORT] [--secret-dir DIR]

Each file is paired with the exact answer the API must give (``CASES``): a 4xx with a stable
error code, or a 200 for a valid but unusual video. The file name's extension is what a client
would claim; the server never looks at it.

Playlists and concat scripts point at ``127.0.0.1:<canary-port>`` (a loopback listener the tests
run, which must never be contacted) and at files in ``--secret-dir`` (the folder above the
server's upload folder in the tests: ``secret.txt`` and ``secret.mp4``, which must never be read).

Everything is small and quick to make (about a second in all): the hour-long video is 16x16 at
1 fps, the decompression bombs are a few KB whose headers declare huge pictures.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import struct
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from tests.media import make_audio_only, make_video

SECRET_TEXT = "TOP-SECRET-7f3a91c2-canary-content"
SECRET_TXT = "secret.txt"
SECRET_VIDEO = "secret.mp4"
# Limits of the app the tests run the corpus against (tests/hostile/conftest.py uses these).
TEST_LIMITS: dict[str, float] = {
    "max_upload_mb": 2.0, "max_duration_s": 1800.0, "max_width": 4096, "max_height": 4096,
    "max_pixels": 4096 * 4096, "max_streams": 32,
}


@dataclass(frozen=True)
class Case:
    name: str            # file name under OUTDIR
    status: int          # expected HTTP status
    code: str | None     # expected error code; None for a 200
    what: str            # what the file is and which layer answers


# --------------------------------------------------------------------------------------------
# Byte-level helpers
# --------------------------------------------------------------------------------------------

class _BitReader:
    def __init__(self, data: bytes | bytearray, byte_pos: int) -> None:
        self.data = data
        self.pos = byte_pos * 8

    def read(self, n: int) -> int:
        value = 0
        for _ in range(n):
            bit = (self.data[self.pos >> 3] >> (7 - (self.pos & 7))) & 1
            value = (value << 1) | bit
            self.pos += 1
        return value


def _write_bits(buf: bytearray, bit_pos: int, n: int, value: int) -> None:
    for i in range(n):
        bit = (value >> (n - 1 - i)) & 1
        byte, shift = (bit_pos + i) >> 3, 7 - ((bit_pos + i) & 7)
        buf[byte] = (buf[byte] & ~(1 << shift) & 0xFF) | (bit << shift)


def patch_mpeg4_vol_size(buf: bytearray, width: int, height: int) -> int:
    """Rewrite the 13-bit width/height of every MPEG-4 Part 2 VOL header; returns how many.

    Follows ISO/IEC 14496-2 6.2.3 up to the size fields (rectangular shape only).
    """
    patched = 0
    i = 0
    while (i := buf.find(b"\x00\x00\x01", i)) >= 0 and i + 4 < len(buf):
        if 0x20 <= buf[i + 3] <= 0x2F:  # video_object_layer_start_code
            r = _BitReader(buf, i + 4)
            r.read(1 + 8)  # random_accessible_vol, video_object_type_indication
            if r.read(1):  # is_object_layer_identifier
                r.read(4 + 3)
            if r.read(4) == 15:  # aspect_ratio_info: extended PAR
                r.read(16)
            if r.read(1):  # vol_control_parameters
                r.read(3)
                if r.read(1):  # vbv_parameters
                    r.read(79)
            if r.read(2) != 0:  # only rectangular shape has the size fields
                i += 3
                continue
            r.read(1)
            resolution = r.read(16)
            r.read(1)
            if r.read(1):  # fixed_vop_rate
                r.read(max(1, math.ceil(math.log2(resolution))) if resolution > 1 else 1)
            r.read(1)
            _write_bits(buf, r.pos, 13, width)
            r.pos += 14
            _write_bits(buf, r.pos, 13, height)
            patched += 1
        i += 3
    return patched


def patch_avi_size(buf: bytearray, width: int, height: int) -> int:
    """Rewrite the picture size an AVI header declares (avih and strf); returns how many."""
    patched = 0
    avih = buf.find(b"avih")
    if avih >= 0:  # MainAVIHeader: dwWidth, dwHeight at offsets 32 and 36 of the body
        body = avih + 8
        buf[body + 32:body + 40] = struct.pack("<II", width, height)
        patched += 1
    strf = buf.find(b"strf")
    if strf >= 0:  # BITMAPINFOHEADER: biWidth, biHeight after biSize
        body = strf + 8
        buf[body + 4:body + 12] = struct.pack("<ii", width, height)
        patched += 1
    return patched


def patch_mp4_size(buf: bytearray, width: int, height: int) -> int:
    """Rewrite tkhd's display size and the visual sample entry's size; returns how many."""
    patched = 0
    tkhd = buf.find(b"tkhd")
    if tkhd >= 0:
        body = tkhd + 4
        offset = body + (76 if buf[body] == 0 else 88)
        buf[offset:offset + 8] = struct.pack(">II", width << 16, height << 16)
        patched += 1
    for tag in (b"avc1", b"hvc1", b"hev1", b"mp4v"):
        entry = buf.find(tag)
        if entry >= 0:  # VisualSampleEntry: 6+2 reserved/index, 16 pre-defined, then w, h
            offset = entry + 4 + 8 + 16
            buf[offset:offset + 4] = struct.pack(">HH", width, height)
            patched += 1
    return patched


def _mdat_span(data: bytes) -> tuple[int, int]:
    """(start, end) of the mdat payload of an MP4 whose top-level boxes use 32-bit sizes."""
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"mdat":
            return pos + 8, pos + size
        if size < 8:
            break
        pos += size
    raise ValueError("no mdat box")


def _image_bytes(fmt: str) -> bytes:
    rgb = (np.indices((48, 64)).sum(axis=0) % 256).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(np.stack([rgb] * 3, axis=-1)).save(buffer, format=fmt)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# The corpus
# --------------------------------------------------------------------------------------------

class _Builder:
    def __init__(self, out: Path, canary_port: int, secret_dir: Path, write: bool) -> None:
        self.out = out
        self.write = write
        self.canary = f"http://127.0.0.1:{canary_port}"
        self.secret_dir = secret_dir.resolve()
        self.cases: list[Case] = []

    def add(self, name: str, status: int, code: str | None, what: str,
            make: Callable[[Path], object]) -> None:
        if self.write:
            make(self.out / name)
        self.cases.append(Case(name, status, code, what))

    def text(self, name: str, content: str, code: str, what: str) -> None:
        self.add(name, 415, code, what, lambda p: p.write_text(content, encoding="utf-8"))

    def bytes_(self, name: str, status: int, code: str | None, what: str,
               data: bytes | Callable[[], bytes]) -> None:
        """``data`` may be a function, so that a dry run (``list_cases``) encodes nothing."""
        self.add(name, status, code, what,
                 lambda p: p.write_bytes(data() if callable(data) else data))

    def video(self, name: str, status: int, code: str | None, what: str,
              **kwargs: object) -> None:
        kwargs.setdefault("width", 64)
        kwargs.setdefault("height", 48)
        kwargs.setdefault("fps", 5)
        kwargs.setdefault("duration_s", 1.0)
        self.add(name, status, code, what, lambda p: make_video(p, **kwargs))  # type: ignore[arg-type]


def _scratch(out: Path, name: str, **kwargs: object) -> bytearray:
    """Encode a helper video under OUTDIR/_src and return its bytes for patching."""
    src = out / "_src"
    src.mkdir(exist_ok=True)
    kwargs.setdefault("width", 64)
    kwargs.setdefault("height", 48)
    kwargs.setdefault("fps", 5)
    kwargs.setdefault("duration_s", 1.0)
    return bytearray(make_video(src / name, **kwargs).read_bytes())  # type: ignore[arg-type]


def _add_input_junk(b: _Builder) -> None:
    rng = np.random.default_rng(1234)
    b.bytes_("empty.mp4", 415, "empty_upload", "0 bytes: refused by the upload layer", b"")
    b.bytes_("random.mp4", 415, "unsupported_container", "64 KiB of random bytes: no magic",
             rng.integers(0, 256, 65536, dtype=np.uint8).tobytes())
    b.text("text.mp4", "Hello, this is not a video.\n" * 50, "unsupported_container",
           "plain text under a video name")
    b.bytes_("image.mp4", 415, "unsupported_container", "a PNG renamed .mp4", _image_bytes("PNG"))
    b.bytes_("image.mov", 415, "unsupported_container", "a JPEG renamed .mov",
             _image_bytes("JPEG"))
    b.bytes_("image.avi", 415, "unsupported_container", "a GIF renamed .avi", _image_bytes("GIF"))
    b.bytes_("oversize.mp4", 413, "payload_too_large",
             "3 MiB, over the test app's 2 MiB upload limit", b"\0" * (3 * 1024 * 1024))


def _add_playlists(b: _Builder) -> None:
    secret_txt = b.secret_dir / SECRET_TXT
    secret_mp4 = b.secret_dir / SECRET_VIDEO
    seg = "#EXTINF:1.0,\n"
    head = "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-VERSION:3\n"
    code = "unsupported_container"
    b.text("hls_file_url.mp4", f"{head}{seg}file://{secret_mp4}\n{seg}file://{secret_txt}\n"
           "#EXT-X-ENDLIST\n", code, "HLS playlist naming file:// URLs of other files")
    b.text("hls_canary.m3u8", f"{head}{seg}{b.canary}/segment0.ts\n#EXT-X-ENDLIST\n", code,
           "HLS playlist with an http:// segment on the loopback canary (SSRF)")
    b.text("hls_canary.mp4", f"{head}{seg}{b.canary}/segment0.ts\n#EXT-X-ENDLIST\n", code,
           "the same SSRF playlist under an .mp4 name")
    b.text("hls_relative.mp4", f"{head}{seg}../{SECRET_VIDEO}\n{seg}../{SECRET_TXT}\n"
           "#EXT-X-ENDLIST\n", code, "HLS playlist with segments relative to the upload folder")
    b.text("hls_self.m3u8", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nhls_self.m3u8\n", code,
           "self-referencing playlist (hung FFmpeg 8.1.2 and grew to 11.7 GB)")
    b.text("hls_master.mp4", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nchild.txt\n"
           f"#EXT-X-STREAM-INF:BANDWIDTH=2\n{b.canary}/child.txt\n", code,
           "master playlist whose child is a .txt (past the extension check) and a URL")
    b.add("child.txt", 415, code, "the .txt child playlist of hls_master.mp4",
          lambda p: p.write_text(f"{head}{seg}file://{secret_txt}\n#EXT-X-ENDLIST\n",
                                 encoding="utf-8"))
    b.text("concat_absolute.mp4", f"ffconcat version 1.0\nfile '{secret_mp4}'\n", code,
           "ffconcat script with an absolute path")
    b.text("concat_relative.mp4", f"ffconcat version 1.0\nfile '../{SECRET_VIDEO}'\n", code,
           "ffconcat script relative to the upload folder")
    b.text("concat_url.mkv", f"ffconcat version 1.0\nfile '{b.canary}/x.mp4'\n", code,
           "ffconcat script naming a loopback URL")
    # Magic bytes that pass the sniff with a playlist behind them: the one allowed demuxer
    # (format whitelist) must fail on it, never hand it to the HLS or concat demuxer.
    playlist = f"{head}{seg}{b.canary}/segment0.ts\n{seg}file://{secret_txt}\n".encode()
    b.bytes_("hls_behind_ftyp.mp4", 422, "decode_failed",
             "ISO-BMFF magic followed by an HLS playlist: the mov demuxer fails on it",
             struct.pack(">I4s4sI", 20, b"ftyp", b"isom", 512) + b"isom" + playlist)
    b.bytes_("concat_behind_ebml.mkv", 422, "decode_failed",
             "EBML magic followed by an ffconcat script",
             b"\x1a\x45\xdf\xa3" + f"\nffconcat version 1.0\nfile '{secret_mp4}'\n".encode())


def _add_broken_media(b: _Builder) -> None:
    b.add("audio_only.mp4", 415, "no_video_stream", "AAC audio, no video stream",
          make_audio_only)

    zero_frame_codes = {"avi": ("no_decodable_frames", 422, "an AVI video stream, no frame"),
                        "mp4": ("no_video_stream", 415,
                                "an MP4 video track with no sample (FFmpeg drops the track)"),
                        "mkv": ("decode_failed", 422,
                                "a Matroska header and no cluster (the demuxer hits EOF)")}
    for ext, (code, status, what) in zero_frame_codes.items():
        b.add(f"zero_frames.{ext}", status, code, what, _zero_frame_writer(ext))

    def cut(data: bytes, fraction: float) -> bytes:
        return data[:int(len(data) * fraction)]

    def moov_last() -> bytes:
        return bytes(_scratch(b.out, "moov_last.mp4", duration_s=4.0, gop=5))

    def moov_first() -> bytes:
        src = b.out / "_src" / "moov_first.mp4"
        _faststart_copy(make_video(b.out / "_src" / "for_faststart.mp4", width=64, height=48,
                                   fps=5, duration_s=4.0, gop=5), src)
        return src.read_bytes()

    b.bytes_("truncated_moov_last.mp4", 422, "decode_failed",
             "MP4 cut in half with its index (moov) at the end: nothing to open",
             lambda: cut(moov_last(), 0.5))
    b.bytes_("truncated_moov_first.mp4", 200, None,
             "MP4 cut at 2/3 with its index first: the frames present are served",
             lambda: cut(moov_first(), 2 / 3))

    def damaged(spots: int | None) -> bytes:
        data = _scratch(b.out, "for_corruption.mp4", duration_s=2.0, gop=5)
        start, end = _mdat_span(bytes(data))
        rng = np.random.default_rng(99)
        if spots is None:
            data[start:end] = rng.integers(0, 256, end - start, dtype=np.uint8).tobytes()
            return bytes(data)
        for offset in rng.integers(start + (end - start) // 3, end, spots):
            data[int(offset):int(offset) + 16] = rng.integers(0, 256, 16,
                                                              dtype=np.uint8).tobytes()
        return bytes(data)

    b.bytes_("corrupt_packets.mp4", 200, None,
             "a dozen damaged spots in the frame data: decoded around them",
             lambda: damaged(12))

    def damaged_mjpeg() -> bytes:
        data = _scratch(b.out, "for_corruption.avi", codec="mjpeg", container="avi",
                        duration_s=2.0)
        rng = np.random.default_rng(5)
        for offset in rng.integers(len(data) // 4, len(data) * 3 // 4, 12):
            data[int(offset):int(offset) + 16] = rng.integers(0, 256, 16,
                                                              dtype=np.uint8).tobytes()
        return bytes(data)

    b.bytes_("corrupt_mjpeg.avi", 200, None,
             "damaged Motion JPEG frames: the decoder raises on some, within the budget",
             damaged_mjpeg)
    b.bytes_("corrupt_all.mp4", 422, "no_decodable_frames",
             "every byte of the frame data random: no frame decodes", lambda: damaged(None))


def _zero_frame_writer(ext: str) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        muxer = {"avi": "avi", "mp4": "mp4", "mkv": "matroska"}[ext]
        with av.open(str(path), "w", format=muxer) as out:
            stream = out.add_stream("mpeg4", rate=5)
            stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
            out.start_encoding()  # the header alone: no packet follows
    return write


def _faststart_copy(src: Path, dst: Path) -> None:
    """Remux with the index (moov) before the frames, as streaming-friendly files have it."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", format="mp4",
                                             options={"movflags": "faststart"}) as out:
        in_stream = inp.streams.video[0]
        out_stream = out.add_stream_from_template(in_stream)
        for packet in inp.demux(in_stream):
            if packet.dts is None:
                continue
            packet.stream = out_stream
            out.mux(packet)


def _add_liars_and_bombs(b: _Builder) -> None:
    def liar_big() -> bytes:
        data = _scratch(b.out, "liar_h264.mp4")
        patch_mp4_size(data, 30000, 30000)
        return bytes(data)

    def liar_small() -> bytes:
        data = _scratch(b.out, "liar_wide.avi", codec="mpeg4", container="avi", width=4112,
                        height=16, duration_s=0.4)
        patch_avi_size(data, 64, 16)
        return bytes(data)

    def bomb(container: str) -> bytes:
        data = _scratch(b.out, f"bomb_src.{container}", codec="mpeg4", container=container)
        if patch_mpeg4_vol_size(data, 8190, 8190) < 1:
            raise RuntimeError("no MPEG-4 VOL header found to patch")
        return bytes(data)

    b.bytes_("lying_dims_big.mp4", 200, None,
             "MP4 header claims 30000x30000, the H.264 stream is 64x48: the stream wins",
             liar_big)
    b.bytes_("lying_dims_small.avi", 422, "resolution_too_large",
             "AVI header claims 64x16, the MPEG-4 stream says 4112x16: the probe reads the stream",
             liar_small)

    def size_change() -> bytes:
        src = b.out / "_src"
        small = make_video(src / "small.ts", container="ts", width=64, height=16, fps=5,
                           duration_s=0.4)
        wide = make_video(src / "wide.ts", container="ts", width=4112, height=16, fps=5,
                          duration_s=2.0)
        return small.read_bytes() + wide.read_bytes()  # TS packets simply concatenate

    b.bytes_("size_change.ts", 422, "resolution_too_large",
             "H.264 in MPEG-TS that grows from 64x16 to 4112x16 after 0.4 s: the probe sees "
             "64x16, the decoded frames are checked", size_change)
    for container in ("avi", "mp4"):
        b.bytes_(f"bomb_mpeg4.{container}", 422, "no_decodable_frames",
                 "a few KB declaring 8190x8190 MPEG-4 frames: the decoder's max_pixels refuses "
                 "them before allocating", lambda c=container: bomb(c))  # type: ignore[misc]

    b.video("ffv1.mkv", 415, "unsupported_codec", "FFV1 (lossless archive codec): not allowed",
            codec="ffv1", container="mkv", duration_s=0.4)
    b.video("rawvideo.avi", 415, "unsupported_codec", "uncompressed frames in AVI: not allowed",
            codec="rawvideo", container="avi", duration_s=0.4)
    b.video("many_streams.mkv", 422, "too_many_streams",
            "300 audio streams next to the video", container="mkv", duration_s=0.4,
            audio_streams=300)
    b.video("hour_long.mp4", 422, "video_too_long",
            "an hour of 16x16 frames at 1 fps (90 KB), over the test app's 30 min limit",
            width=16, height=16, fps=1, duration_s=3600.0, gop=600)

    def timestamp_gap(path: Path) -> None:
        with av.open(str(path), "w", format="matroska") as out:
            stream = out.add_stream("mpeg4", rate=5)
            stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
            stream.codec_context.time_base = Fraction(1, 1000)
            for i, t_ms in enumerate((0, 200, 3_600_000)):
                frame = av.VideoFrame.from_ndarray(
                    np.full((16, 16, 3), 40 * i, dtype=np.uint8), format="rgb24")
                frame.pts = t_ms
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
    b.add("timestamp_gap.mkv", 422, "video_too_long",
          "three frames, the last one an hour after the first", timestamp_gap)
    b.video("huge_wide.mkv", 422, "resolution_too_large",
            "a real 4112x16 picture, wider than the 4096 limit", container="mkv",
            width=4112, height=16, duration_s=0.4)
    b.video("huge_tall.mp4", 422, "resolution_too_large",
            "a real 16x4112 picture, taller than the 4096 limit", width=16, height=4112,
            duration_s=0.4)


def _add_valid_unusual(b: _Builder) -> None:
    b.video("tiny_2x2.mp4", 200, None, "a 2x2 picture", width=2, height=2)
    b.video("odd_33x17.mp4", 200, None, "odd width and height (4:4:4 for x264)", width=33,
            height=17)
    b.video("one_frame.mp4", 200, None, "a single frame", duration_s=0.2)
    b.video("vfr.mp4", 200, None, "variable frame rate (1/1000 s time base)", vfr=True,
            duration_s=2.0)
    b.video("rotated_90.mp4", 200, None, "display matrix rotation of 90 degrees",
            rotate_deg=90)
    b.video("tenbit.mp4", 200, None, "10-bit 4:2:0 H.264", pix_fmt="yuv420p10le")
    b.video("yuv444.mp4", 200, None, "8-bit 4:4:4 H.264", pix_fmt="yuv444p")
    b.video("tall_32x512.mp4", 200, None, "a 1:16 strip", width=32, height=512)
    b.video("wide_4096x16.mkv", 200, None, "exactly at the width limit", container="mkv",
            width=4096, height=16, duration_s=0.4)
    b.video("vp8.webm", 200, None, "VP8 in WebM", codec="libvpx", container="webm")
    b.video("vp9.webm", 200, None, "VP9 in WebM", codec="libvpx-vp9", container="webm")
    b.video("av1.mkv", 200, None, "AV1 (SVT-AV1) in Matroska", codec="libsvtav1",
            container="mkv", width=64, height=64)
    b.video("h264.mov", 200, None, "H.264 in QuickTime MOV", container="mov")
    b.video("hevc.mp4", 200, None, "HEVC in MP4", codec="libx265")
    b.video("hevc.mov", 200, None, "HEVC in MOV", codec="libx265", container="mov")
    b.video("mpeg4.avi", 200, None, "MPEG-4 Part 2 in AVI", codec="mpeg4", container="avi")
    b.video("msmpeg4.avi", 200, None, "MS-MPEG4 v3 in AVI", codec="msmpeg4", container="avi")
    b.video("mjpeg.avi", 200, None, "Motion JPEG in AVI", codec="mjpeg", container="avi")
    b.video("cinepak.avi", 200, None, "Cinepak in AVI", codec="cinepak", container="avi")
    b.video("with_audio.mkv", 200, None, "video plus two audio streams", container="mkv",
            audio_streams=2)


def write_secrets(secret_dir: Path) -> None:
    """The files that hostile uploads try to read: a text file and a real video."""
    secret_dir.mkdir(parents=True, exist_ok=True)
    (secret_dir / SECRET_TXT).write_text(SECRET_TEXT + "\n", encoding="utf-8")
    make_video(secret_dir / SECRET_VIDEO, width=32, height=32, fps=5, duration_s=1.0)


def _build(out: Path, canary_port: int, secret_dir: Path, write: bool) -> list[Case]:
    builder = _Builder(out, canary_port, secret_dir, write)
    _add_input_junk(builder)
    _add_playlists(builder)
    _add_broken_media(builder)
    _add_liars_and_bombs(builder)
    _add_valid_unusual(builder)
    return builder.cases


def list_cases() -> list[Case]:
    """The cases without writing anything (for test parametrisation)."""
    return _build(Path("."), 9, Path("."), write=False)


def build_corpus(out: Path, *, canary_port: int, secret_dir: Path) -> list[Case]:
    """Write every corpus file into ``out`` and return the cases (also saved as cases.json)."""
    out.mkdir(parents=True, exist_ok=True)
    cases = _build(out, canary_port, secret_dir, write=True)
    (out / "cases.json").write_text(json.dumps([asdict(c) for c in cases], indent=1),
                                    encoding="utf-8")
    return cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--canary-port", type=int, default=9,
                        help="loopback port the playlists point at (default 9, discard)")
    parser.add_argument("--secret-dir", type=Path, default=None,
                        help="where the secret files live (default OUTDIR/../secrets)")
    args = parser.parse_args(argv)
    secret_dir = args.secret_dir or args.outdir.resolve().parent / "secrets"
    write_secrets(secret_dir)
    cases = build_corpus(args.outdir, canary_port=args.canary_port, secret_dir=secret_dir)
    for case in cases:
        sys.stdout.write(f"{case.status} {case.code or '-':<24} {case.name}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
