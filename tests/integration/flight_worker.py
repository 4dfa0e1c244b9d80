"""One ``get_or_compute`` against Redis from its own process, as another app instance would.

    python -m tests.integration.flight_worker URL KEY LOG_PATH COMPUTE_S LOCK_S

The compute appends this process's pid to LOG_PATH, sleeps COMPUTE_S and returns
``{"by": pid}``; the outcome is printed as JSON ``{"value": ..., "hit": ...}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from app.cache import RedisCache


async def main(url: str, key: str, log_path: Path, compute_s: float, lock_s: float) -> None:
    cache = RedisCache.from_url(url, ttl_s=60, connect_timeout_ms=200, timeout_ms=200,
                                breaker_failures=3, breaker_cooldown_s=1, lock_s=lock_s)

    async def compute() -> dict[str, Any]:
        with log_path.open("a") as log:
            log.write(f"{os.getpid()}\n")
        await asyncio.sleep(compute_s)
        return {"by": os.getpid()}

    value, hit = await cache.get_or_compute(key, compute)
    await cache.close()
    sys.stdout.write(json.dumps({"value": value, "hit": hit}) + "\n")


if __name__ == "__main__":
    url, key, log_path, compute_s, lock_s = sys.argv[1:6]
    asyncio.run(main(url, key, Path(log_path), float(compute_s), float(lock_s)))
