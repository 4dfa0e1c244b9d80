"""Admission: how many analyses may be in progress at once; past the limit a request is refused
at once (429 with Retry-After) instead of queueing without bound."""

from __future__ import annotations

from dataclasses import dataclass

from app.errors import Overloaded
from app.metrics import Metrics


@dataclass
class Admission:
    limit: int
    retry_after_s: float
    metrics: Metrics
    inflight: int = 0

    def __enter__(self) -> Admission:
        if self.inflight >= self.limit:
            raise Overloaded(f"The server is at its limit of {self.limit} requests in "
                             "progress. Retry after the Retry-After delay.",
                             retry_after_s=self.retry_after_s)
        self.inflight += 1
        self.metrics.inflight.set(self.inflight)
        return self

    def __exit__(self, *exc: object) -> None:
        self.inflight -= 1
        self.metrics.inflight.set(self.inflight)
