"""The packet index: every frame's timestamp and every keyframe, read without decoding.

Demuxing reads packets without decoding a picture, a small fraction of what decoding the clip
costs, so the decoder can plan which keyframe intervals to visit before it decodes anything. The
index also measures the real duration, since headers lie, and lists the keyframes (an encoder
puts some at scene changes: candidates for shot boundaries).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import av
import av.container
import av.video.stream
import numpy as np

from app.errors import VideoRejected

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PacketIndex:
    """Timestamps in stream time_base units; ``frame_pts`` and ``key_pts`` sorted ascending."""

    frame_pts: np.ndarray      # (F,) int64, presentation order
    key_pts: np.ndarray        # (K,) int64
    start_pts: int             # origin of the seconds the caller sees
    end_pts: int               # last frame's pts plus its duration
    time_base: float           # seconds per unit
    read_errors: int

    @property
    def duration_s(self) -> float:
        return (self.end_pts - self.start_pts) * self.time_base

    def to_seconds(self, pts: int | np.ndarray) -> np.ndarray:
        return (np.asarray(pts, dtype=np.float64) - self.start_pts) * self.time_base

    def to_pts(self, seconds: np.ndarray) -> np.ndarray:
        """The tick at or before each time (floor), so "pts <= t" keeps its meaning in ticks."""
        ticks = np.floor(np.asarray(seconds, dtype=np.float64) / self.time_base + 1e-6)
        return self.start_pts + ticks.astype(np.int64)


def scan_packets(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                 deadline: float, max_read_errors: int) -> PacketIndex:
    """Read every packet of ``stream`` (no decoding) and index its timestamps.

    Raises ``VideoRejected(decode_timeout)`` past ``deadline`` (a ``time.monotonic`` value).
    A read error ends the scan: what was read so far is the index.
    """
    pts_list: list[int] = []
    key_list: list[int] = []
    last_duration = 0
    read_errors = 0
    packets = container.demux(stream)
    while True:
        if time.monotonic() > deadline:
            raise VideoRejected("Reading the video took too long; try a shorter or smaller file.",
                                code="decode_timeout")
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.error.MemoryError:
            raise
        except av.FFmpegError as exc:
            read_errors += 1
            logger.info("packet read error during index scan: %s", exc)
            if read_errors > max_read_errors:
                break
            packets = container.demux(stream)  # av_read_frame can resync after a bad chunk
            continue
        ts = packet.pts if packet.pts is not None else packet.dts
        if ts is None:  # flush packets at EOF, or timestamp-less junk
            continue
        if not packet.is_discard:  # edit-list pre-roll: decoded but never shown
            pts_list.append(ts)
        if packet.is_keyframe:
            key_list.append(ts)
        if packet.duration:
            last_duration = packet.duration
    frame_pts = np.unique(np.asarray(pts_list, dtype=np.int64))
    key_pts = np.unique(np.asarray(key_list, dtype=np.int64))
    time_base = float(stream.time_base) if stream.time_base else 1.0 / 90000
    if stream.start_time is not None:
        start = int(stream.start_time)
    else:
        start = int(frame_pts[0]) if len(frame_pts) else 0
    if len(frame_pts):
        if not last_duration and len(frame_pts) > 1:
            last_duration = int(np.median(np.diff(frame_pts)))
        end = int(frame_pts[-1]) + last_duration
    else:
        end = start
    return PacketIndex(frame_pts=frame_pts, key_pts=key_pts, start_pts=start,
                       end_pts=max(end, start), time_base=time_base, read_errors=read_errors)
