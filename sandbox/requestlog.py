"""What clients asked the API: a record per /api/v2 request, counters, guidance violations."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

# Docs (availability): get a meter's bills or intervals at most once a minute.
GUIDANCE_SECONDS = 60.0
GUIDED_ROUTES = ("/bills", "/intervals")


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str  # relative to /api/v2, e.g. "/intervals"
    params: dict[str, str]
    status: int  # 0 when the connection was dropped without a response
    meter_uids: tuple[str, ...]
    route: str = ""  # template, e.g. "/meters/{uid}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["meter_uids"] = list(self.meter_uids)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RequestRecord:
        return cls(
            data["method"],
            data["path"],
            dict(data["params"]),
            int(data["status"]),
            tuple(data["meter_uids"]),
            data.get("route", ""),
        )


@dataclass(frozen=True)
class Violation:
    route: str
    subject: str  # "meter:<uid>" or "authorization:<uid>"
    seconds_since_last: float


class RequestLog:
    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._monotonic = monotonic
        self.records: list[RequestRecord] = []
        self.violations: list[Violation] = []
        self._last_listing: dict[tuple[str, str], float] = {}

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self.records.append(record)

    def note_listing(self, route: str, params: dict[str, str]) -> None:
        """Count a new bills/intervals listing that repeats a subject within 60 s."""
        if route not in GUIDED_ROUTES or "after" in params:
            return  # continuation pages belong to the listing that started them
        subjects = [f"meter:{u}" for u in _split(params.get("meters", ""))]
        subjects += [f"authorization:{u}" for u in _split(params.get("authorizations", ""))]
        now = self._monotonic()
        with self._lock:
            for subject in subjects:
                last = self._last_listing.get((route, subject))
                if last is not None and now - last < GUIDANCE_SECONDS:
                    self.violations.append(Violation(route, subject, now - last))
                self._last_listing[(route, subject)] = now

    def counts(self) -> Counter[tuple[str, str, int]]:
        with self._lock:
            return Counter((r.method, r.route, r.status) for r in self.records)

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return list(self.records)

    def clear(self) -> None:
        with self._lock:
            self.records.clear()
            self.violations.clear()
            self._last_listing.clear()


def _split(value: str) -> list[str]:
    return [part for part in value.split(",") if part]
