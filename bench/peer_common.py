"""What the naive baseline and the LitServe peer share with the service: the same model code,
the same sampling spec and the same analysis, so that only the serving differs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from app.inference.batcher import Batcher
from app.inference.decode_pool import DecodePool
from app.inference.host import policy_from_settings, resolve_precision
from app.inference.pipeline import ModelRuntime, Pipeline, PipelineOptions
from app.inference.worker import ModelInput, ModelOutput
from app.model import LoadedModel, load_model
from app.postprocess import ReadoutOptions, read_out
from app.settings import Settings
from app.video import SamplingSpec, VideoPolicy

# Environment the orchestrator passes to a peer server process.
ENV_STORE = "BENCH_MODEL_STORE"
ENV_MODEL = "BENCH_MODEL"
ENV_PRECISION = "BENCH_PRECISION"
ENV_THREADS = "BENCH_TORCH_THREADS"


@dataclass
class PeerConfig:
    store: Path
    model: str
    precision: str  # "auto", "fp32", "bf16"
    torch_threads: int
    fuse: bool = True  # the service's fused CNN; the naive baseline runs it unfused

    @classmethod
    def from_env(cls) -> PeerConfig:
        return cls(store=Path(os.environ[ENV_STORE]), model=os.environ[ENV_MODEL],
                   precision=os.environ.get(ENV_PRECISION, "auto"),
                   torch_threads=int(os.environ.get(ENV_THREADS, "1")))

    def env(self) -> dict[str, str]:
        return {ENV_STORE: str(self.store), ENV_MODEL: self.model,
                ENV_PRECISION: self.precision, ENV_THREADS: str(self.torch_threads)}


def load_for_peer(config: PeerConfig) -> LoadedModel:
    return load_model(config.store, config.model,
                      precision=resolve_precision(config.precision, "cpu"), fuse=config.fuse)


def service_policy() -> VideoPolicy:
    return policy_from_settings(Settings())


def service_spec(loaded: LoadedModel) -> SamplingSpec:
    """The spec the service's own pipeline builds for a request with default options (so a
    change there, such as a decode fast path, reaches the peers and the stage limit too)."""
    settings = Settings()
    pipeline = Pipeline(decode_pool=cast(DecodePool, None), models={},
                        default_model=loaded.name, policy=service_policy(),
                        default_fps=settings.sample_fps, default_max_frames=settings.max_frames,
                        decode_timeout_s=settings.decode_timeout_s)
    runtime = ModelRuntime(loaded=loaded, batcher=cast(Batcher[ModelInput, ModelOutput], None))
    return pipeline.sampling_spec(runtime, PipelineOptions())


def classify_answer(loaded: LoadedModel, output: ModelOutput, duration_s: float,
                    batch_size: int) -> dict[str, Any]:
    """The analysis the service runs for /v1/classify, reduced to a small JSON answer."""
    analysis = read_out(output.times_s, output.probs, output.features, output.boundary_prob,
                       output.attention_mass, duration_s, loaded.labels, ReadoutOptions())
    return {
        "video_labels": [{"label": x.label, "score": round(x.score, 4)}
                         for x in analysis.video_labels],
        "shots": len(analysis.shots),
        "timings": {"batch_size": batch_size},
    }
