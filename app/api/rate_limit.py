"""Requests a minute per client, with the ``limits`` library: shared through Redis when the
service has one, so that replicas enforce one limit, else in this process.

The sliding-window counter (two fixed windows, the previous one weighted by how much of it is
still inside the last minute) costs one counter per client and window. Memory is bounded by the
clients of the last two minutes: ``limits`` expires idle counters itself (the earlier
hand-written limiter kept every client it ever saw and scanned them all on each call). If Redis
fails, the limit falls back to this process's own counters rather than refusing everyone.
"""

from __future__ import annotations

import logging
import time

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

KEY_PREFIX = "vbs:rate"


class ClientRateLimiter:
    def __init__(self, per_minute: int, redis_url: str | None = None) -> None:
        self.item = RateLimitItemPerMinute(per_minute)
        self._local = SlidingWindowCounterRateLimiter(MemoryStorage())
        self._shared: SlidingWindowCounterRateLimiter | None = None
        if redis_url:
            storage: Storage = RedisStorage(
                "async+" + redis_url if not redis_url.startswith("async+") else redis_url,
                implementation="redispy", key_prefix=KEY_PREFIX, wrap_exceptions=True,
                socket_timeout=0.5, socket_connect_timeout=0.5)
            self._shared = SlidingWindowCounterRateLimiter(storage)
        self._warned = False

    async def allow(self, client: str) -> tuple[bool, float]:
        """(allowed, seconds until a request would be) for one request of ``client``."""
        if self._shared is not None:
            try:
                return await self._hit(self._shared, client)
            except (StorageError, RedisError, OSError) as exc:
                if not self._warned:
                    log.warning("shared rate limit unavailable (%r); limiting per process", exc)
                    self._warned = True
        return await self._hit(self._local, client)

    async def _hit(self, limiter: SlidingWindowCounterRateLimiter, client: str
                   ) -> tuple[bool, float]:
        if await limiter.hit(self.item, client):
            return True, 0.0
        stats = await limiter.get_window_stats(self.item, client)
        return False, max(1.0, stats.reset_time - time.time())
