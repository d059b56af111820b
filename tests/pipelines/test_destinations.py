"""Other warehouses than the default DuckDB file: the filesystem destination as Delta tables."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from pipelines.cli import main
from pipelines.pipeline import LoadOptions, Target, run_load
from sandbox import Sandbox, SandboxConfig
from tests.support.clock import FakeClock
from tests.support.loads import sandbox_options
from tests.support.warehouse import differences, snapshot

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


def delta_as_duckdb(lake: Path, into: Path) -> Path:
    """Copy every Delta table of the lake's `utilityapi` dataset into a DuckDB file."""
    from deltalake import DeltaTable

    with duckdb.connect(str(into)) as con:
        con.execute("create schema utilityapi")
        for folder in sorted((lake / "utilityapi").iterdir()):
            if (folder / "_delta_log").exists():
                table = DeltaTable(str(folder)).to_pyarrow_table()
                con.register("delta_rows", table)
                con.execute(f'create table utilityapi."{folder.name}" as select * from delta_rows')
                con.unregister("delta_rows")
    return into


def test_delta_tables_and_their_analytics_equal_duckdb_after_incremental_runs(
    tmp_path, monkeypatch
):
    lake = tmp_path / "lake"
    monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", f"file://{lake}")
    config = SandboxConfig(seed=11, scale="test", n_meters=4, history_days=30, now=NOW)
    with Sandbox(config) as sb:
        clock = FakeClock(NOW)
        duck = sandbox_options(sb, tmp_path / "w.duckdb", clock, transform=True)
        target = Target(
            destination="filesystem", table_format="delta", pipelines_dir=tmp_path / "work"
        )
        delta = LoadOptions(target=target, source=dict(duck.source), clock=clock)
        modes = []
        for _ in range(3):  # a first load, then two incremental ones
            result = run_load(delta)
            assert result.outcome.status == "ok"
            modes.append(result.transform.mode)
            assert run_load(duck).outcome.status == "ok"
            sb.advance(timedelta(days=3))
            clock.advance(timedelta(days=3))
    assert modes == ["full", "incremental", "incremental"]
    warehouse = snapshot(tmp_path / "w.duckdb")
    raw = {k: v for k, v in warehouse.items() if k.startswith("utilityapi.")}
    lake_copy = snapshot(delta_as_duckdb(lake, tmp_path / "lake.duckdb"))
    assert differences(lake_copy, raw) == []
    assert raw["utilityapi.interval_readings"]
    # the analytics tables built over the Delta tables equal those built in DuckDB, row for row
    assert target.analytics_db == tmp_path / "work" / "filesystem" / "utilityapi" / "lake.duckdb"
    assert differences(snapshot(target.analytics_db), warehouse) == []
    assert warehouse["analytics.meter_intervals"]


FLAGS = ["--destination", "filesystem", "--table-format", "delta"]


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    """A folder whose `lake/` holds Delta tables `uapi load` wrote (2 meters, 10 days)."""
    folder = tmp_path_factory.mktemp("lake")
    config = SandboxConfig(seed=3, scale="test", n_meters=2, history_days=10, now=NOW)
    with pytest.MonkeyPatch.context() as patch, Sandbox(config) as sb:
        patch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", f"file://{folder / 'lake'}")
        patch.chdir(folder)  # the working folder (data/pipelines/...) is relative
        assert main(["load", *FLAGS, "--token", sb.token, "--base-url", sb.base_url]) == 0
    return folder


@pytest.fixture
def in_lake(lake, monkeypatch) -> Path:
    monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", f"file://{lake / 'lake'}")
    monkeypatch.chdir(lake)
    return lake


def test_uapi_transform_builds_the_analytics_of_delta_tables_into_db(in_lake, tmp_path, capsys):
    analytics = tmp_path / "lake-analytics.duckdb"
    assert main(["transform", *FLAGS, "--db", str(analytics)]) == 0
    assert "full" in capsys.readouterr().out
    with duckdb.connect(str(analytics), read_only=True) as con:
        [(days,)] = con.execute("select count(*) from analytics.meter_daily_usage").fetchall()
        [(meters,)] = con.execute(
            "select count(distinct meter_uid) from utilityapi.interval_readings"
        ).fetchall()
    assert days > 0 and meters == 2
    assert main(["transform", *FLAGS, "--db", str(analytics)]) == 0
    assert "nothing loaded since the last run" in capsys.readouterr().out


