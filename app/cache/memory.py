"""The in-process cache: a bounded LRU of encoded values with a TTL.

It serves alone when no Redis URL is configured and sits in front of Redis otherwise (so recent
answers survive a Redis outage and skip a network round trip).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from cachetools import TTLCache

from app.cache.base import Compute, FlightCache, Outcome
from app.cache.codec import decode_value
from app.metrics import Metrics


class LRUStore:
    """``max_entries`` most recently used ``bytes`` values, each dropped ``ttl_s`` after its set
    (a read does not extend it). ``max_entries=0`` stores nothing.

    A thin adapter over ``cachetools.TTLCache`` (docs/design.md, "Hand-written parts"). Not
    thread-safe: it lives on one event loop.
    """

    def __init__(self, max_entries: int, ttl_s: float, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 0:
            raise ValueError("max_entries must be >= 0")
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        # TTLCache refuses maxsize 0 on every set; an empty store needs no cache at all.
        self._entries: TTLCache[str, bytes] | None = (
            TTLCache(maxsize=max_entries, ttl=ttl_s, timer=clock) if max_entries else None)

    def __len__(self) -> int:
        if self._entries is None:
            return 0
        self._entries.expire()
        return len(self._entries)

    def get(self, key: str) -> bytes | None:
        return self._entries.get(key) if self._entries is not None else None

    def set(self, key: str, data: bytes) -> None:
        if self._entries is not None:
            self._entries[key] = data

    def delete(self, key: str) -> None:
        if self._entries is not None:
            self._entries.pop(key, None)

    def clear(self) -> None:
        if self._entries is not None:
            self._entries.clear()


class MemoryCache(FlightCache):
    backend = "memory"

    def __init__(self, store: LRUStore, metrics: Metrics | None = None) -> None:
        super().__init__(metrics)
        self.store = store

    async def get(self, key: str) -> dict[str, Any] | None:
        data = self.store.get(key)
        value = decode_value(data) if data is not None else None
        self._count("miss" if value is None else "hit")
        return value

    async def set(self, key: str, value: dict[str, Any]) -> None:
        data = self._encode(key, value)
        if data is not None:
            await self._store(key, data)

    async def ping(self) -> bool:
        return True

    def health(self) -> dict[str, str]:
        return {"backend": self.backend, "status": "ok", "breaker": "closed"}

    async def close(self) -> None:
        self.store.clear()

    async def _resolve(self, key: str, compute: Compute, read: bool) -> Outcome:
        if read:
            data = self.store.get(key)
            if data is not None:
                self._count("hit")
                return Outcome(data, None, was_hit=True)
            self._count("miss")
        return await self._computed(key, compute)

    async def _store(self, key: str, data: bytes) -> None:
        self.store.set(key, data)
        self._count("set")
