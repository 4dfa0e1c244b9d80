"""The in-process LRU and the cache built on it (the backend when no Redis is configured)."""

from __future__ import annotations

import asyncio

from app.cache import LRUStore, MemoryCache, build_cache, make_cache_key
from app.metrics import Metrics
from tests.cache_fakes import Compute as SharedCompute
from tests.cache_fakes import events

KEY = make_cache_key("0" * 64, "analyze", "m", "1", {"fps": 2})


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Compute(SharedCompute):
    default = {"shots": (1, 2), "score": 0.5}


def test_lru_evicts_the_least_recently_used() -> None:
    store = LRUStore(2, ttl_s=60)
    store.set("a", b"1")
    store.set("b", b"2")
    assert store.get("a") == b"1"  # a is now the most recent
    store.set("c", b"3")
    assert store.get("b") is None
    assert store.get("a") == b"1" and store.get("c") == b"3"
    assert len(store) == 2


def test_lru_overwrite_refreshes_recency_without_growing() -> None:
    store = LRUStore(2, ttl_s=60)
    store.set("a", b"1")
    store.set("b", b"2")
    store.set("a", b"1'")
    store.set("c", b"3")
    assert store.get("a") == b"1'" and store.get("b") is None and len(store) == 2


def test_lru_entries_expire_after_the_ttl() -> None:
    clock = Clock()
    store = LRUStore(10, ttl_s=5, clock=clock)
    store.set("a", b"1")
    clock.now = 4.99
    assert store.get("a") == b"1"  # a read does not extend the TTL
    clock.now = 5.0
    assert store.get("a") is None
    assert len(store) == 0


def test_lru_of_size_zero_stores_nothing() -> None:
    store = LRUStore(0, ttl_s=5)
    store.set("a", b"1")
    assert store.get("a") is None and len(store) == 0


async def test_miss_then_hit_with_identical_values() -> None:
    metrics = Metrics()
    cache = MemoryCache(LRUStore(8, 60), metrics)
    compute = Compute()
    first = await cache.get_or_compute(KEY, compute)
    second = await cache.get_or_compute(KEY, compute)
    assert first == ({"shots": [1, 2], "score": 0.5}, False)
    assert second == first[0:1] + (True,)
    assert compute.calls == 1
    assert events(metrics) == {"memory:miss": 1, "memory:set": 1, "memory:hit": 1}


async def test_callers_get_their_own_copies() -> None:
    cache = MemoryCache(LRUStore(8, 60))
    compute = Compute()
    first, _ = await cache.get_or_compute(KEY, compute)
    first["shots"].append(99)
    second, hit = await cache.get_or_compute(KEY, compute)
    assert hit and second["shots"] == [1, 2]


async def test_concurrent_identical_requests_compute_once() -> None:
    metrics = Metrics()
    cache = MemoryCache(LRUStore(8, 60), metrics)
    compute = Compute(delay_s=0.05)
    results = await asyncio.gather(*(cache.get_or_compute(KEY, compute) for _ in range(20)))
    assert compute.calls == 1
    assert all(r == ({"shots": [1, 2], "score": 0.5}, False) for r in results)
    assert events(metrics)["memory:coalesced"] == 19


async def test_no_cache_skips_the_read_but_stores_the_fresh_value() -> None:
    cache = MemoryCache(LRUStore(8, 60))
    await cache.set(KEY, {"old": True})
    fresh = Compute({"new": True})
    assert await cache.get_or_compute(KEY, fresh, read=False) == ({"new": True}, False)
    assert await cache.get(KEY) == {"new": True}
    assert fresh.calls == 1


async def test_errors_reach_every_waiter_and_are_not_cached() -> None:
    cache = MemoryCache(LRUStore(8, 60))
    failing = Compute(error=ValueError("bad video"), delay_s=0.02)
    results = await asyncio.gather(*(cache.get_or_compute(KEY, failing) for _ in range(5)),
                                   return_exceptions=True)
    assert [type(r) for r in results] == [ValueError] * 5
    assert failing.calls == 1
    assert await cache.get(KEY) is None
    ok = Compute()
    assert (await cache.get_or_compute(KEY, ok))[1] is False and ok.calls == 1


async def test_an_unserialisable_result_is_served_but_not_cached() -> None:
    metrics = Metrics()
    cache = MemoryCache(LRUStore(8, 60), metrics)
    value = {"v": {1, 2}}
    odd = Compute(value)
    assert await cache.get_or_compute(KEY, odd) == (value, False)
    assert await cache.get(KEY) is None
    assert events(metrics)["memory:error"] == 1


def test_build_cache_without_a_url_is_the_memory_cache() -> None:
    cache = build_cache(None, ttl_s=60, max_entries=4, connect_timeout_ms=50, timeout_ms=50,
                        breaker_failures=3, breaker_cooldown_s=5, lock_s=10, metrics=None)
    assert isinstance(cache, MemoryCache)
    assert cache.backend == "memory"
    assert cache.health() == {"backend": "memory", "status": "ok", "breaker": "closed"}


async def test_a_zero_size_cache_still_coalesces() -> None:
    cache = MemoryCache(LRUStore(0, 60))
    compute = Compute(delay_s=0.02)
    await asyncio.gather(*(cache.get_or_compute(KEY, compute) for _ in range(3)))
    assert compute.calls == 1
    await cache.get_or_compute(KEY, compute)
    assert compute.calls == 2
