"""Shot boundaries: peaks of the boundary head, refinement inside a gap, and shots from them."""

from __future__ import annotations

import numpy as np

from app.postprocess.types import Boundary, Shot

# A difference counts as "elevated" when it rises above the quietest difference by at least this
# share of the peak's rise. Half separates a dissolve's plateau of moderate differences from
# ordinary motion, while a hard cut stays a single elevated difference.
_ELEVATED_SHARE = 0.5
# If the largest difference rises above the quietest by less than this share of itself, nothing
# stands out (a static shot, a steady pan, a dissolve longer than the gap): no place in the gap
# is better than its middle.
_MIN_CONTRAST = 0.2
# A gap shorter than this is already precise enough; refining it would cost a decode for nothing.
MIN_GAP_TO_REFINE_S = 0.2
MAX_BOUNDARIES_TO_REFINE = 64

Window = tuple[float, float]


def find_boundaries(times_s: np.ndarray, boundary_prob: np.ndarray, threshold: float,
                    *, nms_radius: int = 1) -> list[Boundary]:
    """Gaps whose transition probability is a local peak at or above ``threshold``.

    ``boundary_prob[i]`` is P(a transition lies between sample i and i+1); the last entry has
    no gap and is ignored. Greedy non-maximum suppression keeps the strongest gap and drops
    candidates within ``nms_radius`` gaps of a kept one (ties go to the earlier gap), because
    a gradual transition lights up neighbouring gaps and is still one boundary; a run of equal
    probabilities therefore keeps every other gap. ``nms_radius=0`` keeps every candidate.
    The boundary is placed in the middle of its gap; results are in time order.
    """
    times = np.asarray(times_s, dtype=np.float64)
    probs = np.clip(np.asarray(boundary_prob, dtype=np.float64), 0.0, 1.0)
    if times.shape != probs.shape or times.ndim != 1:
        raise ValueError(f"times_s {times.shape} and boundary_prob {probs.shape} must be "
                         "the same 1-d shape")
    num_gaps = len(times) - 1
    if num_gaps <= 0:
        return []
    gap_probs = probs[:num_gaps]
    candidates = np.flatnonzero(gap_probs >= threshold)
    # Stable sort: among equal probabilities the earlier gap wins.
    order = candidates[np.argsort(-gap_probs[candidates], kind="stable")]
    suppressed = np.zeros(num_gaps, dtype=bool)
    kept: list[int] = []
    for i in order.tolist():
        if suppressed[i]:
            continue
        kept.append(i)
        suppressed[max(0, i - nms_radius): i + nms_radius + 1] = True
    return [Boundary(time_s=float((times[i] + times[i + 1]) / 2.0), index=i,
                     score=float(gap_probs[i])) for i in sorted(kept)]


def refinement_windows(times_s: np.ndarray, boundaries: list[Boundary]
                       ) -> list[tuple[int, Window]]:
    """``(position in boundaries, (start_s, end_s))`` of each boundary worth refining: the gap
    between its two samples, when that gap is long enough, for the first
    ``MAX_BOUNDARIES_TO_REFINE`` boundaries."""
    windows = []
    for position, boundary in enumerate(boundaries[:MAX_BOUNDARIES_TO_REFINE]):
        i = boundary.index
        if i + 1 < len(times_s) and times_s[i + 1] - times_s[i] >= MIN_GAP_TO_REFINE_S:
            windows.append((position, (float(times_s[i]), float(times_s[i + 1]))))
    return windows


def refined_times(boundaries: list[Boundary], windows: list[tuple[int, Window]],
                  strips: list[tuple[np.ndarray, np.ndarray]]) -> list[float]:
    """Every boundary's time: refined from its window's gray strip ``(times_s, frames)``
    where the strip has two frames or more, else the middle of its gap."""
    times = [b.time_s for b in boundaries]
    for (position, _), (gap_times, gap_frames) in zip(windows, strips, strict=True):
        if len(gap_times) >= 2:
            times[position] = refine_boundary(gap_times, gap_frames)
    return times


