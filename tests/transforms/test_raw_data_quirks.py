"""Odd raw data: what the models leave out, and what they do with tables that are not there."""

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
from tests.transforms.test_incremental import snapshot

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


def test_unusable_datapoints_are_left_out(loader: RawLoader, rows) -> None:
    loader.load([interval(ODD, _odd_readings())])
    transforms.run(loader.db_path)
    conn = duckdb.connect(str(loader.db_path), read_only=True)
    reasons = rows(
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
    grid = rows(
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
    assert rows(conn, "select distinct channel from analytics.meter_intervals order by 1") == [
        {"channel": "fwd"},
        {"channel": "net"},
    ]
    conn.close()


def test_session_time_zone_does_not_change_results(loader: RawLoader) -> None:
    loader.load(world.initial_intervals(), world.initial_bills())
    transforms.run(loader.db_path)
    in_utc = snapshot(loader.db_path)
    conn = duckdb.connect(str(loader.db_path))
    conn.execute("set TimeZone = 'Asia/Kathmandu'")  # +05:45: no UTC day or hour lines up
    transforms.run(conn, full_refresh=True)
    assert snapshot(conn) == in_utc
    conn.close()


def test_models_wait_for_their_raw_tables(loader: RawLoader) -> None:
    loader.load(world.initial_intervals())
    summary = transforms.run(loader.db_path)
    assert summary.skipped == {
        "stg_bills": "no table utilityapi.bills yet",
        "bill_reconciliation": "depends on skipped stg_bills",
    }
    assert "meter_daily_usage" in {m.name for m in summary.models}

    loader.load(bills=world.initial_bills())
    summary = transforms.run(loader.db_path)
    assert summary.mode == "full"
    assert summary.reason == "not built yet: stg_bills, bill_reconciliation"
    assert summary.skipped == {}
    assert summary.model("bill_reconciliation").rows_inserted == 4


def test_without_load_ids_every_run_is_a_full_one(tmp_path) -> None:
    from sources.utilityapi.readings import readings_table

    conn = duckdb.connect(str(tmp_path / "plain.duckdb"))
    conn.execute("create schema utilityapi")
    table = readings_table(
        [interval("m-1", series(LOS_ANGELES, date(2024, 1, 1), 1, 15, net_kwh()))]
    )
    conn.register("raw", table)
    conn.execute("create table utilityapi.interval_readings as select * from raw")
    assert transforms.run(conn).reason == "first run"
    summary = transforms.run(conn)
    assert summary.mode == "full"
    assert summary.reason == (
        "utilityapi.interval_readings has no _dlt_load_id column to find new rows by"
    )
    # the runner leaves the caller's connection free: no unfinished result, no transaction
    assert conn.sql("select count(*) from analytics.meter_daily_usage").fetchall() == [(1,)]
    conn.close()


def test_a_failing_model_keeps_the_previous_tables(loader: RawLoader, tmp_path) -> None:
    loader.load(world.initial_intervals(), world.initial_bills())
    transforms.run(loader.db_path)
    before = snapshot(loader.db_path)
    models_dir = tmp_path / "models"
    for model in transforms.project.load_models():
        target = models_dir / model.layer / model.path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        sql = model.sql.replace("sum(kwh) as kwh", "sum(no_such_column) as kwh")
        target.write_text(sql)
    with pytest.raises(transforms.TransformError, match="meter_daily_usage"):
        transforms.run(loader.db_path, models_dir=models_dir)
    assert snapshot(loader.db_path) == before


def test_first_and_last_day_of_a_series_count_the_whole_day(loader: RawLoader, rows) -> None:
    """Data from 06:00 on one day to 18:00 the next: both days still expect 96 slots."""
    readings = [
        r
        for r in series(LOS_ANGELES, date(2024, 2, 1), 2, 15, net_kwh())
        if "2024-02-01T06:00" <= r["start"] < "2024-02-02T18:00"
    ]
    loader.load([interval("m-part", readings)])
    transforms.run(loader.db_path)
    conn = duckdb.connect(str(loader.db_path), read_only=True)
    days = rows(
        conn,
        "select local_date, slots_expected, slots_present, coverage "
        "from analytics.meter_daily_usage order by local_date",
    )
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
    conn.close()
