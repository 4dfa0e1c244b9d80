"""`videobert models pull NAME`: fetch and verify weights that cannot ship in the repo.

The catalogue lists the models of the store whose frame encoder is one of torchvision's
Kinetics-400 video classifiers. The download URL and the sha256 prefix in its file name come
from the installed torchvision (no network needed to know them). A pull downloads into the
model's store folder under a temporary name, checks the hash prefix, checks that the file loads
into the manifest's architecture, moves it into place and only then writes the file's full
sha256 into the manifest. Every failure leaves the store as it was: no partial file, no
manifest change.

This machine may have no internet access: the pull then fails within ``timeout_s`` with a
message saying to pull on a machine with internet and copy the model folder here.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import socket
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch.hub

from app.errors import ModelNotFound, ModelStoreError, VideoBertError
from app.model.files import resolve_weights, sha256_file
from app.model.manifest import MANIFEST_NAME, read_manifest
from app.model.store import build_frame_encoder, resolve_version
from app.model.video_backbones import KINETICS400_WEIGHTS

log = logging.getLogger(__name__)

# torch.hub's convention: "<name>-<sha256 prefix>.<ext>".
_HASH_IN_NAME = re.compile(r"-([a-f0-9]+)\.")
DEFAULT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class PullSource:
    url: str
    hash_prefix: str  # the sha256 prefix torch.hub names the file after

    @property
    def file_name(self) -> str:
        return self.url.rsplit("/", 1)[-1]


def source_for(url: str) -> PullSource:
    match = _HASH_IN_NAME.search(url.rsplit("/", 1)[-1])
    if match is None:
        raise ValueError(f"{url} has no sha256 prefix in its file name")
    return PullSource(url=url, hash_prefix=match.group(1))


# Store model name -> where its frame encoder's weights come from.
CATALOGUE: dict[str, PullSource] = {
    f"{arch}-k400": source_for(weights.url) for arch, weights in KINETICS400_WEIGHTS.items()
}


def pullable_models() -> list[str]:
    return sorted(CATALOGUE)


# download(url, dst, hash_prefix, timeout_s): write the whole file at dst or raise.
Downloader = Callable[[str, Path, str, float], None]


@contextmanager
def _socket_timeout(timeout_s: float) -> Iterator[None]:
    # torch.hub's urlopen takes no timeout; without one an unreachable host can hang for
    # minutes. The default is process-wide, so it is restored at once.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout_s)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def download_with_torch_hub(url: str, dst: Path, hash_prefix: str, timeout_s: float) -> None:
    """torch.hub's downloader: streams to a ``.partial`` file beside ``dst`` and renames it
    only when complete and its sha256 starts with ``hash_prefix``."""
    with _socket_timeout(timeout_s):
        torch.hub.download_url_to_file(url, str(dst), hash_prefix=hash_prefix,
                                       progress=sys.stderr.isatty())


@dataclass(frozen=True)
class PullResult:
    name: str
    version: str
    path: Path
    sha256: str
    size_bytes: int
    downloaded: bool  # False: the verified file was already there


def _set_encoder_sha256(manifest_path: Path, sha256: str) -> None:
    """Write ``frame_encoder.weights.sha256`` into the manifest atomically."""
    raw: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
    raw["frame_encoder"]["weights"]["sha256"] = sha256
    tmp = manifest_path.with_name(f".{manifest_path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")
        read_manifest(tmp)  # never replace a good manifest by an invalid one
        os.replace(tmp, manifest_path)
    finally:
        tmp.unlink(missing_ok=True)


def pull_weights(store_dir: Path, name: str, *,
                 catalogue: Mapping[str, PullSource] | None = None,
                 download: Downloader | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> PullResult:
    """Download, verify and install the frame encoder weights of model ``name``.

    ModelNotFound if ``name`` is not pullable or not in the store, ModelStoreError if the
    download fails or the file is refused (the store is then unchanged)."""
    sources = CATALOGUE if catalogue is None else catalogue
    download = download or download_with_torch_hub
    if name not in sources:
        raise ModelNotFound(f"No downloadable model named {name!r}. Pullable: "
                            f"{', '.join(sorted(sources))}.")
    source = sources[name]
    version = resolve_version(store_dir, name)
    folder = store_dir / name / version
    manifest = read_manifest(folder / MANIFEST_NAME)
    ref = manifest.frame_encoder.weights
    if ref.source != "file":
        raise ModelStoreError(f"{name} {version}: its weights come from a package, not a "
                              "download.")
    if ref.url is not None and ref.url != source.url:
        raise ModelStoreError(f"{name} {version}: the manifest's url {ref.url} is not the "
                              f"catalogue's {source.url}; fix the manifest.")
    dst = resolve_weights(ref, folder)
    if dst.is_file() and not ref.is_pending and sha256_file(dst) == ref.sha256:
        log.info("%s %s: %s is already present and verified", name, version, dst)
        return PullResult(name, version, dst, ref.sha256, dst.stat().st_size, downloaded=False)

    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex}.download")
    try:
        log.info("downloading %s -> %s", source.url, dst)
        try:
            download(source.url, tmp, source.hash_prefix, timeout_s)
        except RuntimeError as exc:  # torch.hub's hash-prefix refusal
            raise ModelStoreError(f"Refused {source.url}: {exc}. The download is corrupt or "
                                  "was tampered with; nothing was installed.") from exc
        except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, resets
            raise ModelStoreError(
                f"Could not download {source.url}: {getattr(exc, 'reason', exc)}. This "
                f"machine may have no internet access: run `videobert models pull {name}` on "
                f"one that has, then copy its model_store/{name}/{version}/ (weights and "
                "updated manifest) here.") from exc
        if not tmp.is_file():
            raise ModelStoreError(f"Downloading {source.url} produced no file.")
        sha256 = sha256_file(tmp)
        if not sha256.startswith(source.hash_prefix):
            raise ModelStoreError(f"Refused {source.url}: its sha256 {sha256} does not start "
                                  f"with {source.hash_prefix} (the prefix in its name). The "
                                  "download is corrupt or was tampered with; nothing was "
                                  "installed.")
        build_frame_encoder(manifest.frame_encoder, tmp)  # it must load, not only hash
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    _set_encoder_sha256(folder / MANIFEST_NAME, sha256)
    log.info("%s %s: installed %s (sha256 %s)", name, version, dst, sha256)
    return PullResult(name, version, dst, sha256, dst.stat().st_size, downloaded=True)


def pull_model(store_dir: Path, name: str) -> int:
    """The `videobert models pull NAME` command: its report on stdout, errors on stderr, and
    the exit status (0 done, 1 failed)."""
    try:
        result = pull_weights(store_dir, name)
    except VideoBertError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        return 1
    verb = "downloaded and verified" if result.downloaded else "already present, verified"
    sys.stdout.write(f"{result.name} {result.version}: {result.path.name} {verb} "
                     f"({result.size_bytes / 1e6:.1f} MB, sha256 {result.sha256}); the "
                     f"manifest {store_dir / result.name / result.version / MANIFEST_NAME} "
                     "holds this sha256.\n")
    return 0
