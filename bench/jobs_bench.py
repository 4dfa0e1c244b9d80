"""Jobs per second with one and with two ``videobert worker`` processes on this machine.

    python -m bench.jobs_bench                      # tiny model: the queue machinery's cost
    python -m bench.jobs_bench --real --jobs 16     # the shipped videobert-lite0 model

Each configuration gets a fresh private redis-server, its own jobs folder and fresh worker
processes. The clock starts once every worker is ready (model loaded) and all jobs are queued
at once; it stops when the last job has ended. Every job is a different video (no cache hits),
queued straight into Redis the way ``POST /v1/jobs`` queues it, so the figure is the workers'
throughput, not the API's.

Each run is recorded under its label (``--label``, default "MODEL, N jobs of S s clips") in
bench/results/jobs.json, replacing an earlier run with the same label and keeping the others,
and docs/jobs.md's table is regenerated from the file (``--no-docs``: leave the docs alone;
``--out PATH``: record elsewhere, for trials, and leave the docs alone).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from app.jobs.queue import GROUP, STREAM_KEY
from app.jobs.records import JobRecord, new_job_id
from app.jobs.store import job_key
from app.settings import REPO_ROOT
from bench import doc_tables
from bench.provenance import provenance
from tests.media import make_video
from tests.redis_server import RedisServer

START_TIMEOUT_S = 180.0
RESULT = REPO_ROOT / "bench" / "results" / "jobs.json"


@dataclass(frozen=True)
class Config:
    workers: int
    decode_workers: int
    torch_threads: int

    @property
    def label(self) -> str:
        return (f"{self.workers} worker(s) x {self.decode_workers} decode / "
                f"{self.torch_threads} torch thread(s)")


def make_clips(root: Path, count: int, seconds: float) -> list[Path]:
    """``count`` different videos (each shot's colour and cut positions vary)."""
    root.mkdir(parents=True, exist_ok=True)
    clips = []
    for i in range(count):
        cut = 0.3 + (i % 7) * 0.1 * seconds
        clips.append(make_video(root / f"clip{i:03d}.mp4", duration_s=seconds + 0.05 * i,
                                fps=25, width=320, height=240, cut_times_s=(cut,)))
    return clips


def enqueue(client: redis.Redis, jobs_dir: Path, clips: list[Path]) -> list[str]:
    ids = []
    pipe = client.pipeline(transaction=False)
    for clip in clips:
        data = clip.read_bytes()
        record = JobRecord(id=new_job_id(), task="summarize", cache_key="",
                           sha256=hashlib.sha256(data).hexdigest(),
                           size_bytes=len(data), options={})
        shutil.copyfile(clip, jobs_dir / record.id)
        pipe.hset(job_key(record.id), mapping=record.to_hash())  # type: ignore[arg-type]
        pipe.xadd(STREAM_KEY, {"job": record.id})
        ids.append(record.id)
    pipe.execute()
    return ids


def run_config(config: Config, clips: list[Path], store: Path, model: str,
               concurrency: int, root: Path) -> tuple[float, dict[str, int], float]:
    """``(wall seconds, {status: count}, mean attempts)`` for all of ``clips`` as jobs."""
    jobs_dir = root / "jobs"
    jobs_dir.mkdir(parents=True)
    procs: list[subprocess.Popen[bytes]] = []
    with RedisServer() as server:
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT),
               "OMP_NUM_THREADS": str(config.torch_threads),
               "VIDEOBERT_REDIS_URL": server.url, "VIDEOBERT_JOBS_DIR": str(jobs_dir),
               "VIDEOBERT_MODEL_STORE_DIR": str(store), "VIDEOBERT_DEFAULT_MODEL": model,
               "VIDEOBERT_DECODE_WORKERS": str(config.decode_workers),
               "VIDEOBERT_TORCH_THREADS": str(config.torch_threads),
               "VIDEOBERT_WORKER_CONCURRENCY": str(concurrency),
               "VIDEOBERT_LOG_LEVEL": "warning", "VIDEOBERT_SHUTDOWN_GRACE_S": "0"}
        try:
            health = [root / f"w{i}.alive" for i in range(config.workers)]
            for i, path in enumerate(health):
                log = (root / f"w{i}.log").open("wb")
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "app.cli", "worker", "--health-file", str(path)],
                    cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL))
            deadline = time.monotonic() + START_TIMEOUT_S
            while not all(p.exists() for p in health):
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    raise SystemExit(f"workers did not start; see {root}/w*.log")
                time.sleep(0.05)
            client = redis.Redis.from_url(server.url, decode_responses=True)
            with contextlib.suppress(redis.ResponseError):  # a worker made it already
                client.xgroup_create(STREAM_KEY, GROUP, id="0", mkstream=True)
            started = time.monotonic()
            ids = enqueue(client, jobs_dir, clips)
            while True:
                statuses = [client.hget(job_key(j), "status") for j in ids]
                if all(s in ("succeeded", "failed", "cancelled") for s in statuses):
                    break
                if time.monotonic() - started > 1800:
                    raise SystemExit("jobs did not finish within 30 minutes")
                time.sleep(0.02)
            wall_s = time.monotonic() - started
            counts: dict[str, int] = {}
            for s in statuses:
                counts[str(s)] = counts.get(str(s), 0) + 1
            attempts = [int(client.hget(job_key(j), "attempts") or 0) for j in ids]
            client.close()
            return wall_s, counts, sum(attempts) / len(attempts)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()


