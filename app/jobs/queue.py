"""The job queue: a Redis Stream read by a consumer group, or an asyncio queue in one process.

Every worker process is one consumer of the group ``vbs-workers`` on the stream ``vbs:jobs``.
``XREADGROUP`` hands each entry to exactly one consumer and keeps it in that consumer's
pending-entries list until it is acknowledged, so a worker that dies mid-job leaves its entries
pending; any other worker takes them over with ``XAUTOCLAIM`` once they have been idle for
``claim_idle_s``. A live worker resets the idle time of the entries it still holds
(``heartbeat``), so a long job is never taken from a worker that is working on it. Acknowledged
entries are deleted: the stream holds only jobs that are waiting or in flight.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import ResponseError

log = logging.getLogger(__name__)

STREAM_KEY = "vbs:jobs"
GROUP = "vbs-workers"


@dataclass(frozen=True)
class Delivery:
    """One job handed to one consumer; ``entry_id`` names this hand-over (the stream entry)."""

    job_id: str
    entry_id: str


class JobQueue(Protocol):
    async def setup(self) -> None: ...

    async def put(self, job_id: str) -> None: ...

    async def take(self, consumer: str, count: int, block_s: float) -> list[Delivery]:
        """Up to ``count`` new jobs, waiting at most ``block_s`` for the first."""

    async def claim_stale(self, consumer: str, idle_s: float, count: int) -> list[Delivery]:
        """Jobs held by consumers silent for ``idle_s`` (presumed dead), now ours."""

    async def heartbeat(self, consumer: str, deliveries: Sequence[Delivery]) -> set[str]:
        """Mark held jobs as alive; returns the entry ids this consumer still holds."""

    async def ack(self, delivery: Delivery) -> None: ...

    async def retry(self, delivery: Delivery) -> None:
        """Give the job back: acknowledged here and queued again at the end, atomically."""

    async def depth(self) -> int:
        """Jobs waiting or in flight."""

    async def announce(self, consumer: str, ttl_s: float) -> None:
        """Say that ``consumer`` runs jobs, for the next ``ttl_s`` seconds."""

    async def live_consumers(self) -> int:
        """How many consumers have announced themselves and not yet lapsed."""

    async def close(self) -> None: ...


# ------------------------------------------------------------------------------------------
# Redis Stream
# ------------------------------------------------------------------------------------------

# Refresh the idle time of our own entries only: XCLAIM by itself would also steal an entry that
# another consumer has meanwhile claimed from us.
_HEARTBEAT_LUA = """
local kept = {}
for i, id in ipairs(ARGV) do
  if i > 1 then
    local p = redis.call('xpending', KEYS[1], KEYS[2], id, id, 1)
    if p[1] and p[1][2] == ARGV[1] then
      redis.call('xclaim', KEYS[1], KEYS[2], ARGV[1], 0, id, 'JUSTID')
      table.insert(kept, id)
    end
  end
