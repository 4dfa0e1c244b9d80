"""The Open Inference Protocol v2 (KServe, Triton) over REST, so that tritonclient and KServe
tooling talk to this service as they do to Triton.

A model's one input is the BYTES tensor ``video`` of shape [1] holding the encoded file, sent
with the binary data extension (streamed to disk like any upload). Request ``parameters`` carry
the REST endpoints' options, ``task`` among them (classify, summarize or analyze; default
classify). Outputs: a BYTES tensor named after the task holding the REST endpoint's JSON body,
and for classify also ``video_scores`` FP32 [1, K], ``video_class_ids`` INT64 [1, K] (the
video labels that are classes) and, for summarize and analyze, ``shot_boundaries_s`` FP32 [N].
Errors use the protocol's ``{"error": "..."}`` with our stable code first in the text.
"""

from __future__ import annotations

import json
import struct
import time
from importlib import metadata
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from app.analysis import Task
from app.analysis.options import LIST_FIELDS, RequestOptions
from app.api.deps import ReadsCache, RequestId, ServicesDep
from app.api.upload import BodyLimits, receive_tensor_upload
from app.errors import BadRequest, InvalidOption, ModelNotFound, VideoBertError
from app.service import Services

router = APIRouter(tags=["kserve-v2"])
TASKS: tuple[Task, ...] = ("classify", "summarize", "analyze")
_BODY_OUTPUTS = {"classify", "summarize", "analyze"}


def _error(exc: VideoBertError) -> JSONResponse:
    headers = {"Retry-After": str(int(exc.retry_after_s))} if exc.retry_after_s else None
    return JSONResponse({"error": f"{exc.code}: {exc.message}"}, status_code=exc.status_code,
                        headers=headers)


def _version() -> str:
    try:
        return metadata.version("videobert-serve")
    except metadata.PackageNotFoundError:
        return "0"


def _model(svc: Services, name: str, version: str | None = None) -> Any:
    runtimes = svc.models.runtimes if svc.models.is_ready else {}
    runtime = runtimes.get(name)
    if runtime is None or (version is not None and version != runtime.loaded.version):
        raise ModelNotFound(f"No model {name!r}" + (f" version {version!r}" if version else "")
                            + f" is loaded. Loaded: {', '.join(sorted(runtimes)) or 'none'}.")
    return runtime


@router.get("/v2", summary="Server metadata")
async def server_metadata() -> dict[str, Any]:
    return {"name": "videobert-serve", "version": _version(),
            "extensions": ["binary_tensor_data"]}


@router.get("/v2/health/live", summary="Liveness")
async def live() -> Response:
    return Response(status_code=200)


@router.get("/v2/health/ready", summary="Readiness: the models are loaded")
async def ready(svc: ServicesDep) -> Response:
    return Response(status_code=200 if svc.models.is_ready else 503)


async def _metadata(svc: Services, name: str, version: str | None) -> JSONResponse:
    try:
        runtime = _model(svc, name, version)
    except VideoBertError as exc:
        return _error(exc)
    outputs = [{"name": task, "datatype": "BYTES", "shape": [1]} for task in TASKS]
    outputs += [{"name": "video_scores", "datatype": "FP32", "shape": [1, -1]},
                {"name": "video_class_ids", "datatype": "INT64", "shape": [1, -1]},
                {"name": "shot_boundaries_s", "datatype": "FP32", "shape": [-1]}]
    return JSONResponse({
        "name": name, "versions": [runtime.loaded.version], "platform": "videobert",
        "inputs": [{"name": "video", "datatype": "BYTES", "shape": [1]}],
        "outputs": outputs})


@router.get("/v2/models/{name}", summary="Model metadata: inputs and outputs")
async def model_metadata(name: str, svc: ServicesDep) -> JSONResponse:
    return await _metadata(svc, name, None)


@router.get("/v2/models/{name}/versions/{version}", summary="Model metadata of one version")
async def model_version_metadata(name: str, version: str, svc: ServicesDep) -> JSONResponse:
    return await _metadata(svc, name, version)


@router.get("/v2/models/{name}/ready", summary="Model readiness")
async def model_ready(name: str, svc: ServicesDep) -> Response:
    try:
        _model(svc, name)
    except VideoBertError:
        return Response(status_code=404 if svc.models.is_ready else 503)
    return Response(status_code=200)


@router.get("/v2/models/{name}/versions/{version}/ready", summary="Model version readiness")
async def model_version_ready(name: str, version: str, svc: ServicesDep) -> Response:
    try:
        _model(svc, name, version)
    except VideoBertError:
        return Response(status_code=404 if svc.models.is_ready else 503)
    return Response(status_code=200)


@router.post("/v2/models/{name}/infer", summary="Inference: the video as a BYTES tensor")
async def infer(name: str, request: Request, svc: ServicesDep, request_id: RequestId,
                read_cache: ReadsCache) -> Response:
    return await _infer(name, None, request, svc, request_id, read_cache)


