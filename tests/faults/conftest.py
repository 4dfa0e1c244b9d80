"""Fixtures for tests against a real ``videobert serve`` process (see server.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.media import make_video
from tests.model_fixtures import make_tiny_store


@pytest.fixture(scope="session")
def fault_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_store(tmp_path_factory.mktemp("fault-store"))


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A small valid video (about 10 KB)."""
    path = make_video(tmp_path_factory.mktemp("fault-clip") / "clip.mp4", width=96, height=64,
                      fps=10, duration_s=2.0, cut_times_s=(1.0,))
    return path.read_bytes()
