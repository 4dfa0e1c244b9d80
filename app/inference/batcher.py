"""Dynamic batching: many requests, one model call.

Shaped after what TEI and infinity get right: the future exists before the item is queued, a full
bounded queue refuses at once, the collector waits with ``asyncio.wait_for`` (no sleep polling),
items whose caller has gone or whose deadline passed are dropped before compute, the model runs off
the event loop, and an exception fails exactly the requests of its batch while the loop goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from app.errors import DeadlineExceeded, InferenceFailed, Overloaded, VideoBertError

log = logging.getLogger(__name__)

In = TypeVar("In")
Out = TypeVar("Out")


@dataclass
class BatchTiming:
    queue_ms: float = 0.0
    compute_ms: float = 0.0  # the whole batch's, shared by every item in it
    batch_size: int = 0
    # When (time.monotonic()) the item was queued, and its batch started and ended: a request
    # whose items rode several batches reports the union of these intervals, never their sum.
    enqueued_at: float = 0.0
    started_at: float = 0.0
    ended_at: float = 0.0


@dataclass
class _Pending(Generic[In, Out]):
    item: In
    future: asyncio.Future[tuple[Out, BatchTiming]]
    deadline: float  # time.monotonic() seconds
    enqueued_at: float = field(default_factory=time.monotonic)


BatchHandler = Callable[[Sequence[In]], Sequence[Out]]


class Batcher(Generic[In, Out]):
    """Collects submitted items into batches and runs ``handler`` on one of ``runners``.

    ``runners`` are callables that take a zero-argument function and run it somewhere off the
    event loop (one per model worker / device), each driven by its own collector task, all
    consuming one shared queue: an idle device takes the next batch.
    """

    def __init__(self, handler_per_runner: Sequence[Callable[[Sequence[In]], Sequence[Out]]],
                 run_off_loop: Callable[[int, Callable[[], Sequence[Out]]],
                                        asyncio.Future[Sequence[Out]]],
                 *, max_batch_size: int, max_wait_ms: float, max_queue_size: int,
                 retry_after_s: float = 1.0, item_cost: Callable[[In], int] | None = None,
                 max_batch_cost: int | None = None,
                 on_batch: Callable[[int, int, float], None] | None = None) -> None:
        if not handler_per_runner:
            raise ValueError("need at least one handler")
        self._handlers = list(handler_per_runner)
        self._run_off_loop = run_off_loop
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000.0
        self.retry_after_s = retry_after_s
        self._item_cost = item_cost or (lambda _item: 1)
        self._max_batch_cost = max_batch_cost
        self._on_batch = on_batch
        self._queue: asyncio.Queue[_Pending[In, Out]] = asyncio.Queue(maxsize=max_queue_size)
        self._tasks: list[asyncio.Task[None]] = []
        self._carry: list[_Pending[In, Out] | None] = [None] * len(self._handlers)
        self.batches_run = 0

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        for index in range(len(self._handlers)):
            self._tasks.append(asyncio.create_task(self._collect_loop(index),
                                                   name=f"batcher-{index}"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            if not pending.future.done():
                pending.future.set_exception(
                    InferenceFailed("The service is shutting down; retry on another instance."))

    async def submit(self, item: In, *, deadline: float) -> tuple[Out, BatchTiming]:
        """Queue ``item`` and wait for its output; a full queue raises Overloaded at once."""
        future: asyncio.Future[tuple[Out, BatchTiming]] = (
            asyncio.get_running_loop().create_future())
        pending = _Pending(item=item, future=future, deadline=deadline)
        try:
            self._queue.put_nowait(pending)
        except asyncio.QueueFull:
            raise Overloaded("The model queue is full. Retry after the Retry-After delay.",
                             retry_after_s=self.retry_after_s) from None
        return await future

    async def _next_live(self, timeout_s: float | None) -> _Pending[In, Out] | None:
        """The next queued item whose caller still waits and whose deadline has not passed."""
        while True:
            if timeout_s is None:
                pending = await self._queue.get()
            else:
                if timeout_s <= 0:
                    try:
                        pending = self._queue.get_nowait()
                    except asyncio.QueueEmpty:
                        return None
                else:
                    try:
                        pending = await asyncio.wait_for(self._queue.get(), timeout_s)
                    except TimeoutError:
                        return None
            if pending.future.done():  # caller went away (cancelled)
                continue
            if time.monotonic() >= pending.deadline:
                pending.future.set_exception(DeadlineExceeded(
                    "The request spent its whole deadline waiting for the model. Retry later "
                    "or raise the request timeout."))
                continue
            return pending

    async def _collect_loop(self, runner_index: int) -> None:
        handler = self._handlers[runner_index]
        while True:
            first = self._carry[runner_index] or await self._next_live(None)
            self._carry[runner_index] = None
            assert first is not None
            batch = [first]
            cost = self._item_cost(first.item)
            window_end = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch_size:
                nxt = await self._next_live(window_end - time.monotonic())
                if nxt is None:
                    break
                nxt_cost = self._item_cost(nxt.item)
                if self._max_batch_cost is not None and cost + nxt_cost > self._max_batch_cost:
                    self._carry[runner_index] = nxt  # starts the next batch
                    break
                batch.append(nxt)
                cost += nxt_cost
            await self._run_batch(runner_index, handler, batch)

    async def _run_batch(self, runner_index: int, handler: BatchHandler[In, Out],
                         batch: list[_Pending[In, Out]]) -> None:
        batch = [p for p in batch if not p.future.done()]
        if not batch:
            return
        started = time.monotonic()
        items = [p.item for p in batch]
        try:
            outputs = await self._run_off_loop(runner_index, lambda: handler(items))
            if len(outputs) != len(batch):
                raise RuntimeError(f"handler returned {len(outputs)} outputs for "
                                   f"{len(batch)} inputs")
        except Exception as exc:  # one failing batch must not stop the loop
            log.exception("model batch of %d failed", len(batch))
            error = exc if isinstance(exc, VideoBertError) else InferenceFailed(
                "The model failed on this request's batch. Retry; if it keeps failing, report "
                f"it with the request id. ({type(exc).__name__})")
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(error)
            if self._on_batch:
                self._on_batch(len(batch), -1, (time.monotonic() - started) * 1000)
            return
        compute_ms = (time.monotonic() - started) * 1000
        self.batches_run += 1
        if self._on_batch:
            self._on_batch(len(batch), sum(self._item_cost(i) for i in items), compute_ms)
        for pending, output in zip(batch, outputs, strict=True):
            if not pending.future.done():
                timing = BatchTiming(queue_ms=(started - pending.enqueued_at) * 1000,
                                     compute_ms=compute_ms, batch_size=len(batch),
                                     enqueued_at=pending.enqueued_at, started_at=started,
                                     ended_at=started + compute_ms / 1000)
                pending.future.set_result((output, timing))
