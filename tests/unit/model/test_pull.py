"""`videobert models pull NAME`: download, verify, install; a failure leaves the store as it was.

Nothing here reaches the internet: downloads come from a local HTTP server (through the real
torch.hub downloader), a socket that never answers, a host name that cannot resolve, or a
stand-in downloader. The served file is a seeded mc3_18 state dict (the smallest Kinetics net).
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import shutil
import socket
import threading
import urllib.error
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from app.errors import ModelNotFound, ModelStoreError
from app.model import load_model
from app.model import pull as pull_module
from app.model.files import sha256_file
from app.model.pull import CATALOGUE, PullSource, pull_model, pull_weights, pullable_models
from app.model.video_backbones import CLIP_ARCHS, build_torchvision_net

REPO_ROOT = Path(__file__).resolve().parents[3]
NAME = "mc3_18-k400"
WEIGHTS_NAME = "mc3_18-a90a0ba3.pth"  # the manifest's path (torchvision's file name)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with one loadable mc3_18 state dict, named torch.hub's way after its sha256."""
    folder = tmp_path_factory.mktemp("served")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = build_torchvision_net("mc3_18")
    raw = folder / "raw.pth"
    torch.save(net.state_dict(), raw)
    raw.rename(folder / f"mc3_18-{sha256_file(raw)[:8]}.pth")
    return folder


@pytest.fixture(scope="module")
def served_file(served: Path) -> Path:
    return next(served.glob("mc3_18-*.pth"))


