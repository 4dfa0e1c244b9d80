"""The benchmark harness's own logic: workload generation, goals, the report files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from bench import report
from bench.loadgen import RunResult
from bench.stages import StageLimit
from bench.workload import ClipSpec, Workload, make_clip


def test_clip_is_real_footage_at_the_asked_shape(tmp_path: Path) -> None:
    path = make_clip(ClipSpec(320, 180, 2.0, first_source=0), tmp_path)
    assert make_clip(ClipSpec(320, 180, 2.0, first_source=0), tmp_path) == path  # cached
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == ("h264", 320, 180)
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert len(frames) == 60
    assert all(f.std() > 20 for f in frames)  # textured, not a flat colour
    assert np.abs(frames[0].astype(int) - frames[30].astype(int)).mean() > 2  # it moves


def _run(system: str, workload: str, c: int, vps: float, p50: float = 1000.0,
         cpu: float = 95.0) -> RunResult:
    elapsed = 100.0
    n = int(vps * elapsed)
    return RunResult(system=system, workload=workload, concurrency=c, requests=n, errors=0,
                     elapsed_s=elapsed, latencies_ms=[p50] * n, batch_sizes=[2] * n,
                     cpu_percent=cpu, peak_rss_mb=900.0,
                     server_timings_ms={"decode_ms": 800.0})


def _stage() -> StageLimit:
    return StageLimit(workload="720p", cores=2, videos=2, frames_per_video=60,
                      frames_decoded_per_video=800, decode_wall_ms=1500, decode_cpu_ms=1500,
                      cnn_ms_per_frame=10.0, best_cnn_chunk=8, transformer_ms_per_video=2.0,
                      best_transformer_batch=8, model_wall_single_ms=700,
                      single_request_ms_per_clip=[2000.0, 2400.0])


@pytest.fixture
def payload() -> dict[str, Any]:
    runs = [_run("ours", "720p", 1, 0.44, p50=2300.0), _run("ours", "720p", 16, 0.8),
            _run("litserve", "720p", 1, 0.4), _run("litserve", "720p", 16, 0.9),
            _run("baseline", "720p", 1, 0.2), _run("baseline", "720p", 16, 0.2)]
    workload = Workload(name="720p", clips=(Path("a.mp4"), Path("b.mp4")),
                        durations_s=(10.0, 30.0), width=1280, height=720)
    return report.build_payload(
        runs=runs, stages={"720p": _stage()}, workloads=[workload],
        machine={"cpu_model": "test", "cores": 2, "python": "3.11", "torch": "x"},
        date="2026-01-01", configs={"ours": "o"}, model={"name": "m", "stand_in": False},
        quick=False, load_avg_1m_at_start=0.2, duration_s=1.0, command="python -m bench.run")


def test_rows_and_ratios(payload: dict[str, Any]) -> None:
    rows = payload["rows"]
    assert isinstance(rows, list)
    top = next(r for r in rows if r["concurrency"] == 16)
    assert top["limit_videos_per_s"] == pytest.approx(2000 / 2102, abs=1e-3)
    assert top["ratio_to_limit"] == pytest.approx(0.8 / (2000 / 2102), abs=1e-3)
    assert top["ratio_to_baseline"] == 4.0
    assert top["avg_batch_size"] == 2.0
    assert top["ratio_to_litserve"] == pytest.approx(0.889, abs=1e-3)
    one = next(r for r in rows if r["concurrency"] == 1)
    assert one["stage_sum_p50_ms"] == 2200.0  # median over the clips as they were sent
    json.dumps(payload)  # what latest.json holds must serialise


def test_goals_say_which_missed_and_why(payload: dict[str, Any]) -> None:
    goals = {(g["goal"], g["concurrency"]): g for g in payload["goals"]}
    assert goals[("throughput >= 0.8 x stage limit", 16)]["met"] is True
    baseline_goal = goals[("throughput >= 5 x naive baseline", 16)]
    assert baseline_goal["met"] is False and baseline_goal["why"]
    litserve_goal = goals[("ahead of LitServe", 16)]
    assert litserve_goal["met"] is False and "LitServe 0.900" in litserve_goal["why"]
    assert goals[("ahead of LitServe", 1)]["met"] is True
    p50 = goals[("p50 at c=1 <= 1.1 x stage sum", 1)]
    assert p50["met"] is True and p50["value"] == pytest.approx(2300 / 2200, abs=1e-3)


def test_report_files(payload: dict[str, Any], tmp_path: Path) -> None:
    text = report.markdown(payload)
    assert "| 720p | 16 | 0.800 |" in text
    assert "**no**" in text
    report.plot(payload, tmp_path / "t.png")
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_streaming_section_compares_ours_with_streaming_off(payload: dict[str, Any]) -> None:
    assert "Streaming decode -> CNN" not in report.markdown(payload)  # no ours-whole runs
    payload["runs"] += [_run("ours-whole", "720p", 1, 0.4, p50=2760.0).summary(),
                        _run("ours-whole", "720p", 16, 0.8).summary()]
    text = report.markdown(payload)
    assert "| 720p | 1 | 1.10 | 2300 | 2760 | 0.83 | 0.91 |" in text
    assert "| 720p | 16 | 1.00 | 1000 | 1000 | 1.00 | 1.00 |" in text


def test_recorded_paths_never_name_this_machine(tmp_path: Path) -> None:
    from app.settings import REPO_ROOT
    from bench.run import _shown

    assert _shown(REPO_ROOT / "model_store") == "model_store"
    assert _shown(tmp_path / "stand_in") == "stand_in"
