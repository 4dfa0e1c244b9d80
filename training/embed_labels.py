"""`videobert embed-labels`: embed a model's class names and label sets once, into its store.

Writes ``<model folder>/text_vectors.npz`` (``app/model/text_space.py`` reads it) and puts the
sha256 of it and of every label-set file into the manifest. Run it after editing a label set or
changing the text encoder; loading the model refuses a vectors file that no longer matches.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.model.files import sha256_file, verified_weights
from app.model.manifest import MANIFEST_NAME, LabelsRef, read_manifest
from app.model.store import _read_labels, resolve_version
from app.model.text_encoder import load_text_encoder
from app.model.text_space import read_label_sets, vector_texts, write_vectors
from training.manifest_edit import edit_manifest

logger = logging.getLogger("embed_labels")
REPO = Path(__file__).resolve().parent.parent
VECTORS_FILE = "text_vectors.npz"


def embed_labels(folder: Path) -> Path:
    manifest = read_manifest(folder / MANIFEST_NAME)
    spec = manifest.text_encoder
    if spec is None:
        raise SystemExit(f"{folder}: the manifest has no text_encoder")
    sets = {name: LabelsRef(path=ref.path, sha256=sha256_file(folder / ref.path))
            for name, ref in manifest.label_sets.items()}
    manifest = manifest.model_copy(update={"label_sets": sets})
    encoder = load_text_encoder(verified_weights(spec.weights, folder, "text encoder"),
                                spec.max_tokens)
    texts = vector_texts(_read_labels(manifest, folder), read_label_sets(manifest, folder))
    started = time.perf_counter()
    path = folder / VECTORS_FILE
    write_vectors(path, encoder, texts)
    logger.info("embedded %d texts in %.1f s", sum(map(len, texts.values())),
                time.perf_counter() - started)
    vectors_hash = sha256_file(path)

    def record_hashes(raw: dict[str, Any]) -> None:
        for name, ref in sets.items():
            raw["label_sets"][name]["sha256"] = ref.sha256
        raw["text_encoder"]["vectors"] = {"path": VECTORS_FILE, "sha256": vectors_hash}

    edit_manifest(folder / MANIFEST_NAME, record_hashes)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="videobert embed-labels",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, default=REPO / "model_store")
    parser.add_argument("--model", default="videobert-lite0")
    parser.add_argument("--version", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    version = resolve_version(args.store, args.model, args.version)
    print(embed_labels(args.store / args.model / version))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
