"""Opening an upload safely, reading its header, and checking it against the policy.

Every open goes through :func:`open_input`: the sniffed kind picks the one demuxer, and the
protocol and format whitelists stop FFmpeg from following references to other files or URLs
(HLS, concat, QuickTime data references). Nothing here decodes a frame.
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path

import av
import av.container
import av.logging
import av.video.stream

from app.errors import UnsupportedMedia, VideoRejected
from app.video.sniff import sniff_container
from app.video.types import (  # noqa: F401  (re-exported: callers name them from here)
    DEFAULT_ALLOWED_CODECS,
    DEFAULT_ALLOWED_CONTAINERS,
    VideoInfo,
    VideoPolicy,
)

logger = logging.getLogger(__name__)

# PyAV's bridge from FFmpeg's log callback into Python logging can deadlock with threaded
# decoding of corrupt files (PyAV #751, #909). Keep it off in every process that imports us.
av.logging.set_level(None)

# Sniffed kind -> the FFmpeg demuxer that alone may open it. format_whitelist matches any of a
# demuxer's comma-separated names, so "mov" covers "mov,mp4,m4a,3gp,3g2,mj2".
DEMUXERS: dict[str, str] = {
    "mp4": "mov",
    "matroska": "matroska",
    "avi": "avi",
    "mpegts": "mpegts",
    "flv": "flv",
    "ogg": "ogg",
}

# Bounded stream analysis: FFmpeg's defaults, written down so that a change is deliberate.
PROBE_SIZE_BYTES = 5_000_000
ANALYZE_DURATION_US = 5_000_000


def open_input(path: str | os.PathLike[str], container: str,
               policy: VideoPolicy) -> av.container.InputContainer:
    """Open ``path`` with exactly the demuxer of the sniffed ``container`` kind.

    Raises ``UnsupportedMedia`` for a kind outside the policy and ``VideoRejected(decode_failed)``
    when the demuxer cannot read the file.
    """
    if container not in policy.allowed_containers or container not in DEMUXERS:
        allowed = ", ".join(sorted(policy.allowed_containers))
        raise UnsupportedMedia(
            f"Container '{container}' is not accepted. Accepted containers: {allowed}.",
            code="unsupported_container")
    demuxer = DEMUXERS[container]
    # An absolute "file:" URL: a server-named path can then never be read as another protocol.
    url = "file:" + str(Path(path).resolve())
    try:
        return av.open(
            url, mode="r", format=demuxer,
            container_options={
                "protocol_whitelist": "file",
                "format_whitelist": demuxer,
                "probesize": str(PROBE_SIZE_BYTES),
                "analyzeduration": str(ANALYZE_DURATION_US),
                "enable_drefs": "0",
            },
            # Decoders opened while probing stream parameters refuse frames above this.
            options={"max_pixels": str(policy.max_pixels)},
        )
    except av.error.MemoryError:
        raise
    except (av.FFmpegError, OSError) as exc:
        raise VideoRejected(
            f"The file looks like {container} but could not be read ({exc.__class__.__name__}); "
            "it may be truncated or corrupt. Re-encode or re-upload it.",
            code="decode_failed") from exc


def select_video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    """The main video stream: cover art (attached pictures) does not count as video."""
    candidates = [s for s in container.streams.video
                  if not (s.disposition & av.stream.Disposition.attached_pic)]
    if not candidates:
        raise UnsupportedMedia("The file has no video stream (audio only or images only).",
                               code="no_video_stream")
    # Prefer the largest picture when there are several angles or a preview track.
    return max(candidates, key=lambda s: (s.codec_context.width * s.codec_context.height,
                                          -s.index))


def codec_name(stream: av.video.stream.VideoStream) -> str:
    """FFmpeg's codec id name ("h264", "msmpeg4v3"), not the decoder's ("libdav1d")."""
    return str(stream.codec_context.codec.canonical_name)


def header_duration_s(container: av.container.InputContainer,
                      stream: av.video.stream.VideoStream) -> float | None:
    """Duration from the stream header, else the container's; None when neither is known."""
    if stream.duration is not None and stream.duration > 0 and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    return None


def stream_fps(stream: av.video.stream.VideoStream) -> float:
    rate: Fraction | None = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else 0.0


def check_resolution(width: int, height: int, policy: VideoPolicy) -> None:
    if width > policy.max_width or height > policy.max_height or width * height > policy.max_pixels:
        raise VideoRejected(
            f"Resolution {width}x{height} is above the limit ({policy.max_width}x"
            f"{policy.max_height}, {policy.max_pixels} pixels). Downscale the video.",
            code="resolution_too_large")


def check_duration(duration_s: float, policy: VideoPolicy) -> None:
    if duration_s > policy.max_duration_s:
        raise VideoRejected(
            f"The video lasts {duration_s:.1f} s; the limit is {policy.max_duration_s:.0f} s. "
            "Trim it or split it.", code="video_too_long")


def inspect_container(container: av.container.InputContainer, kind: str, policy: VideoPolicy,
                      size_bytes: int) -> tuple[av.video.stream.VideoStream, VideoInfo]:
    """Apply the header checks to an open container; return the chosen stream and its info."""
    if len(container.streams) > policy.max_streams:
        raise VideoRejected(
            f"The file has {len(container.streams)} streams; at most {policy.max_streams} "
            "are accepted. Remux it with only the video (and audio) track.",
            code="too_many_streams")
    stream = select_video_stream(container)
    codec = codec_name(stream)
    if codec not in policy.allowed_codecs:
        allowed = ", ".join(sorted(policy.allowed_codecs))
        raise UnsupportedMedia(
            f"Video codec '{codec}' is not accepted. Re-encode to H.264, or use one of: {allowed}.",
            code="unsupported_codec")
    ctx = stream.codec_context
    check_resolution(ctx.width, ctx.height, policy)
    duration = header_duration_s(container, stream)
    if duration is not None:
        check_duration(duration, policy)
    info = VideoInfo(
        container=kind,
        codec=codec,
        width=ctx.width,
        height=ctx.height,
        duration_s=duration if duration is not None else 0.0,
        fps=stream_fps(stream),
        rotation_deg=0,
        pixel_format=ctx.pix_fmt,
        bit_rate=ctx.bit_rate or container.bit_rate or None,
        has_audio=len(container.streams.audio) > 0,
        size_bytes=size_bytes,
        subtitle_streams=len(container.streams.subtitles),
    )
    return stream, info


def probe(path: str | os.PathLike[str], policy: VideoPolicy,
          container: str | None = None) -> VideoInfo:
    """Header facts about ``path`` after the policy checks (no frame is decoded).

    ``container`` is the sniffed kind; it is sniffed here when not given. When the header has no
    duration, the last packet timestamp gives it (one pass over the packets, no decoding).
    """
    kind = container if container is not None else sniff_container(path)
    size_bytes = Path(path).stat().st_size
    with open_input(path, kind, policy) as fh:
        stream, info = inspect_container(fh, kind, policy, size_bytes)
        if info.duration_s <= 0:
            info.duration_s = _duration_from_packets(fh, stream)
            check_duration(info.duration_s, policy)
    return info


def _duration_from_packets(container: av.container.InputContainer,
                           stream: av.video.stream.VideoStream) -> float:
    start = stream.start_time or 0
    end = start
    for packet in container.demux(stream):
        ts = packet.pts if packet.pts is not None else packet.dts
        if ts is not None:
            end = max(end, ts + (packet.duration or 0))
    return float((end - start) * stream.time_base) if stream.time_base else 0.0
