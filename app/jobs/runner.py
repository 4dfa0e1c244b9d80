"""The job runner: pulls jobs from the queue and runs up to ``concurrency`` of them at once.

Runs inside ``videobert worker`` (and in the API process when there is no Redis). The jobs in
flight share the process's batcher, so several of them batch together on the model.

One job's path:
    take (or take over from a silent worker) -> store.start (counts the attempt; skips a
    cancelled job; fails a job out of attempts) -> execute with progress -> finish -> ack
    -> remove the upload -> ``on_end`` (the callback).
A domain error about the video (4xx: rejected, unsupported, bad option) fails the job at once;
anything else (the model failed, the process was overloaded, an unexpected exception) puts it
back on the queue until ``max_attempts`` attempts have been made. A worker that dies makes no
decision at all: its jobs stay pending and another worker takes them over, counting an attempt,
so a job that kills every worker that touches it also ends as failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from app.errors import VideoBertError
from app.jobs.execute import Execute
from app.jobs.queue import Delivery, JobQueue
from app.jobs.records import TERMINAL, JobRecord, JobStatus, error_dict
from app.jobs.store import JobStore
from app.jobs.uploads import UploadStore

log = logging.getLogger(__name__)

SUPERVISE_S = 0.5  # how often cancellations are noticed
PRESENCE_TTL_S = 15.0  # a worker silent this long no longer counts as live
TAKE_BLOCK_S = 0.5
SWEEP_EVERY_S = 600.0
STORE_ERROR_PAUSE_S = 1.0


def consumer_name() -> str:
    """Unique per process and life: a restarted worker must not inherit a dead one's entries
    as if they were its own (they are taken over, counted, instead)."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def is_permanent(exc: BaseException) -> bool:
    """Whether trying again cannot help: the video or the options are at fault."""
    return (isinstance(exc, VideoBertError) and exc.status_code < 500
            and exc.status_code not in (408, 429))


@dataclass(frozen=True)
class RunnerConfig:
    consumer: str
    concurrency: int
    max_attempts: int
    claim_idle_s: float
    sweep_after_s: float = 24 * 3600.0


class _Stop(enum.Enum):
    CANCELLED = "cancelled"  # the client cancelled the job
    LOST = "lost"            # another worker took the job over
    SHUTDOWN = "shutdown"    # this runner is stopping


@dataclass
class _InFlight:
    delivery: Delivery
    task: asyncio.Task[None] | None = None
    executing: bool = False
    # Set once this runner is ending the job (recording it, acknowledging the entry, removing
    # the upload): from then on nothing interrupts it. The heartbeat no longer finds an entry
    # just acknowledged and would read that as a take-over, cutting the clean-up short.
    settling: bool = False
    stop: _Stop | None = None