@router.post("/v2/models/{name}/versions/{version}/infer", summary="Inference on one version")
async def infer_version(name: str, version: str, request: Request, svc: ServicesDep,
                        request_id: RequestId, read_cache: ReadsCache) -> Response:
    return await _infer(name, version, request, svc, request_id, read_cache)


async def _infer(name: str, version: str | None, request: Request, svc: Services,
                 request_id: str, read_cache: bool) -> Response:
    started = time.monotonic()
    try:
        svc.analyzer.require_ready()
        runtime = _model(svc, name, version)
        svc.admission.check()
        async with receive_tensor_upload(request, upload_dir=svc.settings.upload_dir,
                                         limits=BodyLimits.from_settings(svc.settings)
                                         ) as (header, upload):
            task, options = _options(header, runtime.loaded.name)
            wanted = _wanted_outputs(header, task)
            with svc.admission:
                analyzed = await svc.analyzer.analyze(
                    upload, task, options.to_pipeline(), request_id=request_id,
                    timeout_s=svc.settings.request_timeout_s, read_cache=read_cache,
                    started=started)
    except VideoBertError as exc:
        return _error(exc)
    outputs = _outputs(task, analyzed.body, wanted)
    reply = {"model_name": name, "model_version": runtime.loaded.version,
             "id": str(header.get("id") or request_id), "outputs": outputs}
    binary = [o for o in outputs if wanted.get(o["name"], False)]
    headers = {"X-Cache": "hit" if analyzed.was_cached else "miss"}
    if not binary:
        for out in outputs:
            out["data"] = out.pop("_values")
        return JSONResponse(reply, headers=headers)
    chunks = []
    for out in outputs:
        values = out.pop("_values")
        if wanted.get(out["name"], False):
            raw = _to_binary(out["datatype"], values)
            out["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            out["data"] = values
    head = json.dumps(reply).encode()
    return Response(head + b"".join(chunks), media_type="application/octet-stream",
                    headers={**headers, "Inference-Header-Content-Length": str(len(head))})


def _options(header: dict[str, Any], model: str) -> tuple[Task, RequestOptions]:
    params = header.get("parameters") or {}
    if not isinstance(params, dict):
        raise BadRequest("The request's parameters must be an object.")
    task = params.get("task", "classify")
    if task not in TASKS:
        raise InvalidOption(f"task must be one of {', '.join(TASKS)}, got {task!r}.")
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if key in ("task", "binary_data_output"):
            continue
        if key in LIST_FIELDS and isinstance(value, list):
            pairs += [(key, str(v)) for v in value]
        else:
            pairs.append((key, json.dumps(value) if isinstance(value, list | dict) else
                          str(value).lower() if isinstance(value, bool) else str(value)))
    options = RequestOptions.parse(pairs + [("model", model)])
    if options.format != "json":
        raise InvalidOption("format=jpeg is for POST /v1/summarize; the protocol answers "
                            "tensors.")
    return task, options


def _wanted_outputs(header: dict[str, Any], task: Task) -> dict[str, bool]:
    """Output name -> whether it goes in the binary section; every output of the task when the
    request names none."""
    default_binary = bool((header.get("parameters") or {}).get("binary_data_output", False))
    names = [task, "video_scores", "video_class_ids"] if task == "classify" else (
        [task, "shot_boundaries_s"] if task == "summarize" else
        [task, "video_scores", "video_class_ids", "shot_boundaries_s"])
    asked = header.get("outputs")
    if not asked:
        return {n: default_binary for n in names}
    wanted: dict[str, bool] = {}
    for out in asked:
        out_name = out.get("name") if isinstance(out, dict) else None
        if out_name not in names:
            raise InvalidOption(f"Output {out_name!r} is not one of task {task}'s: "
                                f"{', '.join(names)}.")
        params = out.get("parameters") or {}
        wanted[out_name] = bool(params.get("binary_data", default_binary))
    return wanted


def _outputs(task: Task, body: dict[str, Any], wanted: dict[str, bool]) -> list[dict[str, Any]]:
    labels = [lb for lb in body.get("video_labels") or [] if lb.get("class_id") is not None]
    boundaries = [s["start_s"] for s in body.get("shots") or []][1:]
    made = {
        task: ("BYTES", [1], [json.dumps(body)]),
        "video_scores": ("FP32", [1, len(labels)], [float(lb["score"]) for lb in labels]),
        "video_class_ids": ("INT64", [1, len(labels)], [int(lb["class_id"]) for lb in labels]),
        "shot_boundaries_s": ("FP32", [len(boundaries)], [float(b) for b in boundaries]),
    }
    return [{"name": n, "datatype": made[n][0], "shape": made[n][1], "_values": made[n][2]}
            for n in wanted]


def _to_binary(datatype: str, values: list[Any]) -> bytes:
    if datatype == "BYTES":
        return b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)
    dtype = {"FP32": "<f4", "INT64": "<i8"}[datatype]
    return np.asarray(values, dtype=dtype).tobytes()
