"""What every result cache offers the API, and the single-flight logic they share."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from app.cache.codec import decode_value, encode_value
from app.cache.single_flight import SingleFlight
from app.metrics import Metrics

log = logging.getLogger(__name__)

Compute = Callable[[], Awaitable[dict[str, Any]]]


class ResultCache(Protocol):
    backend: str

    async def get(self, key: str) -> dict[str, Any] | None:
        """The cached value, or None on a miss or any backend trouble (never raises)."""

    async def set(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` under ``key`` for the TTL; backend trouble is logged, never raised."""

    async def get_or_compute(self, key: str, compute: Compute, *,
                             read: bool = True) -> tuple[dict[str, Any], bool]:
        """``(result, was_hit)``; see ``FlightCache.get_or_compute``."""

    async def ping(self) -> bool:
        """Whether the backend answers now (a readiness probe may call it)."""

    def health(self) -> dict[str, str]:
        """``{"backend", "status": "ok"|"degraded", "breaker": "closed"|"open"|"half_open"}``."""

    async def close(self) -> None: ...


@dataclass
class Outcome:
    """What one flight produced: the encoded value (or, if it would not encode, the value).

    ``decoded`` is a copy already decoded from ``data``, handed to the first caller only.
    """

    data: bytes | None
    value: dict[str, Any] | None
    was_hit: bool
    decoded: dict[str, Any] | None = None

    def result(self) -> dict[str, Any]:
        # Each caller gets its own copy: callers never share a mutable dict, and a computed
        # result looks exactly like a later hit on it (JSON types: lists, not tuples).
        if self.decoded is not None:
            value, self.decoded = self.decoded, None
            return value
        if self.data is not None:
            decoded = decode_value(self.data)
            if decoded is not None:
                return decoded
        assert self.value is not None
        return self.value


class FlightCache:
    """Implements ``get_or_compute`` on top of a subclass's ``_resolve``."""

    backend: str

    def __init__(self, metrics: Metrics | None) -> None:
        self._metrics = metrics
        self._flights: SingleFlight[Outcome] = SingleFlight()

    async def get_or_compute(self, key: str, compute: Compute, *,
                             read: bool = True) -> tuple[dict[str, Any], bool]:
        """Return the cached result for ``key`` or run ``compute`` once for all concurrent callers.

        ``read=False`` (the client sent ``Cache-Control: no-cache``) never serves a stored value
        but still stores the fresh one; such callers share flights only with each other.
        ``was_hit`` is the flight's: True when the value came from the cache, False when it was
        computed (also for callers that joined that computation). Exceptions from ``compute``
        reach every caller of the flight and are not cached.
        """
        flight_key = key if read else key + "\x00fresh"
        outcome, joined = await self._flights.run(
            flight_key, lambda: self._resolve(key, compute, read))
        if joined:
            self._count("coalesced")
        return outcome.result(), outcome.was_hit

    async def _resolve(self, key: str, compute: Compute, read: bool) -> Outcome:
        raise NotImplementedError

    async def _computed(self, key: str, compute: Compute) -> Outcome:
        """Run ``compute`` and store what it returns; only storing may fail quietly."""
        value = await compute()
        data = self._encode(key, value)
        if data is None:
            return Outcome(None, value, was_hit=False)
        await self._store(key, data)
        return Outcome(data, None, was_hit=False)

    def _encode(self, key: str, value: dict[str, Any]) -> bytes | None:
        try:
            return encode_value(value)
        except (TypeError, ValueError):
            # A bug upstream, but the request still gets its answer; only caching is lost.
            log.exception("result for cache key %s is not JSON-serialisable; not caching it", key)
            self._count("error")
            return None

    async def _store(self, key: str, data: bytes) -> None:
        raise NotImplementedError

    def _count(self, event: str, backend: str | None = None) -> None:
        if self._metrics is not None:
            self._metrics.cache_events.labels(backend=backend or self.backend, event=event).inc()
