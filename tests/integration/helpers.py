"""Shared pieces of the Redis cache tests."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from app.cache import LRUStore, RedisCache, make_cache_key
from app.metrics import Metrics
from tests.cache_fakes import Compute, events

__all__ = ["Compute", "events", "make_cache", "new_key"]


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

