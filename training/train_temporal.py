"""Train the temporal Transformer and boundary head on synthetic edits of real footage.

    python -m training.train_temporal --seed 0 --out model_store/videobert-lite0/1.0.0

Reads the manifest in ``--out`` (architecture sizes, CNN weights, preprocessing), renders
synthetic timelines from the training sources, encodes their frames with the frozen CNN
(cached under ``training/cache/``), trains, scores a held-out synthetic set, and writes
``temporal.pt``, ``training.json`` and the ``temporal.weights.sha256`` field of the manifest.
The same seed gives the same weights on the same machine and thread count.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import platform
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from app.model.heads import BoundaryHead, transition_mask
from app.model.manifest import MANIFEST_NAME, Manifest, read_manifest
from app.model.store import load_frame_encoder, save_temporal_weights
from app.model.temporal import TemporalEncoder
from app.model.videobert import Precision, VideoBert
from app.postprocess import find_boundaries
from training import features as feats
from training import sources, synth
from training.metrics import Counts, match_boundaries

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    steps: int = 1800
    batch_size: int = 16
    lr: float = 3e-4
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.05
    warmup_steps: int = 100
    dropout: float = 0.1
    pos_weight: float = 3.0  # ~9% of gaps hold a transition
    gradual_timelines: int = 1200  # fixed set with dissolves/fades (their frames cost a CNN pass)
    fixed_share: float = 0.5  # of each batch; the rest are fresh hard-cut timelines
    val_timelines: int = 100
    threads: int = 2
    min_bf16_agreement: float = 0.95
    threshold: float = 0.5  # the service's default boundary_threshold
    # Share of training sequences whose feature channels are shuffled (one random permutation
    # per sequence). With ~20 sources the Transformer otherwise memorises which shot a feature
    # vector belongs to and calls any unfamiliar frame a cut; under shuffling only relations
    # between the frames of a sequence (similarity, gradual change) carry information.
    permute_features: float = 1.0


# --- model ----------------------------------------------------------------------------------------

def build_model(folder: Path, dropout: float) -> tuple[Manifest, VideoBert]:
    """The served architecture from the manifest: pretrained frozen CNN, fresh Transformer."""
    manifest = read_manifest(folder / MANIFEST_NAME)
    encoder = load_frame_encoder(manifest, folder)
    for param in encoder.parameters():
        param.requires_grad_(False)
    t = manifest.temporal
    temporal = TemporalEncoder(manifest.frame_encoder.feature_dim, t.d_model, t.n_layers,
                               t.n_heads, t.max_len, mlp_ratio=t.mlp_ratio,
                               positions=t.positions, dropout=dropout)
    head = BoundaryHead(t.d_model, t.head_hidden)
    return manifest, VideoBert(encoder, temporal, head, manifest.input)


def real_frames(count: int = 32) -> np.ndarray:
    """Frames of the training clip and photos at the model's input size, for the bf16 check."""
    pool = [sources.load_clip(sources.TRAIN_CLIPS[0])]
    pool += [sources.load_photo(n) for n in sources.TRAIN_PHOTOS]
    frames = []
    for i in range(count):
        source = pool[i % len(pool)]
        image = source.frames[(i * 7) % len(source.frames)]
        frames.append(np.asarray(image.resize((synth.FRAME_SIZE, synth.FRAME_SIZE))))
    return np.stack(frames)


# --- batches --------------------------------------------------------------------------------------

Item = tuple[tuple[str, ...], np.ndarray, np.ndarray]  # keys, labels, weights


