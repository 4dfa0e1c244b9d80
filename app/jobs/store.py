"""Where job records live: a Redis hash per job (shared), or a dict (one process).

Both stores make every state change a single atomic check-and-set, so that a worker finishing a
job, a client cancelling it and another worker taking it over can race without a lost update:
a terminal record never changes state again, progress never goes down, and only a running job
reports progress. A record gets its TTL (``ttl_s``) when it ends; queued and running records have
none, so a Redis that evicts only keys with a TTL (``volatile-lru``) never drops a pending job.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Literal, Protocol

from redis.asyncio import Redis

from app.jobs.records import TERMINAL, JobRecord, JobStatus, encode_field

KEY_PREFIX = "vbs:job:"
INDEX_KEY = "vbs:job-index"  # sorted set: job id scored by its creation time, for listing
MAX_INDEXED = 100_000  # the newest; older ids leave the index (their records keep their TTL)
INDEX_BATCH = 200  # ids read from the index per round trip when listing

# A page boundary: (created_at, id) of the last job of the previous page.
Cursor = tuple[float, str]


def _before(record: JobRecord, cursor: Cursor | None) -> bool:
    return cursor is None or (record.created_at, record.id) < cursor

# What ``start`` found: the job is now running, is gone, has used up its attempts, or is
# already queued for nobody (a terminal status).
StartOutcome = Literal["running", "missing", "exhausted", "succeeded", "failed", "cancelled"]


class JobStore(Protocol):
    async def create(self, record: JobRecord) -> None:
        """Store a new record (a terminal one, e.g. served from the cache, gets the TTL)."""

    async def get(self, job_id: str) -> JobRecord | None: ...

    async def start(self, job_id: str, worker: str, max_attempts: int
                    ) -> tuple[StartOutcome, int]:
        """Mark a queued (or orphaned running) job running and count the attempt.

        Returns the outcome and the attempts made so far. A job that has already made
        ``max_attempts`` attempts is not started ("exhausted").
        """

    async def set_progress(self, job_id: str, progress: float) -> bool:
        """Raise the progress (never lowers it). False when the job is no longer running."""

    async def finish(self, job_id: str, status: JobStatus, *,
                     result: dict[str, Any] | None = None,
                     error: dict[str, str] | None = None) -> bool:
        """End a job unless it has already ended (False then, e.g. it was cancelled)."""

    async def requeue(self, job_id: str, error: dict[str, str] | None, *,
                      count_attempt: bool) -> bool:
        """Put a running job back to queued (a retry, or a worker shutting down)."""

    async def cancel(self, job_id: str) -> JobStatus | None:
        """Cancel a queued or running job; returns the status it had (None: no such job).

        A terminal job is left as it is and its status returned.
        """

    async def statuses(self, job_ids: Iterable[str]) -> dict[str, JobStatus | None]: ...

    async def recent(self, status: JobStatus | None, limit: int, before: Cursor | None
                     ) -> list[JobRecord]:
        """Up to ``limit`` jobs, newest first, created before ``before`` (a page's cursor),
        of one status or any."""

    async def set_callback(self, job_id: str, outcome: str) -> None: ...

    async def close(self) -> None: ...


# ------------------------------------------------------------------------------------------
# Redis
# ------------------------------------------------------------------------------------------

_START_LUA = """
local status = redis.call('hget', KEYS[1], 'status')
if not status then return {'missing', 0} end
local attempts = tonumber(redis.call('hget', KEYS[1], 'attempts') or '0')
if status ~= 'queued' and status ~= 'running' then return {status, attempts} end
if attempts >= tonumber(ARGV[3]) then return {'exhausted', attempts} end
attempts = redis.call('hincrby', KEYS[1], 'attempts', 1)
redis.call('hset', KEYS[1], 'status', 'running', 'worker', ARGV[1], 'started_at', ARGV[2],
           'updated_at', ARGV[2])
return {'running', attempts}
"""

_PROGRESS_LUA = """
local status = redis.call('hget', KEYS[1], 'status')
if status ~= 'running' then return 0 end
local current = tonumber(redis.call('hget', KEYS[1], 'progress') or '0') or 0
if tonumber(ARGV[1]) > current then
  redis.call('hset', KEYS[1], 'progress', ARGV[1], 'updated_at', ARGV[2])
end
return 1
"""

# ARGV: new status, now, ttl_s, then field/value pairs to set
_FINISH_LUA = """
local status = redis.call('hget', KEYS[1], 'status')
if not status or status == 'succeeded' or status == 'failed' or status == 'cancelled' then
  return 0
end
redis.call('hset', KEYS[1], 'status', ARGV[1], 'finished_at', ARGV[2], 'updated_at', ARGV[2])
if #ARGV > 3 then redis.call('hset', KEYS[1], unpack(ARGV, 4)) end
redis.call('expire', KEYS[1], tonumber(ARGV[3]))
return 1
"""

# ARGV: now, error json, count attempt ("1"/"0")
_REQUEUE_LUA = """
if redis.call('hget', KEYS[1], 'status') ~= 'running' then return 0 end
redis.call('hset', KEYS[1], 'status', 'queued', 'updated_at', ARGV[1], 'error', ARGV[2])
if ARGV[3] == '0' then redis.call('hincrby', KEYS[1], 'attempts', -1) end
return 1
"""

_CANCEL_LUA = """
local status = redis.call('hget', KEYS[1], 'status')
if not status then return '' end
if status == 'succeeded' or status == 'failed' or status == 'cancelled' then return status end
redis.call('hset', KEYS[1], 'status', 'cancelled', 'finished_at', ARGV[1], 'updated_at', ARGV[1])
redis.call('expire', KEYS[1], tonumber(ARGV[2]))
return status
"""

# Only on an existing record: HSET on a missing (expired) key would recreate it without a TTL.
_SET_IF_EXISTS_LUA = """
if redis.call('exists', KEYS[1]) == 0 then return 0 end
redis.call('hset', KEYS[1], unpack(ARGV))
return 1
"""


def job_key(job_id: str) -> str:
    return KEY_PREFIX + job_id


class RedisJobStore:
    def __init__(self, client: Redis, *, ttl_s: int) -> None:
        self._client = client
        self._ttl_s = ttl_s
        self._start = client.register_script(_START_LUA)
        self._progress = client.register_script(_PROGRESS_LUA)
        self._finish = client.register_script(_FINISH_LUA)
        self._requeue = client.register_script(_REQUEUE_LUA)
        self._cancel = client.register_script(_CANCEL_LUA)
        self._set_if_exists = client.register_script(_SET_IF_EXISTS_LUA)

    async def create(self, record: JobRecord) -> None:
        key = job_key(record.id)
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=record.to_hash())  # type: ignore[arg-type]
            if record.status in TERMINAL:
                pipe.expire(key, self._ttl_s)
            pipe.zadd(INDEX_KEY, {record.id: record.created_at})
            pipe.zremrangebyrank(INDEX_KEY, 0, -MAX_INDEXED - 1)
            await pipe.execute()

    async def get(self, job_id: str) -> JobRecord | None:
        data: Any = await self._client.hgetall(job_key(job_id))
        return JobRecord.from_hash(data) if data else None

    async def start(self, job_id: str, worker: str, max_attempts: int
                    ) -> tuple[StartOutcome, int]:
        outcome, attempts = await self._start(keys=[job_key(job_id)],
                                              args=[worker, repr(time.time()), max_attempts])
        return outcome, int(attempts)

    async def set_progress(self, job_id: str, progress: float) -> bool:
        running = await self._progress(keys=[job_key(job_id)],
                                       args=[repr(float(progress)), repr(time.time())])
        return bool(running)

    async def finish(self, job_id: str, status: JobStatus, *,
                     result: dict[str, Any] | None = None,
                     error: dict[str, str] | None = None) -> bool:
        extra: list[str] = []
        if status is JobStatus.SUCCEEDED:
            extra += ["progress", "1.0", "result", encode_field("result", result)]
        extra += ["error", encode_field("error", error)]
        done = await self._finish(keys=[job_key(job_id)],
                                  args=[status.value, repr(time.time()), self._ttl_s, *extra])
        return bool(done)

    async def requeue(self, job_id: str, error: dict[str, str] | None, *,
                      count_attempt: bool) -> bool:
        done = await self._requeue(keys=[job_key(job_id)], args=[
            repr(time.time()), encode_field("error", error), "1" if count_attempt else "0"])
        return bool(done)

    async def cancel(self, job_id: str) -> JobStatus | None:
        before = await self._cancel(keys=[job_key(job_id)], args=[repr(time.time()),
                                                                   self._ttl_s])
        return JobStatus(before) if before else None

    async def statuses(self, job_ids: Iterable[str]) -> dict[str, JobStatus | None]:
        ids = list(job_ids)
        if not ids:
            return {}
        async with self._client.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hget(job_key(job_id), "status")
            found = await pipe.execute()
        return {job_id: JobStatus(s) if s else None for job_id, s in zip(ids, found, strict=True)}

    async def recent(self, status: JobStatus | None, limit: int, before: Cursor | None
                     ) -> list[JobRecord]:
        """Walks the index newest first in batches; ids whose record has expired are dropped
        from the index on the way."""
        out: list[JobRecord] = []
        high: float | str = "+inf" if before is None else before[0]
        offset = 0
        while len(out) < limit:
            ids: Any = await self._client.zrevrangebyscore(INDEX_KEY, high, "-inf",
                                                           start=offset, num=INDEX_BATCH)
            if not ids:
                break
            async with self._client.pipeline(transaction=False) as pipe:
                for job_id in ids:
                    pipe.hgetall(job_key(job_id))
                rows: list[Any] = await pipe.execute()
            gone = [job_id for job_id, row in zip(ids, rows, strict=True) if not row]
            if gone:
                await self._client.zrem(INDEX_KEY, *gone)
            # Removing the gone ids moved the later ones up by as many ranks.
            offset += len(ids) - len(gone)
            for row in rows:
                if not row:
                    continue
                record = JobRecord.from_hash(row)
                if _before(record, before) and (status is None or record.status is status):
                    out.append(record)
                    if len(out) == limit:
                        break
        return out

    async def set_callback(self, job_id: str, outcome: str) -> None:
        await self._set_if_exists(keys=[job_key(job_id)], args=["callback", outcome])

    async def close(self) -> None:
        await self._client.aclose()


# ------------------------------------------------------------------------------------------
# In memory (no Redis configured: the API process runs its own jobs)
# ------------------------------------------------------------------------------------------

class MemoryJobStore:
    """The same rules as ``RedisJobStore`` on a dict; ended records are dropped after ``ttl_s``.

    Records are copied in and out, so callers never share a mutable record with the store.
    """

    def __init__(self, *, ttl_s: int) -> None:
        self._ttl_s = ttl_s
        self._records: dict[str, JobRecord] = {}
        self._expires: dict[str, float] = {}

    def _live(self, job_id: str) -> JobRecord | None:
        expires = self._expires.get(job_id)
        if expires is not None and time.monotonic() >= expires:
            self._records.pop(job_id, None)
            self._expires.pop(job_id, None)
        return self._records.get(job_id)

    def _expire_later(self, job_id: str) -> None:
        self._expires[job_id] = time.monotonic() + self._ttl_s
        # Sweep now and then so ended jobs nobody asks about again do not pile up.
        if len(self._expires) % 64 == 0:
            for other in list(self._expires):
                self._live(other)

    async def create(self, record: JobRecord) -> None:
        self._records[record.id] = JobRecord.from_hash(record.to_hash())
        if record.status in TERMINAL:
            self._expire_later(record.id)

    async def get(self, job_id: str) -> JobRecord | None:
        record = self._live(job_id)
        return JobRecord.from_hash(record.to_hash()) if record else None

    async def start(self, job_id: str, worker: str, max_attempts: int
                    ) -> tuple[StartOutcome, int]:
        record = self._live(job_id)
        if record is None:
            return "missing", 0
        if record.status in TERMINAL:
            return record.status.value, record.attempts  # type: ignore[return-value]
        if record.attempts >= max_attempts:
            return "exhausted", record.attempts
        record.attempts += 1
        record.status = JobStatus.RUNNING
        record.worker = worker
        record.started_at = record.updated_at = time.time()
        return "running", record.attempts

    async def set_progress(self, job_id: str, progress: float) -> bool:
        record = self._live(job_id)
        if record is None or record.status is not JobStatus.RUNNING:
            return False
        if progress > record.progress:
            record.progress = float(progress)
            record.updated_at = time.time()
        return True

    async def finish(self, job_id: str, status: JobStatus, *,
                     result: dict[str, Any] | None = None,
                     error: dict[str, str] | None = None) -> bool:
        record = self._live(job_id)
        if record is None or record.status in TERMINAL:
            return False
        record.status = status
        record.finished_at = record.updated_at = time.time()
        if status is JobStatus.SUCCEEDED:
            record.progress = 1.0
            record.result = result
        record.error = error
        self._expire_later(job_id)
        return True

    async def requeue(self, job_id: str, error: dict[str, str] | None, *,
                      count_attempt: bool) -> bool:
        record = self._live(job_id)
        if record is None or record.status is not JobStatus.RUNNING:
            return False
        record.status = JobStatus.QUEUED
        record.error = error
        record.updated_at = time.time()
        if not count_attempt:
            record.attempts -= 1
        return True

    async def cancel(self, job_id: str) -> JobStatus | None:
        record = self._live(job_id)
        if record is None:
            return None
        before = record.status
        if before not in TERMINAL:
            record.status = JobStatus.CANCELLED
            record.finished_at = record.updated_at = time.time()
            self._expire_later(job_id)
        return before

    async def statuses(self, job_ids: Iterable[str]) -> dict[str, JobStatus | None]:
        out: dict[str, JobStatus | None] = {}
        for job_id in job_ids:
            record = self._live(job_id)
            out[job_id] = record.status if record else None
        return out

    async def recent(self, status: JobStatus | None, limit: int, before: Cursor | None
                     ) -> list[JobRecord]:
        live = [r for r in map(self._live, list(self._records)) if r is not None]
        live.sort(key=lambda r: (r.created_at, r.id), reverse=True)
        return [JobRecord.from_hash(r.to_hash()) for r in live
                if _before(r, before) and (status is None or r.status is status)][:limit]

    async def set_callback(self, job_id: str, outcome: str) -> None:
        record = self._live(job_id)
        if record is not None:
            record.callback = outcome

    async def close(self) -> None:
        self._records.clear()
        self._expires.clear()
