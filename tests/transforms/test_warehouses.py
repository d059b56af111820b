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

from pipelines.pipeline import LoadOptions, Target, make_pipeline, run_load
from sandbox import Sandbox, SandboxConfig
from tests.support.clock import FakeClock
from tests.support.postgres import PostgresServer
from tests.transforms.snapshots import MARTS, rounded, table

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)  # 100 days of history cover 2026-03-08
RAW = ("interval_readings", "interval_objects", "bills", "meters")


def load(target: Target, sb: Sandbox, clock: FakeClock) -> Any:
    """A `uapi load` of the sandbox into `target`, transforms included."""
    options = LoadOptions(
        target=target,
        source={"api_token": sb.token, "base_url": sb.base_url, "rate_limit": 0},
        resources=("authorizations", "meters", "bills", "interval_readings"),
        clock=clock,
    )
    result = run_load(options)
    assert result.outcome.status == "ok", (result.report.shortfalls, result.transform_error)
    return result


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
def targets(
    tmp_path: Path, postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> tuple[Target, Target]:
    # credentials as a user gives them: dlt's environment configuration, never a flag
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", postgres_server.dsn)
    # neither warehouse's session zone may matter
    monkeypatch.setenv("PGTZ", "America/Denver")
    postgres = Target(destination="postgres", pipelines_dir=tmp_path / "pipelines")
    with make_pipeline(postgres).sql_client() as client:
        for schema in ("utilityapi", "analytics"):
            client.execute_sql(f"drop schema if exists {schema} cascade")
    return Target(db_path=tmp_path / "uapi.duckdb"), postgres


def test_duckdb_and_postgres_give_the_same_tables(targets) -> None:
    duck, postgres = targets
    clock = FakeClock(NOW)
    with Sandbox(SandboxConfig(seed=21, scale="test", now=NOW, rate_limit=None)) as sb:
        results = [load(duck, sb, clock).transform, load(postgres, sb, clock).transform]
        assert [r.mode for r in results] == ["full", "full"]
        _assert_equal(make_pipeline(duck), make_pipeline(postgres), results)

        sb.advance(timedelta(days=1))
        clock.advance(timedelta(days=1))
        results = [load(duck, sb, clock).transform, load(postgres, sb, clock).transform]
        assert [r.mode for r in results] == ["incremental", "incremental"]
        assert results[0].scope == results[1].scope and results[0].scope
        _assert_equal(make_pipeline(duck), make_pipeline(postgres), results)


def test_uapi_load_and_transform_on_postgres_and_a_wrong_password(
    postgres_server: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from pipelines.cli import main

    monkeypatch.chdir(tmp_path)  # the working folder goes to data/pipelines/postgres/...
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", postgres_server.dsn)
    monkeypatch.setenv("SOURCES__UTILITYAPI__RATE_LIMIT", "0")
    config = SandboxConfig(seed=5, scale="test", n_meters=3, history_days=20, now=NOW)
    with make_pipeline(Target(destination="postgres", pipelines_dir=tmp_path)).sql_client() as c:
        for schema in ("raw_uapi", "analytics"):
            c.execute_sql(f"drop schema if exists {schema} cascade")
    with Sandbox(config) as sb:
        api = ["--base-url", sb.base_url, "--token", sb.token]
        assert main(["load", "--destination", "postgres", "--dataset", "raw_uapi", *api]) == 0
        postgres = make_pipeline(
            Target(
                destination="postgres",
                dataset="raw_uapi",
                pipelines_dir=tmp_path / "data" / "pipelines",
            )
        )
        with postgres.sql_client() as client:
            marts = client.execute_sql("select count(*) from analytics.meter_daily_usage")[0][0]
            raw = client.execute_sql("select count(*) from raw_uapi.interval_readings")[0][0]
        assert raw > 0 and marts > 0
        capsys.readouterr()
        args = ["transform", "--destination", "postgres", "--dataset", "raw_uapi", "--full-refresh"]
        assert main(args) == 0
        assert "full" in capsys.readouterr().out
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", postgres_server.dsn_with("wrong"))
        sb.clear_requests()
        assert main(["load", "--destination", "postgres", "--dataset", "raw_uapi", *api]) == 1
        err = capsys.readouterr().err
        assert "cannot connect to the postgres destination" in err
        assert "password authentication failed" in err and "wrong" not in err.split("failed")[0]
        assert sb.requests == []  # nothing fetched before the warehouse was reachable


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
