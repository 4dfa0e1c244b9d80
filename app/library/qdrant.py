"""The server engine: Qdrant, which shards and replicates a collection across machines.

Chosen with ``VIDEOBERT_VECTOR_URL=http://qdrant:6333``. The same code runs against
qdrant-client's local mode (``VIDEOBERT_VECTOR_URL=file:/path``), which the tests use at small
scale; Qdrant itself says local mode is for development and not beyond some 20k points, so
production points at a server. Collections mirror the embedded engine's tables: ``videos``
(records, no vectors), ``shots__<space>`` (named vectors ``text`` and ``visual``) and
``cues__<space>``. Point ids are UUIDs made from (namespace, video, index), so a re-put
replaces. Filters are Qdrant's structured conditions: no string a client typed is parsed.
"""

from __future__ import annotations

import threading
import uuid
import warnings
from typing import Any

import numpy as np

from app.library.engine import Column, CueHit, CueRow, ShotHit, ShotRow, VideoRow
from app.library.lance import CUES_PREFIX, SHOTS_PREFIX, space_table

VIDEOS = "videos"
_IDS = uuid.UUID("6c1f3f4e-0b5e-4d3a-9a57-5d0e1e3a2b10")  # namespace of our point ids
SCROLL_PAGE = 1000


def _point_id(*parts: object) -> str:
    return str(uuid.uuid5(_IDS, "/".join(str(p) for p in parts)))


