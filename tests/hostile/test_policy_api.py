"""The decode budgets through the API: wall time (decode_timeout) and decoded frames
(video_too_large). Each needs its own app, since the limit is a setting."""

from __future__ import annotations

import httpx

from tests.api.conftest import running_app, tiny_settings
from tests.hostile.conftest import HostileEnv


async def _classify(client: httpx.AsyncClient, env: HostileEnv, name: str) -> httpx.Response:
    data = (env.corpus / name).read_bytes()
    return await client.post("/v1/classify", content=data,
                             headers={"Content-Type": "video/mp4"}, timeout=60)


async def test_decode_deadline_answers_decode_timeout_and_the_service_lives_on(
        hostile_env: HostileEnv) -> None:
    settings = tiny_settings(hostile_env.store, hostile_env.uploads, decode_timeout_s=0.001)
    async with running_app(settings) as (_, client):
        for _ in range(2):  # the second proves the worker (or its replacement) still serves
            resp = await _classify(client, hostile_env, "h264.mov")
            assert resp.status_code == 422, resp.text
            assert resp.json()["error"]["code"] == "decode_timeout"
        assert (await client.get("/readyz")).status_code == 200
    assert list(hostile_env.uploads.iterdir()) == []


async def test_decoded_frame_budget_answers_video_too_large(hostile_env: HostileEnv) -> None:
    settings = tiny_settings(hostile_env.store, hostile_env.uploads, max_decoded_frames=10)
    async with running_app(settings) as (_, client):
        resp = await _classify(client, hostile_env, "hour_long.mp4")
        assert resp.status_code == 422, resp.text
        assert resp.json()["error"]["code"] == "video_too_large"
        ok = await _classify(client, hostile_env, "one_frame.mp4")  # within the budget
        assert ok.status_code == 200
