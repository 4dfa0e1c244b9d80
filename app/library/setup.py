"""Building the library from the settings (the service's start calls this)."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from app.analysis import Analyzer
from app.library.engine import VectorEngine
from app.library.lance import LanceEngine
from app.library.library import Library
from app.library.tokens import PageTokens
from app.metrics import Metrics
from app.settings import Settings

log = logging.getLogger(__name__)


def build_library(settings: Settings, analyzer: Analyzer, metrics: Metrics) -> Library:
    """The library in ``<data_dir>/library`` (or the Qdrant at ``vector_url``); its engine
    opens on first use (the CLI and the job workers never pay for it)."""
    folder = settings.data_dir / "library"
    tokens = PageTokens(settings.page_token_secret.encode() if settings.page_token_secret
                        else lambda: _local_secret(folder))
    url = settings.vector_url

    def open_engine() -> VectorEngine:
        if url:
            from app.library.qdrant import QdrantEngine  # qdrant-client only when chosen

            return QdrantEngine(url, timeout_s=settings.library_timeout_s)
        return LanceEngine(folder)

    return Library(analyzer=analyzer, open_engine=open_engine, tokens=tokens,
                   engine_timeout_s=settings.library_timeout_s, metrics=metrics)


def _local_secret(folder: Path) -> bytes:
    """A random secret kept beside the library, so page tokens survive a restart."""
    path = folder / ".page-token-secret"
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        pass
    value = secrets.token_bytes(32)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(value.hex())
    except OSError as exc:
        # The service still starts and analyses; the library answers 503 index_unavailable.
        log.warning("cannot keep the page token secret in %s (%s); tokens will not survive "
                    "a restart", folder, exc)
    return value
