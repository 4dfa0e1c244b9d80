"""The service's result cache against a real redis-server, through HTTP."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from app.inference.worker import ModelOutput, ModelWorker
from app.settings import Settings
from tests.api.conftest import multipart, running_app, tiny_settings
from tests.media import make_video
from tests.model_fixtures import make_tiny_store
from tests.redis_server import RedisServer


@pytest.fixture(scope="module")
def two_version_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("store2")
    make_tiny_store(root, version="0.0.1")
    make_tiny_store(root, version="0.0.2", seed=1)
    return root


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("clips") / "clip.mp4", duration_s=2.0, fps=10,
                      cut_times_s=(1.0,))


@pytest.fixture
def settings_for(two_version_store: Path, tmp_path: Path) -> Callable[..., Settings]:
    def factory(redis_url: str, **overrides: object) -> Settings:
        values: dict[str, object] = {"redis_url": redis_url, "default_model": "tiny:0.0.1",
                                     "redis_breaker_cooldown_s": 0.5, "cache_max_entries": 0}
        values.update(overrides)
        return tiny_settings(two_version_store, tmp_path, **values)
    return factory


@pytest.fixture
def counted_videos(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts videos that reach the model (across every app in this process): each video ends
    in exactly one of the whole-video step and the streaming path's Transformer step."""
    seen: list[int] = []
    lock = threading.Lock()

    def counting(step: Callable[[ModelWorker, Sequence[Any]], list[ModelOutput]]
                 ) -> Callable[[ModelWorker, Sequence[Any]], list[ModelOutput]]:
        def counted(self: ModelWorker, inputs: Sequence[Any]) -> list[ModelOutput]:
            with lock:
                seen.append(len(inputs))
            return step(self, inputs)
        return counted

    monkeypatch.setattr(ModelWorker, "run_batch", counting(ModelWorker.run_batch))
    monkeypatch.setattr(ModelWorker, "run_sequences", counting(ModelWorker.run_sequences))
    yield seen


async def test_hit_after_miss_and_version_change_misses(
        settings_for: Callable[..., Settings], clip: Path) -> None:
    with RedisServer() as redis:
        async with running_app(settings_for(redis.url)) as (_, client):
            first = await client.post("/v1/classify", **multipart(clip))
            second = await client.post("/v1/classify", **multipart(clip))
        async with running_app(settings_for(redis.url, default_model="tiny:0.0.2")) as (
                _, client):
            other_version = await client.post("/v1/classify", **multipart(clip))
        async with running_app(settings_for(redis.url)) as (_, client):
            restarted = await client.post("/v1/classify", **multipart(clip))
    assert [r.headers["x-cache"] for r in (first, second, other_version, restarted)] == [
        "miss", "hit", "miss", "hit"]
    assert first.json()["video_labels"] == restarted.json()["video_labels"]
    assert other_version.json()["model"]["version"] == "0.0.2"


async def test_identical_uploads_to_two_instances_run_inference_once(
        settings_for: Callable[..., Settings], clip: Path, counted_videos: list[int]) -> None:
    with RedisServer() as redis:
        settings = settings_for(redis.url, warmup=False, max_wait_ms=50)
        async with running_app(settings) as (_, a), running_app(settings) as (_, b):
            responses = await asyncio.gather(*(
                (a if i % 2 else b).post("/v1/summarize", **multipart(clip))
                for i in range(8)))
    assert all(r.status_code == 200 for r in responses)
    assert sum(counted_videos) == 1
    assert sorted(r.headers["x-cache"] for r in responses).count("miss") >= 1
    assert len({str(r.json()["shots"]) for r in responses}) == 1


async def test_redis_stopped_mid_run_requests_still_succeed(
        settings_for: Callable[..., Settings], clip: Path, tmp_path: Path) -> None:
    other = make_video(tmp_path / "other.mp4", duration_s=1.0, fps=10)
    with RedisServer() as redis:
        async with running_app(settings_for(redis.url)) as (_, client):
            assert (await client.post("/v1/classify", **multipart(clip))).status_code == 200
            redis.stop()
            during = [await client.post("/v1/classify", **multipart(p)) for p in (clip, other)]
            ready = await client.get("/readyz")
            redis.start()
            await asyncio.sleep(0.6)  # breaker cool-down
            for _ in range(3):
                await client.post("/v1/classify", **multipart(other),
                                  headers={"Cache-Control": "no-cache"})
            after = await client.post("/v1/classify", **multipart(other))
    assert [r.status_code for r in during] == [200, 200]
    assert ready.status_code == 200 and ready.json()["cache"]["status"] == "degraded"
    assert after.headers["x-cache"] == "hit"


async def test_redis_frozen_then_thawed(settings_for: Callable[..., Settings],
                                        clip: Path) -> None:
    with RedisServer() as redis:
        async with running_app(settings_for(redis.url)) as (_, client):
            redis.freeze()
            try:
                frozen = [await client.post("/v1/classify", **multipart(clip),
                                            headers={"Cache-Control": "no-cache"})
                          for _ in range(4)]
                degraded = (await client.get("/readyz")).json()["cache"]["status"]
            finally:
                redis.thaw()
            await asyncio.sleep(0.6)
            for _ in range(3):
                await client.post("/v1/classify", **multipart(clip),
                                  headers={"Cache-Control": "no-cache"})
            resumed = await client.post("/v1/classify", **multipart(clip))
            text = (await client.get("/metrics")).text
    assert [r.status_code for r in frozen] == [200] * 4
    assert degraded == "degraded"
    assert resumed.headers["x-cache"] == "hit"
    assert 'videobert_cache_events_total{backend="redis",event="error"}' in text
