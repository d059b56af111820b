"""Time `transforms.run` (the dbt project) on synthetic raw tables: a full build, then increments.

    .venv/bin/python -m bench.transforms_bench --meters 20 --days 395     # about the demo world
    .venv/bin/python -m bench.transforms_bench --meters 320 --days 366    # about 10 M readings

The raw `utilityapi.interval_readings` rows are generated with numpy straight into DuckDB (the
shape `readings_table()` produces plus `_dlt_load_id`, with a row in `_dlt_loads` for each
load), not through dlt: this measures the transforms, not the loader. dbt's fixed cost (its
process, parsing, connecting: `seconds - sql_seconds`) is reported apart from the SQL, and so
is the CPU other processes used meanwhile. Meters cycle through kinds: residential 15-minute,
commercial 15-minute with kW demand, solar (net/fwd/rev), hourly residential, hourly gas in
therms (two in ten meters hourly); all in America/Los_Angeles offsets with both DST changes.
15-minute meters get re-published overlapping days, hourly fill-ins over 15-minute gaps, and
unfilled gaps.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dlt
import duckdb
import numpy as np
import pyarrow as pa

import transforms
from bench.common import busy_cpu_seconds
from sources.utilityapi.readings import READINGS_SCHEMA

US = 1_000_000
MINUTE = 60 * US
DAY = 24 * 60 * MINUTE
YEAR_START = int(datetime(2024, 1, 1, 8, tzinfo=UTC).timestamp()) * US  # local midnight, PST
SPRING = int(datetime(2024, 3, 10, 10, tzinfo=UTC).timestamp()) * US
FALL = int(datetime(2024, 11, 3, 9, tzinfo=UTC).timestamp()) * US
# eight in ten meters are 15-minute electric; the rest hourly electric or gas
KINDS = ("res15", "com15", "res15", "solar", "res60", "res15", "com15", "res15", "gas60", "solar")
OUT = Path(__file__).parent / "out"


@dataclass
class Columns:
    parts: dict[str, list[np.ndarray]]

    def add(self, **arrays: np.ndarray) -> None:
        for name, array in arrays.items():
            self.parts.setdefault(name, []).append(array)

    def table(self, load_id: str) -> pa.Table:
        def cat(name: str) -> np.ndarray:
            return np.concatenate(self.parts[name])

        n = len(cat("start_at"))
        ts = pa.timestamp("us", tz="UTC")
        columns = {
            "meter_uid": pa.array(cat("meter_uid")),
            "authorization_uid": pa.array(cat("authorization_uid")),
            "interval_uid": pa.array(cat("interval_uid")),
            "start_at": pa.array(cat("start_at"), type=ts),
            "end_at": pa.array(cat("end_at"), type=ts),
            "utc_offset_minutes": pa.array(cat("utc_offset_minutes"), type=pa.int16()),
            "end_utc_offset_minutes": pa.array(cat("end_utc_offset_minutes"), type=pa.int16()),
            "type": pa.array(cat("type")),
            "unit": pa.array(cat("unit")),
            "value": pa.array(cat("value"), type=pa.float64()),
            "meter_number": pa.array(cat("meter_number")),
            "interval_updated_at": pa.array(cat("interval_updated_at"), type=ts),
            "interval_created_at": pa.array(cat("interval_created_at"), type=ts),
        }
        table = pa.table(columns, schema=READINGS_SCHEMA)
        return table.append_column("_dlt_load_id", pa.array([load_id] * n, type=pa.string()))


def offsets(instants: np.ndarray) -> np.ndarray:
    return np.where((instants >= SPRING) & (instants < FALL), -420, -480).astype(np.int16)


def add_readings(
    cols: Columns,
    meter: str,
    kind: str,
    starts: np.ndarray,
    minutes: int,
    chunk_days: int,
    updated: int,
    rng: np.random.Generator,
    chunk_tag: str = "",
) -> int:
    """Readings at `starts`, grouped into Interval objects of `chunk_days`; returns readings."""
    if not len(starts):
        return 0
    ends = starts + minutes * MINUTE
    chunk = (starts - YEAR_START) // (chunk_days * DAY)
    uids = np.char.add(f"{meter}-{chunk_tag}", chunk.astype(str))
    base = np.round(rng.gamma(2.0, 0.08, len(starts)) * minutes / 15, 3)
    if kind == "solar":
        hour = ((starts + offsets(starts).astype(np.int64) * MINUTE) // (60 * MINUTE)) % 24
        day = (hour >= 8) & (hour < 17)
        rev = np.where(day, np.round(rng.uniform(0, 0.4, len(starts)), 3), 0.0)
        fwd = np.where(day, np.round(base / 4, 3), base)
        series = [("net", "kwh", np.round(fwd - rev, 3)), ("fwd", "kwh", fwd), ("rev", "kwh", rev)]
    elif kind == "com15":
        demand = np.round(base * 60 / minutes * 1.4, 3)
        series = [("net", "kwh", base * 10), ("max", "kw", demand * 10)]
    elif kind == "gas60":
        series = [("net", "therms", np.round(base / 3, 3))]
    else:
        series = [("net", "kwh", base)]
    n = len(starts)
    for kind_name, unit, values in series:
        cols.add(
            meter_uid=np.full(n, meter, dtype=object),
            authorization_uid=np.full(n, f"auth-{meter[:-1]}", dtype=object),
            interval_uid=uids.astype(object),
            start_at=starts,
            end_at=ends,
            utc_offset_minutes=offsets(starts),
            end_utc_offset_minutes=offsets(ends),
            type=np.full(n, kind_name, dtype=object),
            unit=np.full(n, unit, dtype=object),
            value=values,
            meter_number=np.full(n, f"MTR-{meter}", dtype=object),
            interval_updated_at=np.full(n, updated, dtype=np.int64),
            interval_created_at=np.full(n, updated - 3600 * US, dtype=np.int64),
        )
    return n


def build_meter(cols: Columns, index: int, first_day: int, days: int, seed: int) -> int:
    rng = np.random.default_rng(seed * 100_003 + index)
    kind = KINDS[index % len(KINDS)]
    meter = f"m{index:05d}"
    minutes = 60 if kind.endswith("60") else 15
    first = YEAR_START + first_day * DAY
    starts = np.arange(first, first + days * DAY, minutes * MINUTE, dtype=np.int64)
    published = first + (days + 2) * DAY
    keep = np.ones(len(starts), dtype=bool)
    per_day = 24 * 60 // minutes
    for day in rng.choice(days, size=max(1, days // 60), replace=False):  # unfilled gaps
        begin = day * per_day + rng.integers(0, per_day - 8)
        keep[begin : begin + int(rng.integers(1, 8))] = False
    fill_ins = []
    if minutes == 15 and index % 3 == 0:
        for day in rng.choice(days, size=max(1, days // 30), replace=False):
            begin = day * per_day + 4 * int(rng.integers(0, 18))
            keep[begin + 2 : begin + 14] = False  # a 3-hour hole, filled by 4 hourly readings
            fill_ins.append(starts[begin] + np.arange(4, dtype=np.int64) * 60 * MINUTE)
    readings = add_readings(cols, meter, kind, starts[keep], minutes, 7, published, rng)
    if fill_ins:
        hourly = np.concatenate(fill_ins)
        readings += add_readings(cols, meter, kind, hourly, 60, 7, published + DAY, rng, "fill-")
    if minutes == 15 and index % 4 == 1:  # re-published overlapping days, later `updated`
        days_again = rng.choice(days, size=max(1, days // 30), replace=False)
        again = np.concatenate([starts[d * per_day : (d + 1) * per_day] for d in days_again])
        readings += add_readings(
            cols, meter, kind, again, minutes, 1, published + 2 * DAY, rng, "again-"
        )
    return readings


def load(conn: duckdb.DuckDBPyConnection, table: pa.Table) -> None:
    conn.register("incoming", table)
    exists = conn.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'utilityapi' and table_name = 'interval_readings'"
    ).fetchall()[0][0]
    if not exists:
        conn.execute("create schema if not exists utilityapi")
        conn.execute("create table utilityapi.interval_readings as select * from incoming")
        conn.execute(
            "create table utilityapi._dlt_loads (load_id varchar, schema_name varchar, "
            "status bigint, inserted_at timestamptz, schema_version_hash varchar)"
        )
    else:
        # what the loader's merge does: the same (object, start, type, meter number) replaces
        conn.execute(
            "delete from utilityapi.interval_readings as r using incoming as i "
            "where r.interval_uid = i.interval_uid and r.start_at = i.start_at "
            "and r.type = i.type and r.meter_number = i.meter_number"
        )
        conn.execute("insert into utilityapi.interval_readings select * from incoming")
    conn.execute(
        "insert into utilityapi._dlt_loads select distinct _dlt_load_id, 'utilityapi', 0, "
        "now(), '' from incoming"
    )
    conn.unregister("incoming")


def pipeline_for(db: Path) -> dlt.Pipeline:
    """A dlt pipeline on the generated database, as `uapi load` would have left it."""
    return dlt.pipeline(
        pipeline_name="transforms_bench",
        destination=dlt.destinations.duckdb(str(db)),
        dataset_name="utilityapi",
        pipelines_dir=str(db.parent / "transforms_bench.pipelines"),
    )


def own_cpu_seconds() -> float:
    """CPU of this process and its finished children (dbt runs in one)."""
    me, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def timed(label: str, pipeline: dlt.Pipeline, **kwargs: object) -> dict:
    machine0, own0 = busy_cpu_seconds(), own_cpu_seconds()
    started = time.perf_counter()
    result = transforms.run(pipeline, **kwargs)
    seconds = time.perf_counter() - started
    own = own_cpu_seconds() - own0
    other = max(0.0, busy_cpu_seconds() - machine0 - own)
    per_model = {m.name: round(m.seconds, 2) for m in result.models}
    models_seconds = sum(m.seconds for m in result.models)
    overhead = seconds - result.sql_seconds
    print(
        f"{label:<44} {seconds:7.2f}s  mode={result.mode}  meters={len(result.scope)}  "
        f"models {models_seconds:.2f}s  tests {result.test_seconds:.2f}s  dbt fixed {overhead:.2f}s"
        f"  (other processes' CPU {other:.1f}s)"
    )
    print(f"{'':<44} per model: {per_model}")
    return {
        "label": label,
        "seconds": round(seconds, 2),
        "models_seconds": round(models_seconds, 2),
        "tests_seconds": round(result.test_seconds, 2),
        "dbt_fixed_seconds": round(overhead, 2),
        "cpu_seconds": round(own, 2),
        "other_cpu_seconds": round(other, 2),
        "mode": result.mode,
        "meters_recomputed": len(result.scope),
        "meter_days": result.meter_days,
        "per_model_seconds": per_model,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=20)
    parser.add_argument("--days", type=int, default=395)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", type=Path, default=OUT / "transforms_bench.duckdb")
    args = parser.parse_args()
    args.db.parent.mkdir(parents=True, exist_ok=True)
    args.db.unlink(missing_ok=True)
    shutil.rmtree(args.db.parent / "transforms_bench.pipelines", ignore_errors=True)

    started = time.perf_counter()
    cols = Columns({})
    readings = sum(build_meter(cols, i, 0, args.days, args.seed) for i in range(args.meters))
    table = cols.table("1000000000.000001")
    with duckdb.connect(str(args.db)) as conn:
        load(conn, table)
        del table, cols
        rows = conn.execute("select count(*) from utilityapi.interval_readings").fetchall()[0][0]
        started = time.perf_counter()
        conn.execute("create table main.bench_copy as select * from utilityapi.interval_readings")
        ctas = time.perf_counter() - started
        conn.execute("drop table main.bench_copy")
        conn.execute("checkpoint")
    print(f"{readings:,} readings, {rows:,} rows generated; plain copy {ctas:.2f}s")
    pipeline = pipeline_for(args.db)

    results = [timed("full build (first run)", pipeline)]

    cols = Columns({})
    touched = [1, 3, 4]  # commercial, solar, hourly residential
    for i in touched:
        build_meter(cols, i, args.days, 1, args.seed + 1)  # the next day of each
    with duckdb.connect(str(args.db)) as conn:
        load(conn, cols.table("1000000001.000001"))
    results.append(timed("increment: 3 meters x 1 new day", pipeline))
    results.append(timed("no new rows", pipeline))

    cols = Columns({})
    for i in range(0, args.meters):
        build_meter(cols, i, args.days + 1, 1, args.seed + 2)
    with duckdb.connect(str(args.db)) as conn:
        load(conn, cols.table("1000000002.000001"))
    results.append(timed(f"increment: all {args.meters} meters x 1 new day", pipeline))
    results.append(timed("full refresh", pipeline, full_refresh=True))

    report = {
        "meters": args.meters,
        "days": args.days,
        "readings": readings,
        "ctas_seconds": round(ctas, 2),
        "runs": results,
    }
    (args.db.parent / f"transforms_{args.meters}x{args.days}.json").write_text(
        json.dumps(report, indent=2)
    )


if __name__ == "__main__":
    main()
