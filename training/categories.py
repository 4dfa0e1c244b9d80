"""Shot boundaries by category, ours against PySceneDetect, on held-out sources only.

Each category is a handful of 25 fps H.264 videos rendered from the held-out sources (never
trained or tuned on), with its transitions known exactly:

- transitions to find: **cuts** (shots of 1 s and more), **short shots** (0.3-1 s), **same-camera
  cuts** (one clip, jumping ahead in time, the camera still), **dissolves**, **fades**;
- no transition at all, where every boundary found is false: **fast camera motion** (whip pans
  and quick zooms), **flashes** (brief brightness spikes in still shots), and one **long single
  shot** per video.

``videobert evaluate`` runs this and writes the table into docs/model-card.md.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.model import LoadedModel
from training import synth
from training.metrics import Counts, match_boundaries
from training.sources import Source
from training.videos import edit_frames, write_video

TRANSITION_CATEGORIES = ("cuts", "short shots", "same-camera cuts", "dissolves", "fades")
NO_TRANSITION_CATEGORIES = ("fast camera motion", "flashes", "long single shot")
VIDEOS_PER_CATEGORY = 3
DURATION_S = 20.0
LONG_SHOT_S = 60.0
MIN_JUMP_S = 1.0  # a same-camera cut skips at least this much of the clip


@dataclass
class CategoryResult:
    """A detector's counts over a category's videos, and the minutes of video they covered."""

    counts: Counts = field(default_factory=Counts)
    minutes: float = 0.0

    @property
    def false_per_minute(self) -> float:
        return self.counts.fp / self.minutes if self.minutes else 0.0


@dataclass
class CategoryRun:
    results: dict[str, dict[str, CategoryResult]]  # category -> detector -> result
    step_ms: dict[str, dict[str, float]]  # category -> our step -> median wall ms a video
    videos: int  # a category


def category_edits(pool: Sequence[synth.Shot], sources: Sequence[Source],
                   rng: np.random.Generator, videos: int = VIDEOS_PER_CATEGORY
                   ) -> tuple[dict[str, list[synth.Edit]], list[synth.Shot]]:
    """The edits of every category, and the extra shots they use (the renderer needs them)."""
    extra: list[synth.Shot] = []
    edits: dict[str, list[synth.Edit]] = {}

    def make(config: synth.SynthConfig, min_shot_s: float) -> list[synth.Edit]:
        return [synth.make_edit(pool, rng, DURATION_S, min_shot_s, config)
                for _ in range(videos)]

    edits["cuts"] = make(synth.SynthConfig(p_cut=1.0), 1.0)
    edits["short shots"] = make(synth.SynthConfig(p_cut=1.0, mean_shot_s=0.35,
                                                  max_shot_s=1.0), 0.3)
    edits["dissolves"] = make(synth.SynthConfig(p_cut=0.0, p_dissolve=1.0,
                                                gradual_range_s=(0.5, 2.0)), 1.0)
    edits["fades"] = make(synth.SynthConfig(p_cut=0.0, p_dissolve=0.0,
                                            gradual_range_s=(0.5, 2.0)), 1.0)

    clip_s = {source.name: source.duration_s for source in sources if source.is_clip}
    clips = [s for s in pool if s.source in clip_s]
    edits["same-camera cuts"] = []
    for _ in range(videos):
        still_camera = _with_motion(clips[int(rng.integers(len(clips)))], "static", rng,
                                    duration_s=DURATION_S * 3)
        extra.append(still_camera)
        edits["same-camera cuts"].append(
            _jumps_in_time(still_camera, clip_s[still_camera.source], rng))

    def single(shots: list[synth.Shot], duration_s: float) -> list[synth.Edit]:
        out = []
        for _ in range(videos):
            shot = shots[int(rng.integers(len(shots)))]
            out.append(synth.Edit((synth.Segment(shot.digest, 0.0, duration_s, 0.0),), (),
                                  duration_s))
        return out

    fast = [_with_motion(s, "fast", rng) for s in pool[: 4 * videos]]
    flashing = [dataclasses.replace(_with_motion(s, "static", rng),
                                    look=dataclasses.replace(s.look, flash_at_s=1.5,
                                                             flash_strength=120.0))
                for s in pool[4 * videos: 8 * videos]]
    calm = [_with_motion(s, "static", rng, duration_s=LONG_SHOT_S) for s in pool[: videos]]
    extra += fast + flashing + calm
    edits["fast camera motion"] = single(fast, DURATION_S)
    edits["flashes"] = single(flashing, DURATION_S)
    edits["long single shot"] = single(calm, LONG_SHOT_S)
    return edits, extra


def _with_motion(shot: synth.Shot, kind: synth.MotionKind, rng: np.random.Generator,
                 duration_s: float | None = None) -> synth.Shot:
    """The same source and look through another camera path."""
    motion = synth._random_motion(rng, kind, min_scale=0.45)  # the pool's own recipe
    return dataclasses.replace(shot, motion=motion,
                               duration_s=duration_s or shot.duration_s)


def _jumps_in_time(shot: synth.Shot, clip_s: float, rng: np.random.Generator) -> synth.Edit:
    """One still camera on a clip, cut every 2-4 s to another moment of the clip, at least
    ``MIN_JUMP_S`` away in the clip's own time (the clip plays back and forth, so a jump ahead
    on the timeline could otherwise land on the very frame it left)."""

    def clip_time(local_s: float) -> float:
        return synth._pingpong(shot.clip_offset_s + local_s * shot.clip_speed, clip_s)

    segments, transitions = [], []
    start, local = 0.0, 0.0
    while True:
        end = min(start + float(rng.uniform(2.0, 4.0)), DURATION_S)
        segments.append(synth.Segment(shot.digest, start, end, local))
        if end >= DURATION_S:
            break
        transitions.append(synth.Transition("cut", end, 0.0))
        leaving = local + (end - start)
        options = leaving + float(rng.uniform(0.5, 4.0)) + 0.1 * np.arange(100)
        # The first moment far enough away in the clip; on a clip too short for that, the
        # farthest one.
        away = np.abs([clip_time(t) - clip_time(leaving) for t in options])
        far = np.flatnonzero(away >= min(MIN_JUMP_S, 0.4 * clip_s))
        local = float(options[far[0]] if len(far) else options[int(np.argmax(away))])
        start = end
    return synth.Edit(tuple(segments), tuple(transitions), DURATION_S)


def run_categories(loaded: LoadedModel, sources: Sequence[Source], folder: Path,
                   pool: Sequence[synth.Shot], rng: np.random.Generator,
                   detect: Callable[[LoadedModel, Path], tuple[list[float], dict[str, float]]],
                   others: Callable[[Path], dict[str, list[float]]],
                   videos: int = VIDEOS_PER_CATEGORY) -> CategoryRun:
    """Every category's videos through ``detect`` (ours: boundaries and CPU ms per step) and
    ``others`` (PySceneDetect's detectors: boundaries by name)."""
    edits, extra = category_edits(pool, sources, rng, videos)
    renderer = synth.FrameRenderer([*pool, *extra], sources)
    results: dict[str, dict[str, CategoryResult]] = {}
    step_ms: dict[str, dict[str, float]] = {}
    for category, category_edits_ in edits.items():
        per_detector: dict[str, CategoryResult] = {}
        steps: dict[str, list[float]] = {}
        for n, edit in enumerate(category_edits_):
            path = folder / f"{category.replace(' ', '-')}-{n}.mp4"
            write_video(path, edit_frames(renderer, edit))
            truth = [t.centre_s for t in edit.transitions if t.centre_s < edit.duration_s - 0.04]
            ours, timings = detect(loaded, path)
            found = {"ours": ours, **others(path)}
            for name, boundaries in found.items():
                result = per_detector.setdefault(name, CategoryResult())
                result.counts += match_boundaries(boundaries, truth)
                result.minutes += edit.duration_s / 60.0
            for step, ms in timings.items():
                steps.setdefault(step, []).append(ms)
        results[category] = per_detector
        step_ms[category] = {step: statistics.median(values) for step, values in steps.items()}
    return CategoryRun(results, step_ms, videos)


def category_rows(run: CategoryRun) -> list[str]:
    """The model card's table: F1 where there are transitions, false boundaries a minute
    where there are none; one column per detector."""
    detectors = list(next(iter(run.results.values())))
    lines = ["| category | measure | " + " | ".join(detectors) + " |",
             "|---|---|" + "---|" * len(detectors)]
    for category, per_detector in run.results.items():
        if category in NO_TRANSITION_CATEGORIES:
            cells = [f"{per_detector[d].false_per_minute:.1f}" for d in detectors]
            measure = "false boundaries a minute (lower is better)"
        else:
            cells = [f"{per_detector[d].counts.f1:.3f} ({per_detector[d].counts.tp}/"
                     f"{per_detector[d].counts.tp + per_detector[d].counts.fn}, "
                     f"{per_detector[d].counts.fp} false)" for d in detectors]
            measure = "F1 (found/true, false)"
        lines.append(f"| {category} | {measure} | " + " | ".join(cells) + " |")
    return lines


def step_rows(run: CategoryRun) -> list[str]:
    """Median CPU-side ms per video of each of our steps, per category."""
    steps = list(next(iter(run.step_ms.values())))
    lines = ["| category | " + " | ".join(steps) + " |", "|---|" + "---|" * len(steps)]
    for category, per_step in run.step_ms.items():
        lines.append(f"| {category} | " + " | ".join(f"{per_step.get(s, 0.0):.0f}"
                                                     for s in steps) + " |")
    return lines
