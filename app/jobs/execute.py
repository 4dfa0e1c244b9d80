"""Run one job through the same pipeline and result cache as the synchronous endpoints.

The cache key is made exactly as ``POST /v1/classify`` / ``/v1/summarize`` make it, from this
worker's own loaded model, so a job and a synchronous request for the same video share one
computation and one cache entry, in either order.

Progress, from ``Pipeline.run``'s stage hook: decode done -> 0.4, model done -> 0.8,
analysis done -> 0.95, stored -> 1.0.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.api.responses import render_body
from app.api.schemas import RequestOptions
from app.api.upload import flight_copy
from app.cache import make_cache_key
from app.inference.pipeline import AnalyzeOptions, Pipeline
from app.jobs.records import JobRecord, Task

if TYPE_CHECKING:
    from app.service import Services

DECODED = 0.4
INFERRED = 0.8
ANALYSED = 0.95

ProgressHook = Callable[[float], Awaitable[None]]
Execute = Callable[[JobRecord, Path, ProgressHook], Awaitable[dict[str, Any]]]


def analyze_options(record: JobRecord) -> AnalyzeOptions:
    return RequestOptions.model_validate(record.options).to_analyze()


def cache_key_for(pipeline: Pipeline, task: Task, sha256: str, analyze: AnalyzeOptions) -> str:
    """The key the synchronous endpoint would use (raises ModelNotFound like it does)."""
    runtime = pipeline.runtime(analyze.model)
    return make_cache_key(sha256, task, runtime.loaded.name, runtime.loaded.version,
                          analyze.cache_options(task))


def pipeline_executor(services: Services, *, timeout_s: float) -> Execute:
    """What a runner calls to compute a job: cache first, else the pipeline."""

    async def execute(record: JobRecord, path: Path, hook: ProgressHook) -> dict[str, Any]:
        pipeline = services.require_ready()
        assert services.cache is not None
        analyze = analyze_options(record)
        key = cache_key_for(pipeline, record.task, record.sha256, analyze)
        deadline = time.monotonic() + timeout_s
        started = time.monotonic()

        async def compute() -> dict[str, Any]:
            # The flight may outlive this job (another job for the same video may join it
            # and this one be cancelled), so it reads its own link to the upload.
            async def on_stage(stage: str) -> None:
                await hook(DECODED if stage == "decoded" else INFERRED)

            with flight_copy(path) as own_path:
                result = await pipeline.run(own_path, analyze, deadline=deadline,
                                            want_summary=record.task == "summarize",
                                            on_stage=on_stage)
            await hook(ANALYSED)
            total_ms = (time.monotonic() - started) * 1000
            return render_body(record.task, result, request_id=record.id, total_ms=total_ms,
                               include_frames=analyze.include_frames)

        body, _ = await services.cache.get_or_compute(key, compute, read=record.read_cache)
        return {**body, "request_id": record.id}

    return execute
