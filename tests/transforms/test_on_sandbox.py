"""The analytics models on sandbox data loaded by `uapi load` over real HTTP."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

import transforms
from pipelines.pipeline import LoadResult, Target, make_pipeline, run_load
from sandbox import Sandbox, SandboxConfig
from sources.utilityapi.records import is_not_activated
from tests.support.clock import FakeClock
from tests.support.loads import sandbox_options
from tests.transforms.oracle import daily_totals

SPRING = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)  # 100 days back covers 2026-03-08
FALL = datetime(2025, 11, 20, 12, 0, tzinfo=UTC)  # covers 2025-11-02
DST_UTILITIES = ("PG&E", "SCE", "SDG&E", "LADWP", "DEMO", "EVRSRCMA", "COMED")


def load(sb: Sandbox, db: Path, clock: FakeClock):
    return run_load(sandbox_options(sb, db, clock, transform=True))


def truth_intervals(sb: Sandbox) -> list[dict]:
    return [
        interval
        for meter in sb.truth.meters()
        if not is_not_activated(meter)
        for interval in sb.truth.intervals(meter["uid"], allow_mixed=True)
    ]


def config(now: datetime) -> SandboxConfig:
    """The sandbox every test here loads: the same seed and moment give the same world."""
    return SandboxConfig(seed=21, scale="test", now=now, rate_limit=None)


@pytest.fixture(scope="module")
def first_load(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[datetime], tuple[Path, LoadResult]]:
    """The first `uapi load` of the sandbox at a moment, done once per module: tests read the
    database or copy it (with its pipeline folder) to load more."""
    done: dict[datetime, tuple[Path, LoadResult]] = {}

    def at(now: datetime) -> tuple[Path, LoadResult]:
        if now not in done:
            # one file name for every database: the process keeps one dbt parse for them all
            db = tmp_path_factory.mktemp("sandbox-transforms") / "uapi.duckdb"
            with Sandbox(config(now)) as sb:
                done[now] = db, load(sb, db, FakeClock(now))
            with duckdb.connect(str(db)) as conn:
                conn.execute("checkpoint")  # everything in the file, nothing in a WAL
        return done[now]

    return at


@pytest.fixture(scope="module", params=[SPRING, FALL], ids=["spring", "fall"])
def loaded(request, first_load):
    db, result = first_load(request.param)
    with Sandbox(config(request.param)) as sb:
        yield sb, db, result


def query(db: Path, sql: str, *params) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def test_load_runs_the_transform(loaded):
    _, _, result = loaded
    assert result.transform is not None and result.transform.mode == "full"


def test_daily_kwh_equals_resolved_raw_readings(loaded):
    sb, db, _ = loaded
    expected = {
        key: total
        for key, total in daily_totals(truth_intervals(sb)).items()
        if key[1] in ("net", "fwd", "rev", "gen")
    }
    got = {
        (meter, channel, day): quantity
        for meter, channel, day, quantity in query(
            db,
            "select meter_uid, channel, local_date, sum(quantity) "
            "from analytics.meter_intervals_15min where quantity is not null group by all",
        )
    }
    assert set(got) == set(expected)
    worst = max(abs(got[k] - expected[k]) for k in expected)
    assert worst < 1e-9


def test_dst_days_have_92_or_100_slots(loaded):
    sb, db, _ = loaded
    day = "2026-03-08" if sb.now().year == 2026 else "2025-11-02"
    slots = 92 if day.startswith("2026") else 100
    meters = [
        m["uid"]
        for m in sb.truth.meters()
        if m["utility"] in DST_UTILITIES and not is_not_activated(m)
    ]
    rows = query(
        db,
        "select meter_uid, slots_expected from analytics.meter_daily_usage "
        "where channel = 'net' and local_date = ?",
        day,
    )
    by_meter = dict(rows)
    assert meters and all(by_meter[m] == slots for m in meters if m in by_meter)
    assert len([m for m in meters if m in by_meter]) >= 3


def test_solar_net_equals_fwd_minus_rev(loaded):
    _, db, _ = loaded
    [(solar_slots, mismatched)] = query(
        db,
        """
        with pivoted as (
            select meter_uid, interval_start_at,
                max(kwh) filter (where channel = 'net') as net,
                max(kwh) filter (where channel = 'fwd') as fwd,
                max(kwh) filter (where channel = 'rev') as rev
            from analytics.meter_intervals_15min group by all
        )
        select count(*), count(*) filter (where abs(net - (fwd - rev)) > 1e-9)
        from pivoted where rev is not null and net is not null and fwd is not null
        """,
    )
    assert solar_slots > 0 and mismatched == 0


def test_demand_stays_out_of_energy_columns(loaded):
    sb, db, _ = loaded
    raw_max = query(db, "select count(*) from utilityapi.interval_readings where type = 'max'")
    assert raw_max[0][0] > 0
    assert query(
        db,
        "select count(*) from analytics.meter_intervals where channel not in ('net','fwd','rev','gen')",
    ) == [(0,)]
    [(peak_rows,)] = query(
        db, "select count(*) from analytics.meter_daily_usage where peak_demand_kw is not null"
    )
    assert peak_rows > 0


def test_every_dbt_test_passes(loaded):
    _, _, result = loaded
    assert result.transform.tests
    assert {t.status for t in result.transform.tests} == {"pass"}


def test_every_meter_has_a_time_zone_its_offsets_agree_with(loaded):
    sb, db, _ = loaded
    zones = dict(
        (utility, zone)
        for utility, zone in query(
            db, "select utility_id, time_zone from analytics.utility_time_zones"
        )
    )
    rows = query(
        db,
        "select meter_uid, utility, time_zone, time_zone_status, readings_checked, "
        "offset_mismatches from analytics.meter_time_zones",
    )
    with_readings = {
        r[0] for r in query(db, "select distinct meter_uid from utilityapi.interval_readings")
    }
    assert with_readings and {r[0] for r in rows} >= with_readings
    for meter, utility, zone, status, checked, mismatches in rows:
        assert zone == zones[utility] and status == "ok" and mismatches == 0, meter
        assert checked > 0 or meter not in with_readings, meter


def test_incremental_transform_after_a_load_touches_only_changed_meters(first_load, tmp_path):
    built, _ = first_load(SPRING)
    db = tmp_path / built.name
    shutil.copyfile(built, db)
    pipelines = Target(db_path=built).working_dir
    shutil.copytree(pipelines, Target(db_path=db).working_dir)
    clock = FakeClock(SPRING)
    with Sandbox(config(SPRING)) as sb:
        before = {m["uid"]: m["interval_count"] for m in sb.truth.meters()}
        sb.advance(timedelta(days=1))
        clock.advance(timedelta(days=1))
        changed = {m["uid"] for m in sb.truth.meters() if m["interval_count"] != before[m["uid"]]}
        result = load(sb, db, clock)
    assert result.transform.mode == "incremental"
    assert set(result.transform.meters_recomputed) == changed
    incremental = query(
        db,
        "select meter_uid, channel, local_date, kwh, slots_present from analytics.meter_daily_usage order by all",
    )
    transforms.run(make_pipeline(Target(db_path=db)), full_refresh=True)
    rebuilt = query(
        db,
        "select meter_uid, channel, local_date, kwh, slots_present from analytics.meter_daily_usage order by all",
    )
    assert [r[:3] + r[4:] for r in rebuilt] == [r[:3] + r[4:] for r in incremental]
    # Sums may differ in the last bits: DuckDB adds in parallel, in no fixed order.
    assert [r[3] for r in rebuilt] == pytest.approx([r[3] for r in incremental], abs=1e-9)
