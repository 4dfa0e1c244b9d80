"""``python -m tests.jobs.worker_entry worker ...``: the real ``videobert`` CLI, plus a stall.

A job whose ``fps`` option is listed in ``TEST_STALL_FPS`` (comma separated) stalls for two
minutes the first time any worker runs it (a marker file in ``TEST_STALL_DIR`` remembers), so
that a test can catch it running and kill or cancel it; the next worker to take it runs it
normally.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any


def install_stall() -> None:
    # Imported here, not at the top: decode processes (spawned) re-import this module, and
    # must not pull in torch before their memory limit is set.
    from app.inference.pipeline import Pipeline, PipelineOptions, PipelineResult

    stall_fps = {float(v) for v in os.environ.get("TEST_STALL_FPS", "").split(",") if v}
    marks = Path(os.environ.get("TEST_STALL_DIR", "."))
    original = Pipeline.run

    async def run(self: Pipeline, path: Path, options: PipelineOptions,
                  **kwargs: Any) -> PipelineResult:
        if options.fps in stall_fps:
            try:
                os.close(os.open(marks / f"stalled-{options.fps}", os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pass
            else:
                await asyncio.sleep(120)
        return await original(self, path, options, **kwargs)

    Pipeline.run = run  # type: ignore[method-assign]


if __name__ == "__main__":
    from app.cli import main

    install_stall()
    sys.exit(main(sys.argv[1:]))
