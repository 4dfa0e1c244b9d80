"""The `videobert` command runs the same pipeline locally, without a server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.media import sample_clip
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow


def run_cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd,
                          env={"PATH": "/usr/bin:/bin", "VIDEOBERT_DECODE_WORKERS": "1",
                               "PYTHONPATH": str(Path(__file__).resolve().parents[2]), **env})


def test_summarize_two_files_with_a_contact_sheet(tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.jpg"
    result = run_cli("summarize", str(sample_clip("bikes.mp4")),
                     str(sample_clip("carphone_pristine.mp4")), "--contact-sheet", str(sheet),
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    bodies = [json.loads(line) for line in result.stdout.splitlines()]  # JSON Lines
    assert [Path(b["file"]).name for b in bodies] == ["bikes.mp4", "carphone_pristine.mp4"]
    assert len(bodies[0]["shots"]) >= 4
    assert all(k["thumbnail_jpeg_base64"] is None for b in bodies for k in b["keyframes"])
    assert Image.open(sheet).format == "JPEG"
    # Progress within each file, on stderr even without a terminal.
    assert "0/2 bikes.mp4: running the model" in result.stderr
    assert "0/2 bikes.mp4: decoding 100%" in result.stderr  # the decode, by quarters
    assert "2/2 carphone_pristine.mp4: done" in result.stderr


def test_one_file_is_one_json_line_too(tmp_path: Path) -> None:
    result = run_cli("classify", str(sample_clip("carphone_pristine.mp4")), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    assert json.loads(line)["video_labels"]
    assert "1/1 carphone_pristine.mp4: done" in result.stderr


def test_classify_bad_file_exits_with_the_error_code(tmp_path: Path) -> None:
    bad = tmp_path / "notes.mp4"
    bad.write_text("just text")
    result = run_cli("classify", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    assert json.loads(result.stderr.strip().splitlines()[-1])["error"]["code"] == \
        "unsupported_container"


def test_a_missing_file_exits_with_bad_request(tmp_path: Path) -> None:
    result = run_cli("classify", str(tmp_path / "nowhere.mp4"), cwd=tmp_path)
    assert result.returncode == 2
    error = json.loads(result.stderr.strip().splitlines()[-1])["error"]
    assert error["code"] == "bad_request" and "nowhere.mp4" in error["message"]


def test_the_cli_answers_from_the_configured_cache(tmp_path: Path) -> None:
    """With VIDEOBERT_REDIS_URL the CLI goes through the same cache as the service: the second
    run gets the first run's stored answer (its timings are the first computation's)."""
    with RedisServer() as redis:
        runs = [run_cli("classify", str(sample_clip("carphone_pristine.mp4")), cwd=tmp_path,
                        VIDEOBERT_REDIS_URL=redis.url) for _ in range(2)]
    for result in runs:
        assert result.returncode == 0, result.stderr
    first, second = (json.loads(result.stdout) for result in runs)  # one line: one file
    assert second["timings"] == first["timings"]
    assert second["video_labels"] == first["video_labels"]


def test_models_list_shows_the_default_model(tmp_path: Path) -> None:
    result = run_cli("models", "list", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert rows["videobert-lite0"]["weights"] == "installed"
    assert rows["videobert-lite0"]["default"] is True
    assert rows["r3d_18-k400"]["weights"] == "missing"  # its weights download on `pull`


def test_models_list_is_a_table_that_says_what_is_installed(tmp_path: Path) -> None:
    result = run_cli("models", "list", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "WEIGHTS", "DEFAULT"]
    assert "videobert-lite0 1.0.0 installed yes" in [" ".join(ln.split()) for ln in lines]
    assert "videobert models pull NAME" in result.stdout
