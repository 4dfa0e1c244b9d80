"""Callbacks: only to allowlisted hosts, never into private networks by wildcard, delivered."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from app.errors import InvalidOption
from app.jobs.callbacks import (
    CallbackPolicy,
    CallbackRefused,
    deliver,
    is_public_address,
    pinned_target,
)
from app.settings import Settings
from tests.api.conftest import running_app
from tests.jobs.conftest import upload, wait_job

POLICY = CallbackPolicy(["hooks.example.com", "*.clients.example.net", "10.1.2.3"])


@pytest.mark.parametrize("url", [
    "https://hooks.example.com/done?token=abc",
    "http://HOOKS.example.com.:8080/x",
    "https://a.clients.example.net/cb",
    "https://deep.a.clients.example.net/cb",
    "http://10.1.2.3/cb",
])
def test_allowed_urls(url: str) -> None:
    assert POLICY.check_url(url) == url


@pytest.mark.parametrize(("url", "why"), [
    ("https://evil.example.org/x", "not allowed"),
    ("https://clients.example.net/x", "not allowed"),  # the wildcard covers subdomains only
    ("https://hooks.example.com.evil.org/x", "not allowed"),
    ("ftp://hooks.example.com/x", "http"),
    ("hooks.example.com/x", "http"),
    ("https://user:pw@hooks.example.com/x", "credentials"),
    ("https://hooks.example.com:99999/x", "valid URL"),
    ("http://10.1.2.4/x", "not allowed"),
])
def test_refused_urls(url: str, why: str) -> None:
    with pytest.raises(InvalidOption) as info:
        POLICY.check_url(url)
    assert info.value.code == "callback_not_allowed" and why in info.value.message


def test_no_hosts_means_no_callbacks() -> None:
    with pytest.raises(InvalidOption, match="VIDEOBERT_CALLBACK_HOSTS"):
        CallbackPolicy([]).check_url("https://hooks.example.com/x")


@pytest.mark.parametrize(("address", "public"), [
    ("93.184.216.34", True), ("2606:2800:220:1:248:1893:25c8:1946", True),
    ("127.0.0.1", False), ("10.0.0.7", False), ("192.168.1.1", False), ("172.16.0.1", False),
    ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("::1", False),
    ("fd00::1", False), ("fe80::1", False), ("::ffff:127.0.0.1", False), ("224.0.0.1", False),
])
def test_public_addresses(address: str, public: bool) -> None:
    assert is_public_address(address) is public


def _resolver(table: dict[str, list[str]]) -> Callable[[str, int], Any]:
    async def resolve(host: str, port: int) -> list[str]:
        return table[host]
    return resolve


async def test_wildcard_hosts_must_resolve_publicly() -> None:
    resolve = _resolver({"a.clients.example.net": ["93.184.216.34", "169.254.169.254"]})
    with pytest.raises(CallbackRefused, match="non-public address"):
        await pinned_target("https://a.clients.example.net/cb", POLICY, resolve)


async def test_connection_is_pinned_to_the_checked_address() -> None:
    resolve = _resolver({"b.clients.example.net": ["2606:2800:220:1:248:1893:25c8:1946"],
                         "hooks.example.com": ["10.9.9.9"]})
    assert await pinned_target("https://b.clients.example.net:8443/cb?x=1", POLICY,
                               resolve) == (
        "https://[2606:2800:220:1:248:1893:25c8:1946]:8443/cb?x=1",
        "b.clients.example.net:8443", "b.clients.example.net")
    # A host listed exactly is the operator's choice, even inside the network.
    assert await pinned_target("http://hooks.example.com/done", POLICY, resolve) == (
        "http://10.9.9.9/done", "hooks.example.com", "hooks.example.com")


class Receiver:
    """A local HTTP server answering each POST with the next status of ``statuses``."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                outer.received.append((self.path, dict(self.headers), body))
                status = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(status)
                if status in (301, 302):
                    self.send_header("Location", "http://169.254.169.254/latest")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    statuses = list(getattr(request, "param", []))
    with Receiver(statuses) as server:
        yield server


LOCAL = CallbackPolicy(["127.0.0.1"])


