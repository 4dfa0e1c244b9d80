"""The test helper that runs a private redis-server."""

from __future__ import annotations

import pytest

from tests.redis_server import RedisServer, ping


def test_missing_binary_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_SERVER_BIN", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(RuntimeError, match="scripts/ensure-test-servers.sh"):
        RedisServer()


def test_restart_freeze_and_thaw(own_redis: RedisServer) -> None:
    assert own_redis.port != 6379
    assert own_redis.url == f"redis://127.0.0.1:{own_redis.port}/0"
    first_pid = own_redis.pid
    own_redis.freeze()
    assert not ping(own_redis.port, timeout_s=0.2)
    own_redis.thaw()
    assert ping(own_redis.port)
    own_redis.stop()
    assert not ping(own_redis.port)
    own_redis.start()
    assert ping(own_redis.port) and own_redis.pid != first_pid
