"""Every corpus file through the HTTP API: the exact status and code, nothing read or fetched.

One app serves the whole module. After each answer: the loopback canary has seen no connection,
the secret's content appears nowhere in the response, the upload folder is empty again, and
/readyz still says ready.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from app.api.upload import MAX_PARTS
from tests.hostile.conftest import HostileEnv
from tests.hostile.corpus import SECRET_TEXT, Case, list_cases

pytestmark = pytest.mark.asyncio(loop_scope="module")

CASES = list_cases()


async def _post(client: httpx.AsyncClient, name: str, data: bytes) -> httpx.Response:
    return await client.post("/v1/classify?include_frames=true",
                             files={"video": (name, data, "video/mp4")}, timeout=60)


async def assert_service_intact(client: httpx.AsyncClient, env: HostileEnv) -> None:
    assert env.canary.connections == []
    assert sorted(p.name for p in env.uploads.iterdir()) == []
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_corpus_file_gets_its_exact_answer(case: Case, hostile_env: HostileEnv,
                                                 hostile_client: httpx.AsyncClient) -> None:
    resp = await _post(hostile_client, case.name, (hostile_env.corpus / case.name).read_bytes())
    assert resp.status_code == case.status, resp.text
    body = resp.json()
    if case.code is None:
        assert body["video"]["frames_sampled"] >= 1
        assert len(body["video_labels"]) >= 1
    else:
        assert set(body) == {"error"} and body["error"]["code"] == case.code
    assert SECRET_TEXT not in resp.text
    await assert_service_intact(hostile_client, hostile_env)


async def test_secret_video_would_be_served_if_uploaded(hostile_env: HostileEnv,
                                                        hostile_client: httpx.AsyncClient
                                                        ) -> None:
    """Control: the secret video is a valid file, so only the defences keep it out above."""
    resp = await _post(hostile_client, "secret.mp4",
                       (hostile_env.root / "secret.mp4").read_bytes())
    assert resp.status_code == 200


async def test_declared_length_over_the_limit_is_refused_before_reading(
        hostile_client: httpx.AsyncClient) -> None:
    async def endless() -> AsyncIterator[bytes]:  # never ends: only the header can answer
        while True:
            yield b"\0" * 65536

    resp = await hostile_client.post(
        "/v1/classify", content=endless(),
        headers={"Content-Type": "video/mp4", "Content-Length": str(50 * 2**20)})
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "payload_too_large"


def _multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = "xYzBoundary"
               ) -> tuple[bytes, dict[str, str]]:
    chunks = []
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"'
                                                     if filename else "")
        chunks.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
                      + data + b"\r\n")
    body = b"".join(chunks) + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


@pytest.mark.parametrize("parts, status, code", [
    ([("top_k", None, b"3")] * (MAX_PARTS + 1) + [("video", "a.mp4", b"x")], 400,
     "bad_request"),
    ([("top_k", None, b"1" * 5000), ("video", "a.mp4", b"x")], 400, "bad_request"),
    ([("video", "a.mp4", b"x"), ("video", "b.mp4", b"y")], 400, "bad_request"),
    ([("other", "a.mp4", b"x")], 400, "bad_request"),
    ([("video", "a.mp4", b"\0" * (3 * 2**20))], 413, "payload_too_large"),
], ids=["too-many-parts", "field-too-long", "two-videos", "no-video-field", "part-too-large"])
async def test_multipart_limits(parts: list[tuple[str, str | None, bytes]], status: int,
                                code: str, hostile_env: HostileEnv,
                                hostile_client: httpx.AsyncClient) -> None:
    body, headers = _multipart(parts)

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: the stream must be cut
        for start in range(0, len(body), 65536):
            yield body[start:start + 65536]

    resp = await hostile_client.post("/v1/classify", content=chunked(), headers=headers)
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == code
    await assert_service_intact(hostile_client, hostile_env)
