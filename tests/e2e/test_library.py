"""The video library over HTTP: the real default model and real clips, on each engine: the
embedded LanceDB, and Qdrant through qdrant-client's local mode (no Qdrant server can be
installed here; the client's code path is the server's).

One app with two API keys (two namespaces) per engine; the tests run in file order on one
library.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.media import join_sample_clips, sample_clip, with_subtitles

pytestmark = pytest.mark.slow

A = {"X-API-Key": "library-key-a-0123456789"}
B = {"X-API-Key": "library-key-b-0123456789"}


def _client(settings: Settings) -> TestClient:
    return TestClient(create_app(settings))


def _wait_ready(http: TestClient) -> None:
    for _ in range(1200):
        if http.get("/readyz").status_code == 200:
            return
        time.sleep(0.1)
    raise AssertionError(f"not ready: {http.get('/readyz').json()}")


@pytest.fixture(scope="module", params=["lance", "qdrant-local"])
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> Settings:
    data = tmp_path_factory.mktemp("data")
    return Settings(upload_dir=tmp_path_factory.mktemp("uploads"), decode_workers=1,
                    data_dir=data, api_keys=[A["X-API-Key"], B["X-API-Key"]],
                    vector_url=f"file:{data / 'qdrant'}" if request.param != "lance" else None)


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with _client(settings) as http:
        _wait_ready(http)
        yield http


@pytest.fixture(scope="module")
def trimmed_bikes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """bikes.mp4 cut to 6 s of its middle, scaled down and re-encoded: the same footage."""
    path = tmp_path_factory.mktemp("copies") / "bikes-trimmed.mp4"
    return join_sample_clips(path, [("bikes.mp4", 3.0, 6.0)], size=(320, 180)).read_bytes()


def _index(client: TestClient, clip: str | bytes, headers: dict[str, str] = A,
           name: str | None = None) -> Any:
    data = sample_clip(clip).read_bytes() if isinstance(clip, str) else clip
    params = {"name": name} if name else {}
    response = client.post("/v1/videos", files={"video": ("v.mp4", data)}, params=params,
                           headers=headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


def _search(client: TestClient, headers: dict[str, str] = A, **body: Any) -> Any:
    response = client.post("/v1/search", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def library(client: TestClient) -> dict[str, str]:
    ids = {clip: _index(client, clip, name=clip)["video_id"]
           for clip in ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4")}
    return ids


def test_an_empty_library_answers_zero_hits(client: TestClient) -> None:
    body = _search(client, B, query="a person on a bicycle")
    assert body["hits"] == [] and body["page_info"] == {"total": 0, "next_page_token": None}


def test_indexing_the_same_bytes_again_is_idempotent(client: TestClient,
                                                     library: dict[str, str]) -> None:
    again = client.post("/v1/videos", files={"video": ("v.mp4", sample_clip(
        "bikes.mp4").read_bytes())}, headers=A)
    assert again.status_code == 200, again.text
    assert again.json()["video_id"] == library["bikes.mp4"]
    assert again.json()["already_indexed"] is True
    listed = client.get("/v1/videos", headers=A).json()
    assert listed["page_info"]["total"] == 3
    assert {v["video_id"] for v in listed["videos"]} == set(library.values())


def test_a_video_has_its_shots_labels_and_keyframes(client: TestClient,
                                                    library: dict[str, str]) -> None:
    video = client.get(f"/v1/videos/{library['bikes.mp4']}", headers=A).json()
    assert video["filename"] == "bikes.mp4" and video["video"]["duration_s"] == 10.0
    assert len(video["shots"]) >= 2 and video["keyframes"]
    assert all(s["thumbnail_jpeg_base64"] for s in video["shots"]
               if any(k["shot_index"] == s["index"] for k in video["keyframes"]))
    assert any(lb["label"] in ("mountain bike", "bicycle-built-for-two", "unicycle")
               for s in video["shots"] for lb in s["labels"])


def test_words_find_the_bicycles(client: TestClient, library: dict[str, str]) -> None:
    body = _search(client, query="a person riding a bicycle", top_k=3, thumbnails=True)
    first = body["hits"][0]
    assert first["video_id"] == library["bikes.mp4"], body["hits"]
    assert 0 < first["score"] <= 1 and first["end_s"] > first["start_s"]
    assert set(first["matched"]) & {"mountain bike", "bicycle-built-for-two", "unicycle"}
    assert [h["score"] for h in body["hits"]] == sorted((h["score"] for h in body["hits"]),
                                                        reverse=True)
    phone = _search(client, query="a man in a suit and tie", top_k=1)["hits"][0]
    assert phone["video_id"] == library["carphone_pristine.mp4"]


def test_a_trimmed_reencoded_copy_finds_its_source_first(
        client: TestClient, library: dict[str, str], trimmed_bikes: bytes) -> None:
    response = client.post("/v1/search", files={"video": ("copy.mp4", trimmed_bikes)},
                           data={"top_k": "3"}, headers=A)
    assert response.status_code == 200, response.text
    assert response.json()["hits"][0]["video_id"] == library["bikes.mp4"]


@pytest.fixture(scope="module")
def bikes_still() -> bytes:
    """One frame of bikes.mp4 (at 4 s) as a PNG, the way a user would grab a still."""
    import io

    import av

    with av.open(str(sample_clip("bikes.mp4"))) as container:
        frame = next(f for f in container.decode(video=0) if f.time is not None and f.time >= 4)
    out = io.BytesIO()
    frame.to_image().save(out, format="PNG")
    return out.getvalue()


def test_a_still_image_finds_its_video(client: TestClient, library: dict[str, str],
                                       bikes_still: bytes) -> None:
    response = client.post("/v1/search", files={"image": ("still.png", bikes_still)},
                           data={"top_k": "3"}, headers=A)
    assert response.status_code == 200, response.text
    first = response.json()["hits"][0]
    assert first["video_id"] == library["bikes.mp4"] and first["source"] == "visual"
    assert first["start_s"] <= 4.0 + 2.5  # the shot on screen around 4 s, or its neighbour
    bad = client.post("/v1/search", files={"image": ("x.png", b"%PDF-1.4 not an image")},
                      headers=A)
    assert bad.status_code == 415 and bad.json()["error"]["code"] == "unsupported_image"
    both = client.post("/v1/search", files=[("image", ("x.png", bikes_still)),
                                            ("video", ("v.mp4", b"\x00" * 100))], headers=A)
    assert both.status_code == 400, both.text


def test_near_duplicates_are_found_with_a_score(client: TestClient,
                                               library: dict[str, str]) -> None:
    distorted = _index(client, "carphone_distorted.mp4")["video_id"]
    similar = client.get(f"/v1/videos/{distorted}/similar", headers=A).json()["similar"]
    assert similar[0]["video_id"] == library["carphone_pristine.mp4"], similar
    # Heavy compression moves the features (0.62 measured); unrelated clips stay under 0.5.
    assert similar[0]["score"] > 0.55
    assert [s["video_id"] for s in similar] == [library["carphone_pristine.mp4"]]
    assert client.delete(f"/v1/videos/{distorted}", headers=A).status_code == 200


def test_more_like_this_shot_leaves_the_shot_out(client: TestClient,
                                                 library: dict[str, str]) -> None:
    vid = library["bikes.mp4"]
    body = _search(client, video_id=vid, shot_index=1, top_k=5)
    assert (vid, 1) not in [(h["video_id"], h["shot_index"]) for h in body["hits"]]
    assert body["hits"][0]["video_id"] == vid  # its neighbours are the same street
    missing = client.post("/v1/search", json={"video_id": vid, "shot_index": 99}, headers=A)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "shot_not_found"


def test_pages_follow_signed_tokens(client: TestClient, library: dict[str, str]) -> None:
    first = _search(client, query="a street", top_k=2)
    token = first["page_info"]["next_page_token"]
    assert token and first["page_info"]["total"] > 2
    second = _search(client, query="a street", top_k=2, page_token=token)
    seen = {(h["video_id"], h["shot_index"]) for h in first["hits"]}
    assert seen.isdisjoint((h["video_id"], h["shot_index"]) for h in second["hits"])
    for forged, headers, query in ((token[:-2] + "AA", A, "a street"),
                                   (token, B, "a street"),  # another namespace
                                   (token, A, "a bicycle")):  # another query
        response = client.post("/v1/search", json={"query": query, "top_k": 2,
                                                   "page_token": forged}, headers=headers)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "invalid_page_token"
    page = client.get("/v1/videos", params={"limit": 1}, headers=A).json()
    rest = client.get("/v1/videos", params={"limit": 5, "page_token": page["page_info"][
        "next_page_token"]}, headers=A)
    assert rest.status_code == 400  # bound to limit=1


def test_namespaces_never_see_each_other(client: TestClient, library: dict[str, str]) -> None:
    vid = library["bikes.mp4"]
    for method, path in (("GET", f"/v1/videos/{vid}"), ("DELETE", f"/v1/videos/{vid}"),
                         ("GET", f"/v1/videos/{vid}/similar")):
        response = client.request(method, path, headers=B)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"]["code"] == "video_not_found"
    assert client.get("/v1/videos", headers=B).json()["videos"] == []
    assert _search(client, B, query="a person riding a bicycle")["hits"] == []
    assert client.post("/v1/search", json={"video_id": vid, "shot_index": 0},
                       headers=B).status_code == 404
    # The same bytes in B's library get B's own id.
    own = _index(client, "bigbuckbunny.mp4", headers=B)["video_id"]
    assert own != library["bigbuckbunny.mp4"]
    assert client.get(f"/v1/videos/{own}", headers=A).status_code == 404


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"query": ""}, 422, "invalid_option"),
    ({"query": "   "}, 422, "invalid_option"),
    ({"query": "x" * 1001}, 422, "invalid_option"),
    ({"query": "car", "top_k": 0}, 422, "invalid_option"),
    ({"query": "car", "top_k": 101}, 422, "invalid_option"),
    ({"query": "car", "min_score": 1.5}, 422, "invalid_option"),
    ({"query": "car", "search_in": []}, 422, "invalid_option"),
    ({"query": "car", "search_in": ["audio"]}, 422, "invalid_option"),
    ({"video_id": "0" * 32, "shot_index": 0, "search_in": ["speech"]}, 422, "invalid_option"),
    ({"query": "car", "video_ids": ["../../etc"]}, 422, "invalid_option"),
    ({"query": "car", "shot_index": 1}, 422, "invalid_option"),
    ({"query": "car", "surprise": 1}, 422, "invalid_option"),
    ({}, 422, "invalid_option"),
    ({"video_id": "0" * 32, "shot_index": 0}, 404, "video_not_found"),
    ({"query": "car", "page_token": "not-a-token"}, 400, "invalid_page_token"),
])
def test_bad_searches_get_their_answer(client: TestClient, body: dict[str, Any], status: int,
                                       code: str) -> None:
    response = client.post("/v1/search", json=body, headers=A)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_bad_bodies_and_ids(client: TestClient) -> None:
    not_json = client.post("/v1/search", content=b"{nope", headers={
        **A, "Content-Type": "application/json"})
    assert not_json.status_code == 400 and not_json.json()["error"]["code"] == "invalid_json"
    text = client.post("/v1/search", content=b"car", headers={**A, "Content-Type": "text/plain"})
    assert text.status_code == 415
    example = client.post("/v1/search", files={"video": ("x.mp4", b"%PDF-1.4 not a video")},
                          headers=A)
    assert example.status_code == 415, example.text
    # "%2e%2e%2f": the client would resolve a plain "../" itself (to "/", the page).
    for vid in ("nope", "0" * 32, "%2e%2e%2f" * 10, "..%2f..%2fsettings.py"):
        response = client.get(f"/v1/videos/{vid}", headers=A)
        assert response.status_code == 404, (vid, response.text)
        assert response.json()["error"]["code"] in ("video_not_found", "not_found")


def test_delete_removes_every_vector(client: TestClient, library: dict[str, str]) -> None:
    vid = library["bigbuckbunny.mp4"]
    assert client.delete(f"/v1/videos/{vid}", headers=A).json() == {"video_id": vid,
                                                                     "deleted": True}
    assert client.get(f"/v1/videos/{vid}", headers=A).status_code == 404
    assert client.delete(f"/v1/videos/{vid}", headers=A).status_code == 404
    hits = _search(client, query="a cartoon", top_k=100)["hits"]
    assert vid not in {h["video_id"] for h in hits}
    only = _search(client, query="a cartoon", video_ids=[vid])
    assert only["hits"] == []


def test_the_library_survives_a_restart(client: TestClient, settings: Settings,
                                        library: dict[str, str]) -> None:
    if settings.vector_url:
        pytest.skip("qdrant-client's local mode lets one process at a time open its folder; "
                    "the Qdrant server keeps what it stores")
    before = _search(client, query="a person riding a bicycle", top_k=3)
    with _client(settings) as fresh:
        _wait_ready(fresh)
        after = _search(fresh, query="a person riding a bicycle", top_k=3)
        assert fresh.get(f"/v1/videos/{library['bikes.mp4']}", headers=A).status_code == 200
    assert [h["video_id"] for h in after["hits"]] == [h["video_id"] for h in before["hits"]]


def _search_is_unavailable_within(http: TestClient, seconds: float) -> None:
    started = time.monotonic()
    response = http.post("/v1/search", json={"query": "a bicycle"})
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "index_unavailable"
    assert time.monotonic() - started < seconds


def test_an_unusable_index_is_a_503_and_analysis_goes_on(
        tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    settings = Settings(upload_dir=tmp_path, decode_workers=1, data_dir=blocker)
    with _client(settings) as http:
        _wait_ready(http)
        _search_is_unavailable_within(http, 30)
        data = sample_clip("bikes.mp4").read_bytes()
        assert http.post("/v1/videos", files={"video": ("v.mp4", data)}).status_code == 503
        assert http.post("/v1/classify", files={"video": ("v.mp4", data)}).status_code == 200
        # Asked to index as well, the analysis still answers, and says it was not indexed.
        both = http.post("/v1/analyze", files={"video": ("v.mp4", data)},
                         params={"index": "true"})
        assert both.status_code == 200, both.text
        assert both.json()["video_id"] is None and both.json()["shots"]
        assert both.json()["index_error"]["code"] == "index_unavailable"
        metrics = http.get("/metrics").text
        assert 'videobert_library_writes_total{outcome="failed"} 2.0' in metrics


def test_a_stopped_server_engine_is_a_503_in_bounded_time(tmp_path: Path) -> None:
    closed = "http://127.0.0.1:9"  # nothing listens there: the server is down
    settings = Settings(upload_dir=tmp_path, decode_workers=1, data_dir=tmp_path,
                        vector_url=closed, library_timeout_s=2.0)
    with _client(settings) as http:
        _wait_ready(http)
        _search_is_unavailable_within(http, 20)
        assert http.get("/v1/videos").status_code == 503


def test_an_analysis_can_index_what_it_analysed(client: TestClient, tmp_path: Path) -> None:
    data = join_sample_clips(tmp_path / "edit.mp4", [("bikes.mp4", 0.0, 2.0),
                                                     ("carphone_pristine.mp4", 0.0, 2.0)],
                             size=(320, 240)).read_bytes()
    plain = client.post("/v1/analyze", files={"video": ("e.mp4", data)}, headers=A)
    indexed = client.post("/v1/analyze", files={"video": ("e.mp4", data)},
                          params={"index": "true", "name": "edit.mp4"}, headers=A)
    assert indexed.status_code == 200, indexed.text
    body = indexed.json()
    vid = body.pop("video_id")
    assert "shot_vectors" not in body
    same = {k for k in plain.json() if k not in ("request_id", "timings")}
    assert {k: body[k] for k in same} == {k: plain.json()[k] for k in same}
    stored = client.get(f"/v1/videos/{vid}", headers=A).json()
    assert [s["start_s"] for s in stored["shots"]] == [s["start_s"] for s in body["shots"]]
    assert stored["filename"] == "edit.mp4"
    unnamed = client.post("/v1/analyze", files={"video": ("e.mp4", data)},
                          params={"name": "edit.mp4"}, headers=A)
    assert unnamed.status_code == 422 and "index=true" in unnamed.json()["error"]["message"]
    # The same options on another endpoint: the same computation, from the cache.
    again = client.post("/v1/classify", files={"video": ("e.mp4", data)},
                        data={"index": "true"}, headers=A)
    assert again.status_code == 200 and again.headers["X-Cache"] == "hit"
    assert again.json()["video_id"] == vid and "shots" not in again.json()
    bad = client.post("/v1/classify", files={"video": ("e.mp4", data)},
                      params={"index": "maybe"}, headers=A)
    assert bad.status_code == 422
    assert client.delete(f"/v1/videos/{vid}", headers=A).status_code == 200


def test_a_job_can_index_what_it_analysed(client: TestClient, tmp_path: Path) -> None:
    # Long videos go through /v1/jobs: index=true there adds them to the library too.
    data = join_sample_clips(tmp_path / "job.mp4", [("carphone_pristine.mp4", 0.0, 2.0),
                                                    ("bikes.mp4", 4.0, 6.0)],
                             size=(320, 240)).read_bytes()
    created = client.post("/v1/jobs", files={"video": ("j.mp4", data)},
                          params={"task": "summarize", "index": "true", "name": "job.mp4"},
                          headers=A)
    assert created.status_code == 202, created.text
    for _ in range(600):
        job = client.get(created.json()["status_url"], headers=A).json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.1)
    assert job["status"] == "succeeded", job
    result = job["result"]
    vid = result["video_id"]
    assert "shots" in result and "video_labels" not in result and "shot_vectors" not in result
    stored = client.get(f"/v1/videos/{vid}", headers=A)
    assert stored.status_code == 200 and stored.json()["filename"] == "job.mp4"
    assert [s["start_s"] for s in stored.json()["shots"]] == \
        [s["start_s"] for s in result["shots"]]
    assert client.get(f"/v1/videos/{vid}", headers=B).status_code == 404  # A's library only
    # The same bytes again: the analysis is a cache hit, the entry the same.
    again = client.post("/v1/jobs", files={"video": ("j.mp4", data)},
                        params={"task": "analyze", "index": "true"}, headers=A)
    for _ in range(600):
        job = client.get(again.json()["status_url"], headers=A).json()
        if job["status"] == "succeeded":
            break
        time.sleep(0.1)
    assert job["result"]["video_id"] == vid
    assert client.delete(f"/v1/videos/{vid}", headers=A).status_code == 200


def test_what_is_said_is_returned_and_found(client: TestClient, tmp_path: Path) -> None:
    path = with_subtitles(sample_clip("carphone_pristine.mp4"), tmp_path / "said.mp4", [
        ("eng", [(0.2, 1.5, "Good evening, here is the news."),
                 (1.8, 3.5, "The election results are in tonight.")])])
    data = path.read_bytes()
    summary = client.post("/v1/summarize", files={"video": ("said.mp4", data)}, headers=A)
    assert summary.status_code == 200, summary.text
    assert summary.json()["subtitles"] == [
        {"start_s": 0.2, "end_s": 1.5, "text": "Good evening, here is the news.",
         "language": "eng", "track": 0},
        {"start_s": 1.8, "end_s": 3.5, "text": "The election results are in tonight.",
         "language": "eng", "track": 0}]
    vid = _index(client, data)["video_id"]
    body = _search(client, query="who won the vote", top_k=3)
    first = body["hits"][0]
    assert (first["video_id"], first["source"]) == (vid, "speech"), body["hits"]
    assert (first["start_s"], first["end_s"]) == (1.8, 3.5)
    assert first["matched"] == ["The election results are in tonight."]
    pictures = _search(client, query="who won the vote", search_in=["visual"])
    assert {h["source"] for h in pictures["hits"]} == {"visual"}
    assert client.delete(f"/v1/videos/{vid}", headers=A).status_code == 200
    after = _search(client, query="who won the vote", search_in=["speech"])
    assert after["hits"] == []
