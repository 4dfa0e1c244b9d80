"""deploy/nginx.conf in front of a real server: slow uploads never hold an app slot.

Skipped where nginx is not installed. The config is used as shipped, with only the upstream
address, listen address, pid file and temp folders pointed at this test's own.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.faults.server import REPO_ROOT, ServeProcess, read_response, wait_until
from tests.redis_server import free_port

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                  else None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, fault_store: Path
          ) -> Iterator[tuple[ServeProcess, int]]:
    root = tmp_path_factory.mktemp("nginx")
    with ServeProcess(root, fault_store) as server:
        port = free_port()
        conf = (REPO_ROOT / "deploy" / "nginx.conf").read_text()
        for old, new in {"server 127.0.0.1:8000": f"server 127.0.0.1:{server.port}",
                         "listen 8080": f"listen 127.0.0.1:{port}",
                         "/tmp/videobert-nginx.pid": str(root / "nginx.pid"),
                         "/tmp/videobert-nginx-body": str(root / "body"),
                         "/tmp/videobert-nginx-proxy": str(root / "proxy"),
                         "client_max_body_size 512m": "client_max_body_size 1m"}.items():
            assert old in conf, old
            conf = conf.replace(old, new)
        (root / "nginx.conf").write_text(conf)
        assert NGINX is not None
        proc = subprocess.Popen([NGINX, "-c", str(root / "nginx.conf"), "-e",
                                 str(root / "error.log"), "-g", "daemon off;"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert wait_until(lambda: _answers(port), 10)
            yield server, port
        finally:
            proc.terminate()
            proc.wait(10)


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_a_slow_upload_is_buffered_by_nginx_not_by_the_app(stack: tuple[ServeProcess, int],
                                                           clip: bytes) -> None:
    server, port = stack
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall((f"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: video/mp4\r\n"
                      f"Content-Length: {len(clip)}\r\nConnection: close\r\n\r\n").encode())
        for i in range(0, 1000, 100):  # a slow first kilobyte
            sock.sendall(clip[i:i + 100])
            time.sleep(0.1)
        assert server.metric("videobert_inflight_requests") == 0  # the app has not seen it
        sock.sendall(clip[1000:])
        status, headers, body = read_response(sock)
    assert status == 200, body
    assert len(headers["x-request-id"]) == 32  # nginx's $request_id, echoed by the app


def test_a_clients_request_id_goes_through_nginx(stack: tuple[ServeProcess, int]) -> None:
    _, port = stack
    resp = httpx.get(f"http://127.0.0.1:{port}/healthz", headers={"X-Request-ID": "mine-42"})
    assert resp.status_code == 200
    assert resp.headers["x-request-id"] == "mine-42"  # nginx once replaced it with its own


def test_refusals_by_nginx_keep_the_api_error_shape(stack: tuple[ServeProcess, int]) -> None:
    _, port = stack
    resp = httpx.post(f"http://127.0.0.1:{port}/v1/classify", content=b"\0" * (2 * 2**20),
                      headers={"Content-Type": "video/mp4"}, timeout=30)
    assert resp.status_code == 413
    assert json.loads(resp.text)["error"]["code"] == "payload_too_large"
    app_error = httpx.post(f"http://127.0.0.1:{port}/v1/classify", content=b"hello",
                           headers={"Content-Type": "video/mp4"}, timeout=30)
    assert app_error.json()["error"]["code"] == "unsupported_container"  # passed through
