"""Real ``videobert worker`` processes sharing one Redis queue, behind a real API app.

The tests run in file order on one module's worth of processes: the first needs both workers;
the second kills one mid-job (the other finishes the job); the rest need one live worker.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import redis

from app.jobs.queue import GROUP, STREAM_KEY
from app.settings import Settings
from tests.api.conftest import running_app, tiny_settings
from tests.jobs.conftest import upload, wait_job
from tests.redis_server import RedisServer

pytestmark = pytest.mark.asyncio(loop_scope="module")

REPO = Path(__file__).resolve().parents[2]
STALL_FPS = (7.0, 9.0)  # jobs with these fps stall on their first run (see worker_entry.py)
START_TIMEOUT_S = 90.0


@dataclass
class Worker:
    name: str
    proc: subprocess.Popen[bytes]
    health: Path
    log: Path

    def owns(self, consumer: str) -> bool:
        # consumer names are "<host>-<pid>-<random>"
        return consumer.rsplit("-", 2)[1] == str(self.proc.pid)


@dataclass
class Cluster:
    root: Path
    server: RedisServer
    env: dict[str, str]
    workers: list[Worker]

    def start_worker(self, name: str) -> Worker:
        health = self.root / f"{name}.alive"
        log = self.root / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tests.jobs.worker_entry", "worker",
                 "--health-file", str(health)],
                cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
        worker = Worker(name, proc, health, log)
        self.workers.append(worker)
        return worker

    def wait_ready(self, *workers: Worker) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        for worker in workers:
            while not worker.health.exists():
                if worker.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"{worker.name} did not start:\n"
                                         f"{worker.log.read_text()[-3000:]}")
                time.sleep(0.05)

    def settings(self) -> Settings:
        return tiny_settings(Path(self.env["VIDEOBERT_MODEL_STORE_DIR"]), self.root,
                             redis_url=self.server.url, jobs_dir=self.root / "jobs",
                             run_jobs_in_api=False, warmup=False, shutdown_grace_s=0.0)

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.server.url, decode_responses=True)


@pytest.fixture(scope="module")
def cluster(tiny_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("cluster")
    (root / "jobs").mkdir()
    with RedisServer() as server:
        env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
               "VIDEOBERT_MODEL_STORE_DIR": str(tiny_store), "VIDEOBERT_DEFAULT_MODEL": "tiny",
               "VIDEOBERT_REDIS_URL": server.url, "VIDEOBERT_JOBS_DIR": str(root / "jobs"),
               "VIDEOBERT_JOB_CLAIM_IDLE_S": "1", "VIDEOBERT_WORKER_CONCURRENCY": "2",
               "VIDEOBERT_DECODE_WORKERS": "1", "VIDEOBERT_TORCH_THREADS": "1",
               "VIDEOBERT_PRECISION": "fp32", "VIDEOBERT_WARMUP": "false",
               "VIDEOBERT_MAX_WAIT_MS": "5", "VIDEOBERT_SHUTDOWN_GRACE_S": "0",
               # A killed worker's cache lock must not hold up the worker taking over.
               "VIDEOBERT_SINGLE_FLIGHT_LOCK_S": "1",
               "TEST_STALL_FPS": ",".join(str(f) for f in STALL_FPS),
               "TEST_STALL_DIR": str(root)}
        cluster = Cluster(root, server, env, [])
        try:
            cluster.wait_ready(cluster.start_worker("w1"), cluster.start_worker("w2"))
            yield cluster
        finally:
            for worker in cluster.workers:
                if worker.proc.poll() is None:
                    worker.proc.terminate()
            for worker in cluster.workers:
                try:
                    worker.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    worker.proc.kill()
                    worker.proc.wait(timeout=5)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def api(cluster: Cluster) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(cluster.settings()) as (_, client):
        yield client


def _pending(cluster: Cluster) -> int:
    with cluster.redis() as r:
        summary: Any = r.xpending(STREAM_KEY, GROUP)
        return int(summary["pending"])


async def _submit(api: httpx.AsyncClient, clip: Path, **params: Any) -> str:
    response = await api.post("/v1/jobs", params={"task": "classify", **params}, **upload(clip))
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


async def test_two_workers_share_the_queue(cluster: Cluster, api: httpx.AsyncClient,
                                           clips: list[Path]) -> None:
    ids = [await _submit(api, clip, top_k=k) for k in (1, 2) for clip in clips[:4]]
    done = [await wait_job(api, job_id, timeout_s=60) for job_id in ids]
    assert [d["status"] for d in done] == ["succeeded"] * len(ids)
    assert [d["attempts"] for d in done] == [1] * len(ids)  # each computed exactly once
    records = [_record(cluster, job_id) for job_id in ids]
    by = {w.name for r in records for w in cluster.workers if w.owns(r["worker"])}
    assert by == {"w1", "w2"}
    assert [len(d["result"]["video_labels"]) for d in done] == [1] * 4 + [2] * 4
    # A worker records the result first, then acknowledges the entry and removes the upload.
    assert await _eventually(lambda: _pending(cluster) == 0 and sorted(
        p.name for p in (cluster.root / "jobs").iterdir()) == [".incoming"])


async def _eventually(predicate: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def _record(cluster: Cluster, job_id: str) -> dict[str, str]:
    with cluster.redis() as r:
        record: Any = r.hgetall(f"vbs:job:{job_id}")
        return dict(record)


async def test_a_killed_workers_job_is_finished_by_another(
        cluster: Cluster, api: httpx.AsyncClient, clips: list[Path]) -> None:
    job_id = await _submit(api, clips[4], fps=STALL_FPS[0])
    running = await wait_job(api, job_id, until=("running",), timeout_s=30)
    assert running["attempts"] == 1
    [victim] = [w for w in cluster.workers if w.owns(_record(cluster, job_id)["worker"])]
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(timeout=10)

    done = await wait_job(api, job_id, timeout_s=60)
    assert done["status"] == "succeeded" and done["attempts"] == 2
    [rescuer] = [w for w in cluster.workers if w.owns(_record(cluster, job_id)["worker"])]
    assert rescuer is not victim and rescuer.proc.poll() is None
    assert await _eventually(lambda: _pending(cluster) == 0)
    # The victim's link to the upload (vbs-flight-<host>-<pid>-...) outlived it; a worker's
    # sweep (at its start, then every interval) removes what a dead process of this host owned.
    assert any(p.name.startswith("vbs-flight-") for p in (cluster.root / "jobs").iterdir())
    cluster.wait_ready(cluster.start_worker("w3"))
    assert await _eventually(lambda: sorted(
        p.name for p in (cluster.root / "jobs").iterdir()) == [".incoming"]), sorted(
        p.name for p in (cluster.root / "jobs").iterdir())


async def test_cancel_reaches_the_worker_running_the_job(
        cluster: Cluster, api: httpx.AsyncClient, clips: list[Path]) -> None:
    job_id = await _submit(api, clips[5], fps=STALL_FPS[1])
    await wait_job(api, job_id, until=("running",), timeout_s=30)
    response = await api.delete(f"/v1/jobs/{job_id}")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    deadline = time.monotonic() + 15
    while _pending(cluster) or (cluster.root / "jobs" / job_id).exists():
        assert time.monotonic() < deadline, "the worker did not let go of the cancelled job"
        await asyncio.sleep(0.05)
    assert (await api.get(f"/v1/jobs/{job_id}")).json()["status"] == "cancelled"


async def test_results_survive_an_api_restart(cluster: Cluster, api: httpx.AsyncClient,
                                              clips: list[Path]) -> None:
    job_id = await _submit(api, clips[0], top_k=3)
    before = await wait_job(api, job_id, timeout_s=60)
    assert before["status"] == "succeeded"
    async with running_app(cluster.settings()) as (_, fresh):
        after = (await fresh.get(f"/v1/jobs/{job_id}")).json()
    assert after == before
