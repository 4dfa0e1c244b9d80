"""Shared pieces of the Redis cache tests."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from typing import Any

from app.cache import LRUStore, RedisCache, make_cache_key
from app.metrics import Metrics


def new_key(options: dict[str, Any] | None = None, *, version: str = "1.0.0") -> str:
    """A key no other test uses (tests share one server per module)."""
    sha = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
    return make_cache_key(sha, "analyze", "videobert-lite0", version, options or {"fps": 2})


def make_cache(url: str, *, metrics: Metrics | None = None, local: LRUStore | None = None,
               ttl_s: int = 60, lock_s: float = 2.0, breaker_failures: int = 3,
               breaker_cooldown_s: float = 0.5) -> RedisCache:
    # No local LRU by default, so every read really goes to Redis.
    return RedisCache.from_url(url, ttl_s=ttl_s, connect_timeout_ms=50, timeout_ms=50,
                               breaker_failures=breaker_failures,
                               breaker_cooldown_s=breaker_cooldown_s, lock_s=lock_s,
                               local=local, metrics=metrics)


class Compute:
    def __init__(self, value: dict[str, Any] | None = None, *, delay_s: float = 0.0,
                 error: Exception | None = None) -> None:
        self.calls = 0
        self.value = value if value is not None else {"labels": [("cat", 0.5)], "n": 1}
        self.delay_s = delay_s
        self.error = error

    async def __call__(self) -> dict[str, Any]:
        self.calls += 1
        await asyncio.sleep(self.delay_s)
        if self.error is not None:
            raise self.error
        return self.value


def events(metrics: Metrics) -> dict[str, float]:
    """``{"backend:event": count}`` of every cache event counted so far."""
    return {f"{s.labels['backend']}:{s.labels['event']}": s.value
            for metric in metrics.cache_events.collect() for s in metric.samples
            if s.name.endswith("_total")}
