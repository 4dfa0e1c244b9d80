"""The page in a real browser: Debian's chromium driven by Playwright, against a real
``videobert serve``.

``scripts/ensure-test-servers.sh`` (run by ``make test``) installs chromium; Playwright's own
browser builds are never downloaded (``executable_path`` points at the system's). Without a
chromium these tests skip and say so. Screenshots of the main states go to build/screenshots/.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults.server import REPO_ROOT, ServeProcess

SCREENSHOTS = REPO_ROOT / "build" / "screenshots"
# What a sandboxed CI container needs (no setuid sandbox as root, no GPU) and what a machine
# without a network would spend time on (component updates, background fetches).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--autoplay-policy=no-user-gesture-required"]


def chromium_path() -> str | None:
    configured = os.environ.get("CHROMIUM_BIN")
    if configured and Path(configured).is_file():
        return configured
    return shutil.which("chromium") or shutil.which("chromium-browser")


# Per module, not per session: Playwright's sync API holds an event loop in this thread while
# it runs, and tests after it that start their own (asyncio.run) would find it running.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = chromium_path()
    if path is None:
        pytest.skip("no chromium on this machine: 'bash scripts/ensure-test-servers.sh' "
                    "installs Debian's package (as root), or set CHROMIUM_BIN")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="Playwright is not installed: run 'make setup'")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh tab (its own session storage) that fails the test on a script error; a failed
    test leaves a screenshot of the tab in build/screenshots/failed-<test>.png."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.set_default_timeout(30_000)
    yield tab
    if request.node.stash.get(_FAILED, False):
        screenshot(tab, f"failed-{request.node.name}")
    context.close()
    assert not errors, f"script errors on the page: {errors}"


def screenshot(tab: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """The default model (it scores labels in words), an empty library of its own."""
    work = tmp_path_factory.mktemp("page-server")
    with ServeProcess(work, REPO_ROOT / "model_store", VIDEOBERT_DEFAULT_MODEL="videobert-lite0",
                      VIDEOBERT_DATA_DIR=str(work / "data"),
                      VIDEOBERT_JOBS_DIR=str(work / "jobs")) as server:
        yield server
