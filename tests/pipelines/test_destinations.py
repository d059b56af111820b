"""Other warehouses than the default DuckDB file: the filesystem destination as Delta tables."""

from __future__ import annotations

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


def test_delta_tables_equal_duckdb_after_incremental_runs(tmp_path, monkeypatch):
    pytest.importorskip("deltalake")
    lake = tmp_path / "lake"
    monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", f"file://{lake}")
    config = SandboxConfig(seed=11, scale="test", n_meters=4, history_days=30, now=NOW)
    with Sandbox(config) as sb:
        clock = FakeClock(NOW)
        duck = sandbox_options(sb, tmp_path / "w.duckdb", clock)
        delta = LoadOptions(
            target=Target(
                destination="filesystem", table_format="delta", pipelines_dir=tmp_path / "work"
            ),
            source=dict(duck.source),
            clock=clock,
            transform=False,
        )
        for _ in range(3):  # a first load, then two incremental ones
            assert run_load(delta).outcome.status == "ok"
            assert run_load(duck).outcome.status == "ok"
            sb.advance(timedelta(days=3))
            clock.advance(timedelta(days=3))
    raw = {k: v for k, v in snapshot(tmp_path / "w.duckdb").items() if k.startswith("utilityapi.")}
    lake_copy = snapshot(delta_as_duckdb(lake, tmp_path / "lake.duckdb"))
    assert differences(lake_copy, raw) == []
    assert raw["utilityapi.interval_readings"]


def test_plain_parquet_is_refused_naming_delta(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", f"file://{tmp_path / 'lake'}")
    code = main(["load", "--destination", "filesystem", "--token", "t"])
    err = capsys.readouterr().err
    assert code == 2
    assert 'table_format="delta"' in err and "--table-format delta" in err
    assert not (tmp_path / "lake").exists()


def test_transform_on_the_filesystem_destination_is_refused_saying_why(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", f"file://{tmp_path / 'lake'}")
    code = main(["transform", "--destination", "filesystem", "--table-format", "delta"])
    assert code == 2
    assert "not built over its Delta tables" in capsys.readouterr().err
    assert not (tmp_path / "lake").exists()
