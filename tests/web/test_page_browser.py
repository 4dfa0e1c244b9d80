"""A person's way through the page, in a real browser against the real default model: upload
bikes.mp4, see its shots, seek, play the highlights, score their own labels, search the library,
and see the API's errors as messages (the tiny-model server's tests are in test_page_access.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.faults.server import REPO_ROOT, ServeProcess
from tests.media import make_video
from tests.web.conftest import screenshot

pytestmark = pytest.mark.slow

BIKES = REPO_ROOT / "samples" / "bikes.mp4"
ANALYSIS_TIMEOUT_MS = 180_000
XSS = '<img src=x onerror="window.__xss = 1">'
AXE = REPO_ROOT / "tests" / "web" / "axe" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="module")
def bikes() -> Path:
    if not BIKES.is_file():
        pytest.skip("samples/bikes.mp4 is made by 'make setup'")
    return BIKES


def _open(page: Any, server: ServeProcess) -> None:
    page.goto(server.url + "/")
    page.wait_for_function("() => document.getElementById('model-name').textContent !== ''")


def _analyse(page: Any, server: ServeProcess, video: Path | dict[str, Any]) -> None:
    _open(page, server)
    page.set_input_files("#file-input", video)
    page.wait_for_selector(".shot", timeout=ANALYSIS_TIMEOUT_MS)


def _current_time(page: Any) -> float:
    return float(page.evaluate("document.getElementById('player').currentTime"))


def _wait_time_in(page: Any, start: float, end: float) -> None:
    page.wait_for_function(
        "([s, e]) => { const t = document.getElementById('player').currentTime;"
        " return t >= s && t < e; }", arg=[start, end])


def test_bikes_shows_its_six_shots_with_thumbnails_and_labels(
        page: Any, real_server: ServeProcess, bikes: Path) -> None:
    _analyse(page, real_server, bikes)
    shots = page.locator(".shot")
    assert shots.count() == 6  # bikes.mp4 has 5 cuts
    for i in range(6):
        alt = shots.nth(i).locator("img").get_attribute("alt")
        assert alt and alt.startswith(f"Shot {i + 1} at"), alt
        assert shots.nth(i).locator(".tag").count() >= 1
    assert page.locator("#video-labels li").count() >= 1
    assert page.locator(".shot.highlight").count() >= 1
    assert page.locator(".curve polyline").count() == 1
    assert page.text_content("#result-title") == "bikes.mp4"
    assert page.is_hidden("#error")
    screenshot(page, "result")


def test_clicking_the_third_shot_seeks_into_it(page: Any, real_server: ServeProcess,
                                              bikes: Path) -> None:
    _analyse(page, real_server, bikes)
    third = page.locator(".shot").nth(2)
    start, end = float(third.get_attribute("data-start")), float(third.get_attribute("data-end"))
    third.click()
    _wait_time_in(page, start, end)
    assert third.get_attribute("aria-selected") == "true"


def test_the_timeline_works_from_the_keyboard(page: Any, real_server: ServeProcess,
                                             bikes: Path) -> None:
    _analyse(page, real_server, bikes)
    page.focus("#shot-0")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.id") == "shot-2"
    page.keyboard.press("Enter")
    third = page.locator("#shot-2")
    _wait_time_in(page, float(third.get_attribute("data-start")),
                  float(third.get_attribute("data-end")))
    # One tab stop for the whole timeline (the roving tabindex).
    assert page.locator(".shot[tabindex='0']").count() == 1


def test_play_highlights_plays_only_the_highlight_segments(
        page: Any, real_server: ServeProcess, bikes: Path) -> None:
    answer = httpx.post(real_server.url + "/v1/summarize",
                        files={"video": ("bikes.mp4", bikes.read_bytes())}, timeout=300)
    segments = [(h["start_s"], h["end_s"]) for h in answer.json()["highlights"]]
    assert segments
    _analyse(page, real_server, bikes)
    page.click("#highlights-button")
    page.wait_for_function("() => !document.getElementById('player').paused")
    seen: list[float] = []
    for _ in range(400):  # up to 20 s; the highlights of bikes.mp4 last about 1.5 s
        state = page.evaluate("(() => { const v = document.getElementById('player');"
                              " return [v.currentTime, v.paused, v.seeking]; })()")
        if not state[2]:
            seen.append(state[0])
        if state[1]:
            break
        page.wait_for_timeout(50)
    else:
        pytest.fail(f"the highlights never ended: {seen[-5:]}")
    # Every moment played lies in a highlight (one frame of slack), and each one was played.
    slack = 0.1
    assert all(any(s - slack <= t <= e + slack for s, e in segments) for t in seen), \
        (segments, seen)
    assert all(any(s <= t <= e for t in seen) for s, e in segments), (segments, seen)
    assert abs(seen[-1] - segments[-1][1]) <= slack
    assert page.text_content("#highlights-button") == "Play highlights"


def test_a_typed_label_is_scored(page: Any, real_server: ServeProcess, bikes: Path) -> None:
    _analyse(page, real_server, bikes)
    page.fill("#labels-input", "someone riding a bicycle, a plate of food")
    page.click("#score-button")
    page.wait_for_function("() => document.querySelectorAll('#custom-labels li').length === 2")
    names = page.locator("#custom-labels .custom-label").all_text_contents()
    assert names == ["someone riding a bicycle", "a plate of food"]
    scores = page.locator("#custom-labels .score").all_text_contents()
    assert all(s.endswith("%") for s in scores)
    assert 98 <= sum(int(s[:-1]) for s in scores) <= 102  # probabilities over the labels
    assert page.is_hidden("#custom-empty")
    screenshot(page, "custom-labels")


def test_labels_and_file_names_are_shown_as_text(page: Any, real_server: ServeProcess,
                                                bikes: Path) -> None:
    _analyse(page, real_server, {"name": f"{XSS}.mp4", "mimeType": "video/mp4",
                                 "buffer": bikes.read_bytes()})
    assert page.text_content("#result-title") == f"{XSS}.mp4"
    page.fill("#labels-input", XSS)
    page.click("#score-button")
    page.wait_for_selector("#custom-labels li")
    assert page.locator("#custom-labels .custom-label").all_text_contents() == [XSS]
    assert page.locator("#result-title img, #custom-labels img").count() == 0
    page.wait_for_timeout(200)
    assert page.evaluate("window.__xss") is None


def test_an_unsupported_file_shows_the_415_message(page: Any,
                                                  real_server: ServeProcess) -> None:
    _open(page, real_server)
    page.set_input_files("#file-input", {"name": "notes.mp4", "mimeType": "video/mp4",
                                         "buffer": b"these are my notes, not a video\n" * 8})
    page.wait_for_selector("#error:not([hidden])", timeout=ANALYSIS_TIMEOUT_MS)
    text = page.text_content("#error") or ""
    assert "This file is not a video the service reads" in text
    assert "MP4/MOV, Matroska/WebM, AVI or MPEG-TS" in text  # the API's own hint
    assert "unsupported_container · HTTP 415" in text
    assert page.is_hidden("#progress")
    screenshot(page, "error-415")


def test_search_finds_a_shot_and_opens_its_video_there(page: Any, real_server: ServeProcess,
                                                       bikes: Path) -> None:
    _analyse(page, real_server, bikes)  # "Add the video to the library" is on by default
    page.fill("#search-input", "a bicycle")
    page.click("#search-form button")
    page.wait_for_selector(".hit")
    first = page.locator(".hit").first
    assert first.locator("img").count() == 1
    assert "bikes.mp4" in (first.text_content() or "")
    screenshot(page, "search")
    # A fresh tab knows nothing of the file: the hit opens the library's record, and the
    # player asks for the file instead of playing what the service does not keep.
    page.reload()
    page.fill("#search-input", "a bicycle")
    page.click("#search-form button")
    page.wait_for_selector(".hit")
    # The library knows the file's name (the page sent it with index=true).
    assert "bikes.mp4" in (page.locator(".hit").first.text_content() or "")
    page.locator(".hit").first.click()
    page.wait_for_selector(".shot")
    assert page.locator(".shot").count() == 6
    assert page.is_visible("#player-missing")
    page.set_input_files("#reopen-input", bikes)
    assert page.is_hidden("#player-missing")
    page.locator(".shot").nth(3).click()
    fourth = page.locator(".shot").nth(3)
    _wait_time_in(page, float(fourth.get_attribute("data-start")),
                  float(fourth.get_attribute("data-end")))


def test_a_long_video_goes_through_a_job_with_its_progress(
        page: Any, real_server: ServeProcess, tmp_path: Path) -> None:
    long = make_video(tmp_path / "long.mp4", width=96, height=64, fps=4, duration_s=70.0,
                      cut_times_s=(20.0, 45.0))
    _open(page, real_server)
    # Every text the progress line shows, as it shows it.
    page.evaluate("""() => { window.__progress = [];
        new MutationObserver(() => window.__progress.push(
            document.getElementById('progress-label').textContent))
          .observe(document.getElementById('progress-label'), {childList: true}); }""")
    page.set_input_files("#file-input", long)
    page.wait_for_selector(".shot", timeout=ANALYSIS_TIMEOUT_MS)
    shown = page.evaluate("window.__progress")
    assert any(text in ("Queued", "Analysing (a background job)") for text in shown), shown
    jobs = httpx.get(real_server.url + "/v1/jobs").json()["jobs"]
    assert [job["task"] for job in jobs][:1] == ["analyze"]
    assert page.locator(".shot").count() == 3
    # A job adds its video to the library too, under the file's name.
    videos = httpx.get(real_server.url + "/v1/videos").json()["videos"]
    assert "long.mp4" in [v["filename"] for v in videos]


def test_the_api_docs_render_with_nothing_from_outside(page: Any,
                                                      real_server: ServeProcess) -> None:
    outside: list[str] = []

    def only_here(route: Any) -> None:
        if route.request.url.startswith(real_server.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_here)
    page.goto(real_server.url + "/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "videobert-serve" in (page.text_content(".swagger-ui .info .title") or "")
    assert page.locator(".opblock-summary-path").count() >= 10
    assert outside == []


def test_axe_finds_no_serious_accessibility_problem(page: Any, real_server: ServeProcess,
                                                   bikes: Path) -> None:
    if not AXE.is_file():
        pytest.skip("axe-core is not installed: 'make test' installs it with npm "
                    "(tests/web/axe/package.json)")
    _analyse(page, real_server, bikes)  # the result: timeline, labels, thumbnails
    page.fill("#search-input", "a bicycle")
    page.click("#search-form button")
    page.wait_for_selector(".hit")
    page.evaluate(AXE.read_text(encoding="utf-8"))  # through the debugger, not the page's CSP
    results = page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']});
        return r.violations.map(v => ({id: v.id, impact: v.impact,
                                       nodes: v.nodes.map(n => n.target.join(' '))}));
    }""")
    assert results == [], results
