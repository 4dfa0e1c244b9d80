"""Boundary refinement, one decoder call per gap against one pass for every gap:
``python -m bench.refine_bench``. Writes bench/results/refine.json and regenerates the
docs/performance.md table made from it.

The gaps are the ones the service refines: the default model's boundaries on real clips (the
sample clips and the benchmark workload's 720p clip), around each boundary the two samples
either side. "verify" is what the service does now (``verified_boundaries``): every candidate
gap decoded in one pass and read, so it covers more gaps than suppression left. CPU
milliseconds of this process, best of five, so the ratio holds on a busy machine.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from app.inference.worker import ModelInput, ModelWorker
from app.model import load_model
from app.postprocess import (
    ReadoutOptions,
    boundary_candidates,
    find_boundaries,
    refinement_windows,
    verified_boundaries,
)
from app.video import SamplingSpec, VideoPolicy, decode, decode_gray_strip, decode_gray_strips
from bench import doc_tables
from bench.models import DEFAULT_MODEL, DEFAULT_STORE
from bench.provenance import provenance
from bench.run import RESULTS, TMP
from bench.stages import timed
from bench.workload import ClipSpec, make_clip
from tests.media import sample_clip

log = logging.getLogger("bench.refine")


def gaps_of(path: Path, worker: ModelWorker) -> tuple[list[tuple[float, float]], Verify]:
    """The gaps refinement decoded before verification (the 2 fps peaks after suppression),
    and what verification works on now (every peak and scene-change keyframe)."""
    decoded = decode(path, VideoPolicy(), SamplingSpec())
    [out] = worker.run_batch([ModelInput(decoded.frames, decoded.times_s)])
    threshold = ReadoutOptions().boundary_threshold
    boundaries = find_boundaries(out.times_s, out.boundary_prob, threshold)
    candidates, windows = boundary_candidates(out.times_s, out.boundary_prob, threshold,
                                              decoded.keyframe_times_s)
    verify = Verify(out.times_s, candidates, windows)
    return [window for _, window in refinement_windows(out.times_s, boundaries)], verify


class Verify:
    """Verification as the pipeline runs it: one pass over every candidate's gap, then each
    gap's frames read (``verified_boundaries``)."""

    def __init__(self, times_s: Any, candidates: Any, windows: Any) -> None:
        self.times_s, self.candidates, self.windows = times_s, candidates, windows

    def __call__(self, path: Path) -> Any:
        strips = decode_gray_strips(path, [w for _, w in self.windows]) if self.windows else []
        return verified_boundaries(self.times_s, self.candidates, self.windows, strips)


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
        gaps, verify = gaps_of(path, worker)
        each = best_cpu_ms(lambda: [decode_gray_strip(path, s, e) for s, e in gaps])  # noqa: B023
        one = best_cpu_ms(lambda: decode_gray_strips(path, gaps))  # noqa: B023
        verified = best_cpu_ms(lambda: verify(path))  # noqa: B023
        results["clips"][path.name] = {"gaps": len(gaps), "one_call_per_gap_cpu_ms": round(each),
                                       "one_pass_cpu_ms": round(one),
                                       "ratio": round(one / each, 2) if each else None,
                                       "verify_gaps": len(verify.windows),
                                       "verify_cpu_ms": round(verified)}
        log.info("%s: %d gaps, %.0f -> %.0f CPU ms; verification: %d gaps, %.0f CPU ms",
                 path.name, len(gaps), each, one, len(verify.windows), verified)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "refine.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    doc_tables.update_from(RESULTS / "refine.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
