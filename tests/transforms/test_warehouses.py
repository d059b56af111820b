"""The same sandbox load into DuckDB and into a real PostgreSQL server gives equal raw tables
and equal analytics tables (every row, kWh to 1e-9), after a first load and after an
incremental one; the dbt tests pass on both."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import dlt
import pytest

from pipelines.pipeline import LoadOptions, Target, make_pipeline, run_load
from sandbox import Sandbox, SandboxConfig
from tests.support.clock import FakeClock
from tests.support.postgres import PostgresServer
from tests.transforms.snapshots import MARTS

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)  # 40 days of history cover 2026-03-08 (DST)
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


@dataclass(frozen=True)
class Contents:
    """A table as a multiset of rows (order means nothing in a table), without dlt's own
    bookkeeping (load ids and row ids differ between pipelines), values comparable across
    warehouses."""

    columns: tuple[str, ...]
    rows: Counter[tuple[Any, ...]]


def contents(pipeline: dlt.Pipeline, name: str, schema: str) -> Contents:
    with pipeline.sql_client() as client, client.with_alternative_dataset_name(schema):
        qualified = client.make_qualified_table_name(name)
        with client.execute_query(f"select * from {qualified}") as cursor:
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
    kept = sorted((column, i) for i, column in enumerate(names) if not column.startswith("_dlt"))
    # column by column: a table of 100,000s of rows, and most columns need no conversion
    columns = [_comparable([row[i] for row in rows]) for _, i in kept]
    return Contents(tuple(column for column, _ in kept), Counter(zip(*columns, strict=True)))


def _comparable(values: list[Any]) -> list[Any]:
    kinds = set(map(type, values)) - {type(None)}
    if kinds & {dict, list} or (str in kinds and any(_looks_json(v) for v in values)):
        return [_json(v) for v in values]
    if kinds & {float, Decimal, datetime}:
        return [_scalar(v) for v in values]
    return values


def _looks_json(value: Any) -> bool:
    return isinstance(value, str) and value[:1] in "[{"


def _json(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if _looks_json(value):
        try:
            return json.dumps(json.loads(value), sort_keys=True)
        except ValueError:
            return value
    return value


def _scalar(value: Any) -> Any:
    """Decimals as floats, floats rounded past summation-order noise (warehouses add in
    parallel, in no order), aware times in UTC."""
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    return value


def raw_tables(pipeline: dlt.Pipeline) -> dict[str, Contents]:
    return {name: contents(pipeline, name, "utilityapi") for name in RAW if _exists(pipeline, name)}


def _exists(pipeline: dlt.Pipeline, name: str) -> bool:
    with pipeline.sql_client() as client:
        rows = client.execute_sql(
            "select count(*) from information_schema.tables "
            "where table_schema = 'utilityapi' and table_name = %s",
            name,
        )
    return bool(rows[0][0])


def analytics_tables(pipeline: dlt.Pipeline) -> dict[str, Contents]:
    return {name: contents(pipeline, name, "analytics") for name in MARTS}


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
    world = SandboxConfig(seed=21, scale="test", history_days=40, now=NOW, rate_limit=None)
    with Sandbox(world) as sb:
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
        _assert_same(name, raw_duck[name], raw_postgres[name])
    analytics_duck, analytics_postgres = analytics_tables(duck), analytics_tables(postgres)
    for name in MARTS:
        assert analytics_duck[name].rows, name
        _assert_same(name, analytics_duck[name], analytics_postgres[name])


def _assert_same(name: str, duck: Contents, postgres: Contents) -> None:
    assert duck.columns == postgres.columns, name
    assert duck.rows.total() == postgres.rows.total(), name
    only_duck, only_postgres = duck.rows - postgres.rows, postgres.rows - duck.rows
    assert not only_duck and not only_postgres, (
        name,
        {"only on duckdb": list(only_duck)[:3], "only on postgres": list(only_postgres)[:3]},
    )
