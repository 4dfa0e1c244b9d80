"""create_app(settings) -> FastAPI. The lifespan starts and stops the service's parts."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.docs_pages import mount_offline_docs
from app.api.jobs import router as jobs_router
from app.api.kserve import router as kserve_router
from app.api.library import router as library_router
from app.api.middleware import (
    AuthAndRateLimitMiddleware,
    OpenRequestLimitMiddleware,
    RequestContextMiddleware,
)
from app.api.page import mount_page
from app.api.routes import router
from app.api.upload import ClientGone
from app.errors import InvalidOption, VideoBertError
from app.metrics import Metrics
from app.service import Services
from app.settings import Settings

log = logging.getLogger(__name__)

HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}

DESCRIPTION = """
Post a video, get back what is in it and a summary of it.

* **POST /v1/classify**: ImageNet labels for the whole video, each shot and sampled frames.
* **POST /v1/summarize**: shots, an importance curve, keyframes and highlight segments
  (or a contact-sheet JPEG with `format=jpeg`).

Send the video as a multipart file field `video` or as a raw `video/*` body. Every error is
`{"error": {"code": "...", "message": "..."}}`; the codes are listed in the README.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    # Made before the lifespan: the middleware counts requests from the first one on.
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await Services.start(settings, metrics=metrics)
        app.state.services = services
        if services.jobs.runs_in_api:
            services.jobs.start_runner()  # it waits for the model before taking jobs
        try:
            yield
        finally:
            await services.stop()

    app = FastAPI(title="videobert-serve", version="0.1.0", description=DESCRIPTION,
                  lifespan=lifespan, docs_url=None, redoc_url=None)
    mount_offline_docs(app)
    mount_page(app)
    app.include_router(router)
    app.include_router(jobs_router)
    app.include_router(library_router)
    app.include_router(kserve_router)

    @app.exception_handler(VideoBertError)
    async def domain_error(request: Request, exc: VideoBertError) -> JSONResponse:
        metrics.rejected.labels(exc.code).inc()
        headers = {}
        if exc.retry_after_s is not None:
            headers["Retry-After"] = str(max(1, round(exc.retry_after_s)))
        if exc.status_code >= 500 and exc.code not in ("not_ready", "inference_failed"):
            log.error("request failed: %s: %s", exc.code, exc.message)
        return JSONResponse(exc.to_dict(), status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'][1:]) or 'request'}: "
                             f"{err['msg']}" for err in exc.errors())
        err = InvalidOption(f"Invalid option(s): {problems}. See /docs for allowed values.")
        return await domain_error(request, err)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Routing's own answers (an unknown path, a wrong method) in the documented shape.
        code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        message = {404: f"No such path: {request.url.path}. The API is listed at /docs.",
                   405: f"{request.method} is not allowed on {request.url.path}."}.get(
            exc.status_code, str(exc.detail))
        err = VideoBertError(message, code=code, status_code=exc.status_code)
        response = await domain_error(request, err)
        for name, value in (exc.headers or {}).items():  # Allow, on a 405
            response.headers[name] = value
        return response

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return JSONResponse({"error": {"code": "internal_error", "message": (
            "An unexpected server error. Report it with the X-Request-ID header's value.")}},
            status_code=500)

    @app.exception_handler(ClientGone)
    async def client_gone(request: Request, exc: ClientGone) -> Response:
        # Nobody is listening; 499 (nginx's "client closed request") for the logs only.
        return Response(status_code=499)

    app.add_middleware(AuthAndRateLimitMiddleware, api_keys=settings.api_keys,
                       rate_limit_per_min=settings.rate_limit_per_min, metrics=metrics,
                       redis_url=settings.redis_url)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    app.add_middleware(OpenRequestLimitMiddleware, limit=settings.open_request_limit,
                       retry_after_s=float(settings.retry_after_s), metrics=metrics)
    return app
