"""`videobert models pull NAME`: fetch and verify weights that cannot ship in the repo.

Placeholder catalogue until the clip-model backbones land; see docs/design.md.
"""

from __future__ import annotations

from pathlib import Path


def pull_model(store_dir: Path, name: str) -> int:
    raise SystemExit(f"error: no downloadable model named {name!r} yet")
