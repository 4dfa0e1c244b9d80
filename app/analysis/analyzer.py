"""The analysis use case: one stored video, a task and its options -> the response body, computed
at most once through the result cache and its single flight.

HTTP (``app.api``), the jobs (``app.jobs``) and the CLI are thin adapters over ``Analyzer``: they
receive the video and options their own way, and this is the only place that turns them into a
cache key, a pipeline run and a rendered body.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import os
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from app.analysis.bodies import from_index_body, render_body
from app.analysis.orphans import owned_temp_file
from app.cache import ResultCache, make_cache_key
from app.inference.decode_pool import DecodePool
from app.inference.host import ModelHost
from app.inference.pipeline import DecodeProgress, Pipeline, PipelineOptions, PipelineResult
from app.metrics import Metrics

# "analyze": everything at once (labels, shots and summary), one computation and one cache
# entry that any subset of its features is served from (POST /v1/analyze).
# "index": the analyze body and each shot's vectors, for the video library (app/library/).
Task = Literal["classify", "summarize", "analyze", "index"]

# Hears "decoded" and "inferred" (from the pipeline), then "analyzed" once the answer is read out.
StageHook = Callable[[str], Awaitable[None]]

_STAGES = ("decode_ms", "queue_ms", "inference_ms", "model_tail_ms", "refine_ms")


@dataclass(frozen=True)
class StoredVideo:
    """A video on local disk with its content hash. ``is_temporary``: the file belongs to a
    request that may end before a shared computation does (an upload), so the computation works
    on its own link to it; a user's own file (the CLI) is read where it is."""

    path: Path
    sha256: str
    size_bytes: int
    is_temporary: bool = True


@dataclass(frozen=True)
class Analyzed:
    body: dict[str, Any]
    was_cached: bool


class Analyzer:
    def __init__(self, *, models: ModelHost, cache: ResultCache, decode_pool: DecodePool,
                 metrics: Metrics) -> None:
        self._models = models
        self._cache = cache
        self._decode_pool = decode_pool
        self._metrics = metrics

    def is_ready(self) -> bool:
        return self._models.is_ready

    def require_ready(self) -> None:
        """Raise 503 ``not_ready`` while the models load (before anyone uploads for nothing)."""
        self._models.require_ready()

    def cache_key(self, sha256: str, task: Task, options: PipelineOptions) -> str:
        """The key of the one computation that answers ``task`` (raises ``ModelNotFound`` for
        an unknown model): classify, summarize and analyze share it."""
        core_task, core = _core(task, options)
        return _cache_key(self._models.require_ready(), sha256, core_task, core)

    def model_identity(self, model: str | None) -> dict[str, str]:
        """``{"name", "version"}`` of the model a request naming ``model`` runs on."""
        loaded = self._models.require_ready().runtime(model).loaded
        return {"name": loaded.name, "version": loaded.version}

    def require_text_encoder(self, model: str | None) -> None:
        """Raise 422 ``labels_not_supported`` if ``model`` has no text encoder (words, and the
        library's vectors, need one)."""
        self._models.require_ready().runtime(model).loaded.require_text()

    async def encode_texts(self, texts: list[str], model: str | None) -> np.ndarray:
        """(n, d) unit vectors of ``texts`` in the model's text space (the encoder's LRU cache
        makes a repeated text free)."""
        text = self._models.require_ready().runtime(model).loaded.require_text()
        encoded = await asyncio.to_thread(text.encode, texts)
        return np.asarray(encoded.vectors, dtype=np.float32)

    @contextlib.asynccontextmanager
    async def still_as_video(self, still: StoredVideo) -> AsyncIterator[StoredVideo]:
        """A two-second clip of a still image (made in a decode process), to analyse like a
        video; removed when the block exits. 415 ``unsupported_image`` for a non-image."""
        pipeline = self._models.require_ready()
        fd, clip = owned_temp_file("vbs-still", still.path.parent)
        os.close(fd)
        try:
            await self._decode_pool.run("still_to_clip", str(still.path), str(clip),
                                        pipeline.policy, timeout_s=pipeline.decode_timeout_s)
            yield StoredVideo(path=clip, sha256=hashlib.sha256(
                f"still:{still.sha256}".encode()).hexdigest(), size_bytes=clip.stat().st_size)
        finally:
            with contextlib.suppress(FileNotFoundError):
                clip.unlink()

    async def check_policy(self, video: StoredVideo) -> None:
        """Probe the video against the upload policy in a decode process (raises the 4xx)."""
        pipeline = self._models.require_ready()
        await self._decode_pool.run("probe", str(video.path), pipeline.policy,
                                    timeout_s=pipeline.decode_timeout_s)

    async def cached_answer(self, sha256: str, task: Task, options: PipelineOptions
                            ) -> dict[str, Any] | None:
        """The body of ``task`` if everything it needs is cached already, else None."""
        pipeline = self._models.require_ready()
        body = await self._cache.get(self.cache_key(sha256, task, options))
        if body is None:
            return None
        if options.thumbnails and body["keyframes"]:
            thumbs = await self._cache.get(_thumbnails_key(pipeline, sha256, body, options))
            if thumbs is None:
                return None
            body = _with_thumbnails(body, thumbs)
        return _answer(task, body, options)

    async def analyze(self, video: StoredVideo, task: Task, options: PipelineOptions, *,
                      request_id: str, timeout_s: float, read_cache: bool = True,
                      started: float | None = None, on_stage: StageHook | None = None,
                      on_progress: DecodeProgress | None = None) -> Analyzed:
        """The body of ``task`` for ``video``, stamped with ``request_id``.

        One computation answers classify, summarize and analyze (labels, shots and summary at
        once, cached under one key); each task's answer is cut from it, so asking for the
        labels after the summary, or the other way round, is a cache hit. Keyframe thumbnails
        are decoded after it and cached on their own, by size: the contact sheet after the JSON
        summary decodes a few frames and runs no model. "index" adds each shot's vectors (its
        own entry: the library's).

        ``started`` (``time.monotonic()``) is when the caller's request began, for
        ``timings.total_ms``; ``read_cache=False`` recomputes and stores the fresh answer.
        ``on_stage`` and ``on_progress`` hear this computation only (a caller that joins one
        already running hears nothing until it ends).
        """
        started = time.monotonic() if started is None else started
        pipeline = self._models.require_ready()
        if task == "classify":  # before anything is decoded: a model without labels says so
            pipeline.runtime(options.model).loaded.require_classifier()
        core_task, core = _core(task, options)
        key = _cache_key(pipeline, video.sha256, core_task, core)
        deadline = time.monotonic() + timeout_s

        async def compute() -> dict[str, Any]:
            with _own_link(video) as path:
                result = await pipeline.run(path, core, deadline=deadline, on_stage=on_stage,
                                            on_progress=on_progress)
            if on_stage is not None:
                await on_stage("analyzed")
            self._observe(result)
            return render_body(core_task, result, request_id=request_id,
                               total_ms=(time.monotonic() - started) * 1000,
                               include_frames=core.include_frames,
                               asked_labels=bool(core.labels or core.label_set),
                               show_guesses=core.show_guesses)

        body, was_cached = await self._cache.get_or_compute(key, compute, read=read_cache)
        if options.thumbnails and body["keyframes"]:
            thumbs = await self._thumbnails(pipeline, video, body, options, deadline, read_cache)
            body = _with_thumbnails(body, thumbs)
        return Analyzed({**_answer(task, body, options), "request_id": request_id}, was_cached)

    async def _thumbnails(self, pipeline: Pipeline, video: StoredVideo, body: dict[str, Any],
                          options: PipelineOptions, deadline: float, read_cache: bool
                          ) -> dict[str, Any]:
        """``{"jpeg_base64": [...], "ms": ...}``: a JPEG of each keyframe of ``body``, whole
        frame, at ``options.thumbnail_px``, through the cache."""
        times = [float(k["time_s"]) for k in body["keyframes"]]

        async def compute() -> dict[str, Any]:
            began = time.monotonic()
            with _own_link(video) as path:
                jpegs: list[bytes] = await self._decode_pool.run(
                    "decode_thumbnails", path, times, options.thumbnail_px,
                    timeout_s=max(0.1, min(pipeline.decode_timeout_s,
                                           deadline - time.monotonic())))
            return {"jpeg_base64": [base64.b64encode(j).decode("ascii") for j in jpegs],
                    "ms": round((time.monotonic() - began) * 1000, 1)}

        key = _thumbnails_key(pipeline, video.sha256, body, options)
        thumbs, _ = await self._cache.get_or_compute(key, compute, read=read_cache)
        return thumbs

    def _observe(self, result: PipelineResult) -> None:
        for stage in _STAGES:
            self._metrics.stage_seconds.labels(stage[:-3]).observe(
                result.timings_ms.get(stage, 0.0) / 1000)


