"""The result cache: the same answer for the same bytes, model and options, computed once.

``build_cache`` picks the backend from settings: Redis (shared by every instance, with the
in-process LRU in front) when a URL is given, the in-process LRU alone otherwise.

Events counted in ``videobert_cache_events_total{backend, event}``: ``hit``, ``miss``, ``set``,
``error`` (a failed or refused Redis command, or a result that would not serialise) and
``coalesced`` (a caller served by another caller's computation).
"""

from __future__ import annotations

from app.cache.base import Compute, ResultCache
from app.cache.breaker import BreakerState, CircuitBreaker
from app.cache.keys import KEY_PREFIX, SCHEMA_VERSION, canonical_options, make_cache_key
from app.cache.memory import LRUStore, MemoryCache
from app.cache.redis_cache import RedisCache
from app.cache.single_flight import SingleFlight
from app.metrics import Metrics

__all__ = [
    "KEY_PREFIX", "SCHEMA_VERSION", "BreakerState", "CircuitBreaker", "Compute", "LRUStore",
    "MemoryCache", "RedisCache", "ResultCache", "SingleFlight", "build_cache",
    "canonical_options", "make_cache_key",
]


def build_cache(redis_url: str | None, *, ttl_s: int, max_entries: int,
                connect_timeout_ms: float, timeout_ms: float, breaker_failures: int,
                breaker_cooldown_s: float, lock_s: float, metrics: Metrics | None,
                wait_s: float | None = None) -> ResultCache:
    """Nothing connects here: Redis is first contacted by the first cache call.

    ``lock_s`` and ``wait_s``: see ``RedisCache``.
    """
    local = LRUStore(max_entries, ttl_s)
    if not redis_url:
        return MemoryCache(local, metrics)
    return RedisCache.from_url(
        redis_url, ttl_s=ttl_s, connect_timeout_ms=connect_timeout_ms, timeout_ms=timeout_ms,
        breaker_failures=breaker_failures, breaker_cooldown_s=breaker_cooldown_s,
        lock_s=lock_s, local=local, metrics=metrics, wait_s=wait_s)
