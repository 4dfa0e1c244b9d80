"""The shipped text encoder: parity with the reference, truncation, the cache, the store."""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from app.errors import LabelSetNotFound, ModelStoreError
from app.model.files import resolve_weights
from app.model.manifest import read_manifest
from app.model.text_encoder import TextEncoder, load_text_encoder
from app.model.text_space import load_text_space, read_label_set

REPO = Path(__file__).resolve().parents[3]
MODEL = REPO / "model_store" / "videobert-lite0" / "1.0.0"
TEXTS = ["someone riding a bicycle", "riding a bike", "a photo of a tabby cat",
         "Ünïcödé naïve café 漢字 — test!!", "", "news"]


@pytest.fixture(scope="module")
def archive() -> Path:
    spec = read_manifest(MODEL / "manifest.json").text_encoder
    assert spec is not None
    return resolve_weights(spec.weights, MODEL)


@pytest.fixture(scope="module")
def encoder(archive: Path) -> TextEncoder:
    return load_text_encoder(archive, 256)


def test_matches_the_reference_implementation(archive: Path, encoder: TextEncoder) -> None:
    from transformers import BertModel, BertTokenizerFast

    with tempfile.TemporaryDirectory() as tmp:
        zipfile.ZipFile(archive).extractall(tmp)
        model = BertModel.from_pretrained(tmp).eval()
        tokenizer = BertTokenizerFast.from_pretrained(tmp)
    batch = tokenizer(TEXTS, padding=True, truncation=True, max_length=256,
                      return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"][..., None].float()
    reference = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    ours = encoder.encode(TEXTS).vectors
    assert np.abs(ours - reference.numpy()).max() < 1e-5


def test_paraphrases_are_close_and_unrelated_texts_are_not(encoder: TextEncoder) -> None:
    v = encoder.encode(["someone riding a bicycle", "riding a bike", "a bowl of soup"]).vectors
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > 0.8
    assert v[0] @ v[2] < 0.3


def test_text_over_the_token_limit_is_cut_and_says_so(archive: Path) -> None:
    short_limit = load_text_encoder(archive, 8)
    encoded = short_limit.encode(["a cat", "one two three four five six seven eight nine"])
    assert encoded.truncated == [False, True]
    # Cut to the first 6 word pieces: the same vector as the text that is left.
    left = short_limit.encode(["one two three four five six"]).vectors[0]
    assert np.allclose(encoded.vectors[1], left, atol=1e-6)


def test_a_repeated_text_comes_from_the_cache(encoder: TextEncoder,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    first = encoder.encode(["a label seen once"]).vectors
    calls: list[list[str]] = []
    forward = encoder._forward

    def counting(texts: list[str]) -> tuple[np.ndarray, list[bool]]:
        calls.append(texts)
        return forward(texts)

    monkeypatch.setattr(encoder, "_forward", counting)
    again = encoder.encode(["a label seen once", "a new label", "a new label"])
    assert calls == [["a new label"]]
    assert np.array_equal(again.vectors[0], first[0])
    assert np.array_equal(again.vectors[1], again.vectors[2])


def test_a_broken_archive_is_a_store_error(tmp_path: Path) -> None:
    bad = tmp_path / "model.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ModelStoreError, match="not a readable encoder archive"):
        load_text_encoder(bad, 256)


def test_the_store_loads_label_sets_and_refuses_stale_vectors(tmp_path: Path) -> None:
    manifest = read_manifest(MODEL / "manifest.json")
    classes = (MODEL / "labels.txt").read_text(encoding="utf-8").splitlines()
    space = load_text_space(manifest, MODEL, classes)
    assert space is not None
    assert space.class_vectors.shape == (1000, 384)
    genres = space.label_set("genres")
    assert "animation" in genres.labels and len(genres.labels) == genres.vectors.shape[0]
    assert len(space.label_set("kinetics400").labels) == 400
    with pytest.raises(LabelSetNotFound, match="genres, kinetics400"):
        space.label_set("moods")
    # The shipped vectors are the encoder's own: re-embedding agrees.
    fresh = space.encode(genres.texts[:3]).vectors
    assert np.abs(fresh - genres.vectors[:3]).max() < 1e-5

    # A label set edited without `videobert embed-labels`: the sha256 check stops it first;
    # with the sha256 updated by hand, the vectors no longer match and that stops it too.
    folder = tmp_path / "model"
    shutil.copytree(MODEL, folder, ignore=shutil.ignore_patterns("temporal.pt"))
    path = folder / "label_sets" / "genres.txt"
    path.write_text(path.read_text(encoding="utf-8") + "cartoons\n", encoding="utf-8")
    with pytest.raises(ModelStoreError, match="sha256 mismatch"):
        load_text_space(read_manifest(folder / "manifest.json"), folder, classes)
    import hashlib

    raw = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    raw["label_sets"]["genres"]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ModelStoreError, match="videobert embed-labels"):
        load_text_space(read_manifest(folder / "manifest.json"), folder, classes)


def test_label_set_lines_name_and_describe(tmp_path: Path) -> None:
    path = tmp_path / "set.txt"
    path.write_text("news\tnews: a presenter in a studio\n\nsports\n", encoding="utf-8")
    assert read_label_set(path) == (["news", "sports"],
                                    ["news: a presenter in a studio", "sports"])
