"""Cached values on the wire: compact JSON, zlib-compressed when that pays.

One tag byte says which: ``J`` plain JSON, ``Z`` zlib-compressed JSON. Unknown tags and broken
payloads decode to ``None`` (a miss), so a format change or a bad entry costs one recomputation.
"""

from __future__ import annotations

import json
import logging
import zlib
from typing import Any

log = logging.getLogger(__name__)

COMPRESS_MIN_BYTES = 1024
# Level 1 shrank 52 KB of per-frame label JSON 8.8x in 0.3 ms; level 6 gained another 15% for
# three times the CPU, paid on every miss.
_ZLIB_LEVEL = 1
# A cache entry never needs more than this once inflated; a poisoned entry cannot exhaust memory.
MAX_DECODED_BYTES = 64 * 1024 * 1024

_PLAIN = b"J"
_ZLIB = b"Z"


def encode_value(value: dict[str, Any]) -> bytes:
    """Serialise ``value``; raises TypeError/ValueError if it is not JSON-serialisable."""
    raw = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(raw) >= COMPRESS_MIN_BYTES:
        packed = zlib.compress(raw, _ZLIB_LEVEL)
        if len(packed) < len(raw):
            return _ZLIB + packed
    return _PLAIN + raw


def decode_value(data: bytes) -> dict[str, Any] | None:
    """The value ``encode_value`` stored, or None if ``data`` is not one."""
    tag, body = data[:1], data[1:]
    try:
        if tag == _ZLIB:
            inflater = zlib.decompressobj()
            body = inflater.decompress(body, MAX_DECODED_BYTES)
            if inflater.unconsumed_tail or not inflater.eof:
                log.warning("cache entry is truncated or inflates past %d bytes; ignoring it",
                            MAX_DECODED_BYTES)
                return None
        elif tag != _PLAIN:
            log.warning("cache entry has unknown format tag %r; ignoring it", tag)
            return None
        value = json.loads(body)
    except (zlib.error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("cache entry cannot be decoded (%s); ignoring it", exc)
        return None
    if not isinstance(value, dict):
        log.warning("cache entry is a %s, not an object; ignoring it", type(value).__name__)
        return None
    return value
