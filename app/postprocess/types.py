"""The analysis options and the plain dataclasses it returns.

Everything here is JSON-friendly through ``dataclasses.asdict``: Python floats, ints, strings
and lists only, never numpy scalars, so a cached result serialises the same as a fresh one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.errors import InvalidOption
from app.postprocess.zero_shot import CustomLabel


@dataclass(frozen=True)
class ReadoutOptions:
    """What a caller may choose about the analysis (the model outputs are fixed).

    ``num_keyframes=None`` asks for one keyframe per shot, capped at ``max_keyframes``; an
    explicit ``num_keyframes`` is honoured up to the number of samples (``max_keyframes`` caps
    only the automatic count, so the API's own limit decides for explicit requests).
    ``min_shot_s`` merges shots shorter than this into a neighbour (0 keeps every shot).
    """

    top_k: int = 5
    min_confidence: float = 0.05
    boundary_threshold: float = 0.5
    summary_ratio: float = 0.15
    num_keyframes: int | None = None
    max_keyframes: int = 32
    include_frames: bool = False
    min_shot_s: float = 0.0

    def __post_init__(self) -> None:
        problems = []
        if self.top_k < 1:
            problems.append(f"top_k must be at least 1, got {self.top_k}")
        if not 0.0 <= self.min_confidence <= 1.0:
            problems.append(f"min_confidence must be in 0..1, got {self.min_confidence}")
        if not 0.0 < self.boundary_threshold <= 1.0:
            problems.append(f"boundary_threshold must be in (0, 1], got {self.boundary_threshold}")
        if not 0.0 <= self.summary_ratio <= 1.0:
            problems.append(f"summary_ratio must be in 0..1, got {self.summary_ratio}")
        if self.num_keyframes is not None and self.num_keyframes < 0:
            problems.append(f"num_keyframes must be 0 or more, got {self.num_keyframes}")
        if self.max_keyframes < 0:
            problems.append(f"max_keyframes must be 0 or more, got {self.max_keyframes}")
        if self.min_shot_s < 0.0:
            problems.append(f"min_shot_s must be 0 or more, got {self.min_shot_s}")
        if problems:
            raise InvalidOption("Invalid analysis option(s): " + "; ".join(problems) + ".")


@dataclass
class ParentLabel:
    label: str
    score: float  # 0..1, at least the child's: the sum over the category's classes


@dataclass
class Label:
    label: str
    class_id: int  # -1 for a category (``kind == "category"``)
    score: float  # 0..1
    kind: str = "class"  # "class" (one of the CNN's classes) or "category" (a group of them)
    parent: ParentLabel | None = None


@dataclass
class Boundary:
    """A shot transition between sample ``index`` and ``index + 1``, placed at ``time_s``."""

    time_s: float
    index: int
    score: float  # the boundary probability at the peak, 0..1
    # Proposed by a keyframe, not by the model: kept only if the gap's frames confirm it.
    needs_check: bool = False


@dataclass
class Shot:
    index: int
    start_s: float
    end_s: float
    sample_indices: list[int]
    labels: list[Label] = field(default_factory=list)
    custom_labels: list[CustomLabel] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass
class FrameLabels:
    time_s: float
    labels: list[Label]


@dataclass
class ImportancePoint:
    time_s: float
    score: float  # 0..1


@dataclass
class Keyframe:
    time_s: float
    sample_index: int
    shot_index: int
    score: float  # the sample's importance, 0..1


@dataclass
class Segment:
    """A highlight segment; ``score`` is the mean importance over it (0..1)."""

    start_s: float
    end_s: float
    score: float
    shot_index: int


@dataclass
class VideoReadout:
    video_labels: list[Label]
    shots: list[Shot]
    frames: list[FrameLabels]  # empty unless ReadoutOptions.include_frames
    importance: list[ImportancePoint]
    keyframes: list[Keyframe]
    highlights: list[Segment]
    highlight_duration_s: float
    budget_s: float
    # The caller's own labels for the whole video, best first (empty when none were given).
    custom_video_labels: list[CustomLabel] = field(default_factory=list)
    # The video's best classes whatever their score: what to show when ``video_labels`` is
    # empty because nothing reached min_confidence.
    video_guesses: list[Label] = field(default_factory=list)