@pytest.fixture(scope="module")
def server(served: Path) -> Iterator[str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def store(tmp_path: Path) -> Path:
    shutil.copytree(REPO_ROOT / "model_store" / NAME, tmp_path / NAME)
    return tmp_path


def folder_of(store: Path) -> Path:
    return store / NAME / "1.0.0"


def snapshot(store: Path) -> dict[str, bytes]:
    """Every file in the model folder (hidden temporaries included) and its bytes."""
    return {p.name: p.read_bytes() for p in folder_of(store).iterdir()}


def use_url(store: Path, url: str, hash_prefix: str) -> dict[str, PullSource]:
    """Point the copied manifest at ``url`` and return a catalogue that agrees with it."""
    path = folder_of(store) / "manifest.json"
    raw = json.loads(path.read_text())
    raw["frame_encoder"]["weights"]["url"] = url
    path.write_text(json.dumps(raw, indent=2) + "\n")
    return {NAME: PullSource(url=url, hash_prefix=hash_prefix)}


def test_catalogue_lists_the_six_kinetics_models() -> None:
    assert pullable_models() == sorted(f"{arch}-k400" for arch in CLIP_ARCHS)
    assert len(CATALOGUE) == 6
    for arch, spec in CLIP_ARCHS.items():
        source = CATALOGUE[f"{arch}-k400"]
        assert source.url == spec.weights.url
        assert source.url.startswith("https://download.pytorch.org/models/")
        assert source.file_name == f"{arch}-{source.hash_prefix}.pth"
        assert (REPO_ROOT / "model_store" / f"{arch}-k400" / "1.0.0" / "manifest.json").is_file()


def test_an_unknown_name_fails_and_lists_what_can_be_pulled(
        store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert pull_model(store, "resnet50") == 1
    err = capsys.readouterr().err
    assert "No downloadable model named 'resnet50'" in err
    assert ", ".join(pullable_models()) in err
    with pytest.raises(ModelNotFound):
        pull_weights(store, "resnet50")


def test_without_network_the_command_fails_and_leaves_the_store_unchanged(
        store: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(store)
    calls: list[tuple[str, float]] = []

    def offline(url: str, dst: Path, hash_prefix: str, timeout_s: float) -> None:
        calls.append((url, timeout_s))
        dst.write_bytes(b"half a file")  # a broken download must not survive
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(pull_module, "download_with_torch_hub", offline)
    assert pull_model(store, NAME) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: Could not download {CATALOGUE[NAME].url}: ")
    assert "Name or service not known" in err
    assert f"run `videobert models pull {NAME}` on one that has" in err
    assert calls == [(CATALOGUE[NAME].url, pull_module.DEFAULT_TIMEOUT_S)]
    assert snapshot(store) == before


@pytest.mark.timeout(60)
def test_a_real_attempt_at_a_host_that_does_not_resolve_fails_cleanly(store: Path) -> None:
    # ".invalid" never resolves (RFC 2606), with or without internet access.
    url = f"https://download.pytorch.invalid/models/{WEIGHTS_NAME}"
    catalogue = use_url(store, url, "a90a0ba3")
    before = snapshot(store)
    with pytest.raises(ModelStoreError, match=r"Could not download .*no internet access"):
        pull_weights(store, NAME, catalogue=catalogue, timeout_s=2.0)
    assert snapshot(store) == before


@pytest.mark.timeout(60)
def test_a_server_that_never_answers_times_out(store: Path) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/{WEIGHTS_NAME}"
        catalogue = use_url(store, url, "a90a0ba3")
        before = snapshot(store)
        with pytest.raises(ModelStoreError, match="timed out"):
            pull_weights(store, NAME, catalogue=catalogue, timeout_s=0.5)
    assert snapshot(store) == before
    assert socket.getdefaulttimeout() is None  # the process-wide default is restored


def test_pull_downloads_verifies_and_writes_the_sha256(store: Path, server: str,
                                                       served_file: Path) -> None:
    sha = sha256_file(served_file)
    url = f"{server}/{served_file.name}"
    catalogue = use_url(store, url, sha[:8])
    manifest_path = folder_of(store) / "manifest.json"
    before = json.loads(manifest_path.read_text())

    result = pull_weights(store, NAME, catalogue=catalogue)  # the real torch.hub downloader

    assert result.downloaded and (result.name, result.version) == (NAME, "1.0.0")
    assert result.path == folder_of(store) / WEIGHTS_NAME
    assert result.sha256 == sha == sha256_file(result.path)
    assert result.size_bytes == served_file.stat().st_size
    after = json.loads(manifest_path.read_text())
    assert after["frame_encoder"]["weights"]["sha256"] == sha
    after["frame_encoder"]["weights"]["sha256"] = "PENDING"
    assert after == before  # nothing else changed
    assert sorted(p.name for p in folder_of(store).iterdir()) == sorted(
        ["labels.txt", "manifest.json", WEIGHTS_NAME])

    loaded = load_model(store, NAME)  # verifies the sha256 the pull wrote
    assert loaded.model.is_clip_model and loaded.model.clip_frames == 16
    x = torch.zeros(1, 3, 16, 32, 32)
    features, logits = loaded.model.encode_clips(x)
    assert features.shape == (1, 512) and logits.shape == (1, 400)


def test_the_command_reports_and_a_second_pull_downloads_nothing(
        store: Path, server: str, served_file: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    sha = sha256_file(served_file)
    catalogue = use_url(store, f"{server}/{served_file.name}", sha[:8])
    monkeypatch.setattr(pull_module, "CATALOGUE", catalogue)
    assert pull_model(store, NAME) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{NAME} 1.0.0: {WEIGHTS_NAME} downloaded and verified (")
    assert f"sha256 {sha}" in out

    def must_not_download(url: str, dst: Path, hash_prefix: str, timeout_s: float) -> None:
        raise AssertionError("downloaded again")

    again = pull_weights(store, NAME, catalogue=catalogue, download=must_not_download)
    assert not again.downloaded and again.sha256 == sha


def test_a_download_with_the_wrong_hash_is_refused_by_torch_hub(store: Path, server: str,
                                                               served_file: Path) -> None:
    catalogue = use_url(store, f"{server}/{served_file.name}", "00000000")
    before = snapshot(store)
    with pytest.raises(ModelStoreError, match=r"Refused .*invalid hash value"):
        pull_weights(store, NAME, catalogue=catalogue)
    assert snapshot(store) == before


def test_a_file_whose_sha256_does_not_match_its_name_is_refused(store: Path) -> None:
    def tampered(url: str, dst: Path, hash_prefix: str, timeout_s: float) -> None:
        dst.write_bytes(b"some other file")  # a downloader that does not check the prefix

    before = snapshot(store)
    with pytest.raises(ModelStoreError, match="does not start with a90a0ba3"):
        pull_weights(store, NAME, download=tampered)
    assert snapshot(store) == before


def test_a_file_with_the_right_hash_that_does_not_load_is_refused(store: Path) -> None:
    garbage = b"not a state dict"
    catalogue = use_url(store, "https://example.invalid/mc3_18-x.pth",
                        hashlib.sha256(garbage).hexdigest()[:8])

    def download(url: str, dst: Path, hash_prefix: str, timeout_s: float) -> None:
        dst.write_bytes(garbage)

    before = snapshot(store)
    with pytest.raises(ModelStoreError, match="do not fit frame encoder 'mc3_18'"):
        pull_weights(store, NAME, catalogue=catalogue, download=download)
    assert snapshot(store) == before


def test_a_manifest_that_disagrees_with_the_catalogue_is_refused(store: Path) -> None:
    use_url(store, "https://elsewhere.invalid/mc3_18-a90a0ba3.pth", "a90a0ba3")
    with pytest.raises(ModelStoreError, match="is not the catalogue's"):
        pull_weights(store, NAME)
