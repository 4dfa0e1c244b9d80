"""Stored values: compact JSON, compressed when large, and anything unreadable is a miss."""

from __future__ import annotations

import json
import zlib

import pytest

from app.cache import codec
from app.cache.codec import decode_value, encode_value


def test_small_values_are_plain_compact_json() -> None:
    value = {"labels": [{"name": "cat", "score": 0.5}]}
    data = encode_value(value)
    assert data == b'J{"labels":[{"name":"cat","score":0.5}]}'
    assert decode_value(data) == value


def test_large_values_are_compressed() -> None:
    value = {"curve": [i / 7 for i in range(2000)], "label": "ü"}
    data = encode_value(value)
    plain = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    assert data[:1] == b"Z"
    assert len(data) < len(plain) / 2
    assert decode_value(data) == value


def test_unserialisable_values_raise() -> None:
    with pytest.raises(TypeError):
        encode_value({"v": object()})


@pytest.mark.parametrize("data", [b"", b"X{}", b"J{not json", b"Znot zlib", b"J[1, 2]",
                                  b"J\xff\xfe", b"Z" + zlib.compress(b'{"a": 1')])
def test_unreadable_entries_decode_to_none(data: bytes) -> None:
    assert decode_value(data) is None


def test_an_entry_inflating_past_the_cap_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codec, "MAX_DECODED_BYTES", 1000)
    bomb = b"Z" + zlib.compress(b'{"a":"' + b"x" * 5000 + b'"}')
    assert decode_value(bomb) is None
    monkeypatch.setattr(codec, "MAX_DECODED_BYTES", 10_000)
    assert decode_value(bomb) == {"a": "x" * 5000}
