"""The sandbox clock: fixed and advanced by hand in tests, or real time (plus any advances)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

from .localtime import from_us, to_us


class SandboxClock:
    """`wall_ns` is the real clock in real-time mode (tests replace it to move time by hand)."""

    def __init__(
        self, fixed: datetime | None = None, wall_ns: Callable[[], int] = time.time_ns
    ) -> None:
        self.wall_ns = wall_ns
        self._lock = threading.Lock()
        self.is_fixed = fixed is not None
        self._fixed_us = to_us(fixed) if fixed is not None else 0
        self._offset_us = 0

    def now_us(self) -> int:
        with self._lock:
            if self.is_fixed:
                return self._fixed_us
            return self.wall_ns() // 1000 + self._offset_us

    def now(self) -> datetime:
        return from_us(self.now_us())

    def set_us(self, at_us: int) -> None:
        """Move the clock to `at_us`; it never goes backwards."""
        with self._lock:
            if self.is_fixed:
                self._fixed_us = max(self._fixed_us, at_us)
            else:
                real = self.wall_ns() // 1000
                self._offset_us = max(self._offset_us, at_us - real)
