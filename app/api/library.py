"""HTTP for the video library: thin adapters over ``app.library.Library``.

POST /v1/videos (index), GET /v1/videos (list), GET|DELETE /v1/videos/{id},
GET /v1/videos/{id}/similar, POST /v1/search (words as JSON, or a video example as multipart).
Every call sees only the caller's namespace (its API key's library).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.analysis.options import RequestOptions, validation_problems
from app.api.deps import Namespace, ReadsCache, RequestId, ServicesDep
from app.api.schemas import VIDEO_REQUEST_BODY, error_responses
from app.api.upload import BodyLimits, read_small_body, receive_upload
from app.errors import BadRequest, InvalidOption, UnsupportedMedia
from app.library import SearchQuery
from app.library.library import (
    MAX_QUERY_CHARS,
    MAX_TOP_K,
    SEARCH_IN_DEFAULT,
    SearchIn,
    checked_name,
)
from app.settings import Settings

router = APIRouter(tags=["library"])
MAX_JSON_BYTES = 64 * 1024

_ERRORS = error_responses({
    400: "Malformed request, or a page_token this server did not issue for this query "
         "(invalid_page_token)",
    401: "API key required (when the server has keys configured)",
    404: "No such video in your library (video_not_found), or no such shot (shot_not_found)",
    413: "Upload or JSON body too large",
    415: "The example is not a supported video (or image: unsupported_image)",
    422: "Invalid option or query (invalid_option)",
    503: "Model not ready, or the vector index unavailable (index_unavailable)",
})


def _pictures_and_speech() -> list[SearchIn]:
    return list(SEARCH_IN_DEFAULT)


class SearchRequest(BaseModel):
    """POST /v1/search as JSON: ``query`` (words) or ``video_id`` + ``shot_index``."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    query: str | None = Field(None, max_length=MAX_QUERY_CHARS,
                              description="Words: what the shots show.")
    video_id: str | None = Field(None, description="More like this shot (with shot_index).")
    shot_index: int | None = Field(None, ge=0)
    top_k: int = Field(10, ge=1, le=MAX_TOP_K)
    page_token: str | None = Field(None, max_length=512)
    video_ids: list[str] | None = Field(None, max_length=1000,
                                        description="Search only these videos.")
    min_score: float = Field(0.0, ge=0, le=1)
    search_in: list[SearchIn] = Field(
        default_factory=_pictures_and_speech, description="What to search: the pictures "
        "(visual) and what is said (speech: the file's subtitle cues). Examples and shots "
        "search pictures only.")
    model: str | None = None
    thumbnails: bool = Field(False, description="A small JPEG of each hit's keyframe.")

    def to_query(self) -> SearchQuery:
        if (self.video_id is None) != (self.shot_index is None):
            raise InvalidOption("Send video_id and shot_index together (more like this shot).")
        return SearchQuery(
            text=self.query, shot=(self.video_id, self.shot_index)
            if self.video_id is not None and self.shot_index is not None else None,
            top_k=self.top_k, page_token=self.page_token,
            video_ids=tuple(self.video_ids) if self.video_ids is not None else None,
            min_score=self.min_score, search_in=tuple(self.search_in), model=self.model,
            thumbnails=self.thumbnails)


def _parse_search(raw: dict[str, Any]) -> SearchRequest:
    try:
        return SearchRequest.model_validate(raw)
    except ValidationError as exc:
        raise InvalidOption(f"Invalid search: {validation_problems(exc, 'body')}.") from None


@router.post("/v1/videos", status_code=201, responses=_ERRORS, openapi_extra=VIDEO_REQUEST_BODY,
             summary="Analyse a video and add it to your library")
async def add_video(request: Request, svc: ServicesDep, namespace: Namespace,
                    request_id: RequestId, read_cache: ReadsCache) -> JSONResponse:
    """The id comes from the bytes and your namespace: the same video again answers 200 with
    the stored entry (``Cache-Control: no-cache`` analyses it anew). Options as for
    /v1/analyze; ``name`` labels the video in listings."""
    svc.analyzer.require_ready()
    svc.admission.check()
    async with receive_upload(request, upload_dir=svc.settings.upload_dir,
                              limits=BodyLimits.from_settings(svc.settings)) as upload:
        pairs = [*request.query_params.multi_items(), *upload.form]
        name = next((v for k, v in reversed(pairs) if k == "name"), None)
        checked_name(name)
        options = RequestOptions.parse([(k, v) for k, v in pairs if k != "name"])
        with svc.admission:
            added = await svc.library.add(namespace, upload, options.to_pipeline(),
                                          request_id=request_id, filename=name,
                                          timeout_s=svc.settings.request_timeout_s,
                                          read_cache=read_cache)
    record = added.record
    body = {"video_id": added.video_id, "status": added.status,
            "already_indexed": added.already_indexed,
            "shots": len(record.get("shots", [])), "model": record.get("model")}
    return JSONResponse(body, status_code=200 if added.already_indexed else 201)


