"""The service's errors as one exception carrying its stable code."""

from __future__ import annotations

from typing import Any


class VideoBertError(Exception):
    """An error answer: ``code`` is the service's stable code (README, Errors), ``status``
    the HTTP status, ``retry_after_s`` the server's advice when it gave one."""

    def __init__(self, status: int, code: str, message: str,
                 retry_after_s: float | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after_s = retry_after_s

    @classmethod
    def from_response(cls, status: int, body: Any, retry_after: str | None) -> VideoBertError:
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            code, message = str(error.get("code", "unknown")), str(error.get("message", ""))
        else:
            code, message = "http_error", str(body)[:500]
        return cls(status, code, message, _seconds(retry_after))


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
