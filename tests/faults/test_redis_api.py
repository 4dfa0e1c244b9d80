"""Redis stopped or frozen under a running service: requests still succeed at normal speed.

redis-py's defaults would make each request wait about 4 s (stopped) or about 59 s (frozen);
the service's 50 ms timeouts and circuit breaker keep it serving from the in-process cache path.
The client timeout below (10 s) is the bound: far under either default stall.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.faults.server import ServeProcess
from tests.media import make_video
from tests.redis_server import RedisServer

CLIENT_TIMEOUT_S = 10.0


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fault_store: Path, redis: RedisServer
           ) -> Iterator[ServeProcess]:
    with ServeProcess(tmp_path_factory.mktemp("serve-redis"), fault_store,
                      VIDEOBERT_REDIS_URL=redis.url) as proc:
        yield proc


def classify(server: ServeProcess, data: bytes) -> httpx.Response:
    return httpx.post(server.url + "/v1/classify", content=data,
                      headers={"Content-Type": "video/mp4"}, timeout=CLIENT_TIMEOUT_S)


def fresh_videos(tmp_path: Path, count: int) -> list[bytes]:
    return [make_video(tmp_path / f"v{i}.mp4", width=48 + 16 * i, height=48, fps=5,
                       duration_s=1.0).read_bytes() for i in range(count)]


def test_with_redis_up_results_are_shared_through_it(server: ServeProcess, redis: RedisServer,
                                                     tmp_path: Path) -> None:
    [video] = fresh_videos(tmp_path, 1)
    assert classify(server, video).headers["x-cache"] == "miss"
    assert classify(server, video).headers["x-cache"] == "hit"
    assert httpx.get(server.url + "/readyz").json()["cache"]["status"] == "ok"


@pytest.mark.parametrize("fault", ["stopped", "frozen"])
def test_requests_succeed_while_redis_is_down(fault: str, server: ServeProcess,
                                              redis: RedisServer, tmp_path: Path) -> None:
    videos = fresh_videos(tmp_path, 4)
    if fault == "stopped":
        redis.stop()
    else:
        redis.freeze()
    try:
        for video in videos:  # misses: each one would have asked Redis first
            resp = classify(server, video)
            assert resp.status_code == 200, resp.text
        ready = httpx.get(server.url + "/readyz", timeout=CLIENT_TIMEOUT_S)
        assert ready.status_code == 200
        assert ready.json()["cache"]["status"] == "degraded"  # the breaker opened
    finally:
        if fault == "stopped":
            redis.start()
        else:
            redis.thaw()
