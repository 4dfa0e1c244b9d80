"""HTTP routes: thin. Each one receives, delegates to the pipeline and cache, renders."""

from __future__ import annotations

import base64
import logging
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from app.api.responses import render_body
from app.api.schemas import (
    ClassifyResponse,
    InputSpec,
    ModelInfo,
    ModelsResponse,
    RequestOptions,
    SummarizeResponse,
    error_responses,
)
from app.api.upload import flight_copy, receive_upload
from app.cache import make_cache_key
from app.render import contact_sheet
from app.service import Services

log = logging.getLogger(__name__)
router = APIRouter()

_ERRORS = error_responses({
    400: "Malformed request (no video field, too many form parts)",
    401: "API key required (when the server has keys configured)",
    408: "The upload did not arrive within the body deadline",
    413: "Upload larger than VIDEOBERT_MAX_UPLOAD_MB (payload_too_large)",
    415: "Not a supported video (unsupported_container, unsupported_codec, "
         "no_video_stream, unsupported_content_type, empty_upload)",
    422: "Invalid option, or a video outside the policy (video_too_long, "
         "resolution_too_large, no_decodable_frames, decode_timeout, ...)",
    429: "Overloaded or rate limited; see Retry-After",
    503: "Model not ready yet, or inference failed; see Retry-After",
    504: "The request's deadline passed while it waited",
})

_VIDEO_BODY = {
    "requestBody": {
        "required": True,
        "description": "The video: a multipart file field `video` (options may be sent as "
                       "further form fields), or the raw bytes with a `video/*` Content-Type.",
        "content": {
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["video"],
                "properties": {"video": {"type": "string", "format": "binary"}}}},
            "video/*": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def _no_cache(request: Request) -> bool:
    value = request.headers.get("cache-control", "").lower()
    return "no-cache" in value or "no-store" in value


async def _analyze(request: Request, endpoint: Literal["classify", "summarize"],
                   query: RequestOptions) -> Response:
    svc = services(request)
    pipeline = svc.require_ready()
    assert svc.admission is not None and svc.cache is not None
    cache = svc.cache
    request_id: str = request.scope.get("state", {}).get("request_id", "-")
    started = time.monotonic()
    with svc.admission:
        async with receive_upload(request, max_bytes=svc.settings.max_upload_bytes,
                                  timeout_s=svc.settings.body_timeout_s,
                                  upload_dir=svc.settings.upload_dir) as upload:
            options = RequestOptions.parse(
                {k: v for k, v in request.query_params.items()}, upload.form) \
                if upload.form else query
            analyze = options.to_analyze()
            runtime = pipeline.runtime(analyze.model)
            key = make_cache_key(upload.sha256, endpoint, runtime.loaded.name,
                                 runtime.loaded.version, analyze.cache_options(endpoint))
            deadline = time.monotonic() + svc.settings.request_timeout_s

            async def compute() -> dict[str, Any]:
                # The flight may outlive this request (other identical uploads wait on it),
                # so it works on its own link to the file, not on this request's temp file.
                with flight_copy(upload.path) as path:
                    result = await pipeline.run(path, analyze, deadline=deadline,
                                                want_summary=endpoint == "summarize")
                total_ms = (time.monotonic() - started) * 1000
                for stage in ("decode_ms", "queue_ms", "inference_ms", "model_tail_ms",
                              "refine_ms"):
                    svc.metrics.stage_seconds.labels(stage[:-3]).observe(
                        result.timings_ms.get(stage, 0.0) / 1000)
                return render_body(endpoint, result, request_id=request_id, total_ms=total_ms,
                                   include_frames=analyze.include_frames)

            body, hit = await cache.get_or_compute(key, compute, read=not _no_cache(request))
    body = {**body, "request_id": request_id}
    headers = {"X-Cache": "hit" if hit else "miss"}
    if endpoint == "summarize" and options.format == "jpeg":
        return _contact_sheet_response(body, headers)
    return JSONResponse(body, headers=headers)


def _contact_sheet_response(body: dict[str, Any], headers: dict[str, str]) -> Response:
    keyframes = body["keyframes"]
    thumbs = [base64.b64decode(k["thumbnail_jpeg_base64"]) for k in keyframes
              if k.get("thumbnail_jpeg_base64")]
    captions = [f"shot {k['shot_index']} · {k['time_s']:.1f} s" for k in keyframes
                if k.get("thumbnail_jpeg_base64")]
    jpeg = contact_sheet(thumbs, captions)
    return Response(jpeg, media_type="image/jpeg", headers=headers)


@router.post("/v1/classify", response_model=ClassifyResponse, responses=_ERRORS,
             openapi_extra=_VIDEO_BODY, tags=["analysis"],
             summary="Labels for the whole video, each shot and (optionally) each sampled frame")
async def classify(request: Request,
                   query: Annotated[RequestOptions, Query()]) -> Response:
    """Upload a video; get ImageNet labels at video, shot and frame level.

    `curl -F video=@clip.mp4 'http://localhost:8000/v1/classify?top_k=5'`
    """
    return await _analyze(request, "classify", query)


@router.post("/v1/summarize", response_model=SummarizeResponse, responses={
    **_ERRORS, 200: {"content": {"application/json": {}, "image/jpeg": {}},
                     "description": "JSON summary, or a contact-sheet JPEG with format=jpeg"}},
    openapi_extra=_VIDEO_BODY, tags=["analysis"],
    summary="Shots, importance curve, keyframes and a highlight selection")
async def summarize(request: Request,
                    query: Annotated[RequestOptions, Query()]) -> Response:
    """Upload a video; get its shots, keyframes and a highlight summary (15% by default).

    `curl -F video=@clip.mp4 'http://localhost:8000/v1/summarize?format=jpeg' -o sheet.jpg`
    """
    return await _analyze(request, "summarize", query)


@router.get("/healthz", tags=["operations"], summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", tags=["operations"],
            summary="Readiness: models loaded and warmed up (503 until then)")
async def readyz(request: Request) -> JSONResponse:
    svc = services(request)
    cache_health = svc.cache.health() if svc.cache else {"status": "absent"}
    body = {
        "status": "ready" if svc.is_ready else "starting",
        "models": sorted(svc.models) if svc.is_ready else [],
        "devices": svc.devices,
        "cache": cache_health,
        "queue_depth": svc.queue_depth(),
    }
    if svc.startup_error:
        body["error"] = svc.startup_error
    return JSONResponse(body, status_code=200 if svc.is_ready else 503)


@router.get("/v1/models", response_model=ModelsResponse, tags=["models"],
            summary="The loaded models")
async def models(request: Request) -> ModelsResponse:
    svc = services(request)
    svc.require_ready()
    out = []
    for name, runtime in sorted(svc.models.items()):
        m = runtime.loaded.manifest
        out.append(ModelInfo(
            name=name, version=runtime.loaded.version, description=m.description,
            default=name == svc.settings.default_model.partition(":")[0],
            labels_count=len(runtime.loaded.labels),
            frame_encoder=m.frame_encoder.arch, temporal=m.temporal.arch,
            input=InputSpec(short_side=m.input.short_side, crop=m.input.crop,
                            mean=list(m.input.mean), std=list(m.input.std),
                            sample_fps=svc.settings.sample_fps,
                            max_frames=svc.settings.max_frames),
            devices=svc.devices))
    return ModelsResponse(models=out)


@router.get("/metrics", tags=["operations"], summary="Prometheus metrics")
async def metrics(request: Request) -> Response:
    svc = services(request)
    svc.metrics.queue_depth.set(svc.queue_depth())
    return Response(svc.metrics.render(), media_type="text/plain; version=0.0.4")
