"""Synthetic edited timelines made from real footage (TransNetV2's recipe).

A *shot* is a source (photograph or clip) seen through a moving virtual camera (pan, zoom,
shake, whip pans) with its own look (brightness, tint, blur, noise, JPEG round trip, flashes).
An *edit* joins pieces of shots with hard cuts, dissolves and fades through black. A *timeline*
samples an edit the way the service samples a video: at a rate of 1-4 samples a second with a
little jitter, 16-128 samples, and labels sample ``i`` with 1 when a transition (a cut, or the
middle of a gradual one) lies between sample ``i`` and ``i + 1``.

Every sampled frame has a string key naming exactly what it shows, so its CNN features can be
cached on disk and shared by every timeline that shows the same frame:

- ``s/<shot>/<k>``: shot frame at local time ``k / GRID_FPS``
- ``d/<shotA>/<kA>/<shotB>/<kB>/<q>``: dissolve, ``(1 - q/20) * A + (q/20) * B``
- ``f/<shot>/<k>/<q>``: that shot frame faded to ``q/20`` of its brightness
- ``black``: the middle of a fade

Shot-local times snap to a grid of ``GRID_FPS`` frames a second so that frames repeat across
timelines; :func:`render_at` renders at exact times for encoded test videos.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from PIL import Image, ImageFilter

from training.sources import Source

# Bump when rendering changes: it is part of every shot digest, so old cached features go stale.
RENDER_VERSION = 1
GRID_FPS = 8.0
FRAME_SIZE = 224  # the model's input: the service resizes and centre-crops to this
ALPHA_STEPS = 20

MotionKind = Literal["static", "pan", "zoom", "shake", "fast"]
TransitionKind = Literal["cut", "dissolve", "fade"]


@dataclass(frozen=True)
class Look:
    """Per-shot photometric changes, applied in this order."""

    gain: float = 1.0
    bias: float = 0.0
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)
    blur_px: float = 0.0
    noise_std: float = 0.0
    jpeg_quality: int = 0  # 0: no JPEG round trip
    flash_at_s: float = -1.0  # a brief brightness spike inside the shot (a hard negative)
    flash_strength: float = 0.0


@dataclass(frozen=True)
class Motion:
    """A virtual camera over the source.

    The window centre moves from ``centre0`` to ``centre1`` (fractions of the free range) over
    the shot, plus an oscillation (whip pans, handheld sway) and per-frame shake; the window
    height scales from ``scale0`` to ``scale1`` of the largest window that fits.
    """

    kind: MotionKind
    centre0: tuple[float, float]
    centre1: tuple[float, float]
    scale0: float
    scale1: float
    sway: float = 0.0  # oscillation amplitude, fraction of the image
    sway_hz: float = 0.0
    sway_phase: float = 0.0
    shake: float = 0.0  # per-frame jitter, fraction of the window


@dataclass(frozen=True)
class Shot:
    source: str
    group: str
    duration_s: float  # the camera path's length; longer pieces play it back and forth
    motion: Motion
    look: Look
    clip_offset_s: float = 0.0
    clip_speed: float = 1.0
    mirrored: bool = False
    seed: int = 0

    @property
    def digest(self) -> str:
        text = f"v{RENDER_VERSION}|{self!r}"
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    @property
    def grid_frames(self) -> int:
        return int(math.floor(self.duration_s * GRID_FPS)) + 1


@dataclass(frozen=True)
class Segment:
    """Where one shot is visible on the timeline (transitions included)."""

    shot: str  # digest
    start_s: float
    end_s: float
    local_start_s: float  # shot-local time at ``start_s``


@dataclass(frozen=True)
class Transition:
    kind: TransitionKind
    centre_s: float
    duration_s: float  # 0 for a cut

    @property
    def start_s(self) -> float:
        return self.centre_s - self.duration_s / 2

    @property
    def end_s(self) -> float:
        return self.centre_s + self.duration_s / 2


@dataclass(frozen=True)
class Edit:
    """Segment ``j`` and ``j + 1`` are joined by transition ``j``."""

    segments: tuple[Segment, ...]
    transitions: tuple[Transition, ...]
    duration_s: float


@dataclass(frozen=True)
class Timeline:
    edit: Edit
    fps: float
    times_s: np.ndarray  # (T,) sample times
    keys: tuple[str, ...]  # (T,) frame keys
    labels: np.ndarray  # (T,) 1.0 where a transition lies between sample i and i + 1
    weights: np.ndarray  # (T,) 0 where the label is undefined (last sample, inside a fade)


@dataclass(frozen=True)
class SynthConfig:
    fps_range: tuple[float, float] = (1.0, 4.0)
    p_default_fps: float = 0.35  # the service samples at 2 fps unless asked otherwise
    default_fps: float = 2.0
    length_range: tuple[int, int] = (16, 128)
    jitter: float = 0.2  # sample times move by up to this fraction of the interval
    p_no_cut: float = 0.12
    mean_shot_s: float = 3.0  # mean length beyond the minimum
    max_shot_s: float = 25.0
    p_cut: float = 0.65
    p_dissolve: float = 0.22  # the rest are fades through black
    gradual_range_s: tuple[float, float] = (0.2, 2.0)
    p_same_scene: float = 0.15


@dataclass(frozen=True)
class PoolConfig:
    shots_per_photo: int = 6
    shots_per_still: int = 3
    shots_per_clip: int = 16
    duration_range_s: tuple[float, float] = (4.0, 10.0)
    motion_weights: Mapping[str, float] = field(default_factory=lambda: {
        "static": 0.25, "pan": 0.25, "zoom": 0.2, "shake": 0.15, "fast": 0.15})


# --- shots ------------------------------------------------------------------------------------

def _random_motion(rng: np.random.Generator, kind: MotionKind, min_scale: float) -> Motion:
    c0 = (float(rng.uniform(0, 1)), float(rng.uniform(0, 1)))
    s0 = float(rng.uniform(min_scale, 1.0))
    c1, s1, sway, sway_hz, shake = c0, s0, 0.0, 0.0, 0.0
    if kind == "static":
        c1 = (c0[0] + float(rng.normal(0, 0.05)), c0[1] + float(rng.normal(0, 0.05)))
    elif kind == "pan":
        c1 = (float(rng.uniform(0, 1)), float(rng.uniform(0, 1)))
    elif kind == "zoom":
        s1 = float(np.clip(s0 * rng.choice([0.5, 0.7, 1.4, 2.0]), min_scale, 1.0))
    elif kind == "shake":
        sway, sway_hz, shake = (float(rng.uniform(0.01, 0.04)), float(rng.uniform(1.5, 5.0)),
                                float(rng.uniform(0.01, 0.04)))
    else:  # fast: whip pans and quick zooms inside one shot, the classic false cut
        c1 = (float(rng.uniform(0, 1)), float(rng.uniform(0, 1)))
        s0 = float(rng.uniform(min_scale, 0.8))
        s1 = float(np.clip(s0 * rng.uniform(0.6, 1.6), min_scale, 1.0))
        sway, sway_hz, shake = (float(rng.uniform(0.15, 0.35)), float(rng.uniform(0.4, 1.5)),
                                float(rng.uniform(0.0, 0.03)))
    return Motion(kind=kind, centre0=c0, centre1=c1, scale0=s0, scale1=s1, sway=sway,
                  sway_hz=sway_hz, sway_phase=float(rng.uniform(0, 2 * math.pi)), shake=shake)


def _random_look(rng: np.random.Generator, duration_s: float) -> Look:
    flash = rng.random() < 0.12
    return Look(
        gain=float(rng.uniform(0.7, 1.3)),
        bias=float(rng.uniform(-20, 20)),
        tint=(float(rng.uniform(0.9, 1.1)), float(rng.uniform(0.9, 1.1)),
              float(rng.uniform(0.9, 1.1))),
        blur_px=float(rng.uniform(0.5, 2.0)) if rng.random() < 0.3 else 0.0,
        noise_std=float(rng.uniform(2.0, 8.0)) if rng.random() < 0.3 else 0.0,
        jpeg_quality=int(rng.integers(15, 80)) if rng.random() < 0.6 else 0,
        flash_at_s=float(rng.uniform(0, duration_s)) if flash else -1.0,
        flash_strength=float(rng.uniform(60, 150)) if flash else 0.0,
    )


def make_shot_pool(sources: Sequence[Source], rng: np.random.Generator,
                   config: PoolConfig | None = None) -> list[Shot]:
    """Several shots (camera path + look) of every source."""
    config = config or PoolConfig()
    kinds = list(config.motion_weights)
    probs = np.array([config.motion_weights[k] for k in kinds], dtype=np.float64)
    probs /= probs.sum()
    shots = []
    for source in sources:
        if source.is_clip:
            count = config.shots_per_clip
        elif "@" in source.name:
            count = config.shots_per_still
        else:
            count = config.shots_per_photo
        for _ in range(count):
            kind: MotionKind = kinds[int(rng.choice(len(kinds), p=probs))]  # type: ignore[assignment]
            duration = float(rng.uniform(*config.duration_range_s))
            # Clips are already moving: let the camera frame most of the picture more often.
            motion = _random_motion(rng, kind, min_scale=0.45 if source.is_clip else 0.35)
            shots.append(Shot(
                source=source.name, group=source.group, duration_s=duration, motion=motion,
                look=_random_look(rng, duration),
                clip_offset_s=float(rng.uniform(0, source.duration_s)) if source.is_clip else 0.0,
                clip_speed=float(rng.uniform(0.7, 1.5)) if source.is_clip else 1.0,
                mirrored=bool(rng.random() < 0.5), seed=int(rng.integers(2**31))))
    return shots


def _pingpong(t: float, length: float) -> float:
    """Play ``[0, length]`` forwards then backwards, for pieces longer than the path."""
    if length <= 0:
        return 0.0
    phase = t % (2 * length)
    return phase if phase <= length else 2 * length - phase


def _window(shot: Shot, image_size: tuple[int, int], u: float,
            out_size: tuple[int, int]) -> tuple[float, float, float, float]:
    width, height = image_size
    out_w, out_h = out_size
    motion = shot.motion
    p = u / shot.duration_s if shot.duration_s > 0 else 0.0
    scale = motion.scale0 * (motion.scale1 / motion.scale0) ** p
    max_h = min(height, width * out_h / out_w)
    win_h = scale * max_h
    win_w = win_h * out_w / out_h
    cx = motion.centre0[0] + (motion.centre1[0] - motion.centre0[0]) * p
    cy = motion.centre0[1] + (motion.centre1[1] - motion.centre0[1]) * p
    sway = motion.sway * math.sin(2 * math.pi * motion.sway_hz * u + motion.sway_phase)
    cx += sway
    cy += 0.5 * motion.sway * math.sin(2 * math.pi * motion.sway_hz * 0.7 * u)
    x0 = float(np.clip(cx, 0, 1)) * (width - win_w)
    y0 = float(np.clip(cy, 0, 1)) * (height - win_h)
    if motion.shake > 0:
        jitter = np.random.default_rng((shot.seed, round(u * 1000))).normal(0, motion.shake, 2)
        x0 = float(np.clip(x0 + jitter[0] * win_w, 0, width - win_w))
        y0 = float(np.clip(y0 + jitter[1] * win_h, 0, height - win_h))
    return x0, y0, x0 + win_w, y0 + win_h


def _apply_look(image: Image.Image, look: Look, u: float, seed: int) -> np.ndarray:
    if look.blur_px > 0:
        image = image.filter(ImageFilter.GaussianBlur(look.blur_px))
    pixels: np.ndarray = np.asarray(image, dtype=np.float32)
    gain = np.array(look.tint, dtype=np.float32) * look.gain
    pixels = pixels * gain + look.bias
    if look.flash_at_s >= 0:
        pixels += look.flash_strength * math.exp(-(((u - look.flash_at_s) / 0.15) ** 2))
    if look.noise_std > 0:
        noise_rng = np.random.default_rng((seed, round(u * 1000), 1))
        pixels += noise_rng.normal(0, look.noise_std, pixels.shape).astype(np.float32)
    out = np.clip(pixels, 0, 255).round().astype(np.uint8)
    if look.jpeg_quality > 0:
        buffer = io.BytesIO()
        Image.fromarray(out).save(buffer, format="JPEG", quality=look.jpeg_quality)
        out = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    return out


def render_shot(shot: Shot, source: Source, u: float,
                size: tuple[int, int] = (FRAME_SIZE, FRAME_SIZE)) -> np.ndarray:
    """Frame of ``shot`` at shot-local time ``u`` (seconds), (H, W, 3) uint8 RGB."""
    u = _pingpong(u, shot.duration_s)
    clip_time = _pingpong(shot.clip_offset_s + u * shot.clip_speed, source.duration_s) \
        if source.is_clip else 0.0
    image = source.frame_at(clip_time)
    box = _window(shot, image.size, u, size)
    view = image.resize(size, Image.Resampling.BILINEAR, box=box)
    if shot.mirrored:
        view = view.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return _apply_look(view, shot.look, u, shot.seed)


# --- edits and timelines ----------------------------------------------------------------------

def _pick_transition(rng: np.random.Generator, config: SynthConfig,
                     allow_gradual: bool) -> tuple[TransitionKind, float]:
    if not allow_gradual:
        return "cut", 0.0
    roll = rng.random()
    if roll < config.p_cut:
        return "cut", 0.0
    kind: TransitionKind = "dissolve" if roll < config.p_cut + config.p_dissolve else "fade"
    return kind, float(rng.uniform(*config.gradual_range_s))


def make_edit(pool: Sequence[Shot], rng: np.random.Generator, duration_s: float,
              min_shot_s: float, config: SynthConfig | None = None, *,
              allow_gradual: bool = True, no_cut: bool = False) -> Edit:
    """Join random pieces of pool shots until ``duration_s`` is covered.

    Consecutive shots are different shots, mostly of different scenes (``p_same_scene`` of
    the cuts join two cameras on one scene, as edits of one location do). The plain
    (unblended) part of every shot but the first and last lasts at least ``min_shot_s``, so two
    transitions never fall between the same pair of samples.
    """
    config = config or SynthConfig()
    shot_len = lambda: min(min_shot_s + rng.exponential(config.mean_shot_s),  # noqa: E731
                           config.max_shot_s)
    # The timeline starts somewhere inside the first shot, so early cuts happen too.
    plain = duration_s + 1.0 if no_cut else float(rng.uniform(0.0, 1.0)) * shot_len()
    centres: list[Transition] = []
    cursor = plain
    while not no_cut and cursor < duration_s:
        kind, length = _pick_transition(rng, config, allow_gradual)
        centres.append(Transition(kind, cursor + length / 2, length))
        cursor += length + shot_len()
    shots: list[Shot] = []
    for _ in range(len(centres) + 1):
        if shots and rng.random() < config.p_same_scene:
            # Another camera on the same scene: a cut between similar-looking shots.
            candidates = [s for s in pool if s.group == shots[-1].group and s != shots[-1]]
        else:
            candidates = [s for s in pool if not shots or s.group != shots[-1].group]
        if not candidates:
            candidates = [s for s in pool if s.group != shots[-1].group]
        shots.append(candidates[int(rng.integers(len(candidates)))])
    segments = []
    for j, shot in enumerate(shots):
        start = centres[j - 1].start_s if j > 0 else 0.0
        end = centres[j].end_s if j < len(centres) else duration_s
        local = float(rng.uniform(0, shot.duration_s))
        segments.append(Segment(shot.digest, start, end, local))
    return Edit(tuple(segments), tuple(centres), duration_s)


def _local_time(segment: Segment, t: float) -> float:
    return segment.local_start_s + (t - segment.start_s)


def _grid_index(shot: Shot, u: float) -> int:
    u = _pingpong(u, shot.duration_s)
    return min(round(u * GRID_FPS), shot.grid_frames - 1)


def frame_key(edit: Edit, shots: Mapping[str, Shot], t: float) -> str:
    """The key of the frame the edit shows at time ``t``."""
    j = 0
    while j < len(edit.transitions) and t >= edit.transitions[j].end_s:
        j += 1
    segment = edit.segments[j]
    key_a = f"{segment.shot}/{_grid_index(shots[segment.shot], _local_time(segment, t))}"
    if j == len(edit.transitions):
        return f"s/{key_a}"
    transition = edit.transitions[j]
    if t < transition.start_s or (transition.kind == "cut" and t < transition.centre_s):
        return f"s/{key_a}"
    nxt = edit.segments[j + 1]
    key_b = f"{nxt.shot}/{_grid_index(shots[nxt.shot], _local_time(nxt, t))}"
    if transition.kind == "cut":
        return f"s/{key_b}"
    q = round((t - transition.start_s) / transition.duration_s * ALPHA_STEPS)
    if q <= 0:
        return f"s/{key_a}"
    if q >= ALPHA_STEPS:
        return f"s/{key_b}"
    if transition.kind == "dissolve":
        return f"d/{key_a}/{key_b}/{q}"
    level = abs(ALPHA_STEPS - 2 * q)  # brightness: down to black at the middle, back up
    if level == 0:
        return "black"
    return f"f/{key_a if 2 * q < ALPHA_STEPS else key_b}/{level}"


def boundary_labels(edit: Edit, times_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample labels and loss weights for ``times_s``.

    Label ``i`` is 1 when a transition's centre lies in ``(t_i, t_{i+1}]``. Gaps that overlap a
    gradual transition but do not hold its centre get weight 0: calling either side a boundary
    is defensible, so neither is punished.
    """
    count = len(times_s)
    labels = np.zeros(count, dtype=np.float32)
    weights = np.ones(count, dtype=np.float32)
    if count:
        weights[-1] = 0.0  # no gap after the last sample
    for transition in edit.transitions:
        i = int(np.searchsorted(times_s, transition.centre_s, side="left")) - 1
        if 0 <= i < count - 1:
            labels[i] = 1.0
        if transition.duration_s > 0:
            for g in range(max(count - 1, 0)):
                if times_s[g] < transition.end_s and times_s[g + 1] > transition.start_s:
                    weights[g] = 0.0
    weights[labels > 0] = 1.0
    return labels, weights


