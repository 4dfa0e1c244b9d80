"""The peer: LitServe serving the service's own decode and model code with its own batching.

LitServe's way: the upload arrives as a multipart form in the API process and is handed to the
inference worker(s); ``decode_request`` (our ``app.video.decoder``, exact sampling) runs in the
worker for each request of a batch, ``predict`` runs the service's ``ModelWorker.run_batch``
over the batch (CNN over all frames, padded Transformer), ``encode_response`` runs the same
analysis. On a CPU it scales with ``workers_per_device`` processes, each holding a model copy;
with one torch thread each, two workers fill two cores. Run:
``python -m bench.litserve_peer --port P [--workers W --max-batch-size B --batch-timeout S]``.
"""

# No ``from __future__ import annotations``: LitServe reads decode_request's annotation at run
# time, and only the real ``Request`` class makes it pass the multipart form through.
import argparse
import os
import tempfile
from typing import Any

import litserve as ls
import torch
from fastapi import Request

from app.inference.worker import ModelInput, ModelOutput, ModelWorker
from app.model import LoadedModel
from app.video import SamplingSpec, VideoPolicy, decode
from bench.peer_common import (
    PeerConfig,
    classify_answer,
    load_for_peer,
    service_policy,
    service_spec,
)


class VideoAPI(ls.LitAPI):
    def __init__(self, config: PeerConfig, max_batch_frames: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.max_batch_frames = max_batch_frames

    def setup(self, device: str) -> None:
        torch.set_num_threads(self.config.torch_threads)
        self.loaded: LoadedModel = load_for_peer(self.config)
        self.worker = ModelWorker(self.loaded, "cpu", max_batch_frames=self.max_batch_frames)
        self.worker.warm_up(int(self.loaded.manifest.input.crop))
        self.policy: VideoPolicy = service_policy()
        self.spec: SamplingSpec = service_spec(self.loaded)

    def decode_request(self, request: Request) -> tuple[ModelInput, float]:
        upload: Any = request["video"]  # by now the parsed form, not the Request
        data = upload.file.read() if hasattr(upload, "file") else bytes(upload)
        with tempfile.NamedTemporaryFile(suffix=".mp4") as tmp:
            tmp.write(data)
            tmp.flush()
            decoded = decode(tmp.name, self.policy, self.spec)
        return ModelInput(decoded.frames, decoded.times_s), decoded.info.duration_s

    def batch(self, inputs: list[tuple[ModelInput, float]]) -> list[tuple[ModelInput, float]]:
        return inputs

    def predict(self, x: Any) -> Any:
        items: list[tuple[ModelInput, float]] = x if isinstance(x, list) else [x]
        outputs = self.worker.run_batch([item for item, _ in items])
        n = len(items)
        results = [(out, duration, n) for out, (_, duration) in zip(outputs, items, strict=True)]
        return results if isinstance(x, list) else results[0]

    def unbatch(self, output: Any) -> list[Any]:
        return list(output)

    def encode_response(self, output: tuple[ModelOutput, float, int]) -> dict[str, Any]:
        result, duration, batch_size = output
        return classify_answer(self.loaded, result, duration, batch_size)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=max(1, os.cpu_count() or 1))
    parser.add_argument("--max-batch-size", type=int, default=8)
    parser.add_argument("--batch-timeout", type=float, default=0.01)
    parser.add_argument("--max-batch-frames", type=int, default=16)
    args = parser.parse_args()
    api = VideoAPI(PeerConfig.from_env(), args.max_batch_frames,
                   max_batch_size=args.max_batch_size, batch_timeout=args.batch_timeout,
                   api_path="/predict")
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=args.workers,
                          timeout=900)
    server.run(host="127.0.0.1", port=args.port, num_api_servers=1,
               generate_client_file=False, log_level="warning")


if __name__ == "__main__":
    main()
