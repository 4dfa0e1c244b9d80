"""Cache keys: one opaque, versioned name per (video bytes, endpoint, model, options).

The key is itself a sha256, so nothing that can list or guess keys learns which videos were seen,
and bumping ``SCHEMA_VERSION`` (whenever the shape of a cached response changes) makes every old
entry unreachable instead of serving it with the wrong shape.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

SCHEMA_VERSION = 1
KEY_PREFIX = f"vbs:v{SCHEMA_VERSION}:"

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# 15 significant digits survive any decimal -> float -> decimal trip, so 0.1 + 0.2 and 0.3 (or
# 2 and 2.0) name the same answer while genuinely different settings stay apart.
_FLOAT_DIGITS = 15


def canonical_value(value: Any) -> Any:
    """Rewrite ``value`` into plain JSON types with one spelling per meaning.

    Integral floats become ints, other floats are rounded to 15 significant digits, tuples and
    lists become lists, sets become sorted lists, enums their value, mapping keys must be strings.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, enum.Enum):
        return canonical_value(value.value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cache key options must be finite numbers, got {value!r}")
        if value.is_integer():
            return int(value)
        return float(f"{value:.{_FLOAT_DIGITS}g}")
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"cache key option names must be strings, got {k!r}")
            out[k] = canonical_value(v)
        return out
    if isinstance(value, set | frozenset):
        items = [canonical_value(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return [canonical_value(v) for v in value]
    raise TypeError(f"cache key options must be JSON-like values, got {type(value).__name__}")


def canonical_options(options: Mapping[str, Any]) -> str:
    """The one JSON text for ``options``: canonical values, sorted keys, no whitespace."""
    return json.dumps(canonical_value(options), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True, allow_nan=False)


def make_cache_key(content_sha256: str, endpoint: str, model_name: str, model_version: str,
                   options: Mapping[str, Any]) -> str:
    """``vbs:v1:<sha256 hex>`` naming the answer for these bytes, endpoint, model and options.

    ``options`` must hold every request option that changes the answer (and nothing that does
    not, such as a request id, or identical requests would miss).
    """
    digest = content_sha256.lower()
    if not _SHA256_HEX.fullmatch(digest):
        raise ValueError("content_sha256 must be 64 hex digits")
    for name, part in (("endpoint", endpoint), ("model_name", model_name),
                       ("model_version", model_version)):
        if not part:
            raise ValueError(f"{name} must not be empty")
    # A JSON array keeps the parts apart: no choice of names can make two tuples collide.
    material = json.dumps([digest, endpoint, model_name, model_version, canonical_value(options)],
                          sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                          allow_nan=False)
    return KEY_PREFIX + hashlib.sha256(material.encode("ascii")).hexdigest()
