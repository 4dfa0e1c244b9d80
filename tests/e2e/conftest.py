"""The real default model behind a TestClient, one per test module (loading takes seconds)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(upload_dir=tmp_path_factory.mktemp("uploads"), decode_workers=1)
    with TestClient(create_app(settings)) as http:
        for _ in range(1200):
            if http.get("/readyz").status_code == 200:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"not ready: {http.get('/readyz').json()}")
        yield http
