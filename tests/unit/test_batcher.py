"""The dynamic batcher's contract, with a plain-Python handler (no model needed)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence

import pytest

from app.errors import DeadlineExceeded, InferenceFailed, Overloaded
from app.inference.batcher import Batcher


def _runner() -> Callable[[int, Callable[[], Sequence[int]]], asyncio.Future[Sequence[int]]]:
    def run_off_loop(index: int, fn: Callable[[], Sequence[int]]) -> asyncio.Future[Sequence[int]]:
        return asyncio.get_running_loop().run_in_executor(None, fn)
    return run_off_loop


class Recorder:
    def __init__(self, fail_on: int | None = None, delay_s: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.fail_on = fail_on
        self.delay_s = delay_s
        self.lock = threading.Lock()

    def __call__(self, items: Sequence[int]) -> list[int]:
        with self.lock:
            self.batches.append(list(items))
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.fail_on is not None and self.fail_on in items:
            raise RuntimeError("boom")
        return [i * 10 for i in items]


async def test_concurrent_requests_share_one_batch_and_get_their_own_answer() -> None:
    rec = Recorder()
    batcher = Batcher([rec], _runner(), max_batch_size=8, max_wait_ms=200, max_queue_size=16)
    batcher.start()
    try:
        far = time.monotonic() + 30
        results = await asyncio.gather(*(batcher.submit(i, deadline=far) for i in range(8)))
    finally:
        await batcher.close()
    assert [out for out, _ in results] == [i * 10 for i in range(8)]
    assert rec.batches == [list(range(8))]
    assert all(timing.batch_size == 8 for _, timing in results)


async def test_an_error_fails_only_its_batch_and_the_loop_goes_on() -> None:
    rec = Recorder(fail_on=3)
    batcher = Batcher([rec], _runner(), max_batch_size=4, max_wait_ms=100, max_queue_size=16)
    batcher.start()
    far = time.monotonic() + 30
    try:
        first = await asyncio.gather(*(batcher.submit(i, deadline=far) for i in range(4)),
                                     return_exceptions=True)
        later, _ = await batcher.submit(7, deadline=far)
    finally:
        await batcher.close()
    assert all(isinstance(r, InferenceFailed) for r in first)
    assert later == 70


async def test_full_queue_refuses_at_once_with_retry_after() -> None:
    rec = Recorder(delay_s=0.3)
    batcher = Batcher([rec], _runner(), max_batch_size=1, max_wait_ms=0, max_queue_size=2,
                      retry_after_s=3)
    batcher.start()
    far = time.monotonic() + 30
    try:
        running = asyncio.create_task(batcher.submit(0, deadline=far))
        await asyncio.sleep(0.05)  # item 0 is now being computed
        queued = [asyncio.create_task(batcher.submit(i, deadline=far)) for i in (1, 2)]
        await asyncio.sleep(0)
        with pytest.raises(Overloaded) as info:
            await batcher.submit(3, deadline=far)
        assert info.value.retry_after_s == 3
        await asyncio.gather(running, *queued)
    finally:
        await batcher.close()


async def test_expired_and_cancelled_requests_are_dropped_before_compute() -> None:
    rec = Recorder(delay_s=0.2)
    batcher = Batcher([rec], _runner(), max_batch_size=1, max_wait_ms=0, max_queue_size=8)
    batcher.start()
    far = time.monotonic() + 30
    try:
        blocker = asyncio.create_task(batcher.submit(0, deadline=far))
        await asyncio.sleep(0.05)
        expired = asyncio.create_task(batcher.submit(1, deadline=time.monotonic() + 0.05))
        cancelled = asyncio.create_task(batcher.submit(2, deadline=far))
        await asyncio.sleep(0.01)
        cancelled.cancel()
        kept = asyncio.create_task(batcher.submit(3, deadline=far))
        await blocker
        with pytest.raises(DeadlineExceeded):
            await expired
        assert (await kept)[0] == 30
    finally:
        await batcher.close()
    assert [b for b in rec.batches] == [[0], [3]]


async def test_batches_respect_the_cost_budget() -> None:
    rec = Recorder()
    batcher = Batcher([rec], _runner(), max_batch_size=8, max_wait_ms=200, max_queue_size=16,
                      item_cost=lambda item: item, max_batch_cost=10)
    batcher.start()
    far = time.monotonic() + 30
    try:
        await asyncio.gather(*(batcher.submit(i, deadline=far) for i in (4, 5, 6)))
    finally:
        await batcher.close()
    assert rec.batches == [[4, 5], [6]]


async def test_two_runners_share_one_queue() -> None:
    recs = [Recorder(delay_s=0.1), Recorder(delay_s=0.1)]
    batcher = Batcher(recs, _runner(), max_batch_size=1, max_wait_ms=0, max_queue_size=16)
    batcher.start()
    far = time.monotonic() + 30
    try:
        await asyncio.gather(*(batcher.submit(i, deadline=far) for i in range(6)))
    finally:
        await batcher.close()
    assert len(recs[0].batches) > 0 and len(recs[1].batches) > 0
    assert sorted(i for r in recs for b in r.batches for i in b) == list(range(6))
