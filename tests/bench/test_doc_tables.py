"""Generated docs tables: every committed block is what its committed result file renders, so a
typed figure cannot come back; plus the block replacement itself and the new result files'
renderers and writers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import doc_tables
from bench.doc_tables import BLOCKS, Block, BlockError, read_block, render, replace_block

# Result files whose commands exist but whose measurements have not been committed yet: their
# blocks hold a "no result file yet" note until then. Any other missing file is an error.
NOT_MEASURED_YET = {"cache_faults", "jobs", "soak"}


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_committed_doc_block_is_what_its_result_file_renders(name: str) -> None:
    block = BLOCKS[name]
    if not block.source_path.exists():
        if name in NOT_MEASURED_YET:
            pytest.skip(f"no result file yet: run {block.command}")
        pytest.fail(f"{block.source} is missing: rerun {block.command}")
    committed = read_block(block.doc_path.read_text(encoding="utf-8"), name, block.doc)
    assert committed == render(name), (
        f"{block.doc}'s block {name!r} differs from what {block.source} renders: never edit a "
        "generated table by hand; run `python -m bench.doc_tables`")


def test_every_result_file_is_named_in_the_performance_intro() -> None:
    intro = (BLOCKS["decode"].doc_path.read_text(encoding="utf-8").split("\n## ", 1)[0])
    for block in BLOCKS.values():
        assert f"`{block.source}`" in intro, block.source


DOC = """# Title

