"""Fakes shared by the cache tests (unit and integration)."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from app.metrics import Metrics


class Compute:
    """A computation that counts its calls and returns ``value`` (or raises ``error``)."""

    default: ClassVar[dict[str, Any]] = {"labels": [("cat", 0.5)], "n": 1}

    def __init__(self, value: dict[str, Any] | None = None, *, delay_s: float = 0.0,
                 error: Exception | None = None) -> None:
        self.calls = 0
        self.value = value if value is not None else self.default
        self.delay_s = delay_s
        self.error = error

    async def __call__(self) -> dict[str, Any]:
        self.calls += 1
        await asyncio.sleep(self.delay_s)
        if self.error is not None:
            raise self.error
        return self.value


def events(metrics: Metrics) -> dict[str, float]:
    """``{"backend:event": count}`` of every cache event counted so far."""
    return {f"{s.labels['backend']}:{s.labels['event']}": s.value
            for metric in metrics.cache_events.collect() for s in metric.samples
            if s.name.endswith("_total")}
