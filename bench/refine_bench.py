"""Boundary refinement, one decoder call per gap against one pass for every gap:
``python -m bench.refine_bench``. Writes bench/results/refine.json and regenerates the
docs/performance.md table made from it.

The gaps are the ones the service refines: the default model's boundaries on real clips (the
sample clips and the benchmark workload's 720p clip), around each boundary the two samples
either side. CPU milliseconds of this process, best of five, so the ratio holds on a busy
machine.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from app.inference.worker import ModelInput, ModelWorker
from app.model import load_model
from app.postprocess import ReadoutOptions, find_boundaries, refinement_windows
from app.video import SamplingSpec, VideoPolicy, decode, decode_gray_strip, decode_gray_strips
from bench import doc_tables
from bench.models import DEFAULT_MODEL, DEFAULT_STORE
from bench.provenance import provenance
from bench.run import RESULTS, TMP
from bench.stages import timed
from bench.workload import ClipSpec, make_clip
from tests.media import sample_clip

log = logging.getLogger("bench.refine")


def gaps_of(path: Path, worker: ModelWorker) -> list[tuple[float, float]]:
    decoded = decode(path, VideoPolicy(), SamplingSpec())
    [out] = worker.run_batch([ModelInput(decoded.frames, decoded.times_s)])
    boundaries = find_boundaries(out.times_s, out.boundary_prob,
                                 ReadoutOptions().boundary_threshold)
    return [window for _, window in refinement_windows(out.times_s, boundaries)]


def best_cpu_ms(fn: Any, repeats: int = 5) -> float:
    return min(timed(fn)[1] for _ in range(repeats))


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    torch.set_num_threads(1)
    worker = ModelWorker(load_model(DEFAULT_STORE, DEFAULT_MODEL), "cpu", max_batch_frames=16)
    clips = [sample_clip("bikes.mp4"), sample_clip("carphone_pristine.mp4"),
             make_clip(ClipSpec(1280, 720, 30.0, first_source=1), TMP / "workload")]
    results: dict[str, Any] = {**provenance(), "clips": {}}
    for path in clips:
        gaps = gaps_of(path, worker)
        each = best_cpu_ms(lambda: [decode_gray_strip(path, s, e) for s, e in gaps])  # noqa: B023
        one = best_cpu_ms(lambda: decode_gray_strips(path, gaps))  # noqa: B023
        results["clips"][path.name] = {"gaps": len(gaps), "one_call_per_gap_cpu_ms": round(each),
                                       "one_pass_cpu_ms": round(one),
                                       "ratio": round(one / each, 2) if each else None}
        log.info("%s: %d gaps, %.0f -> %.0f CPU ms", path.name, len(gaps), each, one)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "refine.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    doc_tables.update_from(RESULTS / "refine.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
