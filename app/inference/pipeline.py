"""One request's journey after the upload: decode -> batched model -> analysis -> refinement.

Shared by the HTTP service, the CLI and the job workers, so that every entry point computes the
same answer for the same video and options.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from app.errors import ModelNotFound, VideoBertError, VideoRejected
from app.inference.batcher import Batcher, BatchTiming
from app.inference.decode_pool import DecodePool, FrameChunkSink
from app.inference.worker import (
    FrameChunk,
    FrameFeatures,
    ModelInput,
    ModelOutput,
    SequenceInput,
    merge_chunks,
)
from app.model import LoadedModel
from app.postprocess import (
    Boundary,
    ReadoutOptions,
    VideoReadout,
    boundary_candidates,
    read_out,
    verified_boundaries,
)
from app.postprocess.hierarchy import Hierarchy
from app.postprocess.shot_vectors import ShotVectors, shot_vectors
from app.postprocess.zero_shot import Words, ZeroShotOptions, label_query
from app.video import Cue, DecodedVideo, SamplingSpec, VideoInfo, VideoPolicy

log = logging.getLogger(__name__)

StageHook = Callable[[str], Awaitable[None]]
# Hears the share (0..1) of the planned frames decoded so far, while the decode streams.
DecodeProgress = Callable[[float], None]


@dataclass(frozen=True)
class PipelineOptions:
    """Everything a caller may choose that changes the answer (and so the cache key)."""

    model: str | None = None
    fps: float | None = None
    max_frames: int | None = None
    num_frames: int | None = None
    mode: Literal["exact", "fast"] = "exact"
    top_k: int = 5
    min_confidence: float = 0.05
    include_frames: bool = False
    summary_ratio: float = 0.15
    num_keyframes: int | None = None
    thumbnails: bool = False
    thumbnail_px: int = 160
    refine_boundaries: bool = True
    # The caller's own labels, and a named label set of the model (classify only).
    labels: tuple[str, ...] = ()
    label_set: str | None = None
    show_guesses: bool = False
    # Each shot's vectors in text space and in feature space, for a library's index.
    shot_vectors: bool = False

    def cache_options(self) -> dict[str, object]:
        """The options that change the one computation's answer (labels, shots and summary),
        for the cache key. Not the thumbnails: the analyzer decodes and caches them apart."""
        return {
            "fps": self.fps, "max_frames": self.max_frames, "num_frames": self.num_frames,
            "mode": self.mode, "refine": self.refine_boundaries,
            "top_k": self.top_k, "min_confidence": self.min_confidence,
            "include_frames": self.include_frames, "labels": list(self.labels),
            "label_set": self.label_set, "show_guesses": self.show_guesses,
            "summary_ratio": self.summary_ratio, "num_keyframes": self.num_keyframes,
        }


@dataclass
class PipelineResult:
    model_name: str
    model_version: str
    info: VideoInfo
    decoded_mode: str
    times_s: np.ndarray
    analysis: VideoReadout
    timings_ms: dict[str, float] = field(default_factory=dict)
    batch_size: int = 1
    labels_truncated: list[str] = field(default_factory=list)
    shot_vectors: ShotVectors | None = None
    subtitles: list[Cue] = field(default_factory=list)


@dataclass
class ModelRuntime:
    """A loaded model and its batchers. ``batcher`` takes whole videos; a frame model also has
    the two steps of the streaming path: the CNN over chunks of frames, then the Transformer
    over whole sequences."""

    loaded: LoadedModel
    batcher: Batcher[ModelInput, ModelOutput]
    frame_batcher: Batcher[FrameChunk, FrameFeatures] | None = None
    sequence_batcher: Batcher[SequenceInput, ModelOutput] | None = None
    # The categories above the classes, as matrices built once per model.
    hierarchy: Hierarchy | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.loaded.categories is not None:
            self.hierarchy = Hierarchy.from_categories(len(self.loaded.labels),
                                                       self.loaded.categories)

    @property
    def batchers(self) -> list[Batcher[Any, Any]]:
        return [b for b in (self.batcher, self.frame_batcher, self.sequence_batcher)
                if b is not None]

    @property
    def crop(self) -> int:
        return int(self.loaded.manifest.input.crop)


class Pipeline:
    def __init__(self, *, decode_pool: DecodePool, models: dict[str, ModelRuntime],
                 default_model: str, policy: VideoPolicy, default_fps: float,
                 default_max_frames: int, decode_timeout_s: float,
                 stream_chunk_frames: int = 0) -> None:
        self.decode_pool = decode_pool
        self.models = models
        self.default_model = default_model
        self.policy = policy
        self.default_fps = default_fps
        self.default_max_frames = default_max_frames
        self.decode_timeout_s = decode_timeout_s
        self.stream_chunk_frames = stream_chunk_frames

    def runtime(self, name: str | None) -> ModelRuntime:
        key = name or self.default_model
        if key not in self.models:
            raise ModelNotFound(f"Model {key!r} is not loaded. Loaded models: "
                                f"{', '.join(sorted(self.models))}. See GET /v1/models.")
        return self.models[key]

    def sampling_spec(self, runtime: ModelRuntime, options: PipelineOptions) -> SamplingSpec:
        manifest = runtime.loaded.manifest
        spec_in = manifest.input
        # A clip model's rate is part of the model (its clips must span the time it was trained
        # on); an image model samples the timeline at the service's rate.
        model_fps = manifest.sampling.fps if runtime.loaded.model.is_clip_model else None
        return SamplingSpec(
            fps=options.fps or model_fps or self.default_fps,
            max_frames=options.max_frames or self.default_max_frames,
            num_frames=options.num_frames,
            mode=options.mode,
            short_side=int(spec_in.short_side),
            crop=int(spec_in.crop),
        )

    async def run(self, path: Path, options: PipelineOptions, *, deadline: float,
                  on_stage: StageHook | None = None,
                  on_progress: DecodeProgress | None = None) -> PipelineResult:
        """Decode, run the model, read out every answer: labels (the caller's own too), shots,
        summary and subtitles; the analyzer cuts each task's body from them. ``on_stage`` hears
        "decoded" and "inferred", ``on_progress`` how far a streaming decode is (the jobs and
        the CLI turn them into progress)."""
        runtime = self.runtime(options.model)
        timings: dict[str, float] = {}
        words: Words | None = None
        truncated: list[str] = []
        if options.labels or options.label_set:
            # Before the decode: an unknown label set is a 404 that costs nothing.
            started = time.monotonic()
            words, truncated = await asyncio.to_thread(words_for, runtime.loaded, options)
            timings["labels_ms"] = (time.monotonic() - started) * 1000

        spec = self.sampling_spec(runtime, options)
        if self.stream_chunk_frames and runtime.frame_batcher and runtime.sequence_batcher:
            decoded, output, batch_size = await self._decode_and_infer_streaming(
                runtime, path, spec, deadline, timings, on_stage, on_progress)
        else:
            decoded, output, batch_size = await self._decode_then_infer(
                runtime, path, spec, deadline, timings, on_stage)
        times_s = output.times_s
        if on_stage is not None:
            await on_stage("inferred")

        started = time.monotonic()
        boundaries = None
        if options.refine_boundaries:
            # In fast mode the samples are the keyframes already: no extra candidates.
            keyframes = decoded.keyframe_times_s if decoded.mode == "exact" else None
            boundaries = await self._verified_boundaries(path, times_s, output, keyframes,
                                                         deadline)
        timings["refine_ms"] = (time.monotonic() - started) * 1000

        started = time.monotonic()
        analysis_options = ReadoutOptions(
            top_k=options.top_k, min_confidence=options.min_confidence,
            summary_ratio=options.summary_ratio, num_keyframes=options.num_keyframes,
            include_frames=options.include_frames)
        analysis = await asyncio.to_thread(
            read_out, times_s, output.probs, output.features, output.boundary_prob,
            output.attention_mass, decoded.info.duration_s, runtime.loaded.labels,
            analysis_options, boundaries, words, runtime.hierarchy)
        vectors = None
        if options.shot_vectors:
            vectors = await asyncio.to_thread(self._shot_vectors, runtime, output, analysis)
        timings["analysis_ms"] = (time.monotonic() - started) * 1000

        cues: list[Cue] = []
        if decoded.info.subtitle_streams:
            cues = await self._subtitles(path, deadline)

        return PipelineResult(
            model_name=runtime.loaded.name, model_version=runtime.loaded.version,
            info=decoded.info, decoded_mode=decoded.mode, times_s=times_s,
            analysis=analysis, timings_ms=timings,
            batch_size=batch_size, labels_truncated=truncated, shot_vectors=vectors,
            subtitles=cues)

    async def _subtitles(self, path: Path, deadline: float) -> list[Cue]:
        """The file's text subtitles; a track that cannot be read costs the answer nothing."""
        try:
            cues: list[Cue] = await self.decode_pool.run(
                "read_subtitles", path, self.policy,
                timeout_s=self._time_left(deadline, self.decode_timeout_s))
        except VideoBertError as exc:
            log.warning("subtitles of %s skipped: %s", path.name, exc.code)
            return []
        return cues

    @staticmethod
    def _shot_vectors(runtime: ModelRuntime, output: ModelOutput, analysis: VideoReadout
                      ) -> ShotVectors:
        text = runtime.loaded.require_text()
        return shot_vectors(output.probs, output.features, analysis.shots, text.class_vectors,
                            text.zero_shot.mix)

    async def _decode(self, path: Path, spec: SamplingSpec, deadline: float,
                      on_chunk: FrameChunkSink | None = None
                      ) -> DecodedVideo:
        decoded: DecodedVideo = await self.decode_pool.decode(
            path, self.policy, spec, timeout_s=self._time_left(deadline, self.decode_timeout_s),
            wait_s=max(0.0, deadline - time.monotonic()), on_chunk=on_chunk,
            chunk_frames=self.stream_chunk_frames)
        return decoded

    async def _decode_then_infer(self, runtime: ModelRuntime, path: Path, spec: SamplingSpec,
                                 deadline: float, timings: dict[str, float],
                                 on_stage: StageHook | None
                                 ) -> tuple[DecodedVideo, ModelOutput, int]:
        """The whole video decoded, then one model call: clip models, and streaming off."""
        started = time.monotonic()
        decoded = await self._decode(path, spec, deadline)
        timings["decode_ms"] = (time.monotonic() - started) * 1000
        if on_stage is not None:
            await on_stage("decoded")
        output, batch_timing = await runtime.batcher.submit(
            ModelInput(decoded.frames, decoded.times_s), deadline=deadline)
        timings["queue_ms"] = batch_timing.queue_ms
        timings["inference_ms"] = batch_timing.compute_ms
        timings["model_tail_ms"] = timings["queue_ms"] + timings["inference_ms"]
        return decoded, output, batch_timing.batch_size

    async def _decode_and_infer_streaming(
            self, runtime: ModelRuntime, path: Path, spec: SamplingSpec, deadline: float,
            timings: dict[str, float], on_stage: StageHook | None,
            on_progress: DecodeProgress | None = None
    ) -> tuple[DecodedVideo, ModelOutput, int]:
        """The CNN runs on each chunk of frames as the decoder sends it, so that decoding and
        the model overlap within one request; the Transformer runs once all chunks are in.

        Timings, all wall time within the request: ``decode_ms`` the decode's, ``inference_ms``
        the time some batch was computing this video's frames (the union of their intervals;
        a batch may carry other videos too), ``queue_ms`` the time some of its frames waited
        for a batch, ``model_tail_ms`` what the model added after the last frame was decoded
        (the only model time the caller waits for on top of decoding). They overlap: decoding
        and the model run at once.
        """
        assert runtime.frame_batcher is not None and runtime.sequence_batcher is not None
        frame_batcher = runtime.frame_batcher
        chunk_tasks: list[asyncio.Future[tuple[FrameFeatures, BatchTiming]]] = []
        is_open = True

        def on_chunk(times_s: np.ndarray, frames: np.ndarray, share: float) -> None:
            if is_open:  # chunks of a request that has failed or gone are dropped
                chunk_tasks.append(asyncio.ensure_future(
                    frame_batcher.submit(FrameChunk(frames, times_s), deadline=deadline)))
                if on_progress is not None:
                    on_progress(share)

        started = time.monotonic()
        try:
            decoded = await self._decode(path, spec, deadline, on_chunk)
            decoded_at = time.monotonic()
            timings["decode_ms"] = (decoded_at - started) * 1000
            if on_stage is not None:
                await on_stage("decoded")
            chunks = await asyncio.gather(*chunk_tasks)
            if not chunks:  # a decode that returns has sent a frame; never answer 500 if not
                raise VideoRejected("No frame of the video could be decoded. Re-encode it.",
                                    code="no_decodable_frames")
            output, seq_timing = await runtime.sequence_batcher.submit(
                merge_chunks([features for features, _ in chunks]), deadline=deadline)
        finally:
            is_open = False
            _discard(chunk_tasks)
        # Wall time, like every figure: the chunks' batches overlap one another and the decode
        # (a sum over them once reported 15 s of inference inside a 4 s request).
        batches = [t for _, t in chunks] + [seq_timing]
        timings["queue_ms"] = _union_ms([(t.enqueued_at, t.started_at) for t in batches])
        timings["inference_ms"] = _union_ms([(t.started_at, t.ended_at) for t in batches])
        timings["model_tail_ms"] = (time.monotonic() - decoded_at) * 1000
        return decoded, output, seq_timing.batch_size

    async def _verified_boundaries(self, path: Path, times_s: np.ndarray, output: ModelOutput,
                                   keyframe_times_s: np.ndarray | None, deadline: float
                                   ) -> list[Boundary] | None:
        """Check every peak of the boundary head (and every keyframe the encoder put at a scene
        change) against the frames of its gap, decoded small and gray at the full frame rate
        (all gaps in one decoder call: one open and one packet scan for the whole video): cuts
        and gradual transitions stay, placed where they happen; camera motion goes. None:
        nothing could be decoded, so read out the peaks as they are."""
        candidates, windows = boundary_candidates(times_s, output.boundary_prob,
                                                  ReadoutOptions().boundary_threshold,
                                                  keyframe_times_s)
        if not candidates:
            return []
        strips: list[tuple[np.ndarray, np.ndarray]] = []
        if windows:
            try:
                strips = await self.decode_pool.run(
                    "decode_gray_strips", path, [window for _, window in windows],
                    timeout_s=self._time_left(deadline, self.decode_timeout_s))
            except Exception:  # verification is an improvement, never a reason to fail
                log.warning("boundary verification failed for %d gaps", len(windows),
                            exc_info=True)
                return None
        return await asyncio.to_thread(verified_boundaries, times_s, candidates, windows, strips)

    @staticmethod
    def _time_left(deadline: float, cap_s: float) -> float:
        return max(0.05, min(cap_s, deadline - time.monotonic()))


def words_for(loaded: LoadedModel, options: PipelineOptions) -> tuple[Words, list[str]]:
    """The caller's labels (a label set's, then their own) in the model's text space, and the
    ones cut to the encoder's token limit."""
    text = loaded.require_text()
    names: list[str] = []
    vectors: list[np.ndarray] = []
    if options.label_set:
        label_set = text.label_set(options.label_set)
        names += label_set.labels
        vectors.append(label_set.vectors)
    truncated: list[str] = []
    if options.labels:
        encoded = text.encode(list(options.labels))
        names += options.labels
        vectors.append(encoded.vectors)
        truncated = [t for t, cut in zip(options.labels, encoded.truncated, strict=True) if cut]
    zero_shot = ZeroShotOptions(**text.zero_shot.model_dump())
    query = label_query(names, np.vstack(vectors), text.class_vectors, zero_shot.hub_k)
    return Words(query, text.class_vectors, zero_shot), truncated


def _discard(tasks: list[asyncio.Future[Any]]) -> None:
    """Cancel what is still pending and retrieve every outcome, so that a failed request leaves
    no work queued and no "exception was never retrieved" behind."""
    for task in tasks:
        if task.done():
            if not task.cancelled():
                task.exception()
        else:
            task.cancel()
            task.add_done_callback(lambda t: t.cancelled() or t.exception())


def _union_ms(intervals: list[tuple[float, float]]) -> float:
    """Milliseconds covered by the union of ``(start, end)`` intervals (seconds)."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end <= reach:
            continue
        total += end - max(start, reach)
        reach = end
    return total * 1000
