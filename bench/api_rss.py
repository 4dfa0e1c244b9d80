"""Resident memory of the API process once it is ready, and whether it mapped FFmpeg.

    python -m bench.api_rss                                   # this checkout
    python -m bench.api_rss --tree OTHER_CHECKOUT --label before --tree . --label after

Starts ``videobert serve`` (default model, 2 decode processes) from each source tree in turn,
``--runs`` times, waits for /readyz, and reads the server process's own VmRSS (its decode
children are separate processes and not counted) and whether libavcodec is in its memory map.
Merges the runs into bench/results/api_rss.json under each label and regenerates the
docs/performance.md table made from it (``--no-docs`` skips that).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from app.settings import REPO_ROOT
from bench import doc_tables
from bench.provenance import provenance
from bench.servers import free_port

RESULTS = REPO_ROOT / "bench" / "results" / "api_rss.json"


def measure(tree: Path, timeout_s: float = 300.0) -> dict[str, Any]:
    """One start of the service from ``tree``: its RSS in MB once ready, FFmpeg mapped or not."""
    port = free_port()
    env = {**os.environ, "VIDEOBERT_PORT": str(port), "VIDEOBERT_LOG_LEVEL": "warning",
           "VIDEOBERT_DECODE_WORKERS": "2", "PYTHONPATH": str(tree)}
    proc = subprocess.Popen([sys.executable, "-c", "from app.cli import main; main(['serve'])"],
                            cwd=tree, env=env)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError(f"the service from {tree} was not ready in {timeout_s:.0f} s")
        time.sleep(2.0)  # let the warm-up's allocations settle
        status = Path(f"/proc/{proc.pid}/status").read_text()
        rss_kb = int(next(line for line in status.splitlines()
                          if line.startswith("VmRSS")).split()[1])
        mapped = "libavcodec" in Path(f"/proc/{proc.pid}/maps").read_text()
        return {"rss_mb": round(rss_kb / 1024, 1), "ffmpeg_mapped": mapped}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, action="append",
                        help="a source tree to serve from (repeat; default: this checkout)")
    parser.add_argument("--label", action="append",
                        help="a name for each --tree, in order (default: 'this checkout')")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args(argv)
    trees = args.tree or [REPO_ROOT]
    labels = args.label or ["this checkout"] * len(trees)
    if len(labels) != len(trees):
        parser.error("give one --label per --tree")
    data: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data.setdefault("trees", {})
    for tree, label in zip(trees, labels, strict=True):
        runs = [measure(tree.resolve()) for _ in range(args.runs)]
        data["trees"][label] = {**provenance(), "runs": runs}
        print(label, json.dumps(runs))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    if not args.no_docs:
        doc_tables.update_from(RESULTS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
