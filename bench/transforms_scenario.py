"""Scenario 5: the transforms over the backfilled readings, and an incremental transform.

Runs on scenario 1's database (≈10 M real loaded readings), right after the backfill: first a
plain copy of the raw readings (`create table … as select * from`), then the full build of the
dbt project (`transforms.run`, through dlt's dbt runner) with `bench/transforms_bench.py`'s
timer, which splits dbt's fixed cost (process, parsing, connecting) from the SQL.
After scenario 2's loads (nothing new, then k meters with a new day), one incremental
transform: which meters and meter-days it recomputed against those the load touched.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import duckdb

import transforms
from pipelines.pipeline import Target, make_pipeline

from . import isolated
from .transforms_bench import timed

READINGS = "utilityapi.interval_readings"
# The runner widens each meter's scope by two local days before and one after what was loaded
# (a reading spans at most 25 hours across DST), so this much beyond the loaded days is by design.
SCOPE_MARGIN_DAYS = 3


def isolated_after_backfill(db: Path) -> dict[str, Any]:
    return isolated.call("bench.transforms_scenario:after_backfill", db=str(db))


def isolated_after_increment(db: Path) -> dict[str, Any]:
    return isolated.call("bench.transforms_scenario:after_increment", db=str(db))


def after_backfill(db: str | Path) -> dict[str, Any]:
    """The copy, then the full build (in this process; the bench calls it in a child)."""
    with duckdb.connect(str(db)) as conn:
        readings = conn.execute(f"select count(*) from {READINGS}").fetchone()[0]
        started = time.perf_counter()
        conn.execute(f"create table main.bench_copy as select * from {READINGS}")
        ctas = time.perf_counter() - started
        conn.execute("drop table main.bench_copy")
        conn.execute("checkpoint")
    build = timed("scenario 5: transforms full build", make_pipeline(Target(db_path=Path(db))))
    return {
        "readings": readings,
        "ctas_seconds": ctas,
        "transform_seconds": build["seconds"],
        "transform_models_seconds": build["models_seconds"],
        "transform_tests_seconds": build["tests_seconds"],
        "transform_dbt_fixed_seconds": build["dbt_fixed_seconds"],
        "transform_other_cpu_seconds": build["other_cpu_seconds"],
        "mode": build["mode"],
        "per_model_seconds": build["per_model_seconds"],
    }


def after_increment(db: str | Path) -> dict[str, Any]:
    """One incremental transform after scenario 2's loads, against what the last load wrote."""
    with duckdb.connect(str(db)) as conn:
        loaded = _loaded_meter_days(conn)
        total_days = conn.execute(
            f"select count(distinct (meter_uid, {_LOCAL_DATE})) from {READINGS}"
        ).fetchone()[0]
    started = time.perf_counter()
    result = transforms.run(make_pipeline(Target(db_path=Path(db))))
    seconds = time.perf_counter() - started
    recomputed = {m.meter_uid: m.days for m in result.scope}
    loaded_meters = {meter for meter, _ in loaded}
    allowed = len(loaded) + SCOPE_MARGIN_DAYS * len(loaded_meters)
    return {
        "seconds": seconds,
        "sql_seconds": result.sql_seconds,
        "mode": result.mode,
        "meters_recomputed": sorted(recomputed),
        "meter_days_by_meter": recomputed,
        "meters_loaded": sorted(loaded_meters),
        "extra_meters": sorted(set(recomputed) - loaded_meters),
        "meter_days": sum(recomputed.values()),
        "loaded_meter_days": len(loaded),
        "meter_days_beyond_scope": max(0, sum(recomputed.values()) - allowed),
        "total_meter_days": total_days,
        "per_model_seconds": {m.name: round(m.seconds, 2) for m in result.models},
    }


_LOCAL_DATE = "cast(start_at at time zone 'UTC' + to_minutes(utc_offset_minutes) as date)"


def _loaded_meter_days(conn: duckdb.DuckDBPyConnection) -> set[tuple[str, Any]]:
    """(meter, local date) of the readings the newest load wrote."""
    rows = conn.execute(
        f"""
        select distinct meter_uid, {_LOCAL_DATE}
        from {READINGS}
        where _dlt_load_id = (select max(_dlt_load_id) from {READINGS})
        """
    ).fetchall()
    return {(str(meter), day) for meter, day in rows}
