"""Pure ASGI middleware: request ids, access metrics, API keys and per-client rate limits.

Pure ASGI (not BaseHTTPMiddleware) so that request bodies stream through untouched.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.rate_limit import ClientRateLimiter
from app.errors import Overloaded, ServiceUnavailable, Unauthorized, VideoBertError
from app.library.ids import namespace_for_key
from app.metrics import Metrics

log = logging.getLogger(__name__)


# Open without an API key: the probes, the docs and the page (it asks for a key when the API
# answers 401). /metrics is not: with keys configured it
# needs one like the API (Prometheus sends it as a bearer token: README, VIDEOBERT_API_KEYS), as a
# deployment without a proxy would otherwise publish its traffic figures.
OPEN_PATHS = frozenset({"/", "/healthz", "/readyz", "/docs", "/openapi.json", "/redoc",
                        "/docs/oauth2-redirect", "/v2/health/live", "/v2/health/ready"})
OPEN_PREFIXES = ("/docs-assets/", "/static/")  # the pages' scripts and styles


def error_response_bytes(err: VideoBertError) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    body = json.dumps(err.to_dict()).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    if err.retry_after_s is not None:
        headers.append((b"retry-after", str(max(1, round(err.retry_after_s))).encode()))
    return err.status_code, headers, body


async def send_error(send: Send, err: VideoBertError, request_id: str) -> None:
    status, headers, body = error_response_bytes(err)
    headers.append((b"x-request-id", request_id.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/v2/health/live",
                         "/v2/health/ready"})


class OpenRequestLimitMiddleware:
    """Past ``limit`` requests open at once, answer a JSON 503 ``server_busy`` with
    Retry-After (counted in metrics) instead of uvicorn's plain-text 503: probes and metrics
    are always answered, because a liveness probe refused under load gets a healthy pod
    killed. uvicorn's own ``limit_concurrency`` stays as a wider backstop (``app/cli.py``)."""

    def __init__(self, app: ASGIApp, limit: int, retry_after_s: float,
                 metrics: Metrics) -> None:
        self.app = app
        self.limit = limit
        self.retry_after_s = retry_after_s
        self.metrics = metrics
        self.open = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in PROBE_PATHS:
            await self.app(scope, receive, send)
            return
        if self.open >= self.limit:
            self.metrics.rejected.labels("server_busy").inc()
            await send_error(send, ServiceUnavailable(
                f"The server has {self.limit} requests open; retry after the Retry-After "
                "seconds.", code="server_busy", retry_after_s=self.retry_after_s),
                uuid.uuid4().hex[:16])
            return
        self.open += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.open -= 1


class RequestContextMiddleware:
    """Gives each request an id (echoed as X-Request-ID) and records route/status/latency."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode(
            "latin-1")
        request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() \
            else uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status_holder: dict[str, Any] = {"status": 500, "cache": None}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = list(message.get("headers") or [])
                status_holder["cache"] = next((v.decode("latin-1") for k, v in headers
                                               if k.lower() == b"x-cache"), None)
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            route_path = getattr(route, "path", None) or "unmatched"
            status = str(status_holder["status"])
            elapsed = time.perf_counter() - started
            self.metrics.requests.labels(route_path, scope["method"], status).inc()
            self.metrics.request_latency.labels(route_path, scope["method"], status).observe(
                elapsed)
            cache = status_holder["cache"]
            log.info("%s %s -> %s in %.1f ms%s [%s]", scope["method"], scope["path"], status,
                     elapsed * 1000, f" (cache {cache})" if cache else "", request_id,
                     extra={"request_id": request_id, "method": scope["method"],
                            "path": scope["path"], "route": route_path,
                            "status": int(status), "ms": round(elapsed * 1000, 1),
                            "cache": cache})


class AuthAndRateLimitMiddleware:
    """Optional API keys (constant-time compare) and a sliding-window limit per client."""

    def __init__(self, app: ASGIApp, *, api_keys: list[str], rate_limit_per_min: int,
                 metrics: Metrics, redis_url: str | None = None) -> None:
        self.app = app
        self.api_keys = [k.encode() for k in api_keys if k]
        self.rate_limit = rate_limit_per_min
        self.metrics = metrics
        self._limiter = (ClientRateLimiter(rate_limit_per_min, redis_url)
                         if rate_limit_per_min > 0 else None)

    def _authorised_key(self, headers: dict[bytes, bytes]) -> bytes | None:
        presented = headers.get(b"x-api-key", b"")
        auth = headers.get(b"authorization", b"")
        if not presented and auth.lower().startswith(b"bearer "):
            presented = auth[7:].strip()
        if not presented:
            return None
        matched = None
        for key in self.api_keys:  # compare with every key so timing reveals nothing
            if hmac.compare_digest(key, presented):
                matched = key
        return matched

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or scope["path"].startswith(
                OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        request_id = scope.get("state", {}).get("request_id", "-")
        headers = dict(scope.get("headers") or [])
        client_id = ""
        if self.api_keys:
            key = self._authorised_key(headers)
            if key is None:
                self.metrics.rejected.labels("unauthorized").inc()
                await send_error(send, Unauthorized(
                    "Missing or wrong API key. Send it as 'X-API-Key: <key>' or "
                    "'Authorization: Bearer <key>'."), request_id)
                return
            client_id = "key:" + key[:6].decode("latin-1")
            # Each key has its own video library (read by deps.get_namespace).
            scope.setdefault("state", {})["namespace"] = namespace_for_key(key)
        if self._limiter is not None:
            client = scope.get("client")
            client_id = client_id or f"ip:{client[0] if client else 'unknown'}"
            allowed, wait_s = await self._limiter.allow(client_id)
            if not allowed:
                self.metrics.rejected.labels("rate_limited").inc()
                await send_error(send, Overloaded(
                    f"Rate limit of {self.rate_limit} requests a minute exceeded. Retry after "
                    "the Retry-After delay.", code="rate_limited", retry_after_s=wait_s),
                    request_id)
                return
        await self.app(scope, receive, send)