@pytest.mark.parametrize(("receiver", "outcome", "posts"), [
    ([], "delivered", 1),
    ([503, 500], "delivered", 3),
    ([500, 500, 500], "failed: HTTP 500", 3),
    ([404], "failed: HTTP 404", 1),
    ([302], "failed: HTTP 302", 1),  # redirects are not followed
], indirect=["receiver"])
async def test_delivery_and_retries(receiver: Receiver, outcome: str, posts: int) -> None:
    url = f"http://127.0.0.1:{receiver.port}/hook?token=t"
    got = await deliver(url, {"id": "j", "status": "succeeded"}, LOCAL, timeout_s=2.0,
                        retry_delays_s=(0.0, 0.0))
    assert got == outcome
    assert len(receiver.received) == posts
    path, headers, body = receiver.received[0]
    assert path == "/hook?token=t"
    assert headers["Host"] == f"127.0.0.1:{receiver.port}"
    assert json.loads(body) == {"id": "j", "status": "succeeded"}


async def test_unreachable_receiver_fails_quietly() -> None:
    with Receiver([]) as closed:
        port = closed.port
    got = await deliver(f"http://127.0.0.1:{port}/x", {}, LOCAL, timeout_s=1.0,
                        retry_delays_s=(0.0,))
    assert got == "failed: ConnectError"


async def test_a_finished_job_calls_back(receiver: Receiver, jobs_settings: Callable[..., Settings],
                                         clips: list[Path]) -> None:
    settings = jobs_settings(callback_hosts=["127.0.0.1"], callback_secret=SECRET)
    url = f"http://127.0.0.1:{receiver.port}/done"
    async with running_app(settings) as (_, client):
        created = await client.post("/v1/jobs", params={"task": "classify",
                                                         "callback_url": url},
                                    **upload(clips[0]))
        assert created.status_code == 202
        job_id = created.json()["id"]
        await wait_job(client, job_id)
        for _ in range(200):
            view = (await client.get(f"/v1/jobs/{job_id}")).json()
            if view["callback"]["status"] != "pending":
                break
            await asyncio.sleep(0.05)
    assert view["callback"] == {"url": url, "status": "delivered"}
    [(path, headers, body)] = receiver.received
    sent = json.loads(body)
    assert path == "/done"
    assert verify_webhook(SECRET, {k.lower(): v for k, v in headers.items()}, body)
    assert {k.lower(): v for k, v in headers.items()}["webhook-id"] == f"msg_{job_id}"
    assert sent["id"] == job_id and sent["status"] == "succeeded"
    assert sent["result"] == view["result"]


SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def verify_webhook(secret: str, headers: dict[str, str], body: bytes,
                   tolerance_s: float = 300) -> bool:
    """What docs/jobs.md tells a receiver to run (the Standard Webhooks check)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance_s:
        return False
    expected = "v1," + base64.b64encode(hmac.new(
        key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(expected, sig)
               for sig in headers["webhook-signature"].split())


@pytest.mark.parametrize("receiver", [[503]], indirect=True)
async def test_callbacks_are_signed_and_keep_their_id_across_retries(
        receiver: Receiver) -> None:
    url = f"http://127.0.0.1:{receiver.port}/hook"
    got = await deliver(url, {"id": "j", "status": "succeeded"}, LOCAL, timeout_s=2.0,
                        retry_delays_s=(0.0,), message_id="msg_j", secret=SECRET)
    assert got == "delivered"
    (_, first, body), (_, second, _) = receiver.received
    headers = {k.lower(): v for k, v in second.items()}
    assert headers["webhook-id"] == "msg_j" == {k.lower(): v for k, v in first.items()}[
        "webhook-id"]
    assert verify_webhook(SECRET, headers, body)
    assert not verify_webhook(SECRET, headers, body.replace(b"succeeded", b"failed"))
    assert not verify_webhook("whsec_" + base64.b64encode(b"x" * 32).decode(), headers, body)
    old = {**headers, "webhook-timestamp": str(int(time.time()) - 3600)}
    assert not verify_webhook(SECRET, old, body)  # a replay an hour later


async def test_without_a_secret_there_is_no_signature(receiver: Receiver) -> None:
    await deliver(f"http://127.0.0.1:{receiver.port}/hook", {}, LOCAL, timeout_s=2.0)
    [(_, headers, _)] = receiver.received
    lowered = {k.lower() for k in headers}
    assert {"webhook-id", "webhook-timestamp"} <= lowered
    assert "webhook-signature" not in lowered
