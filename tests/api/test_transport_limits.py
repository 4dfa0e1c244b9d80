"""Transport limits in the app: the open-request limit (a JSON 503 with Retry-After, probes
always answered) and the minimum body rate (a slow upload is cut off and holds no slot)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from app.settings import Settings
from tests.api.conftest import running_app


async def test_past_the_limit_is_a_json_503_and_probes_still_answer(
        make_settings: Callable[..., Settings], videos: dict[str, Path]) -> None:
    release = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield b"\x00" * 16
        await release.wait()

    async with running_app(make_settings(max_open_requests=1)) as (_, client):
        held = asyncio.create_task(client.post(
            "/v1/classify", content=slow_body(), headers={"Content-Type": "video/mp4"}))
        await asyncio.sleep(0.3)  # the slow upload is open
        busy = await client.post("/v1/classify", content=b"x",
                                 headers={"Content-Type": "video/mp4"})
        assert busy.status_code == 503, busy.text
        assert busy.json()["error"]["code"] == "server_busy"
        assert int(busy.headers["retry-after"]) >= 1
        for probe in ("/healthz", "/readyz", "/metrics"):
            assert (await client.get(probe)).status_code == 200, probe
        metrics = (await client.get("/metrics")).text
        assert 'videobert_rejected_total{code="server_busy"} 1.0' in metrics
        release.set()
        done: Any = await held
        assert done.status_code < 500
        # The slot is free again: a normal request is served.
        path = next(iter(videos.values()))
        ok = await client.post("/v1/classify", files={"video": ("a.mp4", path.read_bytes())})
        assert ok.status_code == 200, ok.text


async def test_a_slow_body_is_cut_off_and_holds_no_admission_slot(
        make_settings: Callable[..., Settings], videos: dict[str, Path]) -> None:
    async def trickle() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"\x00" * 10
            await asyncio.sleep(0.1)  # 100 bytes a second

    settings = make_settings(max_inflight_requests=1, body_grace_s=0.5,
                             body_min_bytes_per_s=1000)
    async with running_app(settings) as (_, client):
        slow = asyncio.create_task(client.post(
            "/v1/classify", content=trickle(), headers={"Content-Type": "video/mp4"}))
        await asyncio.sleep(0.2)
        # The one admission slot is free while the slow body arrives: others are served.
        path = next(iter(videos.values()))
        ok = await client.post("/v1/classify", files={"video": ("a.mp4", path.read_bytes())})
        assert ok.status_code == 200, ok.text
        cut: Any = await slow
        assert cut.status_code == 408, cut.text
        assert cut.json()["error"]["code"] == "body_too_slow"


async def test_a_fast_start_buys_no_long_stall(make_settings: Callable[..., Settings]) -> None:
    # 64 KiB at once is 64 s of credit at 1000 bytes a second; the silence after it is cut off
    # after body_idle_s all the same (it once lasted until the whole-body timeout).
    async def start_then_stall() -> AsyncIterator[bytes]:
        yield b"\x00" * 65536
        await asyncio.sleep(30)

    settings = make_settings(body_grace_s=0.5, body_min_bytes_per_s=1000, body_idle_s=1.0)
    async with running_app(settings) as (_, client):
        started = asyncio.get_running_loop().time()
        cut = await client.post("/v1/classify", content=start_then_stall(),
                                headers={"Content-Type": "video/mp4"})
        assert cut.status_code == 408, cut.text
        assert cut.json()["error"]["code"] == "body_too_slow"
        assert "nothing arrived for 1 s" in cut.json()["error"]["message"]
        assert asyncio.get_running_loop().time() - started < 10


async def test_an_unfinished_search_body_is_cut_off(make_settings: Callable[..., Settings]
                                                    ) -> None:
    # The JSON search body was read with no deadline: a client that never finished it held
    # its open request for ever.
    async def half_a_query() -> AsyncIterator[bytes]:
        yield b'{"query": "a cyc'
        await asyncio.sleep(30)

    settings = make_settings(body_grace_s=0.5, body_idle_s=1.0)
    async with running_app(settings) as (_, client):
        cut = await client.post("/v1/search", content=half_a_query(),
                                headers={"Content-Type": "application/json"})
        assert cut.status_code == 408, cut.text
        assert cut.json()["error"]["code"] == "body_too_slow"
        big = await client.post("/v1/search", content=b" " * 70000,
                                headers={"Content-Type": "application/json"})
        assert big.status_code == 413, big.text
