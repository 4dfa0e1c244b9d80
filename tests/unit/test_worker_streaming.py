"""The streaming path's model steps: the CNN over chunks, then the Transformer over the merged
sequence, give what one whole-video call gives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from app.inference.worker import (
    FrameChunk,
    FrameFeatures,
    ModelInput,
    ModelWorker,
    merge_chunks,
)
from app.model import load_model
from tests.model_fixtures import make_tiny_store


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> ModelWorker:
    store = make_tiny_store(tmp_path_factory.mktemp("store"))
    loaded = load_model(store, "tiny", precision="fp32")
    return ModelWorker(loaded, "cpu", max_batch_frames=5)


def video(seed: int, frames: int, crop: int = 64) -> ModelInput:
    rng = np.random.default_rng(seed)
    return ModelInput(rng.integers(0, 255, (frames, crop, crop, 3), dtype=np.uint8),
                      np.arange(frames) / 2.0)


def test_merge_sorts_by_time_and_keeps_one_copy_of_each_frame() -> None:
    def part(times: list[float]) -> FrameFeatures:
        t = torch.tensor(times)
        return FrameFeatures(np.array(times), t[:, None].repeat(1, 3), -t[:, None])

    merged = merge_chunks([part([2.0, 3.0]), part([0.0, 1.0]), part([1.0, 4.0])])
    np.testing.assert_array_equal(merged.times_s, [0, 1, 2, 3, 4])
    assert merged.features[:, 0].tolist() == [0, 1, 2, 3, 4]
    assert merged.logits[:, 0].tolist() == [0, -1, -2, -3, -4]
    with pytest.raises(ValueError):
        merge_chunks([])


def test_chunked_steps_equal_one_whole_video_call(worker: ModelWorker) -> None:
    videos = [video(0, 13), video(1, 4), video(2, 1)]
    whole = worker.run_batch(videos)
    # Chunks of every video mixed in two CNN batches, as concurrent requests would be.
    chunks = [(v, FrameChunk(item.frames[s:s + 4], item.times_s[s:s + 4]))
              for v, item in enumerate(videos) for s in range(0, item.num_frames, 4)]
    features = (worker.run_frame_chunks([c for _, c in chunks[::2]])
                + worker.run_frame_chunks([c for _, c in chunks[1::2]]))
    by_video: dict[int, list[FrameFeatures]] = {}
    for (v, _), answer in zip(chunks[::2] + chunks[1::2], features, strict=True):
        by_video.setdefault(v, []).append(answer)
    streamed = worker.run_sequences([merge_chunks(by_video[v]) for v in range(len(videos))])
    for a, b in zip(whole, streamed, strict=True):
        np.testing.assert_array_equal(a.times_s, b.times_s)
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-5)
        np.testing.assert_allclose(a.features, b.features, atol=1e-5)
        np.testing.assert_allclose(a.boundary_prob, b.boundary_prob, atol=1e-5)
        np.testing.assert_allclose(a.attention_mass, b.attention_mass, atol=1e-5)