def refine_boundary(gap_times_s: np.ndarray, gap_frames_gray: np.ndarray) -> float:
    """The time of the transition inside a gap, from every frame decoded in it (small, gray).

    Differences between consecutive frames (mean absolute difference) are measured against the
    quietest one. A difference is elevated when it rises at least half as far above the
    quietest as the largest does. If the largest difference stands alone it is a hard cut: the
    new shot starts at the frame after it, reported as the midpoint between the two frames'
    times. If its neighbours are elevated too (a dissolve or fade spreads the change over many
    frames), the answer is the middle of that elevated span. When nothing stands out (no change
    at all, or a strip that changes evenly throughout), the middle of the gap.
    """
    times = np.asarray(gap_times_s, dtype=np.float64)
    frames = np.asarray(gap_frames_gray, dtype=np.float32)
    if times.ndim != 1 or len(times) == 0 or len(frames) != len(times):
        raise ValueError(f"need one frame per time, got {len(frames)} frames for times "
                         f"{times.shape}")
    if len(times) == 1:
        return float(times[0])
    flat = frames.reshape(len(frames), -1)
    diffs = np.abs(np.diff(flat, axis=0)).mean(axis=1)  # (N-1,): change from frame k to k+1
    peak = int(np.argmax(diffs))
    quietest = float(diffs.min())
    if len(diffs) > 1 and float(diffs[peak]) - quietest <= _MIN_CONTRAST * float(diffs[peak]):
        return float((times[0] + times[-1]) / 2.0)
    elevated = diffs - quietest >= _ELEVATED_SHARE * (float(diffs[peak]) - quietest)
    first = last = peak
    while first > 0 and elevated[first - 1]:
        first -= 1
    while last < len(diffs) - 1 and elevated[last + 1]:
        last += 1
    # Difference k lies between frames k and k+1, so the span covers frames first..last+1.
    return float((times[first] + times[last + 1]) / 2.0)


def merge_short_shots(boundaries: list[Boundary], duration_s: float,
                      min_shot_s: float) -> list[Boundary]:
    """Drop boundaries until no shot is shorter than ``min_shot_s`` (or one shot is left).

    The shortest offending shot goes first; of its two boundaries the weaker one is dropped,
    since that is the likelier false positive.
    """
    kept = sorted(boundaries, key=lambda b: b.time_s)
    if min_shot_s <= 0.0:
        return kept
    while kept:
        edges = [0.0, *(b.time_s for b in kept), max(duration_s, kept[-1].time_s)]
        lengths = np.diff(np.asarray(edges))
        shortest = int(np.argmin(lengths))
        if lengths[shortest] >= min_shot_s:
            break
        if shortest == 0:
            drop = 0
        elif shortest == len(kept):
            drop = len(kept) - 1
        else:
            left, right = kept[shortest - 1], kept[shortest]
            drop = shortest - 1 if left.score < right.score else shortest
        del kept[drop]
    return kept


def shots_from_boundaries(boundaries: list[Boundary], duration_s: float,
                          num_samples: int) -> list[Shot]:
    """Shots between consecutive boundaries, covering 0..duration_s and samples 0..N-1.

    A boundary at gap i ends its shot with sample i; the next shot starts with sample i+1.
    The last shot ends at ``duration_s``, or at the last boundary if the container's duration
    is shorter (a duration of 0 yields empty time spans but still one shot per sample group).
    """
    ordered = sorted(boundaries, key=lambda b: b.index)
    if any(b.index < 0 or b.index >= num_samples - 1 for b in ordered):
        raise ValueError(f"boundary gap index outside 0..{num_samples - 2}")
    if len({b.index for b in ordered}) != len(ordered):
        raise ValueError("two boundaries in the same gap")
    end_s = max([float(duration_s), 0.0, *(b.time_s for b in ordered)])
    starts_s = [0.0, *(b.time_s for b in ordered)]
    ends_s = [*(b.time_s for b in ordered), end_s]
    first_samples = [0, *(b.index + 1 for b in ordered)]
    last_samples = [*(b.index for b in ordered), num_samples - 1]
    return [Shot(index=k, start_s=float(start), end_s=float(end),
                 sample_indices=list(range(lo, hi + 1)))
            for k, (start, end, lo, hi) in enumerate(
                zip(starts_s, ends_s, first_samples, last_samples, strict=True))]
