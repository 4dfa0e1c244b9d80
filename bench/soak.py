"""Soak test: mixed valid and hostile traffic for a set time; report errors, p99 and memory growth.

    python bench/soak.py --duration-s 300 --concurrency 6            # own server, tiny model
    python bench/soak.py --duration-s 600 --model default            # own server, real model
    python bench/soak.py --url http://127.0.0.1:8000 --duration-s 60 # someone else's server

Not part of CI. Traffic: every file of the hostile corpus (tests/hostile/corpus.py), so about
half valid videos and half hostile ones, each checked against its exact expected answer, plus
clients that hang up mid-upload. With its own server the script also samples the resident memory
of the server and its decode workers, its open descriptors, and the upload folder, and runs the
loopback canary the corpus's playlists point at.

Exit status 1 when any request got a 5xx, a transport error, or an answer other than the one
expected (429/503 with Retry-After count as correct load shedding, not as errors), when the
canary was contacted, or when temp files were left behind.

The report is printed and recorded under its label (``--label``, default "DURATION s, N clients"
plus ", admission N" with --max-inflight) in bench/results/soak.json, replacing an earlier run
with the same label and keeping the others, and docs/security.md's soak table is regenerated
from the file (``--no-docs``: leave the docs alone; ``--out PATH``: record elsewhere, for trials,
and leave the docs alone). A failed run is recorded too: the table shows what failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import psutil  # noqa: E402

from bench import doc_tables  # noqa: E402
from bench.provenance import provenance  # noqa: E402
from bench.slow_clients import SLOW_ENDLESS_HEAD, SLOW_UPLOAD_HEAD, trickle  # noqa: E402
from tests.faults.server import ServeProcess  # noqa: E402
from tests.hostile.canary import Canary  # noqa: E402
from tests.hostile.corpus import TEST_LIMITS, Case, build_corpus, write_secrets  # noqa: E402
from tests.model_fixtures import make_tiny_store  # noqa: E402

RESULT = REPO_ROOT / "bench" / "results" / "soak.json"
SHED = (429, 503)  # load shedding: correct under overload when Retry-After is present
HANGUP_SHARE = 0.05
NO_CACHE_SHARE = 0.5  # the rest may be cache hits: the corpus repeats


@dataclass
class Tally:
    latencies_ok_s: list[float] = field(default_factory=list)
    latencies_refused_s: list[float] = field(default_factory=list)
    latencies_shed_s: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    hangups: int = 0

    def count(self, key: str) -> None:
        self.statuses[key] = self.statuses.get(key, 0) + 1


@dataclass
class Sample:
    at_s: float
    rss_mb: float
    fds: int
    uploads_left: int


def _percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)) * 1000, 1) if values else None


async def _one_request(client: httpx.AsyncClient, corpus: Path, case: Case,
                       tally: Tally, no_cache: bool) -> None:
    data = (corpus / case.name).read_bytes()
    headers = {"Cache-Control": "no-cache"} if no_cache else {}
    started = time.perf_counter()
    try:
        resp = await client.post("/v1/classify", files={"video": (case.name, data)},
                                 headers=headers, timeout=120)
    except httpx.HTTPError as exc:
        tally.count("transport_error")
        tally.unexpected.append(f"{case.name}: {type(exc).__name__}")
        return
    elapsed = time.perf_counter() - started
    tally.count(str(resp.status_code))
    if resp.status_code in SHED:
        tally.latencies_shed_s.append(elapsed)
        if "retry-after" not in resp.headers:
            tally.unexpected.append(f"{case.name}: {resp.status_code} without Retry-After")
        return
    code = resp.json().get("error", {}).get("code") if resp.status_code >= 400 else None
    if (resp.status_code, code) != (case.status, case.code):
        tally.unexpected.append(f"{case.name}: got {resp.status_code} {code}, "
                                f"expected {case.status} {case.code}")
    (tally.latencies_ok_s if resp.status_code == 200 else tally.latencies_refused_s).append(
        elapsed)


async def _hang_up(base_url: str, corpus: Path, tally: Tally) -> None:
    """Announce a whole video, send a part of it, and disconnect."""
    data = (corpus / "h264.mov").read_bytes()
    url = httpx.URL(base_url)
    try:
        _, writer = await asyncio.open_connection(url.host, url.port)
        writer.write((f"POST /v1/classify HTTP/1.1\r\nHost: {url.host}\r\n"
                      f"Content-Type: video/mp4\r\nContent-Length: {len(data)}\r\n\r\n"
                      ).encode() + data[:len(data) // 3])
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        tally.hangups += 1
    except OSError as exc:
        tally.unexpected.append(f"hang-up client: {exc}")


async def _client_loop(base_url: str, corpus: Path, cases: list[Case], until: float,
                       tally: Tally, rng: random.Random) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        while time.monotonic() < until:
            if rng.random() < HANGUP_SHARE:
                await _hang_up(base_url, corpus, tally)
            else:
                await _one_request(client, corpus, rng.choice(cases), tally,
                                   rng.random() < NO_CACHE_SHARE)


def _tree_rss_mb(pid: int) -> float:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += proc.memory_info().rss
    return total / 2**20


async def _sampler(server: ServeProcess | None, until: float, every_s: float,
                   samples: list[Sample], t0: float) -> None:
    while server is not None and time.monotonic() < until:
        samples.append(Sample(at_s=round(time.monotonic() - t0, 1),
                              rss_mb=round(_tree_rss_mb(server.pid), 1),
                              fds=server.open_fds(), uploads_left=len(server.uploads_left())))
        await asyncio.sleep(every_s)


async def soak(base_url: str, corpus: Path, cases: list[Case], server: ServeProcess | None,
               duration_s: float, concurrency: int, seed: int, slow_clients: int = 0
               ) -> dict[str, Any]:
    tally = Tally()
    samples: list[Sample] = []
    t0 = time.monotonic()
    until = t0 + duration_s
    rng = random.Random(seed)
    sendable = [c for c in cases if c.name != "child.txt"]
    # Transport-level hostile clients (bench/slow_clients.py): half send bodies at 10 bytes a
    # second, half heads that never end; each reconnects when the server cuts it off.
    port = int(base_url.rsplit(":", 1)[1])
    slow_answers: dict[str, int] = {}
    heads = (SLOW_UPLOAD_HEAD, SLOW_ENDLESS_HEAD)
    await asyncio.gather(
        _sampler(server, until, max(1.0, duration_s / 60), samples, t0),
        *(_client_loop(base_url, corpus, sendable, until, tally, random.Random(rng.random()))
          for _ in range(concurrency)),
        *(trickle(port, heads[i % 2], until, slow_answers) for i in range(slow_clients)))
    report: dict[str, Any] = {
        "duration_s": duration_s, "concurrency": concurrency,
        "requests": sum(tally.statuses.values()), "hangups": tally.hangups,
        "statuses": dict(sorted(tally.statuses.items())),
        "errors_5xx": sum(n for s, n in [*tally.statuses.items(), *slow_answers.items()]
                          if s.startswith("5") and int(s) not in SHED),
        "unexpected": len(tally.unexpected), "unexpected_examples": tally.unexpected[:10],
        "slow_clients": slow_clients, "slow_client_answers": dict(sorted(slow_answers.items())),
        "latency_ms": {
            "ok_p50": _percentile(tally.latencies_ok_s, 50),
            "ok_p99": _percentile(tally.latencies_ok_s, 99),
            "refused_p50": _percentile(tally.latencies_refused_s, 50),
            "refused_p99": _percentile(tally.latencies_refused_s, 99),
            "shed_p99": _percentile(tally.latencies_shed_s, 99),
        },
    }
    if server is not None:
        await asyncio.sleep(2.0)  # let the last hang-ups be noticed
        warm = samples[min(len(samples) - 1, max(1, len(samples) // 10))] if samples else None
        end_rss = _tree_rss_mb(server.pid)
        report["memory"] = {
            "rss_mb_after_warmup": warm.rss_mb if warm else None,
            "rss_mb_end": round(end_rss, 1),
            "growth_mb": round(end_rss - warm.rss_mb, 1) if warm else None,
            "fds_after_warmup": warm.fds if warm else None, "fds_end": server.open_fds(),
            "uploads_left_end": len(server.uploads_left()),
        }
        report["samples"] = [vars(s) for s in samples]
    return report


def default_label(args: argparse.Namespace) -> str:
    """What distinguishes one soak run from another in the table: length, clients, admission,
    model and whose server."""
    label = f"{args.duration_s:g} s, {args.concurrency} clients"
    if args.max_inflight is not None:
        label += f", admission {args.max_inflight}"
    if args.slow_clients:
        label += f", {args.slow_clients} slow clients"
    if args.model != "tiny":
        label += f", {args.model} model"
    return label + (", external server" if args.url else "")


def record(path: Path, label: str, report: dict[str, Any]) -> None:
    """Merge one run into the result file under ``label``: reruns replace their own entry."""
    data: dict[str, Any] = (json.loads(path.read_text(encoding="utf-8")) if path.exists()
                            else {})
    data.setdefault("runs", {})[label] = report
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration-s", type=float, default=120.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--url", help="soak a running server instead of starting one "
                        "(it must run with the corpus limits: tests/hostile/corpus.TEST_LIMITS)")
    parser.add_argument("--model", choices=["tiny", "default"], default="tiny")
    parser.add_argument("--max-inflight", type=int, default=None,
                        help="own server: VIDEOBERT_MAX_INFLIGHT_REQUESTS (below --concurrency "
                        "to measure load shedding)")
    parser.add_argument("--slow-clients", type=int, default=0,
                        help="also run this many transport-level hostile clients (bodies at 10 "
                        "bytes a second, heads that never end)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--label", help="the run's row in the table (default: duration, "
                        "clients, admission, model)")
    parser.add_argument("--out", type=Path, default=RESULT,
                        help="record the run in this file instead (docs are then left alone)")
    parser.add_argument("--no-docs", action="store_true",
                        help="do not regenerate docs/security.md")
    args = parser.parse_args(argv)
    started = provenance()

    with tempfile.TemporaryDirectory(prefix="videobert-soak-") as tmp, Canary() as canary:
        root = Path(tmp)
        write_secrets(root)
        cases = build_corpus(root / "corpus", canary_port=canary.port, secret_dir=root)
        server: ServeProcess | None = None
        if args.url is None:
            env = {f"VIDEOBERT_{k.upper()}": str(v) for k, v in TEST_LIMITS.items()}
            env["VIDEOBERT_LOG_LEVEL"] = "warning"
            if args.max_inflight is not None:
                env["VIDEOBERT_MAX_INFLIGHT_REQUESTS"] = str(args.max_inflight)
            if args.model == "tiny":
                store = make_tiny_store(root / "store")
                server = ServeProcess(root, store, **env)
            else:
                server = ServeProcess(root, REPO_ROOT / "model_store", **env)
                server.env.pop("VIDEOBERT_DEFAULT_MODEL")
                server.env.pop("VIDEOBERT_DECODE_WORKERS")
                server.env.pop("VIDEOBERT_TORCH_THREADS")
            server.start()
        base_url = args.url or (server.url if server else "")
        try:
            report = asyncio.run(soak(base_url, root / "corpus", cases, server,
                                      args.duration_s, args.concurrency, args.seed,
                                      args.slow_clients))
        finally:
            if server is not None:
                server.close()
        report["canary_connections"] = len(canary.connections)
    report = {"model": args.model, "server": "external" if args.url else "own",
              "max_inflight": args.max_inflight, "seed": args.seed, **started,
              "command": "python bench/soak.py "
                         + " ".join(argv if argv is not None else sys.argv[1:]), **report}
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    label = args.label or default_label(args)
    record(args.out, label, report)
    sys.stdout.write(f"recorded as {label!r} in {args.out}\n")
    if not args.no_docs and args.out.resolve() == RESULT.resolve():
        doc_tables.update_from(RESULT)
    failed = (report["errors_5xx"] or report["unexpected"] or report["canary_connections"]
              or report.get("memory", {}).get("uploads_left_end"))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
