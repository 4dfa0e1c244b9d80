"""Job records and the queue against a real redis-server (and the in-memory twins)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from app.jobs import store as store_module
from app.jobs.manager import jobs_redis_client
from app.jobs.queue import Delivery, MemoryQueue, RedisStreamQueue
from app.jobs.records import JobRecord, JobStatus, new_job_id
from app.jobs.store import (
    INDEX_KEY,
    Cursor,
    JobStore,
    MemoryJobStore,
    RedisJobStore,
    job_key,
)
from tests.redis_server import RedisServer

TTL_S = 100


def _record(**overrides: object) -> JobRecord:
    values: dict[str, object] = {"id": new_job_id(), "task": "classify",
                                 "cache_key": "vbs:v1:" + "0" * 64, "sha256": "a" * 64,
                                 "size_bytes": 1234, "options": {"top_k": 3, "fps": 2.5},
                                 "callback_url": "https://hooks.example.com/x"}
    values.update(overrides)
    return JobRecord(**values)  # type: ignore[arg-type]


@pytest_asyncio.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, redis_server: RedisServer
                ) -> AsyncIterator[JobStore]:
    if request.param == "memory":
        yield MemoryJobStore(ttl_s=TTL_S)
        return
    redis_store = RedisJobStore(jobs_redis_client(redis_server.url), ttl_s=TTL_S)
    yield redis_store
    await redis_store.close()


async def test_record_round_trips(store: JobStore) -> None:
    record = _record()
    await store.create(record)
    assert await store.get(record.id) == record
    assert await store.get(new_job_id()) is None


async def test_start_counts_attempts_up_to_the_limit(store: JobStore) -> None:
    record = _record()
    await store.create(record)
    assert await store.start(record.id, "w1", 2) == ("running", 1)
    # A worker taking over an orphaned running job starts it again: a second attempt.
    assert await store.start(record.id, "w2", 2) == ("running", 2)
    assert await store.start(record.id, "w3", 2) == ("exhausted", 2)
    got = await store.get(record.id)
    assert got is not None and got.worker == "w2" and got.status is JobStatus.RUNNING


async def test_progress_only_rises_and_only_while_running(store: JobStore) -> None:
    record = _record()
    await store.create(record)
    assert await store.set_progress(record.id, 0.4) is False  # still queued
    await store.start(record.id, "w", 3)
    assert await store.set_progress(record.id, 0.8) is True
    assert await store.set_progress(record.id, 0.4) is True
    got = await store.get(record.id)
    assert got is not None and got.progress == 0.8


async def test_a_finished_job_never_changes_again(store: JobStore) -> None:
    record = _record()
    await store.create(record)
    await store.start(record.id, "w", 3)
    assert await store.finish(record.id, JobStatus.SUCCEEDED, result={"ok": [1, 2]})
    assert not await store.finish(record.id, JobStatus.FAILED,
                                  error={"code": "x", "message": "y"})
    assert await store.cancel(record.id) is JobStatus.SUCCEEDED
    assert not await store.requeue(record.id, None, count_attempt=True)
    assert await store.start(record.id, "w", 3) == ("succeeded", 1)
    got = await store.get(record.id)
    assert got is not None
    assert (got.status, got.result, got.error, got.progress) == (
        JobStatus.SUCCEEDED, {"ok": [1, 2]}, None, 1.0)


async def test_cancel_wins_over_a_late_finish(store: JobStore) -> None:
    record = _record()
    await store.create(record)
    await store.start(record.id, "w", 3)
    assert await store.cancel(record.id) is JobStatus.RUNNING
    assert not await store.finish(record.id, JobStatus.SUCCEEDED, result={"late": True})
    assert await store.set_progress(record.id, 0.9) is False
    got = await store.get(record.id)
    assert got is not None and got.status is JobStatus.CANCELLED and got.result is None


async def test_requeue_keeps_or_returns_the_attempt(store: JobStore) -> None:
    record = _record()
    await store.create(record)
    await store.start(record.id, "w", 3)
    assert await store.requeue(record.id, {"code": "inference_failed", "message": "m"},
                               count_attempt=True)
    await store.start(record.id, "w", 3)
    assert await store.requeue(record.id, None, count_attempt=False)
    got = await store.get(record.id)
    assert got is not None and got.status is JobStatus.QUEUED and got.attempts == 1


async def test_ended_records_get_the_ttl_pending_ones_none(redis_server: RedisServer) -> None:
    client = jobs_redis_client(redis_server.url)
    store = RedisJobStore(client, ttl_s=TTL_S)
    try:
        pending, done = _record(), _record()
        await store.create(pending)
        await store.create(done)
        await store.start(done.id, "w", 3)
        await store.finish(done.id, JobStatus.FAILED, error={"code": "c", "message": "m"})
        assert await client.ttl(job_key(pending.id)) == -1
        assert 0 < await client.ttl(job_key(done.id)) <= TTL_S
        await client.delete(job_key(done.id))
        await store.set_callback(done.id, "delivered")  # must not resurrect an expired record
        assert await client.exists(job_key(done.id)) == 0
    finally:
        await store.close()


# -- queue -------------------------------------------------------------------------------------

@pytest_asyncio.fixture
async def stream(redis_server: RedisServer) -> AsyncIterator[RedisStreamQueue]:
    client = jobs_redis_client(redis_server.url)
    queue = RedisStreamQueue(client, stream=f"test:{uuid.uuid4().hex}")
    await queue.setup()
    await queue.setup()  # idempotent
    yield queue
    await client.aclose()


async def test_each_entry_goes_to_one_consumer(stream: RedisStreamQueue) -> None:
    ids = [new_job_id() for _ in range(5)]
    for job_id in ids:
        await stream.put(job_id)
    first = await stream.take("a", 3, 0.1)
    second = await stream.take("b", 3, 0.1)
    assert [d.job_id for d in first + second] == ids
    assert await stream.take("c", 3, 0.05) == []
    for d in first + second:
        await stream.ack(d)
    assert await stream.depth() == 0  # acknowledged entries are deleted


async def test_a_silent_consumers_entries_are_taken_over(stream: RedisStreamQueue) -> None:
    await stream.put("1" * 32)
    await stream.put("2" * 32)
    dead = await stream.take("dead", 1, 0.1)
    alive = await stream.take("alive", 1, 0.1)
    assert await stream.claim_stale("rescuer", 0.2, 10) == []  # not idle long enough
    await asyncio.sleep(0.3)
    assert await stream.heartbeat("alive", alive) == {alive[0].entry_id}
    claimed = await stream.claim_stale("rescuer", 0.2, 10)
    assert claimed == dead  # same job and entry; the live consumer's entry stays put
    # The dead consumer, were it to wake up, no longer holds its entry.
    assert await stream.heartbeat("dead", dead) == set()


async def test_retry_requeues_at_the_end(stream: RedisStreamQueue) -> None:
    await stream.put("1" * 32)
    await stream.put("2" * 32)
    [first] = await stream.take("a", 1, 0.1)
    await stream.retry(first)
    again = await stream.take("a", 5, 0.1)
    assert [d.job_id for d in again] == ["2" * 32, "1" * 32]
    assert await stream.depth() == 2
    # Both are pending now (a retried entry is never lost).
    assert [d.job_id for d in await stream.claim_stale("b", 0.0, 10)] == ["2" * 32, "1" * 32]


async def test_memory_queue_hands_out_in_order() -> None:
    queue = MemoryQueue()
    for job_id in ("a", "b", "c"):
        await queue.put(job_id)
    got = await queue.take("w", 2, 0.1)
    assert got == [Delivery("a", "1"), Delivery("b", "2")]
    await queue.retry(got[0])
    await queue.ack(got[1])
    assert [d.job_id for d in await queue.take("w", 5, 0.1)] == ["c", "a"]
    assert await queue.take("w", 1, 0.01) == []


async def test_recent_pages_newest_first_by_status(store: JobStore) -> None:
    # Creation times after any other record's, in this run or an earlier one on the same
    # Redis, so that the newest ones are these.
    base = 4e9 + time.time()
    records = [_record(created_at=base + i) for i in range(5)]
    for record in records:
        await store.create(record)
    await store.finish(records[1].id, JobStatus.SUCCEEDED, result={"x": 1})
    top: Cursor = (base + 100, "")
    first = await store.recent(None, 3, top)
    assert [r.id for r in first] == [records[i].id for i in (4, 3, 2)]
    rest = await store.recent(None, 3, (first[-1].created_at, first[-1].id))
    assert [r.id for r in rest][:2] == [records[1].id, records[0].id]
    done = await store.recent(JobStatus.SUCCEEDED, 10, top)
    assert done[0].id == records[1].id
    assert all(r.status is JobStatus.SUCCEEDED for r in done)


async def test_recent_skips_and_forgets_expired_records(redis_server: RedisServer) -> None:
    client = jobs_redis_client(redis_server.url)
    redis_store = RedisJobStore(client, ttl_s=TTL_S)
    record = _record(created_at=5e9)
    await redis_store.create(record)
    await client.delete(job_key(record.id))  # as if its TTL ran out
    listed = await redis_store.recent(None, 5, (5e9 + 1, ""))
    assert record.id not in {r.id for r in listed}
    assert await client.zscore(INDEX_KEY, record.id) is None
    await redis_store.close()


async def test_expired_ids_do_not_hide_later_ones_across_batches(
        redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "INDEX_BATCH", 2)
    client = jobs_redis_client(redis_server.url)
    redis_store = RedisJobStore(client, ttl_s=TTL_S)
    base = 6e9 + time.time()
    records = [_record(created_at=base + i) for i in range(6)]
    for record in records:
        await redis_store.create(record)
    for gone in (records[5], records[4]):  # the whole first batch has expired
        await client.delete(job_key(gone.id))
    listed = await redis_store.recent(None, 4, (base + 100, ""))
    assert [r.id for r in listed] == [records[i].id for i in (3, 2, 1, 0)]
    await redis_store.close()
