"""A loopback TCP listener that must never be contacted: proof that no SSRF happened.

    with Canary() as canary:
        ...  # point playlists at http://127.0.0.1:{canary.port}/
        assert canary.connections == []
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType


class Canary:
    """Accepts on 127.0.0.1:<free port>, records what each connection sent, then closes it."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self.port: int = self._sock.getsockname()[1]
        self.connections: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="canary", daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(0.2)
                try:
                    first = conn.recv(4096)
                except OSError:
                    first = b""
                self.connections.append(first or b"<connected, sent nothing>")

    def start(self) -> Canary:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._sock.close()

    def __enter__(self) -> Canary:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
