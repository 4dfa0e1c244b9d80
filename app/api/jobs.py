"""Asynchronous jobs over HTTP: submit a video, poll (or get called back), cancel.

    POST   /v1/jobs?task=classify|summarize[&callback_url=...]  -> 202 {"id", "status_url", ...}
    GET    /v1/jobs?status=...&limit=...&cursor=...             -> 200 a page of jobs, newest first
    GET    /v1/jobs/{id}                                        -> 200 the job (result when done)
    DELETE /v1/jobs/{id}                                        -> 200 the cancelled job
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app.analysis import Task
from app.analysis.schemas import AnalyzeResponse, ClassifyResponse, SummarizeResponse
from app.api.deps import Namespace, ReadsCache, RequestId, ServicesDep
from app.api.schemas import VIDEO_REQUEST_BODY, ErrorBody, RequestOptions, error_responses
from app.api.upload import BodyLimits, receive_upload
from app.errors import InvalidOption
from app.jobs import JobManager, JobRecord
from app.jobs.records import JobStatus
from app.jobs.store import Cursor
from app.library.library import MAX_NAME_CHARS, checked_name

router = APIRouter(tags=["jobs"])
# What a job may compute: the synchronous endpoints' tasks ("index" belongs to the library).
JobTask = Literal["classify", "summarize", "analyze"]


class JobOptions(RequestOptions):
    """The options of classify/summarize, plus what a job needs."""

    task: JobTask | None = Field(
        None, description="Required: what to compute (the synchronous endpoint's name; "
                          "analyze: every feature).")
    callback_url: str | None = Field(
        None, max_length=2048, description="POSTed the finished job (an allowlisted host).")
    index: bool = Field(False, description="Also add the video to your library (as POST "
                                           "/v1/videos); the result then has video_id.")
    name: str | None = Field(None, max_length=MAX_NAME_CHARS,
                             description="With index=true: the video's name in your library.")


class JobCreated(BaseModel):
    id: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    status_url: str


class CallbackState(BaseModel):
    url: str
    status: str = Field(description="pending, delivered, or failed: <why>")


class JobView(BaseModel):
    id: str
    task: Task
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: float = Field(ge=0, le=1)
    attempts: int
    created_at: str
    started_at: str | None
    finished_at: str | None
    result: ClassifyResponse | SummarizeResponse | AnalyzeResponse | None = Field(
        None, description="When succeeded: the body POST /v1/<task> would return (by task).")
    error: ErrorBody | None = None
    callback: CallbackState | None = None


_ERRORS = error_responses({
    400: "Malformed request (no video field, too many form parts)",
    404: "No such job, or its result has expired (job_not_found)",
    409: "The job has already succeeded or failed (job_finished)",
    413: "Upload larger than VIDEOBERT_MAX_UPLOAD_MB (payload_too_large)",
    415: "Not a supported video",
    422: "Invalid option, callback_not_allowed, or a video outside the policy",
    429: "Overloaded or rate limited; see Retry-After",
    503: "Model not ready, or the job queue unavailable (jobs_unavailable)",
})


def _jobs(svc: ServicesDep) -> JobManager:
    return svc.jobs


JobsDep = Annotated[JobManager, Depends(_jobs)]


def _status_url(request: Request, job_id: str) -> str:
    return f"{request.scope.get('root_path', '')}/v1/jobs/{job_id}"


@router.post("/v1/jobs", status_code=202, response_model=JobCreated, responses=_ERRORS,
             openapi_extra=VIDEO_REQUEST_BODY,
             summary="Queue a classify or summarize job; poll status_url for the result")
async def create_job(request: Request, query: Annotated[JobOptions, Query()],
                     svc: ServicesDep, request_id: RequestId, read_cache: ReadsCache,
                     namespace: Namespace) -> JSONResponse:
    """Upload a video like for `/v1/classify` or `/v1/summarize`, plus `task`.

    `curl -F video=@long.mp4 'http://localhost:8000/v1/jobs?task=summarize'`
    """
    jobs = svc.jobs
    svc.analyzer.require_ready()
    jobs.uploads.ensure()
    svc.admission.check()  # busy: refuse before reading a byte
    async with receive_upload(request, upload_dir=jobs.uploads.incoming_dir,
                              limits=BodyLimits.from_settings(svc.settings)) as upload:
        parsed = JobOptions.parse(request.query_params.multi_items(), upload.form)
        assert isinstance(parsed, JobOptions)
        options = parsed
        if options.task is None:
            raise InvalidOption("Say what to compute: task=classify, summarize or analyze.")
        analysis = RequestOptions.model_validate(
            options.model_dump(exclude={"task", "callback_url", "index", "name"}))
        checked_name(options.name, indexing=options.index)
        with svc.admission:  # a slot once the body is in: a slow upload holds none
            record = await jobs.submit(task=options.task, options=analysis, upload=upload,
                                       read_cache=read_cache,
                                       callback_url=options.callback_url,
                                       request_id=request_id,
                                       index_namespace=namespace if options.index else None,
                                       index_name=options.name)
    url = _status_url(request, record.id)
    body = JobCreated(id=record.id, status=record.status.value, status_url=url)
    return JSONResponse(body.model_dump(), status_code=202, headers={"Location": url})


class JobPage(BaseModel):
    jobs: list[JobView] = Field(description="Newest first; without their results (GET "
                                            "/v1/jobs/{id} has it)")
    next_cursor: str | None = Field(description="Pass as cursor= for the next page; null: "
                                                "this was the last")


@router.get("/v1/jobs", response_model=JobPage, responses=_ERRORS,
            summary="List jobs, newest first, by status, a page at a time")
async def list_jobs(jobs: JobsDep,
                    status: Annotated[JobStatus | None, Query(
                        description="only jobs in this state")] = None,
                    limit: Annotated[int, Query(ge=1, le=100)] = 20,
                    cursor: Annotated[str | None, Query(max_length=200)] = None
                    ) -> JSONResponse:
    records = await jobs.recent(status, limit + 1, _parse_cursor(cursor))
    page = records[:limit]
    more = len(records) > limit
    return JSONResponse({
        "jobs": [{**record.public(), "result": None} for record in page],
        "next_cursor": f"{page[-1].created_at!r}_{page[-1].id}" if more and page else None})


def _parse_cursor(cursor: str | None) -> Cursor | None:
    if cursor is None:
        return None
    created, _, job_id = cursor.partition("_")
    try:
        return float(created), job_id
    except ValueError:
        raise InvalidOption("cursor is not one this server gave: pass next_cursor from the "
                            "previous page as it was.") from None


@router.get("/v1/jobs/{job_id}", response_model=JobView, responses=_ERRORS,
            summary="A job's status, progress and timestamps; its result once succeeded")
async def get_job(job_id: str, jobs: JobsDep) -> JSONResponse:
    return _view(await jobs.get(job_id))


@router.delete("/v1/jobs/{job_id}", response_model=JobView, responses=_ERRORS,
               summary="Cancel a queued or running job")
async def cancel_job(job_id: str, jobs: JobsDep) -> JSONResponse:
    return _view(await jobs.cancel(job_id))


def _view(record: JobRecord) -> JSONResponse:
    return JSONResponse(record.public())
