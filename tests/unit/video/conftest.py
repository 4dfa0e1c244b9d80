"""Real encoded videos for the app.video tests, generated once per session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.media import make_video

MakeVideo = Callable[..., Path]


@pytest.fixture(scope="session")
def video(tmp_path_factory: pytest.TempPathFactory) -> MakeVideo:
    """``video(name, **make_video_kwargs)``: the file, encoded on first use and then cached."""
    folder = tmp_path_factory.mktemp("videos")
    made: dict[str, Path] = {}

    def get(name: str, **kwargs: Any) -> Path:
        if name not in made:
            made[name] = make_video(folder / name, **kwargs)
        return made[name]

    return get
