"""The one prepared script for a CUDA machine: ``python -m bench.gpu_check [--compile]``.

Checks the CUDA path end to end (tiny and default model: real decode -> ModelWorker on the GPU
in bf16 -> answers compared with fp32 on the CPU), times the CNN and the Transformer in bf16 at
several batch sizes, pinned against pageable host->device copies, optionally torch.compile
(default and CUDA-graph modes), and NVDEC decoding through FFmpeg's CUDA hwaccel. Every step is
guarded: a failure is recorded and the next step runs. Stops starting new steps after
``--budget-s`` seconds. Writes JSON (default bench/results/gpu_check.json).

``--dry-run`` runs every step on the CPU with small sizes, to check the script itself.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import tempfile
import time
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from app.inference.worker import FrameChunk, ModelInput, ModelWorker, merge_chunks
from app.model import LoadedModel, VideoBert, load_model
from bench.models import DEFAULT_MODEL, DEFAULT_STORE, default_model_error, stand_in_store
from bench.peer_common import service_policy, service_spec
from bench.run import RESULTS
from training.sources import clips_dir

log = logging.getLogger("bench.gpu_check")


class Checker:
    def __init__(self, device: str, budget_s: float, dry_run: bool) -> None:
        self.device = device
        self.dry_run = dry_run
        self.deadline = time.monotonic() + budget_s
        self.results: dict[str, Any] = {}

    def step(self, name: str, fn: Callable[[], Any]) -> None:
        if time.monotonic() > self.deadline:
            self.results[name] = {"skipped": "time budget spent"}
            return
        started = time.monotonic()
        log.info("step %s", name)
        try:
            self.results[name] = fn()
        except Exception as exc:  # a failed check is a result; the next step still runs
            self.results[name] = {"error": f"{type(exc).__name__}: {exc}",
                                  "trace": traceback.format_exc(limit=4)}
            log.exception("step %s failed", name)
        self.results.setdefault("step_wall_s", {})[name] = round(time.monotonic() - started, 2)

    def sync(self) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()

    def time_ms(self, fn: Callable[[], Any], repeats: int) -> float:
        """Median wall ms of ``fn`` after one warm-up call, device work included."""
        fn()
        self.sync()
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            fn()
            self.sync()
            times.append((time.perf_counter() - started) * 1000)
        return float(np.median(times))


def environment(device: str) -> dict[str, Any]:
    info: dict[str, Any] = {"torch": torch.__version__, "python": platform.python_version(),
                            "device": device, "cuda_available": torch.cuda.is_available(),
                            "cpu_cores": os.cpu_count()}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(name=props.name, capability=f"{props.major}.{props.minor}",
                    memory_gb=round(props.total_memory / 1e9, 1),
                    bf16=torch.cuda.is_bf16_supported(), cuda=torch.version.cuda,
                    device_count=torch.cuda.device_count())
    return info


def real_frames(loaded: LoadedModel, clip: str) -> ModelInput:
    from app.video import decode

    decoded = decode(clips_dir() / clip, service_policy(), service_spec(loaded))
    return ModelInput(decoded.frames, decoded.times_s)


def end_to_end(store: Path, name: str, device: str, precision: str, clip: str) -> dict[str, Any]:
    """Real decode -> ModelWorker on ``device`` against fp32 on the CPU."""
    on_device = load_model(store, name, device=device, precision=precision)  # type: ignore[arg-type]
    on_cpu = load_model(store, name, device="cpu", precision="fp32")
    item = real_frames(on_cpu, clip)
    batch = [item, ModelInput(item.frames[: max(1, len(item.frames) // 3)],
                              item.times_s[: max(1, len(item.frames) // 3)])]
    worker = ModelWorker(on_device, device, max_batch_frames=64)
    got = worker.run_batch(batch)
    want = ModelWorker(on_cpu, "cpu", max_batch_frames=64).run_batch(batch)
    out: dict[str, Any] = {"frames": [len(b.frames) for b in batch], "precision": precision}
    if not on_device.model.is_clip_model:
        # The streaming path on the device: chunks of 16 through the CNN, then the Transformer.
        chunks = [FrameChunk(item.frames[s:s + 16], item.times_s[s:s + 16])
                  for s in range(0, item.num_frames, 16)]
        [streamed] = worker.run_sequences([merge_chunks(worker.run_frame_chunks(chunks))])
        out["streamed_vs_whole"] = {
            "max_abs_prob_diff": float(np.abs(streamed.probs - got[0].probs).max())
            if streamed.probs.size else 0,
            "max_abs_boundary_diff": float(np.abs(streamed.boundary_prob
                                                  - got[0].boundary_prob).max())}
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        finite = all(np.isfinite(a).all() for a in (g.probs, g.features, g.boundary_prob,
                                                    g.attention_mass))
        top_g = g.probs.argmax(axis=1) if g.probs.shape[1] else np.zeros(0)
        top_w = w.probs.argmax(axis=1) if w.probs.shape[1] else np.zeros(0)
        out[f"video{i}"] = {
            "finite": bool(finite),
            "top1_agreement": float(np.mean(top_g == top_w)) if len(top_g) else None,
            "max_abs_prob_diff": float(np.abs(g.probs - w.probs).max()) if g.probs.size else 0,
            "max_abs_boundary_diff": float(np.abs(g.boundary_prob - w.boundary_prob).max()),
        }
    return out


def cnn_timing(checker: Checker, loaded: LoadedModel, chunks: list[int]) -> dict[str, Any]:
    model = loaded.model
    crop = int(loaded.manifest.input.crop)
    out: dict[str, Any] = {}
    for chunk in chunks:
        frames = np.random.default_rng(0).integers(0, 255, (chunk, crop, crop, 3),
                                                   dtype=np.uint8)
        host = torch.from_numpy(frames)
        pinned = host.pin_memory() if checker.device.startswith("cuda") else host

        def pageable(host: torch.Tensor = host) -> None:
            host.to(checker.device)

        def pinned_copy(pinned: torch.Tensor = pinned) -> None:
            pinned.to(checker.device, non_blocking=True)

        def whole(frames: np.ndarray = frames) -> None:
            model.encode_frames(model.preprocess(frames))

        repeats = 3 if checker.dry_run else 20
        ms = checker.time_ms(whole, repeats)
        out[f"chunk {chunk}"] = {
            "ms": round(ms, 2), "frames_per_s": round(chunk / ms * 1000, 1),
            "h2d_pageable_ms": round(checker.time_ms(pageable, repeats), 3),
            "h2d_pinned_ms": round(checker.time_ms(pinned_copy, repeats), 3)}
    return out


def transformer_timing(checker: Checker, loaded: LoadedModel, batches: list[int],
                       length: int) -> dict[str, Any]:
    model = loaded.model
    dim = int(loaded.manifest.frame_encoder.feature_dim)
    out: dict[str, Any] = {}
    for batch in batches:
        feats = [torch.randn(length, dim, device=checker.device) for _ in range(batch)]
        ms = checker.time_ms(partial(model.encode_sequences, feats),
                             3 if checker.dry_run else 20)
        out[f"batch {batch} x {length}"] = {"ms": round(ms, 2),
                                            "ms_per_video": round(ms / batch, 3)}
    return out


def _encode(model: VideoBert, frames: np.ndarray) -> None:
    model.encode_frames(model.preprocess(frames))


def compiled_timing(checker: Checker, store: Path, name: str, precision: str, chunk: int
                    ) -> dict[str, Any]:
    out: dict[str, Any] = {}
    modes = ["default"] if checker.dry_run else ["default", "reduce-overhead"]
    for mode in modes:
        loaded = load_model(store, name, device=checker.device,
                            precision=precision)  # type: ignore[arg-type]
        model = loaded.model
        crop = int(loaded.manifest.input.crop)
        frames = np.random.default_rng(0).integers(0, 255, (chunk, crop, crop, 3),
                                                   dtype=np.uint8)
        run = partial(_encode, model, frames)
        eager_ms = checker.time_ms(run, 5)
        started = time.perf_counter()
        model.frame_encoder = torch.compile(model.frame_encoder,  # type: ignore[assignment]
                                            mode=None if mode == "default" else mode)
        run()
        checker.sync()
        compile_s = time.perf_counter() - started
        ms = checker.time_ms(run, 3 if checker.dry_run else 20)
        out[mode] = {"compile_s": round(compile_s, 1), "eager_ms": round(eager_ms, 2),
                     "compiled_ms": round(ms, 2), "speedup": round(eager_ms / ms, 2)}
    return out


def gpu_decode(checker: Checker) -> dict[str, Any]:
    """NVDEC through FFmpeg's CUDA hwaccel (PyAV), against the CPU decoder, every frame."""
    import av
    from av.codec.hwaccel import HWAccel, hwdevices_available

    out: dict[str, Any] = {"hwdevices": list(hwdevices_available())}
    for clip in ("bigbuckbunny.mp4", "bikes.mp4"):
        path = str(clips_dir() / clip)

        def run(hw: HWAccel | None, path: str = path) -> int:
            kwargs: dict[str, Any] = {"hwaccel": hw} if hw is not None else {}
            with av.open(path, **kwargs) as container:
                n = 0
                for frame in container.decode(video=0):
                    frame.to_ndarray(width=224, height=224, format="rgb24")
                    n += 1
                return n

        entry: dict[str, Any] = {}
        started = time.perf_counter()
        entry["frames"] = run(None)
        entry["cpu_ms"] = round((time.perf_counter() - started) * 1000, 1)
        if checker.device.startswith("cuda"):
            hw = HWAccel(device_type="cuda", allow_software_fallback=False)
            run(hw)  # warm-up: device context creation
            started = time.perf_counter()
            entry["frames_gpu"] = run(hw)
            entry["gpu_ms"] = round((time.perf_counter() - started) * 1000, 1)
        out[clip] = entry
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_check", description=__doc__)
    parser.add_argument("--dry-run", action="store_true", help="CPU, small sizes")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--budget-s", type=float, default=480.0)
    parser.add_argument("--out", type=Path, default=RESULTS / "gpu_check.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit("no CUDA device visible; use --dry-run to check the script on a CPU")
    device = "cpu" if args.dry_run else "cuda:0"
    precision = "bf16" if args.dry_run or torch.cuda.is_bf16_supported() else "fp16"
    if args.dry_run:
        torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    checker = Checker(device, args.budget_s, args.dry_run)
    checker.results["environment"] = environment(device)
    tmp = Path(tempfile.mkdtemp(prefix="gpu_check_"))

    from tests.model_fixtures import make_tiny_store

    tiny_store = make_tiny_store(tmp / "tiny")
    real = default_model_error() is None
    store = DEFAULT_STORE if real else stand_in_store(tmp / "stand_in")
    checker.results["default_model"] = {"trained": real, "store": str(store)}

    checker.step("end_to_end_tiny", lambda: end_to_end(tiny_store, "tiny", device, precision,
                                                       "bikes.mp4"))
    checker.step("end_to_end_default", lambda: end_to_end(store, DEFAULT_MODEL, device,
                                                          precision, "bikes.mp4"))
    loaded = load_model(store, DEFAULT_MODEL, device=device,
                        precision=precision)  # type: ignore[arg-type]
    chunks = [4, 16] if args.dry_run else [16, 64, 256, 1024]
    checker.step("cnn_bf16", lambda: cnn_timing(checker, loaded, chunks))
    batches = [1, 4] if args.dry_run else [1, 16, 64]
    checker.step("transformer_bf16", lambda: transformer_timing(
        checker, loaded, batches, 64 if args.dry_run else 256))
    if args.compile:
        checker.step("torch_compile_cnn", lambda: compiled_timing(
            checker, store, DEFAULT_MODEL, precision, 4 if args.dry_run else 256))
    checker.step("gpu_decode", lambda: gpu_decode(checker))
    checker.results["dry_run"] = args.dry_run
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(checker.results, indent=2) + "\n", encoding="utf-8")
    failed = [k for k, v in checker.results.items() if isinstance(v, dict) and "error" in v]
    log.info("wrote %s; failed steps: %s", args.out, failed or "none")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
