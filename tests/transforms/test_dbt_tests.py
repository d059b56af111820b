"""The dbt tests fail on data that would make the numbers wrong, and a failure is loud."""

from __future__ import annotations

import copy
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

import transforms
from tests.transforms import world
from tests.transforms.builders import LOS_ANGELES, RawLoader, interval, meter, net_kwh, series
from tests.transforms.snapshots import rounded, table

BROKEN = "m-broken-dst"


def test_every_dbt_test_passes_on_the_world(world_build) -> None:
    _, result = world_build
    assert len(result.tests) >= 40
    assert {t.status for t in result.tests} == {"pass"}, [
        (t.name, t.status) for t in result.tests if t.status != "pass"
    ]
    singular = {
        "daily_net_kwh_equals_raw_net_kwh",
        "dst_days_have_the_length_of_their_zone",
        "max_is_never_energy",
        "latest_publication_wins",
    }
    assert singular <= {t.name for t in result.tests}
    assert result.warnings == []


def test_complete_hours_test_finds_an_hour_that_disagrees_with_its_slots(built: RawLoader) -> None:
    # the SQL dbt ran for the test in the world's full build, run again on tampered hours
    compiled = Path(built.pipeline.working_dir) / "dbt" / "compiled" / "uapi" / "tests"
    sql = (compiled / "complete_hours_equal_their_15_minute_slots.sql").read_text()

    def complete_hour(n: int) -> str:
        return (
            "(meter_uid, channel, hour_start_at) = (select (meter_uid, channel, hour_start_at) "
            "from analytics.meter_hourly_usage where is_complete_hour and kwh is not null "
            f"order by all limit 1 offset {n})"
        )

    with duckdb.connect(str(built.db_path)) as conn:
        assert conn.execute(sql).fetchall() == []
        conn.execute(
            f"update analytics.meter_hourly_usage set kwh = kwh + 0.001 where {complete_hour(0)}"
        )
        assert len(conn.execute(sql).fetchall()) == 1
        # an hour that starts 15 minutes late holds three of its slots and one of the next hour
        conn.execute(
            "update analytics.meter_hourly_usage "
            f"set hour_start_at = hour_start_at + interval 15 minute where {complete_hour(5)}"
        )
        assert len(conn.execute(sql).fetchall()) == 2


def test_latest_publication_test_finds_an_older_winner_in_an_incremental_run(
    built: RawLoader,
) -> None:
    # the SQL dbt ran for the test in an incremental run (the run's meter-days only), run again
    # with the winners of the re-published slots made older than the readings they beat
    built.load(world.second_load_intervals())  # a later correction of a day of MIXED
    result = transforms.run(built.pipeline)
    assert result.mode == "incremental" and world.MIXED in result.meters_recomputed
    compiled = Path(built.pipeline.working_dir) / "dbt" / "compiled" / "uapi" / "tests"
    sql = (compiled / "latest_publication_wins.sql").read_text()
    corrected = (
        "meter_uid = ? and interval_updated_at = (select max(interval_updated_at) "
        "from analytics.meter_intervals_15min where meter_uid = ?)"
    )

    with duckdb.connect(str(built.db_path)) as conn:
        assert conn.execute(sql).fetchall() == []
        conn.execute(
            "update analytics.meter_intervals_15min "
            f"set interval_updated_at = interval_updated_at - interval 30 day where {corrected}",
            [world.MIXED, world.MIXED],
        )
        found = conn.execute(sql).fetchall()
    # the slots the correction re-published, all in the run's meter-days of MIXED
    [scope] = [s for s in result.scope if s.meter_uid == world.MIXED]
    assert found and {row[0] for row in found} == {world.MIXED}
    days = {row[2].date() for row in found}
    assert scope.from_local_date <= min(days) and max(days) <= scope.to_local_date


def test_a_duplicated_raw_reading_warns_and_never_doubles_kwh(built: RawLoader) -> None:
    before = rounded(table(built.pipeline, "meter_daily_usage"))
    gas = [o for o in world.initial_intervals() if o["meter_uid"] == world.GAS]
    built.append_copies(gas)
    raw = table(built.pipeline, "interval_readings", schema="utilityapi")
    assert len(raw) > len(
        {(r["interval_uid"], r["start_at"], r["type"], r["meter_number"]) for r in raw}
    )

    result = transforms.run(built.pipeline)

    [duplicates] = [t for t in result.tests if t.name.startswith("source_unique_combination")]
    assert (duplicates.status, duplicates.failures) == ("warn", 72)
    warning = (
        "utilityapi.interval_readings holds 72 datapoint key(s) (interval_uid, start_at, type, "
        "meter_number) loaded more than once; only the copy of the newest load is used"
    )
    assert result.warnings == [warning]
    assert rounded(table(built.pipeline, "meter_daily_usage")) == before

    # the next incremental run checks only the objects its own loads brought (other meters):
    # the copies were reported by the run that took them in
    built.load(world.second_load_intervals())
    later = transforms.run(built.pipeline)
    assert later.mode == "incremental" and world.GAS not in later.meters_recomputed
    assert later.warnings == []
    # a load that copies one of those objects once more reports that object's copies
    built.append_copies(gas[:1])
    [again] = [t for t in transforms.run(built.pipeline).tests if t.name == duplicates.name]
    assert (again.status, again.failures) == ("warn", len(_datapoints(gas[0])))
    # and a full build checks every raw row
    assert transforms.run(built.pipeline, full_refresh=True).warnings == [warning]