def random_window(timeline: synth.Timeline, rng: np.random.Generator, max_len: int) -> Item:
    """A random stretch of a fixed timeline, so each one is seen in many contexts."""
    n = len(timeline.keys)
    length = min(n, int(rng.integers(max(16, max_len // 2), max_len + 1)))
    start = int(rng.integers(0, n - length + 1))
    labels = timeline.labels[start:start + length].copy()
    weights = timeline.weights[start:start + length].copy()
    labels[-1], weights[-1] = 0.0, 0.0  # its gap now leads out of the window
    return timeline.keys[start:start + length], labels, weights


def collate(items: Sequence[Item], cache: feats.FeatureCache
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """-> x (B, T, D), mask (B, T) bool, labels (B, T), weights (B, T)."""
    B, T = len(items), max(len(keys) for keys, _, _ in items)
    first = cache.get(items[0][0][:1])
    x = np.zeros((B, T, first.shape[1]), dtype=np.float32)
    y = np.zeros((B, T), dtype=np.float32)
    w = np.zeros((B, T), dtype=np.float32)
    mask = np.zeros((B, T), dtype=bool)
    for b, (keys, labels, weights) in enumerate(items):
        n = len(keys)
        x[b, :n] = cache.get(keys)
        y[b, :n], w[b, :n], mask[b, :n] = labels, weights, True
    return torch.from_numpy(x), torch.from_numpy(mask), torch.from_numpy(y), torch.from_numpy(w)


def permute_channels(x: torch.Tensor, rng: np.random.Generator, share: float) -> torch.Tensor:
    """x (B, T, D) -> the same with each chosen sequence's D channels in a random order."""
    B, T, D = x.shape
    order = np.tile(np.arange(D), (B, 1))  # (B, D)
    chosen = rng.random(B) < share
    order[chosen] = np.argsort(rng.random((int(chosen.sum()), D)), axis=1)
    index = torch.from_numpy(order)[:, None, :].expand(B, T, D)  # (B, T, D)
    return torch.gather(x, 2, index)


def boundary_loss(logits: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor,
                  weights: torch.Tensor, pos_weight: float) -> torch.Tensor:
    """Weighted BCE over the gaps that exist and have a defined label."""
    valid = transition_mask(mask) & (weights > 0)
    losses = F.binary_cross_entropy_with_logits(
        logits.float()[valid], labels[valid], pos_weight=torch.tensor(pos_weight),
        reduction="none")
    return (losses * weights[valid]).sum() / weights[valid].sum().clamp_min(1.0)


def lr_at(step: int, config: TrainConfig) -> float:
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    cosine = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return config.lr * (config.min_lr_ratio + (1 - config.min_lr_ratio) * cosine)


# --- evaluation on synthetic timelines ------------------------------------------------------------

def predict(model: VideoBert, timelines: Sequence[synth.Timeline], cache: feats.FeatureCache,
            batch_size: int = 32) -> list[np.ndarray]:
    """P(transition in gap i) for each timeline, through the served ``encode_sequences``."""
    out: list[np.ndarray] = []
    for start in range(0, len(timelines), batch_size):
        chunk = timelines[start:start + batch_size]
        outputs = model.encode_sequences([torch.from_numpy(cache.get(t.keys)) for t in chunk])
        out.extend(o.boundary_prob.numpy() for o in outputs)
    return out


def true_times(timeline: synth.Timeline) -> list[float]:
    """Centres of the transitions that fall between two samples (the labelled ones)."""
    times = timeline.times_s
    return [tr.centre_s for tr in timeline.edit.transitions
            if times[0] < tr.centre_s <= times[-1]]


def score(timelines: Sequence[synth.Timeline], probs: Sequence[np.ndarray],
          threshold: float) -> Counts:
    total = Counts()
    for timeline, prob in zip(timelines, probs, strict=True):
        found = [b.time_s for b in find_boundaries(timeline.times_s, prob, threshold)]
        total += match_boundaries(found, true_times(timeline))
    return total


# --- the recipe -----------------------------------------------------------------------------------

def train(out: Path, config: TrainConfig, cache_dir: Path) -> dict[str, object]:
    started = time.perf_counter()
    feats.set_threads(config.threads)
    torch.manual_seed(config.seed)
    manifest, model = build_model(out, config.dropout)
    weights_ref = manifest.temporal.weights
    if weights_ref is None:  # the recipe fills in a sha256, it does not invent the entry
        raise ValueError(f"{out / MANIFEST_NAME} has temporal.weights null: give it "
                         '{"source": "file", "path": "temporal.pt", "sha256": "PENDING"}')

    agreement = feats.precision_agreement(model, real_frames())
    bf16_ok = agreement["top1_agreement"] >= config.min_bf16_agreement
    precision: Precision = "bf16" if bf16_ok else "fp32"
    model.set_precision(precision)
    logger.info("CNN precision %s (bf16 vs fp32 on real frames: %s)", precision, agreement)

    train_sources = sources.load_sources("train")
    heldout_sources = sources.load_sources("heldout")
    pool = synth.make_shot_pool(train_sources, np.random.default_rng([config.seed, 0]))
    heldout_pool = synth.make_shot_pool(heldout_sources, np.random.default_rng([config.seed, 3]),
                                        synth.PoolConfig(shots_per_photo=4, shots_per_clip=6))
    data_rng = np.random.default_rng([config.seed, 1])
    fixed = [synth.make_timeline(pool, data_rng) for _ in range(config.gradual_timelines)]
    val_rng = np.random.default_rng([config.seed, 4])
    val = [synth.make_timeline(heldout_pool, val_rng) for _ in range(config.val_timelines)]

    cache = feats.FeatureCache(cache_dir / feats.encoder_tag(
        manifest.frame_encoder.weights.sha256, precision))
    grid_keys = [f"s/{s.digest}/{k}" for s in pool for k in range(s.grid_frames)]
    renderer = synth.FrameRenderer(pool, train_sources)
    val_renderer = synth.FrameRenderer(heldout_pool, heldout_sources)
    t0 = time.perf_counter()
    train_keys = set(grid_keys).union(*(t.keys for t in fixed))
    extraction = feats.extract(model, train_keys, renderer.render_key, cache)
    val_extraction = feats.extract(model, {k for t in val for k in t.keys},
                                   val_renderer.render_key, cache)
    features_s = time.perf_counter() - t0
    logger.info("features ready in %.0f s: train %s, val %s", features_s, extraction,
                val_extraction)

    model.set_precision(precision)
    params = [p for n, p in model.named_parameters() if not n.startswith("frame_encoder.")]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=config.lr)
    step_rng = np.random.default_rng([config.seed, 2])
    fixed_per_batch = round(config.batch_size * config.fixed_share)
    t1 = time.perf_counter()
    assert model.temporal is not None and model.boundary_head is not None  # built above
    model.temporal.train()
    model.boundary_head.train()
    running = 0.0
    for step in range(config.steps):
        max_len = int(step_rng.integers(16, 129))
        cut_config = replace(synth.SynthConfig(), length_range=(max(16, max_len // 2), max_len))
        items: list[Item] = [random_window(fixed[int(step_rng.integers(len(fixed)))], step_rng,
                                           max_len) for _ in range(fixed_per_batch)]
        for _ in range(config.batch_size - fixed_per_batch):
            fresh = synth.make_timeline(pool, step_rng, cut_config, allow_gradual=False)
            items.append((fresh.keys, fresh.labels, fresh.weights))
        x, mask, y, w = collate(items, cache)
        if config.permute_features > 0:
            x = permute_channels(x, step_rng, config.permute_features)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, config)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits, _, _ = model(x, mask)
        loss = boundary_loss(logits, mask, y, w, config.pos_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        running = 0.98 * running + 0.02 * loss.item() if step else loss.item()
        if step % 250 == 0 or step == config.steps - 1:
            logger.info("step %d/%d loss %.4f lr %.2e", step, config.steps, running,
                        lr_at(step, config))
    train_s = time.perf_counter() - t1
    model.eval()

    probs = predict(model, val, cache)
    at_default = score(val, probs, config.threshold)
    sweep = {f"{th:.1f}": score(val, probs, th).f1 for th in np.arange(0.1, 0.95, 0.1)}
    logger.info("held-out synthetic at %.2f: %s", config.threshold, at_default.as_dict())

    sha = save_temporal_weights(model, out / weights_ref.path)
    set_manifest_temporal_sha(out / MANIFEST_NAME, sha)
    report: dict[str, object] = {
        "recipe": "python -m training.train_temporal --seed "
                  f"{config.seed} --out {out.as_posix()}",
        "config": asdict(config),
        "model": {"name": manifest.name, "version": manifest.version,
                  "temporal": manifest.temporal.model_dump(exclude={"weights"}),
                  "temporal_sha256": sha,
                  "frame_encoder_sha256": manifest.frame_encoder.weights.sha256,
                  "trainable_params": sum(p.numel() for p in params)},
        "cnn_precision": {"used": precision, "bf16_vs_fp32": agreement},
        "data": {
            "train_sources": [s.name for s in train_sources],
            "heldout_sources": [s.name for s in heldout_sources],
            "never_used": sources.EVAL_CLIP,
            "train_shots": len(pool), "heldout_shots": len(heldout_pool),
            "grid_fps": synth.GRID_FPS,
            "fixed_gradual_timelines": len(fixed),
            "fresh_cut_timelines": config.steps * (config.batch_size - fixed_per_batch),
            "val_timelines": len(val),
            "val_transitions": sum(len(true_times(t)) for t in val),
            "synth": asdict(synth.SynthConfig()),
            "frames_encoded": extraction["frames_encoded"] + val_extraction["frames_encoded"],
            "cache_size": len(cache),
        },
        "metrics": {"heldout_synthetic_at_threshold": at_default.as_dict(),
                    "heldout_synthetic_f1_by_threshold": sweep,
                    "final_train_loss": round(running, 4)},
        "timing_s": {"features": round(features_s, 1), "train": round(train_s, 1),
                     "total": round(time.perf_counter() - started, 1),
                     "extraction": {"train": extraction, "val": val_extraction}},
        "environment": {"torch": torch.__version__, "numpy": np.__version__,
                        "python": platform.python_version(), "threads": torch.get_num_threads(),
                        "machine": platform.machine()},
    }
    (out / "training.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    logger.info("wrote %s (sha256 %s) in %.0f s", out / "temporal.pt", sha,
                time.perf_counter() - started)
    return report


def set_manifest_temporal_sha(path: Path, sha256: str) -> None:
    """Change only ``temporal.weights.sha256`` in the manifest, keeping its layout byte for byte
    elsewhere (the manifest belongs to the model's owner; the recipe fills in one value)."""
    text = path.read_text(encoding="utf-8")
    old = json.loads(text)["temporal"]["weights"]["sha256"]
    start = text.index('"temporal"')
    weights_at = text.index('"weights"', start)
    pattern = re.compile(r'("sha256"\s*:\s*")' + re.escape(old) + '"')
    match = pattern.search(text, weights_at)
    if match is None:
        raise ValueError(f"cannot find temporal.weights.sha256 in {path}")
    updated = text[:match.start()] + match.group(1) + sha256 + '"' + text[match.end():]
    if json.loads(updated)["temporal"]["weights"]["sha256"] != sha256:
        raise ValueError(f"editing {path} changed the wrong field")
    path.write_text(updated, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="train-temporal", description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("model_store/videobert-lite0/1.0.0"),
                        help="model folder holding manifest.json; weights are written here")
    parser.add_argument("--steps", type=int, default=TrainConfig.steps)
    parser.add_argument("--threads", type=int, default=TrainConfig.threads)
    parser.add_argument("--cache-dir", type=Path, default=feats.DEFAULT_CACHE_DIR)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = TrainConfig(seed=args.seed, steps=args.steps, threads=args.threads)
    train(args.out, config, args.cache_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
