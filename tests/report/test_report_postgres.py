"""The report's SQL and README's queries on Postgres, read through dlt's SQL client.

Part of the demo load (two meters: a gas one and a solar one, with every table the report
reads) is copied from DuckDB into a throwaway PostgreSQL server; the report's content read from
there must equal the content read from DuckDB. Needs the server fixture of the warehouse tests
(tests/support/postgres.py) and psycopg2 (the `postgres` extra); without them it is skipped.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

pytest.importorskip("psycopg2", reason="needs psycopg2 (pip install '.[postgres]')")
support = pytest.importorskip(
    "tests.support.postgres", reason="needs the PostgreSQL server fixture"
)
postgres_server = support.postgres_server

from pipelines.cli import main  # noqa: E402
from pipelines.pipeline import Target  # noqa: E402
from report import open_warehouse  # noqa: E402
from report.catalog import Catalog  # noqa: E402
from report.data import read_account  # noqa: E402
from report.quality import findings  # noqa: E402
from tests.report.test_readme_queries import QUERIES  # noqa: E402

# table -> the column that selects the copied meters (None: copy every row)
TABLES = {
    "utilityapi.meters": None,
    "utilityapi.bills": "meter_uid",
    "utilityapi.interval_objects": "meter_uid",
    "analytics.meter_daily_usage": "meter_uid",
    "analytics.meter_intervals_15min": "meter_uid",
    "analytics.bill_reconciliation": "meter_uid",
    "analytics.meter_monthly_peaks": "meter_uid",
    "analytics.meter_time_zones": "meter_uid",
}
TYPES = {
    "VARCHAR": "text",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "SMALLINT": "smallint",
    "DOUBLE": "double precision",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "JSON": "jsonb",
}


@pytest.fixture(scope="module")
def meters(demo_db: Path) -> list[str]:
    """A gas meter and a meter with solar export."""
    with duckdb.connect(str(demo_db), read_only=True) as con:
        rows = con.execute(
            "select min(meter_uid) filter (where unit = 'therms'), "
            "min(meter_uid) filter (where channel = 'rev') from analytics.meter_daily_usage"
        ).fetchone()
    assert rows is not None and all(rows)
    return list(rows)


@pytest.fixture(scope="module")
def postgres_dsn(postgres_server: Any, demo_db: Path, meters: list[str]) -> str:
    import psycopg2
    import psycopg2.extras

    with duckdb.connect(str(demo_db), read_only=True) as duck:
        with psycopg2.connect(postgres_server.dsn) as pg, pg.cursor() as cursor:
            for table, key in TABLES.items():
                columns = duck.execute(f"describe {table}").fetchall()
                ddl = ", ".join(f'"{name}" {TYPES[kind]}' for name, kind, *_ in columns)
                cursor.execute(f"create schema if not exists {table.split('.')[0]}")
                cursor.execute(f"drop table if exists {table}")
                cursor.execute(f"create table {table} ({ddl})")
                where = f"where {key} in ({', '.join('?' for _ in meters)})" if key else ""
                rows = duck.execute(
                    f"select * from {table} {where}", meters if key else []
                ).fetchall()
                psycopg2.extras.execute_values(
                    cursor, f"insert into {table} values %s", rows, page_size=5000
                )
            # statistics, as autovacuum would gather them on a warehouse: without them the
            # planner picks nested loops for the report's joins
            cursor.execute("analyze")
    return postgres_server.dsn


@pytest.fixture
def on_postgres(postgres_dsn: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Target:
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", postgres_dsn)
    monkeypatch.chdir(tmp_path)  # the pipeline's working folder is relative
    return Target(destination="postgres")


def content(target: Target, meters: list[str]) -> dict[str, Any]:
    """Everything the report shows for `meters`, in comparable form."""
    with open_warehouse(target) as warehouse:
        account = read_account(warehouse, Catalog.read(warehouse, "utilityapi"), meters)
    shown = dataclasses.asdict(account)
    if isinstance(shown["time_zones"], list):  # the account's checks; the report shows `meters`'
        shown["time_zones"] = [z for z in shown["time_zones"] if z["meter_uid"] in meters]
    return _plain(
        {
            "account": shown,
            "findings": [dataclasses.asdict(f) for f in findings(account)],
        }
    )


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, float):
        # sums run in another order on another engine: equal to far below the published 1e-3
        return round(value, 6)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def test_the_report_reads_the_same_content_from_postgres(on_postgres, demo_db, meters):
    from_duckdb = content(Target(db_path=demo_db), meters)
    from_postgres = content(on_postgres, meters)
    account = from_postgres["account"]
    assert [data["meter"]["meter_uid"] for data in account["meter_data"]] == meters
    assert all(data["days"] and data["bills"] for data in account["meter_data"])
    assert any(data["solar"] for data in account["meter_data"])
    assert from_postgres == from_duckdb


def test_report_command_on_postgres(on_postgres, meters, tmp_path, capsys):
    out = tmp_path / "pg.html"
    code = main(
        ["report", "--destination", "postgres", "--meters", ",".join(meters), "--out", str(out)]
    )
    assert code == 0, capsys.readouterr().err
    assert out.read_text().count('<section class="meter"') == 2


@pytest.mark.parametrize("where,arguments", QUERIES, ids=[where for where, _ in QUERIES])
def test_readme_queries_run_on_postgres(on_postgres, where, arguments, capsys):
    code = main(["query", *arguments, "--destination", "postgres", "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, f"{where}: {err}"
    assert json.loads(out), f"{where} returned no rows on Postgres"


def test_query_on_postgres_is_read_only(on_postgres, capsys):
    code = main(["query", "drop table analytics.meter_daily_usage", "--destination", "postgres"])
    assert code == 2
    assert "read-only transaction" in capsys.readouterr().err
