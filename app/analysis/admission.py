"""Admission: how many analyses may be in progress at once; past the limit a request is refused
at once (429 with Retry-After) instead of queueing without bound.

A request is checked when it arrives (``check``: a busy server refuses before reading a byte)
but holds a slot only once its body has arrived (``with admission``): a slow upload must not
take capacity from everyone else (32 clients at 10 bytes a second once held every slot). Uploads
still in progress are bounded by the open-request limit and the body's minimum rate instead.
"""

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

    def check(self) -> None:
        """Raise the 429 if every slot is taken now; takes none."""
        if self.inflight >= self.limit:
            raise Overloaded(f"The server is at its limit of {self.limit} requests in "
                             "progress. Retry after the Retry-After delay.",
                             retry_after_s=self.retry_after_s)

    def __enter__(self) -> Admission:
        self.check()
        self.inflight += 1
        self.metrics.inflight.set(self.inflight)
        return self

    def __exit__(self, *exc: object) -> None:
        self.inflight -= 1
        self.metrics.inflight.set(self.inflight)
