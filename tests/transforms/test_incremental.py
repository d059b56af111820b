"""Incremental runs: recompute what new loads touch, agree with a full rebuild, change nothing
when nothing is new."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import dlt
import duckdb
import pytest

import transforms
from tests.transforms import world
from tests.transforms.builders import (
    LOS_ANGELES,
    OBJECT_COLUMNS,
    PUBLISHED,
    RawLoader,
    interval,
    interval_object_row,
    meter,
    net_kwh,
    reading,
    series,
)
from tests.transforms.snapshots import MARTS, METER_DAY_MODELS, rounded, table, tables


def comparable(loader: RawLoader) -> dict[str, list[dict]]:
    return {name: rounded(rows) for name, rows in tables(loader.pipeline).items()}


@pytest.fixture
def loaded(built: RawLoader) -> RawLoader:
    """The world loaded and built in full by a first run (a copy of the session's)."""
    return built


def test_incremental_run_recomputes_only_what_the_load_touched(loaded: RawLoader) -> None:
    before = comparable(loaded)
    loaded.load(world.second_load_intervals(), world.second_load_bills())

    result = transforms.run(loaded.pipeline)

    assert result.mode == "incremental"
    scope = {s.meter_uid: (s.from_local_date, s.to_local_date) for s in result.scope}
    assert scope == {
        # a new day, Mar 16, after days without data: Mar 13-15 become gap rows
        world.COMMERCIAL: (date(2024, 3, 12), date(2024, 3, 17)),
        # corrections on Jan 6 and a re-fetched Jan 8 object: two days of context before
        world.MIXED: (date(2024, 1, 4), date(2024, 1, 9)),
        # backfill of May 29: the gap to the known Jun 1 is filled with gap rows
        world.SOLAR: (date(2024, 5, 27), date(2024, 6, 1)),
    }
    assert result.meters_recomputed == sorted(scope)
    assert result.meter_days == 6 + 6 + 6
    after = comparable(loaded)
    for name, day_column in METER_DAY_MODELS.items():
        old, new = after_set(before[name]), after_set(after[name])
        changed = (old - new) | (new - old)
        assert changed, name
        for row in changed:
            meter, day = dict(row)["meter_uid"], dict(row)[day_column]
            assert meter in scope and scope[meter][0] <= day <= scope[meter][1], (name, row)
    rewritten_bills = {
        dict(r)["bill_uid"]
        for r in after_set(after["bill_reconciliation"]) - after_set(before["bill_reconciliation"])
    }
    assert rewritten_bills <= {
        "bill-m-com15-2024-03-08",  # its meter's days were recomputed
        "bill-m-com15-2024-03-12",  # new
        "bill-m-gas-2024-01-13",  # new, though the gas meter had no new readings
    }
    assert {"bill-m-com15-2024-03-12", "bill-m-gas-2024-01-13"} <= rewritten_bills

    rebuilt = transforms.run(loaded.pipeline, full_refresh=True)
    assert (rebuilt.mode, rebuilt.reason) == ("full", "full refresh requested")
    assert comparable(loaded) == after


def test_time_zone_checks_are_recomputed_only_for_the_meters_the_load_touched(
    loaded: RawLoader,
) -> None:
    """Every reading of a meter is checked against its zone; an incremental run reads again
    only the meters with new readings (or a new utility or zone), so its cost follows the load
    and not the history. The other meters' rows are left as earlier runs wrote them: marked
    here, the marks survive."""
    with duckdb.connect(str(loaded.db_path)) as con:
        con.execute("update analytics.meter_time_zones set readings_checked = -1")
    loaded.load(world.second_load_intervals(), world.second_load_bills())

    result = transforms.run(loaded.pipeline)

    assert result.mode == "incremental"
    checked = {
        r["meter_uid"]: r["readings_checked"] for r in table(loaded.pipeline, "meter_time_zones")
    }
    touched = {world.COMMERCIAL, world.MIXED, world.SOLAR}
    assert touched == set(result.meters_recomputed)
    assert all(checked[meter] > 0 for meter in touched), checked
    assert {meter for meter, count in checked.items() if count == -1} == set(checked) - touched


def after_set(rows: list[dict]) -> set[tuple]:
    return {tuple(sorted(row.items())) for row in rows}


def test_incremental_result_matches_the_rules(loaded: RawLoader) -> None:
    """The re-fetched Jan 8 object replaced its earlier rows: doubled values, no leftovers."""
    loaded.load(world.second_load_intervals(), world.second_load_bills())
    transforms.run(loaded.pipeline)
    conn = duckdb.connect(str(loaded.db_path), read_only=True)
    [day] = conn.execute(
        "select kwh, slots_present, slots_expected from analytics.meter_daily_usage "
        "where meter_uid = ? and local_date = ?",
        [world.MIXED, date(2024, 1, 8)],
    ).fetchall()
    jan_8 = [r for r in world.mixed() if r["start"].startswith("2024-01-08")]
    assert day[0] == pytest.approx(2 * sum(r["datapoints"][0]["value"] for r in jan_8), abs=1e-9)
    assert day[1:] == (92, 96)
    gap_days = conn.execute(
        "select local_date, slots_present, slots_missing from analytics.meter_daily_usage "
        "where meter_uid = ? and local_date > ? order by local_date",
        [world.COMMERCIAL, date(2024, 3, 12)],
    ).fetchall()
    assert gap_days == [
        (date(2024, 3, 13), 0, 96),
        (date(2024, 3, 14), 0, 96),
        (date(2024, 3, 15), 0, 96),
        (date(2024, 3, 16), 96, 0),
    ]
    conn.close()


def test_running_again_without_a_load_is_a_noop(loaded: RawLoader) -> None:
    before = comparable(loaded)
    result = transforms.run(loaded.pipeline)
    assert (result.mode, result.scope, result.models) == ("noop", [], [])
    assert comparable(loaded) == before

    loaded.load(world.second_load_intervals(), world.second_load_bills())
    assert transforms.run(loaded.pipeline).mode == "incremental"
    after_load = comparable(loaded)
    assert transforms.run(loaded.pipeline).mode == "noop"
    assert comparable(loaded) == after_load


def test_a_load_that_changed_nothing_the_models_read_skips_the_build(loaded: RawLoader) -> None:
    """A scheduled run that found nothing new still merges the meter listing again (and rows
    of tables no model reads): no build, no table touched, and its load is taken in by the
    next run that brings rows."""
    before = comparable(loaded)
    loaded.load(meters=world.initial_meters())
    loaded.pipeline.run(dlt.resource([{"uid": "auth-x", "status": "ok"}], name="authorizations"))

    result = transforms.run(loaded.pipeline)

    assert (result.mode, result.models) == ("noop", [])
    assert result.reason == "the 2 load(s) since the last run brought nothing the models read"
    assert comparable(loaded) == before
    loaded.load(world.second_load_intervals())
    assert transforms.run(loaded.pipeline).mode == "incremental"
    processed = {p["load_id"] for p in table(loaded.pipeline, "int_loads_processed")}
    loads = table(loaded.pipeline, "_dlt_loads", schema="utilityapi")
    assert processed == {load["load_id"] for load in loads if load["status"] == 0}


@pytest.mark.parametrize("what", ["bills", "objects", "utility"])
def test_a_load_of_rows_the_models_read_is_built_and_agrees_with_a_full_build(
    loaded: RawLoader, what: str
) -> None:
    """Bills alone, an Interval object alone (its notes changed), a meter that changed
    utility: each changes analytics tables, so each is an incremental run, which must give
    what a full build gives."""
    before = comparable(loaded)
    if what == "bills":
        loaded.load(bills=world.second_load_bills())
    elif what == "objects":
        [first] = [o for o in world.initial_intervals() if o["meter_uid"] == world.COMMERCIAL][:1]
        changed = {**first, "notes": world.STRANGE}
        loaded.pipeline.run(
            dlt.resource(
                [interval_object_row(changed)],
                name="interval_objects",
                write_disposition="merge",
                primary_key="uid",
                columns=OBJECT_COLUMNS,
            )
        )
    else:
        loaded.load(meters=[meter(world.GAS, "PG&E")])

    result = transforms.run(loaded.pipeline)

    assert result.mode == "incremental", result.reason
    incremental = comparable(loaded)
    assert incremental != before
    transforms.run(loaded.pipeline, full_refresh=True)
    assert comparable(loaded) == incremental


def test_every_load_is_processed_once(loaded: RawLoader) -> None:
    loaded.load(world.second_load_intervals())
    transforms.run(loaded.pipeline)
    processed = table(loaded.pipeline, "int_loads_processed")
    loads = table(loaded.pipeline, "_dlt_loads", schema="utilityapi")
    assert sorted(p["load_id"] for p in processed) == sorted(
        load["load_id"] for load in loads if load["status"] == 0
    )


def test_reloading_the_same_objects_gives_the_same_tables(loaded: RawLoader) -> None:
    """A load that re-fetches what is already there is new rows to the run, same result."""
    before = comparable(loaded)
    loaded.load([o for o in world.initial_intervals() if o["meter_uid"] == world.GAS])
    result = transforms.run(loaded.pipeline)
    assert result.mode == "incremental" and result.meters_recomputed == [world.GAS]
    assert comparable(loaded) == before


def test_a_meter_whose_zone_becomes_known_is_recomputed_whole(loader: RawLoader) -> None:
    """Readings first, the meter listing later: every row of the meter gets the zone, as a
    full rebuild would give it."""
    loader.load(world.initial_intervals(), world.initial_bills())
    transforms.run(loader.pipeline)
    assert {r["time_zone"] for r in table(loader.pipeline, "meter_daily_usage")} == {None}
    loader.load(meters=world.initial_meters())
    result = transforms.run(loader.pipeline)
    assert result.mode == "incremental"
    assert world.GAS in result.meters_recomputed
    incremental = comparable(loader)
    transforms.run(loader.pipeline, full_refresh=True)
    assert comparable(loader) == incremental
    zones = {(r["meter_uid"], r["time_zone"]) for r in table(loader.pipeline, "meter_daily_usage")}
    assert (world.GAS, "America/New_York") in zones
    assert (world.COMMERCIAL, "America/Los_Angeles") in zones


def test_all_models_are_compared(loaded: RawLoader) -> None:
    """The snapshot covers every table and mart view the project builds (a new one joins the
    checks)."""
    with loaded.pipeline.sql_client() as client:
        built = {
            row[0]
            for row in client.execute_sql(
                "select table_name from information_schema.tables "
                "where table_schema = 'analytics' and table_name not like 'stg_%'"
            )
        }
    bookkeeping = {"int_loads_pending", "int_loads_processed", "int_meter_days_in_scope"}
    seeds = {"utility_time_zones"}
    assert built - bookkeeping - seeds - {"int_meter_utilities"} == set(MARTS)


def test_a_full_build_drops_the_tables_the_project_no_longer_builds(loaded: RawLoader) -> None:
    # int_slots_resolved was a table before it was inlined into meter_intervals_15min: left
    # behind, it would hold rows nothing keeps up to date
    with duckdb.connect(str(loaded.db_path)) as conn:
        conn.execute("create table analytics.int_slots_resolved as select 1 as slot")

    assert transforms.run(loaded.pipeline).mode == "noop"
    assert "int_slots_resolved" in _analytics_tables(loaded)
    transforms.run(loaded.pipeline, full_refresh=True)
    assert "int_slots_resolved" not in _analytics_tables(loaded)


def _analytics_tables(loader: RawLoader) -> set[str]:
    with duckdb.connect(str(loader.db_path), read_only=True) as conn:
        rows = conn.execute(
            "select table_name from information_schema.tables where table_schema = 'analytics'"
        ).fetchall()
    return {name for (name,) in rows}


def test_readings_across_midnight_before_the_scope_are_kept(loader: RawLoader) -> None:
    """Two-hour readings from 23:00 to 01:00: an incremental run that recomputes a day must
    still find the reading that started the evening before it."""
    every_two_hours = [
        r
        for r in series(LOS_ANGELES, date(2024, 2, 1), 6, 60, net_kwh())
        if datetime.fromisoformat(r["start"]).hour % 2 == 1
    ]
    readings = [
        reading(datetime.fromisoformat(r["start"]), 120, r["datapoints"])
        for r in every_two_hours
        if not r["start"].startswith("2024-02-06T23")
    ]
    first, later = readings[:-12], readings[-12:]  # Feb 6 arrives in a later load
    loader.load([interval("m-cross", first)])
    transforms.run(loader.pipeline)
    loader.load([interval("m-cross", later, updated=PUBLISHED + timedelta(days=1))])
    result = transforms.run(loader.pipeline)
    assert result.scope[0].from_local_date == date(2024, 2, 3)
    incremental = comparable(loader)
    transforms.run(loader.pipeline, full_refresh=True)
    assert comparable(loader) == incremental


def test_a_one_slot_gap_and_a_gap_across_utc_midnight_are_gap_rows(loader: RawLoader) -> None:
    """One missing slot inside a day, and a gap from 15:45 to 16:15 PST (23:45 to 00:15 UTC),
    are gap rows in a full build and in an incremental run that adds the next day."""
    missing = {(2, 12, 15), (2, 15, 45), (2, 16, 0), (2, 16, 15)}  # Feb 2, local clock

    def skip(start: datetime) -> bool:
        return (start.day, start.hour, start.minute) in missing

    readings = series(LOS_ANGELES, date(2024, 2, 1), 3, 15, net_kwh(), skip=skip)
    first, later = readings[: 2 * 96 - 4], readings[2 * 96 - 4 :]  # Feb 3 in a later load

    def gaps() -> list[str]:
        rows = table(loader.pipeline, "meter_intervals_15min")
        return sorted(r["interval_start_local"].strftime("%d %H:%M") for r in rows if r["is_gap"])

    expected = ["02 12:15", "02 15:45", "02 16:00", "02 16:15"]
    loader.load([interval("m-gaps", first)])
    assert transforms.run(loader.pipeline).mode == "full"
    assert gaps() == expected
    loader.load([interval("m-gaps", later, updated=PUBLISHED + timedelta(days=1))])
    assert transforms.run(loader.pipeline).mode == "incremental"
    assert gaps() == expected
    incremental = comparable(loader)
    transforms.run(loader.pipeline, full_refresh=True)
    assert comparable(loader) == incremental


def test_a_day_loaded_inside_a_long_gap_keeps_the_gap_rows_on_both_sides(
    loader: RawLoader,
) -> None:
    """Data on Feb 1-2 and Feb 20-21, then Feb 10 arrives: the run's scope (Feb 8-11) lies
    inside the gap, so its gap rows on either side of Feb 10 need the last reading before the
    scope and the first after it, found in the grid earlier runs built."""
    readings = series(LOS_ANGELES, date(2024, 2, 1), 21, 15, net_kwh())

    def on(*dates: str) -> list[dict]:
        return [r for r in readings if r["start"][:10] in dates]

    loader.load([interval("m-long-gap", on("2024-02-01", "2024-02-02", "2024-02-20"))])
    assert transforms.run(loader.pipeline).mode == "full"
    loader.load([interval("m-long-gap", on("2024-02-10"), updated=PUBLISHED + timedelta(days=1))])
    result = transforms.run(loader.pipeline)
    assert result.mode == "incremental"
    [scope] = result.scope
    assert date(2024, 2, 3) < scope.from_local_date and scope.to_local_date < date(2024, 2, 19)
    incremental = comparable(loader)
    gap_days = {r["local_date"] for r in incremental["meter_intervals_15min"] if r["is_gap"]}
    assert date(2024, 2, 5) in gap_days and date(2024, 2, 15) in gap_days
    transforms.run(loader.pipeline, full_refresh=True)
    assert comparable(loader) == incremental
