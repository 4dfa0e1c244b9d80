"""The circuit breaker's state machine, on an injected clock."""

from __future__ import annotations

import pytest

from app.cache.breaker import BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def changes() -> list[tuple[str, str, int]]:
    return []


@pytest.fixture
def breaker(clock: Clock, changes: list[tuple[str, str, int]]) -> CircuitBreaker:
    return CircuitBreaker(3, 5.0, clock=clock,
                          on_change=lambda old, new, n: changes.append((old, new, n)))


def fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        assert breaker.allow()
        breaker.record_failure()


def test_opens_after_consecutive_failures(breaker: CircuitBreaker,
                                          changes: list[tuple[str, str, int]]) -> None:
    fail(breaker, 2)
    assert breaker.state is BreakerState.CLOSED and breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    assert changes == [("closed", "open", 3)]


def test_a_success_resets_the_count(breaker: CircuitBreaker) -> None:
    fail(breaker, 2)
    breaker.record_success()
    fail(breaker, 2)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 2


def test_half_opens_after_cooldown_and_lets_one_probe_through(breaker: CircuitBreaker,
                                                              clock: Clock) -> None:
    fail(breaker, 3)
    clock.now += 4.9
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    clock.now += 0.1
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()  # the probe is still out


def test_probe_success_closes(breaker: CircuitBreaker, clock: Clock,
                              changes: list[tuple[str, str, int]]) -> None:
    fail(breaker, 3)
    clock.now += 5
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow() and breaker.allow()
    assert [(o, n) for o, n, _ in changes] == [("closed", "open"), ("open", "half_open"),
                                               ("half_open", "closed")]


def test_probe_failure_reopens_for_a_new_cooldown(breaker: CircuitBreaker, clock: Clock) -> None:
    fail(breaker, 3)
    clock.now += 5
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()


def test_a_cancelled_probe_lets_the_next_one_through(breaker: CircuitBreaker,
                                                     clock: Clock) -> None:
    fail(breaker, 3)
    clock.now += 5
    assert breaker.allow()
    breaker.release()
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()


def test_a_late_failure_while_open_restarts_the_cooldown(breaker: CircuitBreaker,
                                                         clock: Clock) -> None:
    fail(breaker, 3)
    clock.now += 3
    breaker.record_failure()  # a call let out before the breaker opened
    clock.now += 3
    assert not breaker.allow()
    clock.now += 2
    assert breaker.allow()


@pytest.mark.parametrize(("failures", "cooldown_s"), [(0, 1.0), (1, 0.0)])
def test_rejects_bad_settings(failures: int, cooldown_s: float) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(failures, cooldown_s)
