"""Streaming decode -> CNN gives the same answers as decoding the whole video first."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from app.inference.worker import FrameChunk, ModelWorker
from app.settings import Settings
from tests.api.conftest import multipart, running_app


def without_timings(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("timings", "request_id")}


@pytest.mark.parametrize("endpoint", ["classify", "summarize"])
async def test_streamed_and_whole_video_answers_are_the_same(
        make_settings: Callable[..., Settings], videos: dict[str, Path], endpoint: str) -> None:
    answers = {}
    for chunk in (0, 3):
        async with running_app(make_settings(stream_chunk_frames=chunk)) as (_, client):
            response = await client.post(f"/v1/{endpoint}", **multipart(videos["cuts"]),
                                         params={"include_frames": "true"})
            assert response.status_code == 200, response.text
            answers[chunk] = response.json()
    assert answers[3]["video"]["frames_sampled"] > 3  # more than one chunk
    assert without_timings(answers[3]) == without_timings(answers[0])
    timings = answers[3]["timings"]
    assert 0 <= timings["model_tail_ms"] <= timings["total_ms"]


async def test_stage_timings_are_wall_time_within_the_request(
        make_settings: Callable[..., Settings], videos: dict[str, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # One-frame chunks and a slow CNN: chunks pile up and share batches, and summed over its
    # chunks a video's compute and queue times once exceeded the request's own length.
    original = ModelWorker.run_frame_chunks

    def slow(self: ModelWorker, chunks: Sequence[FrameChunk]) -> list[Any]:
        time.sleep(0.05)
        return original(self, chunks)

    monkeypatch.setattr(ModelWorker, "run_frame_chunks", slow)
    async with running_app(make_settings(stream_chunk_frames=1)) as (_, client):
        bodies = await asyncio.gather(*(client.post(
            "/v1/classify", **multipart(videos["cuts"]), params={"top_k": str(k)},
            headers={"Cache-Control": "no-cache"}) for k in (1, 2, 3)))
    for response in bodies:
        assert response.status_code == 200, response.text
        t = response.json()["timings"]
        assert response.json()["video"]["frames_sampled"] > 3
        for stage in ("decode_ms", "queue_ms", "inference_ms", "model_tail_ms"):
            assert 0 <= t[stage] <= t["total_ms"] + 1, (stage, t)


async def test_a_decode_that_fails_after_some_chunks_fails_cleanly(
        make_settings: Callable[..., Settings], videos: dict[str, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # "cuts" is 6 s at 10 fps: 12 samples in chunks of 2, but only 30 frames may be decoded,
    # so the decoder has sent a few chunks to the CNN when it gives up.
    settings = make_settings(stream_chunk_frames=2, max_decoded_frames=30, warmup=False)
    async with running_app(settings) as (app, client):
        services = app.state.services
        frame_batcher = services.models.runtimes["tiny"].frame_batcher
        submitted: list[FrameChunk] = []
        original = frame_batcher.submit

        async def counting(item: FrameChunk, *, deadline: float) -> Any:
            submitted.append(item)
            return await original(item, deadline=deadline)

        monkeypatch.setattr(frame_batcher, "submit", counting)
        failed = await client.post("/v1/classify", **multipart(videos["cuts"]))
        assert failed.status_code == 422
        assert failed.json()["error"]["code"] == "video_too_large"
        assert len(submitted) >= 1  # the failure came after chunks had gone to the CNN
        # Its cancelled chunks are dropped as the batcher reaches them, never left queued.
        for _ in range(250):
            if services.models.queue_depth() == 0:
                break
            await asyncio.sleep(0.02)
        assert services.models.queue_depth() == 0
        ok = await client.post("/v1/classify", **multipart(videos["short"]))
        assert ok.status_code == 200


async def test_a_decode_that_streams_no_chunk_is_a_422_not_a_500(
        make_settings: Callable[..., Settings], videos: dict[str, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_app(make_settings(warmup=False)) as (app, client):
        pool = app.state.services.decode_pool
        real_decode = pool.decode

        async def silent(*args: Any, on_chunk: Any = None, **kwargs: Any) -> Any:
            return await real_decode(*args, **kwargs)  # decodes, but hands over no chunk

        monkeypatch.setattr(pool, "decode", silent)
        response = await client.post("/v1/classify", **multipart(videos["short"]))
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "no_decodable_frames"
