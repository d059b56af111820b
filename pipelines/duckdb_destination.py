"""dlt's DuckDB destination, with deduplicated merge tables merged straight from their file.

dlt merges a table in two steps: each file is copied into a table of the staging dataset, then
a follow-up job deletes the destination's rows whose key is staged and inserts the staged rows.
In DuckDB the staging dataset is a schema of the same database file, so every reading was
written to the file twice: on scenario 1's 10.6 M readings (`bench/`), 8.9 s and 16.5 CPU s of
a 33 s backfill, against 4.0 s and 7.7 CPU s merging each Parquet file directly.

A table qualifies when its rows never repeat a key within a package (the source declares it
`deduplicated`, see READINGS_DISPOSITION), it is merged on its primary key alone with the
default strategy, and it has no nested tables. Each of its files is then one transaction:
delete the rows whose key is in the file, insert the file. A run killed during that job either
committed it or left nothing; repeating it gives the same rows, so its package can be resumed.
Every other table, and every other destination, is merged the way dlt does it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from dlt.common.destination.client import (
    HasFollowupJobs,
    LoadJob,
    PreparedTableSchema,
    RunnableLoadJob,
)
from dlt.common.destination.exceptions import DestinationTerminalException
from dlt.common.destination.reference import DestinationReference
from dlt.common.schema.utils import get_columns_names_with_prop, get_nested_tables
from dlt.common.storages.load_storage import ParsedLoadJobFileName
from dlt.destinations import duckdb as duckdb_factory
from dlt.destinations.impl.duckdb.duck import DuckDbClient

MERGE_FROM_FILE_FORMATS = ("parquet",)


class MergeFromFileJob(RunnableLoadJob, HasFollowupJobs):
    """Replace the destination's rows whose key is in a Parquet file by the file's rows."""

    def run(self) -> None:
        client = self._job_client.sql_client  # type: ignore[attr-defined]
        file_format = ParsedLoadJobFileName.parse(self._file_path).file_format
        if file_format not in MERGE_FROM_FILE_FORMATS:
            raise DestinationTerminalException(
                f"{self.load_table_name} is merged straight from Parquet files in DuckDB, "
                f"and this package holds a {file_format} file: {self._file_path}"
            )
        table = client.make_qualified_table_name(self.load_table_name)
        rows = f"read_parquet('{_sql_path(self._file_path)}', union_by_name=true)"
        same_key = " AND ".join(
            f"d.{column} = s.{column}"
            for column in map(
                client.escape_column_name,
                get_columns_names_with_prop(self._load_table, "primary_key"),
            )
        )
        with client.begin_transaction():
            client.execute_sql(
                f"DELETE FROM {table} AS d "
                f"WHERE EXISTS (SELECT 1 FROM {rows} AS s WHERE {same_key})"
            )
            client.execute_sql(f"INSERT INTO {table} BY NAME SELECT * FROM {rows}")


def merges_from_file(table: Any, tables: Any) -> bool:
    """Whether MergeFromFileClient merges this table (a dlt table schema) straight from its files.

    `tables` is the schema's tables, to tell whether it has nested tables.
    """
    return bool(
        table.get("write_disposition") == "merge"
        and table.get("x-stage-data-deduplicated")
        and table.get("x-merge-strategy", "delete-insert") == "delete-insert"
        and get_columns_names_with_prop(table, "primary_key")
        and not get_columns_names_with_prop(table, "merge_key")
        and not get_columns_names_with_prop(table, "hard_delete")
        and not get_columns_names_with_prop(table, "dedup_sort")
        and len(get_nested_tables(tables, table["name"])) == 1
    )


class MergeFromFileClient(DuckDbClient):
    """dlt's DuckDB job client; tables that qualify skip the staging dataset and its merge job."""

    def merges_from_file(self, table_name: str) -> bool:
        return merges_from_file(self.prepare_load_table(table_name), self.schema.tables)

    def initialize_storage(self, truncate_tables: Iterable[str] | None = None) -> None:
        super().initialize_storage(truncate_tables)
        if not self.sql_client.is_staging_dataset_active:
            self._empty_staged_copies()

    def _empty_staged_copies(self) -> None:
        """Empty what versions that staged these tables left in the staging dataset (a step's
        readings): nothing truncates it any more. Emptied, not dropped, so that such a version
        would still find its table."""
        names = [name for name in self.schema.data_table_names() if self.merges_from_file(name)]
        if not names:
            return
        found = self.sql_client.execute_sql(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = %s AND table_name IN (" + ", ".join(["%s"] * len(names)) + ")",
            self.sql_client.staging_dataset_name,
            *names,
        )
        if found:
            with self.sql_client.with_staging_dataset():
                self.sql_client.truncate_tables(*(name for (name,) in found))

    def should_load_data_to_staging_dataset(self, table_name: str) -> bool:
        if self.merges_from_file(table_name):
            return False
        return super().should_load_data_to_staging_dataset(table_name)

    def create_load_job(
        self, table: PreparedTableSchema, file_path: str, load_id: str, restore: bool = False
    ) -> LoadJob:
        if self.merges_from_file(table["name"]):
            return MergeFromFileJob(file_path)
        return super().create_load_job(table, file_path, load_id, restore)

    def _create_merge_followup_jobs(self, table_chain: Sequence[PreparedTableSchema]) -> list[Any]:
        if self.merges_from_file(table_chain[0]["name"]):
            return []
        return super()._create_merge_followup_jobs(table_chain)


class duckdb(duckdb_factory):  # noqa: N801 - named like the dlt factory it stands for
    """`dlt.destinations.duckdb` with MergeFromFileClient; the same type for dlt's state."""

    @property
    def client_class(self) -> type[MergeFromFileClient]:
        return MergeFromFileClient

    @property
    def destination_type(self) -> str:
        return DestinationReference.normalize_type(
            f"{duckdb_factory.__module__}.{duckdb_factory.__qualname__}"
        )


def _sql_path(path: str) -> str:
    return path.replace("'", "''")
