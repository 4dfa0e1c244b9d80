"""Redis trouble never fails or stalls a request: stopped and hung (SIGSTOP) servers.

The per-call bound asserted here (1 s) is a correctness bound, not a performance goal: with
redis-py's defaults these calls took 4-59 s; with 50 ms timeouts and no retries they take tens of
milliseconds, so 1 s only fails if a timeout or the breaker is not doing its job.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import redis

from app.cache import LRUStore, RedisCache
from app.metrics import Metrics
from tests.integration.helpers import Compute, events, make_cache, new_key
from tests.redis_server import RedisServer

HANG_BOUND_S = 1.0


def breaker_gauge(metrics: Metrics) -> float:
    value = metrics.registry.get_sample_value("videobert_cache_breaker_open")
    assert value is not None
    return value


async def outage_behaviour(cache: RedisCache, metrics: Metrics, warm_key: str) -> None:
    """What every outage must look like once the server stops answering."""
    slowest_s = 0.0
    for _ in range(5):
        started = time.perf_counter()
        assert await cache.get(new_key()) is None
        slowest_s = max(slowest_s, time.perf_counter() - started)
    compute = Compute({"v": "computed"})
    started = time.perf_counter()
    assert await cache.get_or_compute(new_key(), compute) == ({"v": "computed"}, False)
    slowest_s = max(slowest_s, time.perf_counter() - started)
    assert slowest_s < HANG_BOUND_S
    # Three consecutive errors opened the breaker; after that Redis was not called at all.
    assert events(metrics)["redis:error"] == 3
    assert cache.health() == {"backend": "redis", "status": "degraded", "breaker": "open"}
    assert breaker_gauge(metrics) == 1
    # Answers cached locally before the outage are still served.
    assert await cache.get(warm_key) == {"v": "warm"}


async def recovery_behaviour(cache: RedisCache, metrics: Metrics, url: str) -> None:
    await asyncio.sleep(0.6)  # cool-down is 0.5 s
    assert cache.health()["breaker"] == "half_open"
    key = new_key()
    compute = Compute({"v": "after"})
    assert await cache.get_or_compute(key, compute) == ({"v": "after"}, False)
    assert cache.health() == {"backend": "redis", "status": "ok", "breaker": "closed"}
    assert breaker_gauge(metrics) == 0
    assert redis.Redis.from_url(url).exists(key) == 1
    assert await make_cache(url).get(key) == {"v": "after"}


async def run_outage(server: RedisServer, fail: Callable[[], object],
                     recover: Callable[[], object]) -> None:
    metrics = Metrics()
    cache = make_cache(server.url, metrics=metrics, local=LRUStore(8, 60))
    warm_key = new_key()
    await cache.set(warm_key, {"v": "warm"})
    assert cache.health()["status"] == "ok"
    fail()
    await outage_behaviour(cache, metrics, warm_key)
    recover()
    await recovery_behaviour(cache, metrics, server.url)
    await cache.close()


async def test_stopped_redis_fails_fast_opens_the_breaker_and_recovers(
        own_redis: RedisServer) -> None:
    await run_outage(own_redis, own_redis.stop, own_redis.start)


async def test_hung_redis_fails_fast_opens_the_breaker_and_recovers(
        own_redis: RedisServer) -> None:
    await run_outage(own_redis, own_redis.freeze, own_redis.thaw)


async def test_unreachable_redis_from_the_start_still_serves(own_redis: RedisServer) -> None:
    own_redis.stop()
    metrics = Metrics()
    cache = make_cache(own_redis.url, metrics=metrics)
    compute = Compute(delay_s=0.05)
    results = await asyncio.gather(*(cache.get_or_compute(new_key(), compute) for _ in range(4)))
    assert [hit for _, hit in results] == [False] * 4 and compute.calls == 4
    assert cache.health()["status"] == "degraded"
    assert not await cache.ping()
    await cache.close()


async def test_a_failed_probe_reopens_the_breaker(own_redis: RedisServer) -> None:
    metrics = Metrics()
    cache = make_cache(own_redis.url, metrics=metrics)
    own_redis.freeze()
    for _ in range(3):
        await cache.get(new_key())
    assert cache.health()["breaker"] == "open"
    await asyncio.sleep(0.6)
    assert cache.health()["breaker"] == "half_open"
    assert await cache.get(new_key()) is None  # the probe times out
    assert cache.health()["breaker"] == "open"
    assert events(metrics)["redis:error"] == 4
    own_redis.thaw()
    await cache.close()
