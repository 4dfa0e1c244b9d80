"""The shared cache: Redis behind a circuit breaker, with the in-process LRU in front.

Redis trouble never fails or slows a request: every call has short socket timeouts, no retries
and an asyncio deadline as a backstop, and after ``breaker.failure_threshold`` consecutive errors
the breaker stops calling Redis until a cool-down has passed (redis-py's defaults wait far longer
on a hung server: docs/cache.md, the faults table). Single-flight spans processes: the first
instance to miss takes a short lock (redis-py's ``Lock``: ``SET NX PX``, renewed while it
computes, so a crashed holder frees the key within ``lock_s``); the others poll for the result
with back-off and compute themselves if the lock goes away without a result or the wait passes
``wait_s``.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.asyncio.lock import Lock
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import LockNotOwnedError, RedisError, ResponseError

from app.cache.base import Compute, FlightCache, Outcome
from app.cache.breaker import BreakerState, CircuitBreaker
from app.cache.codec import decode_value
from app.cache.memory import LRUStore
from app.metrics import Metrics

log = logging.getLogger(__name__)

R = TypeVar("R")



class _Unavailable(enum.Enum):
    """Redis was not asked (breaker open) or did not answer."""

    UNAVAILABLE = "unavailable"


UNAVAILABLE = _Unavailable.UNAVAILABLE


@dataclass(frozen=True)
class Entry:
    """A stored value, with the copy decoded while checking it."""

    data: bytes
    value: dict[str, Any]

    def outcome(self) -> Outcome:
        return Outcome(self.data, None, was_hit=True, decoded=self.value)


class RedisCache(FlightCache):
    """``lock_s``: lifetime of the cross-process lock, renewed every ``lock_s / 3`` while its
    holder computes, so it bounds how long a crashed holder blocks a key, not how long a
    computation may take. ``wait_s`` (default ``lock_s``): how long another instance waits for
    the holder's result before computing itself.
    """

    backend = "redis"

    def __init__(self, client: Redis, *, ttl_s: int, lock_s: float, breaker: CircuitBreaker,
                 call_deadline_s: float, local: LRUStore | None = None,
                 metrics: Metrics | None = None, wait_s: float | None = None,
                 poll_initial_s: float = 0.01, poll_max_s: float = 0.2) -> None:
        super().__init__(metrics)
        self._client = client
        self._ttl_ms = int(ttl_s * 1000)
        self._lock_s = lock_s
        self._wait_s = lock_s if wait_s is None else wait_s
        self._poll_initial_s = poll_initial_s
        self._poll_max_s = poll_max_s
        self._call_deadline_s = call_deadline_s
        self._breaker = breaker
        self._local = local

    @classmethod
    def from_url(cls, url: str, *, ttl_s: int, connect_timeout_ms: float, timeout_ms: float,
                 breaker_failures: int, breaker_cooldown_s: float, lock_s: float,
                 local: LRUStore | None = None, metrics: Metrics | None = None,
                 wait_s: float | None = None) -> RedisCache:
        client = Redis.from_url(
            url, socket_connect_timeout=connect_timeout_ms / 1000,
            socket_timeout=timeout_ms / 1000, retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False, retry_on_error=[], health_check_interval=0)
        # A fresh connection costs a connect plus the handshake round trip before the command's
        # own: anything slower than that is a hang the socket timeouts missed.
        deadline_s = (connect_timeout_ms + 2 * timeout_ms) / 1000 + 0.05

        def on_change(old: BreakerState, new: BreakerState, failures: int) -> None:
            if metrics is not None:
                metrics.cache_breaker_open.set(0 if new is BreakerState.CLOSED else 1)
            if new is BreakerState.OPEN:
                log.warning("Redis cache breaker %s -> open after %d consecutive errors; serving "
                            "without Redis for %.1f s", old, failures, breaker_cooldown_s)
            else:
                log.warning("Redis cache breaker %s -> %s", old, new)

        breaker = CircuitBreaker(breaker_failures, breaker_cooldown_s, on_change=on_change)
        return cls(client, ttl_s=ttl_s, lock_s=lock_s, breaker=breaker,
                   call_deadline_s=deadline_s, local=local, metrics=metrics, wait_s=wait_s)

    @property
    def breaker(self) -> CircuitBreaker:
        return self._breaker

    async def get(self, key: str) -> dict[str, Any] | None:
        found = await self._lookup(key)
        if isinstance(found, Entry):
            return found.value
        self._count("miss")
        return None

    async def set(self, key: str, value: dict[str, Any]) -> None:
        data = self._encode(key, value)
        if data is not None:
            await self._store(key, data)

    async def ping(self) -> bool:
        return await self._call(self._client.ping) is True

    def health(self) -> dict[str, str]:
        state = self._breaker.state
        return {"backend": self.backend,
                "status": "ok" if state is BreakerState.CLOSED else "degraded",
                "breaker": state.value}

    async def close(self) -> None:
        await self._client.aclose()

    async def _resolve(self, key: str, compute: Compute, read: bool) -> Outcome:
        if not read:
            return await self._computed(key, compute)
        found = await self._lookup(key)
        if isinstance(found, Entry):
            return found.outcome()
        self._count("miss")
        if found is UNAVAILABLE:
            return await self._computed(key, compute)
        return await self._coordinated(key, compute)

    async def _coordinated(self, key: str, compute: Compute) -> Outcome:
        """Compute under the cross-process lock, or wait for whoever holds it."""
        # redis-py's lock: SET NX PX with a random token; release and renewal only while the
        # token is still ours (after an expiry another instance may hold it, and deleting that
        # would let a third one compute too).
        lock = self._client.lock(key + ":lock", timeout=self._lock_s, blocking=False,
                                 thread_local=False)
        deadline = time.monotonic() + self._wait_s
        delay_s = self._poll_initial_s
        while True:
            locked = await self._call(lock.acquire)
            if locked is UNAVAILABLE:
                break  # Redis cannot coordinate: compute here rather than wait on it
            if locked:
                # The holder we waited for may have stored its result just before we locked.
                found = await self._fetch(key)
                if isinstance(found, Entry):
                    await self._call(lambda: _released(lock))
                    self._count("coalesced")
                    return found.outcome()
                return await self._computed_locked(key, compute, lock)
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                log.warning("waited %.1f s for another instance to compute %s; computing here",
                            self._wait_s, key)
                break
            await asyncio.sleep(min(delay_s, remaining_s))
            delay_s = min(delay_s * 1.5, self._poll_max_s)
            found = await self._fetch(key)
            if found is UNAVAILABLE:
                break
            if found is not None:
                self._count("coalesced")
                return found.outcome()
        return await self._computed(key, compute)

    async def _computed_locked(self, key: str, compute: Compute, lock: Lock) -> Outcome:
        keeper = asyncio.create_task(self._keep_lock(lock))
        try:
            return await self._computed(key, compute)  # stores before the lock goes
        finally:
            keeper.cancel()
            await self._call(lambda: _released(lock))

    async def _keep_lock(self, lock: Lock) -> None:
        while True:
            await asyncio.sleep(self._lock_s / 3)
            renewed = await self._call(lambda: _renewed(lock))
            if renewed is False:
                log.info("lost the single-flight lock %s; another instance may compute too",
                         lock.name)
                return

    async def _lookup(self, key: str) -> Entry | None | _Unavailable:
        """The entry, local copy first, counting a hit where one is found."""
        if self._local is not None:
            data = self._local.get(key)
            value = decode_value(data) if data is not None else None
            if data is not None and value is not None:
                self._count("hit", backend="memory")
                return Entry(data, value)
        found = await self._fetch(key)
        if isinstance(found, Entry):
            self._count("hit")
        return found

    async def _fetch(self, key: str) -> Entry | None | _Unavailable:
        data = await self._call(lambda: self._client.get(key))
        if data is UNAVAILABLE:
            return UNAVAILABLE
        value = decode_value(data) if isinstance(data, bytes) else None
        if not isinstance(data, bytes) or value is None:
            return None  # absent, or unusable (a miss: the next set replaces it)
        if self._local is not None:
            self._local.set(key, data)
        return Entry(data, value)

    async def _store(self, key: str, data: bytes) -> None:
        if self._local is not None:
            self._local.set(key, data)
        stored = await self._call(lambda: self._client.set(key, data, px=self._ttl_ms))
        if stored is not UNAVAILABLE:
            self._count("set")

    async def _call(self, command: Callable[[], Awaitable[R]]) -> R | _Unavailable:
        """Run one Redis command through the breaker; any trouble becomes UNAVAILABLE."""
        if not self._breaker.allow():
            return UNAVAILABLE
        try:
            async with asyncio.timeout(self._call_deadline_s):
                result = await command()
        except ResponseError as exc:
            # The server answered (out of memory, wrong type...): it is up, the command failed.
            self._breaker.record_success()
            self._count("error")
            log.warning("Redis refused a cache command: %s", exc)
            return UNAVAILABLE
        except (RedisError, OSError, TimeoutError) as exc:
            self._breaker.record_failure()
            self._count("error")
            log.debug("Redis cache call failed: %r", exc)
            return UNAVAILABLE
        except BaseException:
            self._breaker.release()
            raise
        self._breaker.record_success()
        return result


async def _released(lock: Lock) -> bool:
    """Release the lock if it is still ours; False if it expired (not an error of Redis)."""
    try:
        await lock.release()
    except LockNotOwnedError:
        return False
    return True


async def _renewed(lock: Lock) -> bool:
    """Reset the lock's expiry to its full lifetime if it is still ours."""
    try:
        return await lock.reacquire()
    except LockNotOwnedError:
        return False
