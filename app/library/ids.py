"""Ids a client sees: derived, never guessable across namespaces."""

from __future__ import annotations

import hashlib
import re

_VIDEO_ID = re.compile(r"^[0-9a-f]{32}$")
DEFAULT_NAMESPACE = "default"


def video_id(namespace: str, sha256: str) -> str:
    """The same bytes in the same namespace always get the same id (indexing is idempotent);
    the same bytes in another namespace get another, unrelated id."""
    return hashlib.blake2b(f"{namespace}\0{sha256}".encode(), digest_size=16).hexdigest()


def is_video_id(value: str) -> bool:
    """Only such strings reach a filter expression of the vector engine."""
    return bool(_VIDEO_ID.match(value))


def namespace_for_key(key: bytes) -> str:
    """An API key's library: a hash, so the key itself is stored nowhere."""
    return "k" + hashlib.sha256(key).hexdigest()[:24]
