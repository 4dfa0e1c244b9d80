"""A real ``videobert serve`` subprocess on a free loopback port, on the tiny model.

    with ServeProcess(tmp_path, store, VIDEOBERT_BODY_TIMEOUT_S="2") as server:
        httpx.get(server.url + "/readyz")
        server.decode_workers()   # pids of the decode processes (children of the server)
        server.sigterm(); server.wait_exit(30)

Raw sockets (``open_upload``) let a test send a body as slowly as it likes, stop half way, or
hang up before the answer, none of which an HTTP client library lets one do on purpose.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx
import psutil

from tests.redis_server import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 90.0


class ServeProcess:
    def __init__(self, workdir: Path, store: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.uploads = workdir / "uploads"
        self.uploads.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "serve.log"
        self.env = {
            **os.environ,
            "VIDEOBERT_MODEL_STORE_DIR": str(store), "VIDEOBERT_DEFAULT_MODEL": "tiny",
            "VIDEOBERT_DECODE_WORKERS": "1", "VIDEOBERT_TORCH_THREADS": "1",
            "VIDEOBERT_PRECISION": "fp32", "VIDEOBERT_DEVICE": "cpu",
            "VIDEOBERT_UPLOAD_DIR": str(self.uploads), "VIDEOBERT_LOG_LEVEL": "warning",
            "VIDEOBERT_SHUTDOWN_GRACE_S": "20", "OMP_NUM_THREADS": "1",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> ServeProcess:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1",
                 "--port", str(self.port)],
                cwd=REPO_ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"videobert serve exited early:\n{self.log()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.close()
        raise RuntimeError(f"videobert serve was not ready in {START_TIMEOUT_S} s:\n{self.log()}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def sigterm(self) -> None:
        os.kill(self.pid, signal.SIGTERM)

    def wait_exit(self, timeout_s: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout_s)

    def close(self) -> None:
        """Stop the server and everything it started (also after a failed test)."""
        if self.proc is None:
            return
        try:
            family = [self.proc.pid, *(c.pid for c in
                                       psutil.Process(self.proc.pid).children(recursive=True))]
        except psutil.NoSuchProcess:
            family = []
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        for pid in family[1:]:  # only our own children, by pid
            with contextlib.suppress(psutil.NoSuchProcess):
                psutil.Process(pid).kill()

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- inspection --------------------------------------------------------------------------
    def children(self) -> list[psutil.Process]:
        return psutil.Process(self.pid).children(recursive=True)

    def decode_workers(self) -> list[int]:
        """Decode processes: spawned children running multiprocessing's spawn entry point."""
        pids = []
        for child in self.children():
            try:
                cmdline = " ".join(child.cmdline())
            except psutil.NoSuchProcess:
                continue
            if "spawn_main" in cmdline and "resource_tracker" not in cmdline:
                pids.append(child.pid)
        return pids

    def open_fds(self) -> int:
        return psutil.Process(self.pid).num_fds()

    def metric(self, name: str) -> float:
        """One sample of the Prometheus text (first line starting with ``name``)."""
        text = httpx.get(self.url + "/metrics", timeout=5).text
        match = re.search(rf"^{re.escape(name)} ([0-9.eE+-]+)$", text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0

    def uploads_left(self) -> list[str]:
        return sorted(p.name for p in self.uploads.iterdir())

    # -- raw HTTP ----------------------------------------------------------------------------
    def open_upload(self, path: str = "/v1/classify", *, content_length: int,
                    content_type: str = "video/mp4") -> socket.socket:
        """A connection that has sent the request head and no body yet."""
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {content_length}\r\n"
                "Connection: close\r\n\r\n")
        sock.sendall(head.encode())
        return sock


def read_response(sock: socket.socket, timeout_s: float = 30.0) -> tuple[int, dict[str, str],
                                                                            bytes]:
    """Status, headers (lower-case names) and body of the one response on ``sock``."""
    sock.settimeout(timeout_s)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def wait_until(predicate: object, timeout_s: float, interval_s: float = 0.05) -> bool:
    """Poll ``predicate()`` until it is true or ``timeout_s`` passes; returns the last value."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval_s)