def record(path: Path, label: str, workload: dict[str, Any]) -> None:
    """Merge one workload's run into the result file under ``label``: reruns replace their own
    entry, the other workloads stay as they were measured."""
    data: dict[str, Any] = (json.loads(path.read_text(encoding="utf-8")) if path.exists()
                            else {})
    data.setdefault("workloads", {})[label] = workload
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.jobs_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each video")
    parser.add_argument("--concurrency", type=int, default=4, help="jobs in flight per worker")
    parser.add_argument("--real", action="store_true",
                        help="the repo's videobert-lite0 instead of the tiny test model")
    parser.add_argument("--configs", default="1x1x1,2x1x1,1x2x2",
                        help="workers x decode processes x torch threads, comma separated")
    parser.add_argument("--label", help="the workload's row in the table (default: "
                        "\"MODEL, N jobs of S s clips\")")
    parser.add_argument("--out", type=Path, default=RESULT,
                        help="record the run in this file instead (docs are then left alone)")
    parser.add_argument("--no-docs", action="store_true", help="do not regenerate docs/jobs.md")
    args = parser.parse_args(argv)

    configs = [Config(*(int(v) for v in c.split("x"))) for c in args.configs.split(",")]
    model_name = "videobert-lite0" if args.real else "tiny"
    label = args.label or f"{model_name}, {args.jobs} jobs of {args.seconds:g} s clips"
    workload: dict[str, Any] = {
        "model": model_name, "jobs": args.jobs, "seconds": args.seconds,
        "concurrency": args.concurrency, **provenance(),
        "command": "python -m bench.jobs_bench "
                   + " ".join(argv if argv is not None else sys.argv[1:]),
        "rows": []}
    with tempfile.TemporaryDirectory(prefix="jobs-bench-") as tmp:
        root = Path(tmp)
        clips = make_clips(root / "clips", args.jobs, args.seconds)
        if args.real:
            store, model = REPO_ROOT / "model_store", "videobert-lite0"
        else:
            from tests.model_fixtures import make_tiny_store

            store, model = make_tiny_store(root / "store"), "tiny"
        print(f"{args.jobs} summarize jobs, {args.seconds:.0f} s 320x240 H.264 clips, model "
              f"{model}, {args.concurrency} jobs in flight per worker, {os.cpu_count()} CPUs")
        print(f"| {'configuration':<48} | wall s | jobs/s | outcome | attempts/job |")
        print(f"|{'-' * 50}|--------|--------|---------|--------------|")
        for index, config in enumerate(configs):
            wall_s, counts, attempts = run_config(config, clips, store, model,
                                                  args.concurrency, root / f"run{index}")
            outcome = ",".join(f"{v} {k}" for k, v in sorted(counts.items()))
            print(f"| {config.label:<48} | {wall_s:6.1f} | {args.jobs / wall_s:6.2f} | "
                  f"{outcome:<7} | {attempts:12.2f} |", flush=True)
            workload["rows"].append({
                "label": config.label, "workers": config.workers,
                "decode_processes": config.decode_workers,
                "torch_threads": config.torch_threads, "wall_s": round(wall_s, 3),
                "jobs_per_s": round(args.jobs / wall_s, 3), "outcomes": dict(sorted(
                    counts.items())), "attempts_per_job": round(attempts, 3)})
    record(args.out, label, workload)
    print(f"recorded as {label!r} in {args.out}")
    if not args.no_docs and args.out.resolve() == RESULT.resolve():
        doc_tables.update_from(RESULT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
