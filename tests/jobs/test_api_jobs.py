"""The jobs API without Redis: the API process queues and runs its own jobs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from app.jobs import JobManager
from app.jobs.execute import DECODE_PROGRESS, MIN_PROGRESS_STEP, PROGRESS_AT_STAGE
from app.service import Services
from tests.api.conftest import running_app, tiny_settings
from tests.jobs.conftest import upload, wait_job
from tests.redis_server import RedisServer

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def app_client(tiny_store: Path, tmp_path_factory: pytest.TempPathFactory
                     ) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    root = tmp_path_factory.mktemp("api-jobs")
    # Chunks of two frames: even these short clips stream in several, which progress counts.
    settings = tiny_settings(tiny_store, root, jobs_dir=root / "jobs", worker_concurrency=1,
                             max_upload_mb=2.0, warmup=False, shutdown_grace_s=0.0,
                             stream_chunk_frames=2)
    async with running_app(settings) as (app, client):
        yield app, client


@pytest.fixture
def client(app_client: tuple[FastAPI, httpx.AsyncClient]) -> httpx.AsyncClient:
    return app_client[1]


@pytest.fixture
def jobs(app_client: tuple[FastAPI, httpx.AsyncClient]) -> JobManager:
    services: Services = app_client[0].state.services
    assert services.jobs is not None
    return services.jobs


def _analysis(body: dict[str, Any]) -> dict[str, Any]:
    """A response without what differs between two computations of the same answer."""
    return {k: v for k, v in body.items() if k not in ("request_id", "timings")}


async def test_job_gives_the_sync_answer(client: httpx.AsyncClient, clips: list[Path]) -> None:
    created = await client.post("/v1/jobs", params={"task": "summarize"}, **upload(clips[0]))
    assert created.status_code == 202
    job = created.json()
    assert job["status"] == "queued"
    assert len(job["id"]) == 32 and job["status_url"] == f"/v1/jobs/{job['id']}"
    assert created.headers["location"] == job["status_url"]

    done = await wait_job(client, job["id"])
    assert done["status"] == "succeeded" and done["progress"] == 1.0
    assert done["attempts"] == 1 and done["error"] is None
    assert done["created_at"] <= done["started_at"] <= done["finished_at"]
    assert done["result"]["request_id"] == job["id"]

    sync = await client.post("/v1/summarize", **upload(clips[0]))
    assert sync.headers["x-cache"] == "hit"  # the job's result is in the same cache
    assert _analysis(sync.json()) == _analysis(done["result"])


async def test_cached_video_completes_without_queueing(client: httpx.AsyncClient,
                                                       clips: list[Path]) -> None:
    sync = await client.post("/v1/classify", params={"top_k": 2}, **upload(clips[1]))
    assert sync.headers["x-cache"] == "miss"
    created = await client.post("/v1/jobs", params={"task": "classify", "top_k": 2},
                                **upload(clips[1]))
    assert created.status_code == 202
    assert created.json()["status"] == "succeeded"
    done = (await client.get(created.json()["status_url"])).json()
    assert done["attempts"] == 0
    assert _analysis(done["result"]) == _analysis(sync.json())


async def test_options_may_come_as_form_fields(client: httpx.AsyncClient,
                                               clips: list[Path]) -> None:
    created = await client.post("/v1/jobs", **upload(clips[2], task="classify", top_k="1"))
    assert created.status_code == 202
    done = await wait_job(client, created.json()["id"])
    assert done["task"] == "classify"
    assert len(done["result"]["video_labels"]) == 1


async def test_labels_reach_the_job(client: httpx.AsyncClient, clips: list[Path]) -> None:
    # The labels travel with the job to its worker, which hears them: the tiny model has no
    # text encoder, so the job fails with the same code the sync endpoint answers.
    created = await client.post("/v1/jobs", **upload(clips[2], task="classify",
                                                     labels='["a cat", "a dog"]'))
    assert created.status_code == 202
    done = await wait_job(client, created.json()["id"])
    assert done["status"] == "failed"
    assert done["error"]["code"] == "labels_not_supported"


@pytest.mark.parametrize(("params", "content", "status", "code"), [
    ({}, None, 422, "invalid_option"),
    ({"task": "translate"}, None, 422, "invalid_option"),
    ({"task": "index"}, None, 422, "invalid_option"),  # the library's, not a job's
    ({"task": "summarize", "format": "jpeg"}, None, 422, "invalid_option"),
    ({"task": "classify", "top_k": "0"}, None, 422, "invalid_option"),
    ({"task": "classify", "labels": ""}, None, 422, "invalid_option"),
    ({"task": "classify", "callback_url": "https://example.com/hook"}, None, 422,
     "callback_not_allowed"),
    ({"task": "classify"}, b"not a video at all" * 10, 415, "unsupported_container"),
    # The library's vectors need a text encoder: refused before anything is queued.
    ({"task": "summarize", "index": "true"}, None, 422, "labels_not_supported"),
    ({"task": "summarize", "index": "maybe"}, None, 422, "invalid_option"),
    ({"task": "classify"}, b"\0" * (3 * 1024 * 1024), 413, "payload_too_large"),
])
async def test_submission_is_checked_like_the_sync_endpoints(
        client: httpx.AsyncClient, clips: list[Path], params: dict[str, str],
        content: bytes | None, status: int, code: str) -> None:
    data = content if content is not None else clips[0].read_bytes()
    response = await client.post("/v1/jobs", params=params, content=data,
                                 headers={"content-type": "video/mp4"})
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


async def test_wrong_content_type_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/jobs", params={"task": "classify"}, content=b"x",
                                 headers={"content-type": "text/plain"})
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_content_type"


@pytest.mark.parametrize("job_id", ["0" * 32, "not-a-job", "A" * 32])
async def test_unknown_job_is_404(client: httpx.AsyncClient, job_id: str) -> None:
    for method in ("GET", "DELETE"):
        response = await client.request(method, f"/v1/jobs/{job_id}")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "job_not_found"


async def test_cancelling_a_finished_job_is_409(client: httpx.AsyncClient,
                                                clips: list[Path]) -> None:
    created = await client.post("/v1/jobs", params={"task": "classify"}, **upload(clips[3]))
    await wait_job(client, created.json()["id"])
    response = await client.delete(created.json()["status_url"])
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "job_finished"


async def test_cancel_queued_and_running_jobs_and_progress(
        client: httpx.AsyncClient, jobs: JobManager, clips: list[Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Hold the first job right after its decode, so that with one job at a time the second one
    # stays queued.
    reached: list[float] = []
    at_decode = asyncio.Event()
    release = asyncio.Event()
    real_set_progress = jobs.store.set_progress

    async def holding_set_progress(job_id: str, progress: float) -> bool:
        reached.append(progress)
        if progress == PROGRESS_AT_STAGE["decoded"]:
            at_decode.set()
            await release.wait()
        return await real_set_progress(job_id, progress)

    monkeypatch.setattr(jobs.store, "set_progress", holding_set_progress)
    first = (await client.post("/v1/jobs", params={"task": "classify", "fps": 3},
                               **upload(clips[4]))).json()
    await asyncio.wait_for(at_decode.wait(), 30)
    second = (await client.post("/v1/jobs", params={"task": "classify", "fps": 3},
                                **upload(clips[5]))).json()
    assert (await client.get(second["status_url"])).json()["status"] == "queued"
    assert (jobs.uploads.root / second["id"]).exists()

    cancelled = await client.delete(second["status_url"])
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert not (jobs.uploads.root / second["id"]).exists()
    again = await client.delete(second["status_url"])  # idempotent
    assert again.status_code == 200 and again.json()["status"] == "cancelled"

    running = (await client.get(first["status_url"])).json()
    assert running["status"] == "running" and running["started_at"] is not None
    cancelled = await client.delete(first["status_url"])
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    release.set()

    runner = jobs.runner
    assert runner is not None
    for _ in range(200):
        if runner.in_flight == 0 and not (jobs.uploads.root / first["id"]).exists():
            break
        await asyncio.sleep(0.05)
    assert runner.in_flight == 0
    assert not (jobs.uploads.root / first["id"]).exists()
    final = (await client.get(first["status_url"])).json()
    assert final["status"] == "cancelled" and final["result"] is None
    # Stopped before the model's turn: the decode's progress, and nothing after it.
    assert reached[-1] == PROGRESS_AT_STAGE["decoded"]
    assert reached == sorted(reached)
    assert (await client.get(second["status_url"])).json()["started_at"] is None


async def test_progress_rises_through_the_stages(
        client: httpx.AsyncClient, jobs: JobManager, clips: list[Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[float, float]] = []  # (requested, stored afterwards)
    real_set_progress = jobs.store.set_progress

    async def recording(job_id: str, progress: float) -> bool:
        running = await real_set_progress(job_id, progress)
        record = await jobs.store.get(job_id)
        assert record is not None
        seen.append((progress, record.progress))
        return running

    monkeypatch.setattr(jobs.store, "set_progress", recording)
    # 3.5 s at 4 fps: 14 frames in 7 chunks of two.
    created = await client.post("/v1/jobs", params={"task": "classify", "fps": 4},
                                **upload(clips[5]))
    done = await wait_job(client, created.json()["id"])
    assert done["status"] == "succeeded" and done["progress"] == 1.0
    requested = [value for value, _ in seen]
    assert all(stored == value for value, stored in seen)
    assert requested == sorted(set(requested))  # only upwards, never twice
    # The decode moves it (it once jumped 0 -> 0.4 -> 1), then the stages after it.
    during_decode = [v for v in requested if v < DECODE_PROGRESS[1]]
    assert len(during_decode) >= 3 and during_decode[0] < 0.5, requested
    # Between two writes of the decode, at least MIN_PROGRESS_STEP (not a write per chunk).
    steps = [b - a for a, b in zip(during_decode, during_decode[1:], strict=False)]
    assert min(steps) >= MIN_PROGRESS_STEP - 1e-9, requested
    assert requested[-2:] == [PROGRESS_AT_STAGE["inferred"], PROGRESS_AT_STAGE["analyzed"]]


async def test_callback_setting_is_refused_when_off(client: httpx.AsyncClient,
                                                    clips: list[Path]) -> None:
    response = await client.post("/v1/jobs", params={"task": "classify",
                                                      "callback_url": "http://127.0.0.1:9/x"},
                                 **upload(clips[0]))
    assert response.status_code == 422
    assert "VIDEOBERT_CALLBACK_HOSTS" in response.json()["error"]["message"]



async def test_redis_down_is_503_and_keeps_nothing(tiny_store: Path,
                                                    tmp_path_factory: pytest.TempPathFactory,
                                                    clips: list[Path]) -> None:
    root = tmp_path_factory.mktemp("redis-down")
    with RedisServer() as server:
        settings = tiny_settings(tiny_store, root, jobs_dir=root / "jobs", warmup=False,
                                 redis_url=server.url, shutdown_grace_s=0.0)
        async with running_app(settings) as (_, client):
            server.stop()
            created = await client.post("/v1/jobs", params={"task": "classify"},
                                        **upload(clips[0]))
            looked_up = await client.get(f"/v1/jobs/{'0' * 32}")
    for response in (created, looked_up):
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "jobs_unavailable"
        assert response.headers["retry-after"] == "5"
    assert [p.name for p in (root / "jobs").iterdir()] == [".incoming"]
    assert list((root / "jobs" / ".incoming").iterdir()) == []


async def test_jobs_are_listed_newest_first_a_page_at_a_time(
        client: httpx.AsyncClient, clips: list[Path]) -> None:
    ids = []
    for k in (1, 2, 3):
        resp = await client.post("/v1/jobs", params={"task": "classify", "top_k": 10 + k},
                                 **upload(clips[0]))
        assert resp.status_code == 202, resp.text
        ids.append(resp.json()["id"])
    for job_id in ids:
        await wait_job(client, job_id, timeout_s=60)
    first = (await client.get("/v1/jobs", params={"limit": 2})).json()
    assert [j["id"] for j in first["jobs"]] == [ids[2], ids[1]]
    assert all(j["result"] is None for j in first["jobs"])  # the list stays small
    second = (await client.get("/v1/jobs", params={"limit": 2,
                                                   "cursor": first["next_cursor"]})).json()
    assert second["jobs"][0]["id"] == ids[0]
    done = (await client.get("/v1/jobs", params={"status": "succeeded", "limit": 100})).json()
    assert set(ids) <= {j["id"] for j in done["jobs"]}
    assert all(j["status"] == "succeeded" for j in done["jobs"])
    queued = (await client.get("/v1/jobs", params={"status": "queued"})).json()
    assert not set(ids) & {j["id"] for j in queued["jobs"]}


@pytest.mark.parametrize("params", [{"status": "sleeping"}, {"limit": 0}, {"limit": 101},
                                    {"cursor": "not-a-cursor"}])
async def test_bad_list_parameters_are_422(client: httpx.AsyncClient,
                                           params: dict[str, object]) -> None:
    resp = await client.get("/v1/jobs", params=params)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["code"] == "invalid_option"


async def test_with_redis_and_no_worker_the_api_runs_the_job(
        tiny_store: Path, tmp_path_factory: pytest.TempPathFactory, clips: list[Path]) -> None:
    # Issue "The first hour": setting VIDEOBERT_REDIS_URL used to leave jobs queued for ever.
    root = tmp_path_factory.mktemp("redis-api-runs")
    with RedisServer() as server:
        settings = tiny_settings(tiny_store, root, jobs_dir=root / "jobs", warmup=False,
                                 redis_url=server.url, shutdown_grace_s=0.0)
        async with running_app(settings) as (_, client):
            created = await client.post("/v1/jobs", params={"task": "classify"},
                                        **upload(clips[1]))
            assert created.status_code == 202, created.text
            done = await wait_job(client, created.json()["id"], timeout_s=60)
            ready = (await client.get("/readyz")).json()
    assert done["status"] == "succeeded"
    # The API's own runner announces itself like a worker does.
    assert ready["jobs"]["runs_in_api"] is True and ready["jobs"]["live_workers"] >= 1


async def test_dedicated_workers_and_none_alive_refuses_jobs(
        tiny_store: Path, tmp_path_factory: pytest.TempPathFactory, clips: list[Path]) -> None:
    root = tmp_path_factory.mktemp("redis-no-workers")
    with RedisServer() as server:
        settings = tiny_settings(tiny_store, root, jobs_dir=root / "jobs", warmup=False,
                                 redis_url=server.url, run_jobs_in_api=False,
                                 shutdown_grace_s=0.0)
        async with running_app(settings) as (app, client):
            ready = (await client.get("/readyz")).json()
            refused = await client.post("/v1/jobs", params={"task": "classify"},
                                        **upload(clips[1]))
            # A worker announces itself (what `videobert worker`'s runner does every 5 s).
            jobs: JobManager = app.state.services.jobs
            await jobs.queue.announce("worker-1", ttl_s=30)
            accepted = await client.post("/v1/jobs", params={"task": "classify"},
                                         **upload(clips[1]))
            ready_after = (await client.get("/readyz")).json()
    assert ready["jobs"] == {"runs_in_api": False, "live_workers": 0}
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "no_job_workers"
    assert "videobert worker" in refused.json()["error"]["message"]
    assert refused.headers["retry-after"] == "10"
    assert accepted.status_code == 202, accepted.text
    assert ready_after["jobs"]["live_workers"] == 1
    assert list((root / "jobs" / ".incoming").iterdir()) == []


async def test_an_analyze_job_answers_every_feature(client: httpx.AsyncClient,
                                                    clips: list[Path]) -> None:
    created = await client.post("/v1/jobs", params={"task": "analyze"}, **upload(clips[2]))
    assert created.status_code == 202, created.text
    done = await wait_job(client, created.json()["id"], timeout_s=60)
    assert done["status"] == "succeeded" and done["task"] == "analyze"
    assert {"video_labels", "shot_labels", "shots", "keyframes", "highlights"} <= set(
        done["result"])
