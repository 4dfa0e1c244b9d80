"""``Client`` and ``AsyncClient``: one method per endpoint, the answers as the service's JSON.

Uploads are streamed from disk (httpx reads a file object in chunks). A refused request is
retried, after the server's Retry-After or a capped exponential backoff with jitter, only when
retrying cannot run work twice: 429 and 503 (the server refused before doing anything) and 408,
and for the analysis endpoints (whose answers are cached by content hash) also a dropped
connection. Every other error is raised as ``VideoBertError`` with the service's code.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

from videobert_client.errors import VideoBertError
from videobert_client.models import ClassifyResult, Job, SummarizeResult

PathLike = str | os.PathLike[str]
RETRY_STATUSES = frozenset({408, 429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # in all, the first one included
    base_s: float = 0.25
    max_s: float = 10.0

    def delay(self, attempt: int, retry_after_s: float | None) -> float:
        if retry_after_s is not None:
            return min(self.max_s, retry_after_s) + random.uniform(0, self.base_s)
        return random.uniform(0, min(self.max_s, self.base_s * 2 ** attempt))  # full jitter


def _params(options: Mapping[str, Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in options.items():
        if value is None:
            continue
        values = value if isinstance(value, list | tuple) else [value]
        for v in values:
            pairs.append((key, str(v).lower() if isinstance(v, bool) else str(v)))
    return pairs


@contextmanager
def _opened(video: PathLike | IO[bytes]) -> Iterator[IO[bytes]]:
    if isinstance(video, str | os.PathLike):
        with Path(video).open("rb") as fh:
            yield fh
    else:
        yield video


def _answer(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            body = response.text
        raise VideoBertError.from_response(response.status_code, body,
                                           response.headers.get("retry-after"))
    if response.headers.get("content-type", "").startswith("application/json"):
        return response.json()
    return response.content


class _Base:
    def __init__(self, base_url: str, api_key: str | None, retry: RetryPolicy | None) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"X-API-Key": api_key} if api_key else {}
        self.retry = retry or RetryPolicy()
        self.retries = 0  # how many times a request was sent again (for the curious, and tests)

    def _retryable(self, exc: BaseException, attempt: int, replay_safe: bool) -> float | None:
        """Seconds to wait before sending again, or None to give up."""
        if attempt + 1 >= self.retry.attempts:
            return None
        if isinstance(exc, VideoBertError) and exc.status in RETRY_STATUSES:
            return self.retry.delay(attempt, exc.retry_after_s)
        if replay_safe and isinstance(exc, httpx.TransportError):
            return self.retry.delay(attempt, None)
        return None


class Client(_Base):
    """Synchronous client. ``timeout`` bounds each request (an analysis may take a while)."""

    def __init__(self, base_url: str = "http://localhost:8000", *, api_key: str | None = None,
                 timeout: float = 300.0, retry: RetryPolicy | None = None) -> None:
        super().__init__(base_url, api_key, retry)
        self._http = httpx.Client(base_url=self.base_url, headers=self.headers,
                                  timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, *, video: PathLike | IO[bytes] | None = None,
                 field: str = "video", replay_safe: bool = True, **kwargs: Any) -> Any:
        attempt = 0
        while True:
            try:
                if video is None:
                    response = self._http.request(method, path, **kwargs)
                else:
                    with _opened(video) as fh:
                        fh.seek(0)
                        response = self._http.request(
                            method, path, files={field: ("upload", fh)}, **kwargs)
                return _answer(response)
            except (VideoBertError, httpx.TransportError) as exc:
                wait = self._retryable(exc, attempt, replay_safe)
                if wait is None:
                    raise
                self.retries += 1
                attempt += 1
                time.sleep(wait)

    # -- analysis ----------------------------------------------------------------------------
    def classify(self, video: PathLike | IO[bytes], **options: Any) -> ClassifyResult:
        """Labels of the video, its shots (and frames with include_frames=True)."""
        result: ClassifyResult = self._request("POST", "/v1/classify", video=video,
                                               params=_params(options))
        return result

    def summarize(self, video: PathLike | IO[bytes], *, contact_sheet: PathLike | None = None,
                  **options: Any) -> SummarizeResult:
        """Shots, keyframes, highlights; ``contact_sheet=path`` also writes the keyframes as
        one JPEG there (a second request, answered from the cache)."""
        result: SummarizeResult = self._request("POST", "/v1/summarize", video=video,
                                               params=_params(options))
        if contact_sheet is not None:
            jpeg = self._request("POST", "/v1/summarize", video=video,
                                 params=_params({**options, "format": "jpeg"}))
            Path(contact_sheet).write_bytes(jpeg)
        return result

    def analyze(self, video: PathLike | IO[bytes], features: list[str] | None = None,
                **options: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._request(
            "POST", "/v1/analyze", video=video,
            params=_params({**options, "features": ",".join(features) if features else None}))
        return result

    # -- jobs --------------------------------------------------------------------------------
    def submit(self, video: PathLike | IO[bytes], task: str = "summarize",
               **options: Any) -> dict[str, Any]:
        """Queue a job; a dropped connection is not retried (it may have been queued)."""
        result: dict[str, Any] = self._request("POST", "/v1/jobs", video=video,
                                               replay_safe=False,
                                               params=_params({**options, "task": task}))
        return result

    def job(self, job_id: str) -> Job:
        result: Job = self._request("GET", f"/v1/jobs/{job_id}")
        return result

    def cancel(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request("DELETE", f"/v1/jobs/{job_id}")
        return result

    def wait(self, job_id: str, *, progress: bool = False, poll_s: float = 0.5,
             timeout_s: float | None = None) -> Job:
        """Poll until the job ends; ``progress=True`` draws a bar on stderr."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            job = self.job(job_id)
            if progress:
                _draw(job)
            if job["status"] in ("succeeded", "failed", "cancelled"):
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout_s} s")
            time.sleep(poll_s)

    # -- library -----------------------------------------------------------------------------
    def add_video(self, video: PathLike | IO[bytes], name: str | None = None,
                  **options: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._request("POST", "/v1/videos", video=video,
                                               params=_params({**options, "name": name}))
        return result

    def videos(self, limit: int = 20, page_token: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._request(
            "GET", "/v1/videos", params=_params({"limit": limit, "page_token": page_token}))
        return result

    def video(self, video_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", f"/v1/videos/{video_id}")
        return result

    def delete_video(self, video_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request("DELETE", f"/v1/videos/{video_id}")
        return result

    def search(self, query: str | None = None, *, example: PathLike | IO[bytes] | None = None,
               image: PathLike | IO[bytes] | None = None, **options: Any) -> dict[str, Any]:
        """Shots by words (``query``), by an ``example`` video or ``image``, or like a stored
        shot (``video_id=..., shot_index=...``)."""
        result: dict[str, Any] = self._request(
            "POST", "/v1/search", **_search_request(query, example, image, options))
        return result


def _search_request(query: str | None, example: PathLike | IO[bytes] | None,
                    image: PathLike | IO[bytes] | None, options: Mapping[str, Any]
                    ) -> dict[str, Any]:
    """What ``_request`` sends for a search: an example as a multipart file with the options
    as form fields, or else the query and options as JSON."""
    if example is not None or image is not None:
        return {"video": example if example is not None else image,
                "field": "video" if example is not None else "image",
                "data": {k: ",".join(v) if k == "search_in" else str(v)
                         for k, v in options.items()}}
    return {"json": {k: v for k, v in {"query": query, **options}.items() if v is not None}}


def _draw(job: Mapping[str, Any]) -> None:
    width = 30
    done = int(float(job.get("progress") or 0.0) * width)
    end = "\n" if job["status"] in ("succeeded", "failed", "cancelled") else ""
    sys.stderr.write(f"\r[{'#' * done}{'.' * (width - done)}] {job['status']:<9}{end}")
    sys.stderr.flush()


class AsyncClient(_Base):
    """The same methods as ``Client`` for asyncio (``wait`` draws no progress bar)."""

    def __init__(self, base_url: str = "http://localhost:8000", *, api_key: str | None = None,
                 timeout: float = 300.0, retry: RetryPolicy | None = None) -> None:
        super().__init__(base_url, api_key, retry)
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=self.headers,
                                       timeout=timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _request(self, method: str, path: str, *,
                       video: PathLike | IO[bytes] | None = None, field: str = "video",
                       replay_safe: bool = True, **kwargs: Any) -> Any:
        attempt = 0
        while True:
            try:
                if video is None:
                    response = await self._http.request(method, path, **kwargs)
                else:
                    with _opened(video) as fh:
                        fh.seek(0)
                        response = await self._http.request(
                            method, path, files={field: ("upload", fh)}, **kwargs)
                return _answer(response)
            except (VideoBertError, httpx.TransportError) as exc:
                wait = self._retryable(exc, attempt, replay_safe)
                if wait is None:
                    raise
                self.retries += 1
                attempt += 1
                await asyncio.sleep(wait)

    async def classify(self, video: PathLike | IO[bytes], **options: Any) -> ClassifyResult:
        result: ClassifyResult = await self._request("POST", "/v1/classify", video=video,
                                                     params=_params(options))
        return result

    async def summarize(self, video: PathLike | IO[bytes], **options: Any) -> SummarizeResult:
        result: SummarizeResult = await self._request("POST", "/v1/summarize", video=video,
                                                     params=_params(options))
        return result

    async def analyze(self, video: PathLike | IO[bytes], features: list[str] | None = None,
                      **options: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._request(
            "POST", "/v1/analyze", video=video,
            params=_params({**options, "features": ",".join(features) if features else None}))
        return result

    async def submit(self, video: PathLike | IO[bytes], task: str = "summarize",
                     **options: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._request(
            "POST", "/v1/jobs", video=video, replay_safe=False,
            params=_params({**options, "task": task}))
        return result

    async def wait(self, job_id: str, *, poll_s: float = 0.5) -> Job:
        while True:
            job: Job = await self._request("GET", f"/v1/jobs/{job_id}")
            if job["status"] in ("succeeded", "failed", "cancelled"):
                return job
            await asyncio.sleep(poll_s)

    async def job(self, job_id: str) -> Job:
        result: Job = await self._request("GET", f"/v1/jobs/{job_id}")
        return result

    async def cancel(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._request("DELETE", f"/v1/jobs/{job_id}")
        return result

    async def add_video(self, video: PathLike | IO[bytes], name: str | None = None,
                        **options: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._request(
            "POST", "/v1/videos", video=video, params=_params({**options, "name": name}))
        return result

    async def videos(self, limit: int = 20, page_token: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = await self._request(
            "GET", "/v1/videos", params=_params({"limit": limit, "page_token": page_token}))
        return result

    async def video(self, video_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._request("GET", f"/v1/videos/{video_id}")
        return result

    async def delete_video(self, video_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._request("DELETE", f"/v1/videos/{video_id}")
        return result

    async def search(self, query: str | None = None, *,
                     example: PathLike | IO[bytes] | None = None,
                     image: PathLike | IO[bytes] | None = None, **options: Any
                     ) -> dict[str, Any]:
        """As ``Client.search``."""
        result: dict[str, Any] = await self._request(
            "POST", "/v1/search", **_search_request(query, example, image, options))
        return result
