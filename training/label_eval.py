"""Label quality on a labelled set written down before tuning (training/data/label_eval_set.json).

`videobert evaluate-labels` (this module's ``main``) measures, on real clips and real photos
made into clips:
- ImageNet labels: hit@1 / hit@5 of the video's top labels against the acceptable labels, per
  video and per labelled shot, for each way of framing a 16:9 picture into the CNN's 224 px
  square (what the service does, and the alternatives);
- labels the user chooses (ConSE, ``app/postprocess/zero_shot.py``): top-1 / top-3 among every
  item's class, each phrased three ways, against chance and against "the query's nearest
  ImageNet label, looked up in the video's top 5";
- the ``genres`` label set: top-1 / top-3 on the items that have a genre.
Each table is split into the ``tune`` items (settings may be chosen on them) and the
``report`` items (only ever reported). The tables go into docs/model-card.md between
``<!-- labels:begin -->`` and ``<!-- labels:end -->``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F

from app.model import LoadedModel, load_model
from app.model.videobert import resize_and_crop
from app.postprocess.hierarchy import Hierarchy
from app.postprocess.labels import label_scores, shot_label_scores, top_labels, video_label_scores
from app.postprocess.types import Label, ReadoutOptions, Shot
from app.postprocess.zero_shot import ZeroShotOptions, custom_labels, label_query
from training import sources
from training.card_sections import write_section
from training.videos import write_video

logger = logging.getLogger("label_eval")
REPO = Path(__file__).resolve().parent.parent
EVAL_SET = REPO / "training" / "data" / "label_eval_set.json"
SAMPLE_FPS = 2.0
STILL_CLIP_S = 4.0
STILL_SIZE = (480, 270)  # 16:9, as most video is
BEGIN, END = "<!-- labels:begin -->", "<!-- labels:end -->"


@dataclass
class Item:
    name: str
    split: str
    klass: str
    genre: str | None
    imagenet: set[str]
    shots: list[tuple[float, float, set[str]]]
    source: str


def load_set(path: Path = EVAL_SET) -> tuple[list[Item], dict[str, list[str]]]:
    raw = json.loads(path.read_text(encoding="utf-8"))

    def expand(names: Sequence[str]) -> set[str]:
        out: set[str] = set()
        for name in names:
            out |= set(raw[name[1:]]) if name.startswith("@") else {name}
        return out

    items = [Item(name=i["name"], split=i["split"], klass=i["class"], genre=i["genre"],
                  imagenet=expand(i["imagenet"]),
                  shots=[(s, e, expand(names)) for s, e, names in i.get("shots", [])],
                  source=i["source"]) for i in raw["items"]]
    return items, raw["classes"]


# --- the videos ----------------------------------------------------------------------------------

def _still(source: str) -> np.ndarray:
    kind, _, name = source.partition(":")
    if kind == "skimage":
        import skimage

        folder = Path(skimage.__file__).parent / "data"
    else:
        import matplotlib

        folder = Path(matplotlib.get_data_path()) / "sample_data"
    from PIL import Image

    image = Image.open(folder / name).convert("RGB")
    return np.asarray(image)


def still_clip(photo: np.ndarray, path: Path) -> Path:
    """A photo filling a 16:9 frame (cover, no bars) with a slow 10 % zoom over 4 s."""
    from PIL import Image

    width, height = STILL_SIZE
    picture = Image.fromarray(photo)
    frames = []
    count = round(STILL_CLIP_S * 25)
    for k in range(count):
        zoom = 1.0 + 0.1 * k / count
        scale = max(width / picture.width, height / picture.height) * zoom
        w, h = round(picture.width * scale), round(picture.height * scale)
        big = picture.resize((w, h), Image.Resampling.BILINEAR)
        left, top = (w - width) // 2, (h - height) // 2
        frames.append(np.asarray(big.crop((left, top, left + width, top + height))))
    write_video(path, frames, 25)
    return path


def item_video(item: Item, folder: Path) -> Path:
    kind, _, rest = item.source.partition(":")
    if kind == "clip":
        return sources.clips_dir() / rest
    return still_clip(_still(rest), folder / f"{item.name}.mp4")


def sampled_frames(path: Path, fps: float = SAMPLE_FPS) -> tuple[np.ndarray, list[np.ndarray]]:
    """Full frames (RGB, as displayed) at ``fps``, each the first frame at or after its time."""
    times: list[float] = []
    frames: list[np.ndarray] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        next_t = 0.0
        for frame in container.decode(stream):
            t = float(frame.time or 0.0)
            if t + 1e-6 >= next_t:
                times.append(t)
                frames.append(frame.to_ndarray(format="rgb24"))
                next_t += 1.0 / fps
    return np.array(times), frames


# --- framing a frame into the CNN's square -------------------------------------------------------

def _resized(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)


def _crops(x: torch.Tensor, crop: int, count: int) -> list[torch.Tensor]:
    """``count`` squares of the short side, spread evenly along the long side."""
    h, w = x.shape[-2:]
    scale = crop / min(h, w)
    x = _resized(x, (max(crop, round(h * scale)), max(crop, round(w * scale))))
    h, w = x.shape[-2:]
    if count == 1:
        offsets = [((h - crop) // 2, (w - crop) // 2)]
    elif w >= h:
        offsets = [((h - crop) // 2, round(o)) for o in np.linspace(0, w - crop, count)]
    else:
        offsets = [(round(o), (w - crop) // 2) for o in np.linspace(0, h - crop, count)]
    return [x[:, :, t:t + crop, left:left + crop] for t, left in offsets]


def _framing_squash(x: torch.Tensor, crop: int) -> list[torch.Tensor]:
    return [_resized(x, (crop, crop))]


def _framing_letterbox(x: torch.Tensor, crop: int) -> list[torch.Tensor]:
    h, w = x.shape[-2:]
    scale = crop / max(h, w)
    small = _resized(x, (max(1, round(h * scale)), max(1, round(w * scale))))
    out = torch.full((x.shape[0], 3, crop, crop), 127.0)
    top, left = (crop - small.shape[-2]) // 2, (crop - small.shape[-1]) // 2
    out[:, :, top:top + small.shape[-2], left:left + small.shape[-1]] = small
    return [out]


FRAMINGS: dict[str, Callable[[torch.Tensor, int], list[torch.Tensor]]] = {
    # What the service does (app.video decodes to short side 256, then crops the centre).
    "centre crop of short side 256 (the service)": lambda x, c: [resize_and_crop(x, 256, c)],
    "centre crop of short side 224": lambda x, c: _crops(x, c, 1),
    "whole frame squashed to a square": _framing_squash,
    "whole frame letterboxed": _framing_letterbox,
    "2 crops across the frame, probabilities averaged": lambda x, c: _crops(x, c, 2),
    "3 crops across the frame, probabilities averaged": lambda x, c: _crops(x, c, 3),
}


@torch.inference_mode()
def frame_probs(loaded: LoadedModel, frames: list[np.ndarray], framing: str
                ) -> tuple[np.ndarray, float]:
    """(N, C) class probabilities per frame under one framing, and the CNN ms per frame."""
    model = loaded.model
    crop = loaded.manifest.input.crop
    x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float()
    views = FRAMINGS[framing](x, crop)
    started = time.perf_counter()
    probs = torch.zeros((x.shape[0], len(loaded.labels)))
    for view in views:
        normalised = (view - model.pixel_mean) / model.pixel_std
        _, logits = model.encode_frames(normalised.contiguous())
        probs += torch.softmax(logits.float(), dim=1)
    ms = (time.perf_counter() - started) * 1000 / len(frames)
    return (probs / len(views)).numpy(), ms


# --- scoring -------------------------------------------------------------------------------------

def _shots(times: np.ndarray, spans: Sequence[tuple[float, float]]) -> list[Shot]:
    shots = []
    for k, (start, end) in enumerate(spans):
        inside = [i for i, t in enumerate(times.tolist()) if start - 1e-6 <= t < end]
        shots.append(Shot(index=k, start_s=start, end_s=end, sample_indices=inside))
    return [s for s in shots if s.sample_indices]


def _hits(scores: np.ndarray, labels: list[str], accept: set[str]) -> tuple[int, int]:
    order = np.argsort(-scores, kind="stable")[:5]
    names = [labels[i] for i in order.tolist()]
    return int(names[0] in accept), int(any(n in accept for n in names))


@dataclass
class ItemRun:
    item: Item
    times: np.ndarray
    probs: np.ndarray
    shot_scores: np.ndarray  # per labelled shot (or the one whole-video shot)
    video_scores: np.ndarray
    shots: list[Shot]


def run_item(loaded: LoadedModel, item: Item, path: Path, framing: str) -> tuple[ItemRun, float]:
    times, frames = sampled_frames(path)
    probs, ms = frame_probs(loaded, frames, framing)
    return scored_run(item, times, probs), ms


def scored_run(item: Item, times: np.ndarray, probs: np.ndarray) -> ItemRun:
    """One item's frame probabilities scored per labelled shot (or the whole video) and for
    the video, as the service aggregates them."""
    end = float(times[-1]) + 1.0 / SAMPLE_FPS
    shots = _shots(times, [(s, e) for s, e, _ in item.shots] or [(0.0, end)])
    shot_scores = shot_label_scores(probs, shots)
    return ItemRun(item, times, probs, shot_scores, video_label_scores(shot_scores, shots),
                   shots)


def category_hits(runs: Sequence[ItemRun], labels: list[str], hierarchy: Hierarchy,
                  min_confidence: float) -> dict[str, dict[str, list[float]]]:
    """Per split, per answer ("classes": the confident classes only; "categories": with the
    categories, as the service answers), over the items with acceptable ImageNet labels:
    [n, answered, hit@1, hit@5, top answer or its parent right, classes the top answer spans].
    A category is right when one of its classes is acceptable: coarser, but true."""
    out: dict[str, dict[str, list[float]]] = {}

    def right(label: Label, accept: set[str]) -> bool:
        if label.kind == "class":
            return label.label in accept
        column = hierarchy.names.index(label.label)
        return any(labels[c] in accept for c in np.flatnonzero(hierarchy.members[:, column]))

    def parent_right(label: Label, accept: set[str]) -> bool:
        if right(label, accept):
            return True
        return label.parent is not None and right(
            Label(label.parent.label, -1, label.parent.score, kind="category"), accept)

    for run in runs:
        if not run.item.imagenet:
            continue
        accept = run.item.imagenet
        classes = top_labels(run.video_scores, labels, 5, min_confidence)
        _, video_cats = label_scores(run.probs, run.shots, hierarchy.category_probs(run.probs))
        answers = {"classes": hierarchy.with_parents(classes, video_cats),
                   "categories": hierarchy.specific_labels(classes, video_cats, 5,
                                                           min_confidence)}
        for name, answer in answers.items():
            row = out.setdefault(run.item.split, {}).setdefault(name, [0.0] * 6)
            top = answer[0] if answer else None
            spans = 0.0 if top is None else 1.0 if top.kind == "class" else float(
                hierarchy.members[:, hierarchy.names.index(top.label)].sum())
            for k, value in enumerate((1, top is not None, top is not None and right(top, accept),
                                       any(right(lb, accept) for lb in answer),
                                       top is not None and parent_right(top, accept), spans)):
                row[k] += float(value)
    return out


def imagenet_hits(runs: Sequence[ItemRun], labels: list[str]
                  ) -> dict[str, dict[str, tuple[int, int, int]]]:
    """Per split: video (hit@1, hit@5, n) and shot (hit@1, hit@5, n), items with acceptable
    labels only."""
    out: dict[str, dict[str, list[int]]] = {}
    for run in runs:
        if not run.item.imagenet:
            continue
        split = out.setdefault(run.item.split, {"video": [0, 0, 0], "shot": [0, 0, 0]})
        h1, h5 = _hits(run.video_scores, labels, run.item.imagenet)
        split["video"] = [split["video"][0] + h1, split["video"][1] + h5, split["video"][2] + 1]
        for (_, _, accept), row in zip(run.item.shots, run.shot_scores, strict=False):
            h1, h5 = _hits(row, labels, accept)
            split["shot"] = [split["shot"][0] + h1, split["shot"][1] + h5, split["shot"][2] + 1]
    return {s: {k: (v[0], v[1], v[2]) for k, v in d.items()} for s, d in out.items()}


def _rank_of(scores: np.ndarray, right: int) -> float:
    """Expected 0-based rank of ``right`` when ties are broken at random."""
    above = float((scores > scores[right]).sum())
    tied = float((scores == scores[right]).sum()) - 1.0
    return above + tied / 2.0


def _topk_share(ranks: Sequence[float], k: int) -> float:
    """Share of queries whose right answer is in the top k, ties counted by expectation."""
    return float(np.mean([min(1.0, max(0.0, k - r)) for r in ranks]))


def zero_shot_ranks(runs: Sequence[ItemRun], phrasings: dict[str, list[str]],
                    encode: Callable[[list[str]], np.ndarray], class_vectors: np.ndarray,
                    class_names: list[str], options: ZeroShotOptions, prompt: str = "{}"
                    ) -> dict[str, dict[str, list[float]]]:
    """Per split, per method, the rank of each item's class among all classes, for every
    phrasing variant (ConSE, and the nearest-ImageNet-label baseline)."""
    classes = list(phrasings)
    variants = min(len(v) for v in phrasings.values())
    out: dict[str, dict[str, list[float]]] = {}
    for v in range(variants):
        texts = [prompt.format(phrasings[c][v]) for c in classes]
        vectors = encode(texts)
        query = label_query(texts, vectors, class_vectors, options.hub_k)
        nearest = (vectors @ class_vectors.T).argmax(axis=1)  # the baseline's label per query
        for run in runs:
            if run.item.klass not in classes:
                continue
            right = classes.index(run.item.klass)
            answer = custom_labels(run.video_scores[None], class_vectors, class_names, query,
                                   options)[0]
            by_text = {a.label: a.probability for a in answer}
            conse = np.array([by_text[t] for t in texts])
            top5 = set(np.argsort(-run.video_scores, kind="stable")[:5].tolist())
            baseline = np.array([run.video_scores[c] if c in top5 else 0.0
                                 for c in nearest.tolist()])
            split = out.setdefault(run.item.split, {"conse": [], "nearest": []})
            split["conse"].append(_rank_of(conse, right))
            split["nearest"].append(_rank_of(baseline, right))
    return out


def genre_ranks(runs: Sequence[ItemRun], genres: list[str],
                encode: Callable[[list[str]], np.ndarray], class_vectors: np.ndarray,
                class_names: list[str], options: ZeroShotOptions,
                texts: list[str] | None = None) -> dict[str, list[float]]:
    """Per split, the rank of each item's genre; ``texts`` are what is embedded for each genre
    (its description in the label set), ``genres`` its name."""
    vectors = encode(texts or genres)
    query = label_query(genres, vectors, class_vectors, options.hub_k)
    out: dict[str, list[float]] = {}
    for run in runs:
        if run.item.genre is None:
            continue
        answer = custom_labels(run.video_scores[None], class_vectors, class_names, query,
                               options)[0]
        by_text = {a.label: a.probability for a in answer}
        scores = np.array([by_text[g] for g in genres])
        out.setdefault(run.item.split, []).append(_rank_of(scores, genres.index(run.item.genre)))
    return out


# --- the report ----------------------------------------------------------------------------------

def _pct(hits: int, n: int) -> str:
    return f"{hits}/{n} ({100 * hits / n:.0f} %)" if n else "-"


def _share(ranks: Sequence[float], k: int) -> str:
    return f"{100 * _topk_share(ranks, k):.0f} %" if ranks else "-"


def encoder_cost(loaded: LoadedModel, labels: Sequence[str]) -> dict[str, float]:
    """Extra ms to embed 8 and 64 new labels, and again from the cache; the encoder's load
    time and the RSS it adds."""
    import psutil

    from app.model.files import verified_weights
    from app.model.text_encoder import load_text_encoder

    spec = loaded.manifest.text_encoder
    assert spec is not None
    process = psutil.Process()
    before = process.memory_info().rss
    started = time.perf_counter()
    encoder = load_text_encoder(verified_weights(spec.weights, loaded.folder, "text encoder"),
                                spec.max_tokens)
    out = {"load_s": time.perf_counter() - started,
           "rss_mb": (process.memory_info().rss - before) / 2**20}
    encoder.encode(["warm-up"])
    for n in (8, 64):
        texts = [f"{labels[i]} seen in a video" for i in range(n)]
        started = time.perf_counter()
        encoder.encode(texts)
        out[f"ms_{n}"] = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        encoder.encode(texts)
        out[f"ms_{n}_cached"] = (time.perf_counter() - started) * 1000
    return out


def category_table(runs: Sequence[ItemRun], loaded: LoadedModel) -> list[str]:
    """The model card's table of video labels without and with the WordNet categories, at
    the service's min_confidence and at stricter ones."""
    if loaded.categories is None:
        return []
    hierarchy = Hierarchy.from_categories(len(loaded.labels), loaded.categories)
    default = ReadoutOptions().min_confidence
    lines = ["", "### Categories above the classes (WordNet)", "",
             f"The video's labels without and with the {len(hierarchy.names)} WordNet "
             "categories (`label_hierarchy.json`): a category answers when none of its classes "
             "is confident but together they are, and every label names its parent. A category "
             "counts as right when one of its classes is acceptable (coarser, but true); "
             "'spans' is how many classes the top answer covers on average (1 = as specific as "
             f"a class). {default} is the service's default min_confidence; the stricter ones "
             "are what a caller who wants only sure labels sets.", "",
             "| min_confidence | split | answer | answered | hit@1 | hit@5 | top answer or its "
             "parent right | spans |", "|---|---|---|---|---|---|---|---|"]
    for threshold in (default, 0.2, 0.3, 0.5):
        found = category_hits(runs, loaded.labels, hierarchy, threshold)
        for split in ("report", "tune"):
            for name, title in (("classes", "classes only (before)"),
                                ("categories", "with categories (the service)")):
                n, answered, h1, h5, parent, spans = found.get(split, {}).get(name, [0.0] * 6)
                lines.append(f"| {threshold} | {split} | {title} | "
                             f"{_pct(int(answered), int(n))} | {_pct(int(h1), int(n))} | "
                             f"{_pct(int(h5), int(n))} | {_pct(int(parent), int(n))} | "
                             f"{spans / answered if answered else 0:.1f} |")
    return lines


