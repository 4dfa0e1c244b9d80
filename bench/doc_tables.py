"""Every measured table in docs/, generated from the result file that the measuring command wrote.

    python -m bench.doc_tables            # rewrite every block from bench/results/
    python -m bench.doc_tables refine     # one block
    python -m bench.doc_tables --check    # exit 1 and list the blocks that differ

A typed figure drifts: it outlives the code it measured, gets rounded twice, or was never
recorded at all. So each table sits in its doc between two marker lines,

    <!-- results:NAME -->
    ...generated...
    <!-- /results:NAME -->

and ``BLOCKS`` maps NAME to the doc, the result file and the function that renders it. Nothing
between the markers is kept: edit the renderer, not the doc. Under each table a line names the
file, the command that writes it and, where the file records them, its date, machine and load
average. tests/bench/test_doc_tables.py fails when a doc's block differs from what its file
renders. A result file that does not exist yet renders as a note saying which command writes it.

docs/benchmarks.md is generated whole by ``python -m bench.run`` (bench/report.py), not here.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent

Renderer = Callable[[dict[str, Any]], list[str]]


class BlockError(ValueError):
    """A doc's markers for a block are missing, repeated or out of order."""


@dataclass(frozen=True)
class Block:
    """One generated table: where it goes, what it is made from, and who makes that."""

    doc: str  # relative to the repository
    source: str  # the result file, relative to the repository
    command: str  # the command that writes ``source``
    render: Renderer  # the file's JSON -> the markdown lines above the Source line
    rounding: str  # how the figures were rounded, said under the table

    @property
    def source_path(self) -> Path:
        return REPO_ROOT / self.source

    @property
    def doc_path(self) -> Path:
        return REPO_ROOT / self.doc


# --- formatting -----------------------------------------------------------------------------


def _pct(new: float, old: float) -> str:
    """``new`` against ``old`` as a signed whole percent: 438 against 551 is "-21%"."""
    return f"{round((new / old - 1) * 100):+d}%"


def _cores(cores: Any) -> str | None:
    return f"{cores} cores" if cores else None


def provenance_text(data: dict[str, Any]) -> str:
    """"date, CPU, N cores, load average L, the run took T s" from whichever of these fields the
    file has (older writers used other names: ``cpu``, ``machine``, ``load_avg_1m_at_start``)."""
    machine = data.get("machine") or {}
    load = data.get("load_avg_1m", data.get("load_avg_1m_at_start"))
    duration = data.get("duration_s")
    parts = [data.get("date"), data.get("cpu_model") or data.get("cpu") or machine.get("cpu_model"),
             _cores(data.get("cores") or machine.get("cores")),
             None if load is None else f"load average {load}",
             None if duration is None else f"the run took {duration:.0f} s"]
    return ", ".join(str(p) for p in parts if p)


def _table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


# --- docs/performance.md ----------------------------------------------------------------------

NAIVE = "naive: every frame to full-size RGB, torch resize"
EXACT = "exact, every picture"
SKIPPING = "exact + skip unreferenced pictures (service default)"
FAST = "fast: keyframes only"


def _pixels(clip: str) -> int:
    width, height = clip.split(" ", 1)[0].split("x")
    return int(width) * int(height)


def decode_table(data: dict[str, Any]) -> list[str]:
    """fastpaths.json "decode": CPU ms per video for each decoding path, then what the service's
    path decodes (frames, skipped share, threads) so that the prose can point here."""
    clips = sorted(data["decode"].items(), key=lambda kv: _pixels(kv[0]))

    def cpu(paths: dict[str, Any], name: str) -> Any:
        return paths[name]["cpu_ms"] if name in paths else "-"

    rows = []
    for clip, paths in clips:
        frames = paths["frames"]
        size, length = clip.split(" ", 1)
        skipping = cpu(paths, SKIPPING)
        if SKIPPING in paths and EXACT in paths:
            skipping = f"{skipping} ({_pct(paths[SKIPPING]['cpu_ms'], paths[EXACT]['cpu_ms'])})"
        fast = f"{cpu(paths, FAST)} ({frames['distinct_frames_fast']} distinct frames)"
        rows.append([f"{size}, {length} ({frames['sampled']} samples)", cpu(paths, NAIVE),
                     cpu(paths, EXACT), skipping, fast])
    lines = _table(["clip", NAIVE, EXACT, SKIPPING, FAST], rows)

    rows = []
    for clip, paths in clips:
        frames = paths["frames"]
        exact, skipping = frames["decoded_exact"], frames["decoded_skipping"]
        threads = " / ".join(str(cpu(paths, f"exact, {n} slice thread(s)")) for n in (1, 2))
        size, length = clip.split(" ", 1)
        rows.append([f"{size}, {length}", f"{exact} / {skipping}",
                     f"{round((1 - skipping / exact) * 100)}%",
                     "yes" if frames["identical_frames"] else "**no**", threads])
    lines += ["", *_table(["clip", "frames decoded: every picture / skipping unreferenced",
                           "pictures skipped", "frames identical to every-picture decoding",
                           "CPU ms, service path, 1 / 2 slice threads"], rows)]
    scaling = data.get("scaling_ms_per_frame_1080p")
    if scaling:
        lines += ["", "Scaling one 1080p frame to the model's input, CPU ms: "
                  + "; ".join(f"{name} {ms}" for name, ms in scaling.items()) + "."]
    return lines