@router.get("/v1/videos", responses=_ERRORS, summary="Your library, newest first")
async def list_videos(svc: ServicesDep, namespace: Namespace,
                      limit: Annotated[int, Query(ge=1, le=MAX_TOP_K)] = 20,
                      page_token: Annotated[str | None, Query(max_length=512)] = None
                      ) -> dict[str, Any]:
    videos, total, token = await svc.library.list_videos(namespace, limit, page_token)
    return {"videos": videos, "page_info": {"total": total, "next_page_token": token}}


@router.get("/v1/videos/{video_id}", responses=_ERRORS,
            summary="One video: metadata, shots with labels, keyframes, highlights")
async def get_video(video_id: str, svc: ServicesDep, namespace: Namespace) -> dict[str, Any]:
    return await svc.library.get(namespace, video_id)


@router.delete("/v1/videos/{video_id}", responses=_ERRORS,
               summary="Remove a video and every vector of it")
async def delete_video(video_id: str, svc: ServicesDep, namespace: Namespace
                       ) -> dict[str, Any]:
    await svc.library.delete(namespace, video_id)
    return {"video_id": video_id, "deleted": True}


@router.get("/v1/videos/{video_id}/similar", responses=_ERRORS,
            summary="Near-duplicates: the same footage re-encoded, cropped or trimmed")
async def similar_videos(video_id: str, svc: ServicesDep, namespace: Namespace,
                         limit: Annotated[int, Query(ge=1, le=MAX_TOP_K)] = 10,
                         min_score: Annotated[float, Query(ge=0, le=1)] = 0.5
                         ) -> dict[str, Any]:
    similar = await svc.library.similar(namespace, video_id, limit=limit, min_score=min_score)
    return {"video_id": video_id, "similar": similar}


@router.post("/v1/search", responses=_ERRORS, summary="Find shots by words or by example",
             openapi_extra={"requestBody": {"content": {
                 "application/json": {"schema": SearchRequest.model_json_schema()},
                 "multipart/form-data": {"schema": {"type": "object", "properties": {
                     "video": {"type": "string", "format": "binary"},
                     "image": {"type": "string", "format": "binary"}}}}}}})
async def search(request: Request, svc: ServicesDep, namespace: Namespace,
                 request_id: RequestId) -> dict[str, Any]:
    """Words: ``{"query": "a person on a bicycle"}``. More like a shot: ``{"video_id": ...,
    "shot_index": 2}``. By example: a multipart ``video`` or ``image`` (PNG, JPEG, WebP) file,
    with the other fields as form fields. Hits are shots, best first, with a 0..1 score."""
    svc.analyzer.require_ready()
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    timeout_s = svc.settings.request_timeout_s
    if media == "application/json":
        req = _parse_search(await _json_body(request, svc.settings))
        page = await svc.library.search(namespace, req.to_query(), request_id=request_id,
                                        timeout_s=timeout_s)
    elif media == "multipart/form-data":
        svc.admission.check()
        async with receive_upload(request, upload_dir=svc.settings.upload_dir,
                                  limits=BodyLimits.from_settings(svc.settings),
                                  file_fields=("video", "image")) as upload:
            fields: dict[str, Any] = dict(upload.form)
            if "video_ids" in fields:
                fields["video_ids"] = _json_list(fields["video_ids"])
            if "search_in" in fields:
                fields["search_in"] = [p for p in fields["search_in"].split(",") if p]
            req = _parse_search(fields)
            if req.query is not None or req.video_id is not None:
                raise InvalidOption("A search by example takes the video alone: send the "
                                    "words or the shot as JSON instead.")
            with svc.admission:
                query = SearchQuery(example=upload, example_is_image=upload.field_name == "image",
                                    top_k=req.top_k, page_token=req.page_token,
                                    video_ids=tuple(req.video_ids) if req.video_ids is not None
                                    else None, min_score=req.min_score,
                                    search_in=tuple(req.search_in), model=req.model,
                                    thumbnails=req.thumbnails)
                page = await svc.library.search(namespace, query, request_id=request_id,
                                                timeout_s=timeout_s)
    else:
        raise UnsupportedMedia("Send the search as application/json, or an example video as "
                               f"multipart/form-data (got {media or 'no Content-Type'!r}).",
                               code="unsupported_content_type")
    return {"hits": page.hits, "model": page.model,
            "page_info": {"total": page.total, "next_page_token": page.next_page_token}}


async def _json_body(request: Request, settings: Settings) -> dict[str, Any]:
    # Read under the upload's deadline and pace: an unfinished JSON body once held its open
    # request for ever.
    limits = dataclasses.replace(BodyLimits.from_settings(settings), max_bytes=MAX_JSON_BYTES)
    raw = await read_small_body(request, limits, "A search body")
    try:
        parsed = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The body is not valid JSON.", code="invalid_json") from None
    if not isinstance(parsed, dict):
        raise InvalidOption("The search body must be a JSON object.")
    return parsed


def _json_list(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return [v for v in value.split(",") if v]
