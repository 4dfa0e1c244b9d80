"""Words next to pictures: the text encoder, the class names' vectors and the named label sets.

Everything here is computed once: the class names and every shipped label set are embedded by
``videobert embed-labels`` into one hashed ``.npz`` that the manifest names, and loading checks
that the file still matches the texts it was made from (an edited label set without a new file
stops the model at start-up, naming the command to run). Only a caller's own labels are
encoded at request time, through the encoder's LRU cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.errors import LabelSetNotFound, ModelStoreError
from app.model.files import confined_file, verified_weights
from app.model.manifest import Manifest, TextEncoderSpec, ZeroShotSpec
from app.model.text_encoder import EncodedTexts, TextEncoder, load_text_encoder

CLASSES_KEY = "classes"


@dataclass(frozen=True)
class LabelSet:
    name: str
    labels: list[str]  # what the answer names
    texts: list[str]  # what was embedded for each (a description, or the label itself)
    vectors: np.ndarray  # (n, dim) unit rows


@dataclass
class TextSpace:
    encoder: TextEncoder
    class_vectors: np.ndarray  # (C, dim) unit rows, in class id order
    label_sets: dict[str, LabelSet]
    zero_shot: ZeroShotSpec

    def label_set(self, name: str) -> LabelSet:
        found = self.label_sets.get(name)
        if found is None:
            raise LabelSetNotFound(f"No label set named {name!r}. Known label sets: "
                                   f"{', '.join(sorted(self.label_sets)) or 'none'}.")
        return found

    def encode(self, texts: list[str]) -> EncodedTexts:
        return self.encoder.encode(texts)


def read_label_set(path: Path) -> tuple[list[str], list[str]]:
    """(labels, texts to embed) from a label-set file: one label per line, optionally
    ``label<TAB>text`` where the text describes the label for matching."""
    labels, texts = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        label, _, text = line.partition("\t")
        labels.append(label.strip())
        texts.append(text.strip() or label.strip())
    return labels, texts


def read_label_sets(manifest: Manifest, folder: Path) -> dict[str, tuple[list[str], list[str]]]:
    """Each label set's (labels, texts to embed), its file verified against its sha256."""
    return {name: read_label_set(confined_file(folder, ref, f"{manifest.name} "
                                               f"{manifest.version} label set {name}"))
            for name, ref in sorted(manifest.label_sets.items())}


def vector_texts(class_names: list[str], label_sets: dict[str, tuple[list[str], list[str]]]
                 ) -> dict[str, list[str]]:
    """Every text the vectors file must hold, by key: the class names, and each label set's."""
    texts = {CLASSES_KEY: list(class_names)}
    for name, (_, set_texts) in label_sets.items():
        texts[f"set:{name}"] = set_texts
    return texts


def load_text_space(manifest: Manifest, folder: Path, class_names: list[str]
                    ) -> TextSpace | None:
    spec = manifest.text_encoder
    if spec is None:
        return None
    what = f"{manifest.name} {manifest.version} text encoder"
    encoder = load_text_encoder(verified_weights(spec.weights, folder, what), spec.max_tokens)
    if encoder.dim != spec.dim:
        raise ModelStoreError(f"{what}: vectors are {encoder.dim}-d, the manifest says "
                              f"{spec.dim}.")
    label_sets = read_label_sets(manifest, folder)
    vectors = _read_vectors(folder, spec, vector_texts(class_names, label_sets), what)
    sets = {name: LabelSet(name, labels, texts, vectors[f"set:{name}"])
            for name, (labels, texts) in label_sets.items()}
    return TextSpace(encoder, vectors[CLASSES_KEY], sets, spec.zero_shot)


def _read_vectors(folder: Path, spec: TextEncoderSpec, expected: dict[str, list[str]],
                  what: str) -> dict[str, np.ndarray]:
    path = confined_file(folder, spec.vectors, f"{what} vectors")
    stale = (f"{what}: {path.name} does not match the class names and label sets; run "
             "`videobert embed-labels` and update the manifest's sha256.")
    with np.load(path, allow_pickle=False) as data:
        out = {}
        for key, texts in expected.items():
            if key not in data or f"texts:{key}" not in data:
                raise ModelStoreError(stale)
            if data[f"texts:{key}"].tolist() != texts:
                raise ModelStoreError(stale)
            array = data[key].astype(np.float64)
            if array.shape != (len(texts), spec.dim):
                raise ModelStoreError(stale)
            out[key] = array
    return out


def write_vectors(path: Path, encoder: TextEncoder, texts: dict[str, list[str]]) -> None:
    """The vectors file for ``texts`` (``vector_texts``), float32 unit rows."""
    arrays: dict[str, np.ndarray] = {}
    for key, items in texts.items():
        arrays[key] = encoder.encode(items).vectors.astype(np.float32)
        arrays[f"texts:{key}"] = np.array(items, dtype=np.str_)
    with path.open("wb") as f:
        np.savez(f, **arrays)  # type: ignore[arg-type]
