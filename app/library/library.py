"""The library use case: index an analysed video, list, get, delete, search its shots.

HTTP is a thin adapter over ``Library``; the analysis itself is ``Analyzer``'s "index" task (one
cache entry per video and options, so indexing the same bytes again is a cache hit) and the
vectors live in a ``VectorEngine``. Every engine call runs in a thread under a deadline: an
engine that is down or stuck answers 503 ``index_unavailable``, never a hang.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np

from app.analysis import Analyzer, StageHook, StoredVideo, Task
from app.analysis.analyzer import Analyzed
from app.analysis.bodies import decode_vectors, from_index_body
from app.errors import InvalidOption, NotFound, ServiceUnavailable
from app.inference.pipeline import DecodeProgress, PipelineOptions
from app.library.engine import Column, CueRow, ShotRow, VectorEngine, VideoRow
from app.library.ids import is_video_id, video_id
from app.library.tokens import PageTokens, query_scope
from app.metrics import Metrics

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_QUERY_CHARS = 1000
MAX_NAME_CHARS = 200  # a video's name in listings (its file name, say)
MAX_TOP_K = 100
# A search ranks at most this many shots; ``page_info.total`` counts those above min_score.
MAX_RESULTS = 1000
SearchIn = Literal["visual", "speech"]
SEARCH_IN_DEFAULT: tuple[SearchIn, ...] = ("visual", "speech")


@dataclass(frozen=True)
class SearchQuery:
    """One of ``text``, ``example`` or ``shot`` (a video id and shot index)."""

    text: str | None = None
    example: StoredVideo | None = None
    example_is_image: bool = False  # a still picture: searched as a two-second clip of it
    shot: tuple[str, int] | None = None
    top_k: int = 10
    page_token: str | None = None
    video_ids: tuple[str, ...] | None = None
    min_score: float = 0.0
    search_in: tuple[SearchIn, ...] = SEARCH_IN_DEFAULT
    model: str | None = None
    thumbnails: bool = False

    def checked(self) -> SearchQuery:
        kinds = sum(x is not None for x in (self.text, self.example, self.shot))
        if kinds != 1:
            raise InvalidOption("Send exactly one query: 'query' (words), an 'image' or "
                                "'video' example, or 'video_id' with 'shot_index'.")
        if self.text is not None:
            if not self.text.strip():
                raise InvalidOption("'query' is empty.")
            if len(self.text) > MAX_QUERY_CHARS:
                raise InvalidOption(f"'query' is {len(self.text)} characters; at most "
                                    f"{MAX_QUERY_CHARS}.")
        if not 1 <= self.top_k <= MAX_TOP_K:
            raise InvalidOption(f"top_k must be 1..{MAX_TOP_K}, got {self.top_k}.")
        if not 0.0 <= self.min_score <= 1.0:
            raise InvalidOption(f"min_score must be 0..1, got {self.min_score}.")
        if not self.search_in or any(s not in ("visual", "speech") for s in self.search_in):
            raise InvalidOption("search_in takes 'visual' and/or 'speech'.")
        if self.text is None and "visual" not in self.search_in:
            raise InvalidOption("A search by example or by shot compares pictures: search_in "
                                "must include 'visual' ('speech' needs words).")
        for vid in self.video_ids or ():
            if not is_video_id(vid):
                raise InvalidOption(f"video_ids: {vid[:40]!r} is not a video id.")
        return self


@dataclass(frozen=True)
class LibraryVideo:
    video_id: str
    status: Literal["indexed", "deleted"]
    already_indexed: bool
    record: dict[str, Any]


@dataclass(frozen=True)
class SearchPage:
    hits: list[dict[str, Any]]
    total: int
    next_page_token: str | None
    model: dict[str, str]


class Library:
    def __init__(self, *, analyzer: Analyzer, open_engine: Callable[[], VectorEngine],
                 tokens: PageTokens, engine_timeout_s: float, metrics: Metrics) -> None:
        self._analyzer = analyzer
        self._metrics = metrics
        self._open_engine = open_engine
        self._engine: VectorEngine | None = None
        self._opening = asyncio.Lock()
        self._tokens = tokens
        self._timeout_s = engine_timeout_s
        # One write at a time per video; a delete that lands while the video is being analysed
        # stops its indexing before it writes a vector.
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._indexing: dict[tuple[str, str], int] = {}
        self._deleted_meanwhile: set[tuple[str, str]] = set()
        self._maintenance: asyncio.Task[None] | None = None

    # -- engine ------------------------------------------------------------------------------
    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        engine = await self._engine_open()
        method = getattr(engine, fn.__name__)
        try:
            result: T = await asyncio.wait_for(asyncio.to_thread(method, *args), self._timeout_s)
        except TimeoutError as exc:
            raise _unavailable(f"did not answer within {self._timeout_s:g} s") from exc
        except Exception as exc:  # the engine's client raises its own kinds (HTTP, gRPC, I/O)
            log.warning("vector engine failed in %s", fn.__name__, exc_info=True)
            raise _unavailable(f"{type(exc).__name__}") from exc
        return result

    async def _engine_open(self) -> VectorEngine:
        if self._engine is not None:
            return self._engine
        async with self._opening:
            if self._engine is None:
                try:
                    self._engine = await asyncio.wait_for(asyncio.to_thread(self._open_engine),
                                                          self._timeout_s * 4)
                except Exception as exc:
                    log.warning("vector engine could not be opened", exc_info=True)
                    raise _unavailable(f"could not be opened ({type(exc).__name__})") from exc
        return self._engine

    async def close(self) -> None:
        if self._maintenance is not None:
            with contextlib.suppress(BaseException):
                await self._maintenance  # a thread cannot be cancelled: let it finish
        if self._engine is not None:
            await asyncio.to_thread(self._engine.close)

    def _maintain_if_due(self) -> None:
        """Compaction and indexing in the background once enough was written: never inside a
        request's deadline, one run at a time."""
        engine = self._engine
        if engine is None or not engine.needs_maintenance() or (
                self._maintenance is not None and not self._maintenance.done()):
            return

        async def run() -> None:
            try:
                done = await asyncio.to_thread(engine.maintain)
                log.info("video index maintenance: %s", "; ".join(done))
            except Exception:  # the index stays usable, only slower: try again later
                log.exception("video index maintenance failed")

        self._maintenance = asyncio.create_task(run(), name="library-maintenance")

    # -- videos ------------------------------------------------------------------------------
    async def add(self, namespace: str, video: StoredVideo, options: PipelineOptions, *,
                  request_id: str, timeout_s: float, filename: str | None = None,
                  read_cache: bool = True) -> LibraryVideo:
        """Analyse and index ``video``. The same bytes again (same namespace and model) answer
        the stored entry without analysing; ``read_cache=False`` analyses anew and replaces it."""
        vid = video_id(namespace, video.sha256)
        key = (namespace, vid)
        space = _space(self._analyzer.model_identity(options.model))
        if read_cache:
            try:
                existing = await self._call(VectorEngine.get_video, namespace, vid)
            except ServiceUnavailable:
                self._metrics.library_writes.labels("failed").inc()
                raise
            if existing is not None and existing.space == space:
                return LibraryVideo(vid, "indexed", True, json.loads(existing.record))
        self._indexing[key] = self._indexing.get(key, 0) + 1
        try:
            analyzed = await self._analyzer.analyze(video, "index", index_options(options),
                                                    request_id=request_id, timeout_s=timeout_s,
                                                    read_cache=read_cache)
            return await self._store(namespace, vid, video, analyzed.body, filename, options)
        finally:
            self._indexing_done(key)

    async def analyze_and_add(self, namespace: str, video: StoredVideo, task: Task,
                              options: PipelineOptions, *, request_id: str, timeout_s: float,
                              read_cache: bool = True, started: float | None = None,
                              on_stage: StageHook | None = None,
                              on_progress: DecodeProgress | None = None,
                              name: str | None = None) -> tuple[Analyzed, dict[str, Any]]:
        """``index=true`` on an analysis endpoint: one "index" computation answers ``task``
        and fills the library entry. Returns the task's answer and what to add to it:
        ``video_id``, or ``video_id: None`` and ``index_error`` when the index is unavailable
        (the caller still gets the analysis)."""
        analyzed = await self._analyzer.analyze(video, "index", index_options(options),
                                                request_id=request_id, timeout_s=timeout_s,
                                                read_cache=read_cache, started=started,
                                                on_stage=on_stage, on_progress=on_progress)
        answer = Analyzed(from_index_body(analyzed.body, task, thumbnails=options.thumbnails),
                          analyzed.was_cached)
        try:
            added = await self._add_analyzed(namespace, video, analyzed.body, options, name)
        except ServiceUnavailable as exc:
            if exc.code != "index_unavailable":
                raise
            return answer, {"video_id": None, "index_error": exc.to_dict()["error"]}
        return answer, {"video_id": added.video_id}

    async def _add_analyzed(self, namespace: str, video: StoredVideo, body: dict[str, Any],
                            options: PipelineOptions, name: str | None) -> LibraryVideo:
        vid = video_id(namespace, video.sha256)
        key = (namespace, vid)
        self._indexing[key] = self._indexing.get(key, 0) + 1
        try:
            return await self._store(namespace, vid, video, body, name, options)
        finally:
            self._indexing_done(key)

    async def _store(self, namespace: str, vid: str, video: StoredVideo, body: dict[str, Any],
                     filename: str | None, options: PipelineOptions) -> LibraryVideo:
        key = (namespace, vid)
        async with self._lock(key):
            if key in self._deleted_meanwhile:
                return LibraryVideo(vid, "deleted", False, {})
            record = _record(vid, video, body, filename)
            row = VideoRow(video_id=vid, space=_space(body["model"]),
                           created_at=record["created_at"], record=json.dumps(record))
            cues = await self._cue_rows(vid, body, options.model)
            try:
                await self._call(VectorEngine.put_video, namespace, row,
                                 _shot_rows(vid, body), cues)
            except ServiceUnavailable:
                self._metrics.library_writes.labels("failed").inc()
                raise
        self._metrics.library_writes.labels("indexed").inc()
        self._maintain_if_due()
        return LibraryVideo(vid, "indexed", False, record)

    def _indexing_done(self, key: tuple[str, str]) -> None:
        self._indexing[key] -= 1
        if not self._indexing[key]:
            del self._indexing[key]
            self._deleted_meanwhile.discard(key)

    async def _cue_rows(self, vid: str, body: dict[str, Any], model: str | None
                        ) -> list[CueRow]:
        cues = body.get("subtitles") or []
        if not cues:
            return []
        vectors = await self._analyzer.encode_texts([c["text"] for c in cues], model)
        starts = [float(s["start_s"]) for s in body["shots"]]
        return [CueRow(video_id=vid, cue_index=i, shot_index=max(0, bisect.bisect_right(
                    starts, float(c["start_s"])) - 1), start_s=float(c["start_s"]),
                    end_s=float(c["end_s"]), text=c["text"], language=c.get("language"),
                    vector=vectors[i]) for i, c in enumerate(cues)]

    async def get(self, namespace: str, vid: str) -> dict[str, Any]:
        row = await self._call(VectorEngine.get_video, namespace, _checked_id(vid))
        if row is None:
            raise _not_found(vid)
        record: dict[str, Any] = json.loads(row.record)
        return record

    async def list_videos(self, namespace: str, limit: int, page_token: str | None
                          ) -> tuple[list[dict[str, Any]], int, str | None]:
        if not 1 <= limit <= MAX_TOP_K:
            raise InvalidOption(f"limit must be 1..{MAX_TOP_K}, got {limit}.")
        scope = query_scope(namespace, "videos", limit)
        offset = self._tokens.read(page_token, scope) if page_token else 0
        rows, total = await self._call(VectorEngine.list_videos, namespace, limit, offset)
        after = offset + len(rows)
        token = self._tokens.issue(scope, after) if after < total else None
        return [_summary(json.loads(r.record)) for r in rows], total, token

    async def delete(self, namespace: str, vid: str) -> None:
        key = (namespace, _checked_id(vid))
        async with self._lock(key):
            being_indexed = key in self._indexing
            if being_indexed:
                self._deleted_meanwhile.add(key)
            existed = await self._call(VectorEngine.delete_video, namespace, vid)
        self._maintain_if_due()
        if not existed and not being_indexed:
            raise _not_found(vid)

    def _lock(self, key: tuple[str, str]) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            if len(self._locks) > 10_000:  # forget idle ones
                self._locks = {k: v for k, v in self._locks.items() if v.locked()}
            lock = self._locks[key] = asyncio.Lock()
        return lock

    # -- search ------------------------------------------------------------------------------
    async def search(self, namespace: str, query: SearchQuery, *, request_id: str,
                     timeout_s: float) -> SearchPage:
        query = query.checked()
        space_model = self._analyzer.model_identity(query.model)
        space = _space(space_model)
        exclude: tuple[str, int] | None = None
        words: list[str] | None = None
        column: Column
        if query.text is not None:
            column = "text"
            vector = (await self._analyzer.encode_texts([query.text], query.model))[0]
            words = [query.text]
        elif query.example is not None:
            column = "visual"
            options = PipelineOptions(model=query.model)
            async with (self._analyzer.still_as_video(query.example) if query.example_is_image
                        else contextlib.nullcontext(query.example)) as example:
                analyzed = await self._analyzer.analyze(example, "index", options,
                                                        request_id=request_id,
                                                        timeout_s=timeout_s)
            vector = _whole_video_vector(analyzed.body)
        else:
            assert query.shot is not None
            column = "visual"
            vid, index = query.shot
            vector = await self._stored_shot_vector(namespace, space, vid, index)
            exclude = (vid, index)
        speech = query.text is not None and "speech" in query.search_in
        visual = "visual" in query.search_in
        scope = query_scope(namespace, space, column, vector.round(5).tobytes().hex(),
                            query.video_ids, query.min_score, query.top_k,
                            sorted(query.search_in))
        offset = self._tokens.read(query.page_token, scope) if query.page_token else 0
        ids = list(query.video_ids) if query.video_ids is not None else None
        found: list[_Hit] = []
        if visual:
            shots = await self._call(VectorEngine.search, namespace, space, column, vector,
                                     MAX_RESULTS, ids)
            found += [_Hit(h.video_id, h.shot_index, h.start_s, h.end_s, _score(h.similarity),
                           "visual", h.labels, None) for h in shots
                      if (h.video_id, h.shot_index) != exclude]
        if speech:
            cues = await self._call(VectorEngine.search_cues, namespace, space, vector,
                                    MAX_RESULTS, ids)
            found += [_Hit(c.video_id, c.shot_index, c.start_s, c.end_s, _score(c.similarity),
                           "speech", [], c.text) for c in cues]
        hits = sorted((h for h in found if h.score >= query.min_score),
                      key=lambda h: (-h.score, h.video_id, h.start_s))[:MAX_RESULTS]
        page = hits[offset:offset + query.top_k]
        after = offset + len(page)
        token = self._tokens.issue(scope, after) if after < len(hits) else None
        matched = await self._matched(page, words, query.model)
        thumbs = await self._thumbnails(namespace, page) if query.thumbnails else {}
        return SearchPage(
            hits=[{"video_id": h.video_id, "shot_index": h.shot_index,
                   "start_s": round(h.start_s, 3), "end_s": round(h.end_s, 3),
                   "score": round(h.score, 4), "source": h.source, "matched": m,
                   "thumbnail_jpeg_base64": thumbs.get((h.video_id, h.shot_index))}
                  for h, m in zip(page, matched, strict=True)],
            total=len(hits), next_page_token=token, model=space_model)

    async def similar(self, namespace: str, vid: str, *, limit: int, min_score: float
                      ) -> list[dict[str, Any]]:
        """Near-duplicates of a stored video: for each of its shots, the most similar shot of
        every other video; a video's score is their mean weighted by shot length (a trimmed
        copy matches the shots it kept, the cut ones count against it)."""
        if not 1 <= limit <= MAX_TOP_K:
            raise InvalidOption(f"limit must be 1..{MAX_TOP_K}, got {limit}.")
        row = await self._call(VectorEngine.get_video, namespace, _checked_id(vid))
        if row is None:
            raise _not_found(vid)
        shots = await self._call(VectorEngine.shot_vectors, namespace, row.space, vid, "visual")
        weights = np.array([max(s.end_s - s.start_s, 1e-3) for s, _ in shots])
        best: dict[str, np.ndarray] = {}
        for i, (_, vector) in enumerate(shots):
            found = await self._call(VectorEngine.search, namespace, row.space, "visual",
                                     vector, 50, None)
            for hit in found:
                if hit.video_id == vid:
                    continue
                scores = best.setdefault(hit.video_id, np.zeros(len(shots)))
                scores[i] = max(scores[i], _score(hit.similarity))
        ranked = sorted(((float(np.average(s, weights=weights)), v) for v, s in best.items()),
                        reverse=True)
        return [{"video_id": v, "score": round(s, 4)} for s, v in ranked if s >= min_score
                ][:limit]

    async def _stored_shot_vector(self, namespace: str, space: str, vid: str, index: int
                                  ) -> np.ndarray:
        shots = await self._call(VectorEngine.shot_vectors, namespace, space,
                                 _checked_id(vid), "visual")
        if not shots:
            raise _not_found(vid)
        for shot, vector in shots:
            if shot.shot_index == index:
                return vector
        raise InvalidOption(f"Video {vid} has shots 0..{len(shots) - 1}; no shot {index}.",
                            code="shot_not_found", status_code=404)

    async def _matched(self, page: list[_Hit], words: list[str] | None, model: str | None
                       ) -> list[list[str]]:
        """What made each hit match: the cue's text for speech; for a query in words, the
        shot's labels nearest to it; else the shot's top labels."""
        names = sorted({label for h in page for label in h.labels})
        near: dict[str, float] = {}
        if words is not None and names:
            vectors = await self._analyzer.encode_texts([words[0], *names], model)
            near = dict(zip(names, (vectors[1:] @ vectors[0]).tolist(), strict=True))
        return [[h.text] if h.text is not None else
                sorted(h.labels, key=lambda lb: -near.get(lb, 0.0))[:3] for h in page]

    async def _thumbnails(self, namespace: str, page: list[_Hit]
                          ) -> dict[tuple[str, int], str | None]:
        out: dict[tuple[str, int], str | None] = {}
        for vid in {h.video_id for h in page}:
            row = await self._call(VectorEngine.get_video, namespace, vid)
            if row is None:
                continue
            for shot in json.loads(row.record).get("shots", []):
                out[(vid, int(shot["index"]))] = shot.get("thumbnail_jpeg_base64")
        return out


