"""Odd raw data: what the models leave out, what they do with tables that are not there yet,
and the dbt tests that fail loudly on data that would make numbers wrong."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import duckdb
import pytest

import transforms
from tests.transforms import world
from tests.transforms.builders import (
    LOS_ANGELES,
    RawLoader,
    datapoint,
    interval,
    net_kwh,
    reading,
    series,
)
from tests.transforms.conftest import fetch
from tests.transforms.snapshots import rounded, table, tables

ODD = "m-odd"


def _odd_readings() -> list[dict]:
    start = datetime(2024, 2, 1, tzinfo=LOS_ANGELES)
    at = [start + timedelta(minutes=15 * i) for i in range(8)]
    return [
        # the hand-edited shape seen in the wild: a `max` in kWh is neither energy nor kW demand
        reading(at[0], 15, [datapoint("net", "kwh", 0.5), datapoint("max", "kwh", 777.0)]),
        # legacy reading: only the `kwh` field, no datapoints
        {**reading(at[1], 15, []), "kwh": 0.25},
        reading(at[2], 15, [datapoint("net", "kwh", None)]),
        reading(at[3], 15, [datapoint("other", "kwh", 5.0), datapoint("net", "kwh", 0.5)]),
        # 5-minute data is not on the 15-minute grid
        reading(at[4], 5, [datapoint("net", "kwh", 0.1)]),
        reading(at[5], 15, [datapoint("net", "kw", 9.0), datapoint("fwd", "kwh", 0.5)]),
        reading(at[6], 15, [datapoint("net", "kwh", 0.5)]),
    ]


def test_unusable_datapoints_are_left_out(loader: RawLoader) -> None:
    loader.load([interval(ODD, _odd_readings())])
    transforms.run(loader.pipeline)
    conn = duckdb.connect(str(loader.db_path), read_only=True)
    reasons = fetch(
        conn,
        "select exclusion_reason, count(*) as n from analytics.stg_interval_readings "
        "where exclusion_reason is not null group by all order by all",
    )
    assert reasons == [
        {"exclusion_reason": "not on the 15-minute grid", "n": 1},
        {"exclusion_reason": "null value", "n": 1},
        {"exclusion_reason": "unit does not fit the datapoint type", "n": 2},
        {"exclusion_reason": "unsupported datapoint type", "n": 1},
    ]
    grid = fetch(
        conn,
        "select strftime(interval_start_local, '%H:%M') as at, kwh, demand_kw, is_gap "
        "from analytics.meter_intervals_15min where meter_uid = ? and channel = 'net' "
        "order by interval_start_at",
        ODD,
    )
    assert grid == [
        {"at": "00:00", "kwh": 0.5, "demand_kw": None, "is_gap": False},
        {"at": "00:15", "kwh": 0.25, "demand_kw": None, "is_gap": False},
        {"at": "00:30", "kwh": None, "demand_kw": None, "is_gap": True},
        {"at": "00:45", "kwh": 0.5, "demand_kw": None, "is_gap": False},
        {"at": "01:00", "kwh": None, "demand_kw": None, "is_gap": True},
        {"at": "01:15", "kwh": None, "demand_kw": None, "is_gap": True},
        {"at": "01:30", "kwh": 0.5, "demand_kw": None, "is_gap": False},
    ]
    assert fetch(conn, "select distinct channel from analytics.meter_intervals order by 1") == [
        {"channel": "fwd"},
        {"channel": "net"},
    ]
    conn.close()


def test_session_time_zone_does_not_change_results(
    built: RawLoader, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_utc = {name: rounded(rows) for name, rows in tables(built.pipeline).items()}
    # dbt's DuckDB session takes the process's zone: +05:45, no UTC day or hour lines up
    monkeypatch.setenv("TZ", "Asia/Kathmandu")
    transforms.run(built.pipeline, full_refresh=True)
    monkeypatch.delenv("TZ")
    assert {name: rounded(rows) for name, rows in tables(built.pipeline).items()} == in_utc


def test_missing_raw_tables_build_empty_models(loader: RawLoader) -> None:
    """No bills, meters or interval objects loaded yet: their models are empty, not errors,
    and the first run that finds them fills them in."""
    loader.load(world.initial_intervals(), with_objects=False)
    first = transforms.run(loader.pipeline)
    assert {m.status for m in first.models} == {"success"}
    assert table(loader.pipeline, "bill_reconciliation") == []
    assert {r["time_zone_status"] for r in table(loader.pipeline, "meter_time_zones")} == {
        "unknown_utility"
    }
    assert not any(r["is_flagged"] for r in table(loader.pipeline, "meter_intervals_15min"))

    loader.load(world.initial_intervals(), world.initial_bills(), world.initial_meters())
    second = transforms.run(loader.pipeline)
    assert second.mode == "incremental"
    assert len(table(loader.pipeline, "bill_reconciliation")) == 4
    assert any(r["is_flagged"] for r in table(loader.pipeline, "meter_intervals_15min"))


def test_meters_loaded_alone_build_empty_models(loader: RawLoader) -> None:
    """`uapi load --resources meters` into a new warehouse: no readings table exists yet, so
    the tests declared on it have nothing to test and the models are empty, not errors."""
    loader.load(meters=world.initial_meters())
    result = transforms.run(loader.pipeline)
    assert {m.status for m in result.models} == {"success"}
    assert table(loader.pipeline, "meter_intervals_15min") == []
    assert table(loader.pipeline, "meter_daily_usage") == []

    loader.load(world.initial_intervals())
    second = transforms.run(loader.pipeline)
    assert {m.status for m in second.models} == {"success"}
    assert any(t.name.startswith("source_") for t in second.tests)  # tested once it exists
    assert table(loader.pipeline, "meter_daily_usage")


def test_first_and_last_day_of_a_series_count_the_whole_day(loader: RawLoader) -> None:
    """Data from 06:00 on one day to 18:00 the next: both days still expect 96 slots."""
    readings = [
        r
        for r in series(LOS_ANGELES, date(2024, 2, 1), 2, 15, net_kwh())
        if "2024-02-01T06:00" <= r["start"] < "2024-02-02T18:00"
    ]
    loader.load([interval("m-part", readings)])
    transforms.run(loader.pipeline)
    days = [
        {k: d[k] for k in ("local_date", "slots_expected", "slots_present", "coverage")}
        for d in table(loader.pipeline, "meter_daily_usage")
    ]
    assert days == [
        {
            "local_date": date(2024, 2, 1),
            "slots_expected": 96,
            "slots_present": 72,
            "coverage": 0.75,
        },
        {
            "local_date": date(2024, 2, 2),
            "slots_expected": 96,
            "slots_present": 72,
            "coverage": 0.75,
        },
    ]