Prose before, with 12 ms.
<!-- results:t -->
| old | table |
Source: old
<!-- /results:t -->
Prose after.
<!-- results:other -->
kept
<!-- /results:other -->
"""


def test_a_block_is_replaced_in_place_and_nothing_else_changes() -> None:
    new = replace_block(DOC, "t", "| new |\n|---|\n")
    before, after = DOC.split("<!-- results:t -->\n")[0], DOC.split("<!-- /results:t -->")[1]
    assert new == before + "<!-- results:t -->\n| new |\n|---|\n<!-- /results:t -->" + after
    assert read_block(new, "t") == "| new |\n|---|\n"
    assert read_block(new, "other") == "kept\n"
    assert replace_block(new, "t", "| new |\n|---|") == new  # the trailing newline is supplied


def test_an_empty_body_leaves_the_markers_adjacent() -> None:
    assert "<!-- results:t -->\n<!-- /results:t -->" in replace_block(DOC, "t", "")


def test_a_missing_block_is_an_error_naming_the_markers_to_add() -> None:
    with pytest.raises(BlockError, match=r"docs/x.md has no block 'gone'.*"
                                         r"`<!-- results:gone -->`.*`<!-- /results:gone -->`"):
        replace_block(DOC, "gone", "body", "docs/x.md")


@pytest.mark.parametrize("text", [
    "<!-- results:t -->\nno end\n",
    "no start\n<!-- /results:t -->\n",
    "<!-- results:t -->\n<!-- /results:t -->\n<!-- results:t -->\n<!-- /results:t -->\n",
])
def test_unpaired_or_repeated_markers_are_errors(text: str) -> None:
    with pytest.raises(BlockError, match="exactly one"):
        replace_block(text, "t", "body")


def test_an_end_marker_before_the_start_is_an_error() -> None:
    with pytest.raises(BlockError, match="comes before"):
        replace_block("<!-- /results:t -->\n<!-- results:t -->\n", "t", "body")


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Block:
    """A registered block whose doc and result file live in tmp_path."""
    doc, source = tmp_path / "doc.md", tmp_path / "result.json"
    doc.write_text(DOC, encoding="utf-8")
    block = Block(str(doc), str(source), "python -m bench.example",
                  lambda data: [f"| value |\n|---|\n| {data['value']} |"], "as recorded")
    monkeypatch.setitem(BLOCKS, "t", block)
    return block


def test_update_and_check_follow_the_result_file(scratch: Block) -> None:
    doc = scratch.doc_path
    assert "No result file yet: `python -m bench.example` writes" in render("t")
    scratch.source_path.write_text(json.dumps({"value": 7, "load_avg_1m": 0.5}), "utf-8")
    assert doc_tables.main(["t", "--check"]) == 1
    assert doc_tables.update("t") is True
    assert doc_tables.update("t") is False
    text = doc.read_text(encoding="utf-8")
    assert "| 7 |" in read_block(text, "t")
    assert "(load average 0.5). Rounding: as recorded." in read_block(text, "t")
    assert text.replace(read_block(text, "t"), "") == DOC.replace(read_block(DOC, "t"), "")
    assert doc_tables.main(["t", "--check"]) == 0
    scratch.source_path.write_text(json.dumps({"value": 8}), "utf-8")
    assert doc_tables.update_from(scratch.source_path) == ["t"]


def test_unknown_block_names_are_refused() -> None:
    with pytest.raises(SystemExit):
        doc_tables.main(["no-such-block"])


def _jobs_row(workers: int, decode: int, threads: int, wall_s: float, jobs: int,
              **outcomes: int) -> dict[str, Any]:
    return {"label": "x", "workers": workers, "decode_processes": decode,
            "torch_threads": threads, "wall_s": wall_s, "jobs_per_s": round(jobs / wall_s, 3),
            "outcomes": outcomes or {"succeeded": jobs}, "attempts_per_job": 1.0}


def test_jobs_table_has_a_row_per_workload_and_a_column_per_configuration() -> None:
    common = {"concurrency": 4, "date": "2026-12-01T00:00:00+00:00", "cpu_model": "CPU",
              "cores": 2, "load_avg_1m": 0.4}
    data = {"workloads": {
        "tiny, 96 jobs of 2 s clips": {**common, "rows": [
            _jobs_row(1, 1, 1, 6.62, 96), _jobs_row(2, 1, 1, 4.1, 96)]},
        "videobert-lite0, 48 jobs of 6 s clips": {**common, "rows": [
            _jobs_row(1, 1, 1, 23.5, 48), _jobs_row(1, 2, 2, 20.1, 48)]},
    }}
    lines = doc_tables.jobs_table(data)
    assert lines[0] == ("| workload | 1 worker (1 decode process, 1 torch thread) | 2 workers "
                        "(1 decode process, 1 torch thread each) | 1 worker (2 decode processes, "
                        "2 torch threads) |")
    assert lines[2] == ("| tiny, 96 jobs of 2 s clips | 14.5 jobs/s (6.6 s) | "
                        "23.4 jobs/s (4.1 s) | - |")
    assert lines[3] == ("| videobert-lite0, 48 jobs of 6 s clips | 2.04 jobs/s (23.5 s) | - | "
                        "2.39 jobs/s (20.1 s) |")
    assert any("first attempt" in line for line in lines)
    assert any("load average 0.4" in line for line in lines)

    data["workloads"]["tiny, 96 jobs of 2 s clips"]["rows"][0] = {
        **_jobs_row(1, 1, 1, 6.62, 96, succeeded=95, failed=1), "attempts_per_job": 1.02}
    lines = doc_tables.jobs_table(data)
    assert lines[2].endswith("| 14.5 jobs/s (6.6 s); 1 failed, 1.02 attempts/job | 23.4 jobs/s "
                             "(4.1 s) | - |")
    assert not any("first attempt" in line for line in lines)


def _soak_run(**overrides: Any) -> dict[str, Any]:
    run = {"model": "tiny", "server": "own", "date": "d", "cpu_model": "CPU", "cores": 2,
           "load_avg_1m": 1.0, "requests": 10848, "hangups": 554,
           "statuses": {"200": 5000, "422": 5848}, "errors_5xx": 0, "unexpected": 0,
           "latency_ms": {"ok_p50": 9.9, "ok_p99": 118.0, "refused_p50": 5.0,
                          "refused_p99": 175.0, "shed_p99": None},
           "memory": {"rss_mb_after_warmup": 1137.2, "rss_mb_end": 1151.0, "growth_mb": 13.8,
                      "fds_after_warmup": 22, "fds_end": 18, "uploads_left_end": 0},
           "canary_connections": 0}
    return {**run, **overrides}


def test_soak_table_keeps_the_columns_the_doc_had() -> None:
    shed = _soak_run(requests=29732, statuses={"200": 3000, "429": 26065, "422": 667},
                     latency_ms={"ok_p50": 35.0, "ok_p99": 192.0, "refused_p50": 4.0,
                                 "refused_p99": 174.0, "shed_p99": 55.0})
    lines = doc_tables.soak_table({"runs": {"60 s, 4 clients": _soak_run(),
                                            "30 s, 16 clients, admission 4": shed}})
    assert lines[2] == ("| 60 s, 4 clients | 10,848 + 554 hang-ups | 0 / 0 | 9.9 / 118 ms | "
                        "175 ms | - | 1137 -> 1151 MB | 22 -> 18 |")
    assert lines[3].startswith("| 30 s, 16 clients, admission 4 | 29,732 (26,065 shed) + 554 "
                               "hang-ups | 0 / 0 | 35 / 192 ms | 174 ms | 55 ms |")
    assert "Canary contacts in all runs: 0; temp files left at the end of all runs: 0." in lines


def test_cache_faults_table_marks_the_bounded_wait_and_the_breaker() -> None:
    service = [{"ms": 0.5, "error": None, "hit_bound": False, "breaker": "closed"}] * 2 + [
        {"ms": 0.6, "error": None, "hit_bound": False, "breaker": "open"},
        {"ms": 0.01, "error": None, "hit_bound": False, "breaker": "open"}]
    data = {"calls": 4, "redis_py": "8.1.0", "settings": {"redis_timeout_ms": 50.0},
            "cases": [
                {"client": "service", "fault": "frozen", "healthy_ms": 0.3, "calls": service,
                 "breaker_open_after_call": 3},
                {"client": "defaults", "fault": "frozen", "healthy_ms": 0.2,
                 "calls": [{"ms": 70001.0, "error": None, "hit_bound": True}],
                 "breaker_open_after_call": None}]}
    lines = doc_tables.cache_faults_table(data)
    assert lines[2] == "| service | frozen | 0.30 ms | 0.50 ms | 0.50 ms | 0.60 ms | 0.01 ms | 3 |"
    assert lines[3] == ("| defaults | frozen | 0.20 ms | > 70.0 s (bound) | not run | not run | "
                        "not run | - |")
    assert any("redis-py 8.1.0" in line for line in lines)


def test_jobs_and_soak_results_merge_by_label(tmp_path: Path) -> None:
    from bench import jobs_bench, soak

    path = tmp_path / "jobs.json"
    jobs_bench.record(path, "a", {"rows": [1]})
    jobs_bench.record(path, "b", {"rows": [2]})
    jobs_bench.record(path, "a", {"rows": [3]})
    assert json.loads(path.read_text()) == {"workloads": {"a": {"rows": [3]},
                                                          "b": {"rows": [2]}}}
    path = tmp_path / "soak.json"
    soak.record(path, "60 s, 4 clients", {"requests": 1})
    soak.record(path, "30 s", {"requests": 2})
    assert list(json.loads(path.read_text())["runs"]) == ["60 s, 4 clients", "30 s"]


def test_soak_default_labels_name_what_differs() -> None:
    from bench import soak

    parse = soak.argparse.Namespace
    assert soak.default_label(parse(duration_s=60.0, concurrency=4, max_inflight=None,
                                    slow_clients=0, model="tiny", url=None)) == "60 s, 4 clients"
    assert soak.default_label(parse(duration_s=30.0, concurrency=16, max_inflight=4,
                                    slow_clients=40, model="default", url="http://x")) == (
        "30 s, 16 clients, admission 4, 40 slow clients, default model, external server")
