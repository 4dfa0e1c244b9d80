"""What labels of your own cost a classify request, measured end to end with the real model.

    python -m bench.label_cost [--repeats 8]

The default model in-process (the API over ASGI, nothing else running), carphone_pristine.mp4
classified with the cache off, the variants interleaved in each round so that they share the
machine's noise: no labels; 8 and 64 labels never seen before (new texts each round, so the
encoder runs); 64 labels seen before (the LRU answers). Reported: the median request time and
its difference from "no labels", and the median ``timings.labels_ms`` (the encoder's part).
Results go to bench/results/label_cost.json and docs/performance.md's table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench import doc_tables
from bench.provenance import provenance
from tests.api.conftest import running_app
from tests.media import sample_clip

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULT = REPO_ROOT / "bench" / "results" / "label_cost.json"
KINETICS = REPO_ROOT / "model_store" / "videobert-lite0" / "1.0.0" / "label_sets" / \
    "kinetics400.txt"


def _labels(n: int, round_: int | None) -> list[str]:
    names = [line.split("\t")[0] for line in KINETICS.read_text(encoding="utf-8").splitlines()]
    suffix = "" if round_ is None else f" (take {round_})"
    return [f"{name}{suffix}" for name in names[:n]]


async def _classify(client: httpx.AsyncClient, clip: bytes, labels: list[str]
                    ) -> tuple[float, float]:
    data = {"labels": json.dumps(labels)} if labels else {}
    started = time.perf_counter()
    resp = await client.post("/v1/classify", files={"video": ("clip.mp4", clip)}, data=data,
                             headers={"Cache-Control": "no-cache"})
    elapsed = (time.perf_counter() - started) * 1000
    resp.raise_for_status()
    return elapsed, float(resp.json()["timings"]["labels_ms"])


async def measure(repeats: int) -> dict[str, Any]:
    from app.settings import Settings

    clip = sample_clip("carphone_pristine.mp4").read_bytes()
    variants = {"no labels": lambda r: [], "8 new labels": lambda r: _labels(8, r),
                "64 new labels": lambda r: _labels(64, r),
                "64 labels seen before": lambda r: _labels(64, None)}
    times: dict[str, list[float]] = {name: [] for name in variants}
    encoder: dict[str, list[float]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(upload_dir=Path(tmp), decode_workers=1)
        async with running_app(settings) as (_, client):
            await _classify(client, clip, _labels(64, None))  # warm, and fill the LRU
            for round_ in range(repeats):
                for name, make in variants.items():
                    elapsed, labels_ms = await _classify(client, clip, make(round_))
                    times[name].append(elapsed)
                    encoder[name].append(labels_ms)
    base = statistics.median(times["no labels"])
    return {"repeats": repeats, "clip": "carphone_pristine.mp4", "variants": {
        name: {"median_ms": round(statistics.median(times[name]), 1),
               "extra_ms": round(statistics.median(times[name]) - base, 1),
               "labels_ms": round(statistics.median(encoder[name]), 1)}
        for name in variants}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args(argv)
    started = provenance()
    report = {**started, "command": " ".join(["python -m bench.label_cost", *(
        argv if argv is not None else sys.argv[1:])]), **asyncio.run(measure(args.repeats))}
    doc_tables.write_result(report, args.out, RESULT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
