"""The public decoding entry points: sampled model input, thumbnails, gray strips.

Each call sniffs, opens with the one sniffed demuxer, applies the policy, indexes the packets
(no decoding), then decodes only what the targets need (see ``frame_sampler.py``). Times are seconds
from the video stream's start time, both in and out.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TypeVar

import av
import numpy as np

from app.errors import VideoRejected
from app.video.container import check_duration, inspect_container, open_input
from app.video.convert import rotation_quarters, to_gray, to_jpeg, to_model_input
from app.video.frame_sampler import Budget, FrameSampler, configure_decoder, frame_pts
from app.video.index import PacketIndex, scan_packets
from app.video.sample_plan import SamplingSpec, plan_sample_times
from app.video.sniff import sniff_container
from app.video.types import DecodedVideo, VideoInfo, VideoPolicy

logger = logging.getLogger(__name__)

T = TypeVar("T")

# MPEG-TS has no index: FFmpeg seeks in it by bisecting on timestamps, which can land late.
# A straight pass is always right there.
_UNSEEKABLE = frozenset({"mpegts"})
MAX_GRAY_STRIP_FRAMES = 256


@dataclass
class _Opened:
    kind: str
    info: VideoInfo
    index: PacketIndex
    stream_index: int
    sar: Fraction | None


def _open_and_index(path: str | os.PathLike[str], policy: VideoPolicy, budget: Budget) -> _Opened:
    kind = sniff_container(path)
    with open_input(path, kind, policy) as container:
        stream, info = inspect_container(container, kind, policy, Path(path).stat().st_size)
        index = scan_packets(container, stream, budget.deadline, policy.max_corrupt_packets)
        sar = stream.sample_aspect_ratio
        stream_index = stream.index
    if len(index.frame_pts) == 0:
        raise VideoRejected("No video frame could be read from the file. Re-encode it.",
                            code="no_decodable_frames")
    # The packets, not the header, say how long the video is.
    if index.duration_s > 0:
        info.duration_s = index.duration_s
    check_duration(info.duration_s, policy)
    return _Opened(kind=kind, info=info, index=index, stream_index=stream_index, sar=sar)


def _sample(path: str | os.PathLike[str], opened: _Opened, policy: VideoPolicy, budget: Budget,
            targets_pts: np.ndarray, take: Callable[[av.VideoFrame], T],
            keyframes_only: bool, skip_unreferenced: bool = False
            ) -> tuple[list[tuple[int, T]], int]:
    """Run the sampler on a fresh open of the file; also return the rotation seen."""
    rotation = 0

    def take_and_note(frame: av.VideoFrame) -> T:
        nonlocal rotation
        rotation = rotation_quarters(frame) * 90
        return take(frame)

    with open_input(path, opened.kind, policy) as container:
        stream = container.streams.video[0]
        for candidate in container.streams.video:
            if candidate.index == opened.stream_index:
                stream = candidate
        configure_decoder(stream, policy, keyframes_only)
        sampler = FrameSampler(container, stream, opened.index, budget, take_and_note,
                               keyframes_only=keyframes_only,
                               can_seek=opened.kind not in _UNSEEKABLE,
                               skip_unreferenced=skip_unreferenced)
        results = sampler.run(targets_pts)
        logger.debug("sampled %d targets with %d seeks, %d frames decoded, %d skipped",
                     len(targets_pts), sampler.seeks, budget.frames_decoded, sampler.skipped)
    if not results:
        raise VideoRejected("No frame of the video could be decoded. Re-encode it.",
                            code="no_decodable_frames")
    return results, rotation


def _nearest(sorted_pts: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """For each target, the nearest value of ``sorted_pts`` (ties go to the earlier one)."""
    pos = np.clip(np.searchsorted(sorted_pts, targets), 1, len(sorted_pts) - 1)
    if len(sorted_pts) == 1:
        return np.full(len(targets), sorted_pts[0], dtype=np.int64)
    before, after = sorted_pts[pos - 1], sorted_pts[pos]
    return np.where(targets - before <= after - targets, before, after).astype(np.int64)


def _new_budget(policy: VideoPolicy) -> Budget:
    return Budget(policy=policy, deadline=time.monotonic() + policy.decode_timeout_s)


# (times_s, frames, share): a chunk, and the share of the planned samples handed over so far.
FrameSink = Callable[[np.ndarray, np.ndarray, float], None]


class _ChunkStreamer:
    """Hands distinct frames to ``sink`` in chunks of ``size`` as they are decoded, so that the
    model can start on a video's first frames while the rest are still decoding. Each chunk
    says how far through the plan the decode is (jobs and the CLI show it as progress)."""

    def __init__(self, sink: FrameSink, size: int, to_seconds: Callable[[np.ndarray], np.ndarray],
                 planned: int) -> None:
        self.sink = sink
        self.size = max(1, size)
        self.to_seconds = to_seconds
        self.planned = max(1, planned)
        self.pts: list[int] = []
        self.frames: list[np.ndarray] = []
        self.sent: set[int] = set()

    def add(self, pts: int, frame: np.ndarray) -> None:
        if pts in self.sent:
            return
        self.sent.add(pts)
        self.pts.append(pts)
        self.frames.append(frame)
        if len(self.pts) >= self.size:
            self.flush()

    def flush(self) -> None:
        if self.pts:
            # Several planned times can share a frame: the share may end below 1.
            self.sink(self.to_seconds(np.asarray(self.pts, dtype=np.int64)),
                      np.stack(self.frames), min(1.0, len(self.sent) / self.planned))
            self.pts, self.frames = [], []


def decode(path: str | os.PathLike[str], policy: VideoPolicy, spec: SamplingSpec, *,
           on_frames: FrameSink | None = None, chunk_frames: int = 16) -> DecodedVideo:
    """Sniff, probe, check the policy, and decode the frames ``spec`` asks for.

    Exact mode: the frame on screen at each planned time (last pts <= t). Fast mode: the keyframe
    nearest each planned time, decoding keyframes only. Several targets landing on one frame give
    that frame once, so N can be smaller than the plan (slide shows, 1-frame videos).

    With ``on_frames``, the frames go to it as ``(times_s, frames, share)`` chunks of
    ``chunk_frames`` while decoding goes on (each distinct frame once, in decoding order; share:
    of the planned samples, handed over so far), and the returned ``frames`` is empty;
    ``times_s`` still lists every frame.
    """
    started = time.perf_counter()
    budget = _new_budget(policy)
    opened = _open_and_index(path, policy, budget)
    index = opened.index
    times = plan_sample_times(opened.info.duration_s, spec)
    targets = index.to_pts(times)
    keyframes_only = spec.mode == "fast" and len(index.key_pts) > 0
    if keyframes_only:
        targets = np.unique(_nearest(index.key_pts, targets))

    streamer = (_ChunkStreamer(on_frames, chunk_frames, index.to_seconds, len(targets))
                if on_frames is not None else None)

    def take(frame: av.VideoFrame) -> np.ndarray:
        array = to_model_input(frame, opened.sar, spec.short_side, spec.crop)
        if streamer is not None:
            pts = frame_pts(frame)
            if pts is not None:
                streamer.add(pts, array)
        return array

    results, rotation = _sample(path, opened, policy, budget, targets, take, keyframes_only,
                                spec.skip_unreferenced)
    # One entry per distinct frame, in time order.
    kept: dict[int, np.ndarray] = {}
    for pts, array in results:
        kept.setdefault(pts, array)
    order = sorted(kept)
    opened.info.rotation_deg = rotation
    if streamer is not None:
        streamer.flush()
        frames = np.empty((0, spec.crop, spec.crop, 3), dtype=np.uint8)
    else:
        frames = np.stack([kept[p] for p in order])  # (N, crop, crop, 3)
    return DecodedVideo(
        info=opened.info,
        frames=frames,
        times_s=index.to_seconds(np.asarray(order, dtype=np.int64)),
        mode="fast" if keyframes_only else "exact",
        decode_ms=(time.perf_counter() - started) * 1000.0,
        frames_decoded=budget.frames_decoded,
        keyframe_times_s=index.to_seconds(index.key_pts),
    )


def decode_thumbnails(path: str | os.PathLike[str], times_s: np.ndarray | list[float],
                      max_side: int = 160, quality: int = 80, *,
                      policy: VideoPolicy | None = None) -> list[bytes]:
    """JPEG bytes of the frame on screen at each time (in the order given), whole frame, upright."""
    policy = policy or VideoPolicy()
    requested = np.asarray(times_s, dtype=np.float64)
    if len(requested) == 0:
        return []
    budget = _new_budget(policy)
    opened = _open_and_index(path, policy, budget)
    order = np.argsort(requested, kind="stable")
    targets = opened.index.to_pts(requested[order])

    def take(frame: av.VideoFrame) -> bytes:
        return to_jpeg(frame, opened.sar, max_side, quality)

    results, _ = _sample(path, opened, policy, budget, targets, take, keyframes_only=False)
    while len(results) < len(targets):  # the stream ended early: repeat the last frame shown
        results.append(results[-1])
    out: list[bytes] = [b""] * len(requested)
    for rank, position in enumerate(order):
        out[int(position)] = results[rank][1]
    return out


def decode_gray_strip(path: str | os.PathLike[str], start_s: float, end_s: float,
                      size: int = 64, *, policy: VideoPolicy | None = None,
                      max_frames: int = MAX_GRAY_STRIP_FRAMES) -> tuple[np.ndarray, np.ndarray]:
    """Every frame with ``start_s <= t <= end_s`` as a (size, size) gray image, with its time.

    Returns ``(times_s (M,), frames (M, size, size) uint8)``. More than ``max_frames`` frames in
    the window are thinned evenly, so the whole window stays covered.
    """
    [strip] = decode_gray_strips(path, [(start_s, end_s)], size, policy=policy,
                                 max_frames=max_frames)
    return strip


def decode_gray_strips(path: str | os.PathLike[str], windows: list[tuple[float, float]],
                       size: int = 64, *, policy: VideoPolicy | None = None,
                       max_frames: int = MAX_GRAY_STRIP_FRAMES
                       ) -> list[tuple[np.ndarray, np.ndarray]]:
    """``decode_gray_strip`` for several windows in one pass: the file is opened and indexed
    once and the sampler seeks forward from window to window (each separate call would pay the
    open and the packet scan again)."""
    policy = policy or VideoPolicy()
    empty = (np.zeros(0, dtype=np.float64), np.zeros((0, size, size), dtype=np.uint8))
    if not windows:
        return []
    budget = _new_budget(policy)
    opened = _open_and_index(path, policy, budget)
    index = opened.index
    wanted: list[np.ndarray] = []
    for start_s, end_s in windows:
        lo, hi = index.to_pts(np.array([min(start_s, end_s), max(start_s, end_s)]))
        window = index.frame_pts[(index.frame_pts >= lo) & (index.frame_pts <= hi)]
        if len(window) > max_frames:
            window = window[np.linspace(0, len(window) - 1, max_frames).round().astype(np.int64)]
        wanted.append(window)
    targets = np.unique(np.concatenate(wanted)) if wanted else np.zeros(0, dtype=np.int64)
    if len(targets) == 0:
        return [empty for _ in windows]

    def take(frame: av.VideoFrame) -> np.ndarray:
        return to_gray(frame, size)

    results, _ = _sample(path, opened, policy, budget, targets, take, keyframes_only=False)
    kept: dict[int, np.ndarray] = {}
    for pts, array in results:
        kept.setdefault(pts, array)
    strips = []
    for window in wanted:
        order = sorted({int(p) for p in window if int(p) in kept})
        strips.append((index.to_seconds(np.asarray(order, dtype=np.int64)),
                       np.stack([kept[p] for p in order])) if order else empty)
    return strips
