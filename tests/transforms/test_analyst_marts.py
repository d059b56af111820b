"""The tables analysts take straight into their tools: hourly usage, monthly peaks, solar days,
time zones. Each is checked against the 15-minute table or the raw offsets directly."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.transforms import world


def test_complete_hours_sum_exactly_to_their_15_minute_slots(world_conn, rows) -> None:
    slots = defaultdict(list)
    for s in rows(
        world_conn,
        "select meter_uid, channel, interval_start_at, interval_start_local, utc_offset_minutes, "
        "kwh, is_gap from analytics.meter_intervals_15min",
    ):
        hour = s["interval_start_local"].replace(minute=0)
        slots[(s["meter_uid"], s["channel"], hour, s["utc_offset_minutes"])].append(s)
    hours = rows(world_conn, "select * from analytics.meter_hourly_usage")
    assert len(hours) == len(slots)
    complete = 0
    for h in hours:
        key = (h["meter_uid"], h["channel"], h["hour_start_local"], h["utc_offset_minutes"])
        mine = slots[key]
        is_complete = len(mine) == 4 and not any(s["is_gap"] for s in mine)
        assert h["is_complete_hour"] == is_complete, key
        first = min(s["interval_start_at"] for s in mine)
        assert h["hour_start_at"] == first - timedelta(minutes=first.minute % 60), key
        if is_complete and h["kwh"] is not None:
            complete += 1
            assert h["kwh"] == pytest.approx(sum(s["kwh"] for s in mine), abs=1e-12), key
    assert complete > 500


def test_fall_back_hour_comes_twice(world_conn, rows) -> None:
    hours = rows(
        world_conn,
        "select strftime(hour_start_local, '%H:%M') as at, utc_offset_minutes as offset, "
        "is_complete_hour from analytics.meter_hourly_usage "
        "where meter_uid = ? and local_date = ? order by hour_start_at",
        world.RESIDENTIAL,
        world.FALL_BACK,
    )
    assert len(hours) == 25
    assert hours[1:3] == [
        {"at": "01:00", "offset": -420, "is_complete_hour": True},
        {"at": "01:00", "offset": -480, "is_complete_hour": True},
    ]


def test_monthly_peaks_match_the_15_minute_table(world_conn, rows) -> None:
    expected: dict[tuple, dict] = {}
    for s in rows(
        world_conn,
        "select meter_uid, local_date, demand_kw, kwh, is_gap, is_spread, "
        "source_duration_minutes, interval_start_at from analytics.meter_intervals_15min "
        "where channel = 'net' order by interval_start_at",
    ):
        key = (s["meter_uid"], s["local_date"].replace(day=1))
        month = expected.setdefault(key, {"demand": None, "energy": None, "at": {}})
        if s["demand_kw"] is not None and (
            month["demand"] is None or s["demand_kw"] > month["demand"]
        ):
            month["demand"], month["at"]["demand"] = s["demand_kw"], s["interval_start_at"]
        whole = not s["is_gap"] and not s["is_spread"] and s["source_duration_minutes"] == 15
        if whole and s["kwh"] is not None:
            kw = s["kwh"] * 4
            if month["energy"] is None or kw > month["energy"]:
                month["energy"], month["at"]["energy"] = kw, s["interval_start_at"]
    peaks = {
        (p["meter_uid"], p["month_start_local"]): p
        for p in rows(world_conn, "select * from analytics.meter_monthly_peaks")
    }
    assert set(peaks) == set(expected)
    methods = {}
    for key, month in expected.items():
        peak = peaks[key]
        if month["demand"] is not None:
            want = ("reported_demand", month["demand"], month["at"]["demand"])
        elif month["energy"] is not None:
            want = ("interval_energy", month["energy"], month["at"]["energy"])
        else:
            want = ("unavailable", None, None)
        got = (peak["peak_method"], peak["peak_kw"], peak["peak_interval_start_at"])
        assert got[0] == want[0] and got[2] == want[2], key
        assert (
            got[1] == pytest.approx(want[1], abs=1e-12) if want[1] is not None else got[1] is None
        )
        methods[key[0]] = got[0]
    assert methods[world.COMMERCIAL] == "reported_demand"  # the utility publishes `max` kW
    assert methods[world.SOLAR] == "interval_energy"
    assert methods[world.RESIDENTIAL] == "unavailable"  # hourly data: no 15-minute peak
    assert methods[world.GAS] == "unavailable"  # therms


def test_solar_days_show_import_and_export(world_conn, rows) -> None:
    days = rows(world_conn, "select * from analytics.meter_daily_solar order by local_date")
    assert {d["meter_uid"] for d in days} == {world.SOLAR}
    assert [d["local_date"] for d in days] == [date(2024, 6, d) for d in (1, 2, 3)]
    for d in days:
        assert d["export_kwh"] > 0 and d["import_kwh"] > 0 and d["is_complete"]
        assert d["net_kwh"] == pytest.approx(d["import_kwh"] - d["export_kwh"], abs=1e-9)
        assert d["time_zone"] == "America/Los_Angeles"


def test_every_meter_has_a_zone_its_offsets_agree_with(world_conn, rows) -> None:
    zones = {
        z["meter_uid"]: z for z in rows(world_conn, "select * from analytics.meter_time_zones")
    }
    assert {m: z["time_zone"] for m, z in zones.items()} == {
        m: {"EVRSRCMA": "America/New_York"}.get(u, "America/Los_Angeles")
        for m, u in world.UTILITIES.items()
    }
    # every raw reading's published offset, against the zone in Python's own tz database
    for r in rows(
        world_conn,
        "select distinct meter_uid, start_at, utc_offset_minutes from utilityapi.interval_readings",
    ):
        zone = ZoneInfo(zones[r["meter_uid"]]["time_zone"])
        offset = r["start_at"].astimezone(UTC).astimezone(zone).utcoffset()
        assert offset == timedelta(minutes=r["utc_offset_minutes"]), r
    assert {z["time_zone_status"] for z in zones.values()} == {"ok"}
    assert all(z["offset_mismatches"] == 0 for z in zones.values())
    assert all(z["readings_checked"] > 0 for m, z in zones.items() if m != world.NO_DATA)
    tz = rows(
        world_conn,
        "select distinct meter_uid, time_zone from analytics.meter_intervals_15min "
        "where meter_uid = ?",
        world.GAS,
    )
    assert tz == [{"meter_uid": world.GAS, "time_zone": "America/New_York"}]


def test_a_utility_without_a_zone_is_never_guessed(loader, rows) -> None:
    import transforms
    from tests.transforms.builders import meter

    loader.load(world.initial_intervals()[:2], meters=[meter(world.COMMERCIAL, "PacifiCorp")])
    transforms.run(loader.pipeline)
    import duckdb

    with duckdb.connect(str(loader.db_path), read_only=True) as conn:
        [zone] = rows(conn, "select * from analytics.meter_time_zones")
        daily = rows(conn, "select distinct time_zone from analytics.meter_daily_usage")
    assert (zone["time_zone"], zone["time_zone_status"]) == (None, "unknown_utility")
    assert daily == [{"time_zone": None}]


def test_a_forged_offset_is_flagged(loader, rows) -> None:
    import duckdb

    import transforms
    from tests.transforms.builders import meter

    objects = [o for o in world.initial_intervals() if o["meter_uid"] == world.SOLAR]
    loader.load(objects, meters=[meter(world.SOLAR, "COMED")])  # Chicago: two hours off
    transforms.run(loader.pipeline)
    with duckdb.connect(str(loader.db_path), read_only=True) as conn:
        [zone] = rows(conn, "select * from analytics.meter_time_zones")
    assert (zone["time_zone"], zone["time_zone_status"]) == ("America/Chicago", "offset_mismatch")
    assert zone["offset_mismatches"] == zone["readings_checked"] == 3 * 96
