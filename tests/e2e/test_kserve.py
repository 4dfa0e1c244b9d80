"""The Open Inference Protocol v2 spoken by the real tritonclient package to a real
``videobert serve`` (the real default model): what Triton users point at us."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from bench.servers import ServerSpec, running
from tests.media import sample_clip

pytestmark = pytest.mark.slow
MODEL = "videobert-lite0"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("kserve")
    # A small upload limit, so that a too-large input is cheap to send.
    spec = ServerSpec(
        system="ours", argv=[sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1"],
        env={"VIDEOBERT_MAX_UPLOAD_MB": "0.8", "VIDEOBERT_DECODE_WORKERS": "1",
             "VIDEOBERT_DATA_DIR": str(folder), "VIDEOBERT_UPLOAD_DIR": str(folder),
             "VIDEOBERT_LOG_LEVEL": "warning"},
        ready_path="/v2/health/ready", predict_path="", describe="videobert serve")
    with running(spec, folder / "logs") as (target, _):
        yield target.url.removeprefix("http://")


@pytest.fixture(scope="module")
def client(server: str) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(server)


def _video(data: bytes) -> triton.InferInput:
    tensor = triton.InferInput("video", [1], "BYTES")
    tensor.set_data_from_numpy(np.array([data], dtype=object), binary_data=True)
    return tensor


def _comparable(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("request_id", "timings")}


def test_health_and_metadata(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(MODEL) and client.is_model_ready(MODEL, "1.0.0")
    assert not client.is_model_ready("nope") and not client.is_model_ready(MODEL, "9.9")
    meta = client.get_model_metadata(MODEL)
    assert meta["inputs"] == [{"name": "video", "datatype": "BYTES", "shape": [1]}]
    assert {o["name"] for o in meta["outputs"]} >= {"classify", "summarize", "video_scores"}
    assert client.get_model_metadata(MODEL, "1.0.0")["versions"] == ["1.0.0"]
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]


def test_infer_answers_what_classify_answers(client: triton.InferenceServerClient,
                                             server: str) -> None:
    data = sample_clip("carphone_pristine.mp4").read_bytes()
    result = client.infer(MODEL, [_video(data)], parameters={"top_k": 3})
    body = json.loads(result.as_numpy("classify")[0])
    rest = httpx.post(f"http://{server}/v1/classify", params={"top_k": 3},
                      files={"video": ("c.mp4", data)}, timeout=120).json()
    assert _comparable(body) == _comparable(rest)
    classes = [lb for lb in rest["video_labels"] if lb["class_id"] is not None]
    assert result.as_numpy("video_class_ids").tolist() == [[lb["class_id"] for lb in classes]]
    assert np.allclose(result.as_numpy("video_scores"), [[lb["score"] for lb in classes]])


def test_summarize_with_chosen_outputs(client: triton.InferenceServerClient) -> None:
    data = sample_clip("bikes.mp4").read_bytes()
    outputs = [triton.InferRequestedOutput("summarize", binary_data=False),
               triton.InferRequestedOutput("shot_boundaries_s", binary_data=True)]
    result = client.infer(MODEL, [_video(data)], outputs=outputs,
                          parameters={"task": "summarize"})
    body = json.loads(result.as_numpy("summarize")[0])
    starts = [s["start_s"] for s in body["shots"]][1:]
    assert np.allclose(result.as_numpy("shot_boundaries_s"), starts)
    assert result.as_numpy("classify") is None


@pytest.mark.parametrize(("params", "code", "status"), [
    ({"top_k": 0}, "invalid_option", 422),
    ({"task": "translate"}, "invalid_option", 422),
    ({"format": "jpeg", "task": "summarize"}, "invalid_option", 422),
])
def test_bad_options_are_protocol_errors(client: triton.InferenceServerClient,
                                         params: dict[str, Any], code: str, status: int) -> None:
    data = sample_clip("bikes.mp4").read_bytes()
    with pytest.raises(InferenceServerException) as caught:
        client.infer(MODEL, [_video(data)], parameters=params)
    assert caught.value.status() == str(status) and code in caught.value.message()


def test_bad_inputs_get_their_4xx(client: triton.InferenceServerClient, server: str,
                                  tmp_path: Path) -> None:
    with pytest.raises(InferenceServerException) as caught:
        client.infer(MODEL, [_video(b"%PDF-1.4 not a video")])
    assert caught.value.status() == "415"
    big = sample_clip("bigbuckbunny.mp4").read_bytes()  # over the 0.8 MB limit
    with pytest.raises(InferenceServerException) as caught:
        client.infer(MODEL, [_video(big)])
    assert caught.value.status() == "413" and "payload_too_large" in caught.value.message()
    with pytest.raises(InferenceServerException) as caught:
        client.infer("nope", [_video(b"x" * 10)])
    assert caught.value.status() == "404"
    url = f"http://{server}/v2/models/{MODEL}/infer"
    plain = httpx.post(url, json={"inputs": [{"name": "video", "shape": [1],
                                              "datatype": "BYTES", "data": ["AAAA"]}]})
    assert plain.status_code == 400 and "binary data extension" in plain.json()["error"]
    header = json.dumps({"inputs": [{"name": "video", "shape": [1], "datatype": "BYTES",
                                     "parameters": {"binary_data_size": 1000}}]}).encode()
    short = httpx.post(url, content=header + b"\x10\x00\x00\x00abc", headers={
        "Inference-Header-Content-Length": str(len(header))})
    assert short.status_code == 400 and short.json()["error"].startswith("bad_request")
    garbage = httpx.post(url, content=b"{nope" + b"\x00" * 20, headers={
        "Inference-Header-Content-Length": "5"})
    assert garbage.status_code == 400
    # The service still answers.
    assert client.is_model_ready(MODEL)
