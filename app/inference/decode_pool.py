"""Decoding in isolated, replaceable worker processes.

FFmpeg parses hostile bytes, so it runs in child processes with resource limits (address space,
CPU seconds, file size) applied after their imports. The parent owns the wall-clock deadline: a
worker that overruns or dies is killed and replaced, its request gets a domain error, and the
other workers carry on. ``ProcessPoolExecutor`` is not used: one dead worker breaks the whole
executor, and it cannot kill one stuck task.

Children are started with ``spawn`` (never ``fork``: the parent holds torch and event-loop
threads). ``app.video`` (PyAV) is imported only inside the children. Each call waits for its
result in a thread of the pool's own executor, so the event loop never blocks on a pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.errors import DeadlineExceeded, ServiceUnavailable, VideoBertError, VideoRejected

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from app.video import DecodedVideo, SamplingSpec, VideoPolicy

logger = logging.getLogger(__name__)

# Name -> "module:function" run inside a worker. Only these can be asked for by name.
FUNCTIONS: dict[str, str] = {
    "decode": "app.video.decoder:decode",
    "decode_thumbnails": "app.video.decoder:decode_thumbnails",
    "decode_gray_strips": "app.video.decoder:decode_gray_strips",
    "probe": "app.video.container:probe",
    "read_subtitles": "app.video.subtitles:read_subtitles",
    "still_to_clip": "app.video.still:still_to_clip",
}
# Importing numpy + PyAV in a fresh interpreter takes about a second on a busy 2-core machine.
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class WorkerLimits:
    memory_limit_mb: int
    cpu_limit_s: int | None
    max_file_mb: int | None


# --------------------------------------------------------------------------------------------
# Child side
# --------------------------------------------------------------------------------------------

def _resolve(spec: str) -> Callable[..., Any]:
    module_name, _, attr = spec.partition(":")
    fn: Callable[..., Any] = getattr(importlib.import_module(module_name), attr)
    return fn


def _mapped_bytes() -> int:
    """This process's virtual size (VmSize), or 0 where /proc is not available."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _apply_limits(limits: WorkerLimits) -> None:
    import resource

    mb = 1024 * 1024
    # The budget is for decoding, on top of what the process already maps: a spawned worker
    # re-imports its parent's __main__, and if that imported torch (a script embedding the
    # service, a benchmark) the process already maps gigabytes, so an absolute limit would
    # make every later allocation and lazy import fail.
    address_space = _mapped_bytes() + limits.memory_limit_mb * mb
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    if limits.max_file_mb is not None:
        size = limits.max_file_mb * mb
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def _arm_cpu_limit(cpu_limit_s: int | None) -> None:
    """RLIMIT_CPU counts the whole life of the process: re-arm it per task from what is used."""
    if cpu_limit_s is None:
        return
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = int(usage.ru_utime + usage.ru_stime) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    # Past the soft limit the kernel sends SIGXCPU, whose default action ends the process; the
    # parent reads that exit as a timeout.
    resource.setrlimit(resource.RLIMIT_CPU, (used + cpu_limit_s, hard))


def _to_domain_error(exc: BaseException) -> VideoBertError:
    if isinstance(exc, VideoBertError):
        return exc
    if isinstance(exc, MemoryError):
        return VideoRejected("Decoding this video needs more memory than a decode worker may "
                             "use. Try a smaller resolution or a shorter video.",
                             code="video_too_large")
    return VideoRejected(f"The video could not be decoded ({type(exc).__name__}).",
                         code="decode_failed")