class JobRunner:
    def __init__(self, *, store: JobStore, queue: JobQueue, uploads: UploadStore,
                 config: RunnerConfig, execute: Execute,
                 on_end: Callable[[str], None] = lambda job_id: None,
                 is_ready: Callable[[], bool] = lambda: True) -> None:
        """``on_end(job_id)`` runs when this runner has ended a job (sends its callback)."""
        self.store = store
        self.queue = queue
        self.uploads = uploads
        self.config = config
        self._execute = execute
        self._on_end = on_end
        self._is_ready = is_ready
        self._inflight: dict[str, _InFlight] = {}  # stream entry id -> its state
        self._main: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self.completed = 0  # jobs this runner ended (any terminal status)

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    @property
    def is_running(self) -> bool:
        return self._main is not None and not self._main.done()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        if self._main is not None:
            return
        self.uploads.ensure()
        self._main = asyncio.create_task(self._take_loop(), name="jobs-take")
        self._supervisor = asyncio.create_task(self._supervise_loop(), name="jobs-supervise")

    async def stop(self, grace_s: float = 0.0) -> None:
        """Take no more jobs; give those in flight ``grace_s`` to end, then hand them back."""
        self._stopping = True
        if self._main is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._main), TAKE_BLOCK_S + 1.0)
            self._main.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._main
        tasks = [s.task for s in self._inflight.values() if s.task is not None]
        if tasks and grace_s > 0:
            await asyncio.wait(tasks, timeout=grace_s)
        for state in list(self._inflight.values()):
            if state.task is not None and not state.task.done():
                state.stop = _Stop.SHUTDOWN
                state.task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=10.0)
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._supervisor

    # -- taking jobs -------------------------------------------------------------------------
    async def _take_loop(self) -> None:
        while not self._is_ready():
            if self._stopping:
                return
            await asyncio.sleep(0.1)
        next_claim = 0.0
        set_up = False
        while not self._stopping:
            try:
                if not set_up:
                    await self.queue.setup()
                    set_up = True
                free = self.config.concurrency - len(self._inflight)
                if free <= 0:
                    tasks = [s.task for s in self._inflight.values() if s.task is not None]
                    await asyncio.wait(tasks, timeout=SUPERVISE_S,
                                       return_when=asyncio.FIRST_COMPLETED)
                    continue
                got: list[Delivery] = []
                if time.monotonic() >= next_claim:
                    got = await self.queue.claim_stale(self.config.consumer,
                                                       self.config.claim_idle_s, free)
                    # More may be waiting when the claim came back full: look again at once.
                    next_claim = 0.0 if len(got) == free else (
                        time.monotonic() + self.config.claim_idle_s / 2)
                if not got:
                    got = await self.queue.take(self.config.consumer, free, TAKE_BLOCK_S)
                for delivery in got:
                    self._spawn(delivery)
            except (RedisError, OSError) as exc:
                log.warning("job queue unavailable (%s); retrying in %.0f s", exc,
                            STORE_ERROR_PAUSE_S)
                await asyncio.sleep(STORE_ERROR_PAUSE_S)
            except Exception:
                # A bug: end the loop loudly (``videobert worker`` exits and is restarted).
                log.exception("job runner %s stopped taking jobs", self.config.consumer)
                raise

    def _spawn(self, delivery: Delivery) -> None:
        if delivery.entry_id in self._inflight:
            return  # already ours and running (a take-over of our own entry)
        state = _InFlight(delivery)
        self._inflight[delivery.entry_id] = state
        state.task = asyncio.create_task(self._process(state), name=f"job-{delivery.job_id}")

        def forget(_: object) -> None:
            if self._inflight.get(delivery.entry_id) is state:
                del self._inflight[delivery.entry_id]

        state.task.add_done_callback(forget)

    # -- watching jobs in flight -------------------------------------------------------------
    async def _supervise_loop(self) -> None:
        next_heartbeat = 0.0
        next_presence = 0.0
        next_sweep = time.monotonic()  # at once: a restarted worker clears what it left
        while True:
            try:
                executing = [s for s in self._inflight.values() if s.executing]
                statuses = await self.store.statuses(s.delivery.job_id for s in executing)
                for state in executing:
                    if statuses.get(state.delivery.job_id) is not JobStatus.RUNNING:
                        self._interrupt(state, _Stop.CANCELLED)
                now = time.monotonic()
                if now >= next_presence:
                    # Seen by the API: with none of these alive it refuses jobs (503
                    # no_job_workers) rather than queue them for nobody, and /readyz counts them.
                    next_presence = now + PRESENCE_TTL_S / 3
                    await self.queue.announce(self.config.consumer, PRESENCE_TTL_S)
                if now >= next_heartbeat and self._inflight:
                    next_heartbeat = now + self.config.claim_idle_s / 3
                    held = list(self._inflight.values())
                    kept = await self.queue.heartbeat(self.config.consumer,
                                                      [s.delivery for s in held])
                    for state in held:
                        if state.delivery.entry_id not in kept:
                            log.warning("job %s was taken over by another worker; stopping "
                                        "here", state.delivery.job_id)
                            self._interrupt(state, _Stop.LOST)
                if now >= next_sweep:
                    next_sweep = now + SWEEP_EVERY_S
                    await self.uploads.sweep(self.config.sweep_after_s, self._is_live)
            except (RedisError, OSError) as exc:
                log.warning("job supervision skipped a beat: %s", exc)
            except Exception:
                log.exception("job supervision failed; trying again")
            await asyncio.sleep(SUPERVISE_S)  # after the first beat: presence and sweep at once

    def _interrupt(self, state: _InFlight, why: _Stop) -> None:
        if (state.task is None or state.task.done() or state.stop is not None
                or state.settling):
            return
        state.stop = why
        state.task.cancel()

    async def _is_live(self, job_id: str) -> bool:
        record = await self.store.get(job_id)
        return record is not None and record.status not in TERMINAL

    # -- one job -----------------------------------------------------------------------------
    async def _process(self, state: _InFlight) -> None:
        delivery = state.delivery
        job_id = delivery.job_id
        try:
            outcome, attempts = await self.store.start(job_id, self.config.consumer,
                                                       self.config.max_attempts)
            if outcome == "exhausted":
                record = await self.store.get(job_id)
                last = record.error if record else None
                await self._end(state, JobStatus.FAILED, error=_gave_up(attempts, last))
                return
            if outcome != "running":  # cancelled while queued, or gone
                await self._release(state, remove_upload=True)
                return
            record = await self.store.get(job_id)
            if record is None:
                await self._release(state, remove_upload=True)
                return
            await self._run(state, record, attempts)
        except asyncio.CancelledError:
            if state.stop is _Stop.SHUTDOWN:
                # Another worker (or this one, restarted) picks it up at once; this attempt
                # does not count against the job.
                with contextlib.suppress(RedisError, OSError):
                    if await self.store.requeue(job_id, None, count_attempt=False):
                        await self.queue.retry(delivery)
            raise
        except (RedisError, OSError):
            # The entry stays pending and is taken over after claim_idle_s.
            log.exception("job %s: lost contact with the job store", job_id)
        except Exception:
            log.exception("job %s: unexpected error handling it; left for a retry", job_id)

    async def _run(self, state: _InFlight, record: JobRecord, attempts: int) -> None:
        job_id = record.id

        async def progress(value: float) -> None:
            # Called inside a computation that other jobs may share: never raise into it.
            try:
                running = await self.store.set_progress(job_id, value)
            except (RedisError, OSError):
                return
            if not running:
                self._interrupt(state, _Stop.CANCELLED)

        state.executing = True
        try:
            result = await self._execute(record, self.uploads.path(job_id), progress)
        except asyncio.CancelledError:
            state.executing = False
            if state.stop is _Stop.CANCELLED:
                log.info("job %s cancelled while running", job_id)
                await self._release(state, remove_upload=True)
                self.completed += 1
                current = asyncio.current_task()
                if current is not None:
                    current.uncancel()
                return
            if state.stop is _Stop.LOST:
                current = asyncio.current_task()
                if current is not None:
                    current.uncancel()
                return  # the new holder owns the entry and the upload now
            raise
        except Exception as exc:
            state.executing = False
            if not isinstance(exc, VideoBertError):
                log.exception("job %s attempt %d failed", job_id, attempts)
            else:
                log.info("job %s attempt %d failed: %s", job_id, attempts, exc.code)
            error = error_dict(exc)
            if is_permanent(exc):
                await self._end(state, JobStatus.FAILED, error=error)
            elif attempts >= self.config.max_attempts:
                await self._end(state, JobStatus.FAILED, error=_gave_up(attempts, error))
            elif await self.store.requeue(job_id, error, count_attempt=True):
                await self.queue.retry(state.delivery)
            else:  # cancelled meanwhile
                await self._release(state, remove_upload=True)
            return
        state.executing = False
        await self._end(state, JobStatus.SUCCEEDED, result=result)

    async def _end(self, state: _InFlight, status: JobStatus, *,
                   result: dict[str, Any] | None = None,
                   error: dict[str, str] | None = None) -> None:
        job_id = state.delivery.job_id
        ended = await self.store.finish(job_id, status, result=result, error=error)
        await self._release(state, remove_upload=True)
        self.completed += 1
        if ended:
            self._on_end(job_id)

    async def _release(self, state: _InFlight, *, remove_upload: bool) -> None:
        state.settling = True
        try:
            await self.queue.ack(state.delivery)
        finally:  # even when a shutdown cancels the acknowledgement: the job has ended
            if remove_upload:
                self.uploads.remove(state.delivery.job_id)


def _gave_up(attempts: int, last: dict[str, str] | None) -> dict[str, str]:
    if last is None:
        return {"code": "job_failed",
                "message": f"Gave up after {attempts} attempts: the worker running this job "
                           "stopped each time (it may crash the worker)."}
    return {"code": last["code"],
            "message": f"Gave up after {attempts} attempts. Last error: {last['message']}"}
