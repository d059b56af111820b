"""One account-wide request pacer shared by every request of a client, across threads."""

from __future__ import annotations

import threading

from .clock import SYSTEM_CLOCK, Clock


class RateLimiter:
    """Spaces requests evenly at `rate` per second and pauses everyone after a 429.

    Even spacing (no bursts) keeps the account under a server-side bucket of the same rate,
    so a well-paced client never meets a 429 of its own making. `rate=None` means unlimited.
    """

    def __init__(self, rate: float | None, clock: Clock = SYSTEM_CLOCK) -> None:
        if rate is not None and rate <= 0:
            raise ValueError(f"rate limit must be positive, got {rate}")
        self._interval = 1.0 / rate if rate else 0.0
        self._clock = clock
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self._paused_until = 0.0
        self.paused_seconds = 0.0

    @property
    def rate(self) -> float | None:
        return 1.0 / self._interval if self._interval else None

    def acquire(self) -> None:
        """Block until this caller may send one request."""
        while True:
            with self._lock:
                now = self._clock.monotonic()
                slot = max(now, self._next_slot, self._paused_until)
                self._next_slot = slot + self._interval
            if slot > now:
                self._clock.sleep(slot - now)
            with self._lock:
                # A 429 may have paused the account while this caller slept.
                if self._paused_until <= self._clock.monotonic():
                    return

    def pause(self, seconds: float) -> None:
        """Hold every caller for `seconds` (a 429's Retry-After)."""
        with self._lock:
            until = self._clock.monotonic() + seconds
            if until > self._paused_until:
                self.paused_seconds += until - max(self._paused_until, self._clock.monotonic())
                self._paused_until = until