# -- records -----------------------------------------------------------------------------------

def checked_name(name: str | None, *, indexing: bool = True) -> str | None:
    """A video's name in the library as a request gives it: 422 when too long, or when sent
    with an analysis that does not index (index=true is what the name is for)."""
    if name is None:
        return None
    if len(name) > MAX_NAME_CHARS:
        raise InvalidOption(f"name is {len(name)} characters; at most {MAX_NAME_CHARS}.")
    if not indexing:
        raise InvalidOption("name= names the video in your library: send it with index=true.")
    return name


def index_options(options: PipelineOptions) -> PipelineOptions:
    """The caller's options with the keyframe thumbnails that hits show (the "index" task
    itself makes the analyzer compute each shot's vectors)."""
    return dataclasses.replace(options, thumbnails=True)


@dataclass(frozen=True)
class _Hit:
    """A shot found by its pictures (``visual``) or by a cue said in it (``speech``)."""

    video_id: str
    shot_index: int
    start_s: float
    end_s: float
    score: float
    source: Literal["visual", "speech"]
    labels: list[str]
    text: str | None


def _space(model: dict[str, str]) -> str:
    return f"{model['name']}-{model['version']}"


def _score(similarity: float) -> float:
    """Cosine similarity as a 0..1 score (negative: unrelated, 0)."""
    return float(min(max(similarity, 0.0), 1.0))


