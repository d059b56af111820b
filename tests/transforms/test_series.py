"""The interval series and daily usage, checked against the raw objects the world loads."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest

from tests.transforms import oracle, world
from tests.transforms.builders import LOS_ANGELES
from tests.transforms.world import la

TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def expected_daily() -> dict:
    return oracle.daily_totals(world.initial_intervals())


def test_daily_energy_equals_resolved_raw_readings(world_conn, rows, expected_daily) -> None:
    grid = defaultdict(float)
    for r in rows(
        world_conn,
        "select meter_uid, channel, local_date, sum(quantity) as q "
        "from analytics.meter_intervals_15min group by all",
    ):
        grid[(r["meter_uid"], r["channel"], r["local_date"])] = r["q"] or 0.0
    intervals = {
        (r["meter_uid"], r["channel"], r["local_date"]): r["q"]
        for r in rows(
            world_conn,
            "select meter_uid, channel, local_date, sum(quantity) as q "
            "from analytics.meter_intervals group by all",
        )
    }
    daily = {
        (r["meter_uid"], r["channel"], r["local_date"]): r
        for r in rows(world_conn, "select * from analytics.meter_daily_usage")
    }
    assert set(grid) == set(expected_daily) == set(daily) == set(intervals)
    for key, total in expected_daily.items():
        assert grid[key] == pytest.approx(total, abs=TOLERANCE), key
        assert intervals[key] == pytest.approx(total, abs=TOLERANCE), key
        assert daily[key]["quantity"] == pytest.approx(total, abs=TOLERANCE), key
        if daily[key]["unit"] == "kwh":
            assert daily[key]["kwh"] == pytest.approx(total, abs=TOLERANCE), key


def test_net_kwh_per_local_day_matches_raw_net_readings(world_conn, rows) -> None:
    """Meters without overlaps: the grid's net kWh per local day is just the raw net kWh."""
    raw = defaultdict(float)
    for r in rows(
        world_conn,
        "select meter_uid, value, start_at, utc_offset_minutes from utilityapi.interval_readings "
        "where type = 'net' and unit = 'kwh' and meter_uid in (?, ?, ?)",
        world.COMMERCIAL,
        world.RESIDENTIAL,
        world.SOLAR,
    ):
        local = r["start_at"].astimezone(UTC) + timedelta(minutes=r["utc_offset_minutes"])
        raw[(r["meter_uid"], local.date())] += r["value"]
    grid = {
        (r["meter_uid"], r["local_date"]): r["kwh"]
        for r in rows(
            world_conn,
            "select meter_uid, local_date, sum(kwh) as kwh from analytics.meter_intervals_15min "
            "where channel = 'net' and meter_uid in (?, ?, ?) group by all",
            world.COMMERCIAL,
            world.RESIDENTIAL,
            world.SOLAR,
        )
    }
    assert set(grid) == set(raw)
    for key, kwh in raw.items():
        assert grid[key] == pytest.approx(kwh, abs=TOLERANCE), key


def _day_slots(zone, day: date) -> int:
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    end = start + timedelta(days=1)
    return int((end.astimezone(UTC) - start.astimezone(UTC)) / timedelta(minutes=15))


