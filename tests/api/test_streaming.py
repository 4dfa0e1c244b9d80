"""Streaming decode -> CNN gives the same answers as decoding the whole video first."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

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