def _worker_main(conn: multiprocessing.connection.Connection, limits: WorkerLimits,
                 functions: dict[str, str]) -> None:
    """Entry point of a worker process: import, limit, then serve calls until told to stop."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    # Ctrl-C goes to the whole process group; the parent decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import numpy  # noqa: F401  (imported before RLIMIT_AS so its start-up is not limited)

    import app.video.container  # noqa: F401
    import app.video.decoder  # noqa: F401  (PyAV, before RLIMIT_AS like numpy)

    table = {name: _resolve(spec) for name, spec in functions.items()}
    if "torch" in sys.modules:  # pulled in by a package __init__: keep it to one thread
        sys.modules["torch"].set_num_threads(1)
    _apply_limits(limits)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        name, args, kwargs, stream_chunk_frames = message
        if stream_chunk_frames:
            kwargs = {**kwargs, "on_frames": _frame_sender(conn),
                      "chunk_frames": stream_chunk_frames}
        try:
            _arm_cpu_limit(limits.cpu_limit_s)
            reply: tuple[str, Any] = ("ok", table[name](*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the parent
            if not isinstance(exc, VideoBertError | MemoryError):
                logger.exception("decode worker call %s failed", name)
            reply = ("err", _to_domain_error(exc))
        try:
            _send_reply(conn, reply)
        except MemoryError as exc:  # pickling a large result under RLIMIT_AS
            conn.send(("err", _to_domain_error(exc)))


def _send_frames(conn: multiprocessing.connection.Connection, kind: str, header: Any,
                 frames: Any) -> None:
    """A small pickled header, then the pixels as raw bytes: pickling 36 MB of pixels would
    cost two more copies."""
    conn.send((kind, (header, frames.shape, frames.dtype.str)))
    conn.send_bytes(frames.data.cast("B") if frames.nbytes else b"")


def _frame_sender(conn: multiprocessing.connection.Connection) -> Callable[[Any, Any, float], None]:
    """The ``on_frames`` sink of a streaming call: each chunk goes to the parent at once."""
    import numpy as np

    def send(times_s: Any, frames: Any, share: float) -> None:
        _send_frames(conn, "chunk", (times_s, share), np.ascontiguousarray(frames))

    return send


def _send_reply(conn: multiprocessing.connection.Connection, reply: tuple[str, Any]) -> None:
    """Frames travel as raw bytes after the rest: pickling 36 MB of pixels costs two copies."""
    import numpy as np

    from app.video import DecodedVideo

    kind, payload = reply
    if kind == "ok" and isinstance(payload, DecodedVideo) and payload.frames.flags.c_contiguous:
        frames = payload.frames
        header = dataclasses.replace(payload, frames=np.empty((0,), dtype=frames.dtype))
        _send_frames(conn, "frames", header, frames)
        return
    conn.send(reply)


def _recv_frames(conn: multiprocessing.connection.Connection, payload: Any) -> tuple[Any, Any]:
    """Counterpart of ``_send_frames``: (header, frames)."""
    import numpy as np

    header, shape, dtype = payload
    frames = np.empty(shape, dtype=np.dtype(dtype))
    if frames.nbytes:
        conn.recv_bytes_into(frames.data.cast("B"))
    else:
        conn.recv_bytes()
    return header, frames


# (times_s, frames, share of the planned samples decoded so far)
FrameChunkSink = Callable[[Any, Any, float], None]


def _recv_reply(conn: multiprocessing.connection.Connection,
                on_chunk: FrameChunkSink | None = None) -> tuple[str, Any]:
    """Counterpart of ``_send_reply``, run in an executor thread of the parent. Chunks of a
    streaming call go to ``on_chunk`` as ``(times_s, frames, share)`` until the reply comes."""
    while True:
        kind, payload = conn.recv()
        if kind == "chunk":
            (times_s, share), frames = _recv_frames(conn, payload)
            if on_chunk is not None:
                on_chunk(times_s, frames, share)
            continue
        if kind != "frames":
            return kind, payload
        header, frames = _recv_frames(conn, payload)
        return "ok", dataclasses.replace(header, frames=frames)


# --------------------------------------------------------------------------------------------
# Parent side
# --------------------------------------------------------------------------------------------

class _Worker:
    def __init__(self, process: BaseProcess, conn: multiprocessing.connection.Connection) -> None:
        self.process = process
        self.conn = conn
        self.pid = process.pid  # kept: a closed Process object no longer answers
        self.is_ready = False


class DecodePool:
    """A fixed number of decode processes; calls wait for a free one.

    ``timeout_s`` is a hard wall-clock limit on the worker's work (queueing for a free worker is
    not counted). Give it some slack over ``policy.decode_timeout_s`` so that the worker's own,
    gentler deadline usually fires first and no process has to be replaced.
    """

    def __init__(self, workers: int, memory_limit_mb: int, cpu_limit_s: int | None = None,
                 max_file_mb: int | None = None, *,
                 on_restart: Callable[[str], None] | None = None,
                 start_method: str = "spawn",
                 extra_functions: Mapping[str, str] | None = None) -> None:
        if workers < 1:
            raise ValueError("a decode pool needs at least one worker")
        if start_method == "fork":
            raise ValueError("fork is unsafe here (the parent holds threads); use spawn")
        self.workers = workers
        self.limits = WorkerLimits(memory_limit_mb, cpu_limit_s, max_file_mb)
        self.on_restart = on_restart
        self.restarts = 0
        self._ctx: Any = multiprocessing.get_context(start_method)
        self._functions = {**FUNCTIONS, **(extra_functions or {})}
        self._idle: asyncio.Queue[_Worker | None] = asyncio.Queue()
        self._all: set[_Worker] = set()
        self._executor = ThreadPoolExecutor(max_workers=2 * workers + 1,
                                            thread_name_prefix="decode-pool")
        self._tasks: set[asyncio.Task[Any]] = set()
        self._is_closed = False
        self._is_started = False

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker processes (they import in the background; calls wait for them)."""
        if self._is_started:
            return
        self._is_started = True
        for _ in range(self.workers):
            self._idle.put_nowait(self._spawn())

    async def close(self) -> None:
        """Stop every worker; calls waiting for one get ``ServiceUnavailable``."""
        if self._is_closed:
            return
        self._is_closed = True
        for _ in range(len(self._all) + 64):
            self._idle.put_nowait(None)  # wake waiters; each sees the pool closed
        workers = list(self._all)
        self._all.clear()
        await asyncio.gather(*(asyncio.to_thread(self._stop, w) for w in workers))
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- calls -------------------------------------------------------------------------------
    async def decode(self, path: str | os.PathLike[str], policy: VideoPolicy,
                     spec: SamplingSpec, timeout_s: float | None = None,
                     wait_s: float | None = None, *, on_chunk: FrameChunkSink | None = None,
                     chunk_frames: int = 16) -> DecodedVideo:
        """``app.video.decoder`` in a worker. Default deadline: the policy's plus slack.

        With ``on_chunk``, frames stream: each chunk of ``chunk_frames`` is handed to
        ``on_chunk(times_s, frames, share)`` on the event loop as soon as it is decoded (every
        chunk before this returns), and the result's ``frames`` is empty.
        """
        if timeout_s is None:
            timeout_s = policy.decode_timeout_s * 1.2 + 5.0
        result: DecodedVideo = await self.run(
            "decode", os.fspath(path), policy, spec, timeout_s=timeout_s, wait_s=wait_s,
            _on_chunk=on_chunk, _chunk_frames=chunk_frames if on_chunk is not None else 0)
        return result

    async def run(self, fn_name: str, *args: Any, timeout_s: float,
                  wait_s: float | None = None, _on_chunk: FrameChunkSink | None = None,
                  _chunk_frames: int = 0, **kwargs: Any) -> Any:
        """Run a registered function (see ``FUNCTIONS``) in a worker and return its result.

        ``wait_s`` bounds the wait for a free worker (the request's remaining deadline: time
        queued for a decoder counts like time queued for the model); ``timeout_s`` bounds the
        work itself.

        Domain errors raised in the worker arrive here as the same class and code. If the
        caller is cancelled, the call still finishes (bounded by ``timeout_s``) in the
        background so that its worker returns to the pool in a known state.
        """
        if fn_name not in self._functions:
            raise ValueError(f"unknown decode pool function {fn_name!r}")
        if not self._is_started:
            self.start()
        task = asyncio.ensure_future(self._call(fn_name, args, kwargs, timeout_s, wait_s,
                                                _on_chunk, _chunk_frames))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(task)

    async def _call(self, fn_name: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                    timeout_s: float, wait_s: float | None = None,
                    on_chunk: FrameChunkSink | None = None, chunk_frames: int = 0) -> Any:
        try:
            worker = await asyncio.wait_for(self._acquire(), wait_s)
        except TimeoutError:
            raise DeadlineExceeded("The request's deadline passed while it waited for a free "
                                   "decoder. Retry later, or use POST /v1/jobs for long "
                                   "videos.") from None
        try:
            await self._wait_ready(worker)
            worker.conn.send((fn_name, args, kwargs, chunk_frames))
            kind, payload = await self._receive(worker, timeout_s, on_chunk)
        except TimeoutError:
            await self._replace(worker, "timeout")
            raise VideoRejected(f"Decoding did not finish within {timeout_s:.0f} s; the worker "
                                "was stopped. Try mode=fast or a shorter video.",
                                code="decode_timeout") from None
        except (EOFError, OSError):
            exitcode = await asyncio.to_thread(self._reap, worker)
            if self._is_closed:
                raise ServiceUnavailable("The decode pool is shutting down.") from None
            await self._replace(worker, f"crash (exit code {exitcode})")
            if exitcode == -signal.SIGXCPU:
                raise VideoRejected("Decoding used more CPU time than allowed. Try mode=fast "
                                    "or a shorter video.", code="decode_timeout") from None
            raise VideoRejected("The decoder crashed on this file. Re-encode it (H.264 in "
                                "MP4 is safest).", code="decode_failed") from None
        except BaseException:
            # Cancelled while waiting (pool closing) or a start failure: the worker's state is
            # unknown, so it does not go back to the pool.
            if not self._is_closed:
                await self._replace(worker, "abandoned")
            raise
        self._release(worker)
        if kind == "err":
            raise payload
        return payload

    # -- worker management -------------------------------------------------------------------
    def _spawn(self) -> _Worker:
        parent_conn, child_conn = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(target=_worker_main, name="decode-worker", daemon=True,
                                    args=(child_conn, self.limits, self._functions))
        process.start()
        child_conn.close()  # so that the child's death reads as EOF here
        worker = _Worker(process, parent_conn)
        self._all.add(worker)
        logger.debug("started decode worker pid %s", process.pid)
        return worker

    async def _acquire(self) -> _Worker:
        while True:
            if self._is_closed:
                raise ServiceUnavailable("The decode pool is shutting down.")
            worker = await self._idle.get()
            if worker is None:
                self._idle.put_nowait(None)
                raise ServiceUnavailable("The decode pool is shutting down.")
            if worker.process.is_alive():
                return worker
            # Died while idle (OOM killer, operator): not this request's fault.
            await self._replace(worker, "died while idle", enqueue=True)

    def _release(self, worker: _Worker) -> None:
        if self._is_closed:
            return
        self._idle.put_nowait(worker)

    async def _wait_ready(self, worker: _Worker) -> None:
        if worker.is_ready:
            return
        try:
            kind, _pid = await self._receive(worker, START_TIMEOUT_S)
        except (TimeoutError, EOFError, OSError):
            kind = "failed"
        if kind != "ready":
            raise ServiceUnavailable("A decode worker failed to start; retry shortly.")
        worker.is_ready = True

    async def _receive(self, worker: _Worker, timeout_s: float,
                       on_chunk: FrameChunkSink | None = None) -> tuple[str, Any]:
        loop = asyncio.get_running_loop()
        deliver: FrameChunkSink | None = None
        if on_chunk is not None:
            def deliver(times_s: Any, frames: Any, share: float) -> None:
                # From the reader thread; FIFO on the loop, so every chunk lands before the
                # reply that follows it.
                loop.call_soon_threadsafe(on_chunk, times_s, frames, share)
        future = loop.run_in_executor(self._executor, _recv_reply, worker.conn, deliver)
        # After a kill the thread's recv() raises EOFError; nobody awaits it any more.
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        message: tuple[str, Any] = await asyncio.wait_for(asyncio.shield(future), timeout_s)
        return message

    async def _replace(self, worker: _Worker, reason: str, *, enqueue: bool = True) -> None:
        self._all.discard(worker)
        await asyncio.to_thread(self._stop, worker, True)
        if self._is_closed:
            return
        self.restarts += 1
        logger.warning("decode worker pid %s replaced: %s", worker.pid, reason)
        if self.on_restart is not None:
            try:
                self.on_restart(reason)
            except Exception:  # a metrics hook must not break the pool
                logger.exception("on_restart callback failed")
        replacement = await asyncio.to_thread(self._spawn)
        if enqueue:
            self._idle.put_nowait(replacement)

    @staticmethod
    def _reap(worker: _Worker) -> int | None:
        worker.process.join(STOP_TIMEOUT_S)
        return worker.process.exitcode

    @staticmethod
    def _stop(worker: _Worker, kill: bool = False) -> None:
        """Blocking: ask politely (or not), then make sure the process is gone."""
        process = worker.process
        if not kill and process.is_alive():
            with contextlib.suppress(OSError):
                worker.conn.send(None)
            process.join(STOP_TIMEOUT_S)
        if process.is_alive():
            process.kill()
        process.join(STOP_TIMEOUT_S)
        worker.conn.close()
        if process.exitcode is not None:
            process.close()
