"""Every error path answers one JSON shape with a stable code, never a 500."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.settings import Settings
from tests.api.conftest import multipart, running_app
from tests.redis_server import RedisServer


def assert_error(resp: httpx.Response, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    assert len(body["error"]["message"]) > 20  # says how to fix it


async def test_missing_content_type(client: httpx.AsyncClient) -> None:
    resp = await client.post("/v1/classify", content=b"abc",
                             headers={"Content-Type": "text/plain"})
    assert_error(resp, 415, "unsupported_content_type")


async def test_multipart_without_video_field(client: httpx.AsyncClient) -> None:
    resp = await client.post("/v1/classify", files={"file": ("a.mp4", b"x")})
    assert_error(resp, 400, "bad_request")


async def test_empty_upload(client: httpx.AsyncClient) -> None:
    resp = await client.post("/v1/classify", content=b"", headers={"Content-Type": "video/mp4"})
    assert_error(resp, 415, "empty_upload")


async def test_text_renamed_as_video(client: httpx.AsyncClient) -> None:
    resp = await client.post("/v1/classify", files={"video": ("a.mp4", b"hello " * 100,
                                                               "video/mp4")})
    assert_error(resp, 415, "unsupported_container")


@pytest.mark.parametrize("query", ["top_k=0", "min_confidence=2", "mode=turbo", "fps=-1",
                                   "unknown_option=1"])
async def test_invalid_option(client: httpx.AsyncClient, videos: dict[str, Path],
                              query: str) -> None:
    resp = await client.post(f"/v1/classify?{query}", **multipart(videos["short"]))
    assert_error(resp, 422, "invalid_option")


async def test_invalid_option_in_form_field(client: httpx.AsyncClient,
                                            videos: dict[str, Path]) -> None:
    resp = await client.post("/v1/classify", **multipart(videos["short"], top_k="many"))
    assert_error(resp, 422, "invalid_option")


async def test_unknown_model(client: httpx.AsyncClient, videos: dict[str, Path]) -> None:
    resp = await client.post("/v1/classify?model=nope", **multipart(videos["short"]))
    assert_error(resp, 404, "model_not_found")


async def test_upload_over_the_limit_is_413(make_settings: Callable[..., Settings],
                                            videos: dict[str, Path]) -> None:
    async with running_app(make_settings(max_upload_mb=0.01)) as (_, client):
        resp = await client.post("/v1/classify", **multipart(videos["cuts"]))
        assert_error(resp, 413, "payload_too_large")
        raw = await client.post("/v1/classify", content=videos["cuts"].read_bytes(),
                                headers={"Content-Type": "video/mp4"})
        assert_error(raw, 413, "payload_too_large")


async def test_video_over_the_duration_policy(make_settings: Callable[..., Settings],
                                              videos: dict[str, Path]) -> None:
    async with running_app(make_settings(max_duration_s=2.0)) as (_, client):
        resp = await client.post("/v1/classify", **multipart(videos["cuts"]))
        assert_error(resp, 422, "video_too_long")


async def test_resolution_over_the_policy(make_settings: Callable[..., Settings],
                                          videos: dict[str, Path]) -> None:
    async with running_app(make_settings(max_width=200)) as (_, client):
        resp = await client.post("/v1/classify", **multipart(videos["short"]))
        assert_error(resp, 422, "resolution_too_large")


async def test_api_key_required_when_configured(make_settings: Callable[..., Settings],
                                                videos: dict[str, Path]) -> None:
    async with running_app(make_settings(api_keys=["s3cret"])) as (_, client):
        assert_error(await client.post("/v1/classify", **multipart(videos["short"])),
                     401, "unauthorized")
        assert_error(await client.post("/v1/classify", **multipart(videos["short"]),
                                       headers={"X-API-Key": "wrong"}), 401, "unauthorized")
        ok = await client.post("/v1/classify", **multipart(videos["short"]),
                               headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        assert (await client.get("/healthz")).status_code == 200
        # /metrics is no probe: with keys it needs one (Prometheus sends it as a bearer).
        assert_error(await client.get("/metrics"), 401, "unauthorized")
        scraped = await client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
        assert scraped.status_code == 200 and "videobert_requests_total" in scraped.text


async def test_rate_limit_per_client(make_settings: Callable[..., Settings],
                                     videos: dict[str, Path]) -> None:
    async with running_app(make_settings(rate_limit_per_min=2)) as (_, client):
        statuses = [(await client.post("/v1/classify", content=b"x",
                                       headers={"Content-Type": "video/mp4"})).status_code
                    for _ in range(3)]
        assert statuses == [415, 415, 429]  # two a minute: the third is refused
        resp = await client.post("/v1/classify", content=b"x",
                                 headers={"Content-Type": "video/mp4"})
        assert_error(resp, 429, "rate_limited")
        assert int(resp.headers["retry-after"]) >= 1


async def test_labels_on_a_model_without_a_text_encoder(client: httpx.AsyncClient,
                                                        videos: dict[str, Path]) -> None:
    # The tiny model has classes but no text encoder: it cannot score words, and says so
    # before decoding anything.
    resp = await client.post("/v1/classify?labels=a%20cat", **multipart(videos["short"]))
    assert_error(resp, 422, "labels_not_supported")
    resp = await client.post("/v1/classify?label_set=genres", **multipart(videos["short"]))
    assert_error(resp, 422, "labels_not_supported")


async def test_an_unknown_path_is_a_json_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v1/nothing-here"), 404, "not_found")


async def test_a_wrong_method_is_a_json_405_with_allow(client: httpx.AsyncClient) -> None:
    resp = await client.get("/v1/classify")
    assert_error(resp, 405, "method_not_allowed")
    assert resp.headers["allow"] == "POST"


async def test_classify_refuses_a_jpeg_it_cannot_make(client: httpx.AsyncClient,
                                                      videos: dict[str, Path]) -> None:
    resp = await client.post("/v1/classify?format=jpeg", **multipart(videos["short"]))
    assert_error(resp, 422, "invalid_option")
    assert "summarize" in resp.json()["error"]["message"]
    job = await client.post("/v1/jobs?task=classify&format=jpeg", **multipart(videos["short"]))
    assert_error(job, 422, "invalid_option")


async def test_replicas_share_one_rate_limit_through_redis(
        make_settings: Callable[..., Settings]) -> None:
    with RedisServer() as redis:
        settings = make_settings(rate_limit_per_min=2, redis_url=redis.url)
        async with running_app(settings) as (_, a), running_app(settings) as (_, b):
            def post(client: httpx.AsyncClient) -> Any:
                return client.post("/v1/classify", content=b"x",
                                   headers={"Content-Type": "video/mp4"})
            statuses = [(await post(client)).status_code for client in (a, b, a)]
            assert statuses == [415, 415, 429]  # one limit for both replicas
            redis.stop()  # Redis gone: each process limits on its own, nobody gets a 5xx
            fallback = [(await post(b)).status_code for _ in range(3)]
            assert fallback == [415, 415, 429]
