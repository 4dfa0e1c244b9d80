"""Encoded test videos: synthetic edits rendered frame by frame, and real clips joined by cuts.

The evaluation sends these through the service's own decode path, so the numbers include real
H.264 compression, the service's sampling and its resize/crop.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from training.synth import Edit, FrameRenderer

VIDEO_FPS = 25
VIDEO_SIZE = (320, 240)  # (width, height): 4:3, so the service's centre crop cuts the sides


def write_video(path: Path, frames: Iterable[np.ndarray], fps: int = VIDEO_FPS,
                crf: int = 23) -> int:
    """Encode (H, W, 3) uint8 RGB frames as H.264 in MP4 (even sizes). Returns the frame count."""
    count = 0
    with av.open(str(path), mode="w") as container:
        stream: av.video.stream.VideoStream | None = None
        for frame in frames:
            if stream is None:
                stream = container.add_stream("libx264", rate=Fraction(fps))
                stream.height, stream.width = frame.shape[:2]
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": str(crf), "preset": "veryfast"}
            out = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            for packet in stream.encode(out):
                container.mux(packet)
            count += 1
        if stream is not None:
            for packet in stream.encode():
                container.mux(packet)
    return count


def edit_frames(renderer: FrameRenderer, edit: Edit, fps: int = VIDEO_FPS,
                size: tuple[int, int] = VIDEO_SIZE) -> Iterable[np.ndarray]:
    """Frame ``n`` shows the edit at ``n / fps`` (the time the container will give it)."""
    count = int(round(edit.duration_s * fps))
    for n in range(count):
        yield renderer.render_at(edit, n / fps, size)


def clip_frames(path: Path, size: tuple[int, int] = VIDEO_SIZE,
                max_frames: int | None = None) -> list[np.ndarray]:
    """Every frame of a clip scaled to cover ``size`` and centre-cropped (no bars, no stretch)."""
    frames: list[np.ndarray] = []
    width, height = size
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.video[0]):
            scale = max(width / frame.width, height / frame.height)
            w, h = max(width, round(frame.width * scale)), max(height, round(frame.height * scale))
            big = frame.to_ndarray(format="rgb24", width=w, height=h)
            top, left = (h - height) // 2, (w - width) // 2
            frames.append(np.ascontiguousarray(big[top:top + height, left:left + width]))
            if max_frames is not None and len(frames) >= max_frames:
                break
    return frames


def join_clips(path: Path, clips: Sequence[Sequence[np.ndarray]], fps: int = VIDEO_FPS
               ) -> list[tuple[float, float]]:
    """Write the clips back to back (hard cuts at ``fps``); returns each clip's (start, end)."""
    spans: list[tuple[float, float]] = []
    start = 0
    for clip in clips:
        spans.append((start / fps, (start + len(clip)) / fps))
        start += len(clip)
    write_video(path, (frame for clip in clips for frame in clip), fps)
    return spans
