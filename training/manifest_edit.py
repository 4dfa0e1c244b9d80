"""Edit a model's manifest.json in place, keeping the rest of it as it was written."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.model.manifest import read_manifest


def edit_manifest(path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Apply ``edit`` to the manifest's own JSON, write it back and check it still loads."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    edit(raw)
    text = json.dumps(raw, indent=2)
    # Short lists of numbers on one line, as the hand-written manifests have them.
    text = re.sub(r"\[\s+([-\d.,\s]+?)\s+\]",
                  lambda m: "[" + ", ".join(m.group(1).split(",")).replace("  ", "").replace(
                      "\n", "").replace(" ,", ",") + "]", text)
    path.write_text(text + "\n", encoding="utf-8")
    read_manifest(path)  # still valid
