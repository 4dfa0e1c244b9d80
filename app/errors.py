"""The domain error family.

Domain code (video/, model/, inference/, cache) raises these; the API layer renders every one of
them the same way: ``{"error": {"code": ..., "message": ...}}`` with the error's HTTP status.
The ``code`` strings are a public, stable contract (documented in the README): never rename one.

They carry only plain attributes so that they pickle across the decode worker processes.
"""

from __future__ import annotations


class VideoBertError(Exception):
    """Base class: a request that cannot be served, with a stable code and a fix-it message."""

    status_code: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status_code: int | None = None,
                 retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.retry_after_s = retry_after_s

    def __reduce__(self) -> tuple[object, ...]:
        # Rebuild with the same class, code and status on the other side of a process boundary.
        return (_rebuild, (type(self), self.message, self.code, self.status_code,
                           self.retry_after_s))

    def to_dict(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}


def _rebuild(cls: type[VideoBertError], message: str, code: str, status_code: int,
             retry_after_s: float | None) -> VideoBertError:
    err = cls.__new__(cls)
    VideoBertError.__init__(err, message, code=code, status_code=status_code,
                            retry_after_s=retry_after_s)
    return err


class BadRequest(VideoBertError):
    """The request itself is malformed (missing video, bad option)."""

    status_code = 400
    code = "bad_request"


class InvalidOption(VideoBertError):
    status_code = 422
    code = "invalid_option"


class Unauthorized(VideoBertError):
    status_code = 401
    code = "unauthorized"


class PayloadTooLarge(VideoBertError):
    status_code = 413
    code = "payload_too_large"


class RequestBodyTimeout(VideoBertError):
    status_code = 408
    code = "body_timeout"


class UnsupportedMedia(VideoBertError):
    """Not a video we accept: unknown container, codec, or no video stream.

    codes: unsupported_container, unsupported_codec, no_video_stream
    """

    status_code = 415
    code = "unsupported_container"


class VideoRejected(VideoBertError):
    """A real video, but outside the policy or undecodable.

    codes: video_too_long, resolution_too_large, video_too_large, no_decodable_frames,
    decode_timeout, too_many_streams, decode_failed
    """

    status_code = 422
    code = "video_rejected"


class ModelNotFound(VideoBertError):
    status_code = 404
    code = "model_not_found"


class NotFound(VideoBertError):
    status_code = 404
    code = "not_found"


class LabelSetNotFound(VideoBertError):
    status_code = 404
    code = "label_set_not_found"


class ModelStoreError(VideoBertError):
    """A model in the store is broken (missing file, sha256 mismatch). Operator error."""

    status_code = 500
    code = "model_store_error"


class Overloaded(VideoBertError):
    """The queue is full or admission refused: retry later (Retry-After is set)."""

    status_code = 429
    code = "overloaded"


class ServiceUnavailable(VideoBertError):
    status_code = 503
    code = "unavailable"


class DeadlineExceeded(VideoBertError):
    status_code = 504
    code = "deadline_exceeded"


class InferenceFailed(VideoBertError):
    """The model raised on this request's batch. The service stays up; retrying may work."""

    status_code = 503
    code = "inference_failed"


class JobNotFound(VideoBertError):
    status_code = 404
    code = "job_not_found"


class JobConflict(VideoBertError):
    """The job is already finished, so it cannot be cancelled."""

    status_code = 409
    code = "job_finished"
