"""The same sandbox load into DuckDB and into a real PostgreSQL server gives equal raw tables
and equal analytics tables (every row, kWh to 1e-9), after a first load and after an
incremental one; the dbt tests pass on both."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
import pytest

import transforms
from sandbox import Sandbox, SandboxConfig
from sources.utilityapi import LoadReport, UtilityAPIClient, utilityapi
from tests.support.clock import FakeClock
from tests.support.postgres import PostgresServer
from tests.transforms.snapshots import MARTS, rounded, table

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)  # 100 days of history cover 2026-03-08
RAW = ("interval_readings", "interval_objects", "bills", "meters")


def load(pipeline: dlt.Pipeline, sb: Sandbox, clock: FakeClock, **run: Any) -> None:
    client = UtilityAPIClient(sb.token, sb.base_url, clock=clock, rate_limit=None)
    try:
        source = utilityapi(
            api_token=sb.token,
            base_url=sb.base_url,
            report=LoadReport(),
            client=client,
            clock=clock,
        ).with_resources("authorizations", "meters", "bills", "interval_readings")
        pipeline.run(source, **run)
    finally:
        client.close()


def comparable(pipeline: dlt.Pipeline, name: str, schema: str) -> list[dict[str, Any]]:
    """Rows without dlt's own bookkeeping (load ids and row ids differ between pipelines)."""
    rows = [
        {k: _json(v) for k, v in row.items() if not k.startswith("_dlt")}
        for row in table(pipeline, name, schema=schema)
    ]
    return rounded(rows)


def _json(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.dumps(json.loads(value), sort_keys=True)
        except ValueError:
            return value
    return value


def raw_tables(pipeline: dlt.Pipeline) -> dict[str, list[dict]]:
    with pipeline.sql_client() as client:
        present = {name for name in RAW if client.has_dataset()}
    return {
        name: comparable(pipeline, name, "utilityapi")
        for name in sorted(present)
        if _exists(pipeline, name)
    }


def _exists(pipeline: dlt.Pipeline, name: str) -> bool:
    with pipeline.sql_client() as client:
        rows = client.execute_sql(
            "select count(*) from information_schema.tables "
            "where table_schema = 'utilityapi' and table_name = %s",
            name,
        )
    return bool(rows[0][0])


def analytics_tables(pipeline: dlt.Pipeline) -> dict[str, list[dict]]:
    return {name: comparable(pipeline, name, "analytics") for name in MARTS}


@pytest.fixture
def warehouses(
    tmp_path: Path, postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> tuple[dlt.Pipeline, dlt.Pipeline]:
    # credentials as a user gives them: dlt's environment configuration, never a flag
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", postgres_server.dsn)
    monkeypatch.setenv("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")
    # neither warehouse's session zone may matter
    monkeypatch.setenv("PGTZ", "America/Denver")
    duck = dlt.pipeline(
        "warehouses_duckdb",
        destination=dlt.destinations.duckdb(str(tmp_path / "uapi.duckdb")),
        dataset_name="utilityapi",
        pipelines_dir=str(tmp_path / "dlt"),
    )
    postgres = dlt.pipeline(
        "warehouses_postgres",
        destination="postgres",
        dataset_name="utilityapi",
        pipelines_dir=str(tmp_path / "dlt"),
    )
    with postgres.sql_client() as client:
        for schema in ("utilityapi", "analytics"):
            client.execute_sql(f"drop schema if exists {schema} cascade")
    return duck, postgres


def test_duckdb_and_postgres_give_the_same_tables(warehouses) -> None:
    duck, postgres = warehouses
    clock = FakeClock(NOW)
    with Sandbox(SandboxConfig(seed=21, scale="test", now=NOW, rate_limit=None)) as sb:
        load(duck, sb, clock, loader_file_format="parquet")
        load(postgres, sb, clock)
        results = [transforms.run(duck), transforms.run(postgres)]
        assert [r.mode for r in results] == ["full", "full"]
        _assert_equal(duck, postgres, results)

        sb.advance(timedelta(days=1))
        clock.advance(timedelta(days=1))
        load(duck, sb, clock, loader_file_format="parquet")
        load(postgres, sb, clock)
        results = [transforms.run(duck), transforms.run(postgres)]
        assert [r.mode for r in results] == ["incremental", "incremental"]
        assert results[0].scope == results[1].scope and results[0].scope
        _assert_equal(duck, postgres, results)


def _assert_equal(duck: dlt.Pipeline, postgres: dlt.Pipeline, results: list) -> None:
    for result in results:
        assert result.tests and {t.status for t in result.tests} == {"pass"}
    raw_duck, raw_postgres = raw_tables(duck), raw_tables(postgres)
    assert set(raw_duck) == set(raw_postgres) >= {"interval_readings", "bills", "meters"}
    for name in raw_duck:
        assert raw_duck[name] == raw_postgres[name], name
    analytics_duck, analytics_postgres = analytics_tables(duck), analytics_tables(postgres)
    for name in MARTS:
        assert analytics_duck[name], name
        assert len(analytics_duck[name]) == len(analytics_postgres[name]), name
        assert analytics_duck[name] == analytics_postgres[name], name
