"""A job's record: what was asked, where it stands, and its result or error.

The record is the one source of truth for a job's state, shared by the API and every worker. It
is stored flat (a Redis hash: one string per field) so that progress and status change with one
small write instead of rewriting the whole record.

    queued -> running -> succeeded | failed
       \\         \\-> queued (a retry after a transient error)
        \\--------\\-> cancelled
"""

from __future__ import annotations

import enum
import json
import re
import time
import uuid
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from app.analysis import Task
from app.errors import JobConflict, VideoBertError

_JOB_ID = re.compile(r"[0-9a-f]{32}")


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


def new_job_id() -> str:
    """122 random bits: a job id is the only thing that lets a client read its result."""
    return uuid.uuid4().hex


def is_job_id(value: str) -> bool:
    return _JOB_ID.fullmatch(value) is not None


def job_finished(job_id: str, status: JobStatus) -> JobConflict:
    return JobConflict(f"Job {job_id} has already {status.value}; only a queued or running "
                       "job can be cancelled.")


def error_dict(exc: BaseException) -> dict[str, str]:
    """The public ``{"code", "message"}`` of a failure; unexpected errors say only their type."""
    if isinstance(exc, VideoBertError):
        return {"code": exc.code, "message": exc.message}
    return {"code": "internal_error",
            "message": f"The job failed with an unexpected error ({type(exc).__name__})."}


@dataclass
class JobRecord:
    id: str
    task: Task
    cache_key: str
    sha256: str
    size_bytes: int
    options: dict[str, Any] = field(default_factory=dict)  # RequestOptions fields, JSON types
    status: JobStatus = JobStatus.QUEUED
    progress: float = 0.0
    attempts: int = 0
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    updated_at: float | None = None
    read_cache: bool = True  # False: the client sent Cache-Control: no-cache
    worker: str = ""
    request_id: str = ""
    result: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    callback_url: str | None = None
    callback: str = ""  # "", "delivered", or "failed: <why>"
    index_namespace: str | None = None  # index=true: the library namespace to add the video to
    index_name: str | None = None  # and its name there

    # -- storage -----------------------------------------------------------------------------
    def to_hash(self) -> dict[str, str]:
        """Every field as a string (the Redis hash); None is the empty string."""
        return {f.name: encode_field(f.name, getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_hash(cls, data: dict[str, str]) -> JobRecord:
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {name: decode_field(name, raw)
                                  for name, raw in data.items() if name in known}
        return cls(**values)

    # -- API view ----------------------------------------------------------------------------
    def public(self) -> dict[str, Any]:
        view: dict[str, Any] = {
            "id": self.id, "task": self.task, "status": self.status.value,
            "progress": round(self.progress, 3), "attempts": self.attempts,
            "created_at": iso_time(self.created_at), "started_at": iso_time(self.started_at),
            "finished_at": iso_time(self.finished_at), "result": self.result,
            "error": self.error,
        }
        if self.callback_url:
            view["callback"] = {"url": self.callback_url, "status": self.callback or "pending"}
        return view


_JSON_FIELDS = frozenset({"options", "result", "error"})
_FLOAT_FIELDS = frozenset({"progress", "created_at", "started_at", "finished_at", "updated_at"})
_INT_FIELDS = frozenset({"size_bytes", "attempts"})


def encode_field(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name in _JSON_FIELDS:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def decode_field(name: str, raw: str) -> Any:
    if name in _JSON_FIELDS:
        return json.loads(raw) if raw else None
    if name in _FLOAT_FIELDS:
        return float(raw) if raw else (0.0 if name in ("progress", "created_at") else None)
    if name in _INT_FIELDS:
        return int(raw or 0)
    if name == "read_cache":
        return raw != "0"
    if name == "status":
        return JobStatus(raw)
    if name in ("callback_url", "index_namespace", "index_name"):
        return raw or None
    return raw


def iso_time(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")