@pytest.mark.parametrize(
    ("meter", "day", "slots"),
    [
        (world.COMMERCIAL, world.SPRING_FORWARD, 92),
        (world.COMMERCIAL, date(2024, 3, 9), 96),
        (world.RESIDENTIAL, world.FALL_BACK, 100),
        (world.RESIDENTIAL, date(2024, 11, 4), 96),
    ],
)
def test_dst_days_have_92_and_100_local_slots(world_conn, rows, meter, day, slots) -> None:
    assert _day_slots(LOS_ANGELES, day) == slots  # the zone agrees with the test's premise
    [usage] = rows(
        world_conn,
        "select * from analytics.meter_daily_usage "
        "where meter_uid = ? and channel = 'net' and local_date = ?",
        meter,
        day,
    )
    assert (usage["slots_expected"], usage["slots_present"]) == (slots, slots)
    assert usage["coverage"] == 1.0 and usage["is_complete"]
    grid = rows(
        world_conn,
        "select interval_start_local, utc_offset_minutes from analytics.meter_intervals_15min "
        "where meter_uid = ? and channel = 'net' and local_date = ? order by interval_start_at",
        meter,
        day,
    )
    assert len(grid) == slots
    assert grid[0]["interval_start_local"] == datetime(day.year, day.month, day.day)
    assert grid[-1]["interval_start_local"] == datetime(day.year, day.month, day.day, 23, 45)
    local_times = [g["interval_start_local"].strftime("%H:%M") for g in grid]
    if slots == 92:  # 01:45 PST is followed by 03:00 PDT, 15 minutes later
        assert local_times[7:9] == ["01:45", "03:00"]
    if slots == 100:  # 01:00-01:45 happen twice, first in PDT then in PST
        assert local_times[4:12] == ["01:00", "01:15", "01:30", "01:45"] * 2
        assert [g["utc_offset_minutes"] for g in grid[4:12]] == [-420] * 4 + [-480] * 4


def test_solar_net_equals_fwd_minus_rev(world_conn, rows) -> None:
    slots = rows(
        world_conn,
        "select interval_start_at, "
        "max(kwh) filter (where channel = 'net') as net, "
        "max(kwh) filter (where channel = 'fwd') as fwd, "
        "max(kwh) filter (where channel = 'rev') as rev "
        "from analytics.meter_intervals_15min where meter_uid = ? group by interval_start_at",
        world.SOLAR,
    )
    assert len(slots) == 3 * 96
    assert any(s["net"] < 0 for s in slots)  # the meter exports at midday
    for s in slots:
        assert s["net"] == pytest.approx(s["fwd"] - s["rev"], abs=TOLERANCE), s
    days = rows(
        world_conn,
        "select local_date, sum(kwh) filter (where channel = 'net') as net, "
        "sum(kwh) filter (where channel = 'fwd') as fwd, "
        "sum(kwh) filter (where channel = 'rev') as rev "
        "from analytics.meter_daily_usage where meter_uid = ? group by local_date",
        world.SOLAR,
    )
    for d in days:
        assert d["net"] == pytest.approx(d["fwd"] - d["rev"], abs=TOLERANCE), d


def test_demand_is_never_energy(world_conn, rows) -> None:
    raw = rows(world_conn, "select value from utilityapi.interval_readings where type = 'max'")
    raw_max = {r["value"] for r in raw}
    assert raw_max and min(raw_max) > 100  # the builders keep demand far from any kWh value
    for table in ("meter_intervals", "meter_intervals_15min", "meter_daily_usage"):
        [energy] = rows(
            world_conn,
            f"select max(kwh) as kwh, max(quantity) as quantity from analytics.{table}",
        )
        assert energy["kwh"] < 100 and energy["quantity"] < 100, table
    demand_channels = rows(
        world_conn,
        "select distinct meter_uid, channel from analytics.meter_intervals "
        "where demand_kw is not null",
    )
    assert demand_channels == [{"meter_uid": world.COMMERCIAL, "channel": "net"}]
    raw_peak = rows(
        world_conn,
        "select cast(start_at at time zone 'America/Los_Angeles' as date) as local_date, "
        "max(value) as peak from utilityapi.interval_readings "
        "where meter_uid = ? and type = 'max' group by all order by local_date",
        world.COMMERCIAL,
    )
    daily_peak = rows(
        world_conn,
        "select local_date, peak_demand_kw as peak from analytics.meter_daily_usage "
        "where meter_uid = ? and channel = 'net' order by local_date",
        world.COMMERCIAL,
    )
    assert daily_peak == raw_peak