CHUNK = re.compile(r"^(?P<setting>.*), chunk (?P<chunk>\d+)$")


def cnn_table(data: dict[str, Any]) -> list[str]:
    """fastpaths.json "cnn_ms_per_frame". Settings timed at several chunk sizes share a row
    ("chunk 4 / 8 / 16"), as the doc always showed them; the service's row and the fastest
    figure are bold. Entries that are not per-frame times (no "chunk" in the name: the compile
    time of --compile) go under the table."""
    figures = data["cnn_ms_per_frame"]
    best = min(v for k, v in figures.items() if "chunk" in k)
    groups: dict[str, list[tuple[str, float]]] = {}
    others = []
    for key, value in figures.items():
        match = CHUNK.match(key)
        if match:
            groups.setdefault(match["setting"], []).append((match["chunk"], value))
        elif "chunk" in key:
            groups[key] = [("", value)]
        else:
            others.append(f"- {key}: {value}")
    rows = []
    for setting, chunks in groups.items():
        label = f"**{setting}**" if "(the service)" in setting else setting
        if chunks[0][0]:
            label += f", chunk {' / '.join(c for c, _ in chunks)}"
        values = [f"**{v:.1f}**" if v == best else f"{v:.1f}" for _, v in chunks]
        rows.append([label, " / ".join(values)])
    lines = _table(["setting", "ms/frame"], rows)
    return lines + ([""] + others if others else [])


def transformer_table(data: dict[str, Any]) -> list[str]:
    """fastpaths.json "transformer_ms_per_video": keys "SEQUENCES: METHOD", one row per set of
    sequences, each method with its speed-up over one call per sequence; the best is bold."""
    names = {"loop": "one call each", "padded batch + mask": "one padded batch + mask",
             "two length buckets": "two length groups"}
    rows: dict[str, dict[str, float]] = {}
    for key, ms in data["transformer_ms_per_video"].items():
        sequences, method = key.rsplit(": ", 1)
        rows.setdefault(sequences, {})[method] = ms
    methods = list(dict.fromkeys(m for row in rows.values() for m in row))
    out = []
    for sequences, row in rows.items():
        best = min(row.values())
        cells = []
        for method in methods:
            if method not in row:
                cells.append("-")
                continue
            cell = f"**{row[method]:.2f}**" if row[method] == best else f"{row[method]:.2f}"
            if method != "loop" and "loop" in row:
                cell += f" ({row['loop'] / row[method]:.1f}x)"
            cells.append(cell)
        out.append([sequences, *cells])
    return _table(["sequences", *(names.get(m, m) for m in methods)], out)


def _runs(data: dict[str, Any]) -> dict[tuple[str, str, int], dict[str, Any]]:
    return {(r["system"], r["workload"], r["concurrency"]): r for r in data["runs"]}


def _cpu_per_video(run: dict[str, Any]) -> float:
    return float(run["cpu_percent"]) / max(float(run["videos_per_s"]), 1e-9)


