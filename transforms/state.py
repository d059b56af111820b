"""The runner's own tables in `analytics`: the log of runs and the scope of the current run.

`_transform_runs` remembers, per run, the newest `_dlt_load_id` it saw in each raw table; the
next run treats rows with a newer load id as new. `_scope_meter_days` (meter, local date range)
and `_scope_bills` (bill uids) hold what the current run recomputes: incremental models join
them, so the same SQL serves a full rebuild (every meter, unbounded dates) and an increment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb

from transforms.project import SOURCE_SCHEMA, TARGET_SCHEMA

RUNS = f"{TARGET_SCHEMA}._transform_runs"
SCOPE_METER_DAYS = f"{TARGET_SCHEMA}._scope_meter_days"
SCOPE_BILLS = f"{TARGET_SCHEMA}._scope_bills"
READINGS = f"{SOURCE_SCHEMA}.interval_readings"
BILLS = f"{SOURCE_SCHEMA}.bills"
LOAD_ID = "_dlt_load_id"
ALL_DAYS = (date(1900, 1, 1), date(2999, 12, 31))

# Bounds of the new rows, widened so every model finds the readings that touch them: a reading
# lasts at most 25 hours, so one that overlaps a new day starts at most two local days earlier.
# When the new rows lie past the meter's known series (or before it), the days in between are
# added too: their gap rows change.
_NEW_METER_DAYS = f"""
with

new_readings as (
    select
        meter_uid,
        min(cast(
            cast(start_at at time zone 'UTC' as timestamp)
                + utc_offset_minutes * interval '1 minute'
            as date
        )) as first_local_date,
        max(cast(
            cast(end_at at time zone 'UTC' as timestamp)
                + end_utc_offset_minutes * interval '1 minute'
                - interval '1 microsecond'
            as date
        )) as last_local_date
    from {READINGS}
    where {LOAD_ID} > ?
    group by meter_uid
),

known_days as (
    select meter_uid, min(local_date) as first_local_date, max(local_date) as last_local_date
    from {TARGET_SCHEMA}.meter_daily_usage
    group by meter_uid
)

select
    new_readings.meter_uid,
    least(new_readings.first_local_date - 2, coalesce(known_days.last_local_date,
        new_readings.first_local_date - 2)) as from_local_date,
    greatest(new_readings.last_local_date + 1, coalesce(known_days.first_local_date,
        new_readings.last_local_date + 1)) as to_local_date
from new_readings
left join known_days
    on new_readings.meter_uid = known_days.meter_uid
"""

# Bills loaded since the last run, and bills whose period overlaps recomputed days.
_NEW_BILLS = f"""
select uid as bill_uid from {BILLS} where {LOAD_ID} > ?
union
select bills.bill_uid
from {TARGET_SCHEMA}.stg_bills as bills
inner join {SCOPE_METER_DAYS} as scope
    on bills.meter_uid = scope.meter_uid
    and cast(bills.bill_end_at at time zone 'UTC' as date) >= scope.from_local_date - 1
    and cast(bills.bill_start_at at time zone 'UTC' as date) <= scope.to_local_date + 1
"""


@dataclass(frozen=True)
class LastRun:
    run_id: int
    readings_load_id: str | None
    bills_load_id: str | None
    models_hash: str


@dataclass(frozen=True)
class MeterDays:
    """Days of one meter that a run recomputed, inclusive."""

    meter_uid: str
    from_local_date: date
    to_local_date: date


def scalar(conn: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> Any:
    """The first value of a query's result, which is read to its end so the connection is free."""
    rows = conn.execute(sql, list(params)).fetchall()
    return rows[0][0] if rows else None


def ensure_tables(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(f"create schema if not exists {TARGET_SCHEMA}")
    conn.execute(
        f"""
        create table if not exists {RUNS} (
            run_id integer primary key,
            started_at timestamptz not null,
            finished_at timestamptz not null,
            mode varchar not null,
            reason varchar,
            readings_load_id varchar,
            bills_load_id varchar,
            models_hash varchar not null,
            meters_in_scope integer,
            meter_days_in_scope bigint,
            bills_in_scope integer,
            seconds double
        )
        """
    )
    conn.execute(
        f"create table if not exists {SCOPE_METER_DAYS} "
        "(meter_uid varchar, from_local_date date, to_local_date date)"
    )
    conn.execute(f"create table if not exists {SCOPE_BILLS} (bill_uid varchar)")


def last_run(conn: duckdb.DuckDBPyConnection) -> LastRun | None:
    rows = conn.execute(
        f"select run_id, readings_load_id, bills_load_id, models_hash from {RUNS} "
        "order by run_id desc limit 1"
    ).fetchall()
    return LastRun(*rows[0]) if rows else None


def max_load_id(conn: duckdb.DuckDBPyConnection, table: str) -> str | None:
    return scalar(conn, f"select max({LOAD_ID}) from {table}")


def scope_everything(conn: duckdb.DuckDBPyConnection, has_readings: bool, has_bills: bool) -> None:
    _clear_scope(conn)
    if has_readings:
        conn.execute(
            f"insert into {SCOPE_METER_DAYS} select distinct meter_uid, ?, ? from {READINGS}",
            list(ALL_DAYS),
        )
    if has_bills:
        conn.execute(f"insert into {SCOPE_BILLS} select distinct uid from {BILLS}")


def scope_new_rows(
    conn: duckdb.DuckDBPyConnection,
    readings_after: str | None,
    bills_after: str | None,
) -> None:
    """Scope the run to what rows loaded after the given load ids touch (None: no such table)."""
    _clear_scope(conn)
    if readings_after is not None:
        conn.execute(f"insert into {SCOPE_METER_DAYS} {_NEW_METER_DAYS}", [readings_after])
    if bills_after is not None:
        conn.execute(f"insert into {SCOPE_BILLS} {_NEW_BILLS}", [bills_after])


def meter_days(conn: duckdb.DuckDBPyConnection) -> list[MeterDays]:
    rows = conn.execute(
        f"select meter_uid, from_local_date, to_local_date from {SCOPE_METER_DAYS} "
        "order by meter_uid"
    ).fetchall()
    return [MeterDays(*row) for row in rows]


def bills_in_scope(conn: duckdb.DuckDBPyConnection) -> int:
    return scalar(conn, f"select count(*) from {SCOPE_BILLS}")


def record_run(conn: duckdb.DuckDBPyConnection, **values: object) -> None:
    columns = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    conn.execute(f"insert into {RUNS} ({columns}) values ({marks})", list(values.values()))


def _clear_scope(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(f"delete from {SCOPE_METER_DAYS}")
    conn.execute(f"delete from {SCOPE_BILLS}")