end
return kept
"""


WORKER_KEY_PREFIX = "vbs:worker:"  # one key per live consumer, with a TTL


class RedisStreamQueue:
    def __init__(self, client: Redis, *, stream: str = STREAM_KEY, group: str = GROUP) -> None:
        self._client = client
        self.stream = stream
        self.group = group
        self._heartbeat = client.register_script(_HEARTBEAT_LUA)

    async def setup(self) -> None:
        try:
            # "0": entries added before the group existed are delivered too.
            await self._client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def put(self, job_id: str) -> None:
        await self._client.xadd(self.stream, {"job": job_id})

    async def take(self, consumer: str, count: int, block_s: float) -> list[Delivery]:
        try:
            reply = await self._client.xreadgroup(
                self.group, consumer, {self.stream: ">"}, count=count,
                block=max(1, int(block_s * 1000)))
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # The stream was deleted (FLUSHDB, a new Redis): recreate it and read again later.
            log.warning("job stream or group missing; recreating it")
            await self.setup()
            return []
        streams: Any = reply or []
        return [d for _, entries in streams for d in _deliveries(entries)]

    async def claim_stale(self, consumer: str, idle_s: float, count: int) -> list[Delivery]:
        reply: Any = await self._client.xautoclaim(self.stream, self.group, consumer,
                                              min_idle_time=int(idle_s * 1000),
                                              start_id="0-0", count=count)
        # Redis 7: [next start, claimed entries, ids of entries deleted meanwhile]
        claimed = reply[1] if len(reply) > 1 else []
        deliveries = list(_deliveries(claimed))
        for d in deliveries:
            log.warning("took over job %s (entry %s) from a silent worker", d.job_id,
                        d.entry_id)
        return deliveries

    async def heartbeat(self, consumer: str, deliveries: Sequence[Delivery]) -> set[str]:
        ids = [d.entry_id for d in deliveries]
        if not ids:
            return set()
        kept = await self._heartbeat(keys=[self.stream, self.group], args=[consumer, *ids])
        return {str(k) for k in kept}

    async def ack(self, delivery: Delivery) -> None:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream, self.group, delivery.entry_id)
            pipe.xdel(self.stream, delivery.entry_id)
            await pipe.execute()

    async def retry(self, delivery: Delivery) -> None:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream, self.group, delivery.entry_id)
            pipe.xdel(self.stream, delivery.entry_id)
            pipe.xadd(self.stream, {"job": delivery.job_id})
            await pipe.execute()

    async def depth(self) -> int:
        return int(await self._client.xlen(self.stream))

    async def announce(self, consumer: str, ttl_s: float) -> None:
        await self._client.set(WORKER_KEY_PREFIX + consumer, "1", px=max(1, int(ttl_s * 1000)))

    async def live_consumers(self) -> int:
        count = 0
        async for _ in self._client.scan_iter(match=WORKER_KEY_PREFIX + "*", count=100):
            count += 1
        return count

    async def close(self) -> None:
        """The client is shared with the store, which closes it."""


def _deliveries(entries: Any) -> list[Delivery]:
    out = []
    for entry_id, entry_fields in entries or []:
        if not entry_fields:  # deleted while pending
            continue
        job_id = entry_fields.get("job")
        if job_id:
            out.append(Delivery(job_id=str(job_id), entry_id=str(entry_id)))
    return out


# ------------------------------------------------------------------------------------------
# In memory
# ------------------------------------------------------------------------------------------

class MemoryQueue:
    """One process: nobody else can die holding a job, so there is nothing to claim."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._consumers: dict[str, float] = {}  # consumer -> announced until (monotonic)
        self._in_flight = 0
        self._deliveries = itertools.count(1)

    def _delivery(self, job_id: str) -> Delivery:
        return Delivery(job_id, str(next(self._deliveries)))

    async def setup(self) -> None:
        return None

    async def put(self, job_id: str) -> None:
        self._queue.put_nowait(job_id)

    async def take(self, consumer: str, count: int, block_s: float) -> list[Delivery]:
        try:
            first = await asyncio.wait_for(self._queue.get(), timeout=block_s)
        except TimeoutError:
            return []
        out = [self._delivery(first)]
        while len(out) < count and not self._queue.empty():
            out.append(self._delivery(self._queue.get_nowait()))
        self._in_flight += len(out)
        return out

    async def claim_stale(self, consumer: str, idle_s: float, count: int) -> list[Delivery]:
        return []

    async def heartbeat(self, consumer: str, deliveries: Sequence[Delivery]) -> set[str]:
        return {d.entry_id for d in deliveries}

    async def ack(self, delivery: Delivery) -> None:
        self._in_flight -= 1

    async def retry(self, delivery: Delivery) -> None:
        self._in_flight -= 1
        self._queue.put_nowait(delivery.job_id)

    async def depth(self) -> int:
        return self._queue.qsize() + self._in_flight

    async def announce(self, consumer: str, ttl_s: float) -> None:
        self._consumers[consumer] = time.monotonic() + ttl_s

    async def live_consumers(self) -> int:
        now = time.monotonic()
        return sum(until > now for until in self._consumers.values())

    async def close(self) -> None:
        return None
