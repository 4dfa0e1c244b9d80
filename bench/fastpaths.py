"""Each CPU fast path measured alone: ``python -m bench.fastpaths [--compile]``.

Figures are CPU milliseconds of this process (all threads) unless marked wall: CPU time per unit
of work moves far less than wall time when other jobs share the cores, so the ratios hold on a
busy machine. Writes bench/results/fastpaths.json and regenerates the docs/performance.md
tables made from it (bench/doc_tables.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch

import app.video.frame_sampler as sampler_module
from app.model import LoadedModel, load_model
from app.model.videobert import VideoBert, resize_and_crop
from app.video import SamplingSpec, decode
from bench import doc_tables
from bench.baseline import naive_decode
from bench.models import DEFAULT_MODEL, DEFAULT_STORE, default_model_error, stand_in_store
from bench.peer_common import service_policy, service_spec
from bench.provenance import provenance
from bench.run import RESULTS, TMP
from bench.stages import cpu_seconds, timed, torch_threads
from bench.workload import ClipSpec, make_clip

log = logging.getLogger("bench.fastpaths")

CLIPS = (ClipSpec(1280, 720, 30.0, first_source=1), ClipSpec(1920, 1080, 20.0, first_source=1),
         ClipSpec(640, 360, 30.0, first_source=1))


def best_of(fn: Callable[[], Any], repeats: int = 2) -> tuple[float, float]:
    """(CPU ms, wall ms), each the best of ``repeats`` runs."""
    runs = [timed(fn)[:2] for _ in range(repeats)]
    return min(c for _, c in runs), min(w for w, _ in runs)


@contextmanager
def decoder_threads(count: int) -> Iterator[None]:
    before = sampler_module.DECODER_THREADS
    sampler_module.DECODER_THREADS = count
    try:
        yield
    finally:
        sampler_module.DECODER_THREADS = before


def decode_paths(path: Path, spec: SamplingSpec) -> dict[str, Any]:
    policy = service_policy()
    out: dict[str, Any] = {}
    exact = decode(path, policy, replace(spec, skip_unreferenced=False))
    skipping = decode(path, policy, replace(spec, skip_unreferenced=True))
    fast = decode(path, policy, replace(spec, mode="fast"))
    cases: dict[str, Callable[[], Any]] = {
        "naive: every frame to full-size RGB, torch resize": partial(naive_decode, str(path),
                                                                     spec),
        "exact, every picture": partial(decode, path, policy,
                                        replace(spec, skip_unreferenced=False)),
        "exact + skip unreferenced pictures (service default)": partial(
            decode, path, policy, replace(spec, skip_unreferenced=True)),
        "fast: keyframes only": partial(decode, path, policy, replace(spec, mode="fast")),
    }
    for name, fn in cases.items():
        cpu, wall = best_of(fn, repeats=1 if name.startswith("naive") else 2)
        out[name] = {"cpu_ms": round(cpu), "wall_ms": round(wall)}
    out["frames"] = {"sampled": len(exact.frames), "decoded_exact": exact.frames_decoded,
                     "decoded_skipping": skipping.frames_decoded,
                     "identical_frames": bool(np.array_equal(exact.frames, skipping.frames)),
                     "distinct_frames_fast": len(fast.frames)}
    for threads in (1, 2):
        with decoder_threads(threads):
            cpu, wall = best_of(partial(decode, path, policy, spec))
        out[f"exact, {threads} slice thread(s)"] = {"cpu_ms": round(cpu), "wall_ms": round(wall)}
    return out


def scaling(path: Path, spec: SamplingSpec, frames: int = 12) -> dict[str, float]:
    """ms per frame to get a (crop, crop) RGB patch from a decoded frame."""
    with av.open(str(path)) as container:
        decoded = [f for _, f in zip(range(frames), container.decode(video=0), strict=False)]
    w, h = decoded[0].width, decoded[0].height
    scale = spec.short_side / min(w, h)

    def swscale() -> None:
        for f in decoded:
            f.to_ndarray(width=round(w * scale), height=round(h * scale), format="rgb24",
                         interpolation="BILINEAR")

    def full_then_torch() -> None:
        for f in decoded:
            x = torch.from_numpy(f.to_ndarray(format="rgb24")).permute(2, 0, 1)[None].float()
            resize_and_crop(x, spec.short_side, spec.crop)

    with torch_threads(1):
        return {"swscale to the model size (service)": round(best_of(swscale)[0] / frames, 2),
                "full-size RGB, then torch resize (naive)": round(
                    best_of(full_then_torch)[0] / frames, 2)}


def cnn_paths(store: Path, frames: np.ndarray, compile_cnn: bool) -> dict[str, Any]:
    """CNN ms per frame (preprocess included), one thread."""
    out: dict[str, Any] = {}
    frames = frames[:64]
    n = len(frames)

    def per_frame(loaded: LoadedModel, chunk: int, no_grad: bool = False) -> float:
        model = loaded.model
        ctx = torch.no_grad if no_grad else torch.inference_mode

        def run() -> None:
            with ctx():
                for start in range(0, n, chunk):
                    model.encode_frames(model.preprocess(frames[start:start + chunk]))
        run()
        return best_of(run)[0] / n

    with torch_threads(1):
        fp32 = load_model(store, DEFAULT_MODEL, precision="fp32", fuse=False)
        out["fp32, chunk 16"] = round(per_frame(fp32, 16), 2)
        fp32.model.frame_encoder.to(memory_format=torch.channels_last)
        out["fp32 + channels_last, chunk 16"] = round(per_frame(fp32, 16), 2)
        fused_fp32 = load_model(store, DEFAULT_MODEL, precision="fp32")
        out["fp32 + fused conv/bn/relu6, chunk 8"] = round(per_frame(fused_fp32, 8), 2)
        bf16 = load_model(store, DEFAULT_MODEL, precision="bf16", fuse=False)
        for chunk in (4, 8, 16, 32, 64):
            out[f"bf16 autocast + channels_last, chunk {chunk}"] = round(per_frame(bf16, chunk),
                                                                         2)
        out["bf16, chunk 16, no_grad instead of inference_mode"] = round(
            per_frame(bf16, 16, no_grad=True), 2)
        fused = load_model(store, DEFAULT_MODEL, precision="bf16")
        for chunk in (4, 8, 16, 32):
            out[f"bf16 + fused conv/bn/relu6 (the service), chunk {chunk}"] = round(
                per_frame(fused, chunk), 2)
        if compile_cnn:
            import time

            started = time.perf_counter()
            bf16.model.frame_encoder = torch.compile(bf16.model.frame_encoder)  # type: ignore[assignment]
            per_frame(bf16, 16)  # compiles
            out["torch.compile: compile wall s"] = round(time.perf_counter() - started, 1)
            out["bf16 + torch.compile, chunk 16"] = round(per_frame(bf16, 16), 2)
    return out


def _each(model: VideoBert, groups: list[list[torch.Tensor]]) -> None:
    for group in groups:
        model.encode_sequences(group)


def transformer_paths(loaded: LoadedModel) -> dict[str, Any]:
    """ms per video for 8 sequences: one call each, one padded batch, batches by length."""
    model = loaded.model
    dim = int(loaded.manifest.frame_encoder.feature_dim)
    gen = torch.Generator().manual_seed(0)
    out: dict[str, Any] = {}
    shapes = {"even (8 x 60)": [60] * 8,
              "uneven (5 x 20, 60, 120, 256)": [20, 20, 20, 20, 20, 60, 120, 256]}
    with torch_threads(1), torch.inference_mode():
        for name, lengths in shapes.items():
            feats = [torch.randn(t, dim, generator=gen) for t in lengths]
            buckets = [[f for f in feats if len(f) <= 60], [f for f in feats if len(f) > 60]]
            cases: dict[str, Callable[[], Any]] = {
                "loop": partial(_each, model, [[f] for f in feats]),
                "padded batch + mask": partial(model.encode_sequences, feats),
                "two length buckets": partial(_each, model, [b for b in buckets if b]),
            }
            for case, fn in cases.items():
                fn()
                out[f"{name}: {case}"] = round(best_of(fn, repeats=3)[0] / len(feats), 2)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fastpaths", description=__doc__)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    torch.set_num_threads(1)
    store = DEFAULT_STORE if default_model_error() is None else stand_in_store(TMP / "stand_in")
    loaded = load_model(store, DEFAULT_MODEL, precision="bf16")
    spec = service_spec(loaded)
    started = cpu_seconds()
    results: dict[str, Any] = {**provenance(), "command": "python -m bench.fastpaths "
                               + " ".join(argv if argv is not None else sys.argv[1:]),
                               "decode": {}}
    frames = None
    for clip in CLIPS:
        path = make_clip(clip, TMP / "workload")
        key = f"{clip.width}x{clip.height} {clip.duration_s:g} s"
        log.info("decode paths on %s", key)
        results["decode"][key] = decode_paths(path, spec)
        if frames is None:
            frames = decode(path, service_policy(), spec).frames
            results["scaling_ms_per_frame_1080p"] = scaling(
                make_clip(CLIPS[1], TMP / "workload"), spec)
    assert frames is not None
    log.info("CNN paths")
    results["cnn_ms_per_frame"] = cnn_paths(store, frames, args.compile)
    log.info("Transformer paths")
    results["transformer_ms_per_video"] = transformer_paths(loaded)
    results["cpu_s_total"] = round(cpu_seconds() - started, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fastpaths.json").write_text(json.dumps(results, indent=2) + "\n",
                                            encoding="utf-8")
    print(json.dumps(results, indent=2))  # noqa: T201 - a script's report
    doc_tables.update_from(RESULTS / "fastpaths.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
