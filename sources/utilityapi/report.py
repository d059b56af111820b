"""What a load did, gathered while it runs: the base of the summary and the JSON run report."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import RequestStats
    from .planning import PlanSummary


@dataclass
class NotActivatedMeter:
    uid: str
    authorization_uid: str | None
    utility: str | None
    status_message: str | None


@dataclass
class KindProgress:
    """Bills or intervals: what planning decided at the run's start and what became of it."""

    planned: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    unchanged: int = 0
    not_activated: int = 0
    empty: int = 0
    deferred: list[str] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    remaining: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "planned": self.planned,
            "fetched": len(self.fetched),
            "reasons": dict(self.reasons),
            "unchanged": self.unchanged,
            "not_activated": self.not_activated,
            "empty": self.empty,
            "deferred": sorted(self.deferred),
            "failed": dict(sorted(self.failed.items())),
            "remaining": self.remaining,
        }


@dataclass
class LoadReport:
    """Filled in by the source's resources; read by the CLI once the load is over.

    Thread-safe: bills and events run on dlt's worker threads beside the intervals.
    """

    meters_listed: int = 0
    not_activated: list[NotActivatedMeter] = field(default_factory=list)
    kinds: dict[str, KindProgress] = field(default_factory=dict)
    rows_fetched: Counter[str] = field(default_factory=Counter)
    problems: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed_resources: dict[str, str] = field(default_factory=dict)
    quarantined: dict[str, dict[str, str]] = field(default_factory=dict)
    completeness: dict[str, Any] = field(default_factory=dict)
    # the meter listing the run planned from (the completeness check reads it)
    listing: list[dict[str, Any]] = field(default_factory=list, repr=False)
    client_stats: RequestStats | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def note_not_activated(self, meters: list[dict[str, Any]]) -> None:
        self.not_activated = [
            NotActivatedMeter(
                uid=str(m.get("uid")),
                authorization_uid=m.get("authorization_uid"),
                utility=m.get("utility"),
                status_message=m.get("status_message"),
            )
            for m in meters
        ]

    def add_plan(self, kind: str, summary: PlanSummary) -> None:
        """Record the first step's plan for `kind`; later steps only take from it."""
        with self._lock:
            if kind in self.kinds:
                return
            self.kinds[kind] = KindProgress(
                planned=len(summary.planned),
                reasons=Counter(p.reason for p in summary.planned),
                unchanged=len(summary.unchanged),
                not_activated=len(summary.not_activated),
                empty=len(summary.empty),
                deferred=list(summary.deferred),
            )

    def meter_fetched(self, kind: str, meter_uid: str) -> None:
        with self._lock:
            self.kinds.setdefault(kind, KindProgress()).fetched.append(meter_uid)

    def meter_failed(self, kind: str, meter_uid: str, error: str) -> None:
        with self._lock:
            self.kinds.setdefault(kind, KindProgress()).failed[meter_uid] = error

    def set_remaining(self, kind: str, count: int) -> None:
        with self._lock:
            self.kinds.setdefault(kind, KindProgress()).remaining = count

    def quarantine(self, listing: str, uid: str, reason: str) -> None:
        """An object set aside (not loaded, not planned) because its fields cannot be trusted."""
        with self._lock:
            self.quarantined.setdefault(listing, {})[uid] = reason

    def count_rows(self, table: str, count: int) -> None:
        with self._lock:
            self.rows_fetched[table] += count

    def resource_failed(self, resource: str, error: str) -> None:
        with self._lock:
            self.failed_resources[resource] = error

    def add_problems(self, table: str, counts: dict[str, int], examples: list[str]) -> None:
        if not counts:
            return
        with self._lock:
            entry = self.problems.setdefault(table, {"counts": {}, "examples": []})
            for kind, count in counts.items():
                entry["counts"][kind] = entry["counts"].get(kind, 0) + count
            entry["examples"] = (entry["examples"] + list(examples))[:5]

    def absorb(self, other: LoadReport) -> None:
        """Add what another run of the source (a repair) did to this report."""
        for kind, progress in other.kinds.items():
            mine = self.kinds.setdefault(kind, KindProgress())
            mine.fetched += [uid for uid in progress.fetched if uid not in mine.fetched]
            mine.failed.update(progress.failed)
        for table, count in other.rows_fetched.items():
            self.count_rows(table, count)
        for table, detail in other.problems.items():
            self.add_problems(table, detail["counts"], detail["examples"])
        self.failed_resources.update(other.failed_resources)
        if self.client_stats is not None and other.client_stats is not None:
            self.client_stats.absorb(other.client_stats)

    @property
    def remaining(self) -> int:
        """Meters planned this run that no step has taken yet."""
        with self._lock:
            return sum(k.remaining for k in self.kinds.values())

    @property
    def shortfalls(self) -> dict[str, Any]:
        """What keeps this run from being complete: failed or deferred meters, failed resources."""
        with self._lock:
            found: dict[str, Any] = {}
            for kind, progress in self.kinds.items():
                if progress.failed:
                    found[f"{kind}_failed"] = sorted(progress.failed)
                if progress.deferred:
                    found[f"{kind}_deferred"] = sorted(progress.deferred)
            if self.failed_resources:
                found["resources_failed"] = sorted(self.failed_resources)
            for listing, objects in self.quarantined.items():
                found[f"{listing}_quarantined"] = sorted(objects)
            for short in self.completeness.get("shortfalls", []):
                found.setdefault(f"{short['kind']}_short", []).append(short["meter_uid"])
            return found

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            kinds = {kind: progress.as_dict() for kind, progress in self.kinds.items()}
            problems = {table: dict(detail) for table, detail in self.problems.items()}
            failed_resources = dict(self.failed_resources)
            quarantined = {k: dict(v) for k, v in self.quarantined.items()}
            completeness = dict(self.completeness)
        return {
            "meters_listed": self.meters_listed,
            "not_activated_meters": [vars(m) for m in self.not_activated],
            "plans": kinds,
            "failed_resources": failed_resources,
            "quarantined": quarantined,
            "completeness": completeness,
            "rows_fetched": dict(self.rows_fetched),
            "problems": problems,
            "requests": self.client_stats.as_dict() if self.client_stats else {},
        }
