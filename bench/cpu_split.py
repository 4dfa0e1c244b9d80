"""Where the service's CPU goes under load: ``python -m bench.cpu_split [--workload 720p]
[--concurrency 4] [--requests 12]``.

Starts the service as ``bench.run`` does, drives one workload, and reports CPU milliseconds per
video for the decode processes and for each busy thread of the server process (the model
workers, the event loop, the pipe readers), next to the stage measurements of the same clips.
The answer to "the server spent N CPU ms a video against M for the stages alone: where?".
Writes bench/results/cpu_split.json and regenerates the docs/performance.md table made from
it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
from typing import Any

import psutil
import torch

from app.inference.host import resolve_precision
from app.model import load_model
from bench import doc_tables
from bench.loadgen import drive
from bench.models import DEFAULT_MODEL, DEFAULT_STORE
from bench.peer_common import service_policy, service_spec
from bench.provenance import provenance
from bench.run import RESULTS, TMP
from bench.servers import OursConfig, ours_spec, running
from bench.stages import measure_workload
from bench.workload import build_workloads

log = logging.getLogger("bench.cpu_split")


def cpu_by_part(pid: int) -> dict[str, float]:
    """CPU seconds so far: the decode processes together, and each thread of the server."""
    root = psutil.Process(pid)
    parts: dict[str, float] = {"decode processes": 0.0}
    for child in root.children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        parts["decode processes"] += times.user + times.system
    for thread in root.threads():
        parts[f"server thread {thread.id}"] = thread.user_time + thread.system_time
    return parts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu_split", description=__doc__)
    parser.add_argument("--workload", default="720p")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--requests", type=int, default=12)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    torch.set_num_threads(1)
    started = provenance()  # the load average before this run adds its own
    cores = os.cpu_count() or 1
    [workload] = [w for w in build_workloads(TMP / "workload", quick=False)
                  if w.name == args.workload]
    clips = list(workload.clips)
    config = OursConfig(decode_workers=cores, torch_threads=1, instances=cores)
    loaded = load_model(DEFAULT_STORE, DEFAULT_MODEL,
                        precision=resolve_precision(config.precision, "cpu"))
    stage = measure_workload(workload.name, clips, loaded, service_policy(),
                             service_spec(loaded), cores=cores, service_threads=1,
                             max_batch_frames=config.max_batch_frames)
    with running(ours_spec(DEFAULT_STORE, DEFAULT_MODEL, config), TMP / "logs") as (target, pid):
        asyncio.run(drive(target, workload.name, clips[:1], concurrency=1, requests=2,
                          server_pid=pid))
        before = cpu_by_part(pid)
        # A multiple of the clip count, so every clip is sent equally often.
        requests = max(len(clips), args.requests // len(clips) * len(clips))
        result = asyncio.run(drive(target, workload.name, clips, concurrency=args.concurrency,
                                   requests=requests, server_pid=pid))
        after = cpu_by_part(pid)
    per_video = {part: round((after[part] - before.get(part, 0.0)) * 1000 / requests)
                 for part in after}
    busy = {part: ms for part, ms in sorted(per_video.items(), key=lambda kv: -kv[1])
            if ms >= 1}
    out: dict[str, Any] = {
        "workload": workload.name, "concurrency": args.concurrency, "requests": requests,
        **started,
        "videos_per_s": round(result.videos_per_s, 3),
        "server_cpu_ms_per_video": busy,
        "stage_cpu_ms_per_video": {"decode": round(stage.decode_cpu_ms),
                                   "model": round(stage.model_cpu_ms)},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cpu_split.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(out, indent=2))  # noqa: T201 - a script's report
    doc_tables.update_from(RESULTS / "cpu_split.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
