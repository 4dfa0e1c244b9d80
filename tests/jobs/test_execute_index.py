"""index=true on a job: which process may write the library, and what a job that cannot be
indexed says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.errors import ServiceUnavailable
from app.jobs.execute import analyzer_executor
from app.jobs.records import JobRecord, decode_field, encode_field
from app.settings import Settings


@pytest.mark.parametrize(("url", "shared"), [
    (None, False), ("file:/tmp/qdrant", False), ("http://qdrant:6333", True),
    ("https://vectors.example:6333", True)])
def test_only_a_server_library_is_shared_by_processes(url: str | None, shared: bool) -> None:
    assert Settings(vector_url=url).library_is_shared is shared


async def test_a_worker_without_a_shared_library_fails_the_job_it_cannot_index() -> None:
    class NoAnalysis:
        async def analyze(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("a job to index must not be answered without indexing it")

    async def hook(value: float) -> None:
        return None

    execute = analyzer_executor(NoAnalysis(), timeout_s=10, indexer=None)  # type: ignore[arg-type]
    record = JobRecord(id="j1", task="summarize", cache_key="k", sha256="0" * 64,
                       size_bytes=1, index_namespace="kabc", index_name="a.mp4")
    with pytest.raises(ServiceUnavailable) as caught:
        await execute(record, Path("/nonexistent"), hook)
    assert caught.value.code == "index_unavailable"


def test_the_index_fields_survive_the_job_store() -> None:
    for name, value in (("index_namespace", "kabc"), ("index_name", "a <b>.mp4"),
                        ("index_namespace", None)):
        assert decode_field(name, encode_field(name, value)) == value
