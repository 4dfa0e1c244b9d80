"""The model store: what loads, and every way a broken store is refused with a clear error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from app.errors import ModelNotFound, ModelStoreError
from app.model import list_models, load_model
from app.model import store as store_module
from app.model.files import resolve_weights, sha256_file, verify_file
from app.model.manifest import FrameEncoderSpec, read_manifest
from app.model.store import register_backbone, save_temporal_weights
from app.model.tiny import TinyFrameEncoder
from app.model.videobert import VideoBert
from tests.model_fixtures import make_tiny_store
from tests.unit.model.conftest import DEFAULT_MANIFEST


def edit_manifest(folder: Path, change: dict[str, Any]) -> None:
    """Deep-merge ``change`` into folder/manifest.json."""
    path = folder / "manifest.json"
    raw = json.loads(path.read_text())

    def merge(into: dict[str, Any], new: dict[str, Any]) -> None:
        for key, value in new.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                merge(into[key], value)
            else:
                into[key] = value

    merge(raw, change)
    path.write_text(json.dumps(raw))


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return make_tiny_store(tmp_path)


@pytest.fixture
def folder(store: Path) -> Path:
    return store / "tiny" / "0.0.1"


def test_tiny_store_loads(store: Path) -> None:
    loaded = load_model(store, "tiny")
    assert (loaded.name, loaded.version) == ("tiny", "0.0.1")
    assert loaded.labels == [f"tiny class {i}" for i in range(8)]
    assert isinstance(loaded.model, VideoBert)
    assert isinstance(loaded.model.frame_encoder, TinyFrameEncoder)
    assert loaded.manifest.input.crop == 64
    assert not loaded.model.training


def test_the_same_store_gives_the_same_outputs(store: Path, tmp_path: Path) -> None:
    other = make_tiny_store(tmp_path / "other")
    frames = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    outputs = []
    for root in (store, other):
        model = load_model(root, "tiny").model
        features, logits = model.encode_frames(model.preprocess(frames))
        outputs.append((features, logits, model.encode_sequences([features])[0].boundary_prob))
    for a, b in zip(*outputs, strict=True):
        assert torch.equal(a, b)


def test_highest_version_is_the_default_and_versions_sort_numerically(tmp_path: Path) -> None:
    for version in ("0.0.9", "0.0.10", "0.0.2"):
        make_tiny_store(tmp_path, version=version)
    assert [m.version for m in list_models(tmp_path)] == ["0.0.2", "0.0.9", "0.0.10"]
    assert load_model(tmp_path, "tiny").version == "0.0.10"
    assert load_model(tmp_path, "tiny", "0.0.9").version == "0.0.9"


def test_list_models_skips_a_broken_manifest(store: Path, tmp_path: Path) -> None:
    make_tiny_store(store, name="other")
    (store / "other" / "0.0.1" / "manifest.json").write_text("{not json")
    assert [(m.name, m.version) for m in list_models(store)] == [("tiny", "0.0.1")]


@pytest.mark.parametrize("name", ["nope", "../tiny", "tiny/0.0.1", ""])
def test_unknown_model_is_not_found(store: Path, name: str) -> None:
    with pytest.raises(ModelNotFound) as info:
        load_model(store, name)
    assert info.value.code == "model_not_found"
    assert "Available: tiny" in info.value.message


def test_unknown_version_is_not_found(store: Path) -> None:
    with pytest.raises(ModelNotFound, match=r"no version '9\.9'\. Available: 0\.0\.1\."):
        load_model(store, "tiny", "9.9")


@pytest.mark.parametrize("filename", ["temporal.pt", "frame_encoder.pt", "labels.txt"])
def test_a_changed_file_is_refused_naming_both_hashes(folder: Path, filename: str) -> None:
    path = folder / filename
    expected = sha256_file(path)
    with path.open("ab") as f:
        f.write(b"\0")
    actual = sha256_file(path)
    with pytest.raises(ModelStoreError) as info:
        load_model(folder.parent.parent, "tiny")
    message = info.value.message
    assert info.value.code == "model_store_error"
    assert "sha256 mismatch" in message and str(path) in message
    assert f"expects {expected}" in message and f"has {actual}" in message


def test_a_missing_file_is_refused(folder: Path) -> None:
    (folder / "frame_encoder.pt").unlink()
    with pytest.raises(ModelStoreError, match=r"frame_encoder\.pt is missing"):
        load_model(folder.parent.parent, "tiny")


def test_pending_weights_ask_for_training(folder: Path) -> None:
    edit_manifest(folder, {"temporal": {"weights": {"sha256": "PENDING"}}})
    with pytest.raises(ModelStoreError, match="videobert train-temporal"):
        load_model(folder.parent.parent, "tiny")


def test_temporal_weights_may_not_touch_the_cnn(folder: Path) -> None:
    state = torch.load(folder / "temporal.pt", weights_only=True)
    state["frame_encoder.proj.bias"] = torch.zeros(32)
    torch.save(state, folder / "temporal.pt")
    edit_manifest(folder, {"temporal": {"weights": {"sha256": sha256_file(
        folder / "temporal.pt")}}})
    with pytest.raises(ModelStoreError, match="unexpected tensor 'frame_encoder.proj.bias'"):
        load_model(folder.parent.parent, "tiny")


def test_weights_that_do_not_fit_the_spec_are_refused(folder: Path) -> None:
    edit_manifest(folder, {"temporal": {"d_model": 64}})
    with pytest.raises(ModelStoreError, match="do not fit the manifest's temporal spec"):
        load_model(folder.parent.parent, "tiny")


def test_invalid_manifests_are_refused(folder: Path) -> None:
    edit_manifest(folder, {"temporal": {"n_heads": 3}})
    with pytest.raises(ModelStoreError, match="not divisible by n_heads"):
        load_model(folder.parent.parent, "tiny")
    edit_manifest(folder, {"temporal": {"n_heads": 2, "typo_field": 1}})
    with pytest.raises(ModelStoreError, match="typo_field"):
        load_model(folder.parent.parent, "tiny")


def test_a_manifest_in_the_wrong_folder_is_refused(folder: Path) -> None:
    edit_manifest(folder, {"version": "0.0.2"})
    with pytest.raises(ModelStoreError, match="lives in tiny/0.0.1"):
        load_model(folder.parent.parent, "tiny")


def test_an_unknown_arch_is_refused_listing_the_known_ones(folder: Path) -> None:
    edit_manifest(folder, {"frame_encoder": {"arch": "resnet9000"}})
    with pytest.raises(ModelStoreError, match="'resnet9000'.*efficientnet_lite0, tiny_cnn"):
        load_model(folder.parent.parent, "tiny")


def test_a_registered_backbone_is_used(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[FrameEncoderSpec] = []

    def build(spec: FrameEncoderSpec, weights: Path) -> torch.nn.Module:
        built.append(spec)
        return store_module.load_tiny_encoder(weights, spec.feature_dim, spec.num_classes)

    monkeypatch.setattr(store_module, "_BACKBONES", dict(store_module._BACKBONES))
    register_backbone("my_cnn", build)
    with pytest.raises(ValueError, match="already registered"):
        register_backbone("my_cnn", build)
    edit_manifest(folder, {"frame_encoder": {"arch": "my_cnn"}})
    load_model(folder.parent.parent, "tiny")
    assert [spec.arch for spec in built] == ["my_cnn"]


def test_a_missing_weights_package_is_refused(folder: Path) -> None:
    edit_manifest(folder, {"frame_encoder": {"weights": {
        "source": "package", "package": "no_such_weights_pkg"}}})
    with pytest.raises(ModelStoreError, match="'no_such_weights_pkg'.*not installed"):
        load_model(folder.parent.parent, "tiny")


def test_a_weights_path_may_not_leave_its_folder(folder: Path) -> None:
    edit_manifest(folder, {"temporal": {"weights": {"path": "../../../etc/passwd"}}})
    with pytest.raises(ModelStoreError, match="leaves its folder"):
        load_model(folder.parent.parent, "tiny")


def test_retrained_temporal_weights_round_trip(folder: Path) -> None:
    loaded = load_model(folder.parent.parent, "tiny")
    with torch.no_grad():
        for param in loaded.model.boundary_head.parameters():
            param.add_(0.5)
    sha = save_temporal_weights(loaded.model, folder / "temporal.pt")
    edit_manifest(folder, {"temporal": {"weights": {"sha256": sha}}})
    features = torch.randn(6, 32, generator=torch.Generator().manual_seed(0))
    expected = loaded.model.encode_sequences([features])[0].boundary_prob
    reloaded = load_model(folder.parent.parent, "tiny")
    assert torch.equal(reloaded.model.encode_sequences([features])[0].boundary_prob, expected)


def test_the_default_manifest_pins_files_that_verify() -> None:
    manifest = read_manifest(DEFAULT_MANIFEST)
    folder = DEFAULT_MANIFEST.parent
    assert manifest.frame_encoder.arch == "efficientnet_lite0"
    weights = resolve_weights(manifest.frame_encoder.weights, folder)
    assert weights.name == "efficientnet-lite0-57934424.pth"
    verify_file(weights, manifest.frame_encoder.weights.sha256, "cnn")
    verify_file(folder / manifest.labels.path, manifest.labels.sha256, "labels")
    labels = (folder / manifest.labels.path).read_text().splitlines()
    assert len(labels) == 1000 and labels[281] == "tabby" and labels[0] == "tench"


def _with_hierarchy(folder: Path, categories: list[dict[str, Any]]) -> None:
    path = folder / "label_hierarchy.json"
    path.write_text(json.dumps({"categories": categories}), encoding="utf-8")
    edit_manifest(folder, {"labels": {"hierarchy": {"path": path.name,
                                                     "sha256": sha256_file(path)}}})


def test_a_hierarchy_loads_its_categories_and_is_verified(folder: Path) -> None:
    _with_hierarchy(folder, [{"name": "even", "classes": [0, 2, 4]}])
    loaded = load_model(folder.parent.parent, "tiny")
    assert loaded.categories == [("even", [0, 2, 4])]
    (folder / "label_hierarchy.json").write_text('{"categories": []}', encoding="utf-8")
    with pytest.raises(ModelStoreError, match="sha256"):
        load_model(folder.parent.parent, "tiny")


def test_a_hierarchy_naming_classes_the_model_lacks_is_refused(folder: Path) -> None:
    _with_hierarchy(folder, [{"name": "too far", "classes": [0, 8]}])
    with pytest.raises(ModelStoreError, match="outside 0..7"):
        load_model(folder.parent.parent, "tiny")
    _with_hierarchy(folder, [{"classes": [0]}])
    with pytest.raises(ModelStoreError, match="not a valid hierarchy"):
        load_model(folder.parent.parent, "tiny")
