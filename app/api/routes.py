"""HTTP routes: thin. Each one receives, delegates to the pipeline and cache, renders."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from app.analysis import Task, keyframe_sheet
from app.analysis.bodies import FEATURE_KEYS, select_features
from app.api.deps import Namespace, ReadsCache, RequestId, ServicesDep
from app.api.schemas import (
    VIDEO_REQUEST_BODY,
    AnalyzeOptions,
    AnalyzeResponse,
    ClassifyResponse,
    IndexableOptions,
    InputSpec,
    ModelInfo,
    ModelsResponse,
    RequestOptions,
    SummarizeResponse,
    error_responses,
)
from app.api.upload import BodyLimits, receive_upload
from app.errors import InvalidOption, VideoBertError
from app.library.library import checked_name
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



async def _analyze(request: Request, task: Task, svc: Services, request_id: str,
                   read_cache: bool, namespace: str) -> Response:
    svc.analyzer.require_ready()
    started = time.monotonic()
    svc.admission.check()  # busy: refuse before reading a byte
    async with receive_upload(request, upload_dir=svc.settings.upload_dir,
                              limits=BodyLimits.from_settings(svc.settings)) as upload:
        query_pairs, features = _split_features(request.query_params.multi_items(), task)
        form_pairs, form_features = _split_features(upload.form, task)
        # index and name (the library's, not the analysis's); a form field wins over the query.
        query_pairs, index_query = _split_field(query_pairs, "index")
        form_pairs, index_form = _split_field(form_pairs, "index")
        query_pairs, name_query = _split_field(query_pairs, "name")
        form_pairs, name_form = _split_field(form_pairs, "name")
        form_flag = _index_flag(index_form)
        to_index = form_flag if form_flag is not None else bool(_index_flag(index_query))
        names = name_query + name_form
        for given in names:
            checked_name(given, indexing=to_index)
        name = names[-1] if names else None
        options = RequestOptions.parse(query_pairs, form_pairs)
        features = _checked_features(features + form_features)
        if task != "summarize" and options.format == "jpeg":
            raise InvalidOption(f"format=jpeg (a contact sheet) is for /v1/summarize; "
                                f"/v1/{task} answers JSON only.")
        pipeline_options = options.to_pipeline()
        indexed: dict[str, Any] = {}  # video_id (and index_error) when asked to index
        with svc.admission:  # a slot once the body is in: a slow upload holds none
            if to_index:
                analyzed, indexed = await svc.library.analyze_and_add(
                    namespace, upload, task, pipeline_options, request_id=request_id,
                    timeout_s=svc.settings.request_timeout_s, read_cache=read_cache,
                    started=started, name=name)
            else:
                analyzed = await svc.analyzer.analyze(
                    upload, task, pipeline_options, request_id=request_id,
                    timeout_s=svc.settings.request_timeout_s, read_cache=read_cache,
                    started=started)
    headers = {"X-Cache": "hit" if analyzed.was_cached else "miss"}
    if task == "summarize" and options.format == "jpeg":
        jpeg = keyframe_sheet([analyzed.body], _shot_caption)
        return Response(jpeg, media_type="image/jpeg", headers={**headers, **(
            {"X-Video-Id": str(indexed["video_id"])} if indexed.get("video_id") else {})})
    body = select_features(analyzed.body, features) if task == "analyze" else analyzed.body
    return JSONResponse({**body, **indexed}, headers=headers)


def _split_features(pairs: Iterable[tuple[str, str]], task: Task
                    ) -> tuple[list[tuple[str, str]], list[str]]:
    """The ``features`` option (analyze only: comma-separated or repeated), apart from the
    options every endpoint shares."""
    rest, features = [], []
    for key, value in pairs:
        if key != "features":
            rest.append((key, value))
        elif task != "analyze":
            raise InvalidOption(f"features= is an option of /v1/analyze, not /v1/{task}.")
        else:
            features += [f.strip() for f in value.split(",") if f.strip()]
    return rest, features


def _split_field(pairs: list[tuple[str, str]], field: str
                 ) -> tuple[list[tuple[str, str]], list[str]]:
    """The values of ``field``, apart from the other pairs (the analysis options)."""
    return [(k, v) for k, v in pairs if k != field], [v for k, v in pairs if k == field]


def _index_flag(values: list[str]) -> bool | None:
    """``index`` as true/false (the last value given); None when not given."""
    index = None
    for value in values:
        if value.strip().lower() in ("true", "1", "yes", "on"):
            index = True
        elif value.strip().lower() in ("false", "0", "no", "off", ""):
            index = False
        else:
            raise InvalidOption(f"index must be true or false, got {value[:20]!r}.")
    return index


def _checked_features(features: list[str]) -> list[str]:
    unknown = [f for f in features if f not in FEATURE_KEYS]
    if unknown:
        raise InvalidOption(f"Unknown feature(s) {', '.join(map(repr, unknown))}: choose from "
                            f"{', '.join(FEATURE_KEYS)}.")
    return list(dict.fromkeys(features)) or list(FEATURE_KEYS)  # none asked: all of them


def _shot_caption(body: Mapping[str, Any], keyframe: Mapping[str, Any]) -> str:
    return f"shot {keyframe['shot_index']} · {keyframe['time_s']:.1f} s"


@router.post("/v1/classify", response_model=ClassifyResponse, responses=_ERRORS,
             openapi_extra=VIDEO_REQUEST_BODY, tags=["analysis"],
             summary="Labels for the whole video, each shot and (optionally) each sampled frame")
async def classify(request: Request, query: Annotated[IndexableOptions, Query()],
                   svc: ServicesDep, request_id: RequestId, read_cache: ReadsCache,
                   namespace: Namespace) -> Response:
    """Upload a video; get ImageNet labels at video, shot and frame level.

    `curl -F video=@clip.mp4 'http://localhost:8000/v1/classify?top_k=5'`
    """
    del query  # validated by FastAPI for the docs; parsed with the form fields below
    return await _analyze(request, "classify", svc, request_id, read_cache, namespace)


@router.post("/v1/summarize", response_model=SummarizeResponse, responses={
    **_ERRORS, 200: {"content": {"application/json": {}, "image/jpeg": {}},
                     "description": "JSON summary, or a contact-sheet JPEG with format=jpeg"}},
    openapi_extra=VIDEO_REQUEST_BODY, tags=["analysis"],
    summary="Shots, importance curve, keyframes and a highlight selection")
async def summarize(request: Request, query: Annotated[IndexableOptions, Query()],
                    svc: ServicesDep, request_id: RequestId, read_cache: ReadsCache,
                    namespace: Namespace) -> Response:
    """Upload a video; get its shots, keyframes and a highlight summary (15% by default).

    `curl -F video=@clip.mp4 'http://localhost:8000/v1/summarize?format=jpeg' -o sheet.jpg`
    """
    del query
    return await _analyze(request, "summarize", svc, request_id, read_cache, namespace)


@router.post("/v1/analyze", response_model=AnalyzeResponse, responses=_ERRORS,
             openapi_extra=VIDEO_REQUEST_BODY, tags=["analysis"],
             summary="Labels, shots and summary in one request (any subset, by features=)")
async def analyze(request: Request, query: Annotated[AnalyzeOptions, Query()],
                  svc: ServicesDep, request_id: RequestId, read_cache: ReadsCache,
                  namespace: Namespace) -> Response:
    """Upload a video once; get the features you name (`labels`, `shots`, `summary`;
    default all) from one computation, as the hosted APIs' `features=[...]` do.

    One cache entry serves every subset of features of the same video and options: asking
    for `labels` now and `summary` later computes once.

    `curl -F video=@clip.mp4 'http://localhost:8000/v1/analyze?features=labels,summary'`
    """
    del query
    return await _analyze(request, "analyze", svc, request_id, read_cache, namespace)


@router.get("/healthz", tags=["operations"], summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", tags=["operations"],
            summary="Readiness: models loaded and warmed up (503 until then)")
async def readyz(svc: ServicesDep) -> JSONResponse:
    models = svc.models
    body: dict[str, Any] = {
        "status": "ready" if models.is_ready else "starting",
        "models": sorted(models.runtimes) if models.is_ready else [],
        "devices": models.devices,
        "cache": svc.cache.health(),
        "queue_depth": models.queue_depth(),
        "jobs": await _jobs_health(svc),
    }
    if models.startup_error:
        body["error"] = models.startup_error
    return JSONResponse(body, status_code=200 if models.is_ready else 503)


async def _jobs_health(svc: Services) -> dict[str, Any]:
    """Who runs jobs: this process, and the workers alive (they announce themselves)."""
    jobs = svc.jobs
    try:  # a probe must answer fast even when Redis hangs
        workers: int | None = await asyncio.wait_for(jobs.live_workers(), 0.5)
    except (VideoBertError, TimeoutError):
        workers = None  # the queue is unreachable or slow
    return {"runs_in_api": jobs.runs_in_api, "live_workers": workers}


@router.get("/v1/models", response_model=ModelsResponse, tags=["models"],
            summary="The loaded models")
async def models(svc: ServicesDep) -> ModelsResponse:
    svc.analyzer.require_ready()
    out = []
    for name, runtime in sorted(svc.models.runtimes.items()):
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
            devices=svc.models.devices, text_encoder=runtime.loaded.text is not None,
            label_sets={k: len(v.labels) for k, v in sorted(
                runtime.loaded.text.label_sets.items())} if runtime.loaded.text else {}))
    return ModelsResponse(models=out)


@router.get("/metrics", tags=["operations"], summary="Prometheus metrics")
async def metrics(svc: ServicesDep) -> Response:
    svc.metrics.queue_depth.set(svc.models.queue_depth())
    return Response(svc.metrics.render(), media_type="text/plain; version=0.0.4")
