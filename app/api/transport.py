"""Bounded request heads: a size limit and a deadline for the request line and headers.

uvicorn's httptools protocol reads a head of any size for as long as the client likes (a single
16 MiB header was answered 200; 20 unfinished 8 MiB heads held 118 MB; a connection idle in the
middle of a header stayed open past 60 s). The app never sees such a request, so the limits
live in the protocol: past ``max_head_bytes`` the client gets a JSON 431 ``head_too_large``,
and a head not complete ``head_timeout_s`` after the connection opened (on a kept-alive
connection: after the head's first byte; between requests uvicorn's keep-alive timeout applies)
gets a JSON 408 ``head_timeout``; either closes the connection. The same JSON error shape as
every other error (``app/errors.py``), so a client needs one parser. Malformed heads get a JSON
400 ``bad_request`` instead of uvicorn's plain text.
"""

from __future__ import annotations

import asyncio
import http
import logging
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.api.middleware import error_response_bytes
from app.errors import VideoBertError

log = logging.getLogger(__name__)


class _HeadRefused(Exception):
    """Raised from a parser callback to stop reading a head that is over the limit."""


def bounded_head_protocol(max_head_bytes: int, head_timeout_s: float
                          ) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol with these limits (pass it as ``uvicorn.run(http=...)``)."""

    class BoundedHeadProtocol(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._head_begun = False
            self._expect_head()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_head_timer()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            # uvicorn's own data_received, but its errors answer in JSON.
            self._unset_keepalive_if_required()
            in_head_before = self._reading_head
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserCallbackError as exc:
                if isinstance(exc.__context__, _HeadRefused):
                    self._refuse_too_large()
                else:
                    self._answer(400, "bad_request", "The HTTP request is malformed.")
                return
            except httptools.HttpParserUpgrade:
                if self._should_upgrade():
                    self.handle_websocket_upgrade()
                else:
                    self._unsupported_upgrade_warning()
                return
            except httptools.HttpParserError:
                self._answer(400, "bad_request", "The HTTP request is malformed.")
                return
            if in_head_before and self._reading_head:
                # A chunk wholly inside an unfinished head: httptools buffers a header until
                # it ends, so this is what bounds a single endless header. (A chunk in which
                # a head begins may also hold the end of the previous body: not counted; the
                # parsed size below still is.)
                self._head_bytes += len(data)
                if self._head_bytes > max_head_bytes:
                    self._refuse_too_large()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._head_begun = True
            self._expect_head()  # its deadline runs from its first byte

        def on_url(self, url: bytes) -> None:
            self._count(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count(len(name) + len(value) + 4)
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._reading_head = False
            self._stop_head_timer()
            super().on_headers_complete()

        # -- the limits ------------------------------------------------------------------
        def _expect_head(self) -> None:
            self._reading_head = True
            self._head_bytes = 0
            self._parsed_head_bytes = 0
            self._stop_head_timer()
            self._head_timer: asyncio.TimerHandle | None = self.loop.call_later(
                head_timeout_s, self._head_timed_out)

        def _stop_head_timer(self) -> None:
            timer = getattr(self, "_head_timer", None)
            if timer is not None:
                timer.cancel()
                self._head_timer = None

        def _count(self, size: int) -> None:
            self._parsed_head_bytes += size
            if self._parsed_head_bytes > max_head_bytes:
                raise _HeadRefused()

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self._reading_head and not self.transport.is_closing():
                if not self._head_begun:
                    self.transport.close()  # a connection that never sent a byte
                    return
                self._answer(408, "head_timeout",
                             f"The request line and headers did not arrive within "
                             f"{head_timeout_s:g} s.")

        def _refuse_too_large(self) -> None:
            log.warning("refused a request head over %d bytes from %s", max_head_bytes,
                        self.client)
            self._answer(431, "head_too_large",
                         f"The request line and headers are larger than this server's limit "
                         f"of {max_head_bytes} bytes. Send long options (labels) as form "
                         "fields in the body instead.")

        def _answer(self, status: int, code: str, message: str) -> None:
            self._reading_head = False
            self._stop_head_timer()
            if self.transport.is_closing():
                return
            # The same body and headers as every other error (middleware.error_response_bytes).
            _, headers, body = error_response_bytes(
                VideoBertError(message, code=code, status_code=status))
            head: list[Any] = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n"
                               .encode()]
            for name, value in [*self.server_state.default_headers, *headers,
                                (b"connection", b"close")]:
                head += [name, b": ", value, b"\r\n"]
            head += [b"\r\n", body]
            self.transport.write(b"".join(head))
            self.transport.close()

    return BoundedHeadProtocol
