"""What routes take, as FastAPI dependencies: the running services, the request id and whether
the client allows a cached answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.library.ids import DEFAULT_NAMESPACE
from app.service import Services


def get_services(request: Request) -> Services:
    """The parts the lifespan started (set on ``app.state`` before the first request)."""
    services: Services = request.app.state.services
    return services


def get_request_id(request: Request) -> str:
    """The id ``RequestContextMiddleware`` gave this request (echoed as X-Request-ID)."""
    request_id: str = request.scope.get("state", {}).get("request_id", "-")
    return request_id


def reads_cache(request: Request) -> bool:
    """False when the client sent ``Cache-Control: no-cache`` (or ``no-store``): compute anew."""
    value = request.headers.get("cache-control", "").lower()
    return not ("no-cache" in value or "no-store" in value)


def get_namespace(request: Request) -> str:
    """The caller's video library: its API key's, or the one library when keys are off."""
    namespace: str = request.scope.get("state", {}).get("namespace", DEFAULT_NAMESPACE)
    return namespace


ServicesDep = Annotated[Services, Depends(get_services)]
RequestId = Annotated[str, Depends(get_request_id)]
ReadsCache = Annotated[bool, Depends(reads_cache)]
Namespace = Annotated[str, Depends(get_namespace)]