def streaming_table(data: dict[str, Any]) -> list[str]:
    """latest.json: "ours" (frames streamed to the CNN) against "ours-whole" (streaming off),
    measured in the same run, at the lowest and every other concurrency."""
    runs = _runs(data)
    stage_sums = {(r["workload"], r["concurrency"]): r.get("stage_sum_p50_ms")
                  for r in data["rows"]}
    levels = sorted({c for s, _, c in runs if s == "ours-whole"})
    low, high = levels[0], levels[-1]
    rows = []
    for workload in (w["name"] for w in data["workloads"]):
        pairs = {c: (runs[("ours", workload, c)], runs[("ours-whole", workload, c)])
                 for c in levels if ("ours", workload, c) in runs
                 and ("ours-whole", workload, c) in runs}
        if low not in pairs:
            continue
        ours, whole = pairs[low]
        stage_sum = stage_sums.get((workload, low))
        rows.append([
            workload,
            f"{ours['p50_ms']:.0f} / {whole['p50_ms']:.0f} ms "
            f"({ours['p50_ms'] / whole['p50_ms']:.2f})",
            f"{ours['p50_ms'] / stage_sum:.2f}" if stage_sum else "-",
            *(f"{pairs[c][0]['videos_per_s'] / pairs[c][1]['videos_per_s']:.2f}x"
              if c in pairs else "-" for c in levels),
            f"{_cpu_per_video(pairs[high][0]) / _cpu_per_video(pairs[high][1]):.2f}"
            if high in pairs else "-"])
    return _table(["workload", f"p50 at c={low}, streamed / whole",
                   f"p50 at c={low} streamed / stage sum (decode + model alone)",
                   *(f"videos/s streamed / whole, c={c}" for c in levels),
                   f"CPU per video streamed / whole, c={high}"], rows)


def litserve_table(data: dict[str, Any]) -> list[str]:
    """latest.json rows: ours / LitServe videos per second, one column per concurrency."""
    ratios = {(r["workload"], r["concurrency"]): r.get("ratio_to_litserve") for r in data["rows"]}
    levels = sorted({c for _, c in ratios})
    rows = [[w["name"], *("-" if ratios.get((w["name"], c)) is None
                          else f"{ratios[(w['name'], c)]:.2f}" for c in levels)]
            for w in data["workloads"]]
    return _table(["workload", *(f"ours / LitServe, c={c}" for c in levels)], rows)


def cpu_split_table(data: dict[str, Any]) -> list[str]:
    """cpu_split.json: the server's CPU per video by part, next to the stages measured alone.
    The file names threads by id only, so the busiest come first and the doc says what they
    are; the total row gives what the service adds to its two stages."""
    parts = dict(data["server_cpu_ms_per_video"])
    stages = data["stage_cpu_ms_per_video"]
    decode = parts.pop("decode processes")
    threads = sorted(parts.values(), reverse=True)
    total = decode + sum(threads)
    stage_total = stages["decode"] + stages["model"]
    lines = [f"{data['workload']}, c={data['concurrency']}, {data['requests']} requests, "
             f"{data['videos_per_s']} videos/s.", ""]
    lines += _table(["part", "CPU ms per video", "share", "the stage alone, CPU ms per video"], [
        ["decode processes", decode, f"{round(decode / total * 100)}%",
         f"{stages['decode']} (decode)"],
        ["server threads, busiest first",
         " + ".join(str(t) for t in threads) + f" = {sum(threads)}",
         f"{round(sum(threads) / total * 100)}%", f"{stages['model']} (model)"],
        ["all of the server", total, "100%",
         f"{stage_total} (decode + model; the server: {_pct(total, stage_total)})"],
    ])
    return lines


def refine_table(data: dict[str, Any]) -> list[str]:
    """refine.json: CPU ms per video refining every gap, one decoder call per gap against one
    pass. A clip with no predicted cut has nothing to refine: named under the table."""
    rows, idle = [], []
    verifies = any("verify_cpu_ms" in r for r in data["clips"].values())
    for clip, r in data["clips"].items():
        if not r["gaps"] and not r.get("verify_gaps"):
            idle.append(f"`{clip}`")
            continue
        each, one = r["one_call_per_gap_cpu_ms"], r["one_pass_cpu_ms"]
        row: list[Any] = [f"`{clip}`", r["gaps"], each,
                          f"{one} ({_pct(one, each)})" if each else one]
        if verifies:
            row += [r.get("verify_gaps", "-"), r.get("verify_cpu_ms", "-")]
        rows.append(row)
    header = ["clip", "gaps", "one call per gap", "one pass"]
    if verifies:
        header += ["gaps verified", "verification (one pass + reading the frames)"]
    lines = _table(header, rows)
    if idle:
        lines += ["", f"No predicted cut, so nothing to refine: {', '.join(idle)}."]
    return lines


# --- docs/cache.md ----------------------------------------------------------------------------


