"""Which meters need their bills or intervals fetched this run, and from when.

Each meter keeps its own entry in the resource's dlt state, committed with the loaded rows:
the fingerprint of what the meter listing said last time (count and coverage), the cursor (the
latest data loaded), the coverage start at the last full load and when it was fetched. A meter
whose listing looks the same as last time is not asked again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from .records import coverage_bounds, is_not_activated, to_instant
from .settings import METER_REFETCH_SECONDS

Kind = Literal["bills", "intervals"]
FIRST_LOAD = "first load"
HISTORY_EXTENDED = "history extended backwards"
COUNT_FIELD = {"bills": "bill_count", "intervals": "interval_count"}
COVERAGE_FIELD = {"bills": "bill_coverage", "intervals": "interval_coverage"}


@dataclass(frozen=True)
class MeterPlan:
    """Fetch `kind` for one meter from `start` (None: its whole history)."""

    meter_uid: str
    start: datetime | None
    fingerprint: str
    coverage_start: datetime | None
    reason: str


@dataclass
class PlanSummary:
    """What planning decided, for the run report."""

    planned: list[MeterPlan] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    not_activated: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)


def fingerprint(meter: Mapping[str, Any], kind: Kind) -> str:
    """A short digest of what the meter listing says about this kind of data."""
    payload = json.dumps(
        [meter.get(COUNT_FIELD[kind]), meter.get(COVERAGE_FIELD[kind])],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha1(payload.encode()).hexdigest()[:16]


def plan_meters(
    meters: Iterable[Mapping[str, Any]],
    kind: Kind,
    state: Mapping[str, Mapping[str, Any]],
    *,
    now: datetime,
    lookback: timedelta,
    start_date: datetime | None = None,
    backfill: Mapping[str, datetime | None] | None = None,
    refresh: frozenset[str] = frozenset(),
) -> PlanSummary:
    """Decide for each meter whether to fetch `kind`, and from when.

    `backfill` maps meter uids to a start (None: all history) that overrides their cursor;
    `refresh` names meters to re-read from their cursor even if their listing looks unchanged.
    """
    summary = PlanSummary()
    backfill = backfill or {}
    for meter in meters:
        uid = str(meter.get("uid"))
        if is_not_activated(meter):
            summary.not_activated.append(uid)
            continue
        digest = fingerprint(meter, kind)
        coverage_start, _ = coverage_bounds(meter.get(COVERAGE_FIELD[kind]))
        entry = state.get(uid) or {}
        if uid in backfill:
            summary.planned.append(
                MeterPlan(uid, backfill[uid], digest, coverage_start, "backfill requested")
            )
            continue
        if not meter.get(COUNT_FIELD[kind]):
            summary.empty.append(uid)
            continue
        if entry.get("fingerprint") == digest and uid not in refresh:
            summary.unchanged.append(uid)
            continue
        fetched_at = to_instant(entry.get("fetched_at"))
        if fetched_at is not None and (now - fetched_at).total_seconds() < METER_REFETCH_SECONDS:
            summary.deferred.append(uid)
            continue
        summary.planned.append(_plan(uid, entry, digest, coverage_start, lookback, start_date))
    return summary


def _plan(
    uid: str,
    entry: Mapping[str, Any],
    digest: str,
    coverage_start: datetime | None,
    lookback: timedelta,
    start_date: datetime | None,
) -> MeterPlan:
    cursor = to_instant(entry.get("cursor"))
    known_start = to_instant(entry.get("coverage_start"))
    if cursor is None:
        return MeterPlan(uid, start_date, digest, coverage_start, FIRST_LOAD)
    if coverage_start is not None and known_start is not None and coverage_start < known_start:
        return MeterPlan(uid, start_date, digest, coverage_start, HISTORY_EXTENDED)
    start = cursor - lookback
    if start_date is not None and start < start_date:
        start = start_date
    return MeterPlan(uid, start, digest, coverage_start, "new data")


def record_fetch(
    state: MutableMapping[str, Any],
    plan: MeterPlan,
    latest: datetime | None,
    now: datetime,
) -> None:
    """Remember what was fetched for one meter; called once its data has been yielded."""
    entry = dict(state.get(plan.meter_uid) or {})
    cursor = to_instant(entry.get("cursor"))
    if latest is not None and (cursor is None or latest > cursor):
        cursor = latest
    entry["fingerprint"] = plan.fingerprint
    entry["cursor"] = cursor.isoformat() if cursor else None
    if plan.start is None or entry.get("coverage_start") is None:
        entry["coverage_start"] = plan.coverage_start.isoformat() if plan.coverage_start else None
    entry["fetched_at"] = now.isoformat()
    _record_window(entry, plan)
    state[plan.meter_uid] = entry


def _record_window(entry: dict[str, Any], plan: MeterPlan) -> None:
    """Remember that a meter's history was loaded from a chosen date on purpose
    (`--start-date`), so the completeness check does not count the rest as missing."""
    window = to_instant(entry.get("window_start"))
    if plan.start is None:
        entry.pop("window_start", None)
    elif plan.reason in (FIRST_LOAD, HISTORY_EXTENDED) or window is not None:
        start = plan.start if window is None else min(window, plan.start)
        entry["window_start"] = start.isoformat()


def track_latest(latest: dict[str, datetime], meter_uid: Any, value: Any) -> None:
    """Keep the latest datetime seen per meter (the next cursor)."""
    if meter_uid is None or not isinstance(value, datetime):
        return
    key = str(meter_uid)
    if key not in latest or value > latest[key]:
        latest[key] = value


def pending_backfills(
    resource_state: MutableMapping[str, Any],
    requested: Mapping[str, datetime | None],
    listed: set[str] | None,
) -> dict[str, datetime | None]:
    """Record a backfill request in the resource state, or resume it; every meter still owed.

    A backfill is committed in steps like any load, so it is kept as a request in the state:
    the same request run again (same meters, same start) after a crash resumes with the meters
    it had not finished; a request that finished, or a different one, starts anew. Requests
    left unfinished are continued by any later run that lists their meters. `listed`: every
    meter the account lists (None when the run listed only some), to drop vanished ones.
    """
    requests: dict[str, Any] = resource_state.setdefault("backfills", {})
    if requested:
        request_id = _request_id(requested)
        if not requests.get(request_id, {}).get("pending"):
            requests[request_id] = {
                "pending": {uid: _iso_or_none(since) for uid, since in requested.items()}
            }
    owed: dict[str, datetime | None] = {}
    for request_id, request in list(requests.items()):
        pending: dict[str, Any] = request.setdefault("pending", {})
        if listed is not None:
            for uid in [u for u in pending if u not in listed]:
                del pending[uid]
        if not pending:
            del requests[request_id]
            continue
        for uid, since in pending.items():
            owed[uid] = _earlier(owed, uid, to_instant(since))
    return owed


def _earlier(owed: Mapping[str, datetime | None], uid: str, start: datetime | None) -> Any:
    """The earlier of two backfill starts; None (the whole history) is the earliest."""
    if uid not in owed:
        return start
    current = owed[uid]
    if current is None or start is None:
        return None
    return min(current, start)


def backfill_done(resource_state: MutableMapping[str, Any], meter_uid: str) -> None:
    """A meter's backfill is committed with this step: no request owes it any more."""
    requests = resource_state.get("backfills") or {}
    for request_id in list(requests):
        pending = requests[request_id].get("pending") or {}
        pending.pop(meter_uid, None)
        if not pending:
            del requests[request_id]


def _request_id(requested: Mapping[str, datetime | None]) -> str:
    payload = json.dumps(sorted((uid, _iso_or_none(since)) for uid, since in requested.items()))
    return hashlib.sha1(payload.encode()).hexdigest()[:16]


def _iso_or_none(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
