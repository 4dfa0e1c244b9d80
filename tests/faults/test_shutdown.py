"""SIGTERM: stop accepting, let the request in flight finish, exit, and leave no child behind."""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path

import psutil
import pytest

from tests.faults.server import ServeProcess, read_response, wait_until


def refuses_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except OSError:
        return True


def test_sigterm_drains_in_flight_requests_and_reaps_children(
        tmp_path: Path, fault_store: Path, clip: bytes) -> None:
    server = ServeProcess(tmp_path, fault_store, VIDEOBERT_LOG_LEVEL="info",
                          VIDEOBERT_SHUTDOWN_GRACE_S="20")
    with server:
        family = [server.pid, *(c.pid for c in server.children())]
        assert server.decode_workers()
        sock = server.open_upload(content_length=len(clip))
        with sock:
            sock.sendall(clip[:1000])  # in flight: body half sent (no admission slot yet)
            assert wait_until(lambda: server.uploads_left() != [], 10)
            server.sigterm()
            # New connections are refused while the old one is still being served.
            assert wait_until(lambda: refuses_connections(server.port), 10)
            sock.sendall(clip[1000:])
            status, _, body = read_response(sock)
        assert status == 200, body
        assert json.loads(body)["video"]["frames_sampled"] >= 1
        exit_code = server.wait_exit(30)
        # uvicorn re-raises the signal after its graceful shutdown, so the status says SIGTERM.
        assert exit_code in (0, -signal.SIGTERM)
        log = server.log()
        assert "Application shutdown complete" in log
        assert "Traceback" not in log
        assert wait_until(lambda: not _alive(family), 10), [
            (pid, psutil.Process(pid).cmdline()) for pid in _alive(family)]
        assert server.uploads_left() == []


@pytest.mark.parametrize("grace_s", ["1"])
def test_sigterm_with_a_stuck_client_exits_after_the_grace_period(
        tmp_path: Path, fault_store: Path, clip: bytes, grace_s: str) -> None:
    server = ServeProcess(tmp_path, fault_store, VIDEOBERT_SHUTDOWN_GRACE_S=grace_s,
                          VIDEOBERT_BODY_TIMEOUT_S="600")
    with server:
        family = [server.pid, *(c.pid for c in server.children())]
        with server.open_upload(content_length=len(clip)) as sock:
            sock.sendall(clip[:10])  # and never the rest
            assert wait_until(lambda: server.uploads_left() != [], 10)
            server.sigterm()
            exit_code = server.wait_exit(30)
        assert exit_code in (0, -signal.SIGTERM)
        # Children notice their parent is gone through a closed pipe: give them a moment.
        assert wait_until(lambda: not _alive(family), 10), [
            (pid, psutil.Process(pid).cmdline()) for pid in _alive(family)]
        assert server.uploads_left() == []


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive
