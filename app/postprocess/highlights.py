"""Highlights as in the TVSum/SumMe protocol: short segments, then a 0/1 knapsack on length."""

from __future__ import annotations

import math

import numpy as np

from app.postprocess.types import Segment, Shot

MAX_SEGMENT_S = 2.0
KNAPSACK_UNIT_S = 0.1
# Each further piece of the same shot is worth this much less (by rank within the shot), so a
# summary spreads over the video's shots instead of replaying one long, busy shot.
SAME_SHOT_DECAY = 0.5
# Cap on the DP table (items x capacity cells, one byte each for the back-pointers): a 3-hour
# video would otherwise need ~90 MB; past the cap the time unit grows instead.
_MAX_DP_CELLS = 8_000_000


def split_shot(shot: Shot, max_segment_s: float = MAX_SEGMENT_S) -> list[tuple[float, float]]:
    """The shot cut into equal pieces of at most ``max_segment_s`` (none if it has no length)."""
    length = shot.end_s - shot.start_s
    if length <= 0:
        return []
    pieces = max(1, math.ceil(length / max_segment_s - 1e-9))
    edges = np.linspace(shot.start_s, shot.end_s, pieces + 1)
    return [(float(a), float(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def sample_cells(shot: Shot, times_s: np.ndarray) -> np.ndarray:
    """(n, 2) the stretch of the shot each of its samples stands for: from the midpoint with the
    previous sample to the midpoint with the next, the outer cells reaching the shot's edges."""
    t = times_s[shot.sample_indices]
    mids = (t[:-1] + t[1:]) / 2.0
    edges = np.clip(np.concatenate([[shot.start_s], mids, [shot.end_s]]), shot.start_s,
                    shot.end_s)
    return np.stack([edges[:-1], edges[1:]], axis=1)


def knapsack(values: np.ndarray, weights: np.ndarray, capacity: int) -> list[int]:
    """Indices of the items with the greatest total value whose integer weights sum to at most
    ``capacity`` (0/1 knapsack by dynamic programming, O(items x capacity)). Items with no
    value are never taken."""
    values = np.asarray(values, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.int64)
    if capacity <= 0 or len(values) == 0:
        return []
    best = np.zeros(capacity + 1)  # best[c]: best value with total weight <= c
    take = np.zeros((len(values), capacity + 1), dtype=bool)
    for i, (value, weight) in enumerate(zip(values.tolist(), weights.tolist(), strict=True)):
        if value <= 0 or weight > capacity:
            continue
        if weight <= 0:  # free and valuable: always worth it
            take[i] = True
            best += value
            continue
        with_item = best[:capacity + 1 - weight] + value  # built from the row before item i
        better = with_item > best[weight:] + 1e-12
        take[i, weight:] = better
        best[weight:] = np.where(better, with_item, best[weight:])
    chosen: list[int] = []
    c = capacity
    for i in range(len(values) - 1, -1, -1):
        if take[i, c]:
            chosen.append(i)
            c -= max(int(weights[i]), 0)
    return sorted(chosen)


def select_highlights(shots: list[Shot], importance: np.ndarray, times_s: np.ndarray,
                      duration_s: float, ratio: float) -> list[Segment]:
    """The segments worth most under a length budget of ``ratio * duration_s``, in time order.

    Each shot is cut into pieces of at most 2 s. A piece's value is its summed importance: the
    integral of the importance curve over it, each sample standing for its ``sample_cells``
    stretch (what summing per-frame scores does at the native frame rate). A 0/1 knapsack picks
    the pieces, each further piece of a shot discounted by ``SAME_SHOT_DECAY`` per rank so that
    the summary covers several shots; lengths are counted in whole 0.1 s units, rounded up,
    and the budget rounded down, so the total length never exceeds the budget.
    ``Segment.score`` is the mean importance over the piece (0..1).
    """
    times = np.asarray(times_s, dtype=np.float64)
    scores = np.asarray(importance, dtype=np.float64)
    budget_s = max(0.0, ratio * duration_s)
    pieces: list[tuple[float, float, int]] = []
    values: list[float] = []  # summed importance of each piece
    worth: list[float] = []  # what the knapsack maximises: values with the same-shot decay
    for shot in shots:
        segments = np.asarray(split_shot(shot)).reshape(-1, 2)  # (P, 2)
        if len(segments) == 0:
            continue
        cells = sample_cells(shot, times)  # (n, 2)
        overlap = np.clip(np.minimum(segments[:, None, 1], cells[None, :, 1])
                          - np.maximum(segments[:, None, 0], cells[None, :, 0]),
                          0.0, None)  # (P, n) seconds of each sample's stretch in each piece
        values.extend((overlap @ scores[shot.sample_indices]).tolist())
        shot_values = np.asarray(values[len(values) - len(segments):])
        ranks = np.empty(len(segments), dtype=np.int64)
        ranks[np.argsort(-shot_values, kind="stable")] = np.arange(len(segments))
        worth.extend((shot_values * SAME_SHOT_DECAY ** ranks).tolist())
        pieces.extend((float(a), float(b), shot.index) for a, b in segments)
    if not pieces or budget_s <= 0:
        return []
    unit_s = max(KNAPSACK_UNIT_S, budget_s * len(pieces) / _MAX_DP_CELLS)
    capacity = math.floor(budget_s / unit_s + 1e-9)
    weights = np.array([math.ceil((end - start) / unit_s - 1e-9) for start, end, _ in pieces])
    chosen = knapsack(np.asarray(worth), weights, capacity)
    return [Segment(start_s=pieces[i][0], end_s=pieces[i][1], shot_index=pieces[i][2],
                    score=float(np.clip(values[i] / (pieces[i][1] - pieces[i][0]), 0.0, 1.0)))
            for i in chosen]
