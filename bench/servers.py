"""Starting and stopping the three servers under test, each in its own process group.

Every server listens on 127.0.0.1 only, on a free port. A server's whole process group (its
decode or inference worker processes included) is stopped by the group id it was started with.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.loadgen import Target
from bench.peer_common import PeerConfig

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 300.0


@dataclass
class ServerSpec:
    system: str  # "ours", "litserve", "baseline"
    argv: list[str]
    env: dict[str, str]
    ready_path: str
    predict_path: str
    describe: str  # the configuration, for the report
    params: Callable[[int], dict[str, str]] = lambda _i: {}
    headers: dict[str, str] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class OursConfig:
    decode_workers: int
    torch_threads: int
    instances: int = 1
    max_batch_size: int = 8
    max_batch_frames: int = 16
    max_wait_ms: float = 10.0
    precision: str = "auto"
    stream_chunk_frames: int = 16  # 0: decode each whole video before the model starts


def ours_spec(store: Path, model: str, cfg: OursConfig, system: str = "ours") -> ServerSpec:
    env = {
        "VIDEOBERT_MODEL_STORE_DIR": str(store), "VIDEOBERT_DEFAULT_MODEL": model,
        "VIDEOBERT_DECODE_WORKERS": str(cfg.decode_workers),
        "VIDEOBERT_TORCH_THREADS": str(cfg.torch_threads),
        "VIDEOBERT_INSTANCES_PER_DEVICE": str(cfg.instances),
        "VIDEOBERT_MAX_BATCH_SIZE": str(cfg.max_batch_size),
        "VIDEOBERT_MAX_BATCH_FRAMES": str(cfg.max_batch_frames),
        "VIDEOBERT_MAX_WAIT_MS": str(cfg.max_wait_ms),
        "VIDEOBERT_PRECISION": cfg.precision,
        "VIDEOBERT_STREAM_CHUNK_FRAMES": str(cfg.stream_chunk_frames),
        "VIDEOBERT_MAX_INFLIGHT_REQUESTS": "128", "VIDEOBERT_LOG_LEVEL": "warning",
    }

    def params(index: int) -> dict[str, str]:
        # A distinct cache key per request (min_confidence moves by 1e-7): identical uploads in
        # flight together would otherwise share one computation, which the peers cannot do.
        return {"refine_boundaries": "false", "min_confidence": f"{0.05 + index * 1e-7:.7f}"}

    return ServerSpec(
        system=system, argv=[sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1"],
        env=env, ready_path="/readyz", predict_path="/v1/classify",
        describe=(f"videobert serve: {cfg.decode_workers} decode processes, "
                  f"{cfg.instances} model workers x {cfg.torch_threads} torch threads, "
                  f"precision {cfg.precision}, "
                  f"max_batch_size {cfg.max_batch_size}, max_batch_frames "
                  f"{cfg.max_batch_frames}, max_wait_ms {cfg.max_wait_ms:g}, "
                  + (f"frames streamed to the CNN in chunks of {cfg.stream_chunk_frames}"
                     if cfg.stream_chunk_frames else "each video decoded whole before the "
                     "model starts (streaming off)") + "; "
                  "POST /v1/classify?refine_boundaries=false, Cache-Control: no-cache"),
        params=params, headers={"Cache-Control": "no-cache"})


def litserve_spec(peer: PeerConfig, workers: int, max_batch_size: int = 8,
                  batch_timeout_s: float = 0.01, max_batch_frames: int = 16) -> ServerSpec:
    return ServerSpec(
        system="litserve",
        argv=[sys.executable, "-m", "bench.litserve_peer", "--workers", str(workers),
              "--max-batch-size", str(max_batch_size), "--batch-timeout", str(batch_timeout_s),
              "--max-batch-frames", str(max_batch_frames)],
        env=peer.env(), ready_path="/health", predict_path="/predict",
        describe=(f"LitServe: {workers} inference workers x {peer.torch_threads} torch thread, "
                  f"max_batch_size {max_batch_size}, batch_timeout {batch_timeout_s:g} s, "
                  f"precision {peer.precision}; decode_request = app.video.decoder"))


def baseline_spec(peer: PeerConfig) -> ServerSpec:
    return ServerSpec(
        system="baseline", argv=[sys.executable, "-m", "bench.baseline"], env=peer.env(),
        ready_path="/health", predict_path="/predict",
        describe=("naive: one request at a time, every frame decoded (PyAV defaults) and "
                  "converted to full-size RGB, torch resize, fp32, torch default threads"))


def _clean_env() -> dict[str, str]:
    # The parent's own VIDEOBERT_* settings (a Redis URL, say) must not leak into the server.
    return {k: v for k, v in os.environ.items() if not k.startswith(("VIDEOBERT_", "BENCH_"))}


def _stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextmanager
def running(spec: ServerSpec, log_dir: Path) -> Iterator[tuple[Target, int]]:
    """Start the server, wait until it answers ``ready_path``, yield its target and pid."""
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{spec.system}.log"
    env = {**_clean_env(), **spec.env, "PYTHONUNBUFFERED": "1"}
    with log_path.open("ab") as log_file:
        process = subprocess.Popen([*spec.argv, "--port", str(port)], env=env,
                                   stdout=log_file, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{spec.system} server exited ({process.returncode}); "
                                   f"see {log_path}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + spec.ready_path, timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{spec.system} server not ready in {READY_TIMEOUT_S:.0f} "
                                   f"s; see {log_path}")
            time.sleep(0.25)
        log.info("%s ready on port %d (pid %d)", spec.system, port, process.pid)
        yield Target(system=spec.system, url=base + spec.predict_path, params=spec.params,
                     headers=spec.headers), process.pid
    finally:
        _stop(process)
