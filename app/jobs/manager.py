"""The jobs facade the API and the worker use: submit, look up, cancel, run.

With a Redis URL (``jobs_redis_url``, else ``redis_url``) records and queue live in Redis and
``videobert worker`` processes run the jobs, and the API process runs them too unless
``run_jobs_in_api`` is turned off (dedicated workers). Then, with no worker alive (each announces
itself in Redis every few seconds), a submission is refused with 503 ``no_job_workers`` rather
than queued for nobody. Without Redis everything lives in the API process, which runs its own
jobs (they are lost when it stops).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.analysis import Analyzer, RequestOptions, StoredVideo, Task
from app.errors import InvalidOption, JobNotFound, ServiceUnavailable
from app.jobs.callbacks import CallbackPolicy, deliver
from app.jobs.execute import Execute, Indexer, analyzer_executor, pipeline_options
from app.jobs.queue import JobQueue, MemoryQueue, RedisStreamQueue
from app.jobs.records import (
    TERMINAL,
    JobRecord,
    JobStatus,
    is_job_id,
    job_finished,
    new_job_id,
)
from app.jobs.runner import JobRunner, RunnerConfig, consumer_name
from app.jobs.store import Cursor, JobStore, MemoryJobStore, RedisJobStore
from app.jobs.uploads import UploadStore, default_jobs_dir
from app.settings import Settings

log = logging.getLogger(__name__)


def jobs_redis_client(url: str) -> Redis:
    """Unlike the cache (which must never slow a request), the queue is the job's only home:
    wait longer for Redis and let redis-py retry a dropped connection."""
    return Redis.from_url(url, decode_responses=True, socket_connect_timeout=2.0,
                          socket_timeout=TAKE_SOCKET_TIMEOUT_S, health_check_interval=30)


TAKE_SOCKET_TIMEOUT_S = 10.0  # above the runner's blocking read (1 s)


class JobManager:
    def __init__(self, *, settings: Settings, store: JobStore, queue: JobQueue,
                 uploads: UploadStore, analyzer: Analyzer, is_shared: bool,
                 execute: Execute | None = None, indexer: Indexer | None = None) -> None:
        self.settings = settings
        self.store = store
        self.queue = queue
        self.uploads = uploads
        self.analyzer = analyzer
        self.is_shared = is_shared
        self.callbacks = CallbackPolicy(settings.callback_hosts)
        self.runner: JobRunner | None = None
        self._execute = execute or analyzer_executor(analyzer, timeout_s=settings.job_timeout_s,
                                                     indexer=indexer)
        self.can_index = indexer is not None
        self._background: set[asyncio.Task[Any]] = set()

    @classmethod
    def from_settings(cls, settings: Settings, analyzer: Analyzer,
                      indexer: Indexer | None = None) -> JobManager:
        """Nothing connects or touches the disk here. ``indexer``: how a job with index=true
        adds its video to the library."""
        uploads = UploadStore(settings.jobs_dir or default_jobs_dir())
        url = settings.jobs_redis_url or settings.redis_url
        if url:
            client = jobs_redis_client(url)
            return cls(settings=settings, store=RedisJobStore(client, ttl_s=settings.job_ttl_s),
                       queue=RedisStreamQueue(client), uploads=uploads, analyzer=analyzer,
                       is_shared=True, indexer=indexer)
        return cls(settings=settings, store=MemoryJobStore(ttl_s=settings.job_ttl_s),
                   queue=MemoryQueue(), uploads=uploads, analyzer=analyzer, is_shared=False,
                   indexer=indexer)

    @property
    def runs_in_api(self) -> bool:
        return not self.is_shared or self.settings.run_jobs_in_api

    # -- running -----------------------------------------------------------------------------
    def start_runner(self, consumer: str | None = None) -> JobRunner:
        if self.runner is None:
            s = self.settings
            self.runner = JobRunner(
                store=self.store, queue=self.queue, uploads=self.uploads,
                config=RunnerConfig(consumer=consumer or consumer_name(),
                                    concurrency=s.worker_concurrency,
                                    max_attempts=s.job_max_attempts,
                                    claim_idle_s=s.job_claim_idle_s,
                                    sweep_after_s=float(s.job_ttl_s)),
                execute=self._execute, on_end=self.notify,
                is_ready=self.analyzer.is_ready)
            self.runner.start()
            log.info("job runner %s started (%d at a time, %s queue)",
                     self.runner.config.consumer, s.worker_concurrency,
                     "Redis" if self.is_shared else "in-process")
        return self.runner

    async def close(self, grace_s: float = 0.0) -> None:
        if self.runner is not None:
            await self.runner.stop(grace_s if self.is_shared else 0.0)
        if self._background:
            await asyncio.wait(self._background, timeout=self.settings.callback_timeout_s * 3)
        await self.queue.close()
        await self.store.close()

    # -- the API's calls ---------------------------------------------------------------------
    async def submit(self, *, task: Task, options: RequestOptions, upload: StoredVideo,
                     read_cache: bool = True, callback_url: str | None = None,
                     request_id: str = "", index_namespace: str | None = None,
                     index_name: str | None = None) -> JobRecord:
        """Create a job for a received upload (which is moved into the jobs folder).

        A video whose answer is cached completes at once, without queueing. Options, the
        callback URL and the video itself (probed against the policy) are checked here, so a
        job that is accepted can only fail for reasons found while computing it.
        """
        if options.format != "json":
            raise InvalidOption("Jobs return JSON; for keyframe images ask thumbnails=true.")
        if not self.runs_in_api:
            await self._require_a_worker()
        if callback_url is not None:
            self.callbacks.check_url(callback_url)
        if index_namespace is not None:
            if not self.can_index or not (self.runs_in_api or self.settings.library_is_shared):
                raise ServiceUnavailable(
                    "Jobs run in dedicated workers here, which cannot write this API's embedded "
                    "library: set VIDEOBERT_VECTOR_URL to a Qdrant server to index jobs, or "
                    "send the video to POST /v1/videos.", code="index_unavailable")
            self.analyzer.require_text_encoder(options.model)  # the library's vectors need it
        record = JobRecord(
            id=new_job_id(), task=task, cache_key="", sha256=upload.sha256,
            size_bytes=upload.size_bytes, options=options.model_dump(mode="json"),
            read_cache=read_cache, callback_url=callback_url, request_id=request_id,
            index_namespace=index_namespace, index_name=index_name)
        record.cache_key = self.analyzer.cache_key(upload.sha256, task,
                                                   pipeline_options(record))
        # A cached answer completes at once, unless the video must still be indexed.
        cached = await self.analyzer.cached_answer(upload.sha256, task, pipeline_options(
            record)) if read_cache and index_namespace is None else None
        if cached is None:
            await self.analyzer.check_policy(upload)
        try:
            if cached is not None:
                now = time.time()
                record.status, record.progress = JobStatus.SUCCEEDED, 1.0
                record.started_at = record.finished_at = record.updated_at = now
                record.result = {**cached, "request_id": record.id}
                await self.store.create(record)
                self.notify(record.id)
                return record
            self.uploads.ensure()
            self.uploads.adopt(upload.path, record.id)
            await self.store.create(record)
            await self.queue.put(record.id)
        except (RedisError, OSError) as exc:
            self.uploads.remove(record.id)
            # A record that made it in but was never queued must not read "queued" for ever.
            with contextlib.suppress(RedisError, OSError):
                await self.store.finish(record.id, JobStatus.FAILED, error={
                    "code": "jobs_unavailable", "message": "The job could not be queued."})
            raise _unavailable(exc) from None
        return record

    async def get(self, job_id: str) -> JobRecord:
        if not is_job_id(job_id):
            raise _not_found(job_id)
        try:
            record = await self.store.get(job_id)
        except (RedisError, OSError) as exc:
            raise _unavailable(exc) from None
        if record is None:
            raise _not_found(job_id)
        return record

    async def live_workers(self) -> int:
        """Job runners alive now: workers that announced themselves, and this process's."""
        try:
            return await self.queue.live_consumers()
        except (RedisError, OSError) as exc:
            raise _unavailable(exc) from None

    async def _require_a_worker(self) -> None:
        if await self.live_workers() == 0:
            raise ServiceUnavailable(
                "No job worker is running, and this API does not run jobs itself "
                "(VIDEOBERT_RUN_JOBS_IN_API=false): a job would wait for ever. Start "
                "`videobert worker` with the same VIDEOBERT_REDIS_URL, or let the API run jobs.",
                code="no_job_workers", retry_after_s=10)

    async def recent(self, status: JobStatus | None, limit: int, before: Cursor | None
                     ) -> list[JobRecord]:
        """A page of jobs, newest first (``JobStore.recent``)."""
        try:
            return await self.store.recent(status, limit, before)
        except (RedisError, OSError) as exc:
            raise _unavailable(exc) from None

    async def cancel(self, job_id: str) -> JobRecord:
        """Cancel a queued or running job (409 for one that succeeded or failed)."""
        if not is_job_id(job_id):
            raise _not_found(job_id)
        try:
            before = await self.store.cancel(job_id)
            if before is None:
                raise _not_found(job_id)
            if before in (JobStatus.SUCCEEDED, JobStatus.FAILED):
                raise job_finished(job_id, before)
            if before is JobStatus.QUEUED:
                # No worker has started it, and none will: the upload can go now. A running
                # job's worker notices the cancel within a moment and cleans up itself.
                self.uploads.remove(job_id)
            return await self.get(job_id)
        except (RedisError, OSError) as exc:
            raise _unavailable(exc) from None

    async def depth(self) -> int:
        return await self.queue.depth()

    # -- callbacks ---------------------------------------------------------------------------
    def notify(self, job_id: str) -> None:
        """Send the job's callback (if it has one) in the background."""
        task = asyncio.create_task(self._send_callback(job_id), name=f"callback-{job_id}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _send_callback(self, job_id: str) -> None:
        try:
            record = await self.store.get(job_id)
            if record is None or not record.callback_url or record.status not in TERMINAL:
                return
            outcome = await deliver(record.callback_url, record.public(), self.callbacks,
                                    timeout_s=self.settings.callback_timeout_s,
                                    message_id=f"msg_{record.id}",
                                    secret=self.settings.callback_secret)
            await self.store.set_callback(job_id, outcome)
        except (RedisError, OSError):
            log.warning("job %s: could not record its callback outcome", job_id)


def _not_found(job_id: str) -> JobNotFound:
    return JobNotFound(f"No job {job_id[:64]!r}: it never existed or its result has expired "
                       "(finished jobs are kept for VIDEOBERT_JOB_TTL_S).")


def _unavailable(exc: BaseException) -> ServiceUnavailable:
    log.warning("job store unavailable: %r", exc)
    return ServiceUnavailable("The job queue is unavailable right now; retry shortly.",
                              code="jobs_unavailable", retry_after_s=5)
