"""Shot boundaries: peaks of the boundary head, refinement inside a gap, and shots from them."""

from __future__ import annotations

import numpy as np

from app.postprocess.transitions import GapEvidence, classify_gap
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
# Keyframes that become candidates, at most: a stream with irregular keyframes everywhere must
# not crowd the model's own candidates out of the windows that get decoded.
MAX_KEYFRAME_CANDIDATES = 32
# Keyframe intervals within this of the typical one (or 5% of it) are on the encoder's cadence;
# when this share of them is, the stream has a fixed cadence.
CADENCE_TOLERANCE_S = 0.05
FIXED_CADENCE_SHARE = 0.8

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


def boundary_candidates(times_s: np.ndarray, boundary_prob: np.ndarray, threshold: float,
                        keyframe_times_s: np.ndarray | None = None
                        ) -> tuple[list[Boundary], list[tuple[int, Window]]]:
    """Every peak of the boundary head at or above ``threshold`` (no suppression: a short shot
    puts two cuts in neighbouring gaps), plus a candidate in each other gap that holds a keyframe
    the encoder put at a scene change (``scene_change_keyframes``), and the gaps to decode to
    check them. The pipeline and the evaluation both start here, then decode the windows and
    call ``verified_boundaries``."""
    times = np.asarray(times_s, dtype=np.float64)
    candidates = find_boundaries(times, boundary_prob, threshold, nms_radius=0)
    if keyframe_times_s is not None and len(times) > 1:
        taken = {b.index for b in candidates}
        probs = np.asarray(boundary_prob, dtype=np.float64)
        for key_s in scene_change_keyframes(keyframe_times_s)[:MAX_KEYFRAME_CANDIDATES]:
            gap = int(np.searchsorted(times, key_s, side="left")) - 1  # times[gap] < key <=
            if 0 <= gap < len(times) - 1 and gap not in taken:
                taken.add(gap)
                candidates.append(Boundary(time_s=float((times[gap] + times[gap + 1]) / 2.0),
                                           index=gap, score=float(probs[gap]),
                                           needs_check=True))
        candidates.sort(key=lambda b: b.index)
    return candidates, refinement_windows(times, candidates)


def scene_change_keyframes(keyframe_times_s: np.ndarray) -> np.ndarray:
    """The keyframes an encoder put at scene changes (x264's ``scenecut``), found almost for free
    in the packet index. A stream with a fixed keyframe cadence (most intervals equal) has its
    cadence's keyframes left out, since they fall wherever the clock says; the first keyframe
    starts the video and is never one."""
    keys = np.unique(np.asarray(keyframe_times_s, dtype=np.float64))
    if len(keys) < 2:
        return np.zeros(0)
    intervals = np.diff(keys)
    typical = float(np.median(intervals))
    on_cadence = np.abs(intervals - typical) <= max(CADENCE_TOLERANCE_S, 0.05 * typical)
    if len(intervals) >= 3 and on_cadence.mean() >= FIXED_CADENCE_SHARE:
        return keys[1:][~on_cadence]
    return keys[1:]


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


def verified_boundaries(times_s: np.ndarray, candidates: list[Boundary],
                        windows: list[tuple[int, Window]],
                        strips: list[tuple[np.ndarray, np.ndarray]]) -> list[Boundary]:
    """The candidates that their gap's frames confirm, placed where the change happens.

    ``candidates`` come from ``find_boundaries`` with ``nms_radius=0`` (every peak), ``windows``
    from ``refinement_windows`` and ``strips`` (every frame in each window, small and gray)
    from the decoder. A gap that holds a cut keeps its boundary at the cut, one with a gradual
    transition keeps it in the middle of the change, and one with only camera motion (a pan, a
    zoom, a flash, something passing the lens) loses it (``transitions.classify_gap``). A
    gradual transition longer than a gap lights up neighbouring gaps: they become one boundary.
    The model's candidates that could not be checked (a strip of fewer than three frames, a gap
    too short to decode, past ``MAX_BOUNDARIES_TO_REFINE``) stay in the middle of their gap,
    thinned by non-maximum suppression against their neighbours as before verification
    existed; a keyframe's candidate that could not be checked goes.

    A gap may hold two cuts (a shot shorter than the gap); it still gives one boundary, at the
    stronger cut, because a shot needs a sample of its own for its labels.
    """
    evidence: dict[int, GapEvidence] = {}
    for (position, _), (gap_times, gap_frames) in zip(windows, strips, strict=True):
        if len(gap_times) >= 3:
            evidence[position] = classify_gap(gap_times, gap_frames)
    kept: list[tuple[Boundary, str]] = []
    for position, boundary in enumerate(candidates):
        found = evidence.get(position)
        if found is None:
            if not boundary.needs_check:
                kept.append((boundary, "unverified"))
        elif found.kind != "motion":
            kept.append((Boundary(time_s=found.times_s[0], index=boundary.index,
                                  score=boundary.score, needs_check=boundary.needs_check),
                         found.kind))
    return _merge_neighbours(np.asarray(times_s, dtype=np.float64), kept)


def _merge_neighbours(times: np.ndarray, kept: list[tuple[Boundary, str]]) -> list[Boundary]:
    """Boundaries in neighbouring gaps: two cuts stay two (a short shot between them); a
    gradual transition spread over both becomes one, in the middle; an unverified one next to
    a stronger boundary goes (the non-maximum suppression of the 2 fps peaks)."""
    out: list[tuple[Boundary, str]] = []
    for boundary, kind in sorted(kept, key=lambda item: item[0].index):
        if out and boundary.index == out[-1][0].index + 1:
            previous, previous_kind = out[-1]
            if kind == previous_kind == "gradual":
                middle = (previous.time_s + boundary.time_s) / 2.0
                index = previous.index if middle <= times[previous.index + 1] else boundary.index
                out[-1] = (Boundary(time_s=middle, index=index,
                                    score=max(previous.score, boundary.score)), "gradual")
                continue
            if "unverified" in (kind, previous_kind):
                if boundary.score > previous.score:
                    out[-1] = (boundary, kind)
                continue
        out.append((boundary, kind))
    return [boundary for boundary, _ in out]


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