def make_timeline(pool: Sequence[Shot], rng: np.random.Generator,
                  config: SynthConfig | None = None, *, allow_gradual: bool = True) -> Timeline:
    """One training sequence: sampled like the service samples a video, with its labels."""
    config = config or SynthConfig()
    fps = config.default_fps if rng.random() < config.p_default_fps \
        else float(rng.uniform(*config.fps_range))
    count = int(rng.integers(config.length_range[0], config.length_range[1] + 1))
    offsets = rng.uniform(-config.jitter, config.jitter, count)
    times = (np.arange(count) + 0.5 + offsets) / fps
    duration = (count + 0.5) / fps
    # At least 1.5 sample intervals of plain shot: each transition gets its own gap.
    min_shot = max(0.5, 1.5 / fps)
    no_cut = bool(rng.random() < config.p_no_cut)
    edit = make_edit(pool, rng, duration, min_shot, config, allow_gradual=allow_gradual,
                     no_cut=no_cut)
    shots = {s.digest: s for s in pool}
    keys = tuple(frame_key(edit, shots, float(t)) for t in times)
    labels, weights = boundary_labels(edit, times)
    return Timeline(edit, fps, times, keys, labels, weights)


# --- rendering --------------------------------------------------------------------------------

class FrameRenderer:
    """Renders frame keys (and exact times, for encoded videos) from a shot pool."""

    def __init__(self, pool: Sequence[Shot], sources: Sequence[Source]) -> None:
        self.shots = {s.digest: s for s in pool}
        self.sources = {s.name: s for s in sources}

    def shot_frame(self, digest: str, u: float,
                   size: tuple[int, int] = (FRAME_SIZE, FRAME_SIZE)) -> np.ndarray:
        shot = self.shots[digest]
        return render_shot(shot, self.sources[shot.source], u, size)

    def _grid(self, digest: str, index: str) -> np.ndarray:
        return self.shot_frame(digest, int(index) / GRID_FPS)

    def render_key(self, key: str) -> np.ndarray:
        """The (224, 224, 3) uint8 frame a key names."""
        parts = key.split("/")
        if parts[0] == "black":
            return np.zeros((FRAME_SIZE, FRAME_SIZE, 3), dtype=np.uint8)
        if parts[0] == "s":
            return self._grid(parts[1], parts[2])
        if parts[0] == "d":
            alpha = int(parts[5]) / ALPHA_STEPS
            a = self._grid(parts[1], parts[2]).astype(np.float32)
            b = self._grid(parts[3], parts[4]).astype(np.float32)
            return blend(a, b, alpha)
        if parts[0] == "f":
            level = int(parts[3]) / ALPHA_STEPS
            return blend(np.zeros((FRAME_SIZE, FRAME_SIZE, 3), np.float32),
                         self._grid(parts[1], parts[2]).astype(np.float32), level)
        raise ValueError(f"unknown frame key {key!r}")

    def render_at(self, edit: Edit, t: float, size: tuple[int, int]) -> np.ndarray:
        """The frame the edit shows at exact time ``t`` (no grid, no alpha steps)."""
        j = 0
        while j < len(edit.transitions) and t >= edit.transitions[j].end_s:
            j += 1
        segment = edit.segments[j]
        frame_a = self.shot_frame(segment.shot, _local_time(segment, t), size)
        if j == len(edit.transitions) or t < edit.transitions[j].start_s:
            return frame_a
        transition = edit.transitions[j]
        nxt = edit.segments[j + 1]
        if transition.kind == "cut":
            return frame_a if t < transition.centre_s else \
                self.shot_frame(nxt.shot, _local_time(nxt, t), size)
        frame_b = self.shot_frame(nxt.shot, _local_time(nxt, t), size)
        alpha = (t - transition.start_s) / transition.duration_s
        a, b = frame_a.astype(np.float32), frame_b.astype(np.float32)
        if transition.kind == "dissolve":
            return blend(a, b, alpha)
        black = np.zeros_like(a)
        return blend(a, black, 2 * alpha) if alpha < 0.5 else blend(black, b, 2 * alpha - 1)


def blend(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    """``(1 - alpha) * a + alpha * b``, rounded to uint8."""
    mixed = (1.0 - alpha) * a.astype(np.float32) + alpha * b.astype(np.float32)
    return np.clip(mixed, 0, 255).round().astype(np.uint8)
