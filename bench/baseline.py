"""The naive pipeline, served: what a first working version of this service looks like.

One request at a time (a global lock); the upload is read whole into memory and written to a
temp file; every frame is decoded with PyAV's defaults and converted to full-size RGB (as
``torchvision.io.read_video`` does), the frames on screen at the sampled times are kept and
resized with torch; the model runs in fp32 on that one video with torch's default threads;
then the same analysis as the service. Run: ``python -m bench.baseline --port P`` with the
``BENCH_*`` environment of ``bench.peer_common``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from typing import Any

import av
import numpy as np
import torch
from fastapi import FastAPI, Request

from app.inference.worker import ModelInput, ModelWorker
from app.model.videobert import resize_and_crop
from app.video import SamplingSpec, plan_sample_times
from bench.peer_common import PeerConfig, classify_answer, load_for_peer, service_spec


def _to_crop(rgb: np.ndarray, short_side: int, crop: int) -> np.ndarray:
    """Full-size (H, W, 3) uint8 -> (crop, crop, 3) uint8 with a torch resize (the naive way)."""
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float()  # (1, 3, H, W)
    x = resize_and_crop(x, short_side, crop)  # (1, 3, crop, crop)
    return x[0].round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def naive_decode(path: str, spec: SamplingSpec) -> tuple[np.ndarray, np.ndarray, float]:
    """(frames (N, crop, crop, 3) uint8, times_s (N,), duration_s) decoding every frame."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        base = float(stream.time_base or 1 / 90000)
        start = stream.start_time or 0
        duration = (stream.duration or 0) * base or (container.duration or 0) / 1e6
        targets = list(plan_sample_times(duration, spec))
        kept: list[np.ndarray] = []
        times: list[float] = []
        previous: tuple[float, np.ndarray] | None = None
        for frame in container.decode(stream):
            rgb = frame.to_ndarray(format="rgb24")  # full size, every frame
            t = ((frame.pts or 0) - start) * base
            while targets and previous is not None and t > targets[0]:
                # The previous frame was on screen at this target time.
                kept.append(_to_crop(previous[1], spec.short_side, spec.crop))
                times.append(previous[0])
                targets.pop(0)
            previous = (t, rgb)
        while targets and previous is not None:
            kept.append(_to_crop(previous[1], spec.short_side, spec.crop))
            times.append(previous[0])
            targets.pop(0)
    return np.stack(kept), np.asarray(times, dtype=np.float64), duration


def create_app(config: PeerConfig) -> FastAPI:
    loaded = load_for_peer(config)
    worker = ModelWorker(loaded, "cpu", max_batch_frames=10_000)  # the whole video at once
    spec = service_spec(loaded)
    lock = asyncio.Lock()
    app = FastAPI()

    def handle(data: bytes) -> dict[str, Any]:
        with tempfile.NamedTemporaryFile(suffix=".mp4") as tmp:
            tmp.write(data)
            tmp.flush()
            frames, times, duration = naive_decode(tmp.name, spec)
        output = worker.run_batch([ModelInput(frames, times)])[0]
        return classify_answer(loaded, output, duration, batch_size=1)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/predict")
    async def predict(request: Request) -> dict[str, Any]:
        form = await request.form()
        upload: Any = form["video"]
        data = await upload.read()
        async with lock:
            return await asyncio.to_thread(handle, data)

    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    config = PeerConfig.from_env()
    config.precision = "fp32"
    config.fuse = False
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    uvicorn.run(create_app(config), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
