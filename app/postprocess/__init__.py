"""Turning one video's model outputs into answers (pure numpy, no torch).

Inputs per video: sample times, per-frame class probabilities, frame features, the boundary
head's P(transition in gap i), and the attention each sample receives. Outputs: shots, labels
at frame / shot / video level, an importance curve, keyframes and highlight segments
(``read_out``). The steps are importable one by one for notebooks and evaluation.
"""

from app.postprocess.boundaries import (
    boundary_candidates,
    find_boundaries,
    merge_short_shots,
    refine_boundary,
    refinement_windows,
    shots_from_boundaries,
    verified_boundaries,
)
from app.postprocess.highlights import knapsack, select_highlights
from app.postprocess.importance import importance_scores
from app.postprocess.keyframes import select_keyframes
from app.postprocess.labels import aggregate_labels, frame_labels
from app.postprocess.readout import read_out
from app.postprocess.types import (
    Boundary,
    FrameLabels,
    ImportancePoint,
    Keyframe,
    Label,
    ReadoutOptions,
    Segment,
    Shot,
    VideoReadout,
)

__all__ = [
    "Boundary", "FrameLabels", "ImportancePoint", "Keyframe", "Label", "ReadoutOptions",
    "Segment", "Shot", "VideoReadout", "aggregate_labels", "boundary_candidates",
    "find_boundaries", "frame_labels", "importance_scores", "knapsack", "merge_short_shots",
    "read_out", "refine_boundary", "refinement_windows", "select_highlights",
    "select_keyframes", "shots_from_boundaries", "verified_boundaries",
]
