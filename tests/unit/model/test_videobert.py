"""VideoBert: preprocessing, the two encode calls, batching invariance and bf16."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from app.model import LoadedModel, load_model
from app.model.fusion import fuse_conv_bn_act
from app.model.tiny import TinyFrameEncoder
from app.model.videobert import VideoBert
from tests.media import sample_clip
from tests.model_fixtures import make_tiny_store
from tests.unit.model.conftest import decode_frames


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    return load_model(make_tiny_store(tmp_path_factory.mktemp("store")), "tiny")


def test_preprocess_normalises_each_channel_at_crop_size(tiny: LoadedModel) -> None:
    frames = np.zeros((2, 64, 64, 3), dtype=np.uint8)
    frames[0, ..., 0] = 255
    frames[0, ..., 1] = 127
    x = tiny.model.preprocess(frames)
    assert x.shape == (2, 3, 64, 64) and x.dtype == torch.float32
    assert torch.equal(x[0, 0], torch.ones(64, 64))  # (255 - 127) / 128
    assert torch.equal(x[0, 1], torch.zeros(64, 64))
    assert torch.equal(x[1, 2], torch.full((64, 64), -127 / 128))


def test_preprocess_resizes_the_short_side_and_takes_the_centre(tiny: LoadedModel) -> None:
    # Three vertical bands; after short side 72 and a centre 64 crop only the middle one is left.
    frame = np.zeros((1, 90, 270, 3), dtype=np.uint8)
    frame[:, :, :90, 0] = 255
    frame[:, :, 90:180, 1] = 255
    frame[:, :, 180:, 2] = 255
    x = tiny.model.preprocess(frame)
    assert x.shape == (1, 3, 64, 64)
    assert torch.equal(x[0, 1], torch.ones(64, 64))
    assert torch.equal(x[0, 0], torch.full((64, 64), -127 / 128))


def test_preprocess_refuses_float_frames(tiny: LoadedModel) -> None:
    with pytest.raises(ValueError, match="uint8"):
        tiny.model.preprocess(np.zeros((1, 64, 64, 3), dtype=np.float32))


def test_encode_frames_returns_features_and_logits(tiny: LoadedModel) -> None:
    x = tiny.model.preprocess(np.zeros((3, 64, 64, 3), dtype=np.uint8))
    features, logits = tiny.model.encode_frames(x)
    assert features.shape == (3, 32) and logits.shape == (3, 8)
    assert features.dtype == logits.dtype == torch.float32


def test_a_sequence_gets_the_same_answer_alone_and_in_a_batch(tiny: LoadedModel) -> None:
    generator = torch.Generator().manual_seed(0)
    seqs = [torch.randn(n, 32, generator=generator) for n in (4, 11, 1, 7)]
    batched = tiny.model.encode_sequences(seqs)
    assert [out.boundary_prob.shape[0] for out in batched] == [4, 11, 1, 7]
    for seq, out in zip(seqs, batched, strict=True):
        (alone,) = tiny.model.encode_sequences([seq])
        torch.testing.assert_close(out.boundary_prob, alone.boundary_prob, atol=1e-5, rtol=0)
        torch.testing.assert_close(out.attention_mass, alone.attention_mass, atol=1e-5, rtol=0)
        torch.testing.assert_close(out.hidden, alone.hidden, atol=1e-5, rtol=0)
        assert out.hidden.shape == (seq.shape[0], 32)
        assert out.boundary_prob[-1].item() == 0.0
        assert abs(out.attention_mass.sum().item() - 1.0) < 1e-5


def test_no_sequences_no_outputs_and_empty_ones_refused(tiny: LoadedModel) -> None:
    assert tiny.model.encode_sequences([]) == []
    with pytest.raises(ValueError, match="at least one frame"):
        tiny.model.encode_sequences([torch.zeros(0, 32)])


def test_fp16_is_refused_on_cpu(tiny: LoadedModel) -> None:
    model = copy.deepcopy(tiny.model)
    model.set_precision("fp16")
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        model.encode_frames(torch.zeros(1, 3, 64, 64))


def real_frames(model: VideoBert) -> torch.Tensor:
    """Six real frames, two from each sample clip, preprocessed: (6, 3, 224, 224). Their fp32
    top-1 logit leads the runner-up by more than 0.5, so the test is about precision, not
    about breaking near-ties (bf16 moves the margins by up to about 0.6 here)."""
    clips = {"bikes.mp4": [10, 245], "carphone_pristine.mp4": [5, 50],
             "bigbuckbunny.mp4": [60, 110]}
    return torch.cat([model.preprocess(decode_frames(sample_clip(name), indices))
                      for name, indices in clips.items()])


@pytest.mark.parametrize("fused", [False, True], ids=["plain", "fused"])
def test_bf16_gives_the_same_top1_as_fp32_on_real_frames(lite0_videobert: VideoBert,
                                                         fused: bool) -> None:
    """bf16 against the plain fp32 CNN, with and without the CPU fusion the service uses."""
    x = real_frames(lite0_videobert)  # (6, 3, 224, 224)
    features_fp32, logits_fp32 = lite0_videobert.encode_frames(x)
    bf16 = copy.deepcopy(lite0_videobert)
    if fused:
        fuse_conv_bn_act(bf16.frame_encoder)
    bf16.set_precision("bf16")
    features_bf16, logits_bf16 = bf16.encode_frames(x)
    assert features_bf16.dtype == torch.float32
    assert logits_bf16.argmax(dim=1).tolist() == logits_fp32.argmax(dim=1).tolist()
    cosine = torch.nn.functional.cosine_similarity(features_bf16, features_fp32, dim=1)
    assert bool((cosine > 0.99).all())

    seq_fp32 = lite0_videobert.encode_sequences([features_fp32])[0]
    seq_bf16 = bf16.encode_sequences([features_fp32])[0]
    torch.testing.assert_close(seq_bf16.boundary_prob, seq_fp32.boundary_prob, atol=0.02,
                               rtol=0)
    torch.testing.assert_close(seq_bf16.attention_mass, seq_fp32.attention_mass, atol=0.02,
                               rtol=0)
    assert abs(seq_bf16.attention_mass.sum().item() - 1.0) < 1e-5


def test_bf16_runs_the_cnn_channels_last(tmp_path: Path) -> None:
    loaded = load_model(make_tiny_store(tmp_path), "tiny", precision="bf16")
    encoder = loaded.model.frame_encoder
    assert isinstance(encoder, TinyFrameEncoder)
    conv_weight = next(encoder.conv.parameters())  # the first conv's (8, 3, 3, 3) weight
    assert loaded.model.precision == "bf16"
    assert conv_weight.is_contiguous(memory_format=torch.channels_last)
    assert not conv_weight.is_contiguous()


def test_train_mode_leaves_the_cnn_frozen_in_eval(tiny: LoadedModel) -> None:
    model = copy.deepcopy(tiny.model)
    model.train()
    assert model.temporal.training and model.boundary_head.training
    assert not model.frame_encoder.training
    assert not any(m.training for m in model.frame_encoder.modules())
