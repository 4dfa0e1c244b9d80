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
    bodies = json.loads(result.stdout)
    assert [Path(b["file"]).name for b in bodies] == ["bikes.mp4", "carphone_pristine.mp4"]
    assert len(bodies[0]["shots"]) >= 4
    assert Image.open(sheet).format == "JPEG"
    assert "2/2" in result.stderr  # the progress line


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
    first, second = (json.loads(result.stdout) for result in runs)
    assert second["timings"] == first["timings"]
    assert second["video_labels"] == first["video_labels"]


def test_models_list_shows_the_default_model(tmp_path: Path) -> None:
    result = run_cli("models", "list", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    names = [json.loads(line)["name"] for line in result.stdout.splitlines()]
    assert "videobert-lite0" in names
