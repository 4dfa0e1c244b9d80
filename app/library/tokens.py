"""Page tokens: opaque to a client and signed, so none can be forged into another namespace,
another query or an offset of its choosing (a tampered token is a 400)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

from app.errors import BadRequest


class PageTokens:
    def __init__(self, secret: bytes | Callable[[], bytes]) -> None:
        """``secret``, or what gives it on first use (kept in the library's folder, which the
        service only touches once the library is used)."""
        self._secret_source = secret
        self._secret_value: bytes | None = secret if isinstance(secret, bytes) else None

    @property
    def _secret(self) -> bytes:
        if self._secret_value is None:
            source = self._secret_source
            assert callable(source)
            self._secret_value = source()
        return self._secret_value

    def issue(self, scope: str, offset: int) -> str:
        """A token for the page at ``offset`` of the query ``scope`` names (namespace and
        query, hashed by the caller)."""
        payload = base64.urlsafe_b64encode(json.dumps(
            {"s": scope, "o": offset}, separators=(",", ":")).encode()).rstrip(b"=")
        return (payload + b"." + self._sign(payload)).decode("ascii")

    def read(self, token: str, scope: str) -> int:
        """The offset ``token`` stands for; ``BadRequest`` (invalid_page_token) unless this
        server signed it for this very query."""
        try:
            payload, signature = token.encode("ascii").split(b".", 1)
            ok = hmac.compare_digest(signature, self._sign(payload))
            data: Any = json.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
            ok = ok and data.get("s") == scope and isinstance(data.get("o"), int) \
                and data["o"] >= 0
        except (ValueError, UnicodeError, AttributeError):
            ok = False
        if not ok:
            raise BadRequest("page_token is not one this server issued for this query. Send "
                             "the next_page_token of the previous page unchanged, with the "
                             "same query.", code="invalid_page_token")
        return int(data["o"])

    def _sign(self, payload: bytes) -> bytes:
        digest = hmac.new(self._secret, payload, hashlib.sha256).digest()[:18]
        return base64.urlsafe_b64encode(digest)


def query_scope(namespace: str, *parts: object) -> str:
    """What a token is bound to: the namespace and everything that shapes the result list."""
    raw = json.dumps([namespace, *parts], sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]
