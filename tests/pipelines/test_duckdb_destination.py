"""DuckDB merges deduplicated tables straight from their Parquet files (duckdb_destination.py)."""

from __future__ import annotations

from pathlib import Path

import dlt
import duckdb
import pyarrow as pa
import pytest
from dlt.common.schema.utils import new_table

from pipelines.duckdb_destination import duckdb as duckdb_destination
from pipelines.duckdb_destination import merges_from_file

KEY = ["uid", "start", "type"]
DEDUPLICATED = {"disposition": "merge", "deduplicated": True}


def readings(rows: list[tuple[str, int, str, float]]) -> pa.Table:
    uid, start, kind, value = zip(*rows, strict=True)
    return pa.table({"uid": uid, "start": start, "type": kind, "value": value})


def load(pipeline: dlt.Pipeline, table: pa.Table, disposition=DEDUPLICATED) -> None:
    resource = dlt.resource(
        [table], name="readings", write_disposition=disposition, primary_key=KEY
    )
    pipeline.run(resource, loader_file_format="parquet")


def contents(db: Path, schema: str = "data") -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            f"select uid, start, type, value from {schema}.readings order by all"
        ).fetchall()


def staged_tables(db: Path) -> set[str]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "select table_name from information_schema.tables where table_schema = 'data_staging'"
        ).fetchall()
    return {name for (name,) in rows}


@pytest.fixture
def pipeline(tmp_path: Path) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name="merge_from_file",
        pipelines_dir=str(tmp_path / "pipelines"),
        destination=duckdb_destination(str(tmp_path / "w.duckdb")),
        dataset_name="data",
    )


def test_a_deduplicated_table_is_merged_on_its_whole_key_without_staging(pipeline, tmp_path):
    db = tmp_path / "w.duckdb"
    load(pipeline, readings([("a", 1, "net", 1.0), ("a", 1, "gen", 2.0), ("a", 2, "net", 3.0)]))
    # one row republished with a new value, one key differing from another in its type only
    load(pipeline, readings([("a", 1, "net", 10.0), ("a", 2, "gen", 4.0)]))
    assert contents(db) == [
        ("a", 1, "gen", 2.0),
        ("a", 1, "net", 10.0),
        ("a", 2, "gen", 4.0),
        ("a", 2, "net", 3.0),
    ]
    assert "readings" not in staged_tables(db)
    # the same package's rows again (a resumed load) change nothing
    load(pipeline, readings([("a", 1, "net", 10.0), ("a", 2, "gen", 4.0)]))
    assert len(contents(db)) == 4


def test_a_table_that_may_repeat_a_key_is_merged_the_way_dlt_does(pipeline, tmp_path):
    db = tmp_path / "w.duckdb"
    load(pipeline, readings([("a", 1, "net", 1.0)]), disposition="merge")
    load(pipeline, readings([("a", 1, "net", 2.0), ("a", 1, "net", 2.0)]), disposition="merge")
    assert contents(db) == [("a", 1, "net", 2.0)]
    assert "readings" in staged_tables(db)


def test_the_destination_keeps_dlt_s_duckdb_type(tmp_path):
    stock = dlt.destinations.duckdb(str(tmp_path / "w.duckdb"))
    ours = duckdb_destination(str(tmp_path / "w.duckdb"))
    assert ours.destination_type == stock.destination_type
    assert ours.destination_name == stock.destination_name


def _table(**hints) -> dict:
    table = new_table("readings", write_disposition="merge")
    table["columns"] = {
        "uid": {"name": "uid", "data_type": "text", "primary_key": True, "nullable": False},
        "value": {"name": "value", "data_type": "double"},
    }
    table.update(hints)
    return table


def _column_hint(hint: str):
    def change(table: dict) -> None:
        table["columns"]["value"][hint] = True

    return change


@pytest.mark.parametrize(
    ("change", "merged_from_file"),
    [
        (lambda table: None, True),
        (lambda table: table.update({"x-stage-data-deduplicated": False}), False),
        (lambda table: table.update({"write_disposition": "append"}), False),
        (lambda table: table.update({"x-merge-strategy": "upsert"}), False),
        (lambda table: table["columns"]["uid"].update({"primary_key": False}), False),
        (_column_hint("merge_key"), False),
        (_column_hint("hard_delete"), False),
        (_column_hint("dedup_sort"), False),
    ],
    ids=[
        "qualifies",
        "may-repeat",
        "append",
        "upsert",
        "no-key",
        "merge-key",
        "hard-delete",
        "dedup-sort",
    ],
)
def test_only_a_deduplicated_primary_key_merge_of_one_table_qualifies(change, merged_from_file):
    table = _table(**{"x-stage-data-deduplicated": True})
    change(table)
    assert merges_from_file(table, {"readings": table}) is merged_from_file


def test_a_table_with_nested_tables_does_not_qualify():
    table = _table(**{"x-stage-data-deduplicated": True})
    nested = new_table("readings__notes", parent_table_name="readings")
    assert merges_from_file(table, {"readings": table}) is True
    assert merges_from_file(table, {"readings": table, "readings__notes": nested}) is False


def test_readings_staged_by_an_earlier_version_are_emptied_not_kept(tmp_path):
    # dlt's own DuckDB destination stages the table, as this project did before; the copy
    # stayed in the staging schema after each load, and nothing truncates it any more
    db = tmp_path / "w.duckdb"

    def pipeline(destination) -> dlt.Pipeline:
        return dlt.pipeline(
            pipeline_name="upgraded",
            pipelines_dir=str(tmp_path / "pipelines"),
            destination=destination,
            dataset_name="data",
        )

    load(pipeline(dlt.destinations.duckdb(str(db))), readings([("a", 1, "net", 1.0)]))
    assert contents(db, "data_staging") == [("a", 1, "net", 1.0)]
    load(pipeline(duckdb_destination(str(db))), readings([("a", 2, "net", 2.0)]))
    assert contents(db) == [("a", 1, "net", 1.0), ("a", 2, "net", 2.0)]
    assert contents(db, "data_staging") == []
