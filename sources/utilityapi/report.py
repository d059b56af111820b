"""What a load did, gathered while it runs: the base of the summary and the JSON run report."""

from __future__ import annotations

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
class LoadReport:
    """Filled in by the source's resources; read by the CLI once the load is over."""

    meters_listed: int = 0
    not_activated: list[NotActivatedMeter] = field(default_factory=list)
    plans: dict[str, dict[str, Any]] = field(default_factory=dict)
    rows_fetched: Counter[str] = field(default_factory=Counter)
    problems: dict[str, dict[str, Any]] = field(default_factory=dict)
    client_stats: RequestStats | None = None

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
        self.plans[kind] = {
            "fetched": len(summary.planned),
            "unchanged": len(summary.unchanged),
            "not_activated": len(summary.not_activated),
            "empty": len(summary.empty),
            "deferred": sorted(summary.deferred),
            "reasons": dict(Counter(p.reason for p in summary.planned)),
        }

    def add_problems(self, table: str, counts: dict[str, int], examples: list[str]) -> None:
        if counts:
            self.problems[table] = {"counts": dict(counts), "examples": list(examples)}

    def as_dict(self) -> dict[str, Any]:
        return {
            "meters_listed": self.meters_listed,
            "not_activated_meters": [vars(m) for m in self.not_activated],
            "plans": self.plans,
            "rows_fetched": dict(self.rows_fetched),
            "problems": self.problems,
            "requests": self.client_stats.as_dict() if self.client_stats else {},
        }