def cache_table(data: dict[str, Any]) -> list[str]:
    """cache.json: cold request against a cache hit, medians, per backend."""
    labels = {"memory": "memory", "redis": "redis (private redis-server on loopback)"}
    rows = []
    for backend in ("memory", "redis"):
        r = data[backend]
        first = backend == "memory"
        rows.append([labels[backend],
                     f"{data['upload_mb']} MB H.264 (bikes.mp4 looped)" if first else "same",
                     f"{data['sha256_ms']:.1f} ms" if first else "same",
                     f"{r['cold_ms']:.0f} ms", f"{r['hit_ms']:.1f} ms",
                     f"{r['cold_ms'] / r['hit_ms']:.0f}x"])
    repeats = len(data["memory"]["cold_samples_ms"])
    return [*_table(["backend", "upload", "sha256 of it", "cold request", "cache hit",
                     "speed-up"], rows), "", f"Medians of {repeats} requests each."]


def _duration(ms: float) -> str:
    if ms >= 1000:
        return f"{ms / 1000:.1f} s"
    return f"{ms:.1f} ms" if ms >= 10 else f"{ms:.2f} ms"


def cache_faults_table(data: dict[str, Any]) -> list[str]:
    """cache_faults.json: how long each of the first ``calls`` cache reads took once Redis was
    stopped or frozen, for the service's cache and for a client on redis-py's defaults."""
    calls = data["calls"]
    rows = []
    for case in data["cases"]:
        cells = []
        for call in case["calls"]:
            cell = _duration(call["ms"])
            if call.get("hit_bound"):
                cell = f"> {cell} (bound)"
            elif call.get("error"):
                cell += f" ({call['error']})"
            cells.append(cell)
        cells += ["not run"] * (calls - len(cells))
        opened = case.get("breaker_open_after_call")
        rows.append([case["client"], case["fault"], _duration(case["healthy_ms"]), *cells,
                     "-" if opened is None else opened])
    lines = _table(["client", "Redis", "a read while healthy",
                    *(f"call {i}" for i in range(1, calls + 1)),
                    "breaker open after call"], rows)
    settings = data.get("settings")
    if settings:
        lines += ["", f"redis-py {data.get('redis_py', '?')}; the service's cache settings in "
                  "this run: " + ", ".join(f"`{k}` {v}" for k, v in settings.items()) + "."]
    if any(call.get("hit_bound") for case in data["cases"] for call in case["calls"]):
        lines += ["", "A call marked (bound) was still waiting when the script gave up on it "
                  "(`--default-frozen-timeout-s`); the calls after it were not run."]
    return lines


# --- docs/jobs.md and docs/security.md ---------------------------------------------------------


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _config_header(workers: int, decode: int, threads: int) -> str:
    """(2, 1, 1) -> "2 workers (1 decode process, 1 torch thread each)"."""
    return (f"{_count(workers, 'worker', 'workers')} "
            f"({_count(decode, 'decode process', 'decode processes')}, "
            f"{_count(threads, 'torch thread', 'torch threads')}{' each' if workers > 1 else ''})")


def jobs_table(data: dict[str, Any]) -> list[str]:
    """jobs.json: one row per workload, one column per configuration (workers x decode
    processes x torch threads); a cell is jobs per second and the wall time, plus any job that
    did not succeed first time."""
    workloads = data["workloads"]
    configs: dict[tuple[int, int, int], None] = {}
    for entry in workloads.values():
        for row in entry["rows"]:
            configs[(row["workers"], row["decode_processes"], row["torch_threads"])] = None
    rows, notes = [], []
    every_first_time = True
    for label, entry in workloads.items():
        by_config = {(r["workers"], r["decode_processes"], r["torch_threads"]): r
                     for r in entry["rows"]}
        cells = []
        for config in configs:
            r = by_config.get(config)
            if r is None:
                cells.append("-")
                continue
            cell = f"{r['jobs_per_s']:.3g} jobs/s ({r['wall_s']:.1f} s)"
            others = {k: v for k, v in r["outcomes"].items() if k != "succeeded"}
            if others or r["attempts_per_job"] != 1:
                every_first_time = False
                cell += "; " + ", ".join([*(f"{v} {k}" for k, v in sorted(others.items())),
                                          f"{r['attempts_per_job']:.2f} attempts/job"])
            cells.append(cell)
        rows.append([label, *cells])
        notes.append(f"- {label}: {entry['concurrency']} jobs in flight per worker; "
                     f"{provenance_text(entry)}.")
    lines = _table(["workload", *(_config_header(*c) for c in configs)], rows)
    if every_first_time:
        lines += ["", "Every job succeeded on its first attempt in every run (1.00 attempts a "
                  "job)."]
    return lines + ["", *notes]


