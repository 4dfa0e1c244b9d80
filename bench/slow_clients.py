"""Slow and hostile transport clients against normal ones: do the normal ones still get served?

    python -m bench.slow_clients                      # 40 slow bodies, 20 endless heads
    python -m bench.slow_clients --slow 40 --heads 20 --requests 60

Starts its own ``videobert serve`` (tiny model) and measures, side by side in one run, the
latency of normal clients (classify of a small clip, cache off) first alone, then while
- ``--slow`` clients send upload bodies at 10 bytes a second (each reconnects when cut off),
- ``--heads`` clients send request heads that never end (likewise),
- one client posts a malformed multipart body every 0.2 s.
The ratio of the two p50s (and p99s) is the figure. Also recorded: the answers each kind of
hostile client got, 5xx anywhere, the server's RSS before and after, and temp files left.
Results go to bench/results/slow_clients.json and docs/security.md's table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench import doc_tables
from bench.provenance import provenance
from tests.faults.server import ServeProcess
from tests.media import make_video
from tests.model_fixtures import make_tiny_store

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULT = REPO_ROOT / "bench" / "results" / "slow_clients.json"
SLOW_BYTES_PER_S = 10
MALFORMED = b"--B\r\nNone--B--\r\n"
SLOW_UPLOAD_HEAD = (b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: video/mp4\r\n"
                    b"Content-Length: 100000\r\n\r\n")
SLOW_ENDLESS_HEAD = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Endless: "


async def _answer_status(reader: asyncio.StreamReader) -> int | None:
    line = await reader.readline()
    parts = line.split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


async def trickle(port: int, head: bytes, until: float, answers: dict[str, int]) -> None:
    """Send ``head`` then 10 bytes a second until the server answers; then again."""
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            answers["connect_failed"] = answers.get("connect_failed", 0) + 1
            await asyncio.sleep(0.5)
            continue
        status: int | None = None
        try:
            writer.write(head)
            while time.monotonic() < until:
                with contextlib.suppress(TimeoutError):
                    status = await asyncio.wait_for(_answer_status(reader), 1.0)
                    break
                writer.write(b"a" * SLOW_BYTES_PER_S)
                await writer.drain()
        except OSError:
            status = None
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        if status is not None or time.monotonic() < until:
            key = str(status) if status is not None else "closed"
            answers[key] = answers.get(key, 0) + 1


async def _malformed(url: str, until: float, answers: dict[str, int]) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        while time.monotonic() < until:
            resp = await client.post(f"{url}/v1/classify", content=MALFORMED, headers={
                "Content-Type": "multipart/form-data; boundary=B"})
            answers[str(resp.status_code)] = answers.get(str(resp.status_code), 0) + 1
            await asyncio.sleep(0.2)


async def _normal(url: str, clip: bytes, requests: int) -> tuple[list[float], dict[str, int]]:
    latencies, statuses = [], {}
    async with httpx.AsyncClient(timeout=60) as client:
        for _ in range(requests):
            started = time.perf_counter()
            resp = await client.post(f"{url}/v1/classify", content=clip, headers={
                "Content-Type": "video/mp4", "Cache-Control": "no-cache"})
            latencies.append(time.perf_counter() - started)
            statuses[str(resp.status_code)] = statuses.get(str(resp.status_code), 0) + 1
    return latencies, statuses


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))], 1)


async def measure(server: ServeProcess, clip: bytes, requests: int, slow: int,
                  heads: int) -> dict[str, Any]:
    process = psutil.Process(server.pid)
    await _normal(server.url, clip, 5)  # warm
    rss_before = process.memory_info().rss / 2**20
    alone, alone_status = await _normal(server.url, clip, requests)

    upload_head, endless_head = SLOW_UPLOAD_HEAD, SLOW_ENDLESS_HEAD
    slow_answers: dict[str, int] = {}
    head_answers: dict[str, int] = {}
    malformed_answers: dict[str, int] = {}
    until = time.monotonic() + 3600
    hostile = [asyncio.create_task(trickle(server.port, upload_head, until, slow_answers))
               for _ in range(slow)]
    hostile += [asyncio.create_task(trickle(server.port, endless_head, until, head_answers))
                for _ in range(heads)]
    hostile.append(asyncio.create_task(_malformed(server.url, until, malformed_answers)))
    await asyncio.sleep(3.0)  # every slow client connected and trickling
    rss_peak = process.memory_info().rss / 2**20
    loaded, loaded_status = await _normal(server.url, clip, requests)
    for task in hostile:
        task.cancel()
    await asyncio.gather(*hostile, return_exceptions=True)
    await asyncio.sleep(3.0)
    rss_after = process.memory_info().rss / 2**20
    fives = sum(n for answers in (alone_status, loaded_status, slow_answers, head_answers,
                                  malformed_answers) for s, n in answers.items()
                if s.startswith("5"))
    return {
        "requests": requests, "slow_clients": slow, "endless_heads": heads,
        "normal_alone_ms": {"p50": _ms(alone, 50), "p99": _ms(alone, 99),
                            "mean": round(1000 * statistics.mean(alone), 1)},
        "normal_with_hostile_ms": {"p50": _ms(loaded, 50), "p99": _ms(loaded, 99),
                                   "mean": round(1000 * statistics.mean(loaded), 1)},
        "ratio_p50": round(_ms(loaded, 50) / _ms(alone, 50), 2),
        "ratio_p99": round(_ms(loaded, 99) / _ms(alone, 99), 2),
        "normal_statuses": {"alone": alone_status, "with_hostile": loaded_status},
        "slow_body_answers": slow_answers, "endless_head_answers": head_answers,
        "malformed_answers": malformed_answers, "errors_5xx": fives,
        "rss_mb": {"before": round(rss_before, 1), "during": round(rss_peak, 1),
                   "after": round(rss_after, 1)},
        "uploads_left": len(server.uploads_left()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slow", type=int, default=40)
    parser.add_argument("--heads", type=int, default=20)
    parser.add_argument("--requests", type=int, default=300,
                        help="normal requests each way (enough to outlast the grace periods)")
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args(argv)
    started = provenance()
    with tempfile.TemporaryDirectory(prefix="videobert-slow-") as tmp:
        root = Path(tmp)
        clip = make_video(root / "clip.mp4", width=96, height=64, fps=10,
                          duration_s=2.0).read_bytes()
        server = ServeProcess(root, make_tiny_store(root / "store"),
                              VIDEOBERT_LOG_LEVEL="warning", VIDEOBERT_HEAD_TIMEOUT_S="5",
                              VIDEOBERT_BODY_GRACE_S="5")
        server.start()
        try:
            report = asyncio.run(measure(server, clip, args.requests, args.slow, args.heads))
        finally:
            server.close()
    report = {**started, "command": " ".join(["python -m bench.slow_clients", *(
        argv if argv is not None else sys.argv[1:])]), "server_settings": {
            "head_timeout_s": 5, "body_grace_s": 5, "body_min_bytes_per_s": 8192}, **report}
    doc_tables.write_result(report, args.out, RESULT)
    return 1 if report["errors_5xx"] or report["uploads_left"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