def test_gas_keeps_therms_out_of_kwh(world_conn, rows) -> None:
    days = rows(
        world_conn,
        "select kwh, quantity, unit from analytics.meter_daily_usage where meter_uid = ?",
        world.GAS,
    )
    assert len(days) == 3
    assert all(d["kwh"] is None and d["unit"] == "therms" and d["quantity"] > 0 for d in days)
    [units] = rows(
        world_conn,
        "select count(*) filter (where kwh is not null) as with_kwh, "
        "list(distinct unit) as units from analytics.meter_intervals where meter_uid = ?",
        world.GAS,
    )
    assert units == {"with_kwh": 0, "units": ["therms"]}


def test_latest_publication_of_an_overlapping_chunk_wins(world_conn, rows) -> None:
    republished = world.mixed_republished()
    slots = rows(
        world_conn,
        "select interval_start_at, kwh, interval_uid from analytics.meter_intervals_15min "
        "where meter_uid = ? and interval_start_at >= ? and interval_start_at < ? "
        "order by interval_start_at",
        world.MIXED,
        la(2024, 1, 6, 12),
        la(2024, 1, 7, 12),
    )
    assert len(slots) == 96
    assert {s["interval_uid"] for s in slots} == {republished["uid"]}
    published = sorted(republished["readings"], key=lambda r: r["start"])
    assert [s["kwh"] for s in slots] == [r["datapoints"][0]["value"] for r in published]


def test_hourly_fill_in_never_double_counts(world_conn, rows) -> None:
    """Jan 7: 18:00 is covered by 15-minute data, 19:00 and 20:00 not at all, 21:00 half."""
    hour_18, hour_19, hour_20, hour_21 = world.FILL_IN_KWH
    intervals = rows(
        world_conn,
        "select interval_start_local, duration_minutes, kwh, is_partial, source_duration_minutes "
        "from analytics.meter_intervals where meter_uid = ? "
        "and interval_start_local >= ? and interval_start_local < ? order by interval_start_at",
        world.MIXED,
        datetime(2024, 1, 7, 18),
        datetime(2024, 1, 7, 22),
    )
    summary = [
        (r["interval_start_local"].strftime("%H:%M"), r["duration_minutes"], r["is_partial"])
        for r in intervals
    ]
    assert summary == (
        [(f"18:{m:02d}", 15, False) for m in (0, 15, 30, 45)]
        + [("19:00", 60, False), ("20:00", 60, False)]
        + [("21:00", 15, False), ("21:15", 15, False)]
        + [("21:30", 15, True), ("21:45", 15, True)]
    )
    assert [r["kwh"] for r in intervals[4:6]] == [hour_19, hour_20]
    assert [r["kwh"] for r in intervals[8:]] == [hour_21 / 4, hour_21 / 4]
    assert {r["source_duration_minutes"] for r in intervals[8:]} == {60}
    grid = rows(
        world_conn,
        "select kwh, is_spread, is_gap from analytics.meter_intervals_15min where meter_uid = ? "
        "and interval_start_local >= ? and interval_start_local < ? order by interval_start_at",
        world.MIXED,
        datetime(2024, 1, 7, 18),
        datetime(2024, 1, 7, 22),
    )
    assert len(grid) == 16 and not any(g["is_gap"] for g in grid)
    assert [g["is_spread"] for g in grid] == [False] * 4 + [True] * 8 + [False] * 2 + [True] * 2
    assert grid[4]["kwh"] == hour_19 / 4
    fifteen_minute = sum(r["kwh"] for r in intervals[:4]) + sum(r["kwh"] for r in intervals[6:8])
    assert sum(g["kwh"] for g in grid) == pytest.approx(
        fifteen_minute + hour_19 + hour_20 + hour_21 / 2, abs=TOLERANCE
    )
    assert hour_18 not in {r["kwh"] for r in intervals}