def _p(value: float | None, unit: str = "", spec: str = "g") -> str:
    return "-" if value is None else f"{value:{spec}}{unit}"


def soak_table(data: dict[str, Any]) -> list[str]:
    """soak.json: one row per run, as bench/soak.py reports it."""
    rows, notes = [], []
    canary = uploads = 0
    for label, run in data["runs"].items():
        lat, mem = run["latency_ms"], run.get("memory") or {}
        shed = sum(n for status, n in run["statuses"].items() if status in ("429", "503"))
        requests = f"{run['requests']:,}" + (f" ({shed:,} shed)" if shed else "")
        rss = ("-" if not mem else f"{_p(mem['rss_mb_after_warmup'], spec='.0f')} -> "
               f"{_p(mem['rss_mb_end'], ' MB', '.0f')}")
        fds = "-" if not mem else f"{_p(mem['fds_after_warmup'])} -> {_p(mem['fds_end'])}"
        rows.append([label, f"{requests} + {run['hangups']:,} hang-ups",
                     f"{run['errors_5xx']} / {run['unexpected']}",
                     f"{_p(lat['ok_p50'])} / {_p(lat['ok_p99'], ' ms')}",
                     _p(lat["refused_p99"], " ms"), _p(lat["shed_p99"], " ms"), rss, fds])
        canary += run.get("canary_connections", 0)
        uploads += mem.get("uploads_left_end", 0)
        where = provenance_text({k: v for k, v in run.items() if k != "duration_s"})
        slow = ""
        if run.get("slow_clients"):
            answers = ", ".join(f"{n} x {status}" for status, n in
                                run["slow_client_answers"].items())
            slow = (f"; {run['slow_clients']} transport-level slow clients (bodies at 10 B/s, "
                    f"endless heads) alongside, answered {answers or 'nothing'}")
        notes.append(f"- {label}: model {run.get('model', '-')}, "
                     f"{run.get('server', 'own')} server{slow}; {where}.")
    lines = _table(["run", "requests", "5xx / unexpected", "p50 / p99 of 200s",
                    "p99 of 4xx answers", "p99 of 429/503 (shed)",
                    "RSS after warm-up -> end", "fds"], rows)
    lines += ["", f"Canary contacts in all runs: {canary}; temp files left at the end of all "
              f"runs: {uploads}.", "", *notes]
    return lines


def label_cost_table(data: dict[str, Any]) -> list[str]:
    """label_cost.json: a classify request's time with and without labels of one's own."""
    rows = [[name, f"{v['median_ms']:.1f} ms", f"{v['extra_ms']:+.1f} ms",
             f"{v['labels_ms']:.1f} ms"] for name, v in data["variants"].items()]
    return _table(["request", "median time", "vs no labels", "timings.labels_ms (median)"],
                  rows) + ["", f"{data['repeats']} rounds on {data['clip']}, the variants "
                           f"interleaved, cache off; {provenance_text(data)}."]


def library_scale_table(data: dict[str, Any]) -> list[str]:
    """library_scale.json: the embedded index's search latency and recall by size."""
    rows = []
    for size in data["sizes"]:
        exact, served = size["exact"], size["indexed"]
        how = "IVF index" if size["vector_index"] else "exact scan (too few rows to index)"
        rows.append([f"{size['vectors']:,}", f"{exact['p50_ms']} / {exact['p99_ms']} ms", how,
                     f"{served['p50_ms']} / {served['p99_ms']} ms",
                     f"{served['recall_at_10']:.3f}", f"{size['ingest_per_s']:,}/s",
                     f"{size['upkeep_s']} s", f"{size['disk_bytes_per_shot']:,} B",
                     f"{size['startup_s']} s"])
    lines = _table(["shot vectors", "exact scan p50 / p99", "after upkeep", "p50 / p99",
                    "recall@10", "ingest", "upkeep (indexing)", "disk per shot",
                    "start-up"], rows)
    http = data.get("http_word_query")
    if http:
        lines += ["", f"A word query end to end over HTTP (`videobert serve`, the text encoder "
                  f"included) on the {http['vectors']:,}-shot library: p50 {http['p50_ms']} ms, "
                  f"p99 {http['p99_ms']} ms."]
    return lines + ["", f"Vectors: the {data['real_shots']} real shots of the sample clips "
                    f"({data['model']['name']} {data['model']['version']}) plus noise of length "
                    f"{data['noise']}; {data['queries']} word queries (the text column, top-10, "
                    "namespace prefilter); recall against exact search by numpy. Start-up: a "
                    "fresh process imports LanceDB, opens the folder and answers one query."]


