"""The access log of a real ``videobert serve``: one line per request, JSON on request."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.faults.server import ServeProcess, wait_until


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_each_request_is_logged_once(tmp_path: Path, fault_store: Path, clip: bytes,
                                     log_format: str) -> None:
    with ServeProcess(tmp_path, fault_store, VIDEOBERT_LOG_LEVEL="info",
                      VIDEOBERT_LOG_FORMAT=log_format) as server:
        request_id = "abc123requestid"
        resp = httpx.get(f"{server.url}/v1/models", headers={"X-Request-ID": request_id})
        assert resp.status_code == 200
        assert wait_until(lambda: request_id in server.log(), 10)
        lines = [line for line in server.log().splitlines() if "/v1/models" in line]
        assert len(lines) == 1, lines  # uvicorn's access line would be a second
        if log_format == "json":
            entry = json.loads(lines[0])
            assert {k: entry[k] for k in ("request_id", "method", "path", "status")} == {
                "request_id": request_id, "method": "GET", "path": "/v1/models",
                "status": 200}
            assert entry["ms"] >= 0 and entry["level"] == "info"
            assert entry["route"] == "/v1/models" and entry["cache"] is None
            # An analysis says whether it came from the cache.
            for _ in range(2):
                posted = httpx.post(f"{server.url}/v1/classify", files={"video": ("c.mp4", clip)},
                                    timeout=60)
                assert posted.status_code == 200, posted.text
            assert wait_until(lambda: server.log().count('"/v1/classify"') >= 4, 10)
            analyses = [json.loads(line) for line in server.log().splitlines()
                        if '"path": "/v1/classify"' in line]
            assert [(e["route"], e["cache"]) for e in analyses] == [
                ("/v1/classify", "miss"), ("/v1/classify", "hit")]
            assert all(json.loads(line) for line in server.log().splitlines() if line)