def test_gaps_are_explicit_rows(world_conn, rows) -> None:
    gaps = rows(
        world_conn,
        "select meter_uid, interval_start_local, kwh, demand_kw, is_spread "
        "from analytics.meter_intervals_15min where is_gap order by meter_uid, interval_start_at",
    )
    assert [(g["meter_uid"], g["interval_start_local"].strftime("%m-%d %H:%M")) for g in gaps] == (
        [(world.COMMERCIAL, f"03-11 10:{m:02d}") for m in (0, 15, 30, 45)]
        + [(world.DST_GAP, f"03-10 03:{m:02d}") for m in (0, 15, 30, 45)]
        + [(world.MIXED, f"01-08 03:{m:02d}") for m in (0, 15, 30, 45)]
    )
    assert all(g["kwh"] is None and g["demand_kw"] is None and not g["is_spread"] for g in gaps)
    [day] = rows(
        world_conn,
        "select slots_present, slots_missing, coverage, is_complete "
        "from analytics.meter_daily_usage where meter_uid = ? and local_date = ?",
        world.COMMERCIAL,
        date(2024, 3, 11),
    )
    assert day == {
        "slots_present": 92,
        "slots_missing": 4,
        "coverage": 92 / 96,
        "is_complete": False,
    }


def test_grid_runs_from_first_to_last_reading(world_conn, rows) -> None:
    spans = rows(
        world_conn,
        "select meter_uid, channel, min(interval_start_at) as first_at, "
        "max(interval_start_at) as last_at, count(*) as slots "
        "from analytics.meter_intervals_15min group by all",
    )
    for s in spans:
        assert s["slots"] == (s["last_at"] - s["first_at"]) / timedelta(minutes=15) + 1, s


def test_service_with_several_meters_counts_each_once(world_conn, rows) -> None:
    total = 0.0
    for i in range(96):
        total += world.usage_kwh(i, 15) + world.usage_kwh(i + 5, 15)
    [day] = rows(
        world_conn,
        "select kwh from analytics.meter_daily_usage where meter_uid = ?",
        world.MULTI,
    )
    assert day["kwh"] == pytest.approx(total, abs=TOLERANCE)


def test_gap_right_after_spring_forward_is_in_daylight_time(world_conn, rows) -> None:
    """The last reading before the gap ends at 03:00 PDT (-420): the gap slots continue from
    there, never at the non-existent 02:00-02:45 (-480)."""
    gap = rows(
        world_conn,
        "select strftime(interval_start_local, '%H:%M') as at, utc_offset_minutes as offset "
        "from analytics.meter_intervals_15min where meter_uid = ? and is_gap "
        "order by interval_start_at",
        world.DST_GAP,
    )
    assert gap == [{"at": f"03:{m:02d}", "offset": -420} for m in (0, 15, 30, 45)]
    [day] = rows(
        world_conn,
        "select slots_expected, slots_present from analytics.meter_daily_usage where meter_uid = ?",
        world.DST_GAP,
    )
    assert day == {"slots_expected": 92, "slots_present": 88}


def test_flagged_publication_marks_the_slots_it_wins(world_conn, rows) -> None:
    flagged = rows(
        world_conn,
        "select distinct interval_uid, quality_note_types from analytics.meter_intervals_15min "
        "where is_flagged",
    )
    assert flagged == [
        {"interval_uid": world.mixed_republished()["uid"], "quality_note_types": "interval_strange"}
    ]
    days = rows(
        world_conn,
        "select local_date, slots_flagged from analytics.meter_daily_usage "
        "where meter_uid = ? and slots_flagged > 0 order by local_date",
        world.MIXED,
    )
    # Jan 6 12:00 to Jan 7 12:00: 48 slots each day
    assert days == [
        {"local_date": date(2024, 1, 6), "slots_flagged": 48},
        {"local_date": date(2024, 1, 7), "slots_flagged": 48},
    ]