def _cache_key(pipeline: Pipeline, sha256: str, task: Task, options: PipelineOptions) -> str:
    runtime = pipeline.runtime(options.model)
    return make_cache_key(sha256, task, runtime.loaded.name, runtime.loaded.version,
                          options.cache_options())


def _core(task: Task, options: PipelineOptions) -> tuple[Task, PipelineOptions]:
    """The computation that answers ``task``: "analyze" for classify, summarize and analyze,
    "index" (with shot vectors) for the library; thumbnails are not part of it."""
    core_task: Task = "index" if task == "index" else "analyze"
    return core_task, dataclasses.replace(
        options, thumbnails=False, shot_vectors=options.shot_vectors or task == "index")


def _thumbnails_key(pipeline: Pipeline, sha256: str, body: dict[str, Any],
                    options: PipelineOptions) -> str:
    runtime = pipeline.runtime(options.model)
    return make_cache_key(sha256, "thumbnails", runtime.loaded.name, runtime.loaded.version,
                          {"times_s": [k["time_s"] for k in body["keyframes"]],
                           "px": options.thumbnail_px})


def _with_thumbnails(body: dict[str, Any], thumbs: dict[str, Any]) -> dict[str, Any]:
    keyframes = [{**k, "thumbnail_jpeg_base64": jpeg}
                 for k, jpeg in zip(body["keyframes"], thumbs["jpeg_base64"], strict=True)]
    return {**body, "keyframes": keyframes,
            "timings": {**body["timings"], "thumbnails_ms": thumbs["ms"]}}


def _answer(task: Task, body: dict[str, Any], options: PipelineOptions) -> dict[str, Any]:
    """``task``'s body cut from the core computation's (the index body stays whole: the library
    cuts it)."""
    if task == "index":
        return body
    return from_index_body(body, task, thumbnails=options.thumbnails)


@contextlib.contextmanager
def _own_link(video: StoredVideo) -> Iterator[Path]:
    # The flight may outlive the request that started it (identical requests wait on it), so it
    # reads its own link to an upload, not the request's temp file.
    if not video.is_temporary:
        yield video.path
        return
    with flight_copy(video.path) as path:
        yield path


@contextlib.contextmanager
def flight_copy(path: Path) -> Iterator[Path]:
    """A second name for the upload (a hard link: no copy) that lives as long as the block."""
    fd, link = owned_temp_file("vbs-flight", path.parent)  # swept if this process dies
    os.close(fd)
    try:
        link.unlink()
        try:
            os.link(path, link)
        except OSError:  # filesystems without hard links
            shutil.copyfile(path, link)
        yield link
    finally:
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
