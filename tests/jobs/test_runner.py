"""The runner's decisions against a real Redis queue, with a stand-in for the computation."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest_asyncio

from app.errors import InferenceFailed, VideoRejected
from app.jobs.execute import ProgressHook
from app.jobs.manager import jobs_redis_client
from app.jobs.queue import RedisStreamQueue
from app.jobs.records import JobRecord, JobStatus, new_job_id
from app.jobs.runner import JobRunner, RunnerConfig
from app.jobs.store import RedisJobStore
from app.jobs.uploads import UploadStore
from tests.redis_server import RedisServer

Behaviour = Callable[[JobRecord, Path, ProgressHook], Awaitable[dict[str, Any]]]


@dataclass
class Harness:
    store: RedisJobStore
    queue: RedisStreamQueue
    uploads: UploadStore
    calls: list[str] = field(default_factory=list)
    runners: list[JobRunner] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)

    def runner(self, behaviour: Behaviour, *, consumer: str = "w1", max_attempts: int = 3,
               claim_idle_s: float = 0.5) -> JobRunner:
        async def execute(record: JobRecord, path: Path, hook: ProgressHook
                          ) -> dict[str, Any]:
            self.calls.append(record.id)
            assert path.read_bytes() == b"video bytes"
            return await behaviour(record, path, hook)

        runner = JobRunner(store=self.store, queue=self.queue, uploads=self.uploads,
                           config=RunnerConfig(consumer=consumer, concurrency=2,
                                               max_attempts=max_attempts,
                                               claim_idle_s=claim_idle_s),
                           execute=execute, on_end=self.ended.append)
        self.runners.append(runner)
        return runner

    async def submit(self) -> str:
        record = JobRecord(id=new_job_id(), task="classify", cache_key="k",
                           sha256="a" * 64, size_bytes=11)
        self.uploads.ensure()
        self.uploads.path(record.id).write_bytes(b"video bytes")
        await self.store.create(record)
        await self.queue.put(record.id)
        return record.id

    async def wait(self, job_id: str, statuses: tuple[JobStatus, ...], timeout_s: float = 15
                   ) -> JobRecord:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            record = await self.store.get(job_id)
            assert record is not None
            if record.status in statuses:
                return record
            assert asyncio.get_running_loop().time() < deadline, record.status
            await asyncio.sleep(0.02)


@pytest_asyncio.fixture
async def harness(redis_server: RedisServer, tmp_path: Path) -> AsyncIterator[Harness]:
    client = jobs_redis_client(redis_server.url)
    h = Harness(store=RedisJobStore(client, ttl_s=60),
                queue=RedisStreamQueue(client, stream=f"test:{uuid.uuid4().hex}"),
                uploads=UploadStore(tmp_path / "jobs"))
    await h.queue.setup()
    try:
        yield h
    finally:
        for runner in h.runners:
            await runner.stop()
        await client.aclose()


async def _succeed(record: JobRecord, path: Path, hook: ProgressHook) -> dict[str, Any]:
    await hook(0.4)
    return {"request_id": record.id, "labels": ["x"]}


class Stalling:
    """An execute function that never finishes on its own and says when it starts and stops."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.stopped = asyncio.Event()

    async def __call__(self, record: JobRecord, path: Path, hook: ProgressHook
                       ) -> dict[str, Any]:
        self.started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            self.stopped.set()
            raise
        return {}


async def test_a_job_runs_once_and_cleans_up(harness: Harness) -> None:
    job_id = await harness.submit()
    harness.runner(_succeed).start()
    record = await harness.wait(job_id, (JobStatus.SUCCEEDED,))
    assert record.result == {"request_id": job_id, "labels": ["x"]}
    assert (record.attempts, record.worker, record.progress) == (1, "w1", 1.0)
    assert harness.calls == [job_id]
    assert not harness.uploads.path(job_id).exists()
    assert await harness.queue.depth() == 0
    assert harness.ended == [job_id]


async def test_a_poisoned_job_fails_after_its_attempts(harness: Harness) -> None:
    async def poisoned(record: JobRecord, path: Path, hook: ProgressHook) -> dict[str, Any]:
        raise InferenceFailed("the model raised on this batch")

    job_id = await harness.submit()
    harness.runner(poisoned, max_attempts=3).start()
    record = await harness.wait(job_id, (JobStatus.FAILED,))
    assert harness.calls == [job_id] * 3
    assert record.attempts == 3
    assert record.error == {"code": "inference_failed", "message": (
        "Gave up after 3 attempts. Last error: the model raised on this batch")}
    assert await harness.queue.depth() == 0
    assert not harness.uploads.path(job_id).exists()


