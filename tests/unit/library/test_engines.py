"""Both vector engines behind the one interface, on the same cases: the embedded LanceDB and
Qdrant (qdrant-client's local mode, the server's client code path)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from app.library.engine import CueRow, ShotRow, VectorEngine, VideoRow
from app.library.ids import video_id
from app.library.lance import LanceEngine
from app.library.qdrant import QdrantEngine

SPACE = "m-1"


@pytest.fixture(params=["lance", "qdrant-local"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorEngine]:
    made: VectorEngine = (LanceEngine(tmp_path / "lance") if request.param == "lance"
                          else QdrantEngine(f"file:{tmp_path / 'qdrant'}"))
    yield made
    made.close()


def _unit(v: np.ndarray) -> np.ndarray:
    out: np.ndarray = (v / np.linalg.norm(v)).astype(np.float32)
    return out


def _put(engine: VectorEngine, namespace: str, n: int, text: np.ndarray,
         cue: str | None = None, created: float = 0.0) -> str:
    vid = video_id(namespace, f"{n:064x}")
    shots = [ShotRow(vid, i, 2.0 * i, 2.0 * i + 2, 2.0 * i + 1, [f"label {n}"], text[i],
                     _unit(np.ones(4) + i)) for i in range(len(text))]
    cues = [] if cue is None else [CueRow(vid, 0, 0, 0.5, 1.5, cue, "eng", _unit(np.ones(8)))]
    engine.put_video(namespace, VideoRow(vid, SPACE, created, f'{{"n": {n}}}'), shots, cues)
    return vid


def test_put_get_list_search_delete(engine: VectorEngine) -> None:
    rng = np.random.default_rng(0)
    texts = [np.stack([_unit(rng.normal(size=8)) for _ in range(3)]) for _ in range(4)]
    ids = [_put(engine, "a", n, texts[n], created=float(n)) for n in range(4)]
    other = _put(engine, "b", 9, texts[0])
    assert engine.get_video("a", ids[1]) is not None and engine.get_video("b", ids[1]) is None
    assert engine.get_video("a", other) is None  # another namespace's id: as if absent
    page, total = engine.list_videos("a", 2, 0)
    assert total == 4 and [r.video_id for r in page] == [ids[3], ids[2]]  # newest first
    assert [r.video_id for r in engine.list_videos("a", 2, 2)[0]] == [ids[1], ids[0]]
    hits = engine.search("a", SPACE, "text", texts[2][1], 5)
    assert (hits[0].video_id, hits[0].shot_index) == (ids[2], 1)
    assert hits[0].similarity == pytest.approx(1.0, abs=1e-4)
    assert hits[0].labels == ["label 2"] and (hits[0].start_s, hits[0].end_s) == (2.0, 4.0)
    assert {h.video_id for h in engine.search("b", SPACE, "text", texts[2][1], 10)} == {other}
    only = engine.search("a", SPACE, "text", texts[2][1], 10, [ids[0]])
    assert {h.video_id for h in only} == {ids[0]}
    assert engine.search("a", SPACE, "text", texts[2][1], 10, []) == []
    assert engine.search("a", "other-model", "text", texts[2][1], 10) == []
    stored = engine.shot_vectors("a", SPACE, ids[2], "text")
    assert [s.shot_index for s, _ in stored] == [0, 1, 2]
    assert np.allclose(stored[1][1], texts[2][1], atol=1e-5)
    assert engine.delete_video("a", ids[2]) and not engine.delete_video("a", ids[2])
    assert ids[2] not in {h.video_id for h in engine.search("a", SPACE, "text", texts[2][1], 20)}
    assert engine.shot_vectors("a", SPACE, ids[2], "text") == []
    assert engine.list_videos("a", 10, 0)[1] == 3


def test_cues_are_searched_and_replaced(engine: VectorEngine) -> None:
    text = np.stack([_unit(np.arange(8) + 1.0)])
    vid = _put(engine, "a", 1, text, cue="the election is today")
    [hit] = engine.search_cues("a", SPACE, _unit(np.ones(8)), 5)
    assert (hit.video_id, hit.text, hit.start_s, hit.end_s) == (
        vid, "the election is today", 0.5, 1.5)
    assert engine.search_cues("b", SPACE, _unit(np.ones(8)), 5) == []
    _put(engine, "a", 1, text, cue=None)  # indexed again without subtitles
    assert engine.search_cues("a", SPACE, _unit(np.ones(8)), 5) == []
    assert len(engine.search("a", SPACE, "text", text[0], 10)) == 1  # replaced, not doubled
