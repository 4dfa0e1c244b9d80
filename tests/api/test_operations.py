"""Readiness, models, metrics, batching across requests, failures and overload."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.inference.worker import ModelOutput, ModelWorker, SequenceInput
from app.settings import Settings
from tests.api.conftest import multipart, running_app


async def test_not_ready_until_warm_up_finishes(make_settings: Callable[..., Settings],
                                                videos: dict[str, Path],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    original = ModelWorker.warm_up

    def slow_warm_up(self: ModelWorker, crop: int) -> None:
        release.wait(30)
        original(self, crop)

    monkeypatch.setattr(ModelWorker, "warm_up", slow_warm_up)
    async with running_app(make_settings(), wait_ready=False) as (_, client):
        assert (await client.get("/healthz")).status_code == 200
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "starting"
        early = await client.post("/v1/classify", **multipart(videos["short"]))
        assert early.status_code == 503 and early.json()["error"]["code"] == "not_ready"
        assert "retry-after" in early.headers
        release.set()
        for _ in range(200):
            if (await client.get("/readyz")).status_code == 200:
                break
            await asyncio.sleep(0.05)
        resp = await client.post("/v1/classify", **multipart(videos["short"]))
        assert resp.status_code == 200


async def test_models_endpoint(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/models")).json()
    [model] = body["models"]
    assert model["name"] == "tiny" and model["version"] == "0.0.1" and model["default"]
    assert model["labels_count"] == 8
    assert model["input"]["crop"] == 64
    assert model["devices"] == ["cpu"]


async def test_readyz_reports_the_cache(client: httpx.AsyncClient) -> None:
    body = (await client.get("/readyz")).json()
    assert body["status"] == "ready" and body["models"] == ["tiny"]
    assert body["cache"]["backend"] == "memory" and body["cache"]["status"] == "ok"


async def test_metrics_count_requests_and_batches(client: httpx.AsyncClient,
                                                  videos: dict[str, Path]) -> None:
    await client.post("/v1/classify", **multipart(videos["short"]))
    await client.post("/v1/classify", content=b"junk", headers={"Content-Type": "video/mp4"})
    text = (await client.get("/metrics")).text
    assert 'videobert_requests_total{method="POST",route="/v1/classify",status="200"} 1.0' \
        in text
    assert 'status="415"' in text
    assert "videobert_batch_videos_count 1.0" in text
    for stage in ("decode", "queue", "inference", "model_tail", "refine"):
        assert f'videobert_stage_seconds_count{{stage="{stage}"}} 1.0' in text
    assert 'videobert_rejected_total{code="unsupported_container"} 1.0' in text
    assert "videobert_queue_depth" in text


@pytest.mark.parametrize("stream_chunk_frames", [0, 4])
async def test_concurrent_requests_run_as_one_batch_and_each_gets_its_answer(
        make_settings: Callable[..., Settings], videos: dict[str, Path],
        stream_chunk_frames: int) -> None:
    names = ["cuts", "short", "other", "webm"]
    settings = make_settings(max_wait_ms=1500, max_batch_size=4,
                             stream_chunk_frames=stream_chunk_frames)
    async with running_app(settings) as (_, client):
        alone = {n: (await client.post("/v1/classify", **multipart(videos[n]),
                                       headers={"Cache-Control": "no-cache"})).json()
                 for n in names}
        together = await asyncio.gather(*(
            client.post("/v1/classify", **multipart(videos[n]),
                        headers={"Cache-Control": "no-cache"}) for n in names))
    for name, resp in zip(names, together, strict=True):
        body = resp.json()
        assert body["timings"]["batch_size"] == 4
        assert body["video"]["frames_sampled"] == alone[name]["video"]["frames_sampled"]
        assert body["shot_labels"] == alone[name]["shot_labels"]
        for ours, solo in zip(body["video_labels"], alone[name]["video_labels"], strict=True):
            assert ours["label"] == solo["label"]
            assert ours["score"] == pytest.approx(solo["score"], abs=1e-3)


@pytest.mark.parametrize(("step", "stream_chunk_frames"), [
    ("run_batch", 0), ("run_frame_chunks", 4), ("run_sequences", 4)])
async def test_a_model_error_fails_only_its_batch(make_settings: Callable[..., Settings],
                                                  videos: dict[str, Path],
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  step: str, stream_chunk_frames: int) -> None:
    original = getattr(ModelWorker, step)
    calls = {"n": 0}

    def flaky(self: ModelWorker, inputs: Sequence[Any]) -> list[Any]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("simulated CUDA error")
        return original(self, inputs)  # type: ignore[no-any-return]

    monkeypatch.setattr(ModelWorker, step, flaky)
    settings = make_settings(warmup=False, stream_chunk_frames=stream_chunk_frames)
    async with running_app(settings) as (_, client):
        failed = await client.post("/v1/classify", **multipart(videos["short"]))
        assert failed.status_code == 503
        assert failed.json()["error"]["code"] == "inference_failed"
        ok = await client.post("/v1/classify", **multipart(videos["short"]))
        assert ok.status_code == 200
        assert ok.headers["x-cache"] == "miss"  # the failure was not cached
        assert (await client.get("/readyz")).status_code == 200


async def test_admission_limit_refuses_at_once_with_retry_after(
        make_settings: Callable[..., Settings], videos: dict[str, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    gate = threading.Event()
    original = ModelWorker.run_sequences

    def gated(self: ModelWorker, inputs: Sequence[SequenceInput]) -> list[ModelOutput]:
        gate.wait(30)
        return original(self, inputs)

    settings = make_settings(max_inflight_requests=1, warmup=False, retry_after_s=3)
    monkeypatch.setattr(ModelWorker, "run_sequences", gated)
    async with running_app(settings) as (_, client):
        first = asyncio.create_task(client.post("/v1/classify", **multipart(videos["short"])))
        for _ in range(100):
            if (await client.get("/metrics")).text.find("videobert_inflight_requests 1.0") >= 0:
                break
            await asyncio.sleep(0.02)
        refused = await client.post("/v1/classify", **multipart(videos["other"]))
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "overloaded"
        assert refused.headers["retry-after"] == "3"
        gate.set()
        assert (await first).status_code == 200


async def test_openapi_documents_both_bodies_and_options(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    op = spec["paths"]["/v1/classify"]["post"]
    assert set(op["requestBody"]["content"]) == {"multipart/form-data", "video/*"}
    params = {p["name"] for p in op["parameters"]}
    assert {"top_k", "min_confidence", "fps", "mode", "model"} <= params
    assert {"413", "415", "422", "429"} <= set(op["responses"])
    assert "example" in str(spec["components"]["schemas"]["ClassifyResponse"])


async def test_openapi_lets_a_generated_client_upload_jobs_and_read_typed_results(
        client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    jobs = spec["paths"]["/v1/jobs"]
    assert set(jobs["post"]["requestBody"]["content"]) == {"multipart/form-data", "video/*"}
    assert {"status", "limit", "cursor"} <= {p["name"] for p in jobs["get"]["parameters"]}
    result = str(spec["components"]["schemas"]["JobView"]["properties"]["result"])
    assert "ClassifyResponse" in result and "SummarizeResponse" in result
