"""The page when the service asks something of it, on the tiny model: an API key (kept in the
tab's session only) and a rate limit (a visible countdown, then the retry on its own)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults.server import ServeProcess
from tests.media import make_video
from tests.model_fixtures import make_tiny_store
from tests.web.conftest import screenshot

KEY = "page-test-key"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_store(tmp_path_factory.mktemp("page-store"))


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("page-clip") / "clip.mp4", width=96, height=64,
                      fps=10, duration_s=3.0, cut_times_s=(1.5,))


def _serve(tmp_path: Path, store: Path, **env: str) -> ServeProcess:
    return ServeProcess(tmp_path, store, VIDEOBERT_DATA_DIR=str(tmp_path / "data"), **env)


@pytest.fixture
def keyed_server(tmp_path: Path, store: Path) -> Iterator[ServeProcess]:
    with _serve(tmp_path, store, VIDEOBERT_API_KEYS=f'["{KEY}"]') as server:
        yield server


def test_the_page_asks_for_the_key_and_keeps_it_in_the_tab(page: Any, keyed_server: ServeProcess,
                                                           clip: Path) -> None:
    page.goto(keyed_server.url + "/")
    page.wait_for_selector("#key-dialog[open]")
    screenshot(page, "api-key")
    page.fill("#key-input", "wrong")
    page.click("#key-form button")
    page.wait_for_selector("#key-dialog[open]")  # 401 again: asked again
    page.fill("#key-input", KEY)
    page.click("#key-form button")
    page.wait_for_function("() => document.getElementById('model-name').textContent !== ''")
    assert "tiny" in (page.text_content("#model-name") or "")
    assert page.evaluate("sessionStorage.getItem('videobert-api-key')") == KEY
    assert page.evaluate("localStorage.length") == 0
    # The tiny model scores no labels typed in words: the field says so instead of failing.
    assert page.is_disabled("#labels-input")
    page.set_input_files("#file-input", clip)
    page.wait_for_selector(".shot", timeout=60_000)
    assert page.locator(".shot").count() >= 1


def test_a_rate_limit_is_waited_out_with_a_countdown(page: Any, tmp_path: Path, store: Path,
                                                     clip: Path) -> None:
    with _serve(tmp_path, store, VIDEOBERT_RATE_LIMIT_PER_MIN="1") as server:
        page.goto(server.url + "/")  # GET /v1/models takes the minute's one request
        page.wait_for_function(
            "() => document.getElementById('model-name').textContent !== ''")
        page.set_input_files("#file-input", clip)
        page.wait_for_function("() => document.getElementById('progress-label').textContent"
                               ".startsWith('Too many requests. Trying again in')")
        first = page.text_content("#progress-label") or ""
        page.wait_for_timeout(2100)
        later = page.text_content("#progress-label") or ""
        screenshot(page, "rate-limited")
        seconds_left = [int(text.rsplit(" ", 2)[1]) for text in (first, later)]
        assert 0 < seconds_left[1] < seconds_left[0] <= 60, (first, later)
        assert page.is_visible("#progress") and page.is_hidden("#error")
