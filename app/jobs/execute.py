"""Run one job through the analysis use case, with progress.

The job computes exactly what ``POST /v1/classify`` / ``/v1/summarize`` would (same cache key,
same single flight), so a job and a synchronous request for the same video share one computation
and one cache entry, in either order.

Progress, from the use case's stage hook: decoded -> 0.4, inferred -> 0.8, analyzed -> 0.95;
the runner sets 1.0 once the result is stored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from app.analysis import Analyzer, RequestOptions, StoredVideo
from app.inference.pipeline import PipelineOptions
from app.jobs.records import JobRecord

PROGRESS_AT_STAGE = {"decoded": 0.4, "inferred": 0.8, "analyzed": 0.95}

ProgressHook = Callable[[float], Awaitable[None]]
Execute = Callable[[JobRecord, Path, ProgressHook], Awaitable[dict[str, Any]]]


def pipeline_options(record: JobRecord) -> PipelineOptions:
    return RequestOptions.model_validate(record.options).to_pipeline()


def analyzer_executor(analyzer: Analyzer, *, timeout_s: float) -> Execute:
    """What a runner calls to compute a job: the cached answer, else the pipeline's."""

    async def execute(record: JobRecord, path: Path, hook: ProgressHook) -> dict[str, Any]:
        async def on_stage(stage: str) -> None:
            await hook(PROGRESS_AT_STAGE[stage])

        video = StoredVideo(path=path, sha256=record.sha256, size_bytes=record.size_bytes)
        analyzed = await analyzer.analyze(video, record.task, pipeline_options(record),
                                          request_id=record.id, timeout_s=timeout_s,
                                          read_cache=record.read_cache, on_stage=on_stage)
        return analyzed.body

    return execute
