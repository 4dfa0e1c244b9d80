"""The library's own decisions on the real LanceDB engine, with a stand-in for the analysis
(its body is built the way ``index_body`` builds one; the model is not what is tested here)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.analysis import Analyzed, StoredVideo
from app.analysis.bodies import encode_vectors
from app.errors import ServiceUnavailable
from app.inference.pipeline import PipelineOptions
from app.library import Library, SearchQuery
from app.library.ids import video_id
from app.library.lance import LanceEngine
from app.library.tokens import PageTokens
from app.metrics import Metrics

MODEL = {"name": "m", "version": "1"}


def _body(seed: int, shots: int = 3) -> dict[str, Any]:
    rng = np.random.default_rng(seed)

    def unit(d: int) -> np.ndarray:
        v = rng.normal(size=(shots, d)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    spans = [{"index": i, "start_s": 2.0 * i, "end_s": 2.0 * i + 2} for i in range(shots)]
    return {"model": MODEL, "video": {"duration_s": 2.0 * shots}, "video_labels": [],
            "shots": spans, "keyframes": [], "highlights": [],
            "shot_labels": [{**s, "labels": [{"label": f"class {seed}"}]} for s in spans],
            "shot_vectors": {"text": encode_vectors(unit(8)), "visual": encode_vectors(unit(4))}}


class SlowAnalyzer:
    """Answers an index body once ``release`` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = asyncio.Event()

    def model_identity(self, model: str | None) -> dict[str, str]:
        return MODEL

    async def analyze(self, video: StoredVideo, task: str, options: PipelineOptions,
                      **_: Any) -> Analyzed:
        self.started.set()
        await self.release.wait()
        return Analyzed(_body(int(video.sha256[:2], 16)), False)

    async def encode_texts(self, texts: list[str], model: str | None) -> np.ndarray:
        return np.ones((len(texts), 8), np.float32) / np.sqrt(8)


def _library(engine_factory: Any, analyzer: Any, timeout_s: float = 5.0) -> Library:
    return Library(analyzer=analyzer, open_engine=engine_factory,
                   tokens=PageTokens(b"s" * 32), engine_timeout_s=timeout_s, metrics=Metrics())


def _video(tmp_path: Path, sha: str) -> StoredVideo:
    return StoredVideo(path=tmp_path / "v", sha256=sha, size_bytes=1, is_temporary=False)


async def test_a_delete_during_indexing_leaves_no_vectors(tmp_path: Path) -> None:
    engine = LanceEngine(tmp_path / "lib")
    analyzer = SlowAnalyzer()
    library = _library(lambda: engine, analyzer)
    video = _video(tmp_path, "10" + "a" * 62)
    adding = asyncio.create_task(library.add("ns", video, PipelineOptions(), request_id="r",
                                             timeout_s=5))
    await analyzer.started.wait()
    vid = video_id("ns", video.sha256)
    await library.delete("ns", vid)  # nothing stored yet: not a 404, the indexing is stopped
    analyzer.release.set()
    added = await adding
    assert added.status == "deleted"
    assert engine.get_video("ns", vid) is None
    assert engine.search("ns", "m-1", "visual", np.ones(4, np.float32) / 2, 10) == []
    # Indexed again later, it is stored as usual.
    again = await library.add("ns", video, PipelineOptions(), request_id="r", timeout_s=5)
    assert again.status == "indexed" and engine.get_video("ns", vid) is not None


async def test_a_stuck_engine_answers_503_in_bounded_time(tmp_path: Path) -> None:
    real = LanceEngine(tmp_path / "lib")
    unblock = threading.Event()

    class Stuck:
        def __getattr__(self, name: str) -> Any:
            def call(*args: Any) -> Any:
                unblock.wait(30)
                return getattr(real, name)(*args)
            return call

    analyzer = SlowAnalyzer()
    library = _library(Stuck, analyzer, timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as caught:
        await library.search("ns", SearchQuery(text="a bicycle"), request_id="r", timeout_s=5)
    assert caught.value.code == "index_unavailable"
    assert time.monotonic() - started < 5
    unblock.set()


def test_maintenance_indexes_a_grown_table_and_search_still_finds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.library import lance
    from app.library.engine import ShotRow, VideoRow

    monkeypatch.setattr(lance, "ANN_MIN_ROWS", 1000)
    engine = LanceEngine(tmp_path / "lib")
    rng = np.random.default_rng(0)
    text = rng.normal(size=(1200, 8)).astype(np.float32)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    for v in range(120):
        vid = video_id("ns", f"{v:064x}")
        shots = [ShotRow(vid, i, float(i), i + 1.0, i + 0.5, ["x"], text[v * 10 + i],
                         np.ones(4, np.float32) / 2) for i in range(10)]
        engine.put_video("ns", VideoRow(vid, "m-1", float(v), "{}"), shots, [])
    assert engine.needs_maintenance()
    done = engine.maintain()
    assert any(step.startswith("indexed shots__m_1.text") for step in done), done
    assert not engine.needs_maintenance()
    hits = engine.search("ns", "m-1", "text", text[555], 5)
    assert (hits[0].video_id, hits[0].shot_index) == (video_id("ns", f"{55:064x}"), 5)
    assert engine.search("other", "m-1", "text", text[555], 5) == []
    # Deleting after indexing removes the vectors from the index's answers too.
    engine.delete_video("ns", video_id("ns", f"{55:064x}"))
    assert video_id("ns", f"{55:064x}") not in {
        h.video_id for h in engine.search("ns", "m-1", "text", text[555], 20)}
