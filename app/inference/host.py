"""The loaded models: workers per device, their batchers and the pipeline over them.

Loading takes seconds (weights, warm-up), so it can run in the background while the process
already answers probes: until it is done ``require_ready`` raises 503 ``not_ready``, and a load
that fails leaves the host unready with the reason in ``startup_error``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import torch

from app.errors import ServiceUnavailable
from app.inference.batcher import Batcher
from app.inference.decode_pool import DecodePool
from app.inference.pipeline import ModelRuntime, Pipeline
from app.inference.worker import ModelWorker, default_torch_threads, visible_devices
from app.metrics import Metrics
from app.model import LoadedModel, Precision, load_model
from app.settings import Settings
from app.video import VideoPolicy

log = logging.getLogger(__name__)


def resolve_precision(setting: str, device: str) -> Precision:
    """bf16 where the hardware runs it fast (CUDA, and CPUs with AMX/AVX512-BF16), else fp32."""
    if setting == "fp32" or setting == "bf16" or setting == "fp16":
        return cast(Precision, setting)
    if device.startswith("cuda"):
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if cpu_has_fast_bf16() else "fp32"


def cpu_has_fast_bf16() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def instances_for(device: str, setting: int, torch_threads: int) -> int:
    """Model workers on ``device``. On a CPU one worker with few threads leaves cores idle
    while it runs (measured: 0.73 of the stage limit with one, 0.97 with one per core on 2
    cores; docs/benchmarks.md), so by default there are enough workers to use every core."""
    if setting:
        return setting
    if device.startswith("cuda"):
        return 1
    return max(1, (os.cpu_count() or 1) // max(1, torch_threads))


def policy_from_settings(settings: Settings) -> VideoPolicy:
    return VideoPolicy(
        max_width=settings.max_width,
        max_height=settings.max_height,
        max_pixels=settings.max_pixels,
        max_duration_s=settings.max_duration_s,
        max_streams=settings.max_streams,
        max_corrupt_packets=settings.max_corrupt_packets,
        max_decoded_frames=settings.max_decoded_frames,
        decode_timeout_s=settings.decode_timeout_s,
    )


class ModelHost:
    """The models named in the settings, loaded on every visible device, with their batchers."""

    def __init__(self, settings: Settings, metrics: Metrics, decode_pool: DecodePool) -> None:
        self.settings = settings
        self.metrics = metrics
        self.decode_pool = decode_pool
        self.policy = policy_from_settings(settings)
        self.runtimes: dict[str, ModelRuntime] = {}
        self.workers: list[ModelWorker] = []
        self.devices: list[str] = []
        self.is_ready = False
        self.startup_error: str | None = None
        self._pipeline: Pipeline | None = None
        self._loading: asyncio.Task[None] | None = None

    async def start(self, *, background: bool) -> None:
        """Load and warm up; in the background (the caller goes on at once) or before
        returning. A failure never raises here: it leaves the host unready."""
        if background:
            self._loading = asyncio.create_task(self._load_and_warm(), name="warmup")
        else:
            await self._load_and_warm()

    def require_ready(self) -> Pipeline:
        if not self.is_ready or self._pipeline is None:
            detail = f" Startup failed: {self.startup_error}" if self.startup_error else ""
            raise ServiceUnavailable("The model is still loading; retry in a few seconds."
                                     + detail, code="not_ready",
                                     retry_after_s=self.settings.retry_after_s)
        return self._pipeline

    def queue_depth(self) -> int:
        return sum(b.queue_depth for r in self.runtimes.values() for b in r.batchers)

    async def close(self) -> None:
        self.is_ready = False
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
        for runtime in self.runtimes.values():
            for batcher in runtime.batchers:
                await batcher.close()
        for worker in self.workers:
            worker.close()

    # -- loading -----------------------------------------------------------------------------
    async def _load_and_warm(self) -> None:
        try:
            await asyncio.to_thread(self._load_models)
            s = self.settings
            self._pipeline = Pipeline(
                decode_pool=self.decode_pool, models=self.runtimes,
                default_model=s.default_model.partition(":")[0], policy=self.policy,
                default_fps=s.sample_fps, default_max_frames=s.max_frames,
                decode_timeout_s=s.decode_timeout_s, stream_chunk_frames=s.stream_chunk_frames)
            for runtime in self.runtimes.values():
                for batcher in runtime.batchers:
                    batcher.start()
            if s.warmup:
                await asyncio.to_thread(self._warm_up)
            self.is_ready = True
            log.info("ready: models %s on %s", sorted(self.runtimes), self.devices)
        except Exception as exc:
            self.startup_error = f"{type(exc).__name__}: {exc}"
            log.exception("model loading failed; the service stays unready")

    def _load_models(self) -> None:
        s = self.settings
        threads = s.torch_threads or default_torch_threads()
        torch.set_num_threads(threads)
        self.devices = visible_devices(s.device)
        names = [s.default_model, *[m for m in s.models if m != s.default_model]]
        for spec in names:
            name, _, version = spec.partition(":")
            per_runner: list[ModelWorker] = []
            loaded: LoadedModel | None = None
            for device in self.devices:
                for _ in range(instances_for(device, s.instances_per_device, threads)):
                    loaded = load_model(s.model_store_dir, name, version or None, device=device,
                                        precision=resolve_precision(s.precision, device))
                    per_runner.append(ModelWorker(loaded, device,
                                                  max_batch_frames=s.max_batch_frames))
            if loaded is None:
                raise RuntimeError(f"no device to load {spec!r} on")
            self.workers.extend(per_runner)
            self.runtimes[loaded.name] = self._runtime_for(loaded, per_runner)

    def _runtime_for(self, loaded: LoadedModel, workers: Sequence[ModelWorker]) -> ModelRuntime:
        """Batchers over the model's workers. Each worker runs one batch at a time (one thread),
        whichever batcher it came from; an idle worker takes the next batch of any of them."""
        s = self.settings

        def run_off_loop(index: int, fn: Callable[[], Sequence[Any]]
                         ) -> asyncio.Future[Sequence[Any]]:
            executor: ThreadPoolExecutor = workers[index].executor
            return asyncio.get_running_loop().run_in_executor(executor, fn)

        def observer(*, videos: bool, frames: bool) -> Callable[[int, int, float], None]:
            """A batcher's ``on_batch``: (items, frames, compute ms), frames < 0 on a failure.
            A frame batch's items are chunks, so it reports frames only; a sequence batch's
            frames went through the CNN earlier, so it reports videos only."""
            def on_batch(items: int, frame_count: int, compute_ms: float) -> None:
                if frame_count < 0:
                    self.metrics.inference_errors.inc()
                    return
                if videos:
                    self.metrics.batch_videos.observe(items)
                if frames:
                    self.metrics.batch_frames.observe(frame_count)
            return on_batch

        def batcher(handlers: Sequence[Callable[[Sequence[Any]], Sequence[Any]]], *,
                    max_batch_size: int, on: Callable[[int, int, float], None],
                    max_batch_cost: int | None = None, queue_slots_per_video: int = 1
                    ) -> Batcher[Any, Any]:
            return Batcher(handlers, run_off_loop, max_batch_size=max_batch_size,
                           max_wait_ms=s.max_wait_ms,
                           max_queue_size=s.max_queue_size * queue_slots_per_video,
                           retry_after_s=s.retry_after_s,
                           item_cost=lambda item: int(item.num_frames),
                           max_batch_cost=max_batch_cost, on_batch=on)

        runtime = ModelRuntime(loaded=loaded, batcher=batcher(
            [w.run_batch for w in workers], max_batch_size=s.max_batch_size,
            on=observer(videos=True, frames=True),
            max_batch_cost=max(s.max_batch_frames * 8, s.max_frames)))
        if s.stream_chunk_frames and not loaded.model.is_clip_model:
            # A chunk takes one queue slot, so the frame queue holds as many videos' worth of
            # chunks as the video queue holds videos.
            chunks_per_video = -(-s.max_frames // s.stream_chunk_frames)
            runtime.frame_batcher = batcher(
                [w.run_frame_chunks for w in workers],
                max_batch_size=s.max_batch_size * chunks_per_video,
                on=observer(videos=False, frames=True),
                max_batch_cost=s.max_batch_frames * 8, queue_slots_per_video=chunks_per_video)
            runtime.sequence_batcher = batcher(
                [w.run_sequences for w in workers], max_batch_size=s.max_batch_size,
                on=observer(videos=True, frames=False))
        return runtime

    def _warm_up(self) -> None:
        for worker in self.workers:
            worker.warm_up(int(worker.loaded.manifest.input.crop))
