"""Run one job through the same pipeline and result cache as the synchronous endpoints.

The cache key is made exactly as ``POST /v1/classify`` / ``/v1/summarize`` make it, from this
worker's own loaded model, so a job and a synchronous request for the same video share one
computation and one cache entry, in either order.

Progress: ``Pipeline.run`` has no stage hook, so the job's pipeline is a shallow copy whose
decode pool and batchers are thin observers of the real ones (same processes, same batches):
decode done -> 0.4, model done -> 0.8, analysis done -> 0.95, stored -> 1.0.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from app.api.responses import classify_body, summarize_body
from app.api.schemas import RequestOptions
from app.api.upload import flight_copy
from app.cache import make_cache_key
from app.inference.batcher import Batcher
from app.inference.decode_pool import DecodePool
from app.inference.pipeline import AnalyzeOptions, ModelRuntime, Pipeline
from app.inference.worker import ModelInput, ModelOutput
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


class _ObservedDecodePool:
    def __init__(self, pool: DecodePool, hook: ProgressHook) -> None:
        self._pool = pool
        self._hook = hook

    async def decode(self, *args: Any, **kwargs: Any) -> Any:
        decoded = await self._pool.decode(*args, **kwargs)
        await self._hook(DECODED)
        return decoded

    async def run(self, *args: Any, **kwargs: Any) -> Any:
        return await self._pool.run(*args, **kwargs)


class _ObservedBatcher:
    def __init__(self, batcher: Batcher[ModelInput, ModelOutput], hook: ProgressHook) -> None:
        self._batcher = batcher
        self._hook = hook

    async def submit(self, item: ModelInput, *, deadline: float) -> Any:
        out = await self._batcher.submit(item, deadline=deadline)
        await self._hook(INFERRED)
        return out


def observed_pipeline(pipeline: Pipeline, hook: ProgressHook) -> Pipeline:
    """A per-job view of ``pipeline`` that reports its stages to ``hook``."""
    observed = copy.copy(pipeline)
    observed.decode_pool = cast(DecodePool, _ObservedDecodePool(pipeline.decode_pool, hook))
    observed.models = {
        name: ModelRuntime(loaded=runtime.loaded, batcher=cast(
            "Batcher[ModelInput, ModelOutput]", _ObservedBatcher(runtime.batcher, hook)))
        for name, runtime in pipeline.models.items()}
    return observed


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
            with flight_copy(path) as own_path:
                result = await observed_pipeline(pipeline, hook).run(
                    own_path, analyze, deadline=deadline,
                    want_summary=record.task == "summarize")
            await hook(ANALYSED)
            total_ms = (time.monotonic() - started) * 1000
            if record.task == "classify":
                return classify_body(result, request_id=record.id, total_ms=total_ms,
                                     include_frames=analyze.include_frames)
            return summarize_body(result, request_id=record.id, total_ms=total_ms)

        body, _ = await services.cache.get_or_compute(key, compute, read=record.read_cache)
        return {**body, "request_id": record.id}

    return execute
