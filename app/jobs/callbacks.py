"""Job callbacks: POST the finished job to a URL the client gave, only to hosts the operator allows.

A callback is a request the server makes on a client's behalf, so it is an SSRF channel unless
fenced in:
- the host must match ``callback_hosts`` (an exact name or IP, or ``*.suffix`` for any
  subdomain); with an empty list callbacks are refused at submission;
- a host matched only by a wildcard must resolve to public addresses: a name under an allowed
  suffix that points at loopback, private, link-local or metadata addresses is refused (only
  hosts listed exactly may be internal);
- the connection goes to the address that was checked (no second DNS lookup to rebind), with
  the original name as Host header and TLS server name;
- no redirects, no credentials in the URL, short timeouts, a few retries on 5xx / network errors.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from app.errors import InvalidOption

log = logging.getLogger(__name__)

MAX_URL_CHARS = 2048
RETRY_DELAYS_S = (1.0, 3.0)

Resolver = Callable[[str, int], Awaitable[list[str]]]


class CallbackRefused(Exception):
    """The callback target failed a check at delivery time (e.g. it resolves privately)."""


class CallbackPolicy:
    def __init__(self, hosts: Sequence[str]) -> None:
        self.exact = frozenset(h.strip().lower().rstrip(".") for h in hosts
                               if h.strip() and not h.strip().startswith("*."))
        self.suffixes = tuple("." + h.strip().lower()[2:].rstrip(".") for h in hosts
                              if h.strip().startswith("*."))

    @property
    def is_enabled(self) -> bool:
        return bool(self.exact or self.suffixes)

    def is_exact(self, host: str) -> bool:
        return _normalise_host(host) in self.exact

    def allows(self, host: str) -> bool:
        name = _normalise_host(host)
        return name in self.exact or any(name.endswith(s) for s in self.suffixes)

    def check_url(self, url: str) -> str:
        """The URL if a callback may go there; ``InvalidOption`` (callback_not_allowed) if not."""
        if not self.is_enabled:
            raise _refused("This server sends no callbacks (the operator has not set "
                           "VIDEOBERT_CALLBACK_HOSTS). Poll the job's status_url instead.")
        if len(url) > MAX_URL_CHARS:
            raise _refused(f"callback_url is longer than {MAX_URL_CHARS} characters.")
        try:
            parts = urlsplit(url)
            host = parts.hostname
            parts.port  # noqa: B018  (raises ValueError on a bad port)
        except ValueError:
            raise _refused("callback_url is not a valid URL.") from None
        if parts.scheme not in ("http", "https") or not host:
            raise _refused("callback_url must be an absolute http:// or https:// URL.")
        if parts.username is not None or parts.password is not None:
            raise _refused("callback_url must not contain credentials.")
        if not self.allows(host):
            raise _refused(f"Callbacks to {host!r} are not allowed on this server. Allowed "
                           "hosts are set by the operator in VIDEOBERT_CALLBACK_HOSTS.")
        return url


def _refused(message: str) -> InvalidOption:
    return InvalidOption(message, code="callback_not_allowed")


def _normalise_host(host: str) -> str:
    return host.strip().lower().rstrip(".").strip("[]")


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def pinned_target(url: str, policy: CallbackPolicy,
                        resolver: Resolver = system_resolver) -> tuple[str, str, str]:
    """``(url with the checked address, Host header, TLS server name)`` for ``url``."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not policy.allows(host):
        raise CallbackRefused(f"host {host!r} is not allowed")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = await resolver(host, port)
    if not addresses:
        raise CallbackRefused(f"host {host!r} does not resolve")
    if not policy.is_exact(host):
        inside = [a for a in addresses if not is_public_address(a)]
        if inside:
            raise CallbackRefused(f"host {host!r} resolves to a non-public address ({inside[0]})")
    address = addresses[0]
    netloc_host = f"[{address}]" if ":" in address else address
    netloc = f"{netloc_host}:{parts.port}" if parts.port else netloc_host
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    host_header = parts.netloc.rpartition("@")[2]
    return pinned, host_header, host


def webhook_headers(message_id: str, body: bytes, secret: str | None,
                    now: float | None = None) -> dict[str, str]:
    """Standard Webhooks headers (standardwebhooks.com): ``webhook-id`` (the same on every
    attempt, so a receiver can drop repeats), ``webhook-timestamp`` (seconds; a receiver
    refuses old ones, which stops replays) and, with a secret, ``webhook-signature``:
    ``v1,`` + base64 of HMAC-SHA256 over ``id.timestamp.body``, keyed with the secret's bytes
    (``whsec_`` + base64, the scheme's format)."""
    timestamp = str(int(time.time() if now is None else now))
    headers = {"webhook-id": message_id, "webhook-timestamp": timestamp}
    if secret:
        key = base64.b64decode(secret.removeprefix("whsec_"))
        digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body,
                          hashlib.sha256).digest()
        headers["webhook-signature"] = "v1," + base64.b64encode(digest).decode()
    return headers


async def deliver(url: str, payload: dict[str, Any], policy: CallbackPolicy, *,
                  timeout_s: float, resolver: Resolver = system_resolver,
                  retry_delays_s: Sequence[float] = RETRY_DELAYS_S,
                  message_id: str = "", secret: str | None = None) -> str:
    """POST ``payload`` as JSON, signed with ``secret`` (``webhook_headers``); returns
    ``"delivered"`` or ``"failed: <why>"`` (never raises)."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    message_id = message_id or "msg_" + hashlib.sha256(body).hexdigest()[:24]
    why = "not attempted"
    timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 2.0))
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False,
                                 trust_env=False) as client:
        for attempt in range(len(retry_delays_s) + 1):
            if attempt:
                await asyncio.sleep(retry_delays_s[attempt - 1])
            try:
                pinned, host_header, server_name = await pinned_target(url, policy, resolver)
                response = await client.post(
                    pinned, content=body, extensions={"sni_hostname": server_name},
                    headers={"Host": host_header, "Content-Type": "application/json",
                             "User-Agent": "videobert-serve-callback/1",
                             **webhook_headers(message_id, body, secret)})
            except CallbackRefused as exc:
                log.warning("callback refused: %s", exc)
                return f"failed: {exc}"
            except (httpx.HTTPError, OSError) as exc:
                why = f"{type(exc).__name__}"
                continue
            if 200 <= response.status_code < 300:
                return "delivered"
            why = f"HTTP {response.status_code}"
            if response.status_code < 500 and response.status_code not in (408, 429):
                break  # the receiver said no; asking again will not change its mind
    # The host only: a callback URL's query may carry the client's secret token.
    log.warning("callback to %s failed: %s", urlsplit(url).hostname, why)
    return f"failed: {why}"
