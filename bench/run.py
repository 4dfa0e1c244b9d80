"""One command for the whole benchmark: ``python -m bench.run [--quick]``.

Generates (or reuses) the workload, measures the stage limit, then serves the workload with the
service, the LitServe peer and the naive baseline in turn, each driven by the same closed-loop
load generator at each concurrency; writes bench/results/latest.json, throughput.png and
docs/benchmarks.md. Figures are only worth keeping from a machine doing nothing else: the run
records the load average it started under.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

from app.inference.host import resolve_precision
from app.model import load_model
from app.settings import REPO_ROOT
from bench import doc_tables, report
from bench.loadgen import RunResult, drive
from bench.models import DEFAULT_MODEL, DEFAULT_STORE, default_model_error, stand_in_store
from bench.peer_common import PeerConfig, service_policy, service_spec
from bench.servers import (
    OursConfig,
    ServerSpec,
    baseline_spec,
    litserve_spec,
    ours_spec,
    running,
)
from bench.stages import StageLimit, measure_workload
from bench.workload import Workload, build_workloads

log = logging.getLogger("bench")

RESULTS = REPO_ROOT / "bench" / "results"
TMP = RESULTS / "tmp"
DOC = REPO_ROOT / "docs" / "benchmarks.md"
# "ours-whole" is the service with streaming off: the side-by-side measure of what overlapping
# decoding and the CNN within a request gives.
SYSTEMS = ("ours", "ours-whole", "litserve", "baseline")


def request_count(system: str, concurrency: int, quick: bool) -> int:
    """Enough requests for stable figures within the time budget. The baseline serves one
    request at a time, so more clients only queue: it needs no more requests than clients."""
    if quick:
        return max(concurrency, 3)
    if system == "baseline":
        return max(concurrency, 3)
    return max(2 * concurrency, 6)


def machine() -> dict[str, Any]:
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu_model": model, "cores": os.cpu_count() or 1,
            "python": platform.python_version(), "torch": torch.__version__}


def _shown(path: Path) -> str:
    """A path as the results may record it: relative to the repository, never this machine's."""
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return path.name


def pick_store(args: argparse.Namespace) -> tuple[Path, str, bool]:
    """(store, model name, is_stand_in)."""
    problem = default_model_error()
    if problem is None:
        return DEFAULT_STORE, DEFAULT_MODEL, False
    if not (args.quick or args.stand_in):
        raise SystemExit(f"The default model does not load ({problem}). Train it first, or "
                         "pass --stand-in to time an untrained copy (marked in the results).")
    log.warning("default model not loadable (%s): using an untrained stand-in", problem)
    return stand_in_store(TMP / "stand_in"), DEFAULT_MODEL, True


def measure_stages(workloads: list[Workload], store: Path, model: str,
                   ours: OursConfig) -> dict[str, StageLimit]:
    loaded = load_model(store, model, precision=resolve_precision(ours.precision, "cpu"))
    policy, spec = service_policy(), service_spec(loaded)
    return {w.name: measure_workload(w.name, list(w.clips), loaded, policy, spec,
                                     cores=os.cpu_count() or 1,
                                     service_threads=ours.torch_threads,
                                     max_batch_frames=ours.max_batch_frames)
            for w in workloads}


def serve_and_drive(spec: ServerSpec, workloads: list[Workload], concurrencies: list[int],
                    quick: bool) -> list[RunResult]:
    results = []
    with running(spec, TMP / "logs") as (target, pid):
        for workload in workloads:
            clips = list(workload.clips)
            # Warm-up, untimed: first requests pay lazy imports and allocator growth.
            asyncio.run(drive(target, workload.name, clips[:1], concurrency=1, requests=1,
                              server_pid=pid))
            for c in concurrencies:
                n = request_count(spec.system, c, quick)
                started = time.monotonic()
                result = asyncio.run(drive(target, workload.name, clips, concurrency=c,
                                           requests=n, server_pid=pid))
                log.info("%-8s %-5s c=%-2d %5.3f videos/s p50 %7.0f ms batch %.2f cpu %3.0f%% "
                         "(%.0f s)", spec.system, workload.name, c, result.videos_per_s,
                         result.percentile_ms(50), result.mean_batch, result.cpu_percent,
                         time.monotonic() - started)
                results.append(result)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="tiny workload to check the machinery (figures meaningless)")
    parser.add_argument("--stand-in", action="store_true",
                        help="time an untrained copy of the default model if it is not trained")
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--concurrency", default="1,4,16")
    parser.add_argument("--decode-workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--instances", type=int, default=os.cpu_count() or 1,
                        help="model workers on the CPU (VIDEOBERT_INSTANCES_PER_DEVICE)")
    parser.add_argument("--max-batch-frames", type=int, default=16)
    parser.add_argument("--no-docs", action="store_true",
                        help="a trial run: write the results under bench/results/tmp/trial/ "
                             "and leave docs/ and the recorded results alone")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    started = time.monotonic()
    load_1m = os.getloadavg()[0]
    if load_1m > 1.5:
        log.warning("1-minute load average is %.2f: other work shares the cores, so these "
                    "figures will not be representative", load_1m)

    torch.set_num_threads(1)
    systems = [s for s in args.systems.split(",") if s]
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    store, model, is_stand_in = pick_store(args)
    workloads = build_workloads(TMP / ("workload_quick" if args.quick else "workload"),
                                quick=args.quick)
    cores = os.cpu_count() or 1
    ours = OursConfig(decode_workers=args.decode_workers, torch_threads=args.torch_threads,
                      instances=args.instances, max_batch_frames=args.max_batch_frames)
    stages = measure_stages(workloads, store, model, ours)

    peer = PeerConfig(store=store, model=model, precision=ours.precision, torch_threads=1)
    specs = {"ours": ours_spec(store, model, ours),
             "ours-whole": ours_spec(store, model, dataclasses.replace(ours, stream_chunk_frames=0),
                                     system="ours-whole"),
             "litserve": litserve_spec(peer, workers=cores,
                                       max_batch_frames=args.max_batch_frames),
             "baseline": baseline_spec(peer)}
    runs: list[RunResult] = []
    for system in systems:
        runs.extend(serve_and_drive(specs[system], workloads, concurrencies, args.quick))

    payload = report.build_payload(
        runs=runs, stages=stages, workloads=workloads, machine=machine(),
        date=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        configs={name: spec.describe for name, spec in specs.items() if name in systems},
        model={"name": model, "store": _shown(store), "stand_in": is_stand_in},
        quick=args.quick, load_avg_1m_at_start=round(load_1m, 2),
        duration_s=round(time.monotonic() - started, 1),
        command="python -m bench.run " + " ".join(argv if argv is not None else sys.argv[1:]))
    out = TMP / "quick" if args.quick else TMP / "trial" if args.no_docs else RESULTS
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    report.plot(payload, out / "throughput.png")
    if not (args.quick or args.no_docs):
        DOC.write_text(report.markdown(payload), encoding="utf-8")
        doc_tables.update_from(out / "latest.json")  # the streaming tables of performance.md
    else:
        (out / "benchmarks.md").write_text(report.markdown(payload), encoding="utf-8")
    log.info("done in %.0f s; results in %s", time.monotonic() - started, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
