"""An app on the tiny deterministic model, run with its lifespan, and real encoded videos."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.main import create_app
from app.settings import Settings
from tests.media import make_video
from tests.model_fixtures import make_tiny_store


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_store(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="session")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("videos")
    return {
        "cuts": make_video(root / "cuts.mp4", duration_s=6.0, fps=10,
                           cut_times_s=(2.0, 4.0)),
        "short": make_video(root / "short.mp4", duration_s=1.0, fps=10),
        "other": make_video(root / "other.mp4", duration_s=3.0, fps=10, cut_times_s=(1.5,)),
        "webm": make_video(root / "clip.webm", codec="libvpx-vp9", container="webm",
                           duration_s=2.0, fps=10),
    }


def tiny_settings(store: Path, upload_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "model_store_dir": store, "default_model": "tiny", "decode_workers": 1,
        "torch_threads": 1, "instances_per_device": 1, "precision": "fp32",
        "max_wait_ms": 5.0,
        "upload_dir": upload_dir, "redis_url": None, "jobs_dir": upload_dir.parent / "jobs",
        "data_dir": upload_dir.parent / "data",
    }
    values.update(overrides)
    return Settings(**values)


AppFactory = Callable[..., Any]


@asynccontextmanager
async def running_app(settings: Settings, *, wait_ready: bool = True
                      ) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test",
                                     timeout=120) as client:
            if wait_ready:
                for _ in range(600):
                    if (await client.get("/readyz")).status_code == 200:
                        break
                    await asyncio.sleep(0.05)
                else:
                    raise AssertionError("app never became ready")
            yield app, client


@pytest.fixture
def upload_dir(tmp_path: Path) -> Path:
    path = tmp_path / "uploads"
    path.mkdir()
    return path


@pytest.fixture
def make_settings(tiny_store: Path, upload_dir: Path) -> Callable[..., Settings]:
    def factory(**overrides: Any) -> Settings:
        return tiny_settings(tiny_store, upload_dir, **overrides)
    return factory


@pytest.fixture
async def client(make_settings: Callable[..., Settings]
                 ) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(make_settings()) as (_, http):
        yield http


def multipart(path: Path, **fields: str) -> dict[str, Any]:
    return {"files": {"video": (path.name, path.read_bytes(), "application/octet-stream")},
            "data": fields}
