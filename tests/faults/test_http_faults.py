"""Slow, vanishing and excess clients, and a decode worker killed mid-request, against a real
``videobert serve`` on loopback.

After each fault: the upload folder is empty again, the admission slot is free, the server's
file descriptors are back where they were, and /readyz says ready.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.faults.server import ServeProcess, read_response, wait_until
from tests.media import make_video, sample_clip

BODY_TIMEOUT_S = 2.0
KILLED = 'videobert_decode_worker_restarts_total{reason="crash (exit code -9)"}'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fault_store: Path
           ) -> Iterator[ServeProcess]:
    with ServeProcess(tmp_path_factory.mktemp("serve"), fault_store,
                      VIDEOBERT_BODY_TIMEOUT_S=str(BODY_TIMEOUT_S),
                      VIDEOBERT_MAX_INFLIGHT_REQUESTS="2", VIDEOBERT_RETRY_AFTER_S="3",
                      VIDEOBERT_DECODE_TIMEOUT_S="30") as proc:
        yield proc


def post(server: ServeProcess, data: bytes, query: str = "") -> httpx.Response:
    return httpx.post(f"{server.url}/v1/classify{query}", content=data,
                      headers={"Content-Type": "video/mp4"}, timeout=60)


def assert_recovered(server: ServeProcess, fds_before: int) -> None:
    """Nothing leaked: temp files, admission slots, descriptors; and the service is ready."""
    assert wait_until(lambda: server.uploads_left() == [], 10), server.uploads_left()
    assert wait_until(lambda: server.metric("videobert_inflight_requests") == 0, 10)
    # Descriptors settle once the closed sockets are reaped: allow no growth at all.
    assert wait_until(lambda: server.open_fds() <= fds_before, 10), \
        (server.open_fds(), fds_before)
    assert httpx.get(server.url + "/readyz", timeout=5).status_code == 200


def test_a_byte_a_second_upload_gets_408(server: ServeProcess, clip: bytes) -> None:
    post(server, clip)  # warm: the first request opens what later ones reuse
    fds = server.open_fds()
    sock = server.open_upload(content_length=len(clip))
    with sock:
        started = time.monotonic()
        for byte in clip[:200]:  # one byte each 0.1 s: far slower than the body deadline
            try:
                sock.sendall(bytes([byte]))
            except OSError:  # the server answered and closed: stop sending
                break
            sock.settimeout(0.1)
            try:
                if sock.recv(1, 0x02):  # MSG_PEEK: has the answer started?
                    break
            except TimeoutError:
                pass
        status, _, body = read_response(sock)
    assert status == 408
    assert json.loads(body)["error"]["code"] == "body_timeout"
    assert time.monotonic() - started < 20 * BODY_TIMEOUT_S  # answered, not left hanging
    assert_recovered(server, fds)


def test_client_hanging_up_mid_upload_leaks_nothing(server: ServeProcess, clip: bytes) -> None:
    post(server, clip)
    fds = server.open_fds()
    batches = server.metric("videobert_batch_videos_count")
    for _ in range(5):
        with server.open_upload(content_length=10 * len(clip)) as sock:
            sock.sendall(clip)  # a tenth of what was announced, then gone
    assert_recovered(server, fds)
    assert server.metric("videobert_batch_videos_count") == batches  # no inference ran


def test_client_hanging_up_before_the_answer_costs_one_inference_that_is_cached(
        server: ServeProcess, tmp_path: Path) -> None:
    fresh = make_video(tmp_path / "fresh.mp4", width=80, height=48, fps=10,
                       duration_s=8.0).read_bytes()
    fds = server.open_fds()
    batches = server.metric("videobert_batch_videos_count")
    with server.open_upload(content_length=len(fresh)) as sock:
        sock.sendall(fresh)
        # Hang up once the upload is in and its computation has begun (it works on its own
        # link to the upload, named vbs-flight-*) ...
        assert wait_until(lambda: any(server.uploads.glob("vbs-flight-*")), 30,
                          interval_s=0.002)
    # ... and the computation still runs to its end with nobody listening ...
    assert wait_until(lambda: server.metric("videobert_batch_videos_count") == batches + 1, 60)
    assert_recovered(server, fds)
    # ... and its answer is cached: the same bytes again cost no inference.
    again = post(server, fresh)
    assert again.status_code == 200
    assert again.headers["x-cache"] == "hit"
    assert server.metric("videobert_batch_videos_count") - batches == 1.0


def test_slow_uploads_hold_no_admission_slot(server: ServeProcess, clip: bytes) -> None:
    # Issue "Hold up at the transport layer too": 32 clients at 10 bytes a second once took
    # every admission slot and everyone else got 429. Now a slot is taken once the body is in.
    fds = server.open_fds()
    holders = [server.open_upload(content_length=len(clip)) for _ in range(4)]  # limit is 2
    try:
        for sock in holders:
            sock.sendall(clip[:100])  # uploading slowly
        time.sleep(0.3)
        assert server.metric("videobert_inflight_requests") == 0
        served = post(server, clip)
        assert served.status_code == 200, served.text
        answers = [read_response(sock) for sock in holders]
    finally:
        for sock in holders:
            sock.close()
    assert [status for status, _, _ in answers] == [408] * 4  # cut off, not left hanging
    assert_recovered(server, fds)


def test_decode_worker_killed_mid_request_fails_only_that_request(server: ServeProcess,
                                                                  clip: bytes) -> None:
    big = sample_clip("bigbuckbunny.mp4").read_bytes()  # 720p: its decode takes a while
    assert post(server, clip, "?fps=5").status_code == 200  # the worker is up and warm
    [victim] = server.decode_workers()
    restarts = server.metric(KILLED)
    sock = server.open_upload(content_length=len(big))
    with sock:
        sock.sendall(big)
        # The flight link appears once the upload is complete and decoding is being asked for.
        assert wait_until(lambda: any(n.startswith("vbs-flight-")
                                      for n in server.uploads_left()), 30, 0.005)
        os.kill(victim, signal.SIGSTOP)  # freeze it mid-decode, then kill it
        time.sleep(0.5)
        os.kill(victim, signal.SIGKILL)
        status, _, body = read_response(sock)
    assert status == 422, body
    assert json.loads(body)["error"]["code"] == "decode_failed"
    assert wait_until(lambda: len(server.decode_workers()) == 1, 30)
    assert server.decode_workers() != [victim]
    assert post(server, clip, "?fps=3").status_code == 200  # the replacement serves
    assert server.metric(KILLED) == restarts + 1
    assert httpx.get(server.url + "/readyz", timeout=5).status_code == 200
