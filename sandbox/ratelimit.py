"""Per-token token buckets on real monotonic time (never the sandbox clock)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Allows `rate` requests per second per token, with bursts of up to one second's worth."""

    def __init__(self, rate: float | None, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}
        self.rate = rate

    @property
    def rate(self) -> float | None:
        return self._rate

    @rate.setter
    def rate(self, value: float | None) -> None:
        if value is not None and value <= 0:
            raise ValueError("rate must be positive or None")
        with self._lock:
            self._rate = value
            self._buckets.clear()

    def acquire(self, token: str) -> int | None:
        """Take one request; None if allowed, else the Retry-After in whole seconds."""
        with self._lock:
            rate = self._rate
            if rate is None:
                return None
            capacity = max(1.0, rate)
            now = self._monotonic()
            tokens, last = self._buckets.get(token, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[token] = (tokens - 1.0, now)
                return None
            self._buckets[token] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / rate))
