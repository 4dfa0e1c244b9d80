"""The Python client (clients/python) against a real ``videobert serve`` process with the real
default model, an admission limit of one (so concurrent requests meet 429s) and no Redis (jobs
run in the API process)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from videobert_client import AsyncClient, Client, RetryPolicy, VideoBertError

from bench.servers import ServerSpec, running
from tests.media import sample_clip

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("sdk")
    spec = ServerSpec(
        system="ours", argv=[sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1"],
        env={"VIDEOBERT_MAX_INFLIGHT_REQUESTS": "1", "VIDEOBERT_RETRY_AFTER_S": "1",
             "VIDEOBERT_DECODE_WORKERS": "1", "VIDEOBERT_DATA_DIR": str(folder),
             "VIDEOBERT_UPLOAD_DIR": str(folder), "VIDEOBERT_LOG_LEVEL": "warning"},
        ready_path="/readyz", predict_path="", describe="videobert serve, no Redis")
    with running(spec, folder / "logs") as (target, _):
        yield target.url


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    drop = ("request_id", "timings")
    return {k: v for k, v in a.items() if k not in drop} == {
        k: v for k, v in b.items() if k not in drop}


def test_three_lines_classify_a_file(server: str) -> None:
    client = Client(server)
    body = client.classify(sample_clip("bikes.mp4"), top_k=3)
    assert body["video_labels"] and len(body["shot_labels"]) >= 2
    raw = httpx.post(server + "/v1/classify", params={"top_k": 3}, timeout=120,
                     files={"video": ("b.mp4", sample_clip("bikes.mp4").read_bytes())}).json()
    assert _same(body, raw)


def test_errors_carry_the_stable_code_and_are_not_retried(server: str,
                                                          tmp_path: Path) -> None:
    client = Client(server)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"%PDF-1.4 not a video" * 100)
    with pytest.raises(VideoBertError) as caught:
        client.classify(junk)
    assert (caught.value.status, caught.value.code) == (415, "unsupported_container")
    with pytest.raises(VideoBertError) as caught:
        client.classify(sample_clip("bikes.mp4"), top_k=0)
    assert caught.value.code == "invalid_option"
    assert client.retries == 0


def test_a_429_storm_is_ridden_out(server: str) -> None:
    client = Client(server, retry=RetryPolicy(attempts=30, base_s=0.2, max_s=2.0))
    clips = ["bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4", "carphone_distorted.mp4"]
    results: dict[str, Any] = {}

    def run(name: str) -> None:
        try:
            results[name] = client.classify(sample_clip(name), fps=1.5)
        except Exception as exc:  # reported below
            results[name] = exc

    threads = [threading.Thread(target=run, args=(name,)) for name in clips]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert all(isinstance(r, dict) and r["video_labels"] is not None
               for r in results.values()), results
    assert client.retries > 0  # the admission limit of one refused some, the client waited


def test_a_job_is_polled_to_completion(server: str, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    client = Client(server)
    job = client.submit(sample_clip("bikes.mp4"), task="summarize")
    done = client.wait(job["id"], progress=True, timeout_s=300)
    assert done["status"] == "succeeded" and done["result"]["shots"]
    bar = capsys.readouterr().err
    assert re.search(r"\[#{30}\] succeeded", bar), bar


def test_library_and_search(server: str) -> None:
    client = Client(server)
    added = client.add_video(sample_clip("bikes.mp4"), name="bikes")
    assert client.video(added["video_id"])["filename"] == "bikes"
    hits = client.search("a person riding a bicycle", top_k=3)["hits"]
    assert hits[0]["video_id"] == added["video_id"]
    by_example = client.search(example=sample_clip("bikes.mp4"), top_k=1)["hits"]
    assert by_example[0]["video_id"] == added["video_id"]
    assert [v["video_id"] for v in client.videos()["videos"]] == [added["video_id"]]
    assert client.delete_video(added["video_id"])["deleted"] is True


def test_the_async_client(server: str) -> None:
    async def main() -> tuple[Any, Any]:
        async with AsyncClient(server) as client:
            body = await client.classify(sample_clip("carphone_pristine.mp4"))
            job = await client.submit(sample_clip("carphone_pristine.mp4"), task="classify")
            done = await client.wait(job["id"])
            added = await client.add_video(sample_clip("carphone_pristine.mp4"))
            hits = (await client.search("a man in a suit and tie", top_k=1))["hits"]
            assert hits[0]["video_id"] == added["video_id"]
            assert (await client.video(added["video_id"]))["shots"]
            assert (await client.delete_video(added["video_id"]))["deleted"] is True
            return body, done

    body, job = asyncio.run(main())
    assert job["status"] == "succeeded" and _same(body, job["result"])


def test_uploads_are_streamed_from_disk(server: str, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with big.open("wb") as fh:  # 200 MB: read whole, the client's memory would show it
        fh.truncate(200 * 1024 * 1024)
    client = Client(server)
    tracemalloc.start()
    try:
        with pytest.raises(VideoBertError) as caught:
            client.classify(big)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.status == 415
    assert peak < 20 * 1024 * 1024, f"peak {peak / 2**20:.0f} MiB while sending 200 MiB"


def test_every_path_the_client_calls_is_in_the_openapi_document(server: str) -> None:
    document = httpx.get(server + "/openapi.json").json()["paths"]
    source = (REPO / "clients" / "python" / "videobert_client" / "client.py").read_text()
    called = set(re.findall(r'"(GET|POST|DELETE)", f?"(/v1/[^"]*)"', source))
    assert len(called) >= 10
    for method, path in called:
        template = re.sub(r"\{[a-z_]+\}", lambda m: "{" + {
            "{job_id}": "job_id", "{video_id}": "video_id"}[m.group(0)] + "}", path)
        assert template in document, path
        assert method.lower() in document[template], (method, path)
    assert json.dumps(document)  # the document itself is served and parses


def test_the_cli_sends_work_to_a_running_service(server: str, tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.jpg"
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "summarize", "--url", server, "--contact-sheet",
         str(sheet), str(sample_clip("bikes.mp4"))], cwd=REPO, capture_output=True, text=True,
        timeout=300, env={**os.environ, "VIDEOBERT_MODEL_STORE_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    body = json.loads(line)
    assert body["shots"] and body["file"].endswith("bikes.mp4")
    assert "succeeded" in done.stderr  # the job's progress bar
    assert sheet.read_bytes()[:3] == b"\xff\xd8\xff"
    # No model was loaded here: the store pointed at is empty and it did not matter.
    bad = subprocess.run([sys.executable, "-m", "app.cli", "classify", "--url", server,
                          "--top-k", "0", str(sample_clip("bikes.mp4"))], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "invalid_option" in bad.stderr


def test_the_typed_answers_match_the_openapi_document(server: str) -> None:
    from typing import get_type_hints

    from videobert_client.models import SCHEMAS

    components = httpx.get(server + "/openapi.json").json()["components"]["schemas"]
    for typed, name in SCHEMAS.items():
        assert set(get_type_hints(typed)) == set(components[name]["properties"]), name
