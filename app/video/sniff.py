"""Container sniffing from magic bytes.

The client's filename and Content-Type never choose the demuxer: FFmpeg's own format guessing
would happily open an HLS playlist or an ``ffconcat`` script saved as ``.mp4`` and then read
other files or URLs (see SECURITY.md). We read the first bytes, name the container kind, and the
prober opens the file with exactly that one demuxer.
"""

from __future__ import annotations

import os
from pathlib import Path

from app.errors import UnsupportedMedia

# Bytes read from the head of the file: enough for several MPEG-TS packets.
_HEAD_BYTES = 4096
_TS_PACKET = 188
_M2TS_PACKET = 192  # Blu-ray transport streams: a 4-byte timestamp before each TS packet
_TS_PACKETS_CHECKED = 5

# QuickTime files from old cameras may start with one of these atoms instead of `ftyp`.
_QUICKTIME_LEADING_ATOMS = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")

_FIX_HINT = "Upload a video file: MP4/MOV, Matroska/WebM, AVI or MPEG-TS."


def _looks_like_ts(head: bytes, packet_size: int, offset: int) -> bool:
    positions = [offset + i * packet_size for i in range(_TS_PACKETS_CHECKED)]
    positions = [p for p in positions if p < len(head)]
    # A single 0x47 byte proves nothing; ask for at least two aligned sync bytes.
    return len(positions) >= 2 and all(head[p] == 0x47 for p in positions)


def _describe_unknown(head: bytes) -> str:
    """A short human reason for the rejection, so the message says what we saw."""
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"#EXTM3U"):
        return "an HLS playlist (.m3u8), not a video file"
    if stripped.startswith(b"ffconcat") or stripped.startswith(b"file "):
        return "an ffconcat script, not a video file"
    if head.startswith(b"\x89PNG"):
        return "a PNG image"
    if head.startswith(b"\xff\xd8\xff"):
        return "a JPEG image"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "a GIF image"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "an unknown binary format"
    return "a text file"


def sniff_container(path: str | os.PathLike[str]) -> str:
    """Name the container kind of ``path`` from its first bytes.

    Returns one of ``"mp4"`` (ISO-BMFF: MP4, MOV, M4V, 3GP), ``"matroska"`` (MKV, WebM),
    ``"avi"``, ``"mpegts"`` (TS and M2TS), ``"flv"`` or ``"ogg"``. Whether a kind is accepted is
    the policy's business (``probe``), not this function's.

    Raises ``UnsupportedMedia(code="unsupported_container")`` for anything else, including an
    empty file, text (HLS playlists, ffconcat scripts) and still images.
    """
    with Path(path).open("rb") as fh:
        head = fh.read(_HEAD_BYTES)
    if not head:
        raise UnsupportedMedia(f"The upload was empty (0 bytes). {_FIX_HINT}",
                               code="unsupported_container")
    if len(head) >= 12:
        box_type = head[4:8]
        box_size = int.from_bytes(head[0:4], "big")
        # size 1 means a 64-bit size follows; 0 means "to end of file"; else at least a header.
        sane_size = box_size in (0, 1) or box_size >= 8
        if box_type == b"ftyp" and sane_size:
            return "mp4"
        if box_type in _QUICKTIME_LEADING_ATOMS and sane_size:
            return "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if len(head) >= 12 and head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "avi"
    if head.startswith(b"FLV\x01"):
        return "flv"
    if head.startswith(b"OggS"):
        return "ogg"
    if _looks_like_ts(head, _TS_PACKET, 0) or _looks_like_ts(head, _M2TS_PACKET, 4):
        return "mpegts"
    raise UnsupportedMedia(f"The upload is {_describe_unknown(head)}. {_FIX_HINT}",
                           code="unsupported_container")
