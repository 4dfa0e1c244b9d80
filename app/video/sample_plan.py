"""Which instants of a video to look at.

Samples sit in the middle of their time bins: at ``fps`` the i-th sample is at
``(i + 0.5) / fps`` seconds, so each sample stands for the half second around it (at 2 fps) and
never lands on the very first frame, which is often black or a fade-in. Bins are kept while their
centre lies inside the video. Long videos lower the rate to ``max_frames / duration`` (the same
centred rule with ``max_frames`` bins); ``num_frames`` asks for that many centred bins directly.
A video shorter than half a step still gets one sample, at the middle of the video.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from app.errors import InvalidOption


@dataclass(frozen=True)
class SamplingSpec:
    fps: float = 2.0             # timeline rate; lowered to max_frames / duration for long videos
    max_frames: int = 256
    num_frames: int | None = None  # uniform N frames instead of a rate
    mode: Literal["exact", "fast"] = "exact"   # fast = nearest keyframes only
    short_side: int = 256         # swscale resizes so the short side is this ...
    crop: int = 224               # ... then a centre crop of crop x crop (model input)
    # Exact mode: never decode an H.264 picture that no other picture references unless it is
    # sampled. Bit-identical frames for less decode CPU (docs/performance.md, the decode table).
    skip_unreferenced: bool = True

    def __post_init__(self) -> None:
        if not (self.fps > 0 and math.isfinite(self.fps)):
            raise InvalidOption(f"fps must be a positive number, got {self.fps}.")
        if self.max_frames < 1:
            raise InvalidOption(f"max_frames must be at least 1, got {self.max_frames}.")
        if self.num_frames is not None and not 1 <= self.num_frames <= self.max_frames:
            raise InvalidOption(
                f"num_frames must be between 1 and max_frames ({self.max_frames}), "
                f"got {self.num_frames}.")
        if self.mode not in ("exact", "fast"):
            raise InvalidOption(f"mode must be 'exact' or 'fast', got {self.mode!r}.")
        if self.crop < 1 or self.short_side < 1:
            raise InvalidOption("short_side and crop must be positive.")


def plan_sample_times(duration_s: float, spec: SamplingSpec) -> np.ndarray:
    """Target times in seconds from the start of the video stream, ascending, float64."""
    duration = max(float(duration_s), 0.0)
    if duration == 0.0:
        return np.zeros(1, dtype=np.float64)
    if spec.num_frames is not None:
        return _centred_bins(duration, spec.num_frames)
    # Number of bins whose centre (i + 0.5) / fps lies strictly inside the video.
    count = math.ceil(duration * spec.fps - 0.5)
    if count < 1:
        return np.array([duration / 2.0], dtype=np.float64)
    if count > spec.max_frames:
        return _centred_bins(duration, spec.max_frames)
    return (np.arange(count, dtype=np.float64) + 0.5) / spec.fps


def _centred_bins(duration_s: float, count: int) -> np.ndarray:
    return (np.arange(count, dtype=np.float64) + 0.5) * (duration_s / count)
