"""Closed-loop load generator and the server-side resource monitor, shared by every system.

``concurrency`` clients each send one request, wait for its answer, and send the next, until
``requests`` have been sent; videos go round-robin over the workload's clips, as a multipart
upload (field ``video``), the same bytes for every system. Throughput is completed videos over
the wall time from the first send to the last answer.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

log = logging.getLogger(__name__)

SAMPLE_EVERY_S = 0.2


@dataclass
class RunResult:
    system: str
    workload: str
    concurrency: int
    requests: int
    errors: int
    elapsed_s: float
    latencies_ms: list[float]
    batch_sizes: list[int]
    cpu_percent: float  # of all cores, server processes only
    peak_rss_mb: float  # peak of the summed RSS of the server's processes
    error_samples: list[str] = field(default_factory=list)
    server_timings_ms: dict[str, float] = field(default_factory=dict)  # means, if reported

    @property
    def videos_per_s(self) -> float:
        done = len(self.latencies_ms)
        return done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")

    @property
    def mean_batch(self) -> float:
        return float(np.mean(self.batch_sizes)) if self.batch_sizes else float("nan")

    def summary(self) -> dict[str, Any]:
        return {
            "system": self.system, "workload": self.workload,
            "concurrency": self.concurrency, "requests": self.requests, "errors": self.errors,
            "videos_per_s": round(self.videos_per_s, 4),
            "p50_ms": round(self.percentile_ms(50), 1),
            "p95_ms": round(self.percentile_ms(95), 1),
            "p99_ms": round(self.percentile_ms(99), 1),
            "avg_batch_size": round(self.mean_batch, 2),
            "cpu_percent": round(self.cpu_percent, 1),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "elapsed_s": round(self.elapsed_s, 2),
            "error_samples": self.error_samples[:3],
            "server_timings_ms": {k: round(v, 1) for k, v in self.server_timings_ms.items()},
        }


class TreeMonitor:
    """CPU seconds and peak RSS of a process and all its descendants, sampled in a thread.

    CPU time is kept per pid, so a child that exits between samples keeps what it used up to
    its last sample (the pools here keep their processes, so little is lost)."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.peak_rss = 0
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tree-monitor", daemon=True)

    def _processes(self) -> list[psutil.Process]:
        try:
            return [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def _sample(self) -> None:
        rss = 0
        for proc in self._processes():
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    rss += proc.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            used = times.user + times.system
            self._first.setdefault(proc.pid, used)
            self._last[proc.pid] = used
        self.peak_rss = max(self.peak_rss, rss)

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            self._sample()

    def start(self) -> None:
        self._sample()
        self._thread.start()

    def stop(self) -> tuple[float, float]:
        """(CPU seconds used since start, peak RSS in MB)."""
        self._stop.set()
        self._thread.join()
        self._sample()
        cpu = sum(self._last[pid] - self._first[pid] for pid in self._last)
        return cpu, self.peak_rss / 1e6


@dataclass
class Target:
    """Where and how to send one system's requests."""

    system: str
    url: str
    params: Callable[[int], dict[str, str]] = lambda _i: {}
    headers: dict[str, str] = field(default_factory=dict)
    batch_size_of: Callable[[dict[str, Any]], int] = lambda body: int(
        body.get("timings", {}).get("batch_size", 1))


async def drive(target: Target, workload: str, clips: list[Path], *, concurrency: int,
                requests: int, server_pid: int, timeout_s: float = 900.0) -> RunResult:
    """Send ``requests`` requests from ``concurrency`` closed-loop clients; measure them."""
    payloads = [(clip.name, clip.read_bytes()) for clip in clips]
    latencies: list[float] = []
    batch_sizes: list[int] = []
    errors: list[str] = []
    server_ms: dict[str, list[float]] = {}
    next_index = 0

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal next_index
        while next_index < requests:
            index = next_index
            next_index += 1
            name, data = payloads[index % len(payloads)]
            started = time.perf_counter()
            try:
                response = await http.post(
                    target.url, params=target.params(index), headers=target.headers,
                    files={"video": (name, data, "video/mp4")})
                elapsed_ms = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    errors.append(f"{response.status_code}: {response.text[:200]}")
                    continue
                body = response.json()
                latencies.append(elapsed_ms)
                batch_sizes.append(target.batch_size_of(body))
                for key, value in body.get("timings", {}).items():
                    if key.endswith("_ms") and isinstance(value, int | float):
                        server_ms.setdefault(key, []).append(float(value))
            except httpx.HTTPError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")

    monitor = TreeMonitor(server_pid)
    limits = httpx.Limits(max_connections=concurrency + 4)
    async with httpx.AsyncClient(timeout=timeout_s, limits=limits) as http:
        monitor.start()
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    cpu_s, peak_mb = monitor.stop()
    cores = psutil.cpu_count() or 1
    result = RunResult(system=target.system, workload=workload, concurrency=concurrency,
                       requests=requests, errors=len(errors), elapsed_s=elapsed,
                       latencies_ms=latencies, batch_sizes=batch_sizes,
                       cpu_percent=100.0 * cpu_s / (elapsed * cores), peak_rss_mb=peak_mb,
                       error_samples=errors,
                       server_timings_ms={k: float(np.mean(v)) for k, v in server_ms.items()})
    if errors:
        log.warning("%s %s c=%d: %d errors, first: %s", target.system, workload, concurrency,
                    len(errors), errors[0])
    return result