class QdrantEngine:
    def __init__(self, location: str, timeout_s: float = 5.0) -> None:
        from qdrant_client import QdrantClient, models

        self._m = models
        if location.startswith("file:"):
            self._client = QdrantClient(path=location[len("file:"):])
        else:
            self._client = QdrantClient(url=location, timeout=max(1, int(timeout_s)))
        self._write = threading.Lock()
        if not self._client.collection_exists(VIDEOS):
            self._client.create_collection(VIDEOS, vectors_config={})
            self._keyword_index(VIDEOS, "namespace", "video_id")

    # -- helpers -----------------------------------------------------------------------------
    def _keyword_index(self, collection: str, *fields: str) -> None:
        with warnings.catch_warnings():  # local mode says payload indexes do nothing there
            warnings.simplefilter("ignore", UserWarning)
            for name in fields:
                self._client.create_payload_index(collection, name,
                                                  self._m.PayloadSchemaType.KEYWORD)

    def _filter(self, namespace: str, video_ids: list[str] | None = None) -> Any:
        m = self._m
        must = [m.FieldCondition(key="namespace", match=m.MatchValue(value=namespace))]
        if video_ids is not None:
            must.append(m.FieldCondition(key="video_id", match=m.MatchAny(any=video_ids)))
        return m.Filter(must=must)

    def _video_filter(self, namespace: str, video_id: str) -> Any:
        m = self._m
        return m.Filter(must=[
            m.FieldCondition(key="namespace", match=m.MatchValue(value=namespace)),
            m.FieldCondition(key="video_id", match=m.MatchValue(value=video_id))])

    def _vector_collections(self) -> list[str]:
        names = [c.name for c in self._client.get_collections().collections]
        return [n for n in names if n.startswith((SHOTS_PREFIX, CUES_PREFIX))]

    def _ensure(self, name: str, vectors: dict[str, int]) -> None:
        if self._client.collection_exists(name):
            return
        m = self._m
        self._client.create_collection(name, vectors_config={
            column: m.VectorParams(size=size, distance=m.Distance.COSINE)
            for column, size in vectors.items()})
        self._keyword_index(name, "namespace", "video_id")

    def _scroll(self, collection: str, flt: Any, vectors: list[str] | bool = False
                ) -> list[Any]:
        records: list[Any] = []
        offset = None
        while True:
            page, offset = self._client.scroll(collection, scroll_filter=flt, limit=SCROLL_PAGE,
                                               offset=offset, with_payload=True,
                                               with_vectors=vectors)
            records += page
            if offset is None:
                return records

    # -- writes ------------------------------------------------------------------------------
    def put_video(self, namespace: str, video: VideoRow, shots: list[ShotRow],
                  cues: list[CueRow]) -> None:
        m = self._m
        where = self._video_filter(namespace, video.video_id)
        with self._write:
            for name in self._vector_collections():
                self._client.delete(name, points_selector=m.FilterSelector(filter=where))
            if shots:
                name = space_table(video.space)
                self._ensure(name, {"text": len(shots[0].text), "visual": len(shots[0].visual)})
                self._client.upsert(name, [m.PointStruct(
                    id=_point_id(namespace, s.video_id, s.shot_index),
                    vector={"text": s.text.tolist(), "visual": s.visual.tolist()},
                    payload={"namespace": namespace, "video_id": s.video_id,
                             "shot_index": s.shot_index, "start_s": s.start_s,
                             "end_s": s.end_s, "keyframe_s": s.keyframe_s,
                             "labels": s.labels}) for s in shots])
            if cues:
                name = space_table(video.space, CUES_PREFIX)
                self._ensure(name, {"vector": len(cues[0].vector)})
                self._client.upsert(name, [m.PointStruct(
                    id=_point_id(namespace, c.video_id, "cue", c.cue_index),
                    vector={"vector": c.vector.tolist()},
                    payload={"namespace": namespace, "video_id": c.video_id,
                             "shot_index": c.shot_index, "start_s": c.start_s,
                             "end_s": c.end_s, "text": c.text, "language": c.language})
                    for c in cues])
            self._client.upsert(VIDEOS, [m.PointStruct(
                id=_point_id(namespace, video.video_id), vector={},
                payload={"namespace": namespace, "video_id": video.video_id,
                         "space": video.space, "created_at": video.created_at,
                         "record": video.record})])

    def delete_video(self, namespace: str, video_id: str) -> bool:
        m = self._m
        where = self._video_filter(namespace, video_id)
        with self._write:
            existed = self._client.count(VIDEOS, count_filter=where).count > 0
            # Vectors first, the record last (as in the embedded engine).
            for name in self._vector_collections():
                self._client.delete(name, points_selector=m.FilterSelector(filter=where))
            self._client.delete(VIDEOS, points_selector=m.FilterSelector(filter=where))
        return bool(existed)

    # -- reads -------------------------------------------------------------------------------
    def get_video(self, namespace: str, video_id: str) -> VideoRow | None:
        records = self._client.retrieve(VIDEOS, [_point_id(namespace, video_id)],
                                        with_payload=True)
        if not records:
            return None
        payload = records[0].payload or {}
        if payload.get("namespace") != namespace:  # never another namespace's, even by id
            return None
        return _video_row(payload)

    def list_videos(self, namespace: str, limit: int, offset: int) -> tuple[list[VideoRow], int]:
        rows = [_video_row(r.payload or {}) for r in self._scroll(VIDEOS,
                                                                  self._filter(namespace))]
        rows.sort(key=lambda r: (-r.created_at, r.video_id))
        return rows[offset:offset + limit], len(rows)

    def search(self, namespace: str, space: str, column: Column, vector: np.ndarray,
               limit: int, video_ids: list[str] | None = None) -> list[ShotHit]:
        return [ShotHit(video_id=p["video_id"], shot_index=int(p["shot_index"]),
                        start_s=float(p["start_s"]), end_s=float(p["end_s"]),
                        labels=list(p.get("labels") or []), similarity=score)
                for p, score in self._nearest(space_table(space), column, vector, limit,
                                              namespace, video_ids)]

    def search_cues(self, namespace: str, space: str, vector: np.ndarray, limit: int,
                    video_ids: list[str] | None = None) -> list[CueHit]:
        return [CueHit(video_id=p["video_id"], shot_index=int(p["shot_index"]),
                       start_s=float(p["start_s"]), end_s=float(p["end_s"]),
                       text=str(p["text"]), similarity=score)
                for p, score in self._nearest(space_table(space, CUES_PREFIX), "vector",
                                              vector, limit, namespace, video_ids)]

    def _nearest(self, name: str, using: str, vector: np.ndarray, limit: int, namespace: str,
                 video_ids: list[str] | None) -> list[tuple[dict[str, Any], float]]:
        """(payload, cosine) of the ``limit`` points of ``name`` nearest to ``vector``, in the
        namespace (and the videos) asked."""
        if (video_ids is not None and not video_ids) or not self._client.collection_exists(name):
            return []
        found = self._client.query_points(name, query=np.asarray(vector, np.float32).tolist(),
                                          using=using, query_filter=self._filter(
                                              namespace, video_ids), limit=limit,
                                          with_payload=True).points
        return [(p.payload, float(p.score)) for p in found if p.payload is not None]

    def shot_vectors(self, namespace: str, space: str, video_id: str, column: Column
                     ) -> list[tuple[ShotRow, np.ndarray]]:
        name = space_table(space)
        if not self._client.collection_exists(name):
            return []
        out = []
        for r in self._scroll(name, self._video_filter(namespace, video_id), ["text", "visual"]):
            p, v = r.payload or {}, r.vector or {}
            text = np.asarray(v["text"], np.float32)
            visual = np.asarray(v["visual"], np.float32)
            shot = ShotRow(video_id=p["video_id"], shot_index=int(p["shot_index"]),
                           start_s=float(p["start_s"]), end_s=float(p["end_s"]),
                           keyframe_s=float(p["keyframe_s"]), labels=list(p.get("labels") or []),
                           text=text, visual=visual)
            out.append((shot, text if column == "text" else visual))
        return sorted(out, key=lambda pair: pair[0].shot_index)

    def needs_maintenance(self) -> bool:
        return False  # the server builds and compacts its own indexes

    def maintain(self) -> list[str]:
        return []

    def close(self) -> None:
        self._client.close()


def _video_row(payload: dict[str, Any]) -> VideoRow:
    return VideoRow(video_id=payload["video_id"], space=payload["space"],
                    created_at=float(payload["created_at"]), record=payload["record"])
