"""Does the warehouse hold what UtilityAPI says a meter has? Its listing's counts and coverage
against what was loaded, one row per meter and kind of data (`meter_completeness`).

UtilityAPI's documentation leaves open how `limit`, `start` and `next` behave; a reading of it
that differs from ours would lose data without any error. The meter listing publishes
`interval_count`, `interval_coverage`, `bill_count` and `bill_coverage`, so every load can
check itself against UtilityAPI's own figures instead of trusting our reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .planning import COUNT_FIELD, COVERAGE_FIELD, Kind, fingerprint
from .records import as_count, coverage_bounds, is_not_activated

COMPLETE = "complete"
SHORT = "short"
NOT_ACTIVATED = "not_activated"
EMPTY = "empty"
# Coverage is published per day in the utility's time; readings end on their own boundaries.
COVERAGE_TOLERANCE = timedelta(days=1)

COMPLETENESS_HINTS: dict[str, Any] = {
    **{name: {"data_type": "text"} for name in ("meter_uid", "kind", "status", "detail")},
    **{name: {"data_type": "text"} for name in ("listing_fingerprint",)},
    **{
        name: {"data_type": "bigint"}
        for name in ("expected_count", "loaded_count", "missing_count")
    },
    **{
        name: {"data_type": "timestamp"}
        for name in (
            "expected_start_at",
            "expected_end_at",
            "loaded_start_at",
            "loaded_end_at",
            "window_start_at",
            "checked_at",
        )
    },
    "repaired": {"data_type": "bool"},
}


@dataclass(frozen=True)
class Loaded:
    """What the warehouse holds for one meter and kind.

    Intervals: distinct reading starts of the meter's primary (most common) duration, which is
    what `interval_count` counts; bills: distinct bills.
    """

    count: int
    first_start_at: datetime | None
    last_end_at: datetime | None


@dataclass(frozen=True)
class Expected:
    """What the meter listing says about one kind of data."""

    count: int
    start_at: datetime | None
    end_at: datetime | None


def expected(meter: Mapping[str, Any], kind: Kind) -> Expected:
    start, end = coverage_bounds(meter.get(COVERAGE_FIELD[kind]))
    return Expected(as_count(meter.get(COUNT_FIELD[kind])) or 0, start, end)


def assess(
    meter: Mapping[str, Any],
    kind: Kind,
    loaded: Loaded | None,
    *,
    now: datetime,
    window_start: datetime | None = None,
    repaired: bool = False,
) -> dict[str, Any]:
    """One `meter_completeness` row: the listing's figures, the warehouse's, and the verdict.

    `window_start`: the meter was loaded from this date on purpose (`--start-date`), so only
    the end of its coverage is expected.
    """
    listed = expected(meter, kind)
    loaded = loaded or Loaded(0, None, None)
    status, detail = _verdict(meter, listed, loaded, window_start)
    return {
        "meter_uid": str(meter.get("uid")),
        "kind": kind,
        "status": status,
        "detail": detail,
        "expected_count": listed.count,
        "loaded_count": loaded.count,
        "missing_count": max(listed.count - loaded.count, 0) if window_start is None else None,
        "expected_start_at": listed.start_at,
        "expected_end_at": listed.end_at,
        "loaded_start_at": loaded.first_start_at,
        "loaded_end_at": loaded.last_end_at,
        "window_start_at": window_start,
        "listing_fingerprint": fingerprint(meter, kind),
        "repaired": repaired,
        "checked_at": now,
    }


def _verdict(
    meter: Mapping[str, Any], listed: Expected, loaded: Loaded, window_start: datetime | None
) -> tuple[str, str]:
    if is_not_activated(meter):
        return NOT_ACTIVATED, "no data until a historical collection runs"
    if listed.count == 0 and loaded.count == 0:
        return EMPTY, "the listing shows no data yet"
    gaps = []
    if window_start is None and loaded.count < listed.count:
        gaps.append(f"{listed.count - loaded.count:,} of {listed.count:,} missing")
    first, last = loaded.first_start_at, loaded.last_end_at
    if window_start is None and listed.start_at is not None:
        if first is None or first > listed.start_at + COVERAGE_TOLERANCE:
            gaps.append(f"listed from {_day(listed.start_at)}, loaded from {_day(first)}")
    if listed.end_at is not None:
        if last is None or last < listed.end_at - COVERAGE_TOLERANCE:
            gaps.append(f"listed to {_day(listed.end_at)}, loaded to {_day(last)}")
    if gaps:
        return SHORT, "; ".join(gaps)
    windowed = f" (loaded from {_day(window_start)} on purpose)" if window_start else ""
    return COMPLETE, f"{loaded.count:,} loaded{windowed}"


def _day(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d}" if value is not None else "nothing"