def _checked_id(vid: str) -> str:
    if not is_video_id(vid):
        raise _not_found(vid)
    return vid


def _not_found(vid: str) -> NotFound:
    return NotFound(f"No video {vid[:64]!r} in this library (GET /v1/videos lists them).",
                    code="video_not_found")


def _unavailable(why: str) -> ServiceUnavailable:
    return ServiceUnavailable(f"The video index is unavailable: {why}. Analysis endpoints "
                              "still answer; retry the library call later.",
                              code="index_unavailable", retry_after_s=5)


def _whole_video_vector(body: dict[str, Any]) -> np.ndarray:
    visual = decode_vectors(body["shot_vectors"]["visual"])
    weights = np.array([max(s["end_s"] - s["start_s"], 1e-3) for s in body["shots"]])
    mean: np.ndarray = (visual * weights[:, None]).sum(axis=0)
    norm = float(np.linalg.norm(mean))
    unit: np.ndarray = (mean / norm if norm > 0 else mean).astype(np.float32)
    return unit


def _record(vid: str, video: StoredVideo, body: dict[str, Any], filename: str | None
            ) -> dict[str, Any]:
    thumbs: dict[int, str | None] = {}
    for keyframe in body["keyframes"]:  # the first (best) keyframe of each shot
        thumbs.setdefault(int(keyframe["shot_index"]), keyframe["thumbnail_jpeg_base64"])
    shot_labels = {int(s["index"]): s["labels"] for s in body["shot_labels"]}
    return {
        "video_id": vid, "filename": filename, "sha256": video.sha256,
        "size_bytes": video.size_bytes, "created_at": time.time(),
        "model": body["model"], "video": body["video"],
        "video_labels": body["video_labels"],
        "shots": [{"index": int(s["index"]), "start_s": s["start_s"], "end_s": s["end_s"],
                   "labels": shot_labels.get(int(s["index"]), []),
                   "keyframe_s": _keyframe_s(body, int(s["index"])),
                   "thumbnail_jpeg_base64": thumbs.get(int(s["index"]))}
                  for s in body["shots"]],
        "keyframes": [{k: v for k, v in kf.items() if k != "thumbnail_jpeg_base64"}
                      for kf in body["keyframes"]],
        "highlights": body["highlights"],
    }


