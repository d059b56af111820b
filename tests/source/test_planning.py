"""Which meters a load fetches and from when, and what it remembers afterwards (planning.py).

Plain functions over the meter listing and the per-meter state; the sandbox tests show the
same decisions as requests (tests/source/test_incremental_requests.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sources.utilityapi.planning import (
    FIRST_LOAD,
    MeterPlan,
    backfill_done,
    fingerprint,
    pending_backfills,
    plan_meters,
    record_fetch,
    track_latest,
)
from sources.utilityapi.settings import METER_REFETCH_SECONDS

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
LOOKBACK = timedelta(days=7)
COVERAGE = [["2025-01-01T00:00:00+00:00", "2026-03-19T00:00:00+00:00"]]


def meter(uid: str = "m1", **fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "uid": uid,
        "is_activated": True,
        "status_message": "",
        "interval_count": 100,
        "interval_coverage": COVERAGE,
        "bill_count": 3,
        "bill_coverage": COVERAGE,
    }
    values.update(fields)
    return values


def plan(meters: list[dict[str, Any]], state: dict[str, Any] | None = None, **kwargs: Any):
    kwargs.setdefault("now", NOW)
    kwargs.setdefault("lookback", LOOKBACK)
    return plan_meters(meters, "intervals", state or {}, **kwargs)


def loaded_state(m: dict[str, Any], cursor: datetime, fetched_at: datetime) -> dict[str, Any]:
    """The state after a load of meter `m` that ended at `cursor`."""
    state: dict[str, Any] = {}
    first = plan([m]).planned[0]
    record_fetch(state, first, cursor, fetched_at)
    return state


def test_fingerprint_follows_count_and_coverage_of_its_kind_only() -> None:
    base = meter()
    assert fingerprint(base, "intervals") == fingerprint(dict(base), "intervals")
    assert len(fingerprint(base, "intervals")) == 16
    assert fingerprint(meter(interval_count=101), "intervals") != fingerprint(base, "intervals")
    later = [[COVERAGE[0][0], "2026-03-20T00:00:00+00:00"]]
    assert fingerprint(meter(interval_coverage=later), "intervals") != fingerprint(
        base, "intervals"
    )
    assert fingerprint(meter(bill_count=9), "intervals") == fingerprint(base, "intervals")
    assert fingerprint(meter(bill_count=9), "bills") != fingerprint(base, "bills")
    assert fingerprint(meter(interval_count=1), "bills") == fingerprint(base, "bills")


def test_a_first_load_reads_the_whole_history_or_from_start_date() -> None:
    (first,) = plan([meter()]).planned
    assert first == MeterPlan(
        "m1", None, fingerprint(meter(), "intervals"), datetime(2025, 1, 1, tzinfo=UTC), FIRST_LOAD
    )
    since = datetime(2026, 1, 1, tzinfo=UTC)
    assert plan([meter()], start_date=since).planned[0].start == since


def test_meters_without_data_or_not_activated_are_not_fetched() -> None:
    summary = plan(
        [
            meter("off", is_activated=False),
            meter(
                "new",
                status_message="Service exists, but no logs yet.",
                interval_count=0,
                bill_count=0,
                is_activated=None,
            ),
            meter("empty", interval_count=0),
            meter("none", interval_count=None),
            meter("m1"),
        ]
    )
    assert summary.not_activated == ["off", "new"]
    assert summary.empty == ["empty", "none"]
    assert [p.meter_uid for p in summary.planned] == ["m1"]


def test_an_unchanged_meter_is_not_asked_again_unless_refreshed() -> None:
    state = loaded_state(meter(), NOW, NOW - timedelta(hours=1))
    summary = plan([meter()], state)
    assert summary.unchanged == ["m1"] and summary.planned == []
    (refreshed,) = plan([meter()], state, refresh=frozenset({"m1"})).planned
    assert refreshed.start == NOW - LOOKBACK and refreshed.reason == "new data"


def test_a_changed_meter_is_read_from_its_cursor_minus_the_lookback() -> None:
    state = loaded_state(meter(), NOW - timedelta(days=1), NOW - timedelta(days=1))
    (changed,) = plan([meter(interval_count=200)], state).planned
    assert changed == MeterPlan(
        "m1",
        NOW - timedelta(days=1) - LOOKBACK,
        fingerprint(meter(interval_count=200), "intervals"),
        datetime(2025, 1, 1, tzinfo=UTC),
        "new data",
    )


def test_the_lookback_never_reaches_before_start_date() -> None:
    state = loaded_state(meter(), NOW, NOW - timedelta(days=1))
    since = NOW - timedelta(days=2)
    (changed,) = plan([meter(interval_count=200)], state, start_date=since).planned
    assert changed.start == since
    early = NOW - timedelta(days=30)
    (changed,) = plan([meter(interval_count=200)], state, start_date=early).planned
    assert changed.start == NOW - LOOKBACK


def test_history_extended_backwards_is_read_whole_again() -> None:
    state = loaded_state(meter(), NOW, NOW - timedelta(days=1))
    earlier = [["2024-06-01T00:00:00+00:00", COVERAGE[0][1]]]
    (extended,) = plan([meter(interval_coverage=earlier)], state).planned
    assert extended == MeterPlan(
        "m1",
        None,
        fingerprint(meter(interval_coverage=earlier), "intervals"),
        datetime(2024, 6, 1, tzinfo=UTC),
        "history extended backwards",
    )
    since = datetime(2025, 6, 1, tzinfo=UTC)
    (extended,) = plan([meter(interval_coverage=earlier)], state, start_date=since).planned
    assert extended.start == since
    later_start = [["2025-02-01T00:00:00+00:00", "2026-03-20T00:00:00+00:00"]]
    (moved,) = plan([meter(interval_coverage=later_start)], state).planned
    assert moved.reason == "new data"


def test_each_meter_is_decided_on_its_own_whatever_came_before_it() -> None:
    recent, old = NOW - timedelta(seconds=5), NOW - timedelta(days=1)
    state = {
        **loaded_state(meter("same"), NOW, old),
        **loaded_state(meter("soon"), NOW, recent),
        **loaded_state(meter("grown"), NOW, old),
    }
    order = [
        meter("backfill"),
        meter("same"),
        meter("soon", interval_count=200),
        meter("empty", interval_count=0),
        meter("off", is_activated=False),
        meter("grown", interval_count=200),
        meter("new"),
    ]
    summary = plan(order, state, backfill={"backfill": None})
    assert [p.meter_uid for p in summary.planned] == ["backfill", "grown", "new"]
    assert (summary.unchanged, summary.deferred) == (["same"], ["soon"])
    assert (summary.empty, summary.not_activated) == (["empty"], ["off"])


@pytest.mark.parametrize(
    ("ago", "deferred"),
    [
        (0.0, True),
        (METER_REFETCH_SECONDS - 1, True),
        (METER_REFETCH_SECONDS - 0.001, True),
        (METER_REFETCH_SECONDS, False),
        (3600.0, False),
    ],
)
def test_a_meter_fetched_less_than_a_minute_ago_is_deferred(ago: float, deferred: bool) -> None:
    assert METER_REFETCH_SECONDS == 60.0  # UtilityAPI: once a minute per meter
    state = loaded_state(meter(), NOW, NOW - timedelta(seconds=ago))
    summary = plan([meter(interval_count=200)], state)
    assert summary.deferred == (["m1"] if deferred else [])
    assert [p.meter_uid for p in summary.planned] == ([] if deferred else ["m1"])


def test_a_refresh_or_backfill_of_a_meter_just_fetched() -> None:
    state = loaded_state(meter(), NOW, NOW - timedelta(seconds=5))
    # an event's refresh waits for the minute too
    assert plan([meter()], state, refresh=frozenset({"m1"})).deferred == ["m1"]
    # a backfill is asked for by a person and goes ahead, from its own start
    since = datetime(2025, 6, 1, tzinfo=UTC)
    (backfill,) = plan([meter()], state, backfill={"m1": since}).planned
    assert backfill == MeterPlan(
        "m1",
        since,
        fingerprint(meter(), "intervals"),
        datetime(2025, 1, 1, tzinfo=UTC),
        "backfill requested",
    )
    (whole,) = plan([meter(interval_count=0)], state, backfill={"m1": None}).planned
    assert whole.start is None


def test_record_fetch_moves_the_cursor_forward_only() -> None:
    state: dict[str, Any] = {}
    (first,) = plan([meter()]).planned
    record_fetch(state, first, NOW - timedelta(days=3), NOW - timedelta(hours=2))
    entry = state["m1"]
    assert entry == {
        "fingerprint": first.fingerprint,
        "cursor": (NOW - timedelta(days=3)).isoformat(),
        "coverage_start": "2025-01-01T00:00:00+00:00",
        "fetched_at": (NOW - timedelta(hours=2)).isoformat(),
    }
    (second,) = plan([meter(interval_count=200)], state).planned
    record_fetch(state, second, NOW - timedelta(days=1), NOW - timedelta(hours=1))
    assert state["m1"]["cursor"] == (NOW - timedelta(days=1)).isoformat()
    assert state["m1"]["fingerprint"] == second.fingerprint
    # a fetch that received older data (or nothing) keeps the cursor where it was
    (third,) = plan([meter(interval_count=300)], state).planned
    record_fetch(state, third, NOW - timedelta(days=5), NOW)
    assert state["m1"]["cursor"] == (NOW - timedelta(days=1)).isoformat()
    record_fetch(state, third, None, NOW)
    assert state["m1"]["cursor"] == (NOW - timedelta(days=1)).isoformat()
    assert state["m1"]["fetched_at"] == NOW.isoformat()


def test_record_fetch_of_a_meter_that_received_nothing_keeps_no_cursor() -> None:
    state: dict[str, Any] = {}
    (first,) = plan([meter(interval_coverage=None)]).planned
    record_fetch(state, first, None, NOW)
    assert state["m1"]["cursor"] is None and state["m1"]["coverage_start"] is None
    # so the next plan is a first load again
    assert plan([meter(interval_count=5)], state, now=NOW + timedelta(hours=1)).planned[
        0
    ].reason == (FIRST_LOAD)


def test_coverage_start_is_remembered_by_full_loads_only() -> None:
    state = loaded_state(meter(), NOW, NOW - timedelta(days=1))
    earlier = [["2024-06-01T00:00:00+00:00", COVERAGE[0][1]]]
    # a load from a cursor does not move the remembered start...
    partial = MeterPlan("m1", NOW - LOOKBACK, "f", datetime(2024, 6, 1, tzinfo=UTC), "new data")
    record_fetch(state, partial, NOW, NOW)
    assert state["m1"]["coverage_start"] == "2025-01-01T00:00:00+00:00"
    # ...a full load does, so an extension is read whole once
    (extended,) = plan(
        [meter(interval_coverage=earlier)], state, now=NOW + timedelta(hours=1)
    ).planned
    record_fetch(state, extended, NOW, NOW + timedelta(hours=1))
    assert state["m1"]["coverage_start"] == "2024-06-01T00:00:00+00:00"
    again = plan(
        [meter(interval_coverage=earlier, interval_count=7)], state, now=NOW + timedelta(hours=2)
    )
    assert again.planned[0].reason == "new data"


def test_track_latest_keeps_the_latest_datetime_per_meter() -> None:
    latest: dict[str, datetime] = {}
    track_latest(latest, "m1", NOW)
    track_latest(latest, "m1", NOW - timedelta(days=1))
    track_latest(latest, 7, NOW - timedelta(days=1))
    track_latest(latest, "m1", NOW + timedelta(seconds=1))
    track_latest(latest, None, NOW + timedelta(days=9))
    track_latest(latest, "m2", "2026-03-20")
    assert latest == {"m1": NOW + timedelta(seconds=1), "7": NOW - timedelta(days=1)}


def test_a_backfill_request_is_kept_until_each_meter_is_done_then_forgotten() -> None:
    state: dict[str, Any] = {}
    since = datetime(2025, 6, 1, tzinfo=UTC)
    owed = pending_backfills(state, {"m1": since, "m2": None}, {"m1", "m2"})
    assert owed == {"m1": since, "m2": None}
    backfill_done(state, "m1")
    # a crash here: the same request run again resumes with what was not committed
    assert pending_backfills(state, {"m1": since, "m2": None}, {"m1", "m2"}) == {"m2": None}
    # any later run continues it, too
    assert pending_backfills(state, {}, None) == {"m2": None}
    backfill_done(state, "m2")
    assert state["backfills"] == {}
    # once finished, the same request starts anew
    assert pending_backfills(state, {"m1": since, "m2": None}, None) == {"m1": since, "m2": None}


def test_backfills_of_vanished_meters_are_dropped_only_when_every_meter_was_listed() -> None:
    state: dict[str, Any] = {}
    pending_backfills(state, {"gone": None, "m1": None}, {"gone", "m1"})
    assert pending_backfills(state, {}, None) == {"gone": None, "m1": None}
    assert pending_backfills(state, {}, {"m1"}) == {"m1": None}
    assert pending_backfills(state, {}, set()) == {}
    assert state["backfills"] == {}


def test_a_finished_request_does_not_hide_the_ones_after_it() -> None:
    state: dict[str, Any] = {}
    pending_backfills(state, {"gone": None}, None)
    pending_backfills(state, {"m1": None}, None)
    # the first request's meter vanished: it is dropped, and the second is still owed
    assert pending_backfills(state, {}, {"m1"}) == {"m1": None}
    assert len(state["backfills"]) == 1


def test_two_backfills_of_one_meter_owe_the_earlier_start() -> None:
    state: dict[str, Any] = {}
    june, may = datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 5, 1, tzinfo=UTC)
    pending_backfills(state, {"m1": june}, None)
    assert pending_backfills(state, {"m1": may}, None) == {"m1": may}
    state.clear()
    pending_backfills(state, {"m1": may}, None)
    assert pending_backfills(state, {"m1": june}, None) == {"m1": may}
    state.clear()
    pending_backfills(state, {"m1": june}, None)
    assert pending_backfills(state, {"m1": None}, None) == {"m1": None}
    state.clear()
    pending_backfills(state, {"m1": None}, None)
    assert pending_backfills(state, {"m1": june}, None) == {"m1": None}
    assert len(state["backfills"]) == 2
    backfill_done(state, "m1")
    assert state["backfills"] == {}


def test_backfill_done_leaves_other_meters_owed() -> None:
    state: dict[str, Any] = {}
    pending_backfills(state, {"m1": None, "m2": None}, None)
    backfill_done(state, "m1")
    backfill_done(state, "unknown")
    assert pending_backfills(state, {}, None) == {"m2": None}
