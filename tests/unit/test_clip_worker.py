"""The model worker with clip models: frames grouped into clips, one Transformer position each.

Clip models are torchvision's Kinetics networks with seeded random weights saved into a
temporary store with correct sha256s (the Kinetics weights cannot be downloaded here), loaded
through ``load_model`` exactly as a pulled model would be, and fed real decoded frames.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from app.inference.worker import (
    ModelInput,
    ModelOutput,
    ModelWorker,
    clip_frame_indices,
    clip_times,
)
from app.model import LoadedModel, load_model
from app.model.files import sha256_file
from app.model.manifest import (
    ClassLabelsRef,
    FrameEncoderSpec,
    InputSpec,
    Manifest,
    SamplingDefaults,
    TemporalSpec,
    WeightsRef,
    write_manifest,
)
from app.model.store import build_sequence_modules, save_temporal_weights
from app.model.video_backbones import CLIP_ARCHS, build_torchvision_net, kinetics400_labels
from app.model.videobert import VideoBert
from app.video import SamplingSpec, VideoPolicy, decode
from tests.media import sample_clip
from tests.model_fixtures import make_tiny_store

CLIP = 8
CROP = 32
KINETICS_MEAN = (110.2008, 100.63983, 95.99475)
KINETICS_STD = (58.14765, 56.46975, 55.332195)


def make_clip_store(root: Path, arch: str, *, with_temporal: bool, seed: int = 0) -> Path:
    """``root/<arch>-test/0.0.1``: the torchvision network with seeded weights, Kinetics labels,
    and (if asked) locally initialised temporal weights; every sha256 correct."""
    name, version = f"{arch}-test", "0.0.1"
    folder = root / name / version
    folder.mkdir(parents=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build_torchvision_net(arch)
    torch.save(net.state_dict(), folder / "weights.pth")
    (folder / "labels.txt").write_text("".join(f"{c}\n" for c in kinetics400_labels()),
                                       encoding="utf-8")

    def manifest(temporal_weights: WeightsRef | None) -> Manifest:
        return Manifest(
            name=name, version=version, description="seeded test clip model",
            frame_encoder=FrameEncoderSpec(
                arch=arch, kind="clip", clip_frames=CLIP, num_classes=400,
                feature_dim=CLIP_ARCHS[arch].feature_dim,
                weights=WeightsRef(path="weights.pth", sha256=sha256_file(folder / "weights.pth"))),
            input=InputSpec(short_side=CROP, crop=CROP, mean=KINETICS_MEAN, std=KINETICS_STD),
            temporal=TemporalSpec(d_model=32, n_layers=1, n_heads=2, max_len=64, head_hidden=32,
                                  weights=temporal_weights),
            sampling=SamplingDefaults(fps=8.0, max_frames=256),
            labels=ClassLabelsRef(path="labels.txt", sha256=sha256_file(folder / "labels.txt")))

    temporal_ref = None
    if with_temporal:
        draft = manifest(None)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1)
            temporal, head = build_sequence_modules(draft)
        sha = save_temporal_weights(VideoBert(nn.Identity(), temporal, head, draft.input),
                                    folder / "temporal.pt")
        temporal_ref = WeightsRef(path="temporal.pt", sha256=sha)
    write_manifest(manifest(temporal_ref), folder)
    return root


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("clip_store")
    make_clip_store(root, "r3d_18", with_temporal=False)
    make_clip_store(root, "swin3d_t", with_temporal=True)
    return root


@pytest.fixture(scope="module")
def r3d(store: Path) -> LoadedModel:
    torch.set_num_threads(1)
    return load_model(store, "r3d_18-test")


@pytest.fixture(scope="module")
def swin(store: Path) -> LoadedModel:
    return load_model(store, "swin3d_t-test")


def decoded(name: str, *, fps: float = 8.0, max_frames: int = 256,
            num_frames: int | None = None) -> ModelInput:
    """Real frames of a sample clip, at the model's crop, with their presentation times."""
    spec = SamplingSpec(fps=fps, max_frames=max_frames, num_frames=num_frames, short_side=CROP,
                        crop=CROP)
    video = decode(sample_clip(name), VideoPolicy(), spec)
    return ModelInput(video.frames, video.times_s)