def library_quality_table(data: dict[str, Any]) -> list[str]:
    """library_quality.json: retrieval quality of word, example and speech queries."""
    def row(name: str, s: dict[str, Any]) -> list[str]:
        return [name, str(s["queries"]), f"{s['recall_at_1']:.2f}", f"{s['recall_at_5']:.2f}",
                f"{s['mrr']:.2f}"]

    word, lexical = data["word"], data["word_lexical_baseline"]
    chance = data["speech"]["chance"]
    rows = [row("words, report items", word["report"]),
            row("words, report items: lexical baseline", lexical["report"]),
            row("words, tune items", word["tune"]),
            row("words, tune items: lexical baseline", lexical["tune"]),
            row("example video (all copies)", data["example"]),
            *[row(f"example: {kind}", s) for kind, s in data["example_by_kind"].items()],
            row("speech (paraphrase of a cue)", data["speech"]),
            ["chance", "", f"{chance['recall_at_1']:.2f}", f"{chance['recall_at_5']:.2f}",
             f"{chance['mrr']:.2f}"]]
    return _table(["queries", "n", "recall@1", "recall@5", "MRR"], rows) + [
        "", f"A library of {data['videos']} real videos (training/data/label_eval_set.json, "
        "carphone_distorted kept out as a query); a video's rank is that of its best hit; "
        f"word query p50 {data['word_query_ms_p50']} ms in-process."]


def slow_clients_table(data: dict[str, Any]) -> list[str]:
    """slow_clients.json: normal clients' latency alone and among hostile transport clients."""
    alone, among = data["normal_alone_ms"], data["normal_with_hostile_ms"]

    def answers(counts: dict[str, int]) -> str:
        return ", ".join(f"{n} x {status}" for status, n in sorted(counts.items())) or "-"

    lines = _table(["normal clients", "p50", "p99", "mean", "statuses"], [
        ["alone", f"{alone['p50']} ms", f"{alone['p99']} ms", f"{alone['mean']} ms",
         answers(data["normal_statuses"]["alone"])],
        [f"among {data['slow_clients']} slow bodies (10 B/s), {data['endless_heads']} "
         "endless heads and malformed multipart", f"{among['p50']} ms", f"{among['p99']} ms",
         f"{among['mean']} ms", answers(data["normal_statuses"]["with_hostile"])],
        ["ratio", f"{data['ratio_p50']:.2f}", f"{data['ratio_p99']:.2f}", "", ""]])
    rss = data["rss_mb"]
    lines += ["", f"What the hostile clients got: slow bodies {answers(data['slow_body_answers'])}"
              f"; endless heads {answers(data['endless_head_answers'])}; malformed multipart "
              f"{answers(data['malformed_answers'])}. 5xx anywhere: {data['errors_5xx']}. "
              f"Server RSS {rss['before']:.0f} MB before, {rss['during']:.0f} MB among them, "
              f"{rss['after']:.0f} MB after; temp files left: {data['uploads_left']}. "
              f"{data['requests']} normal requests each way, one at a time; "
              f"{provenance_text(data)}."]
    return lines


def api_rss_table(data: dict[str, Any]) -> list[str]:
    """api_rss.json: the API process's resident memory once ready, per source tree."""
    rows = []
    for label, tree in data["trees"].items():
        runs = tree["runs"]
        rss = sorted(run["rss_mb"] for run in runs)
        mapped = {run["ffmpeg_mapped"] for run in runs}
        rows.append([label, len(runs), f"{rss[len(rss) // 2]:.0f} ({rss[0]:.0f}-{rss[-1]:.0f})",
                     "yes" if mapped == {True} else "no" if mapped == {False} else "mixed",
                     f"{tree['date']}, load average {tree['load_avg_1m']}"])
    return _table(["source tree", "starts", "RSS MB, median (range)", "FFmpeg mapped",
                   "measured"], rows)


# --- README.md ---------------------------------------------------------------------------------

