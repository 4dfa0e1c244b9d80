"""Sections of docs/model-card.md that belong to one command each, between marker lines."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def write_section(card: Path, begin: str, end: str, heading: str, lines: Sequence[str]) -> None:
    """Replace what lies between ``begin`` and ``end`` with ``lines``; a card without the
    markers gets a new ``## heading`` section at its end."""
    block = "\n".join([begin, *lines, end])
    text = card.read_text(encoding="utf-8") if card.exists() else ""
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + f"\n\n## {heading}\n\n" + block + "\n"
    card.write_text(text, encoding="utf-8")