@pytest.fixture(scope="module")
def videos() -> list[ModelInput]:
    # 20 frames -> clips of 8, 8 and 4 (+4 repeats); 5 frames -> one padded clip.
    return [decoded("carphone_pristine.mp4", max_frames=20),
            decoded("bikes.mp4", num_frames=5)]


def test_clip_indices_pad_the_last_clip_with_its_last_frame() -> None:
    assert clip_frame_indices(20, 8).tolist() == [
        [0, 1, 2, 3, 4, 5, 6, 7],
        [8, 9, 10, 11, 12, 13, 14, 15],
        [16, 17, 18, 19, 19, 19, 19, 19]]
    assert clip_frame_indices(16, 8).shape == (2, 8)
    assert clip_frame_indices(3, 8).tolist() == [[0, 1, 2, 2, 2, 2, 2, 2]]
    assert clip_frame_indices(1, 4).tolist() == [[0, 0, 0, 0]]
    with pytest.raises(ValueError, match="at least one frame"):
        clip_frame_indices(0, 8)


def test_clip_time_is_the_centre_of_its_real_frames() -> None:
    times = np.arange(20) * 0.25
    centres = clip_times(times, clip_frame_indices(20, 8))
    np.testing.assert_array_equal(centres, [(0 + 1.75) / 2, (2.0 + 3.75) / 2, (4.0 + 4.75) / 2])


def test_loaded_clip_model(r3d: LoadedModel) -> None:
    assert r3d.model.is_clip_model and r3d.model.clip_frames == CLIP
    assert not r3d.model.has_temporal  # temporal.weights is null
    assert r3d.can_classify and len(r3d.labels) == 400
    r3d.require_classifier()  # a classifier: no error


