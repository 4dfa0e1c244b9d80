"""classify and summarize over HTTP, on the tiny model and real encoded videos."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image

from app.settings import Settings
from tests.api.conftest import multipart, running_app


async def test_classify_multipart_has_the_documented_shape(
        client: httpx.AsyncClient, videos: dict[str, Path]) -> None:
    resp = await client.post("/v1/classify", **multipart(videos["cuts"]))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["model"] == {"name": "tiny", "version": "0.0.1"}
    video = body["video"]
    assert video["container"] == "mp4" and video["codec"] == "h264"
    assert (video["width"], video["height"]) == (320, 240)
    assert abs(video["duration_s"] - 6.0) < 0.2
    assert video["frames_sampled"] == 12  # 6 s at the default 2 fps
    assert video["sampling_mode"] == "exact"
    assert video["size_bytes"] == videos["cuts"].stat().st_size
    assert 1 <= len(body["video_labels"]) <= 5
    assert all(0 <= lb["score"] <= 1 for lb in body["video_labels"])
    assert body["shot_labels"] and body["shot_labels"][0]["start_s"] == 0.0
    assert body["shot_labels"][-1]["end_s"] <= video["duration_s"] + 1e-3
    assert body["frame_labels"] is None
    assert set(body["timings"]) >= {"decode_ms", "queue_ms", "inference_ms", "total_ms"}
    assert resp.headers["x-cache"] == "miss"
    assert resp.headers["x-request-id"] == body["request_id"]


async def test_raw_video_body_gives_the_same_answer_as_multipart(
        client: httpx.AsyncClient, videos: dict[str, Path]) -> None:
    form = await client.post("/v1/classify", **multipart(videos["other"]),
                             headers={"Cache-Control": "no-cache"})
    raw = await client.post("/v1/classify", content=videos["other"].read_bytes(),
                            headers={"Content-Type": "video/mp4", "Cache-Control": "no-cache"})
    assert form.status_code == raw.status_code == 200
    assert form.json()["video_labels"] == raw.json()["video_labels"]
    assert form.json()["shot_labels"] == raw.json()["shot_labels"]


async def test_options_from_query_and_form_fields(
        client: httpx.AsyncClient, videos: dict[str, Path]) -> None:
    by_query = await client.post("/v1/classify?top_k=2&include_frames=true&fps=4",
                                 **multipart(videos["short"]))
    by_form = await client.post("/v1/classify", **multipart(
        videos["short"], top_k="2", include_frames="true", fps="4"))
    for resp in (by_query, by_form):
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert len(body["video_labels"]) <= 2
        assert body["video"]["frames_sampled"] == 4
        assert len(body["frame_labels"]) == 4


async def test_second_identical_upload_is_a_cache_hit_with_the_same_answer(
        client: httpx.AsyncClient, videos: dict[str, Path]) -> None:
    first = await client.post("/v1/summarize", **multipart(videos["cuts"]))
    second = await client.post("/v1/summarize", **multipart(videos["cuts"]))
    bypass = await client.post("/v1/summarize", **multipart(videos["cuts"]),
                               headers={"Cache-Control": "no-cache"})
    other_options = await client.post("/v1/summarize?summary_ratio=0.3",
                                      **multipart(videos["cuts"]))
    assert [r.headers["x-cache"] for r in (first, second, bypass, other_options)] == [
        "miss", "hit", "miss", "miss"]
    a, b = first.json(), second.json()
    assert a["request_id"] != b["request_id"]
    for field in ("shots", "keyframes", "highlights", "importance"):
        assert a[field] == b[field]


async def test_summarize_shape_and_budget(client: httpx.AsyncClient,
                                          videos: dict[str, Path]) -> None:
    resp = await client.post("/v1/summarize?thumbnails=true", **multipart(videos["cuts"]))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["shots"][0]["start_s"] == 0.0
    assert len(body["importance"]) == body["video"]["frames_sampled"]
    assert all(0 <= p["score"] <= 1 for p in body["importance"])
    assert abs(body["budget_s"] - 0.15 * body["video"]["duration_s"]) < 0.01
    assert body["highlight_duration_s"] <= body["budget_s"] + 1e-6
    assert sum(h["end_s"] - h["start_s"] for h in body["highlights"]) <= body["budget_s"] + 1e-3
    assert body["keyframes"]
    for keyframe in body["keyframes"]:
        jpeg = base64.b64decode(keyframe["thumbnail_jpeg_base64"])
        image = Image.open(io.BytesIO(jpeg))
        assert image.format == "JPEG" and max(image.size) == 160


async def test_summarize_contact_sheet_jpeg(client: httpx.AsyncClient,
                                            videos: dict[str, Path]) -> None:
    resp = await client.post("/v1/summarize?format=jpeg", **multipart(videos["cuts"]))
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(resp.content)).format == "JPEG"


async def test_webm_vp9_is_served(client: httpx.AsyncClient, videos: dict[str, Path]) -> None:
    resp = await client.post("/v1/classify", **multipart(videos["webm"]))
    assert resp.status_code == 200, resp.text
    assert resp.json()["video"]["codec"] == "vp9"


async def test_upload_temp_files_are_removed(client: httpx.AsyncClient,
                                             videos: dict[str, Path], upload_dir: Path) -> None:
    await client.post("/v1/classify", **multipart(videos["short"]))
    await client.post("/v1/classify", content=b"not a video",
                      headers={"Content-Type": "video/mp4"})
    assert list(upload_dir.iterdir()) == []


async def test_refine_boundaries_false_skips_refinement_in_its_own_cache_entry(
        client: httpx.AsyncClient, videos: dict[str, Path]) -> None:
    refined = await client.post("/v1/summarize", **multipart(videos["cuts"]))
    unrefined = await client.post("/v1/summarize?refine_boundaries=false",
                                  **multipart(videos["cuts"]))
    assert refined.status_code == unrefined.status_code == 200, unrefined.text
    assert unrefined.headers["x-cache"] == "miss"  # not the refined answer from the cache
    a, b = refined.json(), unrefined.json()
    # The tiny model finds a boundary here, so the refined answer paid for refinement; the
    # unrefined one skipped it (where the boundaries land: tests/e2e, on the real model).
    assert a["shots"][1:] and b["shots"][1:]
    assert b["timings"]["refine_ms"] == 0.0 < a["timings"]["refine_ms"]


async def test_thumbnail_px_sets_the_keyframe_size(
        client: httpx.AsyncClient, videos: dict[str, Path]) -> None:
    resp = await client.post("/v1/summarize?thumbnails=true&thumbnail_px=96",
                             **multipart(videos["cuts"]))
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-cache"] == "miss"  # another size is another answer
    sizes = {Image.open(io.BytesIO(base64.b64decode(k["thumbnail_jpeg_base64"]))).size
             for k in resp.json()["keyframes"]}
    assert sizes and all(max(size) == 96 for size in sizes)


def _without(body: dict[str, object], *keys: str) -> dict[str, object]:
    return {k: v for k, v in body.items() if k not in ("request_id", "timings", *keys)}


async def test_analyze_answers_labels_and_summary_from_one_computation(
        client: httpx.AsyncClient, videos: dict[str, Path]) -> None:
    whole = await client.post("/v1/analyze", **multipart(videos["cuts"]),
                              headers={"Cache-Control": "no-cache"})
    assert whole.status_code == 200, whole.text
    body = whole.json()
    assert body["features"] == ["labels", "shots", "summary"]
    classify_resp = await client.post("/v1/classify", **multipart(videos["cuts"]))
    summarize_resp = await client.post("/v1/summarize", **multipart(videos["cuts"]))
    # classify and summarize are cut from the same computation: both are cache hits.
    assert [classify_resp.headers["x-cache"], summarize_resp.headers["x-cache"]] == ["hit"] * 2
    classify, summarize = classify_resp.json(), summarize_resp.json()
    # The same answers as the two shorthand endpoints give.
    for key in ("video_labels", "shot_labels", "video"):
        assert body[key] == classify[key], key
    for key in ("shots", "importance", "keyframes", "highlights", "budget_s"):
        assert body[key] == summarize[key], key
    # Any subset of features comes from the same cache entry: no second computation.
    for features in ("labels", "summary", "shots,labels"):
        part = await client.post("/v1/analyze", **multipart(videos["cuts"]),
                                 params={"features": features})
        assert part.status_code == 200, part.text
        assert part.headers["x-cache"] == "hit"
        got = part.json()
        assert got["features"] == features.split(",")
        assert {k for k in got if k in body} - {"features"} <= set(body)
        assert all(got[k] == body[k] for k in got if k not in ("request_id", "features"))
    labels_only = (await client.post("/v1/analyze",
                                     **multipart(videos["cuts"], features="labels"))).json()
    assert "video_labels" in labels_only and "keyframes" not in labels_only
    assert "shots" not in labels_only


async def test_analyze_refuses_unknown_features_and_jpeg(
        client: httpx.AsyncClient, videos: dict[str, Path]) -> None:
    for params in ({"features": "labels,faces"}, {"format": "jpeg"}):
        resp = await client.post("/v1/analyze", **multipart(videos["short"]), params=params)
        assert resp.status_code == 422, resp.text
        assert resp.json()["error"]["code"] == "invalid_option"
    assert "faces" in (await client.post("/v1/analyze", **multipart(videos["short"]),
                                         params={"features": "faces"})).json()["error"][
        "message"]
    wrong = await client.post("/v1/classify", **multipart(videos["short"], features="labels"))
    assert wrong.status_code == 422


async def test_the_contact_sheet_after_the_json_summary_runs_no_model(
        make_settings: Callable[..., Settings], videos: dict[str, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # It once computed everything again (format=jpeg asks for bigger thumbnails, which were
    # part of the cache key): the keyframe thumbnails are cached on their own now, by size.
    async with running_app(make_settings()) as (app, client):
        await _sheet_after_summary(app, client, videos["other"], monkeypatch)


async def _sheet_after_summary(app: FastAPI, client: httpx.AsyncClient, clip: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = app.state.services.models.require_ready()
    runs: list[Path] = []
    real_run = pipeline.run

    async def counting(path: Path, *args: Any, **kwargs: Any) -> Any:
        runs.append(path)
        return await real_run(path, *args, **kwargs)

    monkeypatch.setattr(pipeline, "run", counting)
    summary = await client.post("/v1/summarize", **multipart(clip),
                                headers={"Cache-Control": "no-cache"})
    sheet = await client.post("/v1/summarize?format=jpeg", **multipart(clip))
    thumbs = await client.post("/v1/summarize?thumbnails=true", **multipart(clip))
    assert [r.status_code for r in (summary, sheet, thumbs)] == [200] * 3
    assert len(runs) == 1
    assert [sheet.headers["x-cache"], thumbs.headers["x-cache"]] == ["hit", "hit"]
    assert Image.open(io.BytesIO(sheet.content)).format == "JPEG"
    keyframes = thumbs.json()["keyframes"]
    assert [k["time_s"] for k in keyframes] == [k["time_s"] for k in summary.json()["keyframes"]]
    assert all(k["thumbnail_jpeg_base64"] for k in keyframes)
    assert all(k["thumbnail_jpeg_base64"] is None for k in summary.json()["keyframes"])
    small = Image.open(io.BytesIO(base64.b64decode(keyframes[0]["thumbnail_jpeg_base64"])))
    assert max(small.size) == 160  # the default thumbnail_px; the sheet's are 240
