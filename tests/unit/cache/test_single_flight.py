"""In-process single-flight: one run per key at a time, shared by every concurrent caller."""

from __future__ import annotations

import asyncio

import pytest

from app.cache.single_flight import SingleFlight


class Work:
    def __init__(self, result: str = "done", error: Exception | None = None) -> None:
        self.calls = 0
        self.cancelled = 0
        self.release = asyncio.Event()
        self.result = result
        self.error = error

    async def __call__(self) -> str:
        self.calls += 1
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if self.error is not None:
            raise self.error
        return self.result


async def test_concurrent_callers_share_one_run() -> None:
    flights: SingleFlight[str] = SingleFlight()
    work = Work()
    tasks = [asyncio.create_task(flights.run("k", work)) for _ in range(20)]
    await asyncio.sleep(0)
    assert flights.in_flight() == 1
    work.release.set()
    results = await asyncio.gather(*tasks)
    assert work.calls == 1
    assert results == [("done", False)] + [("done", True)] * 19
    assert flights.in_flight() == 0


async def test_different_keys_run_separately() -> None:
    flights: SingleFlight[str] = SingleFlight()
    work = Work()
    work.release.set()
    assert await asyncio.gather(flights.run("a", work), flights.run("b", work)) == [
        ("done", False), ("done", False)]
    assert work.calls == 2


async def test_an_exception_reaches_every_caller_and_is_not_kept() -> None:
    flights: SingleFlight[str] = SingleFlight()
    work = Work(error=RuntimeError("boom"))
    tasks = [asyncio.create_task(flights.run("k", work)) for _ in range(3)]
    await asyncio.sleep(0)
    work.release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [str(r) for r in results] == ["boom"] * 3
    assert work.calls == 1
    work.error = None
    assert await flights.run("k", work) == ("done", False)
    assert work.calls == 2


async def test_one_caller_leaving_does_not_cancel_the_others() -> None:
    flights: SingleFlight[str] = SingleFlight()
    work = Work()
    leaving = asyncio.create_task(flights.run("k", work))
    staying = asyncio.create_task(flights.run("k", work))
    await asyncio.sleep(0)
    leaving.cancel()
    await asyncio.sleep(0)
    work.release.set()
    assert await staying == ("done", True)
    assert leaving.cancelled()
    assert work.cancelled == 0


async def test_the_work_is_cancelled_when_every_caller_has_left() -> None:
    flights: SingleFlight[str] = SingleFlight()
    work = Work()
    tasks = [asyncio.create_task(flights.run("k", work)) for _ in range(2)]
    await asyncio.sleep(0)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with pytest.raises(asyncio.CancelledError):
            await task
    await asyncio.sleep(0)
    assert work.cancelled == 1
    assert flights.in_flight() == 0
    # The next caller starts a fresh run instead of joining the cancelled one.
    work.release.set()
    assert await flights.run("k", work) == ("done", False)
    assert work.calls == 2
