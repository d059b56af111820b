"""A fake clock: sleeping advances it instantly, so tests never wait for time to pass."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class FakeClock:
    def __init__(self, now: datetime | None = None, monotonic: float = 1000.0) -> None:
        self._mono = monotonic
        self._now = now or datetime(2026, 6, 1, tzinfo=UTC)
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            if seconds > 0:
                self._mono += seconds
                self._now += timedelta(seconds=seconds)

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta
            self._mono += delta.total_seconds()
