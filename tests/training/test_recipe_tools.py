"""Helpers of the recipe: boundary matching, the manifest edit, encoded test videos, the
feature cache, and training windows."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np

from training import synth
from training.features import FeatureCache
from training.metrics import match_boundaries
from training.train_temporal import random_window, set_manifest_temporal_sha
from training.videos import edit_frames, write_video

from .test_synth import SOURCES


def test_each_truth_is_matched_once_within_tolerance() -> None:
    counts = match_boundaries([1.0, 1.1, 3.0, 7.0], [1.05, 3.6, 6.7])
    # 1.0 and 1.1 compete for 1.05 (one wins, one is a false positive); 3.0 is 0.6 s off 3.6.
    assert (counts.tp, counts.fp, counts.fn) == (2, 2, 1)
    assert counts.precision == 0.5 and counts.recall == 2 / 3


def test_no_predictions_and_no_truth_is_perfect() -> None:
    counts = match_boundaries([], [])
    assert (counts.precision, counts.recall) == (1.0, 1.0)


def test_manifest_edit_changes_only_the_temporal_sha(tmp_path: Path) -> None:
    text = ('{\n  "frame_encoder": {"weights": {"sha256": "PENDING"}},\n'
            '  "temporal": {\n    "d_model": 8,\n    "weights": {\n      "path": "temporal.pt",\n'
            '      "sha256": "PENDING"\n    }\n  },\n  "labels": {"sha256": "abc"}\n}\n')
    path = tmp_path / "manifest.json"
    path.write_text(text)
    set_manifest_temporal_sha(path, "f" * 64)
    updated = path.read_text()
    assert json.loads(updated)["temporal"]["weights"]["sha256"] == "f" * 64
    assert json.loads(updated)["frame_encoder"]["weights"]["sha256"] == "PENDING"
    assert updated == text.replace('"sha256": "PENDING"\n', f'"sha256": "{"f" * 64}"\n')


def test_rendered_edit_encodes_with_the_cut_on_the_right_frame(tmp_path: Path) -> None:
    pool = synth.make_shot_pool(SOURCES, np.random.default_rng(1), synth.PoolConfig(1, 1, 1))
    a, b = pool[0], next(s for s in pool if s.group != pool[0].group)
    cut = synth.Transition("cut", 1.0, 0.0)
    edit = synth.Edit((synth.Segment(a.digest, 0.0, 1.0, 0.0),
                       synth.Segment(b.digest, 1.0, 2.0, 0.0)), (cut,), 2.0)
    renderer = synth.FrameRenderer(pool, SOURCES)
    path = tmp_path / "cut.mp4"
    assert write_video(path, edit_frames(renderer, edit, fps=25, size=(96, 64)), fps=25) == 50
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24").astype(np.float32) for f in container.decode(stream)]
        assert (stream.width, stream.height) == (96, 64)
    diffs = [np.abs(frames[i + 1] - frames[i]).mean() for i in range(len(frames) - 1)]
    assert len(frames) == 50
    assert int(np.argmax(diffs)) + 1 == 25  # frame 25 (t = 1.0 s) is the first of shot b


def test_feature_cache_round_trips_through_disk(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path)
    cache.add(["s/x/0", "s/x/1"], np.array([[1.0, 2.0], [3.0, 4.5]], dtype=np.float32))
    again = FeatureCache(tmp_path)
    assert len(again) == 2 and "s/x/1" in again
    assert again.get(["s/x/1", "s/x/0"]).tolist() == [[3.0, 4.5], [1.0, 2.0]]


def test_training_window_drops_the_gap_leading_out_of_it() -> None:
    pool = synth.make_shot_pool(SOURCES, np.random.default_rng(2), synth.PoolConfig(2, 1, 2))
    rng = np.random.default_rng(0)
    timeline = synth.make_timeline(pool, rng)
    for _ in range(20):
        keys, labels, weights = random_window(timeline, rng, 32)
        assert len(keys) == len(labels) == len(weights) <= 32
        assert len(keys) >= min(16, len(timeline.keys))
        assert labels[-1] == 0 and weights[-1] == 0
        n = len(keys)
        # The window is a contiguous stretch with the timeline's own labels inside it.
        assert any(timeline.keys[s:s + n] == keys
                   and np.array_equal(timeline.labels[s:s + n - 1], labels[:-1])
                   for s in range(len(timeline.keys) - n + 1))


def test_channel_shuffle_permutes_each_chosen_sequence_and_keeps_the_rest() -> None:
    import torch

    from training.train_temporal import permute_channels

    x = torch.arange(2 * 3 * 6, dtype=torch.float32).view(2, 3, 6)
    same = permute_channels(x, np.random.default_rng(0), share=0.0)
    assert torch.equal(same, x)
    shuffled = permute_channels(x, np.random.default_rng(0), share=1.0)
    again = permute_channels(x, np.random.default_rng(0), share=1.0)
    assert torch.equal(shuffled, again)
    for b in range(2):
        # One permutation per sequence, the same for all its time steps.
        order = [int(v) % 6 for v in shuffled[b, 0]]
        assert sorted(order) == list(range(6)) and order != list(range(6))
        assert torch.equal(shuffled[b], x[b][:, order])


def test_loss_ignores_gaps_without_a_label() -> None:
    import torch

    from training.train_temporal import boundary_loss

    mask = torch.tensor([[True, True, True, True, False]])
    labels = torch.tensor([[0.0, 1.0, 0.0, 0.0, 0.0]])
    weights = torch.tensor([[1.0, 1.0, 0.0, 0.0, 0.0]])
    logits = torch.tensor([[-2.0, 2.0, 5.0, 7.0, 0.0]])
    base = boundary_loss(logits, mask, labels, weights, pos_weight=3.0)
    changed = logits.clone()
    changed[0, 2:] = -9.0  # only gaps with weight 0 (or padding) change
    assert torch.equal(boundary_loss(changed, mask, labels, weights, 3.0), base)
    # Negative at logit -2: softplus(-2); positive at logit 2: 3 * softplus(-2); mean of two.
    expected = (1.0 + 3.0) * torch.nn.functional.softplus(torch.tensor(-2.0)) / 2
    assert torch.allclose(base, expected)
