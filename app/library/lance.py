"""The embedded default engine: LanceDB tables in a folder on local disk, no server to run.

One ``videos`` table (the records GET /v1/videos answers) and one ``shots__<space>`` table per
model version, each with a text and a visual vector column. The folder survives restarts.
LanceDB commits each write as a new table version with an atomic rename, but this service opens
the folder from one process only: the API (``videobert worker`` processes never index; see
docs/library.md), and writes go through one lock.

Filters are strings in LanceDB: only ids checked against a strict pattern are put in them,
never text a client chose.
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from app.library.engine import Column, CueHit, CueRow, ShotHit, ShotRow, VideoRow
from app.library.ids import is_video_id

_NAME = re.compile(r"^[a-z0-9]{1,64}$")
_SPACE = re.compile(r"[^a-z0-9]+")
VIDEOS = "videos"
SHOTS_PREFIX = "shots__"
CUES_PREFIX = "cues__"
# A table gathers one fragment per write; compacting now and then keeps scans fast.
OPTIMIZE_EVERY_WRITES = 64
# Under this many rows an exact scan is fast enough (bench/library_scale.py); from it on,
# ``maintain`` gives each vector column an IVF index (exact distances within the partitions
# searched, so recall depends on NPROBES alone; no quantisation).
ANN_MIN_ROWS = 20_000
NPROBES = 10


def space_table(space: str, prefix: str = SHOTS_PREFIX) -> str:
    return prefix + _SPACE.sub("_", space.lower()).strip("_")


def _quoted(value: str, *, video: bool = False) -> str:
    if not (is_video_id(value) if video else _NAME.match(value)):
        raise ValueError(f"refusing to put {value!r} in a filter")
    return f"'{value}'"


class LanceEngine:
    def __init__(self, folder: Path) -> None:
        import lancedb  # here: 1.5 s of imports that the CLI and the workers never need
        import pyarrow as pa

        self._pa = pa
        folder.mkdir(parents=True, exist_ok=True)
        self._db = lancedb.connect(str(folder))
        self._write = threading.Lock()
        self._writes = 0
        self._videos = self._open_or_create(VIDEOS, pa.schema([
            ("namespace", pa.string()), ("video_id", pa.string()), ("space", pa.string()),
            ("created_at", pa.float64()), ("record", pa.large_string())]))

    # -- tables ------------------------------------------------------------------------------
    def _table_names(self) -> list[str]:
        listed: Any = self._db.list_tables(limit=10_000)
        return [str(name) for name in getattr(listed, "tables", listed)]

    def _open_or_create(self, name: str, schema: Any) -> Any:
        if name in self._table_names():
            return self._db.open_table(name)
        return self._db.create_table(name, schema=schema, exist_ok=True)

    def _shots_schema(self, text_dim: int, visual_dim: int) -> Any:
        pa = self._pa
        return pa.schema([
            ("namespace", pa.string()), ("video_id", pa.string()), ("shot_index", pa.int32()),
            ("start_s", pa.float64()), ("end_s", pa.float64()), ("keyframe_s", pa.float64()),
            ("labels", pa.list_(pa.string())),
            ("text", pa.list_(pa.float32(), text_dim)),
            ("visual", pa.list_(pa.float32(), visual_dim))])

    def _cues_schema(self, dim: int) -> Any:
        pa = self._pa
        return pa.schema([
            ("namespace", pa.string()), ("video_id", pa.string()), ("cue_index", pa.int32()),
            ("shot_index", pa.int32()), ("start_s", pa.float64()), ("end_s", pa.float64()),
            ("text", pa.string()), ("language", pa.string()),
            ("vector", pa.list_(pa.float32(), dim))])

    def _vector_tables(self) -> list[Any]:
        """Every table that holds vectors of a video (shots and cues, of every model)."""
        return [self._db.open_table(n) for n in self._table_names()
                if n.startswith((SHOTS_PREFIX, CUES_PREFIX))]

    def _shots(self, space: str, prefix: str = SHOTS_PREFIX) -> Any | None:
        name = space_table(space, prefix)
        return self._db.open_table(name) if name in self._table_names() else None

    # -- writes ------------------------------------------------------------------------------
    def put_video(self, namespace: str, video: VideoRow, shots: list[ShotRow],
                  cues: list[CueRow]) -> None:
        where = (f"namespace = {_quoted(namespace)} AND "
                 f"video_id = {_quoted(video.video_id, video=True)}")
        with self._write:
            for table in self._vector_tables():  # an older model's vectors of it go too
                table.delete(where)
            if shots:
                schema = self._shots_schema(len(shots[0].text), len(shots[0].visual))
                table = self._open_or_create(space_table(video.space), schema)
                table.add(self._shot_batch(namespace, shots, schema))
            if cues:
                schema = self._cues_schema(len(cues[0].vector))
                table = self._open_or_create(space_table(video.space, CUES_PREFIX), schema)
                table.add(self._cue_batch(namespace, cues, schema))
            self._videos.delete(where)
            self._videos.add([{"namespace": namespace, "video_id": video.video_id,
                               "space": video.space, "created_at": video.created_at,
                               "record": video.record}])
            self._wrote()

    def delete_video(self, namespace: str, video_id: str) -> bool:
        where = f"namespace = {_quoted(namespace)} AND video_id = {_quoted(video_id, video=True)}"
        with self._write:
            existed = int(self._videos.count_rows(where)) > 0
            # The video's record last: a crash in between leaves a record whose delete can be
            # retried, never vectors that no record points at.
            for table in self._vector_tables():
                table.delete(where)
            self._videos.delete(where)
            self._wrote()
        return existed

    def _vectors(self, rows: list[np.ndarray]) -> Any:
        flat = np.ascontiguousarray(np.stack(rows), dtype=np.float32)
        return self._pa.FixedSizeListArray.from_arrays(self._pa.array(flat.ravel()),
                                                       flat.shape[1])

    def _cue_batch(self, namespace: str, cues: list[CueRow], schema: Any) -> Any:
        pa = self._pa
        return pa.Table.from_arrays([
            pa.array([namespace] * len(cues)), pa.array([c.video_id for c in cues]),
            pa.array([c.cue_index for c in cues], pa.int32()),
            pa.array([c.shot_index for c in cues], pa.int32()),
            pa.array([c.start_s for c in cues], pa.float64()),
            pa.array([c.end_s for c in cues], pa.float64()),
            pa.array([c.text for c in cues], pa.string()),
            pa.array([c.language for c in cues], pa.string()),
            self._vectors([c.vector for c in cues])], schema=schema)

    def _shot_batch(self, namespace: str, shots: list[ShotRow], schema: Any) -> Any:
        pa = self._pa
        vectors = self._vectors
        return pa.Table.from_arrays([
            pa.array([namespace] * len(shots)), pa.array([s.video_id for s in shots]),
            pa.array([s.shot_index for s in shots], pa.int32()),
            pa.array([s.start_s for s in shots], pa.float64()),
            pa.array([s.end_s for s in shots], pa.float64()),
            pa.array([s.keyframe_s for s in shots], pa.float64()),
            pa.array([s.labels for s in shots], pa.list_(pa.string())),
            vectors([s.text for s in shots]), vectors([s.visual for s in shots])],
            schema=schema)

    def _wrote(self) -> None:
        self._writes += 1

    def needs_maintenance(self) -> bool:
        return self._writes >= OPTIMIZE_EVERY_WRITES

    def maintain(self) -> list[str]:
        """Compact the tables and fold new rows into their indexes; index a vector column
        once its table reaches ANN_MIN_ROWS. Slow (seconds to a minute at 100k rows): the
        library runs it in the background, never inside a request's deadline. Returns what
        it did. Writes go on meanwhile (Lance commits each as a new version)."""
        self._writes = 0
        done = []
        for table in [self._videos, *self._vector_tables()]:
            name = table.name
            indexed = {col for index in table.list_indices() for col in index.columns}
            columns = ["text", "visual"] if name.startswith(SHOTS_PREFIX) else (
                ["vector"] if name.startswith(CUES_PREFIX) else [])
            rows = int(table.count_rows())
            for column in columns:
                if column not in indexed and rows >= ANN_MIN_ROWS:
                    table.create_index(column, config=self._ivf())
                    done.append(f"indexed {name}.{column} ({rows} rows)")
            if "namespace" not in indexed and rows:
                table.create_index("namespace", config=self._bitmap())
            table.optimize(cleanup_older_than=timedelta(hours=1))
            done.append(f"optimized {name}")
        return done

    @staticmethod
    def _ivf() -> Any:
        from lancedb.index import IvfFlat

        return IvfFlat(distance_type="cosine")

    @staticmethod
    def _bitmap() -> Any:
        from lancedb.index import Bitmap

        return Bitmap()

    # -- reads -------------------------------------------------------------------------------
    def get_video(self, namespace: str, video_id: str) -> VideoRow | None:
        where = f"namespace = {_quoted(namespace)} AND video_id = {_quoted(video_id, video=True)}"
        rows = self._videos.search().where(where).limit(1).to_list()
        return _video_row(rows[0]) if rows else None

    def list_videos(self, namespace: str, limit: int, offset: int) -> tuple[list[VideoRow], int]:
        where = f"namespace = {_quoted(namespace)}"
        keys = self._videos.search().where(where).select(["video_id", "created_at"]).limit(
            None).to_arrow().to_pylist()
        keys.sort(key=lambda r: (-r["created_at"], r["video_id"]))
        page = [k["video_id"] for k in keys[offset:offset + limit]]
        if not page:
            return [], len(keys)
        ids = ", ".join(_quoted(v, video=True) for v in page)
        rows = self._videos.search().where(f"{where} AND video_id IN ({ids})").limit(
            len(page)).to_list()
        by_id = {r["video_id"]: _video_row(r) for r in rows}
        return [by_id[v] for v in page if v in by_id], len(keys)

    def search(self, namespace: str, space: str, column: Column, vector: np.ndarray,
               limit: int, video_ids: list[str] | None = None) -> list[ShotHit]:
        rows = self._nearest(self._shots(space), column, vector, limit, namespace, video_ids,
                             ["shot_index", "start_s", "end_s", "labels"])
        return [ShotHit(video_id=r["video_id"], shot_index=int(r["shot_index"]),
                        start_s=float(r["start_s"]), end_s=float(r["end_s"]),
                        labels=list(r["labels"] or []),
                        similarity=1.0 - float(r["_distance"])) for r in rows]

    def search_cues(self, namespace: str, space: str, vector: np.ndarray, limit: int,
                    video_ids: list[str] | None = None) -> list[CueHit]:
        rows = self._nearest(self._shots(space, CUES_PREFIX), "vector", vector, limit,
                             namespace, video_ids, ["shot_index", "start_s", "end_s", "text"])
        return [CueHit(video_id=r["video_id"], shot_index=int(r["shot_index"]),
                       start_s=float(r["start_s"]), end_s=float(r["end_s"]), text=r["text"],
                       similarity=1.0 - float(r["_distance"])) for r in rows]

    def _nearest(self, table: Any | None, column: str, vector: np.ndarray, limit: int,
                 namespace: str, video_ids: list[str] | None, fields: list[str]
                 ) -> list[dict[str, Any]]:
        """The ``limit`` rows of ``table`` nearest to ``vector`` by cosine, in the namespace
        (and the videos) asked, with ``video_id``, ``fields`` and ``_distance``."""
        where = self._where(namespace, video_ids)
        if table is None or where is None:
            return []
        rows: list[dict[str, Any]] = (
            table.search(np.asarray(vector, dtype=np.float32), vector_column_name=column)
            .metric("cosine").where(where, prefilter=True).nprobes(NPROBES)
            .select(["video_id", *fields, "_distance"]).limit(limit).to_list())
        return rows

    @staticmethod
    def _where(namespace: str, video_ids: list[str] | None) -> str | None:
        """The filter of a search; None when it can match nothing (an empty id list)."""
        where = f"namespace = {_quoted(namespace)}"
        if video_ids is not None:
            if not video_ids:
                return None
            where += " AND video_id IN (" + ", ".join(
                _quoted(v, video=True) for v in video_ids) + ")"
        return where

    def shot_vectors(self, namespace: str, space: str, video_id: str, column: Column
                     ) -> list[tuple[ShotRow, np.ndarray]]:
        table = self._shots(space)
        if table is None:
            return []
        where = f"namespace = {_quoted(namespace)} AND video_id = {_quoted(video_id, video=True)}"
        rows = table.search().where(where).limit(None).to_arrow().to_pylist()
        out = []
        for r in sorted(rows, key=lambda r: r["shot_index"]):
            text, visual = np.asarray(r["text"], np.float32), np.asarray(r["visual"], np.float32)
            shot = ShotRow(video_id=r["video_id"], shot_index=int(r["shot_index"]),
                           start_s=float(r["start_s"]), end_s=float(r["end_s"]),
                           keyframe_s=float(r["keyframe_s"]), labels=list(r["labels"] or []),
                           text=text, visual=visual)
            out.append((shot, text if column == "text" else visual))
        return out

    def close(self) -> None:
        return None


def _video_row(r: dict[str, Any]) -> VideoRow:
    return VideoRow(video_id=r["video_id"], space=r["space"], created_at=float(r["created_at"]),
                    record=r["record"])
