"""Decode only the frames that target timestamps need, visiting each keyframe interval once.

For a target time ``t`` the answer is the last frame whose pts is ``<= t`` (the frame on screen at
``t``); a target before the first frame gets the first frame. Frames are matched by timestamp,
never by index, so variable frame rate files come out right.

Plan: the packet index says which frame each target wants and which keyframe precedes it. The
sampler decodes forward; when the next wanted frame lies beyond a keyframe that is further ahead
than a couple of frames, it seeks there instead of decoding the frames in between. Seeks only go
forward, so no frame is decoded twice, and dense targets become one straight pass.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import av
import av.container
import av.video.stream
import numpy as np

from app.errors import VideoRejected
from app.video.container import check_resolution
from app.video.index import PacketIndex
from app.video.refs import unreferenced_check
from app.video.types import VideoPolicy

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Skipping fewer frames than this is not worth a seek and a decoder flush.
SEEK_MIN_SKIPPED_FRAMES = 2
# A seek that lands after the wanted frame (broken index) is retried from earlier keyframes.
MAX_SEEK_RETRIES = 3
DECODER_THREADS = 2


@dataclass
class Budget:
    """Per-call limits: wall time, decoded frames and corrupt packets."""

    policy: VideoPolicy
    deadline: float                    # time.monotonic() value
    frames_decoded: int = 0
    corrupt_packets: int = 0
    checked_size: set[tuple[int, int]] = field(default_factory=set)

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise VideoRejected(
                f"Decoding took longer than {self.policy.decode_timeout_s:.0f} s. Try mode=fast, "
                "fewer frames, or a smaller video.", code="decode_timeout")

    def count_frame(self, frame: av.VideoFrame) -> None:
        self.frames_decoded += 1
        if self.frames_decoded > self.policy.max_decoded_frames:
            raise VideoRejected(
                f"Sampling needed more than {self.policy.max_decoded_frames} decoded frames. "
                "Try mode=fast, fewer frames, or a video with more frequent keyframes.",
                code="video_too_large")
        size = (frame.width, frame.height)
        if size not in self.checked_size:  # headers lie: check what the decoder produced
            check_resolution(frame.width, frame.height, self.policy)
            self.checked_size.add(size)

    def count_corrupt(self, exc: Exception) -> None:
        self.corrupt_packets += 1
        logger.info("corrupt packet %d: %s", self.corrupt_packets, exc)
        if self.corrupt_packets > self.policy.max_corrupt_packets:
            raise VideoRejected(
                f"More than {self.policy.max_corrupt_packets} corrupt packets; the file is "
                "damaged. Re-encode it.", code="decode_failed")


def configure_decoder(stream: av.video.stream.VideoStream, policy: VideoPolicy,
                      keyframes_only: bool) -> None:
    """Decoder settings; must run before the first packet is decoded (the codec opens then)."""
    ctx = stream.codec_context
    # The demuxer's max_pixels only guards probing; the decoder needs its own (SECURITY.md).
    ctx.options = {"max_pixels": str(policy.max_pixels)}
    # Slice threads: frame threading with a corrupt file is where PyAV deadlocks were seen, and
    # a pool runs several single-request decoders in parallel anyway.
    ctx.thread_type = "SLICE"
    ctx.thread_count = DECODER_THREADS
    if keyframes_only:
        ctx.skip_frame = "NONKEY"


def frame_pts(frame: av.VideoFrame) -> int | None:
    return frame.pts if frame.pts is not None else frame.dts


def decoded_frames(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                   seek_pts: int | None, budget: Budget,
                   skip: Callable[[av.Packet[Any]], bool] | None = None) -> Iterator[av.VideoFrame]:
    """Frames from ``seek_pts``'s keyframe (or from where the container is) to the end.

    Packet by packet, so a corrupt packet costs one unit of budget instead of the whole decode.
    Packets for which ``skip`` is true never reach the decoder.
    """
    if seek_pts is not None:
        container.seek(int(seek_pts), stream=stream, backward=True)
    packets = container.demux(stream)
    while True:
        budget.check_time()
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.error.MemoryError:
            raise
        except av.FFmpegError as exc:
            budget.count_corrupt(exc)
            packets = container.demux(stream)
            continue
        if skip is not None and skip(packet):
            continue
        try:
            frames = stream.decode(packet)
        except av.error.MemoryError:
            raise
        except av.FFmpegError as exc:
            budget.count_corrupt(exc)
            continue
        for frame in frames:
            budget.count_frame(frame)
            yield frame


class FrameSampler(Generic[T]):
    """Resolve sorted target pts to frames, converting each chosen frame once with ``take``."""

    def __init__(self, container: av.container.InputContainer,
                 stream: av.video.stream.VideoStream, index: PacketIndex, budget: Budget,
                 take: Callable[[av.VideoFrame], T], *, keyframes_only: bool,
                 can_seek: bool, skip_unreferenced: bool = False) -> None:
        self.container = container
        self.stream = stream
        self.budget = budget
        self.take = take
        self.candidates = index.key_pts if keyframes_only else index.frame_pts
        self.key_pts = index.key_pts
        self.can_seek = can_seek and len(index.key_pts) > 0
        self.seeks = 0
        self.skipped = 0
        # Pictures nothing is predicted from are passed over unless a target wants them.
        self._unreferenced = (unreferenced_check(stream)
                              if skip_unreferenced and not keyframes_only else None)
        self._keep: set[int] = set()

    def _wanted(self, target: int) -> int:
        """The index's answer for ``target``: last candidate <= target, else the first one."""
        pos = int(np.searchsorted(self.candidates, target, side="right")) - 1
        return int(self.candidates[max(pos, 0)]) if len(self.candidates) else target

    def _key_before(self, pts: int, back: int = 0) -> int | None:
        pos = int(np.searchsorted(self.key_pts, pts, side="right")) - 1 - back
        return int(self.key_pts[pos]) if pos >= 0 and len(self.key_pts) else None

    def _skipped(self, after: int, before: int) -> int:
        """Candidates strictly between two pts: what decoding on instead of seeking would cost."""
        lo = int(np.searchsorted(self.candidates, after, side="right"))
        hi = int(np.searchsorted(self.candidates, before, side="left"))
        return max(hi - lo, 0)

    def run(self, targets: np.ndarray) -> list[tuple[int, T]]:
        """For each target pts (ascending), the chosen frame's pts and its converted value."""
        n = len(targets)
        self._keep = {self._wanted(int(t)) for t in targets}
        results: list[tuple[int, T]] = []
        frames: Iterator[av.VideoFrame] | None = None
        prev: av.VideoFrame | None = None
        prev_pts: int | None = None
        last_taken: tuple[int, T] | None = None
        fresh_run = False
        retries = 0

        def resolve(frame: av.VideoFrame, pts: int) -> None:
            nonlocal last_taken
            if last_taken is None or last_taken[0] != pts:
                last_taken = (pts, self.take(frame))
            results.append(last_taken)

        while len(results) < n:
            target = int(targets[len(results)])
            wanted = self._wanted(target)
            key = self._key_before(wanted, back=retries)
            if frames is None:
                # First run: the container is at its start, so only seek if that skips frames.
                seek = (key if self.can_seek and key is not None
                        and self._skipped(int(self.candidates[0]) - 1, key) >= 1 else None)
                frames, prev, prev_pts, fresh_run = self._start(seek), None, None, seek is not None
            elif (self.can_seek and key is not None and prev_pts is not None and key > prev_pts
                  and self._skipped(prev_pts, key) >= SEEK_MIN_SKIPPED_FRAMES):
                frames, prev, prev_pts, fresh_run = self._start(key), None, None, True
            frame = next(frames, None)
            if frame is None:
                # End of stream: every remaining target is on the last frame shown.
                if prev is None or prev_pts is None:
                    break
                while len(results) < n:
                    resolve(prev, prev_pts)
                break
            pts = frame_pts(frame)
            if pts is None:
                continue
            if fresh_run and pts > wanted and retries < MAX_SEEK_RETRIES:
                # The seek landed after the wanted frame: retry from an earlier keyframe.
                retries += 1
                logger.info("seek to %s overshot (got %s, wanted %s); retry %d",
                            key, pts, wanted, retries)
                frames = self._start(self._key_before(wanted, back=retries) or 0)
                continue
            fresh_run = False
            retries = 0
            while len(results) < n and pts > int(targets[len(results)]):
                # This frame is past the target: the previous one was on screen at that time.
                if prev is not None and prev_pts is not None:
                    resolve(prev, prev_pts)
                else:
                    resolve(frame, pts)
            while len(results) < n and pts >= self._wanted(int(targets[len(results)])):
                # The index says no later frame is <= this target: take it without decoding on.
                resolve(frame, pts)
            prev, prev_pts = frame, pts
        return results

    def _skip(self, packet: av.Packet[Any]) -> bool:
        pts = packet.pts
        if pts is None or pts in self._keep or self._unreferenced is None:
            return False
        if self._unreferenced(packet):
            self.skipped += 1
            return True
        return False

    def _start(self, seek_pts: int | None) -> Iterator[av.VideoFrame]:
        if seek_pts is not None:
            self.seeks += 1
        return decoded_frames(self.container, self.stream, seek_pts, self.budget,
                              self._skip if self._unreferenced is not None else None)
