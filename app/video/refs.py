"""Which compressed packets hold pictures no other picture is predicted from.

An H.264 picture whose slices all have ``nal_ref_idc == 0`` is never used as a reference, so
not decoding it changes no other frame, bit for bit. Typical encoder settings (x264's B-frames)
make 40-45% of pictures such; exact sampling at 2 fps otherwise decodes nearly all of them only
to throw them away. Only the NAL unit headers are read (one byte each), never the slice data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import av
import av.video.stream

_SLICE_TYPES = frozenset({1, 2, 3, 4, 5})  # coded slice, data partitions A-C, IDR slice
_MAX_NALS = 4096  # a packet claiming more is malformed: treat it as a reference


def avcc_length_size(extradata: bytes | None) -> int | None:
    """NAL length-prefix size for avcC extradata (MP4, MKV, MOV); None means Annex B."""
    if extradata and len(extradata) >= 7 and extradata[0] == 1:
        return (extradata[4] & 0x03) + 1
    return None


def _headers_length_prefixed(data: bytes, size: int) -> list[int] | None:
    headers: list[int] = []
    pos = 0
    while pos < len(data):
        if pos + size >= len(data) or len(headers) >= _MAX_NALS:
            return None
        length = int.from_bytes(data[pos:pos + size], "big")
        if length == 0 or pos + size + length > len(data):
            return None
        headers.append(data[pos + size])
        pos += size + length
    return headers


def _headers_annex_b(data: bytes) -> list[int] | None:
    headers: list[int] = []
    pos = data.find(b"\x00\x00\x01")
    while pos >= 0 and pos + 3 < len(data):
        if len(headers) >= _MAX_NALS:
            return None
        headers.append(data[pos + 3])
        pos = data.find(b"\x00\x00\x01", pos + 3)
    return headers


def is_unreferenced_h264(data: bytes, length_size: int | None) -> bool:
    """True when ``data`` (one access unit) has slices and every one has nal_ref_idc 0.

    Anything unparsable counts as a reference: skipping is an optimisation, never a guess."""
    headers = (_headers_length_prefixed(data, length_size) if length_size
               else _headers_annex_b(data))
    if not headers:
        return False
    slices = [h for h in headers if (h & 0x1F) in _SLICE_TYPES]
    return bool(slices) and all((h & 0x60) == 0 for h in slices)


def unreferenced_check(stream: av.video.stream.VideoStream
                       ) -> Callable[[av.Packet[Any]], bool] | None:
    """A packet predicate for streams where one is known (H.264), else None."""
    ctx = stream.codec_context
    if ctx.name != "h264":
        return None
    length_size = avcc_length_size(ctx.extradata)

    def check(packet: av.Packet[Any]) -> bool:
        return packet.size > 0 and is_unreferenced_h264(bytes(packet), length_size)

    return check
