"""The hostile corpus, generated once per session, and a tiny-model app to throw it at.

Layout of the session folder (the secrets sit next to the upload folder, where a relative
playlist or concat path from an upload would find them):

    <root>/secret.txt, <root>/secret.mp4     must never be read
    <root>/uploads/                          the app's upload folder
    <root>/corpus/                           the generated files (tests/hostile/corpus.py)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from tests.api.conftest import running_app, tiny_settings
from tests.hostile.canary import Canary
from tests.hostile.corpus import TEST_LIMITS, Case, build_corpus, write_secrets
from tests.model_fixtures import make_tiny_store


@dataclass(frozen=True)
class HostileEnv:
    root: Path
    corpus: Path
    uploads: Path
    store: Path
    canary: Canary
    cases: dict[str, Case]


@pytest.fixture(scope="session")
def canary() -> Iterator[Canary]:
    with Canary() as listener:
        yield listener


@pytest.fixture(scope="session")
def hostile_env(tmp_path_factory: pytest.TempPathFactory, canary: Canary) -> HostileEnv:
    root = tmp_path_factory.mktemp("hostile")
    write_secrets(root)
    uploads = root / "uploads"
    uploads.mkdir()
    cases = build_corpus(root / "corpus", canary_port=canary.port, secret_dir=root)
    store = make_tiny_store(root / "store")
    return HostileEnv(root=root, corpus=root / "corpus", uploads=uploads, store=store,
                      canary=canary, cases={c.name: c for c in cases})


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hostile_client(hostile_env: HostileEnv) -> AsyncIterator[httpx.AsyncClient]:
    """One app for a whole module, with the corpus's limits and a 20 s decode deadline."""
    settings = tiny_settings(hostile_env.store, hostile_env.uploads, decode_timeout_s=20.0,
                             **TEST_LIMITS)
    async with running_app(settings) as (_, client):
        yield client
