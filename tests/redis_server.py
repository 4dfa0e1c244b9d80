"""A private redis-server for tests: own port, own temp dir, never the shared one on 6379.

    with RedisServer() as server:
        cache = RedisCache.from_url(server.url, ...)
        server.freeze()   # SIGSTOP: connections open, nothing answers (a hung server)
        server.thaw()
        server.stop()     # connection refused
        server.start()    # back on the same port, empty
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

INSTALL_HINT = ("redis-server is not installed: run scripts/ensure-test-servers.sh (as root on "
                "Debian/Ubuntu it installs the redis-server package), or install Redis and put "
                "redis-server on PATH, or point REDIS_SERVER_BIN at the binary")


def find_redis_server() -> str:
    binary = os.environ.get("REDIS_SERVER_BIN") or shutil.which("redis-server")
    if not binary or not os.access(binary, os.X_OK):
        raise RuntimeError(INSTALL_HINT)
    return binary


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def ping(port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    def __init__(self, port: int | None = None, *, start_timeout_s: float = 10.0) -> None:
        self.binary = find_redis_server()
        self.port = port or free_port()
        self.start_timeout_s = start_timeout_s
        self._dir = Path(tempfile.mkdtemp(prefix="videobert-redis-"))
        self._proc: subprocess.Popen[bytes] | None = None
        self._frozen = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("redis-server is not running")
        return self._proc.pid

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> RedisServer:
        """Start (or restart, on the same port, with no data) and wait until PING answers."""
        if self.is_running:
            return self
        log_path = self._dir / "redis.log"
        self._proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--maxmemory", "64mb",
             "--maxmemory-policy", "allkeys-lru", "--dir", str(self._dir),
             "--logfile", str(log_path), "--daemonize", "no"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + self.start_timeout_s
        while not ping(self.port):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log_tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
                raise RuntimeError(f"redis-server did not come up on port {self.port}:\n"
                                   f"{log_tail}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if self._frozen:
            self.thaw_pid(proc.pid)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)

    def freeze(self) -> None:
        """SIGSTOP: the kernel still accepts connections, but no command is ever answered."""
        os.kill(self.pid, signal.SIGSTOP)
        self._frozen = True

    def thaw(self) -> None:
        self.thaw_pid(self.pid)

    def thaw_pid(self, pid: int) -> None:
        os.kill(pid, signal.SIGCONT)
        self._frozen = False

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
