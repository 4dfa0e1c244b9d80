"""A still image -> a short H.264 clip of it, so that a search by image runs the video pipeline.

Runs in a decode process: the image is sniffed from its magic bytes and opened with exactly that
FFmpeg image demuxer (file protocol only, the policy's pixel limit), like a video upload.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av

from app.errors import UnsupportedMedia, VideoRejected
from app.video.container import check_resolution
from app.video.types import VideoPolicy

# magic bytes -> FFmpeg's image demuxer
_IMAGE_DEMUXERS = (
    (b"\x89PNG\r\n\x1a\n", "png_pipe"),
    (b"\xff\xd8\xff", "jpeg_pipe"),
)
CLIP_FPS = 4
CLIP_FRAMES = 8  # 2 s: enough samples for the model's sampling, cheap to encode
MAX_SIDE = 640


def sniff_image(path: str | os.PathLike[str]) -> str | None:
    """The image demuxer for ``path`` (PNG, JPEG), or None when it is not such an image."""
    with Path(path).open("rb") as fh:
        head = fh.read(16)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp_pipe"
    return next((demuxer for magic, demuxer in _IMAGE_DEMUXERS if head.startswith(magic)),
                None)


def still_to_clip(path: str | os.PathLike[str], out_path: str | os.PathLike[str],
                  policy: VideoPolicy | None = None) -> None:
    """Write ``out_path``: an MP4 showing the image of ``path`` for two seconds."""
    policy = policy or VideoPolicy()
    demuxer = sniff_image(path)
    if demuxer is None:
        raise UnsupportedMedia("The image is not a PNG, JPEG or WebP picture. Send one of "
                               "those in the field 'image', or a video in 'video'.",
                               code="unsupported_image")
    url = "file:" + str(Path(path).resolve())
    try:
        with av.open(url, mode="r", format=demuxer,
                     container_options={"protocol_whitelist": "file",
                                        "format_whitelist": demuxer},
                     options={"max_pixels": str(policy.max_pixels)}) as src:
            frame = next(src.decode(video=0), None)
    except av.error.MemoryError:
        raise
    except (av.FFmpegError, OSError) as exc:
        raise VideoRejected(f"The image could not be decoded ({exc.__class__.__name__}).",
                            code="decode_failed") from exc
    if frame is None:
        raise VideoRejected("The image holds no picture.", code="no_decodable_frames")
    check_resolution(frame.width, frame.height, policy)
    scale = min(1.0, MAX_SIDE / max(frame.width, frame.height))
    width = max(2, round(frame.width * scale) // 2 * 2)
    height = max(2, round(frame.height * scale) // 2 * 2)
    picture = frame.reformat(width=width, height=height, format="yuv420p")
    with av.open(str(out_path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=Fraction(CLIP_FPS))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(CLIP_FRAMES):
            picture.pts, picture.time_base = index, Fraction(1, CLIP_FPS)
            for packet in stream.encode(picture):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
