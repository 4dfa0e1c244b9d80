"""The running service's parts, built in order and stopped in reverse.

Start: admission -> cache -> decode processes -> models (in the background for the API, whose
probes must answer meanwhile) -> the analysis use case -> jobs. Stop: jobs first (in-flight jobs
get the grace period while the model still answers) -> models -> decode processes -> cache.

No HTTP here: the API, the CLI and the job worker all start the same ``Services``, and once
``start`` has returned no part is missing.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from app.analysis import Admission, Analyzer
from app.analysis.orphans import sweep_orphans
from app.cache import ResultCache, build_cache
from app.inference.decode_pool import DecodePool
from app.inference.host import ModelHost
from app.jobs import JobManager
from app.library import Library
from app.library.setup import build_library
from app.metrics import Metrics
from app.settings import Settings

log = logging.getLogger(__name__)
# An upload older than this is no live request's (bodies time out in minutes, decodes too).
STALE_UPLOAD_S = 6 * 3600


@dataclass(frozen=True)
class Services:
    settings: Settings
    metrics: Metrics
    admission: Admission
    cache: ResultCache
    decode_pool: DecodePool
    models: ModelHost
    analyzer: Analyzer
    jobs: JobManager
    library: Library

    @classmethod
    async def start(cls, settings: Settings, *, metrics: Metrics | None = None,
                    background_warmup: bool = True, in_worker: bool = False) -> Services:
        """Nothing here raises for a model that fails to load: the service then stays unready
        with ``models.startup_error`` (the API still answers its probes)."""
        s = settings
        metrics = metrics or Metrics()
        upload_dir = s.upload_dir or Path(tempfile.gettempdir())
        # A configured folder that does not exist yet is made: otherwise every upload is a 500.
        upload_dir.mkdir(parents=True, exist_ok=True)
        # Uploads of an earlier run of this host that was killed (its own are named by pid).
        swept = sweep_orphans(upload_dir, STALE_UPLOAD_S)
        if swept:
            log.info("removed %d upload(s) left by a process that died", swept)
        admission = Admission(s.max_inflight_requests, s.retry_after_s, metrics)
        cache = build_cache(
            s.redis_url, ttl_s=s.cache_ttl_s, max_entries=s.cache_max_entries,
            connect_timeout_ms=s.redis_connect_timeout_ms, timeout_ms=s.redis_timeout_ms,
            breaker_failures=s.redis_breaker_failures,
            breaker_cooldown_s=s.redis_breaker_cooldown_s, lock_s=s.single_flight_lock_s,
            metrics=metrics, wait_s=s.request_timeout_s)
        # Decoding is ~90% of a request's CPU on a CPU host: one decode process per core, and a
        # small torch thread budget, measured best for throughput (docs/performance.md).
        workers = s.decode_workers or max(1, min(8, os.cpu_count() or 1))
        decode_pool = DecodePool(
            workers=workers, memory_limit_mb=s.decode_memory_mb,
            cpu_limit_s=int(s.decode_timeout_s * 2) + 5, max_file_mb=64,
            on_restart=lambda reason: metrics.decode_restarts.labels(reason=reason).inc())
        decode_pool.start()
        models = ModelHost(s, metrics, decode_pool)
        await models.start(background=background_warmup)
        analyzer = Analyzer(models=models, cache=cache, decode_pool=decode_pool, metrics=metrics)
        library = build_library(s, analyzer, metrics)
        # A job worker indexes only into a library every process shares (the API's embedded
        # one is the API's alone); the API's in-process runner uses the API's own.
        can_index = not in_worker or s.library_is_shared
        jobs = JobManager.from_settings(
            s, analyzer, indexer=library.analyze_and_add if can_index else None)
        return cls(settings=s, metrics=metrics, admission=admission, cache=cache,
                   decode_pool=decode_pool, models=models, analyzer=analyzer, jobs=jobs,
                   library=library)

    async def stop(self) -> None:
        await self.jobs.close(self.settings.shutdown_grace_s)
        await self.library.close()
        await self.models.close()
        await self.decode_pool.close()
        await self.cache.close()
