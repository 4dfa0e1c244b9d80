"""The one small interface in front of a vector engine: what the library stores and asks.

Vectors are kept per model version (``space``): a vector of one model is never compared with
another's. Calls are synchronous (the engines' own clients are); ``Library`` runs them in a
thread under a deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

Column = Literal["text", "visual"]


@dataclass(frozen=True)
class ShotRow:
    video_id: str
    shot_index: int
    start_s: float
    end_s: float
    keyframe_s: float
    labels: list[str]  # the shot's top labels, best first
    text: np.ndarray  # (d,) unit vector in the text encoder's space
    visual: np.ndarray  # (D,) unit vector of the shot's frame features


@dataclass(frozen=True)
class CueRow:
    """A subtitle cue: what is said from ``start_s`` to ``end_s``, in the shot it starts in."""

    video_id: str
    cue_index: int
    shot_index: int
    start_s: float
    end_s: float
    text: str
    language: str | None
    vector: np.ndarray  # (d,) unit vector of the text, in the text encoder's space


@dataclass(frozen=True)
class VideoRow:
    video_id: str
    space: str  # the model version whose vectors the shots hold
    created_at: float
    record: str  # JSON: the analysis and metadata GET /v1/videos/{id} answers


@dataclass(frozen=True)
class ShotHit:
    video_id: str
    shot_index: int
    start_s: float
    end_s: float
    labels: list[str]
    similarity: float  # cosine, -1..1


@dataclass(frozen=True)
class CueHit:
    video_id: str
    shot_index: int
    start_s: float
    end_s: float
    text: str
    similarity: float


class VectorEngine(Protocol):
    def put_video(self, namespace: str, video: VideoRow, shots: list[ShotRow],
                  cues: list[CueRow]) -> None:
        """Store a video, its shots and its cues, replacing what the id held before."""

    def get_video(self, namespace: str, video_id: str) -> VideoRow | None: ...

    def list_videos(self, namespace: str, limit: int, offset: int) -> tuple[list[VideoRow], int]:
        """A page of videos, newest first, and how many there are."""

    def delete_video(self, namespace: str, video_id: str) -> bool:
        """Remove the video and every vector of it; False when there was none."""

    def search(self, namespace: str, space: str, column: Column, vector: np.ndarray,
               limit: int, video_ids: list[str] | None = None) -> list[ShotHit]:
        """The ``limit`` shots nearest to ``vector``, most similar first."""

    def search_cues(self, namespace: str, space: str, vector: np.ndarray, limit: int,
                    video_ids: list[str] | None = None) -> list[CueHit]:
        """The ``limit`` cues nearest to ``vector``, most similar first."""

    def shot_vectors(self, namespace: str, space: str, video_id: str, column: Column
                     ) -> list[tuple[ShotRow, np.ndarray]]:
        """A stored video's shots (by index) with their vectors of ``column``."""

    def needs_maintenance(self) -> bool:
        """Whether enough has been written since the last ``maintain``."""

    def maintain(self) -> list[str]:
        """Compaction and index upkeep, outside any request (slow); says what it did."""

    def close(self) -> None: ...
