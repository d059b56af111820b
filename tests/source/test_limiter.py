"""The account-wide pacer on an injected clock: even spacing, and a 429 pauses everyone,
including callers that were already waiting for their slot when it arrived."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sources.utilityapi.limiter import RateLimiter
from tests.support.clock import FakeClock

START = 1000.0  # FakeClock's monotonic start


class InterruptedClock(FakeClock):
    """A FakeClock on which something happens (another thread's 429) during the next sleep."""

    def __init__(self) -> None:
        super().__init__()
        self.during_next_sleep: Callable[[], None] | None = None

    def sleep(self, seconds: float) -> None:
        event, self.during_next_sleep = self.during_next_sleep, None
        if event is not None:
            event()
        super().sleep(seconds)


def test_requests_are_spaced_evenly_at_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(4.0, clock)
    sent = []
    for _ in range(5):
        limiter.acquire()
        sent.append(clock.monotonic() - START)
    assert sent == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])
    assert limiter.rate == pytest.approx(4.0)


def test_a_slot_not_used_is_not_saved_up_for_a_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2.0, clock)
    limiter.acquire()
    clock.sleep(10)  # idle
    clock.sleeps.clear()
    limiter.acquire()
    limiter.acquire()
    assert clock.sleeps == pytest.approx([0.5])


def test_unlimited_never_waits() -> None:
    clock = FakeClock()
    limiter = RateLimiter(None, clock)
    for _ in range(100):
        limiter.acquire()
    assert clock.sleeps == [] and limiter.rate is None


@pytest.mark.parametrize("rate", [0, -1.0])
def test_a_rate_that_is_not_positive_is_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="rate limit must be positive"):
        RateLimiter(rate)


def test_a_pause_holds_the_next_request_until_it_ends() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10.0, clock)
    limiter.acquire()
    limiter.pause(5.0)
    limiter.acquire()
    assert clock.monotonic() == pytest.approx(START + 5.0)
    assert limiter.paused_seconds == pytest.approx(5.0)


def test_a_caller_already_waiting_when_a_429_arrives_waits_out_the_pause() -> None:
    clock = InterruptedClock()
    limiter = RateLimiter(10.0, clock)
    limiter.acquire()  # at START; the next slot is START + 0.1
    # While the next caller sleeps towards its slot, another request meets a 429.
    clock.during_next_sleep = lambda: limiter.pause(5.0)
    limiter.acquire()
    assert clock.monotonic() >= START + 5.0
    assert clock.sleeps[0] == pytest.approx(0.1)
    assert sum(clock.sleeps) == pytest.approx(5.0)


def test_overlapping_pauses_count_once_and_a_shorter_one_does_not_shorten() -> None:
    clock = FakeClock()
    limiter = RateLimiter(None, clock)
    limiter.pause(10.0)
    limiter.pause(4.0)  # inside the first: changes nothing
    assert limiter.paused_seconds == pytest.approx(10.0)
    clock.sleep(6.0)
    limiter.pause(10.0)  # extends the pause from START + 10 to START + 16
    assert limiter.paused_seconds == pytest.approx(16.0)
    limiter.acquire()
    assert clock.monotonic() == pytest.approx(START + 16.0)
    clock.sleep(100.0)
    limiter.pause(2.0)  # a new pause after the last ended
    assert limiter.paused_seconds == pytest.approx(18.0)


def test_a_rate_below_one_per_second_is_a_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(0.5, clock)
    limiter.acquire()
    limiter.acquire()
    assert clock.sleeps == pytest.approx([2.0]) and limiter.rate == pytest.approx(0.5)


def test_the_first_request_goes_at_once_whatever_the_clock_origin() -> None:
    clock = FakeClock(monotonic=0.0)
    limiter = RateLimiter(10.0, clock)
    limiter.acquire()
    assert clock.sleeps == [] and clock.monotonic() == 0.0
