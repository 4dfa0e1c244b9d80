"""The plain records of the video layer: the upload policy, what a header says, decoded frames.

No PyAV here, so the API process and the model side can name these types without loading FFmpeg
(only the decode worker processes import ``probe`` and ``decode``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

DEFAULT_ALLOWED_CONTAINERS: frozenset[str] = frozenset({"mp4", "matroska", "avi", "mpegts"})
DEFAULT_ALLOWED_CODECS: frozenset[str] = frozenset({
    "h264", "hevc", "vp8", "vp9", "av1", "mpeg4", "msmpeg4v2", "msmpeg4v3", "mjpeg", "cinepak",
    "mpeg2video", "mpeg1video", "theora", "prores",
})


@dataclass(frozen=True)
class VideoPolicy:
    """Limits applied to every upload; built from settings by the caller."""

    allowed_containers: frozenset[str] = DEFAULT_ALLOWED_CONTAINERS
    allowed_codecs: frozenset[str] = DEFAULT_ALLOWED_CODECS
    max_width: int = 7680
    max_height: int = 4320
    max_pixels: int = 7680 * 4320
    max_duration_s: float = 3 * 3600.0
    max_streams: int = 32
    max_corrupt_packets: int = 64
    max_decoded_frames: int = 20000
    decode_timeout_s: float = 60.0


@dataclass
class VideoInfo:
    """What the header says about the chosen video stream (after the policy checks).

    ``duration_s`` comes from the header; ``decode`` replaces it with the duration measured from
    packet timestamps. ``rotation_deg`` (counter-clockwise degrees to apply for display, one of
    0/90/180/270) is only known once a frame is decoded, so ``probe`` leaves it at 0 and
    ``decode`` fills it in.
    """

    container: str
    codec: str
    width: int
    height: int
    duration_s: float
    fps: float
    rotation_deg: int
    pixel_format: str | None
    bit_rate: int | None
    has_audio: bool
    size_bytes: int
    # Text subtitle tracks (mov_text, SubRip, ASS, WebVTT) read by ``subtitles.read_subtitles``.
    subtitle_streams: int = 0


@dataclass(frozen=True)
class Cue:
    """One subtitle: what is said (or shown as text) from ``start_s`` to ``end_s``.

    ``language`` is the track's tag (ISO 639-2, e.g. "eng"), None when untagged. A translation
    step would add cues of another language with the same times, so a search finds both.
    """

    start_s: float
    end_s: float
    text: str
    language: str | None
    track: int  # which subtitle track of the file (0-based, in file order)


@dataclass
class DecodedVideo:
    info: VideoInfo
    frames: np.ndarray     # (N, crop, crop, 3) uint8 RGB, upright
    times_s: np.ndarray    # (N,) float64: presentation times of the frames actually used
    mode: str              # "exact" or "fast" (what was done, not what was asked)
    decode_ms: float
    frames_decoded: int
    # (K,) float64: times of the stream's keyframes, from the packet index (no decoding). An
    # encoder that detects scene changes puts keyframes at cuts the 2 fps samples may miss.
    keyframe_times_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
