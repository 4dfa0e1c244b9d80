"""Keyframes: the most representative sample of each shot, then the most different extras."""

from __future__ import annotations

import numpy as np

from app.postprocess.importance import centrality, unit_rows
from app.postprocess.types import Keyframe, Shot

# Below this cosine distance two samples are the same picture; farthest-point selection then
# has nothing to choose by, so it spreads the extras in time alone.
_SAME_PICTURE_DISTANCE = 1e-6
# How much the picture counts against the time between two samples when choosing extras.
FEATURE_WEIGHT = 0.5


def keyframe_budget(num_shots: int, num_samples: int, num_keyframes: int | None,
                    max_keyframes: int) -> int:
    """How many keyframes to return: one per shot capped at ``max_keyframes`` by default, an
    explicit ``num_keyframes`` as asked; never more than there are samples."""
    wanted = min(num_shots, max_keyframes) if num_keyframes is None else num_keyframes
    return max(0, min(wanted, num_samples))


def representative_sample(shot: Shot, rep: np.ndarray, times_s: np.ndarray) -> int:
    """The shot's sample closest to its mean feature; ties go to the one nearest mid-shot."""
    idx = np.asarray(shot.sample_indices)
    middle = (shot.start_s + shot.end_s) / 2.0
    order = np.lexsort((np.abs(times_s[idx] - middle), -np.round(rep[idx], 9)))
    return int(idx[order[0]])


def select_keyframes(features: np.ndarray, importance: np.ndarray, shots: list[Shot],
                     times_s: np.ndarray, num_keyframes: int | None = None,
                     max_keyframes: int = 32) -> list[Keyframe]:
    """Keyframes in time order.

    If the budget covers every shot, each shot gets its most representative sample and the
    rest are chosen by greedy farthest-point selection in feature space (cosine distance to
    the nearest keyframe so far; equal distances prefer the more important sample). If the
    budget is smaller than the number of shots, shots are ranked by
    0.5 * mean importance + 0.5 * duration / longest duration and the best ones each get their
    representative sample.
    """
    times = np.asarray(times_s, dtype=np.float64)
    budget = keyframe_budget(len(shots), len(times), num_keyframes, max_keyframes)
    if budget == 0:
        return []
    rep = centrality(features, shots)
    shot_of = np.zeros(len(times), dtype=int)
    for shot in shots:
        shot_of[shot.sample_indices] = shot.index
    if budget < len(shots):
        durations = np.array([max(s.duration_s, 0.0) for s in shots])
        longest = durations.max() if durations.max() > 0 else 1.0
        priority = np.array([0.5 * float(importance[s.sample_indices].mean())
                             + 0.5 * d / longest for s, d in zip(shots, durations, strict=True)])
        chosen_shots = np.argsort(-priority, kind="stable")[:budget]
        picked = [representative_sample(shots[k], rep, times) for k in chosen_shots.tolist()]
    else:
        picked = [representative_sample(s, rep, times) for s in shots]
        picked += _farthest_points(unit_rows(features), importance, times, picked,
                                   budget - len(picked))
    return [Keyframe(time_s=float(times[i]), sample_index=int(i), shot_index=int(shot_of[i]),
                     score=float(importance[i])) for i in sorted(picked)]


def _farthest_points(unit: np.ndarray, importance: np.ndarray, times: np.ndarray,
                     seeds: list[int], count: int) -> list[int]:
    """``count`` more samples, each the one farthest from every sample chosen so far, by a
    distance that weighs the picture (cosine distance of the features) and the time between
    them equally: by pictures alone a shot whose end looks unlike its start gets every extra at
    its end, some of them near-duplicates; by both, they spread over the shot and differ."""
    available = np.ones(len(unit), dtype=bool)
    available[seeds] = False
    feature_gap = np.full(len(unit), np.inf)
    time_gap = np.full(len(unit), np.inf)
    for i in seeds:
        feature_gap = np.minimum(feature_gap, 1.0 - unit @ unit[i])
        time_gap = np.minimum(time_gap, np.abs(times - times[i]))
    span = max(float(times.max() - times.min()), 1e-9) if len(times) else 1.0
    # Picture distances count against the largest one at the start (how unlike the most
    # different sample is), so that the small differences left later within one look do not
    # outweigh the time between samples.
    feature_scale = float(np.max(feature_gap[available], initial=0.0))
    extra: list[int] = []
    for _ in range(count):
        candidates = np.flatnonzero(available)
        if len(candidates) == 0:
            break
        pictures = feature_gap[candidates] / feature_scale \
            if feature_scale > _SAME_PICTURE_DISTANCE else np.zeros(len(candidates))
        gaps = FEATURE_WEIGHT * pictures + (1.0 - FEATURE_WEIGHT) * time_gap[candidates] / span
        # Lexicographic: the larger distance, then the more important sample.
        order = np.lexsort((-importance[candidates], -np.round(gaps, 9)))
        best = candidates[order[0]]
        extra.append(int(best))
        available[best] = False
        feature_gap = np.minimum(feature_gap, 1.0 - unit @ unit[best])
        time_gap = np.minimum(time_gap, np.abs(times - times[best]))
    return extra
