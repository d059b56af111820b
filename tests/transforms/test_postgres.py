"""The models transpiled to Postgres give the same tables there as in DuckDB.

Opt-in: needs a scratch Postgres database (its `utilityapi` and `analytics` schemas are
replaced) and `psql`, e.g.
    UAPI_TEST_POSTGRES_DSN='postgresql://postgres@/scratch?host=/tmp/pg&port=5432' make test
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest
import sqlglot

from transforms.project import load_models

DSN = os.environ.get("UAPI_TEST_POSTGRES_DSN")
pytestmark = pytest.mark.skipif(
    not DSN or not shutil.which("psql"), reason="set UAPI_TEST_POSTGRES_DSN (and have psql)"
)

RAW_TABLES = {
    "interval_readings": """
        meter_uid varchar, authorization_uid varchar, interval_uid varchar,
        start_at timestamptz, end_at timestamptz, utc_offset_minutes smallint,
        end_utc_offset_minutes smallint, type varchar, unit varchar, value double precision,
        meter_number varchar, interval_updated_at timestamptz, interval_created_at timestamptz""",
    "bills": """
        uid varchar, meter_uid varchar, authorization_uid varchar, utility varchar,
        updated timestamptz, bill_start_at timestamptz, bill_end_at timestamptz,
        bill_statement_at timestamptz, bill_total_cost double precision,
        bill_total_volume double precision, bill_total_unit varchar,
        bill_total_kwh double precision, is_estimated boolean""",
}


def psql(sql: str) -> str:
    done = subprocess.run(
        ["psql", DSN, "-X", "-q", "-v", "ON_ERROR_STOP=1"],
        input=sql,
        text=True,
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_models_give_the_same_tables_on_postgres(world_db: Path, tmp_path: Path) -> None:
    duck = duckdb.connect(str(world_db), read_only=True)
    script = [
        "drop schema if exists utilityapi cascade;",
        "drop schema if exists analytics cascade;",
        "create schema utilityapi; create schema analytics;",
        "set timezone = 'America/Denver';",  # a session zone must not matter there either
    ]
    for table, columns in RAW_TABLES.items():
        names = ", ".join(line.split()[0] for line in columns.split(",") if line.strip())
        path = tmp_path / f"{table}.csv"
        duck.execute(f"copy (select {names} from utilityapi.{table}) to '{path}' (header)")
        script.append(f"create table utilityapi.{table} ({columns});")
        script.append(f"\\copy utilityapi.{table} from '{path}' csv header")
    script.append(
        "create table analytics._scope_meter_days as select distinct meter_uid, "
        "date '1900-01-01' as from_local_date, date '2999-12-31' as to_local_date "
        "from utilityapi.interval_readings;"
    )
    script.append(
        "create table analytics._scope_bills as select uid as bill_uid from utilityapi.bills;"
    )
    for model in load_models():
        [sql] = sqlglot.transpile(model.sql, read="duckdb", write="postgres")
        kind = "view" if model.materialized == "view" else "table"
        script.append(f"create {kind} {model.relation} as {sql};")
    psql("\n".join(script))

    for model in load_models():
        if model.materialized == "view":
            continue
        cursor = duck.execute(f"select * exclude (_transform_run_id) from {model.relation}")
        names = [d[0] for d in cursor.description]
        in_duckdb = {tuple(_plain(v) for v in row) for row in cursor.fetchall()}
        out = psql(f"\\copy (select {', '.join(names)} from {model.relation}) to stdout csv")
        in_postgres = {tuple(_parsed(v) for v in row) for row in csv.reader(io.StringIO(out))}
        assert in_postgres == in_duckdb, model.name
    duck.close()


def _plain(value: object) -> object:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float | int):
        return round(float(value), 6)
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value
    return value


def _parsed(text: str) -> object:
    if text == "":
        return None
    if text in ("t", "f"):
        return text == "t"
    try:
        return round(float(text), 6)
    except ValueError:
        pass
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return _plain(datetime.fromisoformat(text))
    except ValueError:
        return text
