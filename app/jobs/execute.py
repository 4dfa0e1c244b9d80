"""Run one job through the analysis use case, with progress.

The job computes exactly what ``POST /v1/classify`` / ``/v1/summarize`` would (same cache key,
same single flight), so a job and a synchronous request for the same video share one computation
and one cache entry, in either order.

Progress: while the decode streams, 0.05 -> 0.80 with the share of the planned frames decoded
(the CNN runs on them as they come, so this is most of the work); then the use case's stages:
decoded -> 0.80, inferred -> 0.85, analyzed -> 0.95; the runner sets 1.0 once the result is
stored. Values only rise, at most one write is in flight, and a change under
``MIN_PROGRESS_STEP`` is not written on its own (the job store is Redis: a write per chunk of a
long video would be hundreds).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from app.analysis import Analyzed, Analyzer, RequestOptions, StoredVideo
from app.errors import ServiceUnavailable
from app.inference.pipeline import PipelineOptions
from app.jobs.records import JobRecord

PROGRESS_AT_STAGE = {"decoded": 0.8, "inferred": 0.85, "analyzed": 0.95}
DECODE_PROGRESS = (0.05, 0.8)  # where the streaming decode's share 0 and 1 land
MIN_PROGRESS_STEP = 0.05

ProgressHook = Callable[[float], Awaitable[None]]
Execute = Callable[[JobRecord, Path, ProgressHook], Awaitable[dict[str, Any]]]
# index=true: the library's analyze_and_add (given by app.service; the library is not ours to
# import): (namespace, video, task, options, **analyze keywords) -> (answer, {"video_id", ...}).
Indexer = Callable[..., Awaitable[tuple[Analyzed, dict[str, Any]]]]


def pipeline_options(record: JobRecord) -> PipelineOptions:
    return RequestOptions.model_validate(record.options).to_pipeline()


def analyzer_executor(analyzer: Analyzer, *, timeout_s: float, indexer: Indexer | None = None
                      ) -> Execute:
    """What a runner calls to compute a job: the cached answer, else the pipeline's; with the
    job's ``index_namespace``, through ``indexer``, which also adds the video to the library."""

    async def execute(record: JobRecord, path: Path, hook: ProgressHook) -> dict[str, Any]:
        progress = _RisingProgress(hook)

        async def on_stage(stage: str) -> None:
            await progress.reach(PROGRESS_AT_STAGE[stage])

        def on_decode(share: float) -> None:
            low, high = DECODE_PROGRESS
            progress.offer(low + (high - low) * share)

        video = StoredVideo(path=path, sha256=record.sha256, size_bytes=record.size_bytes)
        options = pipeline_options(record)
        try:
            if record.index_namespace is not None:
                if indexer is None:  # a worker without a shared library: say so, not skip it
                    raise ServiceUnavailable(
                        "This worker cannot reach the video library (set VIDEOBERT_VECTOR_URL "
                        "to a Qdrant server for workers and API alike).",
                        code="index_unavailable")
                answer, indexed = await indexer(
                    record.index_namespace, video, record.task, options, request_id=record.id,
                    timeout_s=timeout_s, read_cache=record.read_cache, on_stage=on_stage,
                    on_progress=on_decode, name=record.index_name)
                return {**answer.body, **indexed}
            analyzed = await analyzer.analyze(video, record.task, options, request_id=record.id,
                                              timeout_s=timeout_s, read_cache=record.read_cache,
                                              on_stage=on_stage, on_progress=on_decode)
        finally:
            progress.close()
        return analyzed.body

    return execute


class _RisingProgress:
    """Writes a job's progress in order, one write at a time, only ever upwards."""

    def __init__(self, hook: ProgressHook) -> None:
        self._hook = hook
        self._wanted = 0.0
        self._written = 0.0
        self._writer: asyncio.Task[None] | None = None

    def offer(self, value: float) -> None:
        """From a synchronous callback: written soon if it moved by MIN_PROGRESS_STEP."""
        if value >= self._written + MIN_PROGRESS_STEP:
            self._wanted = max(self._wanted, value)
            self._start_writer()

    async def reach(self, value: float) -> None:
        """A stage: written before the computation goes on."""
        self._wanted = max(self._wanted, value)
        while self._written < self._wanted:
            await self._start_writer()

    def _start_writer(self) -> asyncio.Task[None]:
        # The only writer: it writes the latest wanted value before it ends.
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write())
        return self._writer

    async def _write(self) -> None:
        while self._written < self._wanted:
            value = self._wanted
            await self._hook(value)
            self._written = value

    def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
