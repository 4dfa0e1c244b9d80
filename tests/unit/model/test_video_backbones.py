"""torchvision's Kinetics-400 video classifiers as clip backbones, and their shipped manifests.

The Kinetics weights cannot be downloaded here, so the networks carry seeded random weights: what
is tested is the code path (features before the classifier, the same logits as torchvision's
own forward) and that every shipped manifest says what torchvision says about its weights.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torchvision.models import video as tv_video

from app.errors import ModelStoreError
from app.model import load_model
from app.model.files import sha256_file
from app.model.manifest import FrameEncoderSpec, Manifest, WeightsRef, read_manifest
from app.model.pull import CATALOGUE
from app.model.store import backbone_archs
from app.model.video_backbones import (
    CLIP_ARCHS,
    build_torchvision_net,
    check_clip_spec,
    kinetics400_labels,
    split_classifier,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
STORE = REPO_ROOT / "model_store"


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


# The smallest input each network accepts: S3D pools over (2, 7, 7) after strides (8, 32, 32).
SHAPES = {
    "r3d_18": (2, 3, 8, 64, 64),
    "mc3_18": (1, 3, 8, 64, 64),
    "r2plus1d_18": (1, 3, 8, 64, 64),
    "swin3d_t": (2, 3, 8, 64, 64),
    "s3d": (1, 3, 14, 224, 224),
}


@pytest.mark.parametrize("arch", sorted(SHAPES))
def test_split_network_gives_torchvision_logits_and_pooled_features(arch: str) -> None:
    torch.manual_seed(0)
    net = build_torchvision_net(arch).eval()
    x = torch.randn(SHAPES[arch])
    with torch.inference_mode():
        expected = net(x)  # torchvision's own forward, before the split
        features, logits = split_classifier(arch, net).eval()(x)
    assert features.shape == (x.shape[0], CLIP_ARCHS[arch].feature_dim)
    assert logits.shape == (x.shape[0], 400)
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)


def test_mvit_splits_at_the_class_token_before_its_head() -> None:
    # A forward needs 16 frames at 224 px (seconds on a CPU); the split itself is structural.
    net = build_torchvision_net("mvit_v2_s")
    original_head = net.head
    split = split_classifier("mvit_v2_s", net)
    assert split.head is original_head
    assert isinstance(split.body.head, nn.Identity)
    assert isinstance(original_head, nn.Sequential)
    linear = original_head[-1]
    assert isinstance(linear, nn.Linear) and (linear.in_features, linear.out_features) == (768,
                                                                                          400)


def test_every_clip_arch_is_registered_with_the_store() -> None:
    assert set(CLIP_ARCHS) <= set(backbone_archs())
    assert set(CLIP_ARCHS) == {"r3d_18", "mc3_18", "r2plus1d_18", "s3d", "mvit_v2_s",
                               "swin3d_t"}


def _spec(arch: str, **change: Any) -> FrameEncoderSpec:
    fields: dict[str, Any] = {
        "arch": arch, "kind": "clip", "clip_frames": 16, "num_classes": 400,
        "feature_dim": CLIP_ARCHS[arch].feature_dim,
        "weights": WeightsRef(path="w.pth", sha256="PENDING")}
    fields.update(change)
    return FrameEncoderSpec(**fields)


@pytest.mark.parametrize(("arch", "change", "message"), [
    ("r3d_18", {"feature_dim": 256}, "has feature_dim 512"),
    ("r3d_18", {"kind": "image", "clip_frames": None}, "needs kind 'clip'"),
    ("s3d", {"clip_frames": 8}, "at least 14 frames"),
    ("mvit_v2_s", {"clip_frames": 32}, "exactly 16 frames"),
    ("swin3d_t", {"num_classes": 0}, "num_classes must be positive"),
])
def test_a_manifest_that_does_not_fit_the_network_is_refused(arch: str, change: dict[str, Any],
                                                              message: str) -> None:
    with pytest.raises(ModelStoreError, match=message):
        check_clip_spec(_spec(arch, **change))


@pytest.mark.parametrize("arch", sorted(CLIP_ARCHS))
def test_shipped_manifest_says_what_torchvision_says(arch: str) -> None:
    name = f"{arch}-k400"
    folder = STORE / name / "1.0.0"
    manifest = read_manifest(folder / "manifest.json")
    weights = CLIP_ARCHS[arch].weights
    transforms = weights.transforms()
    spec = manifest.frame_encoder
    assert (manifest.name, spec.arch, spec.kind) == (name, arch, "clip")
    assert (spec.feature_dim, spec.num_classes) == (CLIP_ARCHS[arch].feature_dim, 400)
    check_clip_spec(spec)
    # Not downloadable here: the manifest names the file and the URL, the pull fills the hash.
    assert spec.weights.url == weights.url == CATALOGUE[name].url
    assert spec.weights.path == weights.url.rsplit("/", 1)[-1]
    assert spec.weights.is_pending and not (folder / spec.weights.path).exists()
    # torchvision's video transforms, with mean/std moved from 0..1 to 0..255 values.
    assert manifest.input.crop == transforms.crop_size[0]
    assert manifest.input.short_side == min(transforms.resize_size)
    torch.testing.assert_close(torch.tensor(manifest.input.mean),
                               torch.tensor(transforms.mean) * 255, rtol=0, atol=1e-4)
    torch.testing.assert_close(torch.tensor(manifest.input.std),
                               torch.tensor(transforms.std) * 255, rtol=0, atol=1e-4)
    assert manifest.labels is not None
    labels_path = folder / manifest.labels.path
    assert sha256_file(labels_path) == manifest.labels.sha256
    assert labels_path.read_text(encoding="utf-8").splitlines() == kinetics400_labels()
    # No Transformer has been trained for these features: served without one, and said so.
    assert manifest.temporal.weights is None
    assert "temporal.weights is null" in manifest.description
    assert manifest.frame_encoder.positions(manifest.sampling.max_frames) <= \
        manifest.temporal.max_len


def test_kinetics_labels_come_from_torchvision_without_a_download() -> None:
    labels = kinetics400_labels()
    assert len(labels) == 400 == len(set(labels))
    assert labels == list(tv_video.R3D_18_Weights.KINETICS400_V1.meta["categories"])


def test_loading_before_the_pull_says_how_to_pull(tmp_path: Path) -> None:
    shutil.copytree(STORE / "r3d_18-k400", tmp_path / "r3d_18-k400")
    with pytest.raises(ModelStoreError, match=r"videobert models pull r3d_18-k400"):
        load_model(tmp_path, "r3d_18-k400")


def test_a_pulled_file_that_is_not_in_the_manifest_yet_is_still_refused(tmp_path: Path) -> None:
    shutil.copytree(STORE / "mc3_18-k400", tmp_path / "mc3_18-k400")
    folder = tmp_path / "mc3_18-k400" / "1.0.0"
    (folder / "mc3_18-a90a0ba3.pth").write_bytes(b"not verified")
    with pytest.raises(ModelStoreError, match="have not been downloaded yet"):
        load_model(tmp_path, "mc3_18-k400")


def _raw_manifest() -> dict[str, Any]:
    raw: dict[str, Any] = json.loads((STORE / "r3d_18-k400" / "1.0.0" / "manifest.json")
                                     .read_text())
    return raw


@pytest.mark.parametrize(("edit", "message"), [
    (lambda raw: raw["frame_encoder"].pop("clip_frames"), "needs 'clip_frames'"),
    (lambda raw: raw["frame_encoder"].update(kind="image"), "only for a frame encoder of kind"),
    (lambda raw: raw["temporal"].update(max_len=8), "gives 16 positions, more than"),
    (lambda raw: raw.pop("labels"), "has labels exactly when"),
    (lambda raw: raw["frame_encoder"]["weights"].update(source="package", package="x"),
     "take no 'url'"),
])
def test_manifest_schema_checks_clip_fields(edit: Any, message: str) -> None:
    raw = _raw_manifest()
    edit(raw)
    with pytest.raises(ValueError, match=message):
        Manifest.model_validate(raw)


def test_temporal_weights_must_be_stated_even_when_null() -> None:
    raw = _raw_manifest()
    del raw["temporal"]["weights"]
    with pytest.raises(ValueError, match="weights"):
        Manifest.model_validate(raw)
