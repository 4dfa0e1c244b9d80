"""In-process single-flight: concurrent calls with one key share one run of the work.

The work runs in its own task, so one caller going away (a client disconnect cancels its request)
does not cancel it for the others; only when every caller has gone is the work cancelled.
Exceptions reach every caller of that flight, and the next call after a flight ends starts anew:
nothing, success or failure, outlives the flight here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class _Flight(Generic[T]):
    task: asyncio.Future[T]
    callers: int = 0


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        self._flights: dict[str, _Flight[T]] = {}

    def in_flight(self) -> int:
        return len(self._flights)

    async def run(self, key: str, work: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """``(result, joined)``: ``joined`` is True when this call shared another's flight."""
        flight = self._flights.get(key)
        joined = flight is not None
        if flight is None:
            new = flight = _Flight(asyncio.ensure_future(work()))
            self._flights[key] = new

            def forget(_: object) -> None:
                self._forget(key, new)

            new.task.add_done_callback(forget)
        flight.callers += 1
        try:
            return await asyncio.shield(flight.task), joined
        finally:
            flight.callers -= 1
            if flight.callers == 0 and not flight.task.done():
                # Every caller was cancelled: nobody wants the answer any more.
                flight.task.cancel()
                self._forget(key, flight)

    def _forget(self, key: str, flight: _Flight[T]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
