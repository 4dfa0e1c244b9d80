"""Cache keys: one key per meaning, a new key for anything that changes the answer."""

from __future__ import annotations

import enum
import hashlib
import re

import pytest

from app.cache.keys import KEY_PREFIX, canonical_options, make_cache_key

SHA = hashlib.sha256(b"some video bytes").hexdigest()
BASE = {"fps": 2.0, "max_frames": 256, "mode": "exact", "top_k": 5}


def key(options: dict[str, object] | None = None, *, sha: str = SHA, endpoint: str = "analyze",
        name: str = "videobert-lite0", version: str = "1.0.0") -> str:
    return make_cache_key(sha, endpoint, name, version, BASE if options is None else options)


def test_key_is_an_opaque_hash_under_the_versioned_prefix() -> None:
    k = key()
    assert KEY_PREFIX == "vbs:v1:"
    assert re.fullmatch(r"vbs:v1:[0-9a-f]{64}", k)
    assert SHA not in k and "videobert" not in k


def test_key_is_stable_across_releases() -> None:
    # If this changes, old entries hold another shape: bump SCHEMA_VERSION instead.
    assert key() == make_cache_key(SHA, "analyze", "videobert-lite0", "1.0.0",
                                   {"top_k": 5, "mode": "exact", "max_frames": 256, "fps": 2})
    expected = hashlib.sha256(
        ('["' + SHA + '","analyze","videobert-lite0","1.0.0",'
         '{"fps":2,"max_frames":256,"mode":"exact","top_k":5}]').encode()).hexdigest()
    assert key() == "vbs:v1:" + expected


def test_option_order_does_not_matter() -> None:
    reordered = dict(reversed(list(BASE.items())))
    assert list(reordered) != list(BASE)
    assert key(reordered) == key()
    assert key({"a": {"x": 1, "y": 2}}) == key({"a": {"y": 2, "x": 1}})


@pytest.mark.parametrize(("a", "b"), [(0.5, 0.50), (2, 2.0), (0.1 + 0.2, 0.3), ((1, 2), [1, 2]),
                                      ({"b", "a"}, ["a", "b"])])
def test_equal_values_spelt_differently_share_a_key(a: object, b: object) -> None:
    assert key({"v": a}) == key({"v": b})


@pytest.mark.parametrize(("a", "b"), [(0.5, 0.51), (True, 1), (None, 0), ("1", 1),
                                      (1e-9, 0), ([1, 2], [2, 1])])
def test_different_values_get_different_keys(a: object, b: object) -> None:
    assert key({"v": a}) != key({"v": b})


def test_every_identity_part_changes_the_key() -> None:
    other_sha = hashlib.sha256(b"other bytes").hexdigest()
    keys = {key(), key(sha=other_sha), key(endpoint="summarize"), key(name="other-model"),
            key(version="1.0.1"), key({**BASE, "fps": 1.0}), key({**BASE, "extra": None})}
    assert len(keys) == 7


def test_parts_cannot_run_into_each_other() -> None:
    assert key(name="ab", version="c") != key(name="a", version="bc")


def test_sha256_case_is_irrelevant() -> None:
    assert key(sha=SHA.upper()) == key()


def test_enum_options_use_their_value() -> None:
    class Mode(enum.Enum):
        EXACT = "exact"

    assert key({**BASE, "mode": Mode.EXACT}) == key()


@pytest.mark.parametrize("bad_sha", ["", "abc", SHA[:-1] + "g", SHA + "0"])
def test_rejects_a_malformed_sha256(bad_sha: str) -> None:
    with pytest.raises(ValueError, match="64 hex"):
        key(sha=bad_sha)


def test_rejects_empty_identity_parts() -> None:
    with pytest.raises(ValueError, match="model_version"):
        key(version="")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_rejects_non_finite_floats(bad: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        key({"v": bad})


def test_rejects_values_without_a_json_meaning() -> None:
    with pytest.raises(TypeError):
        key({"v": object()})
    with pytest.raises(TypeError):
        canonical_options({"v": {1: "x"}})


def test_canonical_options_text() -> None:
    assert canonical_options({"b": 1.0, "a": [0.25, 3.0]}) == '{"a":[0.25,3],"b":1}'
