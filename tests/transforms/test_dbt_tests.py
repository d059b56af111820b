"""The dbt tests fail on data that would make the numbers wrong, and a failure is loud."""

from __future__ import annotations

from datetime import datetime

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


def test_a_duplicated_raw_reading_warns_and_never_doubles_kwh(loader: RawLoader) -> None:
    loader.load(world.initial_intervals(), world.initial_bills(), world.initial_meters())
    transforms.run(loader.pipeline)
    before = rounded(table(loader.pipeline, "meter_daily_usage"))
    gas = [o for o in world.initial_intervals() if o["meter_uid"] == world.GAS]
    loader.append_copies(gas)
    raw = table(loader.pipeline, "interval_readings", schema="utilityapi")
    assert len(raw) > len(
        {(r["interval_uid"], r["start_at"], r["type"], r["meter_number"]) for r in raw}
    )

    result = transforms.run(loader.pipeline)

    [duplicates] = [t for t in result.tests if t.name.startswith("source_unique_combination")]
    assert (duplicates.status, duplicates.failures) == ("warn", 72)
    assert result.warnings == [
        "utilityapi.interval_readings holds 72 datapoint key(s) (interval_uid, start_at, type, "
        "meter_number) loaded more than once; only the copy of the newest load is used"
    ]
    assert rounded(table(loader.pipeline, "meter_daily_usage")) == before


def _broken_spring_forward() -> dict:
    """Mar 10 published with the winter offset all day, as if DST never started."""
    readings = series(LOS_ANGELES, world.SPRING_FORWARD, 3, 15, net_kwh())
    for r in readings:
        if r["start"].startswith("2024-03-10"):
            for key in ("start", "end"):
                moment = datetime.fromisoformat(r[key])
                r[key] = moment.astimezone(LOS_ANGELES).replace(tzinfo=None).isoformat() + "-08:00"
    return interval(BROKEN, readings)


def test_a_broken_dst_day_fails_the_transform(loader: RawLoader) -> None:
    loader.load(world.initial_intervals(), world.initial_bills(), world.initial_meters())
    transforms.run(loader.pipeline)
    processed = table(loader.pipeline, "int_loads_processed")
    loader.load([_broken_spring_forward()], meters=[meter(BROKEN, "PG&E")])

    with pytest.raises(transforms.TransformError, match="dst_days_have_the_length_of_their_zone"):
        transforms.run(loader.pipeline)

    # the failing test stopped everything downstream of meter_daily_usage: the loads stay
    # pending, so the next run (after a fix or a reload) recomputes the same days
    with duckdb.connect(str(loader.db_path), read_only=True) as conn:
        [(zone_status, mismatches)] = conn.execute(
            "select time_zone_status, offset_mismatches from analytics.meter_time_zones "
            "where meter_uid = ?",
            [BROKEN],
        ).fetchall()
    assert zone_status == "offset_mismatch" and mismatches > 0
    assert table(loader.pipeline, "int_loads_processed") == processed
    with pytest.raises(transforms.TransformError):  # still pending: tried, and failing, again
        transforms.run(loader.pipeline)


def test_a_failing_model_keeps_its_table_and_the_loads_pending(loader: RawLoader) -> None:
    loader.load(world.initial_intervals(), world.initial_bills(), world.initial_meters())
    transforms.run(loader.pipeline)
    processed = table(loader.pipeline, "int_loads_processed")
    slots = rounded(table(loader.pipeline, "int_slots_resolved"))
    loader.load(world.second_load_intervals())
    # a raw column that changed type under the models: values no longer add up
    with duckdb.connect(str(loader.db_path)) as conn:
        conn.execute("alter table utilityapi.interval_readings alter value type varchar")

    with pytest.raises(transforms.TransformError, match="model int_slots_resolved failed") as error:
        transforms.run(loader.pipeline)

    assert error.value.result is not None
    statuses = {m.name: m.status for m in error.value.result.models}
    assert statuses["int_slots_resolved"] == "error"
    assert statuses["meter_daily_usage"] == "skipped"
    assert rounded(table(loader.pipeline, "int_slots_resolved")) == slots
    assert table(loader.pipeline, "int_loads_processed") == processed
