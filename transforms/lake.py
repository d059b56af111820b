"""The analytics tables of the filesystem destination: its Delta tables are copied into a local
DuckDB file, and the dbt project is built there with dbt-duckdb like on any DuckDB warehouse.

Why a copy and not views: DuckDB reads Delta tables through its `delta` extension, which it
downloads on first use (a machine that reaches only the package registry cannot), and views over
an Arrow dataset registered in one connection do not outlive that connection. The `deltalake`
library dlt writes with reads each table's current version from any bucket dlt can write to, and
DuckDB streams it in. A table whose Delta version has not changed since the last copy is not
copied again, and the whole copy is one transaction: a killed copy leaves the previous one whole.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt

from transforms.results import TransformError, TransformResult

logger = logging.getLogger(__name__)

LOADS_TABLE = "_dlt_loads"
# the Delta version each table was copied at (in the copy's dataset, beside the tables)
VERSIONS_TABLE = "_uapi_lake_versions"
# dlt writes this table in every dataset it loads: its presence means a real warehouse
DLT_VERSION_TABLE = "_dlt_version"
LOADS_COLUMNS = (
    ("load_id", "varchar"),
    ("schema_name", "varchar"),
    ("status", "bigint"),
    ("inserted_at", "timestamptz"),
    ("schema_version_hash", "varchar"),
)


@dataclass
class LakeCopy:
    """What one copy of the Delta tables did."""

    copied: dict[str, int] = field(default_factory=dict)  # table -> rows
    unchanged: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    loads: int = 0
    seconds: float = 0.0


def run(pipeline: dlt.Pipeline, database: Path, *, full_refresh: bool = False) -> TransformResult:
    """Copy the filesystem pipeline's Delta tables into `database`, then build the analytics
    tables there (incrementally, as on DuckDB)."""
    from transforms import run as run_transforms

    copy = copy_lake(pipeline, database)
    logger.info(
        "copied %d Delta table(s) (%d rows), %d unchanged, in %.2fs",
        len(copy.copied),
        sum(copy.copied.values()),
        len(copy.unchanged),
        copy.seconds,
    )
    return run_transforms(
        analytics_pipeline(database, pipeline.dataset_name), full_refresh=full_refresh
    )


def analytics_pipeline(database: Path, dataset: str) -> dlt.Pipeline:
    """The DuckDB pipeline the dbt project runs through; it never loads anything itself."""
    from dlt.destinations import duckdb

    return dlt.pipeline(
        pipeline_name="utilityapi_lake",
        pipelines_dir=str(database.with_name(database.name + ".pipelines")),
        destination=duckdb(str(database)),
        dataset_name=dataset,
    )


def copy_lake(pipeline: dlt.Pipeline, database: Path) -> LakeCopy:
    """Bring the copy of the pipeline's raw tables and its load records in `database` up to date."""
    import duckdb

    started = time.perf_counter()
    tables, loads = _read_lake(pipeline)
    if not tables:
        raise TransformError(
            f"no Delta tables in dataset '{pipeline.dataset_name}' of the filesystem "
            "destination: run `uapi load` first"
        )
    dataset = _quote(pipeline.dataset_name)
    database.parent.mkdir(parents=True, exist_ok=True)
    copy = LakeCopy(loads=len(loads))
    with duckdb.connect(str(database)) as con:
        _refuse_warehouse(con, pipeline.dataset_name, database)
        con.execute("begin")
        con.execute(f"create schema if not exists {dataset}")
        con.execute(
            f"create table if not exists {dataset}.{VERSIONS_TABLE} "
            "(table_name varchar primary key, table_uri varchar, delta_version bigint)"
        )
        copied_at = {
            name: (uri, version)
            for name, uri, version in con.execute(
                f"select table_name, table_uri, delta_version from {dataset}.{VERSIONS_TABLE}"
            ).fetchall()
        }
        for name, table in sorted(tables.items()):
            version = table.version()
            if copied_at.get(name) == (table.table_uri, version):
                copy.unchanged.append(name)
                continue
            try:
                con.register("lake_rows", table.to_pyarrow_dataset())
                con.execute(
                    f"create or replace table {dataset}.{_quote(name)} as select * from lake_rows"
                ).fetchall()
            except Exception as exc:  # noqa: BLE001 - the transaction is rolled back
                raise TransformError(
                    f"cannot copy the Delta table {name} ({table.table_uri}) into {database}: "
                    f"{exc}; the last copy is kept"
                ) from exc
            con.unregister("lake_rows")
            [(rows,)] = con.execute(f"select count(*) from {dataset}.{_quote(name)}").fetchall()
            copy.copied[name] = rows
            con.execute(
                f"insert or replace into {dataset}.{VERSIONS_TABLE} values (?, ?, ?)",
                [name, table.table_uri, version],
            )
        for name in sorted(set(copied_at) - set(tables)):
            # gone from the lake (dropped by a full refresh): gone from the copy too
            con.execute(f"drop table if exists {dataset}.{_quote(name)}")
            con.execute(f"delete from {dataset}.{VERSIONS_TABLE} where table_name = ?", [name])
            copy.dropped.append(name)
        columns = ", ".join(f"{name} {kind}" for name, kind in LOADS_COLUMNS)
        con.execute(f"create or replace table {dataset}.{LOADS_TABLE} ({columns})")
        if loads:
            con.executemany(
                f"insert into {dataset}.{LOADS_TABLE} values (?, ?, ?, ?, ?)",
                [[load.get(name) for name, _ in LOADS_COLUMNS] for load in loads],
            )
        con.execute("commit")
    copy.seconds = time.perf_counter() - started
    return copy


def _read_lake(pipeline: dlt.Pipeline) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The pipeline's raw tables written at least once, as `deltalake.DeltaTable`s, and the rows
    of dlt's `_dlt_loads` (JSON lines in the bucket), through one client of the bucket."""
    from dlt.destinations.exceptions import DestinationUndefinedEntity

    if not pipeline.default_schema_name:
        # a new working folder (another machine, a wiped data/): the schema is in the bucket
        pipeline.sync_destination()
    if not pipeline.default_schema_name:
        return {}, []
    tables: dict[str, Any] = {}
    loads: list[dict[str, Any]] = []
    with pipeline.destination_client() as client:
        for name in client.schema.data_table_names():
            if not client.is_open_table("delta", name):  # type: ignore[attr-defined]
                continue
            try:
                tables[name] = client.load_open_table("delta", name)  # type: ignore[attr-defined]
            except DestinationUndefinedEntity:
                # declared in the schema (e.g. bills before any bill arrived) but never written
                logger.debug("no Delta table %s yet", name)
        try:
            files = client.list_table_files(LOADS_TABLE)  # type: ignore[attr-defined]
        except DestinationUndefinedEntity:
            files = []
        for path in files:
            text = client.fs_client.read_text(client.make_remote_url(path))  # type: ignore[attr-defined]
            loads += [json.loads(line) for line in text.splitlines() if line.strip()]
    return tables, loads


def _refuse_warehouse(con: Any, dataset: str, database: Path) -> None:
    """Never replace raw tables dlt loaded into `database` itself with the copy."""
    [(found,)] = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [dataset, DLT_VERSION_TABLE],
    ).fetchall()
    if found:
        raise TransformError(
            f"{database} holds a warehouse dlt loads (dataset '{dataset}'); the copy of the "
            "Delta tables would replace its raw tables. Choose another file with --db."
        )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
