"""A circuit breaker: after enough consecutive failures stop calling a dependency for a while.

closed --(``failure_threshold`` consecutive failures)--> open --(``cooldown_s``)--> half_open
half_open lets exactly one probe call through: success closes, failure opens again for another
cool-down. The clock is injectable so the state machine is tested without sleeping.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


# on_change(old, new, consecutive_failures)
StateListener = Callable[[BreakerState, BreakerState, int], None]


class CircuitBreaker:
    def __init__(self, failure_threshold: int, cooldown_s: float, *,
                 clock: Callable[[], float] = time.monotonic,
                 on_change: StateListener | None = None) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if cooldown_s <= 0:
            raise ValueError("cooldown_s must be positive")
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._on_change = on_change
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False

    @property
    def state(self) -> BreakerState:
        """The state as of now: an open breaker whose cool-down has passed reads half_open."""
        if self._state is BreakerState.OPEN and self._cooled_down():
            return BreakerState.HALF_OPEN
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def allow(self) -> bool:
        """Whether a call may go out now. In half_open only one caller is let through at a time;
        it must report back with ``record_success``, ``record_failure`` or ``release``."""
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN:
            if not self._cooled_down():
                return False
            self._set(BreakerState.HALF_OPEN)
        if self._probe_in_flight:
            return False
        self._probe_in_flight = True
        return True

    def record_success(self) -> None:
        self._probe_in_flight = False
        self._failures = 0
        if self._state is not BreakerState.CLOSED:
            self._set(BreakerState.CLOSED)

    def record_failure(self) -> None:
        self._probe_in_flight = False
        self._failures += 1
        if self._state is BreakerState.HALF_OPEN or (
                self._state is BreakerState.CLOSED and self._failures >= self.failure_threshold):
            self._opened_at = self._clock()
            self._set(BreakerState.OPEN)
        elif self._state is BreakerState.OPEN:
            # A call let through before the breaker opened failed late: restart the cool-down.
            self._opened_at = self._clock()

    def release(self) -> None:
        """The allowed call ended without a verdict (it was cancelled): let another probe in."""
        self._probe_in_flight = False

    def _cooled_down(self) -> bool:
        return self._clock() - self._opened_at >= self.cooldown_s

    def _set(self, new: BreakerState) -> None:
        old, self._state = self._state, new
        if self._on_change is not None and old is not new:
            self._on_change(old, new, self._failures)