def _datapoints(interval_object: dict) -> list[dict]:
    return [d for reading in interval_object["readings"] for d in reading["datapoints"]]


def test_of_two_copies_of_a_reading_the_newest_load_counts(built: RawLoader) -> None:
    def gas_quantity() -> float:
        rows = table(built.pipeline, "meter_daily_usage")
        return sum(r["quantity"] or 0.0 for r in rows if r["meter_uid"] == world.GAS)

    before = gas_quantity()
    gas = copy.deepcopy([o for o in world.initial_intervals() if o["meter_uid"] == world.GAS])
    for obj in gas:
        for reading in obj["readings"]:
            for datapoint in reading["datapoints"]:
                datapoint["value"] = datapoint["value"] * 3
    built.append_copies(gas)  # a later load holding other values for the same keys

    transforms.run(built.pipeline)

    assert before > 0
    assert gas_quantity() == pytest.approx(3 * before)


def _broken_spring_forward() -> dict:
    """Mar 10 published with the winter offset all day, as if DST never started."""
    readings = series(LOS_ANGELES, world.SPRING_FORWARD, 3, 15, net_kwh())
    for r in readings:
        if r["start"].startswith("2024-03-10"):
            for key in ("start", "end"):
                moment = datetime.fromisoformat(r[key])
                r[key] = moment.astimezone(LOS_ANGELES).replace(tzinfo=None).isoformat() + "-08:00"
    return interval(BROKEN, readings)


def test_a_broken_dst_day_fails_the_transform(built: RawLoader) -> None:
    processed = table(built.pipeline, "int_loads_processed")
    built.load([_broken_spring_forward()], meters=[meter(BROKEN, "PG&E")])

    with pytest.raises(transforms.TransformError, match="dst_days_have_the_length_of_their_zone"):
        transforms.run(built.pipeline)

    # the failing test stopped everything downstream of meter_daily_usage: the loads stay
    # pending, so the next run (after a fix or a reload) recomputes the same days
    with duckdb.connect(str(built.db_path), read_only=True) as conn:
        [(zone_status, mismatches)] = conn.execute(
            "select time_zone_status, offset_mismatches from analytics.meter_time_zones "
            "where meter_uid = ?",
            [BROKEN],
        ).fetchall()
    assert zone_status == "offset_mismatch" and mismatches > 0
    assert table(built.pipeline, "int_loads_processed") == processed
    with pytest.raises(transforms.TransformError):  # still pending: tried, and failing, again
        transforms.run(built.pipeline)


def test_a_failing_build_keeps_its_tables_and_the_loads_pending(built: RawLoader, capsys) -> None:
    processed = table(built.pipeline, "int_loads_processed")
    slots = rounded(table(built.pipeline, "meter_intervals_15min"))
    built.load(world.second_load_intervals())
    # a raw column that changed type under the models, with values that are no numbers: the
    # staging cast to the declared type fails (numeric text alone would be cast back and pass),
    # first where this incremental run stages the raw rows: the staging view's grain test,
    # which stages its meter-days' raw rows (stages_raw_readings) and runs before the models
    # that read the view; that stops every model downstream
    with duckdb.connect(str(built.db_path)) as conn:
        conn.execute("alter table utilityapi.interval_readings alter value type varchar")
        conn.execute(
            "update utilityapi.interval_readings set value = 'n/a' where _dlt_load_id = "
            "(select max(_dlt_load_id) from utilityapi.interval_readings)"
        )

    with pytest.raises(
        transforms.TransformError, match="test unique_combination_stg_interval_readings_"
    ) as error:
        transforms.run(built.pipeline)

    assert "Could not convert string 'n/a'" in str(error.value)
    # dbt runs in this process: its error output goes to stderr, stdout is the CLI's (--json)
    captured = capsys.readouterr()
    assert captured.out == "" and "Could not convert string 'n/a'" in captured.err
    assert error.value.result is not None
    statuses = {m.name: m.status for m in error.value.result.models}
    assert statuses["meter_intervals_15min"] == statuses["meter_daily_usage"] == "skipped"
    assert rounded(table(built.pipeline, "meter_intervals_15min")) == slots
    assert table(built.pipeline, "int_loads_processed") == processed


def test_a_failing_model_keeps_its_table_and_the_loads_pending(built: RawLoader) -> None:
    processed = table(built.pipeline, "int_loads_processed")
    built.load(world.second_load_intervals())
    # a column of an incremental model's table changed type under it (by hand): the model
    # refuses to write into it (on_schema_change='fail')
    with duckdb.connect(str(built.db_path)) as conn:
        conn.execute("alter table analytics.meter_intervals_15min alter quantity type varchar")
    slots = rounded(table(built.pipeline, "meter_intervals_15min"))

    with pytest.raises(
        transforms.TransformError, match="model meter_intervals_15min failed"
    ) as error:
        transforms.run(built.pipeline)

    assert error.value.result is not None
    statuses = {m.name: m.status for m in error.value.result.models}
    assert statuses["meter_intervals_15min"] == "error"
    assert statuses["meter_daily_usage"] == "skipped"
    assert rounded(table(built.pipeline, "meter_intervals_15min")) == slots
    assert table(built.pipeline, "int_loads_processed") == processed
