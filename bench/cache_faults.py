"""What a cache read costs once Redis is gone: ``python -m bench.cache_faults``.

    python -m bench.cache_faults [--calls 6] [--default-frozen-timeout-s 70] [--no-docs]

The service promises that Redis trouble never fails or slows a request (docs/cache.md). This
measures it: a private redis-server on a free loopback port (tests/redis_server.py), the
service's own cache built as ``Services.start`` builds it (``app.cache.build_cache`` with the
defaults of ``app.settings.Settings``), one read while Redis is healthy, then Redis is either
killed (SIGKILL: connections reset, new ones refused) or frozen (SIGSTOP: the kernel still
accepts connections but nothing answers, as a hung server or a lost network does), and each of
the first ``--calls`` reads is timed. The same again with a plain
``redis.asyncio.Redis.from_url(url)`` on redis-py's defaults, for comparison: against a frozen
server it may wait for a very long time, so each of its reads is bounded by
``--default-frozen-timeout-s`` (recorded when hit; the reads after it are not run). Each case
gets a fresh server and a fresh client. About two minutes with the defaults, most of it the
bounded wait.

Writes bench/results/cache_faults.json (``--out`` elsewhere) and regenerates docs/cache.md's
table from it (not with ``--out`` or ``--no-docs``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import redis
from redis.asyncio import Redis

from app.cache import ResultCache, build_cache
from app.metrics import Metrics
from app.settings import REPO_ROOT, Settings
from bench import doc_tables
from bench.provenance import provenance
from tests.redis_server import RedisServer

log = logging.getLogger("bench.cache_faults")

RESULT = REPO_ROOT / "bench" / "results" / "cache_faults.json"
SERVICE = "service (`build_cache`, default settings)"
DEFAULTS = "redis-py defaults (`Redis.from_url(url)`)"
STOPPED, FROZEN = "stopped (SIGKILL)", "frozen (SIGSTOP)"
# The service's reads must end within their own deadline (a fraction of a second); this only
# keeps a regression from hanging the script.
SERVICE_BOUND_S = 10.0
KEY = "vbs:v1:cache-faults-probe"  # never written: every read misses the in-process LRU


def service_cache(settings: Settings, metrics: Metrics) -> ResultCache:
    """The cache exactly as ``app.service.Services.start`` builds it."""
    s = settings
    return build_cache(
        s.redis_url, ttl_s=s.cache_ttl_s, max_entries=s.cache_max_entries,
        connect_timeout_ms=s.redis_connect_timeout_ms, timeout_ms=s.redis_timeout_ms,
        breaker_failures=s.redis_breaker_failures,
        breaker_cooldown_s=s.redis_breaker_cooldown_s, lock_s=s.single_flight_lock_s,
        metrics=metrics, wait_s=s.request_timeout_s)


async def timed(read: Callable[[], Awaitable[Any]], bound_s: float) -> dict[str, Any]:
    """One read: its milliseconds, the exception it raised (the service's cache never raises:
    it answers a miss), and whether it was still waiting at ``bound_s``."""
    started = time.perf_counter()
    error, hit_bound = None, False
    try:
        await asyncio.wait_for(read(), bound_s)
    except TimeoutError:
        hit_bound = True
    except (redis.RedisError, OSError) as exc:
        error = type(exc).__name__
    return {"ms": round((time.perf_counter() - started) * 1000, 3), "error": error,
            "hit_bound": hit_bound}


def break_server(server: RedisServer, fault: str) -> None:
    if fault == FROZEN:
        server.freeze()
        return
    os.kill(server.pid, signal.SIGKILL)
    server.stop()  # reaps the killed process


async def run_case(client: str, fault: str, settings: Settings, calls: int,
                   default_bound_s: float) -> dict[str, Any]:
    """One client against one fault, on a fresh redis-server."""
    with RedisServer() as server:
        metrics = Metrics()
        if client == SERVICE:
            cache = service_cache(settings.model_copy(update={"redis_url": server.url}), metrics)
            read: Callable[[], Awaitable[Any]] = lambda: cache.get(KEY)  # noqa: E731
            close: Callable[[], Awaitable[None]] = cache.close
            bound_s = SERVICE_BOUND_S
        else:
            plain = Redis.from_url(server.url)
            read, close, bound_s = (lambda: plain.get(KEY)), plain.aclose, default_bound_s
        await read()  # connects: the timed reads find a pooled connection, as a busy server would
        healthy = await timed(read, bound_s)
        case: dict[str, Any] = {"client": client, "fault": fault, "healthy_ms": healthy["ms"],
                                "calls": [], "breaker_open_after_call": None}
        try:
            break_server(server, fault)
            for index in range(1, calls + 1):
                result = await timed(read, bound_s)
                if client == SERVICE:
                    result["breaker"] = cache.health()["breaker"]
                    if result["breaker"] != "closed" and case["breaker_open_after_call"] is None:
                        case["breaker_open_after_call"] = index
                case["calls"].append(result)
                log.info("%s, %s: call %d took %.2f ms%s", client, fault, index, result["ms"],
                         " (bound)" if result["hit_bound"] else "")
                if result["hit_bound"]:
                    break  # the next read would wait as long again
        finally:
            if fault == FROZEN:
                server.thaw()
            with contextlib.suppress(TimeoutError, redis.RedisError, OSError):
                await asyncio.wait_for(close(), 5)
        errors = metrics.registry.get_sample_value(
            "videobert_cache_events_total", {"backend": "redis", "event": "error"})
        if client == SERVICE:
            case["errors_counted"] = int(errors or 0)
        return case


async def measure(settings: Settings, calls: int, default_bound_s: float) -> list[dict[str, Any]]:
    return [await run_case(client, fault, settings, calls, default_bound_s)
            for client in (SERVICE, DEFAULTS) for fault in (STOPPED, FROZEN)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cache_faults",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=6, help="reads timed after each fault")
    parser.add_argument("--default-frozen-timeout-s", type=float, default=70.0,
                        help="give up on one read of the redis-py-defaults client after this")
    parser.add_argument("--out", type=Path, default=RESULT,
                        help="write here instead (docs are then left alone)")
    parser.add_argument("--no-docs", action="store_true", help="do not regenerate docs/cache.md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    settings = Settings()
    overridden = sorted(k for k in os.environ if k.startswith("VIDEOBERT_REDIS")
                        or k.startswith("VIDEOBERT_CACHE"))
    if overridden:
        log.warning("%s set: the service's cache is not on its defaults", ", ".join(overridden))
    started = time.monotonic()
    result: dict[str, Any] = {
        **provenance(),
        "command": "python -m bench.cache_faults "
                   + " ".join(argv if argv is not None else sys.argv[1:]),
        "redis_py": redis.__version__, "calls": args.calls,
        "default_frozen_timeout_s": args.default_frozen_timeout_s,
        "settings": {"redis_connect_timeout_ms": settings.redis_connect_timeout_ms,
                     "redis_timeout_ms": settings.redis_timeout_ms,
                     "redis_breaker_failures": settings.redis_breaker_failures,
                     "redis_breaker_cooldown_s": settings.redis_breaker_cooldown_s},
        "cases": asyncio.run(measure(settings, args.calls, args.default_frozen_timeout_s)),
    }
    result["duration_s"] = round(time.monotonic() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    log.info("done in %.0f s; wrote %s", result["duration_s"], args.out)
    if not args.no_docs and args.out.resolve() == RESULT.resolve():
        doc_tables.update_from(RESULT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
