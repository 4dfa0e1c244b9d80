"""The README's first examples post files that the set-up leaves in samples/."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_sample_the_readme_posts_is_there_after_setup() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"samples/[\w.-]+\.mp4", readme))
    assert "samples/bikes.mp4" in named
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert all(name in makefile for name in named), named  # made by `make setup`
    for name in named:
        path = REPO / name
        assert path.is_file() and path.stat().st_size > 100_000, (
            f"{name} is missing: run `make setup` (the README's set-up)")
        assert path.read_bytes()[4:8] == b"ftyp"  # an MP4
