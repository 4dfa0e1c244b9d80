"""The stage limit: each stage measured alone, and the throughput they allow on this machine.

- decode: ``app.video.decoder`` of every clip of a workload, as the service samples it (same
  spec, same decoder settings), in this process. CPU time and wall time per video.
- model: the CNN per frame at its best chunk size and the Transformer per video at its best
  batch size, on one thread (the cheapest CPU time per unit of work), in the service's precision.

Limit = cores / (decode CPU + model CPU per video): what a perfect server would reach if every
core only ever ran these two stages at one-thread efficiency, with no HTTP, IPC, batching waits
or analysis. The single-request figure (decode wall + model wall for one video at the service's
thread count) is what a request at concurrency 1 cannot beat.
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from app.inference.worker import ModelInput, ModelWorker
from app.model import LoadedModel
from app.video import DecodedVideo, SamplingSpec, VideoPolicy, decode

log = logging.getLogger(__name__)

CNN_CHUNKS = (4, 8, 16, 32, 64)
TRANSFORMER_BATCHES = (1, 2, 4, 8, 16)
CNN_PROBE_FRAMES = 64


def cpu_seconds() -> float:
    """CPU time of this process, all threads (user + system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall ms, CPU ms, result) of one call."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = fn()
    return (time.perf_counter() - wall) * 1000, (cpu_seconds() - cpu) * 1000, result


@dataclass
class StageLimit:
    workload: str
    cores: int
    videos: int
    frames_per_video: float
    frames_decoded_per_video: float
    decode_wall_ms: float  # mean per video
    decode_cpu_ms: float
    cnn_ms_per_frame: float  # one thread, best chunk
    best_cnn_chunk: int
    transformer_ms_per_video: float  # one thread, best batch
    best_transformer_batch: int
    model_wall_single_ms: float  # one video alone at the service's thread count (mean)
    single_request_ms_per_clip: list[float]  # decode wall + model wall alone, per clip

    @property
    def model_cpu_ms(self) -> float:
        return self.frames_per_video * self.cnn_ms_per_frame + self.transformer_ms_per_video

    @property
    def limit_videos_per_s(self) -> float:
        return self.cores * 1000.0 / (self.decode_cpu_ms + self.model_cpu_ms)

    @property
    def single_request_ms(self) -> float:
        return self.decode_wall_ms + self.model_wall_single_ms

    def to_dict(self) -> dict[str, Any]:
        out = {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}
        out["single_request_ms_per_clip"] = [round(v, 1) for v in self.single_request_ms_per_clip]
        out.update(model_cpu_ms=round(self.model_cpu_ms, 1),
                   limit_videos_per_s=round(self.limit_videos_per_s, 4),
                   single_request_ms=round(self.single_request_ms, 1))
        return out


def measure_decode(clips: list[Path], policy: VideoPolicy,
                   spec: SamplingSpec) -> list[tuple[float, float, DecodedVideo]]:
    """(wall ms, CPU ms, decoded) per clip; one untimed decode first to load the codec."""
    decode(clips[0], policy, SamplingSpec(num_frames=1, max_frames=spec.max_frames,
                                          short_side=spec.short_side, crop=spec.crop))
    return [timed(partial(decode, clip, policy, spec)) for clip in clips]


def measure_cnn(loaded: LoadedModel, frames: np.ndarray) -> dict[int, float]:
    """ms per frame (preprocess + CNN, one thread) for each chunk size."""
    model = loaded.model
    frames = frames[:CNN_PROBE_FRAMES]
    n = len(frames)
    out: dict[int, float] = {}
    with torch_threads(1), torch.inference_mode():
        model.encode_frames(model.preprocess(frames[:4]))  # warm-up
        for chunk in CNN_CHUNKS:
            def run(chunk: int = chunk) -> None:
                for start in range(0, n, chunk):
                    model.encode_frames(model.preprocess(frames[start:start + chunk]))
            wall_ms, _, _ = timed(run)
            out[chunk] = wall_ms / n
    return out


def measure_transformer(loaded: LoadedModel, lengths: list[int]) -> dict[int, float]:
    """ms per video (padded batch + mask, one thread) for each batch size."""
    model = loaded.model
    dim = int(loaded.manifest.frame_encoder.feature_dim)
    gen = torch.Generator().manual_seed(0)
    out: dict[int, float] = {}
    with torch_threads(1), torch.inference_mode():
        model.encode_sequences([torch.randn(lengths[0], dim, generator=gen)])  # warm-up
        for batch in TRANSFORMER_BATCHES:
            feats = [torch.randn(lengths[i % len(lengths)], dim, generator=gen)
                     for i in range(batch)]
            repeats = max(1, 16 // batch)

            def run(feats: list[torch.Tensor] = feats, repeats: int = repeats) -> None:
                for _ in range(repeats):
                    model.encode_sequences(feats)
            wall_ms, _, _ = timed(run)
            out[batch] = wall_ms / (batch * repeats)
    return out


def measure_model_single(loaded: LoadedModel, videos: list[DecodedVideo], threads: int,
                         max_batch_frames: int) -> list[float]:
    """Wall ms of ``ModelWorker.run_batch`` on each video alone, at ``threads``."""
    worker = ModelWorker(loaded, "cpu", max_batch_frames=max_batch_frames)
    try:
        with torch_threads(threads):
            worker.warm_up(int(loaded.manifest.input.crop))
            walls = [timed(partial(worker.run_batch, [ModelInput(v.frames, v.times_s)]))[0]
                     for v in videos]
    finally:
        worker.close()
    return walls


def measure_workload(name: str, clips: list[Path], loaded: LoadedModel, policy: VideoPolicy,
                     spec: SamplingSpec, *, cores: int, service_threads: int,
                     max_batch_frames: int) -> StageLimit:
    decoded = measure_decode(clips, policy, spec)
    videos = [d for _, _, d in decoded]
    cnn = measure_cnn(loaded, np.concatenate([v.frames for v in videos]))
    lengths = [len(v.frames) for v in videos]
    transformer = measure_transformer(loaded, lengths)
    best_chunk = min(cnn, key=lambda k: cnn[k])
    best_batch = min(transformer, key=lambda k: transformer[k])
    model_single = measure_model_single(loaded, videos, service_threads, max_batch_frames)
    limit = StageLimit(
        workload=name, cores=cores, videos=len(videos),
        frames_per_video=float(np.mean(lengths)),
        frames_decoded_per_video=float(np.mean([v.frames_decoded for v in videos])),
        decode_wall_ms=float(np.mean([w for w, _, _ in decoded])),
        decode_cpu_ms=float(np.mean([c for _, c, _ in decoded])),
        cnn_ms_per_frame=cnn[best_chunk], best_cnn_chunk=best_chunk,
        transformer_ms_per_video=transformer[best_batch], best_transformer_batch=best_batch,
        model_wall_single_ms=float(np.mean(model_single)),
        single_request_ms_per_clip=[w + m for (w, _, _), m in zip(decoded, model_single,
                                                                   strict=True)])
    log.info("stages %s: decode %.0f ms (cpu %.0f), cnn %.1f ms/frame @%d, transformer %.1f "
             "ms/video @%d, limit %.3f videos/s", name, limit.decode_wall_ms,
             limit.decode_cpu_ms, limit.cnn_ms_per_frame, best_chunk,
             limit.transformer_ms_per_video, best_batch, limit.limit_videos_per_s)
    log.debug("cnn sweep %s, transformer sweep %s", cnn, transformer)
    return limit