async def test_a_rejected_video_fails_at_once(harness: Harness) -> None:
    async def rejected(record: JobRecord, path: Path, hook: ProgressHook) -> dict[str, Any]:
        raise VideoRejected("too long", code="video_too_long")

    job_id = await harness.submit()
    harness.runner(rejected).start()
    record = await harness.wait(job_id, (JobStatus.FAILED,))
    assert harness.calls == [job_id]
    assert record.error == {"code": "video_too_long", "message": "too long"}


async def test_an_unexpected_error_is_retried_and_hidden(harness: Harness) -> None:
    failures = [RuntimeError("secret internals")]

    async def flaky(record: JobRecord, path: Path, hook: ProgressHook) -> dict[str, Any]:
        if failures:
            raise failures.pop()
        return await _succeed(record, path, hook)

    job_id = await harness.submit()
    harness.runner(flaky).start()
    record = await harness.wait(job_id, (JobStatus.SUCCEEDED,))
    assert record.attempts == 2 and harness.calls == [job_id, job_id]


async def test_a_job_that_kills_its_workers_ends_failed(harness: Harness) -> None:
    # Two workers took the job and died holding it (attempts counted, never acknowledged).
    job_id = await harness.submit()
    for dead in ("dead1", "dead2"):
        [delivery] = (await harness.queue.take(dead, 1, 0.1)
                      or await harness.queue.claim_stale(dead, 0.0, 1))
        assert await harness.store.start(job_id, dead, 2) == ("running", int(dead[-1]))
    harness.runner(_succeed, max_attempts=2, claim_idle_s=0.2).start()
    record = await harness.wait(job_id, (JobStatus.FAILED,))
    assert harness.calls == []
    assert record.error is not None and record.error["code"] == "job_failed"
    assert record.error["message"].startswith("Gave up after 2 attempts")
    assert await harness.queue.depth() == 0


async def test_cancel_stops_a_running_job(harness: Harness) -> None:
    slow = Stalling()
    started, stopped = slow.started, slow.stopped
    job_id = await harness.submit()
    runner = harness.runner(slow)
    runner.start()
    await asyncio.wait_for(started.wait(), 10)
    assert await harness.store.cancel(job_id) is JobStatus.RUNNING
    await asyncio.wait_for(stopped.wait(), 5)
    for _ in range(100):
        if runner.in_flight == 0:
            break
        await asyncio.sleep(0.02)
    assert runner.in_flight == 0
    assert await harness.queue.depth() == 0
    assert not harness.uploads.path(job_id).exists()
    record = await harness.store.get(job_id)
    assert record is not None and record.status is JobStatus.CANCELLED


async def test_stopping_hands_running_jobs_back(harness: Harness) -> None:
    started = asyncio.Event()

    async def slow(record: JobRecord, path: Path, hook: ProgressHook) -> dict[str, Any]:
        started.set()
        await asyncio.sleep(60)
        return {}

    job_id = await harness.submit()
    runner = harness.runner(slow)
    runner.start()
    await asyncio.wait_for(started.wait(), 10)
    await runner.stop(grace_s=0.0)
    record = await harness.store.get(job_id)
    assert record is not None
    assert (record.status, record.attempts) == (JobStatus.QUEUED, 0)
    [again] = await harness.queue.take("other", 5, 0.1)  # at once, no idle wait
    assert again.job_id == job_id
    assert harness.uploads.path(job_id).exists()


async def test_a_job_taken_over_is_left_to_its_new_holder(harness: Harness) -> None:
    slow = Stalling()
    started, stopped = slow.started, slow.stopped
    job_id = await harness.submit()
    runner = harness.runner(slow, claim_idle_s=3.0)
    runner.start()
    await asyncio.wait_for(started.wait(), 10)
    [taken] = await harness.queue.claim_stale("usurper", 0.0, 1)  # as if w1 had gone silent
    await asyncio.wait_for(stopped.wait(), 5)
    assert harness.uploads.path(job_id).exists()  # the new holder still needs it
    assert await harness.queue.heartbeat("usurper", [taken]) == {taken.entry_id}


async def test_a_heartbeat_during_the_acknowledgement_does_not_leave_the_upload(
        harness: Harness) -> None:
    # The acknowledgement reaches Redis, then its reply is slow: meanwhile the heartbeat finds
    # the entry gone, which looks like a take-over, but the job has ended here.
    real_ack = harness.queue.ack
    acked = asyncio.Event()

    async def ack_with_a_slow_reply(delivery: Any) -> None:
        await real_ack(delivery)
        acked.set()
        await asyncio.sleep(1.5)  # more than a supervision beat

    harness.queue.ack = ack_with_a_slow_reply  # type: ignore[method-assign]
    job_id = await harness.submit()
    runner = harness.runner(_succeed, claim_idle_s=0.3)
    runner.start()
    await asyncio.wait_for(acked.wait(), 10)
    for _ in range(200):
        if runner.in_flight == 0:
            break
        await asyncio.sleep(0.02)
    assert runner.in_flight == 0
    assert not harness.uploads.path(job_id).exists()
    assert harness.ended == [job_id]
