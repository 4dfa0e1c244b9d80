"""The model worker runs the Transformer over groups of similar length, answers in input order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from app.inference.worker import ModelInput, ModelWorker, length_groups
from app.model import load_model
from tests.model_fixtures import make_tiny_store


def test_groups_keep_lengths_within_the_ratio() -> None:
    assert length_groups([20, 256, 20, 60, 120, 30]) == [[0, 2, 5], [3, 4], [1]]
    assert length_groups([60] * 4) == [[0, 1, 2, 3]]
    assert length_groups([5]) == [[0]]
    assert length_groups([]) == []
    assert length_groups([10, 21], max_ratio=2.0) == [[0], [1]]
    assert length_groups([10, 20], max_ratio=2.0) == [[0, 1]]


@pytest.fixture(scope="module")
def tiny_worker(tmp_path_factory: pytest.TempPathFactory) -> ModelWorker:
    store: Path = make_tiny_store(tmp_path_factory.mktemp("store"))
    return ModelWorker(load_model(store, "tiny"), "cpu", max_batch_frames=16)


def test_uneven_batch_answers_as_each_video_alone(tiny_worker: ModelWorker) -> None:
    rng = np.random.default_rng(0)
    lengths = [3, 40, 5, 17, 90]
    inputs = [ModelInput(rng.integers(0, 255, (n, 64, 64, 3), dtype=np.uint8),
                         np.arange(n) / 2.0) for n in lengths]
    batched = tiny_worker.run_batch(inputs)
    assert [len(o.boundary_prob) for o in batched] == lengths
    for item, out in zip(inputs, batched, strict=True):
        (alone,) = tiny_worker.run_batch([item])
        np.testing.assert_array_equal(out.times_s, item.times_s)
        torch.testing.assert_close(torch.from_numpy(out.boundary_prob),
                                   torch.from_numpy(alone.boundary_prob), atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(torch.from_numpy(out.attention_mass),
                                   torch.from_numpy(alone.attention_mass), atol=1e-5, rtol=1e-4)
