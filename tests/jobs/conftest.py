"""Jobs tests: the tiny model, small real videos, and a private redis-server per module."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.settings import Settings
from tests.api.conftest import tiny_settings
from tests.media import make_video
from tests.model_fixtures import make_tiny_store
from tests.redis_server import RedisServer

TERMINAL = ("succeeded", "failed", "cancelled")


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_store(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Six different small videos (different bytes, so different cache keys)."""
    root = tmp_path_factory.mktemp("clips")
    return [make_video(root / f"clip{i}.mp4", duration_s=1.0 + 0.5 * i, fps=10, width=160,
                       height=120, cut_times_s=(0.5,) if i % 2 else ())
            for i in range(6)]


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def jobs_settings(tiny_store: Path, tmp_path: Path) -> Callable[..., Settings]:
    uploads = tmp_path / "uploads"
    uploads.mkdir()

    def factory(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"jobs_dir": tmp_path / "jobs", "shutdown_grace_s": 0.0,
                                  "warmup": False}
        values.update(overrides)
        return tiny_settings(tiny_store, uploads, **values)
    return factory


def upload(path: Path, **fields: str) -> dict[str, Any]:
    return {"files": {"video": (path.name, path.read_bytes(), "application/octet-stream")},
            "data": fields}


async def wait_job(client: httpx.AsyncClient, job_id: str, *, until: tuple[str, ...] = TERMINAL,
                   timeout_s: float = 30.0) -> dict[str, Any]:
    """Poll GET /v1/jobs/{id} until its status is one of ``until``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        response = await client.get(f"/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] in until:
            return body
        if loop.time() > deadline:
            raise AssertionError(f"job {job_id} still {body['status']} after {timeout_s} s")
        await asyncio.sleep(0.05)
