"""The Redis result cache against a real, private redis-server."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from app.cache import LRUStore, RedisCache, build_cache, make_cache_key
from app.metrics import Metrics
from tests.integration.helpers import Compute, events, make_cache, new_key
from tests.redis_server import RedisServer

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def raw(redis_server: RedisServer) -> redis.Redis:
    return redis.Redis.from_url(redis_server.url)


async def test_hit_after_miss_returns_identical_values(redis_server: RedisServer) -> None:
    metrics = Metrics()
    first, second = make_cache(redis_server.url, metrics=metrics), make_cache(redis_server.url)
    key, compute = new_key(), Compute()
    miss = await first.get_or_compute(key, compute)
    hit = await second.get_or_compute(key, compute)
    assert miss == ({"labels": [["cat", 0.5]], "n": 1}, False)
    assert hit == (miss[0], True)
    assert compute.calls == 1
    assert events(metrics) == {"redis:miss": 1, "redis:set": 1}
    await first.close()
    await second.close()


async def test_other_options_or_model_version_miss(redis_server: RedisServer) -> None:
    sha = "ab" * 32
    cache = make_cache(redis_server.url)
    stored = make_cache_key(sha, "analyze", "videobert-lite0", "1.0.0", {"fps": 2, "top_k": 5})
    await cache.set(stored, {"v": 1})
    same = make_cache_key(sha, "analyze", "videobert-lite0", "1.0.0", {"top_k": 5, "fps": 2.0})
    assert await cache.get(same) == {"v": 1}
    for other in (make_cache_key(sha, "analyze", "videobert-lite0", "1.0.0", {"fps": 1,
                                                                              "top_k": 5}),
                  make_cache_key(sha, "analyze", "videobert-lite0", "1.0.1", {"fps": 2,
                                                                              "top_k": 5}),
                  make_cache_key(sha, "summarize", "videobert-lite0", "1.0.0", {"fps": 2,
                                                                                "top_k": 5})):
        assert await cache.get(other) is None
    await cache.close()


async def test_entries_expire_after_the_ttl(redis_server: RedisServer, raw: redis.Redis) -> None:
    cache = make_cache(redis_server.url, ttl_s=1, local=LRUStore(8, 1))
    key = new_key()
    await cache.set(key, {"v": 1})
    assert 0 < raw.pttl(key) <= 1000
    assert await cache.get(key) == {"v": 1}
    await asyncio.sleep(1.1)
    assert await cache.get(key) is None  # gone from the local copy and from Redis
    assert raw.exists(key) == 0
    await cache.close()


async def test_large_values_are_stored_compressed(redis_server: RedisServer,
                                                  raw: redis.Redis) -> None:
    cache = make_cache(redis_server.url)
    key = new_key()
    value = {"importance": [round(i / 997, 4) for i in range(5000)]}
    await cache.set(key, value)
    stored = raw.get(key)
    assert isinstance(stored, bytes) and stored[:1] == b"Z"
    assert len(stored) < len(json.dumps(value)) / 2
    assert await make_cache(redis_server.url).get(key) == value
    await cache.close()


async def test_no_cache_skips_the_read_and_refreshes_the_entry(redis_server: RedisServer) -> None:
    cache, other = make_cache(redis_server.url), make_cache(redis_server.url)
    key = new_key()
    await cache.set(key, {"v": "old"})
    fresh = Compute({"v": "new"})
    assert await cache.get_or_compute(key, fresh, read=False) == ({"v": "new"}, False)
    assert await other.get(key) == {"v": "new"}
    await cache.close()
    await other.close()


async def test_single_flight_in_one_process(redis_server: RedisServer) -> None:
    cache = make_cache(redis_server.url)
    key, compute = new_key(), Compute(delay_s=0.1)
    results = await asyncio.gather(*(cache.get_or_compute(key, compute) for _ in range(20)))
    assert compute.calls == 1
    assert {json.dumps(r) for r in results} == {json.dumps(({"labels": [["cat", 0.5]], "n": 1},
                                                           False))}
    await cache.close()


async def test_single_flight_across_two_instances(redis_server: RedisServer,
                                                  raw: redis.Redis) -> None:
    a, b = make_cache(redis_server.url), make_cache(redis_server.url)
    key, compute = new_key(), Compute(delay_s=0.2)
    results = await asyncio.gather(*(c.get_or_compute(key, compute)
                                     for _ in range(10) for c in (a, b)))
    assert compute.calls == 1
    assert all(value == {"labels": [["cat", 0.5]], "n": 1} for value, _ in results)
    assert sorted(hit for _, hit in results) == [False] * 10 + [True] * 10
    assert raw.exists(key + ":lock") == 0
    await a.close()
    await b.close()


def start_worker(url: str, key: str, log: Path, compute_s: float,
                 lock_s: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.flight_worker", url, key, str(log),
         str(compute_s), str(lock_s)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)


def wait_until_computing(log: Path, worker: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while not (log.exists() and log.read_text()):
        assert worker.poll() is None, "worker exited before computing"
        assert time.monotonic() < deadline, "worker never started computing"
        time.sleep(0.02)


async def test_single_flight_across_processes(redis_server: RedisServer, tmp_path: Path) -> None:
    key, log = new_key(), tmp_path / "computes.log"
    worker = start_worker(redis_server.url, key, log, compute_s=1.0, lock_s=2.0)
    wait_until_computing(log, worker)
    cache = make_cache(redis_server.url)
    compute = Compute()
    value, hit = await cache.get_or_compute(key, compute)
    out, _ = worker.communicate(timeout=30)
    assert compute.calls == 0
    assert (value, hit) == ({"by": worker.pid}, True)
    assert json.loads(out) == {"value": {"by": worker.pid}, "hit": False}
    assert log.read_text().split() == [str(worker.pid)]
    await cache.close()


async def test_a_crashed_lock_holder_frees_the_key_within_lock_s(redis_server: RedisServer,
                                                                 raw: redis.Redis,
                                                                 tmp_path: Path) -> None:
    key, log = new_key(), tmp_path / "computes.log"
    worker = start_worker(redis_server.url, key, log, compute_s=60, lock_s=0.5)
    wait_until_computing(log, worker)
    await asyncio.sleep(1.0)
    assert raw.exists(key + ":lock") == 1  # renewed while its holder computes past lock_s
    worker.kill()
    worker.wait(timeout=10)
    cache = make_cache(redis_server.url, lock_s=0.5)
    compute = Compute({"by": os.getpid()})
    assert await cache.get_or_compute(key, compute) == ({"by": os.getpid()}, False)
    assert log.read_text().split() == [str(worker.pid)]
    assert compute.calls == 1
    await cache.close()


async def test_a_stale_lock_is_waited_out_then_taken(redis_server: RedisServer,
                                                     raw: redis.Redis) -> None:
    key = new_key()
    raw.set(key + ":lock", "crashed-holder", px=300)
    cache = make_cache(redis_server.url)
    lock_values: list[object] = []

    async def compute() -> dict[str, int]:
        lock_values.append(raw.get(key + ":lock"))
        return {"v": 1}

    assert await cache.get_or_compute(key, compute) == ({"v": 1}, False)
    assert len(lock_values) == 1 and lock_values[0] not in (None, b"crashed-holder")
    assert raw.exists(key + ":lock") == 0
    await cache.close()


async def test_a_waiter_computes_itself_after_wait_s(redis_server: RedisServer,
                                                     raw: redis.Redis) -> None:
    key = new_key()
    raw.set(key + ":lock", "slow-holder", px=10_000)
    cache = RedisCache.from_url(redis_server.url, ttl_s=60, connect_timeout_ms=50, timeout_ms=50,
                                breaker_failures=3, breaker_cooldown_s=1, lock_s=10, wait_s=0.3)
    compute = Compute()
    assert (await cache.get_or_compute(key, compute))[1] is False
    assert compute.calls == 1
    assert raw.get(key + ":lock") == b"slow-holder"  # someone else's lock is left alone
    assert await make_cache(redis_server.url).get(key) == {"labels": [["cat", 0.5]], "n": 1}
    await cache.close()


async def test_errors_reach_every_waiter_release_the_lock_and_are_not_cached(
        redis_server: RedisServer, raw: redis.Redis) -> None:
    a, b = make_cache(redis_server.url), make_cache(redis_server.url)
    key = new_key()
    failing = Compute(delay_s=0.1, error=ValueError("bad video"))
    results = await asyncio.gather(*(c.get_or_compute(key, failing)
                                     for _ in range(3) for c in (a, b)), return_exceptions=True)
    assert [type(r) for r in results] == [ValueError] * 6
    # Instance b waited on a's lock, saw it released without a result, and tried itself.
    assert failing.calls == 2
    assert raw.exists(key) == 0 and raw.exists(key + ":lock") == 0
    ok = Compute()
    assert (await a.get_or_compute(key, ok))[1] is False and ok.calls == 1
    await a.close()
    await b.close()


async def test_health_and_build_cache(redis_server: RedisServer) -> None:
    cache = build_cache(redis_server.url, ttl_s=60, max_entries=8, connect_timeout_ms=50,
                        timeout_ms=50, breaker_failures=3, breaker_cooldown_s=5, lock_s=10,
                        metrics=Metrics())
    assert isinstance(cache, RedisCache)
    assert await cache.ping()
    assert cache.health() == {"backend": "redis", "status": "ok", "breaker": "closed"}
    await cache.close()
