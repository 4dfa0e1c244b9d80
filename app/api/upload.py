"""Receive an upload: stream it to a server-named temp file while hashing, within limits.

Both a raw ``video/*`` body and a ``multipart/form-data`` body with a file field ``video`` are
streamed straight from the socket (Starlette's own form parser would spool the whole file before
the handler runs, so the size limit could not answer early). The client's filename and
Content-Type never choose anything: the file gets a server-made name and no extension, and the
decoder sniffs the content.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header
from starlette.requests import ClientDisconnect, Request

from app.analysis import StoredVideo
from app.analysis.options import LIST_FIELDS, MAX_LABEL_CHARS, MAX_LABELS
from app.analysis.orphans import owned_temp_file
from app.errors import BadRequest, PayloadTooLarge, RequestBodyTimeout, UnsupportedMedia
from app.settings import Settings

VIDEO_FIELD = "video"
# Options, plus one field per label when labels come as repeated fields.
MAX_FORM_FIELDS = 32 + MAX_LABELS
MAX_FORM_FIELD_BYTES = 4096
# A JSON list of MAX_LABELS labels of MAX_LABEL_CHARS characters, escaped \uXXXX (6 bytes each).
MAX_LIST_FIELD_BYTES = MAX_LABELS * (MAX_LABEL_CHARS * 6 + 4)
MAX_PARTS = MAX_FORM_FIELDS + 1


@dataclass(frozen=True)
class Upload(StoredVideo):
    """The received video, and the form fields that came with it (options)."""

    form: list[tuple[str, str]] = field(default_factory=list)
    field_name: str = VIDEO_FIELD  # which file field it came in (a search takes "image" too)


class ClientGone(Exception):
    """The client disconnected before its upload finished; nobody is left to answer."""


class _Sink:
    """Writes the video bytes to the temp file, hashing them and enforcing the size limit."""

    def __init__(self, fd: int, max_bytes: int) -> None:
        self._file = os.fdopen(fd, "wb", buffering=1024 * 1024)
        self._hash = hashlib.sha256()
        self._max_bytes = max_bytes
        self.size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self._max_bytes:
            raise PayloadTooLarge(_too_large_message(self._max_bytes))
        self._hash.update(data)
        self._file.write(data)

    def close(self) -> str:
        self._file.close()
        return self._hash.hexdigest()


def _too_large_message(max_bytes: int) -> str:
    return (f"The upload is larger than this server's limit of {max_bytes / 2**20:.0f} MiB. "
            "Send a shorter or more compressed video, or ask the operator to raise "
            "VIDEOBERT_MAX_UPLOAD_MB.")


class _MultipartReader:
    """Feeds python-multipart's streaming parser; the ``video`` part goes to the sink."""

    def __init__(self, boundary: bytes, sink: _Sink,
                 file_fields: tuple[str, ...] = (VIDEO_FIELD,)) -> None:
        self.sink = sink
        self.file_fields = file_fields
        self.form: list[tuple[str, str]] = []
        self.saw_video = False
        self.file_field: str | None = None  # the file field that came
        self._parts = 0
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._current: str | None = None  # field name of the current part
        self._is_file = False
        self._value = bytearray()
        self._parser = MultipartParser(boundary, callbacks={
            "on_part_begin": self._part_begin,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_header_field": self._header_field_cb,
            "on_header_value": self._header_value_cb,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
        })

    def feed(self, chunk: bytes) -> None:
        try:
            self._parser.write(chunk)
        except FormParserError as exc:
            raise _malformed(exc) from None

    def finish(self) -> None:
        try:
            self._parser.finalize()
        except FormParserError as exc:
            raise _malformed(exc) from None

    def _part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise BadRequest(f"Too many form parts (limit {MAX_PARTS}). Send one file field "
                             f"'{VIDEO_FIELD}' and options as fields or query parameters.")
        self._headers = {}
        self._current = None
        self._is_file = False
        self._value = bytearray()

    def _header_field_cb(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _header_value_cb(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if len(self._header_value) > 1024:
            raise BadRequest("A multipart header is too long.")
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field = b""
        self._header_value = b""

    def _headers_finished(self) -> None:
        disposition = self._headers.get(b"content-disposition", b"")
        _, params = parse_options_header(disposition)
        name = params.get(b"name", b"").decode("utf-8", "replace")
        self._current = name
        self._is_file = b"filename" in params or name in self.file_fields
        if self._is_file and name in self.file_fields:
            if self.saw_video:
                raise BadRequest(f"Send exactly one file ({' or '.join(self.file_fields)}) "
                                 "per request.")
            self.saw_video = True
            self.file_field = name

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current in self.file_fields and self._is_file:
            self.sink.write(data[start:end])
            return
        if self._is_file:
            raise BadRequest(f"Unexpected file field '{self._current}'. Send the file in the "
                             f"field '{self.file_fields[0]}'.")
        self._value += data[start:end]
        limit = MAX_LIST_FIELD_BYTES if self._current in LIST_FIELDS else MAX_FORM_FIELD_BYTES
        if len(self._value) > limit:
            raise BadRequest(f"Form field '{self._current}' is longer than {limit} bytes.")

    def _part_end(self) -> None:
        if self._current and not self._is_file:
            if len(self.form) >= MAX_FORM_FIELDS:
                raise BadRequest(f"Too many form fields (limit {MAX_FORM_FIELDS}).")
            self.form.append((self._current, self._value.decode("utf-8", "replace")))


def _malformed(exc: FormParserError) -> BadRequest:
    """python-multipart's own parse errors (a broken part, more than its 8 headers a part or
    about 4 KB of them, a bad header character) are the client's: 400, never 500."""
    return BadRequest(f"The multipart body is malformed: {exc}. Send it as curl -F "
                      f"{VIDEO_FIELD}=@clip.mp4 does.")


@dataclass(frozen=True)
class BodyLimits:
    max_bytes: int
    timeout_s: float  # the whole body
    min_bytes_per_s: int = 0  # on average, once grace_s has passed; 0: no minimum
    grace_s: float = 10.0
    idle_s: float = 30.0  # the longest wait for the next chunk, whatever came before

    @classmethod
    def from_settings(cls, settings: Settings) -> BodyLimits:
        return cls(max_bytes=settings.max_upload_bytes, timeout_s=settings.body_timeout_s,
                   min_bytes_per_s=settings.body_min_bytes_per_s, grace_s=settings.body_grace_s,
                   idle_s=settings.body_idle_s)


async def _paced(chunks: AsyncIterator[bytes], limits: BodyLimits) -> AsyncIterator[bytes]:
    """The body's chunks, cut off with 408 ``body_too_slow`` once, after the grace period, the
    average rate falls under the minimum, or once nothing has come for ``idle_s`` (a fast start
    would otherwise buy a long stall): the wait for each chunk ends when it would."""
    started = last = time.monotonic()
    received = 0
    iterator = aiter(chunks)
    while True:
        due = last + limits.idle_s
        if limits.min_bytes_per_s > 0:
            # The rate stays above the minimum until received / min_rate seconds have passed.
            due = min(due, started + max(limits.grace_s, received / limits.min_bytes_per_s))
        try:
            chunk = await asyncio.wait_for(anext(iterator), max(0.0, due - time.monotonic()))
        except StopAsyncIteration:
            return
        except TimeoutError:
            now = time.monotonic()
            why = (f"nothing arrived for {now - last:.0f} s" if now - last >= limits.idle_s
                   else f"it is arriving slower than {limits.min_bytes_per_s} bytes a second")
            raise RequestBodyTimeout(
                f"The upload stalled: {why} (it sent {received} bytes in {now - started:.0f} "
                "s). The connection is cut off so that it holds no capacity. Send it faster.",
                code="body_too_slow") from None
        received += len(chunk)
        last = time.monotonic()
        yield chunk


async def read_small_body(request: Request, limits: BodyLimits, what: str) -> bytes:
    """A small body (a JSON request) in memory, under the same size, deadline and pace rules as
    an upload: a client that never finishes it holds nothing for long."""
    declared = request.headers.get("content-length")
    too_large = PayloadTooLarge(f"{what} is at most {limits.max_bytes} bytes.")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_bytes:
        raise too_large
    raw = bytearray()
    try:
        async with asyncio.timeout(limits.timeout_s):
            async for chunk in _paced(request.stream(), limits):
                raw += chunk
                if len(raw) > limits.max_bytes:
                    raise too_large
    except TimeoutError:
        raise RequestBodyTimeout(f"{what} did not arrive within {limits.timeout_s:.0f} s."
                                 ) from None
    except ClientDisconnect:
        raise ClientGone() from None
    return bytes(raw)

class _BodyReader(Protocol):
    def feed(self, chunk: bytes) -> None: ...

    def finish(self) -> None: ...


class _RawReader:
    """A raw ``video/*`` body: every byte is the video."""

    def __init__(self, sink: _Sink) -> None:
        self.sink = sink

    def feed(self, chunk: bytes) -> None:
        self.sink.write(chunk)

    def finish(self) -> None:
        return None


def _multipart_reader(boundary: bytes, sink: _Sink, file_fields: tuple[str, ...]
                      ) -> _MultipartReader:
    try:
        return _MultipartReader(boundary, sink, file_fields)
    except FormParserError as exc:  # a boundary over 256 characters
        raise _malformed(exc) from None


R = TypeVar("R", bound=_BodyReader)


@contextlib.asynccontextmanager
async def _streamed(request: Request, upload_dir: Path | None, limits: BodyLimits,
                    make_reader: Callable[[_Sink], R], late: str
                    ) -> AsyncIterator[tuple[Path, str, int, R]]:
    """The one way a body reaches disk: a server-named temp file (removed when the block
    exits), hashed while streaming, under the size limit, the whole-body deadline (``late``
    is the 408's message) and the minimum rate. Yields the path, sha256, size and the reader
    that parsed the body."""
    fd, path = owned_temp_file("vbs-upload", upload_dir)  # swept if this process dies
    try:
        sink = _Sink(fd, limits.max_bytes)
        try:
            reader = make_reader(sink)
        except BaseException:
            sink.close()
            raise
        try:
            async with asyncio.timeout(limits.timeout_s):
                async for chunk in _paced(request.stream(), limits):
                    reader.feed(chunk)
            reader.finish()
        except TimeoutError:
            raise RequestBodyTimeout(late) from None
        except ClientDisconnect:
            raise ClientGone() from None
        finally:
            digest = sink.close()
        yield path, digest, sink.size, reader
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _require_bytes(size: int) -> None:
    if size == 0:
        raise UnsupportedMedia("The uploaded video is empty (0 bytes).", code="empty_upload")


@contextlib.asynccontextmanager
async def receive_upload(request: Request, *, upload_dir: Path | None, limits: BodyLimits,
                         file_fields: tuple[str, ...] = (VIDEO_FIELD,)
                         ) -> AsyncIterator[Upload]:
    """Stream the request body to a temp file; the file is removed when the block exits.
    ``file_fields``: the multipart file fields accepted (one of them, once)."""
    max_bytes = limits.max_bytes
    content_type = request.headers.get("content-type", "")
    media_type, params = parse_options_header(content_type)
    media = media_type.decode("latin-1").lower()
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes + 64 * 1024:
        raise PayloadTooLarge(_too_large_message(max_bytes))

    is_multipart = media == "multipart/form-data"
    is_raw = media.startswith("video/") or media == "application/octet-stream"
    if not (is_multipart or is_raw):
        raise UnsupportedMedia(
            "Send the video as a multipart/form-data file field 'video', or as the raw body "
            f"with a video/* Content-Type (got {media or 'no Content-Type'!r}).",
            code="unsupported_content_type")
    boundary = params.get(b"boundary") if is_multipart else None
    if is_multipart and not boundary:
        raise BadRequest("The multipart Content-Type has no boundary parameter.")

    make_reader: Callable[[_Sink], _MultipartReader | _RawReader] = (
        (lambda sink: _multipart_reader(boundary, sink, file_fields)) if boundary
        else _RawReader)
    late = (f"The upload did not arrive within {limits.timeout_s:.0f} s. Send it faster, "
            "or upload long videos through POST /v1/jobs.")
    async with _streamed(request, upload_dir, limits, make_reader, late) as (
            path, digest, size, reader):
        form: list[tuple[str, str]] = []
        field_name = VIDEO_FIELD
        if isinstance(reader, _MultipartReader):
            if not reader.saw_video:
                raise BadRequest(f"No file field '{VIDEO_FIELD}' in the form. Send the video "
                                 f"as -F {VIDEO_FIELD}=@clip.mp4.")
            form, field_name = reader.form, reader.file_field or VIDEO_FIELD
        _require_bytes(size)
        yield Upload(path=path, sha256=digest, size_bytes=size, form=form,
                     field_name=field_name)


# --- the Open Inference Protocol's binary data extension -------------------------------------

MAX_TENSOR_HEADER_BYTES = 64 * 1024


class _TensorReader:
    """A KServe v2 / Triton request with the binary data extension: a JSON header of
    ``header_length`` bytes, then the one BYTES tensor ``video`` of shape [1] (a 4-byte
    little-endian length, then the file), streamed to the sink like any upload."""

    def __init__(self, header_length: int, sink: _Sink) -> None:
        self.header_length = header_length
        self.sink = sink
        self.header: dict[str, object] | None = None
        self._raw = bytearray()
        self._prefix = bytearray()
        self._binary_size = 0
        self._remaining = -1

    def feed(self, chunk: bytes) -> None:
        if self.header is None:
            need = self.header_length - len(self._raw)
            self._raw += chunk[:need]
            chunk = chunk[need:]
            if len(self._raw) < self.header_length:
                return
            self.header, self._binary_size = _tensor_header(bytes(self._raw))
        if len(self._prefix) < 4:
            need = 4 - len(self._prefix)
            self._prefix += chunk[:need]
            chunk = chunk[need:]
            if len(self._prefix) < 4:
                return
            self._remaining = int.from_bytes(self._prefix, "little")
            if self._remaining != self._binary_size - 4:
                raise BadRequest("The 'video' tensor's element length does not match its "
                                 "binary_data_size: send one element (shape [1]).")
        if len(chunk) > self._remaining:
            raise BadRequest("The body holds more bytes than the inputs' binary_data_size.")
        self._remaining -= len(chunk)
        self.sink.write(chunk)

    def finish(self) -> None:
        if self.header is None or self._remaining != 0:
            raise BadRequest("The body ended before the header and binary data it announced.")


def _tensor_header(raw: bytes) -> tuple[dict[str, object], int]:
    """The JSON header, and the binary size of its one input (checked: ``video``, BYTES, [1])."""
    try:
        header = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The inference header is not JSON.") from None
    inputs = header.get("inputs") if isinstance(header, dict) else None
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise BadRequest("Send exactly one input: the BYTES tensor 'video' of shape [1].")
    video = inputs[0]
    params = video.get("parameters") if isinstance(video.get("parameters"), dict) else {}
    size = params.get("binary_data_size") if isinstance(params, dict) else None
    if video.get("name") != VIDEO_FIELD or video.get("datatype") != "BYTES" or \
            video.get("shape") != [1]:
        raise BadRequest("The input must be the BYTES tensor 'video' of shape [1].")
    if not isinstance(size, int) or size < 5:
        raise BadRequest("Send the video with the binary data extension (the input's "
                         "parameters.binary_data_size), as tritonclient does with "
                         "binary_data=True.")
    return header, size


@contextlib.asynccontextmanager
async def receive_tensor_upload(request: Request, *, upload_dir: Path | None,
                                limits: BodyLimits) -> AsyncIterator[tuple[dict[str, object],
                                                                           Upload]]:
    """An inference request's JSON header and its video, streamed to a temp file (removed when
    the block exits) under the same size, time and rate limits as any upload."""
    declared_header = request.headers.get("inference-header-content-length")
    if declared_header is None or not declared_header.isdigit():
        raise BadRequest("Send the video with the binary data extension "
                         "(Inference-Header-Content-Length), as tritonclient does with "
                         "binary_data=True; JSON tensors cannot carry a video file.")
    header_length = int(declared_header)
    if not 0 < header_length <= MAX_TENSOR_HEADER_BYTES:
        raise BadRequest(f"The inference header must be 1..{MAX_TENSOR_HEADER_BYTES} bytes.")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and \
            int(declared) > limits.max_bytes + header_length + 4:
        raise PayloadTooLarge(_too_large_message(limits.max_bytes))
    late = f"The request did not arrive within {limits.timeout_s:.0f} s."
    async with _streamed(request, upload_dir, limits,
                         lambda sink: _TensorReader(header_length, sink), late) as (
            path, digest, size, reader):
        _require_bytes(size)
        assert reader.header is not None
        yield reader.header, Upload(path=path, sha256=digest, size_bytes=size)