def readme_speed_table(data: dict[str, Any]) -> list[str]:
    """latest.json, the service alone: per workload its latency alone (c=1), its throughput
    under load (the highest concurrency) and that throughput against the stage limit, the naive
    pipeline and LitServe."""
    rows_by = {(r["workload"], r["concurrency"]): r for r in data["rows"]}
    rows = []
    for workload in (w["name"] for w in data["workloads"]):
        levels = sorted(c for w, c in rows_by if w == workload)
        alone, loaded = rows_by[(workload, levels[0])], rows_by[(workload, levels[-1])]
        litserve = " / ".join(_fmt_ratio(rows_by[(workload, c)].get("ratio_to_litserve"))
                              for c in levels)
        rows.append([workload, f"{alone['p50_ms'] / 1000:.1f} s",
                     f"{loaded['videos_per_s']:.2f} at c={levels[-1]}",
                     _fmt_ratio(loaded.get("ratio_to_limit")),
                     _fmt_ratio(loaded.get("ratio_to_baseline"), 1), litserve])
    levels_all = sorted({c for _, c in rows_by})
    return _table(["workload", "p50 alone", "videos/s under load", "of the stage limit",
                   "x naive pipeline",
                   f"x LitServe at c={'/'.join(str(c) for c in levels_all)}"], rows)


def _fmt_ratio(value: Any, digits: int = 2) -> str:
    return "-" if value is None else f"{float(value):.{digits}f}"


# --- the registry -------------------------------------------------------------------------------

PERF, FASTPATHS = "docs/performance.md", "bench/results/fastpaths.json"
LATEST = "bench/results/latest.json"

BLOCKS: dict[str, Block] = {
    "api_rss": Block(PERF, "bench/results/api_rss.json", "python -m bench.api_rss", api_rss_table,
                     "MB to whole numbers"),
    "readme_speed": Block("README.md", LATEST, "python -m bench.run", readme_speed_table,
                          "p50 to a tenth of a second, videos/s and ratios to two decimals "
                          "(x naive to one)"),
    "decode": Block(PERF, FASTPATHS, "python -m bench.fastpaths", decode_table,
                    "CPU ms as recorded (whole ms); deltas against `exact, every picture` "
                    "and the skipped share rounded to whole percents"),
    "refine": Block(PERF, "bench/results/refine.json", "python -m bench.refine_bench",
                    refine_table, "CPU ms as recorded (whole ms, best of 5); deltas rounded to "
                    "whole percents"),
    "cnn": Block(PERF, FASTPATHS, "python -m bench.fastpaths", cnn_table,
                 "ms rounded to one decimal"),
    "transformer": Block(PERF, FASTPATHS, "python -m bench.fastpaths", transformer_table,
                         "ms as recorded (two decimals); speed-ups over one call each rounded "
                         "to one decimal"),
    "streaming": Block(PERF, LATEST, "python -m bench.run", streaming_table,
                       "p50 rounded to whole ms, ratios to two decimals"),
    "litserve": Block(PERF, LATEST, "python -m bench.run", litserve_table,
                      "ratios rounded to two decimals"),
    "cpu_split": Block(PERF, "bench/results/cpu_split.json", "python -m bench.cpu_split",
                       cpu_split_table, "CPU ms as recorded (whole ms); shares and the "
                       "difference rounded to whole percents"),
    "cache": Block("docs/cache.md", "bench/results/cache.json",
                   "python -m bench.cache_bench --repeats 3", cache_table,
                   "ms rounded as shown, speed-ups to whole numbers"),
    "cache_faults": Block("docs/cache.md", "bench/results/cache_faults.json",
                          "python -m bench.cache_faults", cache_faults_table,
                          "below 10 ms two decimals, below 1 s one decimal, else seconds to "
                          "one decimal"),
    "jobs": Block("docs/jobs.md", "bench/results/jobs.json",
                  "python -m bench.jobs_bench [--real] [--jobs N] [--seconds S]", jobs_table,
                  "jobs/s to three significant figures, wall time to 0.1 s"),
    "label_cost": Block(PERF, "bench/results/label_cost.json", "python -m bench.label_cost",
                        label_cost_table, "ms to one decimal"),
    "library_scale": Block("docs/library.md", "bench/results/library_scale.json",
                           "python -m bench.library_scale", library_scale_table,
                           "ms to 0.1, recall to three decimals, disk to whole bytes"),
    "library_quality": Block("docs/library.md", "bench/results/library_quality.json",
                             "python -m bench.library_quality", library_quality_table,
                             "two decimals"),
    "slow_clients": Block("docs/security.md", "bench/results/slow_clients.json",
                          "python -m bench.slow_clients", slow_clients_table,
                          "ms as recorded (0.1 ms), ratios to two decimals, MB to whole MB"),
    "soak": Block("docs/security.md", "bench/results/soak.json",
                  "python bench/soak.py --duration-s S --concurrency C [--max-inflight N]",
                  soak_table, "latencies as recorded (0.1 ms), memory to whole MB"),
}


# --- blocks in a doc ----------------------------------------------------------------------------


