"""Cache benchmark: a cache hit for a ~10 MB upload against a cold request, and hashing cost.

    python -m bench.cache_bench [--repeats 5] [--redis-url redis://127.0.0.1:PORT/0]

Runs the real app in-process (ASGI, no network hop), so the times are server-side: upload
streaming + sha256 + cache lookup for a hit; upload + decode + model + analysis for a cold
request (Cache-Control: no-cache). Without --redis-url it starts a private redis-server.
Prints a table, writes bench/results/cache.json and regenerates docs/cache.md's table from it.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
from asgi_lifespan import LifespanManager

from app.main import create_app
from app.settings import Settings
from bench import doc_tables
from bench.provenance import provenance
from training.sources import clips_dir

RESULTS = Path(__file__).resolve().parent / "results"


def make_upload(path: Path, target_mb: float = 10.0) -> Path:
    """A real-content H.264 clip of about ``target_mb``: the bikes clip looped at high bitrate."""
    source = clips_dir() / "bikes.mp4"
    frames = []
    with av.open(str(source)) as src:
        for frame in src.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "10", "preset": "ultrafast"}
        index, written = 0, 0
        while written < target_mb * 2**20 and index < 1500:
            for image in frames:
                noise = np.random.default_rng(index).integers(-6, 7, image.shape)
                noisy = np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8)
                frame = av.VideoFrame.from_ndarray(noisy, format="rgb24")  # noise: big file
                frame.pts = index
                index += 1
                for packet in stream.encode(frame):
                    written += packet.size
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def hashing_ms(data: bytes, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        hashlib.sha256(data).hexdigest()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


async def measure(settings: Settings, data: bytes, repeats: int) -> dict[str, Any]:
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=120) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench",
                                     timeout=600) as client:
            while (await client.get("/readyz")).status_code != 200:
                await asyncio.sleep(0.1)
            headers = {"Content-Type": "video/mp4"}
            cold, hit = [], []
            for _ in range(repeats):
                started = time.perf_counter()
                resp = await client.post("/v1/classify", content=data,
                                         headers={**headers, "Cache-Control": "no-cache"})
                cold.append((time.perf_counter() - started) * 1000)
                assert resp.status_code == 200, resp.text
            for _ in range(repeats):
                started = time.perf_counter()
                resp = await client.post("/v1/classify", content=data, headers=headers)
                hit.append((time.perf_counter() - started) * 1000)
                assert resp.headers["x-cache"] == "hit"
    return {"cold_ms": statistics.median(cold), "hit_ms": statistics.median(hit),
            "cold_samples_ms": cold, "hit_samples_ms": hit}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--redis-url")
    parser.add_argument("--size-mb", type=float, default=10.0)
    args = parser.parse_args(argv)
    started = provenance()

    workdir = Path(tempfile.mkdtemp(prefix="vbs-cache-bench-"))
    upload = make_upload(workdir / "upload.mp4", args.size_mb)
    data = upload.read_bytes()
    rows: dict[str, Any] = {"upload_mb": round(len(data) / 2**20, 2),
                            "sha256_ms": hashing_ms(data, args.repeats)}
    server = None
    redis_url = args.redis_url
    if redis_url is None:
        from tests.redis_server import RedisServer

        server = RedisServer().start()
        redis_url = server.url
    try:
        for backend, url in (("memory", None), ("redis", redis_url)):
            settings = Settings(redis_url=url, upload_dir=workdir)
            rows[backend] = asyncio.run(measure(settings, data, args.repeats))
    finally:
        if server is not None:
            server.stop()
    rows.update(started)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cache.json").write_text(json.dumps(rows, indent=2) + "\n")
    doc_tables.update_from(RESULTS / "cache.json")
    print(f"upload {rows['upload_mb']} MB; sha256 of it: {rows['sha256_ms']:.1f} ms")
    print(f"{'backend':<8} {'cold ms':>10} {'hit ms':>10} {'speed-up':>9}")
    for backend in ("memory", "redis"):
        r = rows[backend]
        print(f"{backend:<8} {r['cold_ms']:>10.1f} {r['hit_ms']:>10.1f} "
              f"{r['cold_ms'] / r['hit_ms']:>8.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