def _direct_clip(model: VideoBert, item: ModelInput, index: np.ndarray
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """One clip through the backbone by hand: frames[index] -> (1, 3, L, H, W)."""
    x = model.preprocess(item.frames[index])  # (L, 3, H, W)
    return model.encode_clips(x.permute(1, 0, 2, 3)[None])


def test_worker_groups_each_videos_frames_into_clips(r3d: LoadedModel,
                                                     videos: list[ModelInput]) -> None:
    assert [v.num_frames for v in videos] == [20, 5]
    outputs = ModelWorker(r3d, "cpu", max_batch_frames=16).run_batch(videos)
    assert len(outputs) == 2
    for item, out, clips in zip(videos, outputs, (3, 1), strict=True):
        assert out.probs.shape == (clips, 400)
        assert out.features.shape == (clips, 512)
        np.testing.assert_allclose(out.probs.sum(axis=1), 1.0, rtol=1e-5)
        index = clip_frame_indices(item.num_frames, CLIP)
        np.testing.assert_array_equal(out.times_s, clip_times(item.times_s, index))
        # No Transformer: one shot, every clip weighs the same.
        np.testing.assert_array_equal(out.boundary_prob, np.zeros(clips))
        np.testing.assert_allclose(out.attention_mass, np.full(clips, 1 / clips))
        for k in range(clips):
            features, logits = _direct_clip(r3d.model, item, index[k])
            np.testing.assert_allclose(out.features[k], features[0].numpy(), atol=1e-4)
            np.testing.assert_allclose(out.probs[k], torch.softmax(logits[0], -1).numpy(),
                                       atol=1e-5)


def test_padded_clip_differs_from_an_unpadded_reading(r3d: LoadedModel,
                                                      videos: list[ModelInput]) -> None:
    # Guards the comparison above: a wrong grouping would give visibly different features.
    item = videos[0]
    padded, _ = _direct_clip(r3d.model, item, np.array([16, 17, 18, 19, 19, 19, 19, 19]))
    shifted, _ = _direct_clip(r3d.model, item, np.arange(12, 20))
    assert float((padded - shifted).abs().max()) > 1e-2


def test_clip_times_follow_the_decoded_times(r3d: LoadedModel,
                                             videos: list[ModelInput]) -> None:
    (out,) = ModelWorker(r3d, "cpu", max_batch_frames=16).run_batch([videos[0]])
    t = videos[0].times_s
    np.testing.assert_allclose(out.times_s, [(t[0] + t[7]) / 2, (t[8] + t[15]) / 2,
                                             (t[16] + t[19]) / 2])
    assert np.all(np.diff(out.times_s) > 0)


def test_chunk_size_and_batch_partners_do_not_change_a_videos_answer(
        r3d: LoadedModel, videos: list[ModelInput]) -> None:
    together = ModelWorker(r3d, "cpu", max_batch_frames=32).run_batch(videos)
    one_clip_at_a_time = ModelWorker(r3d, "cpu", max_batch_frames=1).run_batch(videos)
    (alone,) = ModelWorker(r3d, "cpu", max_batch_frames=32).run_batch([videos[1]])
    for a, b in zip(together, one_clip_at_a_time, strict=True):
        np.testing.assert_allclose(a.features, b.features, atol=1e-4)
    np.testing.assert_allclose(together[1].features, alone.features, atol=1e-4)
    np.testing.assert_array_equal(together[1].times_s, alone.times_s)


def test_clip_model_with_a_transformer_gets_one_position_per_clip(
        swin: LoadedModel, videos: list[ModelInput]) -> None:
    assert swin.model.has_temporal
    outputs = ModelWorker(swin, "cpu", max_batch_frames=16).run_batch(videos)
    for out, clips in zip(outputs, (3, 1), strict=True):
        assert out.features.shape == (clips, 768)
        assert out.probs.shape == (clips, 400)
        assert out.boundary_prob.shape == out.attention_mass.shape == (clips,)
        assert np.all((out.boundary_prob >= 0) & (out.boundary_prob <= 1))
        assert out.boundary_prob[-1] == 0.0  # no clip after the last one
        assert float(out.attention_mass.sum()) == pytest.approx(1.0, abs=1e-5)
    # The same features through the model's own Transformer call.
    seq = swin.model.encode_sequences([torch.from_numpy(outputs[0].features)])[0]
    np.testing.assert_allclose(outputs[0].boundary_prob, seq.boundary_prob.numpy(), atol=1e-5)


def test_warm_up_runs_a_clip_model(r3d: LoadedModel) -> None:
    worker = ModelWorker(r3d, "cpu", max_batch_frames=16)
    seen: list[tuple[list[int], list[ModelOutput]]] = []
    run_batch = worker.run_batch

    def spy(inputs: list[ModelInput]) -> list[ModelOutput]:
        outputs = list(run_batch(inputs))
        seen.append(([int(i.num_frames) for i in inputs], outputs))
        return outputs

    worker.run_batch = spy  # type: ignore[method-assign]
    worker.warm_up(CROP)
    ((frames, outputs),) = seen  # one full pass, of two videos of different lengths
    assert frames == [4, 2]
    for out in outputs:
        assert out.probs.shape[1] == 400
        assert np.isfinite(out.probs).all() and np.isfinite(out.features).all()


def test_image_models_keep_one_position_per_frame(tmp_path: Path) -> None:
    tiny = load_model(make_tiny_store(tmp_path), "tiny")
    frames = np.random.default_rng(0).integers(0, 256, (7, 64, 64, 3), dtype=np.uint8)
    times = np.arange(7) / 2
    (out,) = ModelWorker(tiny, "cpu", max_batch_frames=4).run_batch([ModelInput(frames, times)])
    features, logits = tiny.model.encode_frames(tiny.model.preprocess(frames))
    seq = tiny.model.encode_sequences([features])[0]
    assert out.times_s is times
    np.testing.assert_allclose(out.features, features.numpy(), atol=1e-6)
    np.testing.assert_allclose(out.probs, torch.softmax(logits, -1).numpy(), atol=1e-6)
    np.testing.assert_allclose(out.boundary_prob, seq.boundary_prob.numpy(), atol=1e-6)


def test_bf16_runs_clips_channels_last_3d(store: Path, r3d: LoadedModel,
                                          videos: list[ModelInput]) -> None:
    bf16 = load_model(store, "r3d_18-test", precision="bf16")
    conv = next(m for m in bf16.model.frame_encoder.modules() if isinstance(m, nn.Conv3d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last_3d)
    (low,) = ModelWorker(bf16, "cpu", max_batch_frames=16).run_batch([videos[0]])
    (high,) = ModelWorker(r3d, "cpu", max_batch_frames=16).run_batch([videos[0]])
    assert low.features.dtype == np.float32 and low.features.shape == high.features.shape
    cosine = (low.features * high.features).sum(1) / (
        np.linalg.norm(low.features, axis=1) * np.linalg.norm(high.features, axis=1))
    assert np.all(cosine > 0.99)