def _keyframe_s(body: dict[str, Any], shot_index: int) -> float:
    for keyframe in body["keyframes"]:
        if int(keyframe["shot_index"]) == shot_index:
            return float(keyframe["time_s"])
    shot = body["shots"][shot_index]
    return (float(shot["start_s"]) + float(shot["end_s"])) / 2


def _shot_rows(vid: str, body: dict[str, Any]) -> list[ShotRow]:
    text = decode_vectors(body["shot_vectors"]["text"])
    visual = decode_vectors(body["shot_vectors"]["visual"])
    labels = {int(s["index"]): [lb["label"] for lb in s["labels"]] for s in body["shot_labels"]}
    return [ShotRow(video_id=vid, shot_index=int(s["index"]), start_s=float(s["start_s"]),
                    end_s=float(s["end_s"]), keyframe_s=_keyframe_s(body, int(s["index"])),
                    labels=labels.get(int(s["index"]), []), text=text[i], visual=visual[i])
            for i, s in enumerate(body["shots"])]


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    """A video as GET /v1/videos lists it: no shots or keyframes."""
    return {"video_id": record["video_id"], "filename": record.get("filename"),
            "created_at": record["created_at"], "model": record["model"],
            "duration_s": record["video"]["duration_s"], "shots": len(record["shots"]),
            "video_labels": record["video_labels"][:3]}