def test_load_builds_the_analytics_that_query_and_report_read(in_lake, tmp_path, capsys):
    capsys.readouterr()
    sql = "select count(distinct meter_uid) from analytics.meter_daily_usage"
    assert main(["query", *FLAGS, sql, "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "2"
    out = tmp_path / "report.html"
    assert main(["report", *FLAGS, "--out", str(out)]) == 0
    assert "2 meter(s), 2 with interval data" in capsys.readouterr().out


def test_lake_copy_never_replaces_a_warehouse_dlt_loads(in_lake, tmp_path, capsys):
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema utilityapi")
        con.execute("create table utilityapi._dlt_version (version bigint)")
        con.execute("create table utilityapi.meters as select 'm1' as uid")
    assert main(["transform", *FLAGS, "--db", str(warehouse)]) == 4
    assert "would replace its raw tables" in capsys.readouterr().err
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select uid from utilityapi.meters").fetchall() == [("m1",)]
        assert not con.execute(
            "select * from duckdb_schemas() where schema_name = 'analytics'"
        ).fetchall()


def _copy_of(lake: Path, tmp_path: Path, monkeypatch) -> tuple[Path, Path]:
    """A private copy of the loaded lake and its working folder: (folder, analytics file)."""
    folder = tmp_path / "copy"
    shutil.copytree(lake, folder)
    monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", f"file://{folder / 'lake'}")
    monkeypatch.chdir(folder)
    return folder, folder / "data" / "pipelines" / "filesystem" / "utilityapi" / "lake.duckdb"


def test_a_table_gone_from_the_lake_is_dropped_from_the_copy(lake, tmp_path, monkeypatch):
    _, database = _copy_of(lake, tmp_path, monkeypatch)
    with duckdb.connect(str(database)) as con:
        con.execute("create table utilityapi.gone as select 1 as x")
        con.execute("insert into utilityapi._uapi_lake_versions values ('gone', 'file:///x', 3)")
    assert main(["transform", *FLAGS]) == 0
    with duckdb.connect(str(database), read_only=True) as con:
        tables = {row[0] for row in con.execute("show tables from utilityapi").fetchall()}
    assert "gone" not in tables and "interval_readings" in tables


def test_a_failed_lake_copy_leaves_the_last_copy_whole(lake, tmp_path, capsys, monkeypatch):
    folder, database = _copy_of(lake, tmp_path, monkeypatch)
    before = snapshot(database)
    # every table to be copied again, and one of them (copied after several others) unreadable
    for part in (folder / "lake" / "utilityapi" / "meters").glob("*.parquet"):
        part.unlink()
    with duckdb.connect(str(database)) as con:
        con.execute("delete from utilityapi._uapi_lake_versions")
    capsys.readouterr()
    assert main(["transform", *FLAGS]) == 4
    err = capsys.readouterr().err
    assert "cannot copy the Delta table meters" in err
    assert snapshot(database) == before
    with duckdb.connect(str(database), read_only=True) as con:
        # the tables copied before the failure were rolled back with their versions
        assert con.execute("select * from utilityapi._uapi_lake_versions").fetchall() == []


def test_analytics_file_named_like_a_schema_is_refused(in_lake, capsys):
    assert main(["transform", *FLAGS, "--db", "analytics.duckdb"]) == 4
    assert "makes every query ambiguous" in capsys.readouterr().err


def test_plain_parquet_is_refused_naming_delta(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", f"file://{tmp_path / 'lake'}")
    code = main(["load", "--destination", "filesystem", "--token", "t"])
    err = capsys.readouterr().err
    assert code == 2
    assert 'table_format="delta"' in err and "--table-format delta" in err
    assert not (tmp_path / "lake").exists()


def test_transform_over_iceberg_tables_is_refused_naming_delta(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", f"file://{tmp_path / 'lake'}")
    code = main(["transform", "--destination", "filesystem", "--table-format", "iceberg"])
    assert code == 2
    assert "--table-format delta" in capsys.readouterr().err
    assert not (tmp_path / "lake").exists()


def test_a_load_imports_dbt_only_to_transform():
    # dbt is ~50 MiB and a second of CPU that a load building no analytics tables must not pay
    code = (
        "import sys; from pathlib import Path; import pipelines.pipeline as p; import transforms; "
        "p.check_duckdb_name(Path('w.duckdb'), 'utilityapi'); print('dbt' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
