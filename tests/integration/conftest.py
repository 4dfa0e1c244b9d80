"""A private redis-server per module (and a fresh one for tests that stop or freeze it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.redis_server import RedisServer


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A server this test alone may stop, restart, freeze and thaw."""
    with RedisServer() as server:
        yield server
