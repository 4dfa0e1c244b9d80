"""Turning one video's model outputs into answers (pure numpy, no torch).

Inputs per video: sample times, per-frame class probabilities, frame features, the boundary
head's P(transition in gap i), and the attention each sample receives. Outputs: shots, labels
at frame / shot / video level, an importance curve, keyframes and highlight segments
(``analyse``). The steps are importable one by one for notebooks and evaluation.
"""

from app.model.analysis.boundaries import (
    find_boundaries,
    merge_short_shots,
    refine_boundary,
    refined_times,
    refinement_windows,
    shots_from_boundaries,
)
from app.model.analysis.highlights import knapsack, select_highlights
from app.model.analysis.importance import importance_scores
from app.model.analysis.keyframes import select_keyframes
from app.model.analysis.labels import aggregate_labels, frame_labels
from app.model.analysis.pipeline import analyse
from app.model.analysis.types import (
    AnalysisOptions,
    Boundary,
    FrameLabels,
    ImportancePoint,
    Keyframe,
    Label,
    Segment,
    Shot,
    VideoAnalysis,
)

__all__ = [
    "AnalysisOptions", "Boundary", "FrameLabels", "ImportancePoint", "Keyframe", "Label",
    "Segment", "Shot", "VideoAnalysis", "aggregate_labels", "analyse", "find_boundaries",
    "frame_labels", "importance_scores", "knapsack", "merge_short_shots", "refine_boundary",
    "refined_times", "refinement_windows", "select_highlights", "select_keyframes",
    "shots_from_boundaries",
]