def report(loaded: LoadedModel, folder: Path) -> list[str]:
    text = loaded.text
    if text is None:
        raise SystemExit(f"{loaded.name} has no text encoder")
    items, phrasings = load_set()
    paths = {item.name: item_video(item, folder) for item in items}
    by_framing: dict[str, tuple[list[ItemRun], float]] = {}
    for framing in FRAMINGS:
        runs, costs = [], []
        for item in items:
            run, ms = run_item(loaded, item, paths[item.name], framing)
            runs.append(run)
            costs.append(ms)
        by_framing[framing] = runs, float(np.mean(costs))
        logger.info("framing %s done", framing)
    service = next(iter(FRAMINGS))
    runs = by_framing[service][0]

    lines = ["### ImageNet labels: how the frame is framed", "",
             f"{len(items)} items ({sum(i.split == 'tune' for i in items)} tune, "
             f"{sum(i.split == 'report' for i in items)} report), "
             "hit@k = an acceptable label among the video's (or the labelled shot's) top k. "
             "CNN ms per frame on this machine, fp32.", "",
             "| framing | video hit@1 (report) | video hit@5 (report) | shot hit@1 | shot hit@5 "
             "| video hit@1 (tune) | video hit@5 (tune) | CNN ms/frame |",
             "|---|---|---|---|---|---|---|---|"]
    for framing, (framed_runs, ms) in by_framing.items():
        hits = imagenet_hits(framed_runs, loaded.labels)
        r, t = hits.get("report", {}), hits.get("tune", {})
        rv, rs, tv = r.get("video", (0, 0, 0)), r.get("shot", (0, 0, 0)), t.get("video",
                                                                                (0, 0, 0))
        lines.append(f"| {framing} | {_pct(rv[0], rv[2])} | {_pct(rv[1], rv[2])} | "
                     f"{_pct(rs[0], rs[2])} | {_pct(rs[1], rs[2])} | {_pct(tv[0], tv[2])} | "
                     f"{_pct(tv[1], tv[2])} | {ms:.1f} |")

    lines += category_table(runs, loaded)

    def encode(texts: list[str]) -> np.ndarray:
        return text.encode(texts).vectors.astype(np.float64)

    spec = text.zero_shot
    chosen = ZeroShotOptions(**spec.model_dump())
    plain = dataclasses.replace(chosen, hub_weight=0.0)
    n_classes = len(phrasings)
    ranked = {"ConSE, hubness-corrected (the service)": zero_shot_ranks(
        runs, phrasings, encode, text.class_vectors, loaded.labels, chosen),
              "ConSE, plain": zero_shot_ranks(runs, phrasings, encode, text.class_vectors,
                                             loaded.labels, plain)}
    lines += ["", "### Labels you name (zero-shot)", "",
              f"Each item's class among all {n_classes} classes, each phrased 3 ways "
              f"({len(items) * 3} queries). Settings: mix {spec.mix} classes, hubness weight "
              f"{spec.hub_weight} over the {spec.hub_k} nearest class names, chosen on the "
              "tune items.", "",
              "| method | top-1 (report) | top-3 (report) | top-1 (tune) | top-3 (tune) |",
              "|---|---|---|---|---|"]
    for name, result in ranked.items():
        r, t = result.get("report", {}).get("conse", []), result.get("tune", {}).get("conse", [])
        lines.append(f"| {name} | {_share(r, 1)} | {_share(r, 3)} | {_share(t, 1)} | "
                     f"{_share(t, 3)} |")
    base = ranked["ConSE, plain"]
    r, t = base.get("report", {}).get("nearest", []), base.get("tune", {}).get("nearest", [])
    lines.append(f"| baseline: the query's nearest ImageNet label, in the video's top 5 | "
                 f"{_share(r, 1)} | {_share(r, 3)} | {_share(t, 1)} | {_share(t, 3)} |")
    lines.append(f"| chance | {100 / n_classes:.0f} % | {300 / n_classes:.0f} % | "
                 f"{100 / n_classes:.0f} % | {300 / n_classes:.0f} % |")

    genres = text.label_set("genres")
    with_text = genre_ranks(runs, genres.labels, encode, text.class_vectors, loaded.labels,
                            chosen, genres.texts)
    names_only = genre_ranks(runs, genres.labels, encode, text.class_vectors, loaded.labels,
                             chosen)
    n_genres = len(genres.labels)
    lines += ["", "### The `genres` label set", "",
              f"{n_genres} genres; items with a genre only.", "",
              "| genre text embedded | top-1 (report) | top-3 (report) | top-1 (tune) | "
              "top-3 (tune) |", "|---|---|---|---|---|"]
    for name, result in (("its description (the service)", with_text),
                         ("its name only", names_only)):
        r, t = result.get("report", []), result.get("tune", [])
        lines.append(f"| {name} | {_share(r, 1)} | {_share(r, 3)} | {_share(t, 1)} | "
                     f"{_share(t, 3)} |")
    lines.append(f"| chance | {100 / n_genres:.0f} % | {300 / n_genres:.0f} % | "
                 f"{100 / n_genres:.0f} % | {300 / n_genres:.0f} % |")

    lines += ["", "### Item by item (the service's framing and settings)", "",
              "| item | split | top-3 ImageNet labels | best of the classes (right one) | "
              "best genre (right one) |", "|---|---|---|---|---|"]
    classes = list(phrasings)
    class_texts = [phrasings[c][0] for c in classes]
    query = label_query(class_texts, encode(class_texts), text.class_vectors, spec.hub_k)
    genre_query = label_query(genres.labels, genres.vectors, text.class_vectors, spec.hub_k)
    misses: list[str] = []
    for run in runs:
        top3 = ", ".join(f"{loaded.labels[c]} {run.video_scores[c]:.2f}" for c in
                         np.argsort(-run.video_scores, kind="stable")[:3].tolist())
        best = custom_labels(run.video_scores[None], text.class_vectors, loaded.labels, query,
                             chosen)[0][0]
        genre = custom_labels(run.video_scores[None], text.class_vectors, loaded.labels,
                              genre_query, chosen)[0][0]
        right = phrasings[run.item.klass][0]
        lines.append(f"| {run.item.name} | {run.item.split} | {top3} | {best.label} "
                     f"{'✓' if best.label == right else f'(✗ {right})'} | {genre.label} "
                     f"{'' if run.item.genre is None else '✓' if genre.label == run.item.genre else f'(✗ {run.item.genre})'} |")  # noqa: E501
        if best.label != right:
            misses.append(f"{run.item.name} (its top ImageNet label is "
                          f"{loaded.labels[int(np.argmax(run.video_scores))]})")
    lines += ["", "Where it fails: the words can only be as right as the CNN's classes. "
              f"The classes were missed on {', '.join(misses) or 'no item'}: ImageNet has no "
              "class for a person, an astronaut, a cartoon or the moon, so ConSE mixes the "
              "wrong classes' words. A label's `similarity` stays low (about 0.2-0.3) when "
              "nothing fits; compare it across videos rather than trusting the softmax alone."]

    cost = encoder_cost(loaded, loaded.labels)
    lines += ["", "### What words cost", "",
              "| | this machine |", "|---|---|",
              f"| text encoder load (zip read, weights, tokenizer) | {cost['load_s']:.2f} s |",
              f"| RSS the encoder adds | {cost['rss_mb']:.0f} MB |",
              f"| 8 new labels per request | {cost['ms_8']:.0f} ms |",
              f"| 64 new labels per request | {cost['ms_64']:.0f} ms |",
              f"| 8 / 64 labels seen before (LRU of text -> vector) | "
              f"{cost['ms_8_cached']:.2f} / {cost['ms_64_cached']:.2f} ms |"]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="videobert evaluate-labels",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, default=REPO / "model_store")
    parser.add_argument("--model", default="videobert-lite0")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--card", type=Path, default=REPO / "docs" / "model-card.md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    loaded = load_model(args.store, args.model)
    with tempfile.TemporaryDirectory(prefix="videobert-labels-") as tmp:
        lines = report(loaded, Path(tmp))
    header = [f"Made by `videobert evaluate-labels` in {time.perf_counter() - started:.0f} s "
              f"({args.threads} threads) on {loaded.name} {loaded.version}; the labelled set is "
              "`training/data/label_eval_set.json`.", ""]
    write_section(args.card, BEGIN, END, "Labels", [*header, *lines])
    logger.info("wrote %s", args.card)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