def markers(name: str) -> tuple[str, str]:
    return f"<!-- results:{name} -->", f"<!-- /results:{name} -->"


def _span(text: str, name: str, doc: str = "the doc") -> tuple[list[str], int, int]:
    """The doc's lines and the indices of the block's opening and closing marker lines."""
    lines = text.splitlines(keepends=True)
    begin, end = markers(name)
    opens = [i for i, line in enumerate(lines) if line.strip() == begin]
    closes = [i for i, line in enumerate(lines) if line.strip() == end]
    if not opens and not closes:
        raise BlockError(f"{doc} has no block {name!r}: put a line `{begin}` and a line "
                         f"`{end}` where the table belongs")
    if len(opens) != 1 or len(closes) != 1:
        raise BlockError(f"{doc} must have exactly one `{begin}` line and one `{end}` line "
                         f"(found {len(opens)} and {len(closes)})")
    if closes[0] < opens[0]:
        raise BlockError(f"{doc}: `{end}` comes before `{begin}`")
    return lines, opens[0], closes[0]


def read_block(text: str, name: str, doc: str = "the doc") -> str:
    """What sits between the block's marker lines now."""
    lines, first, last = _span(text, name, doc)
    return "".join(lines[first + 1:last])


def replace_block(text: str, name: str, body: str, doc: str = "the doc") -> str:
    """``text`` with the block's contents replaced by ``body``; the marker lines and everything
    outside them are left byte for byte."""
    lines, first, last = _span(text, name, doc)
    body = body.rstrip("\n") + "\n" if body.strip() else ""
    return "".join(lines[:first + 1]) + body + "".join(lines[last:])


# --- rendering ------------------------------------------------------------------------------------


def render(name: str) -> str:
    """The block's markdown from its committed result file, or, while the file does not exist,
    a note naming the command that writes it."""
    block = BLOCKS[name]
    if not block.source_path.exists():
        return (f"No result file yet: `{block.command}` writes `{block.source}`, then "
                "regenerates this table.\n")
    data = json.loads(block.source_path.read_text(encoding="utf-8"))
    where = provenance_text(data)
    source = (f"Source: `{block.source}`, written by `{block.command}`"
              + (f" ({where})" if where else "") + f". Rounding: {block.rounding}.")
    return "\n".join([*block.render(data), "", source]) + "\n"


def update(name: str) -> bool:
    """Rewrite the block in its doc from its result file; whether the doc changed."""
    block = BLOCKS[name]
    text = block.doc_path.read_text(encoding="utf-8")
    new = replace_block(text, name, render(name), block.doc)
    if new == text:
        return False
    block.doc_path.write_text(new, encoding="utf-8")
    return True


def stale(names: Iterable[str] | None = None) -> list[str]:
    """The blocks whose doc differs from what their result file renders."""
    return [name for name in (names or BLOCKS)
            if read_block(BLOCKS[name].doc_path.read_text(encoding="utf-8"), name,
                          BLOCKS[name].doc) != render(name)]


def write_result(report: dict[str, Any], out: Path, committed: Path) -> None:
    """What a measuring command does with its report: print it, write it to ``out`` and, when
    ``out`` is the committed result file ``committed``, rewrite the docs blocks made from it
    (a trial run with ``--out`` elsewhere leaves the docs alone)."""
    text = json.dumps(report, indent=2) + "\n"
    sys.stdout.write(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    if out.resolve() == committed.resolve():
        update_from(committed)


def update_from(source: Path) -> list[str]:
    """Rewrite every block made from ``source``: what a measuring command calls after writing
    its committed result file, so that the docs never lag behind it. The names it changed."""
    resolved = source.resolve()
    return [name for name, block in BLOCKS.items()
            if block.source_path.resolve() == resolved and update(name)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.doc_tables",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"blocks to rewrite (default: all): {', '.join(BLOCKS)}")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 listing the blocks that differ")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BLOCKS]
    if unknown:
        parser.error(f"unknown block(s) {', '.join(unknown)}; known: {', '.join(BLOCKS)}")
    names = args.names or list(BLOCKS)
    if args.check:
        differ = stale(names)
        for name in differ:
            block = BLOCKS[name]
            sys.stderr.write(f"{block.doc}: block {name!r} differs from {block.source}\n")
        if differ:
            sys.stderr.write("run: python -m bench.doc_tables\n")
        return 1 if differ else 0
    for name in names:
        if update(name):
            sys.stdout.write(f"{BLOCKS[name].doc}: rewrote block {name!r}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
