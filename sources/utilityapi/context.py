"""What every resource of one source instance shares: the client, the listings and the run's
progress across checkpoint steps."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import settings
from .client import UtilityAPIClient
from .clock import Clock
from .errors import UtilityAPIError
from .planning import Kind, MeterPlan, pending_backfills, plan_meters
from .records import as_count, is_not_activated, meter_problems
from .report import LoadReport

if TYPE_CHECKING:
    from .intervals import FetchAhead

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadScope:
    """What one source instance is asked to load."""

    meter_uids: list[str] | None
    strict_meters: bool
    authorization_uids: list[str] | None
    start_date: datetime | None
    lookback: timedelta
    allow_mixed: bool
    intervals_page_size: int
    max_concurrency: int
    backfill: dict[str, datetime | None]
    refresh: frozenset[str]
    access_changes: list[dict[str, Any]]
    step_meters: int | None
    step_seconds: float | None
    step_readings: int | None = None


class StepBudget:
    """How much one checkpoint step may take: meters, seconds of fetching, or readings (by the
    meter listing's counts); None is no limit. Spent once any limit is reached."""

    def __init__(
        self,
        clock: Clock,
        meters: int | None,
        seconds: float | None,
        readings: int | None,
        counts: dict[str, int],
    ) -> None:
        self._clock = clock
        self._started = clock.monotonic()
        self._limits = (meters, seconds, readings)
        self._counts = counts
        self.meters = 0
        self.readings = 0

    def take(self, plan: MeterPlan) -> None:
        self.meters += 1
        self.readings += self._counts.get(plan.meter_uid, 0)

    @property
    def spent(self) -> bool:
        meters, seconds, readings = self._limits
        return (
            (meters is not None and self.meters >= meters)
            or (seconds is not None and self._clock.monotonic() - self._started >= seconds)
            or (readings is not None and self.readings >= readings)
        )


@dataclass
class SourceContext:
    """The client and listings of one source instance, and which meters each step took.

    A load runs the source once per checkpoint step; the listings are fetched once, and each
    step takes the next meters that still need bills or intervals, so a step commits with its
    meters' cursors and the next run resumes with the rest.
    """

    client: UtilityAPIClient
    clock: Clock
    report: LoadReport
    scope: LoadScope
    # interval fetches that run on across this run's steps (owned and closed by the caller)
    fetch_ahead: FetchAhead | None = None
    _meters: list[dict[str, Any]] | None = None
    _authorizations: list[dict[str, Any]] | None = None
    _meters_meanwhile: threading.Thread | None = None
    _authorizations_lock: threading.Lock = field(default_factory=threading.Lock)
    _taken: dict[str, set[str]] = field(default_factory=dict)
    # resources run on several threads (bills and events are parallelized)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def meters(self) -> list[dict[str, Any]]:
        """The account's meters (or the requested ones), listed once per run."""
        with self._lock:
            if self._meters is None:
                meters = self._list_meters()
                self.report.meters_listed = len(meters)
                self.report.listing = meters
                self.report.note_not_activated([m for m in meters if is_not_activated(m)])
                self._check_requested(meters)
                self._meters = meters
            return self._meters

    def authorizations(self) -> list[dict[str, Any]]:
        """The account's authorizations, listed once per run; the meters are listed meanwhile."""
        self._list_meters_meanwhile()
        with self._authorizations_lock:
            if self._authorizations is None:
                self._authorizations = self._list("authorizations", {})
            return self._authorizations

    def _list_meters_meanwhile(self) -> None:
        """Start listing the meters on a thread of its own: every other resource waits for
        them, and listed after the authorizations they came one round trip later. Whatever
        goes wrong there is left for the next `meters()` call to meet (and report) again."""
        with self._lock:
            if self._meters is not None or self._meters_meanwhile is not None:
                return
            self._meters_meanwhile = threading.Thread(
                target=self._try_meters, name="uapi-meters", daemon=True
            )
            self._meters_meanwhile.start()

    def _try_meters(self) -> None:
        try:
            self.meters()
        except Exception:  # noqa: BLE001 - raised again by the caller that needs the meters
            logger.debug("listing the meters ahead failed; they are listed again", exc_info=True)

    def plan(self, kind: Kind, resource_state: dict[str, Any]) -> Iterator[MeterPlan]:
        """This step's meters for `kind`, from the resource's state, within the step's budget.

        Meters already taken by an earlier step of this run are left out: they were fetched
        (or failed, and wait for the next run).
        """
        return self._budgeted(kind, self._pending(kind, resource_state))

    def plan_all(self, kind: Kind, resource_state: dict[str, Any]) -> list[MeterPlan]:
        """Every meter this run still has to fetch for `kind`, all taken at once: for fetches
        that go on across steps, whose steps end by `StepBudget` instead."""
        pending = self._pending(kind, resource_state)
        with self._lock:
            self._taken.setdefault(kind, set()).update(p.meter_uid for p in pending)
        self.report.set_remaining(kind, len(pending))
        return pending

    def step_budget(self, kind: Kind) -> StepBudget:
        """The checkpoint budget of one step, spent by the meters it takes."""
        readings = self.scope.step_readings if kind == "intervals" else None
        return StepBudget(
            self.clock,
            self.scope.step_meters or None,
            self.scope.step_seconds,
            readings,
            self._listed_counts() if readings is not None else {},
        )

    def _pending(self, kind: Kind, resource_state: dict[str, Any]) -> list[MeterPlan]:
        meters = self.meters()
        complete_listing = self.scope.meter_uids is None and self.scope.authorization_uids is None
        backfill = pending_backfills(
            resource_state,
            self.scope.backfill,
            {str(m.get("uid")) for m in meters} if complete_listing else None,
        )
        summary = plan_meters(
            meters,
            kind,
            resource_state.setdefault("meters", {}),
            now=self.clock.now(),
            lookback=self.scope.lookback,
            start_date=self.scope.start_date,
            backfill=backfill,
            refresh=self.scope.refresh,
        )
        self.report.add_plan(kind, summary)
        with self._lock:
            taken = self._taken.setdefault(kind, set())
            return [p for p in summary.planned if p.meter_uid not in taken]

    def _budgeted(self, kind: Kind, pending: list[MeterPlan]) -> Iterator[MeterPlan]:
        budget = self.step_budget(kind)
        try:
            for plan in pending:
                if budget.meters and budget.spent:
                    break
                with self._lock:
                    self._taken[kind].add(plan.meter_uid)
                budget.take(plan)
                yield plan
        finally:
            self.report.set_remaining(kind, len(pending) - budget.meters)

    def _listed_counts(self) -> dict[str, int]:
        return {str(m.get("uid")): as_count(m.get("interval_count")) or 0 for m in self.meters()}

    def _list_meters(self) -> list[dict[str, Any]]:
        if self.scope.meter_uids is None and self.scope.authorization_uids is None:
            return self._expanded(self._list("meters", {}))
        meters: dict[str, dict[str, Any]] = {}
        scope = self.scope
        for key, uids in (("uids", scope.meter_uids), ("authorizations", scope.authorization_uids)):
            for chunk in _chunks(uids or [], settings.UIDS_PER_FILTER):
                for meter in self._list("meters", {key: chunk}):
                    meters[str(meter["uid"])] = meter
        return self._expanded(list(meters.values()))

    def _expanded(self, meters: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Meters whose blocks the API did not fill in (`is_expanded: false`), asked again
        with `expand_meter_blocks=true`; only those, since expanding may be slow for the API."""
        lazy = [str(m["uid"]) for m in meters if m.get("is_expanded") is False]
        if not lazy:
            return meters
        expanded: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(lazy, settings.UIDS_PER_FILTER):
            for meter in self._list("meters", {"uids": chunk, "expand_meter_blocks": True}):
                expanded[str(meter["uid"])] = meter
        return [expanded.get(str(m["uid"]), m) for m in meters]

    def _check_requested(self, meters: list[dict[str, Any]]) -> None:
        if not (self.scope.meter_uids and self.scope.strict_meters):
            return
        listed = {str(m.get("uid")) for m in meters}
        unknown = [uid for uid in self.scope.meter_uids if uid not in listed]
        if unknown:
            raise UnknownMeterError(
                f"UtilityAPI does not list meter(s) {', '.join(unknown)} for this token: check "
                "the uids (`uapi load` without --meters lists every meter it can see)."
            )

    def _list(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Every object of a listing; objects that cannot be trusted are set aside, reported."""
        query = {"limit": settings.MAX_PAGE_SIZE, **params}
        kept: dict[str, dict[str, Any]] = {}
        for page in self.client.pages(path, path, query):
            for item in page:
                problems = _problems(path, item)
                if problems:
                    self.report.quarantine(path, _label(item), "; ".join(problems))
                    continue
                # An object listed again on a later page (the listing moved while we paged)
                # is one object: a meter listed twice would be fetched twice.
                kept.setdefault(str(item["uid"]), _normalized(path, item))
        return list(kept.values())


def _problems(path: str, item: Any) -> list[str]:
    if not isinstance(item, dict):
        return [f"a {type(item).__name__} where an object belongs"]
    if path == "meters":
        return meter_problems(item)
    if item.get("uid") is None or isinstance(item.get("uid"), dict | list):
        return [f"uid is {item.get('uid')!r}, expected a string"]
    return []


def _normalized(path: str, item: dict[str, Any]) -> dict[str, Any]:
    if path != "meters":
        return item
    counts = {name: as_count(item.get(name)) for name in ("bill_count", "interval_count")}
    return {**item, **{name: value for name, value in counts.items() if name in item}}


def _label(item: Any) -> str:
    uid = item.get("uid") if isinstance(item, dict) else None
    return str(uid) if isinstance(uid, str | int) else repr(item)[:60]


class UnknownMeterError(UtilityAPIError):
    """A meter uid asked for is not in the account's meter listing."""


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
