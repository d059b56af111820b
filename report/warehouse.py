"""Read-only connections to the warehouse the report and `uapi query` read.

A DuckDB file is opened read-only, so reading it can never change it. DuckDB lets a file be
opened by one writing process or by readers, not both: while a `uapi load` writes the file a
reader cannot open it (`WarehouseBusy`), and while a reader has it open a load cannot start, so
readers hold their connection only as long as their queries run. Other destinations are read
through dlt's SQL client of the same pipeline `uapi load` writes with, so they use its
credentials.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


class WarehouseError(Exception):
    """The warehouse could not be read; the message says what to do."""


class WarehouseMissing(WarehouseError):
    """There is no database to read yet: run `uapi load` first."""


class WarehouseBusy(WarehouseError):
    """Another program is writing the DuckDB file; retry when it has finished."""


class QueryFailed(WarehouseError):
    """The database rejected a query; the message is the database's own."""


@dataclass(frozen=True)
class Result:
    """Rows of a query with their column names, in the order the database returned them."""

    columns: list[str]
    rows: list[tuple[Any, ...]]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


class Warehouse(Protocol):
    """What readers need of a connection: run a query, close."""

    def query(self, sql: str) -> Result: ...

    def close(self) -> None: ...


class DuckDBWarehouse:
    """A DuckDB file opened read-only."""

    def __init__(self, path: Path) -> None:
        import duckdb

        if not path.is_file():
            raise WarehouseMissing(f"no database at {path}: run `uapi load` first")
        try:
            self._connection = duckdb.connect(str(path), read_only=True)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise WarehouseError(f"cannot open {path}: {_first_line(exc)}") from exc
            raise WarehouseBusy(
                f"{path} is being written by another program (a `uapi load`, `uapi transform` "
                "or an open DuckDB session), and DuckDB lets nobody read a file while it is "
                "written. Retry when that program has finished."
            ) from exc
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot open {path}: {_first_line(exc)}") from exc

    def query(self, sql: str) -> Result:
        import duckdb

        try:
            cursor = self._connection.execute(sql)
            rows = cursor.fetchall()
        except duckdb.Error as exc:
            raise QueryFailed(str(exc).strip()) from exc
        return Result([column[0] for column in cursor.description or ()], rows)

    def close(self) -> None:
        self._connection.close()


class SqlClientWarehouse:
    """Any other dlt destination, through the pipeline's SQL client."""

    def __init__(self, pipeline: Any) -> None:
        self._context = pipeline.sql_client()
        try:
            self._client = self._context.__enter__()
        except Exception as exc:  # noqa: BLE001 - the driver's message says what is wrong
            raise WarehouseError(
                f"cannot connect to the {pipeline.destination.destination_name} destination: "
                f"{_first_line(exc)}. Check its credentials in dlt's configuration."
            ) from exc
        if self._client.capabilities.sqlglot_dialect == "postgres":
            # Readers must not change the warehouse: Postgres can enforce it per session.
            self._client.execute_sql("set session characteristics as transaction read only")

    def query(self, sql: str) -> Result:
        try:
            with self._client.execute_query(sql) as cursor:
                columns = [column[0] for column in cursor.description or ()]
                rows = [tuple(row) for row in cursor.fetchall()] if columns else []
        except Exception as exc:  # noqa: BLE001 - every driver raises its own kinds
            raise QueryFailed(_innermost(exc)) from exc
        return Result(columns, rows)

    def close(self) -> None:
        self._context.__exit__(None, None, None)


@contextlib.contextmanager
def open_warehouse(target: Any) -> Iterator[Warehouse]:
    """A read-only connection to a `pipelines.pipeline.Target`, closed on exit."""
    warehouse: Warehouse
    if target.is_duckdb:
        warehouse = DuckDBWarehouse(target.db_path)
    elif target.analytics_db is not None:
        # files: the DuckDB file the transform copies the Delta tables into and builds in
        warehouse = DuckDBWarehouse(target.analytics_db)
    else:
        from pipelines.pipeline import make_pipeline

        warehouse = SqlClientWarehouse(make_pipeline(target))
    try:
        yield warehouse
    finally:
        warehouse.close()


def literal(value: str) -> str:
    """A SQL string literal (standard quoting, which DuckDB and Postgres share)."""
    return "'" + value.replace("'", "''") + "'"


def literals(values: Sequence[str]) -> str:
    return ", ".join(literal(value) for value in values)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _innermost(exc: BaseException) -> str:
    """dlt wraps driver errors; the driver's own message is what a user can act on."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc).strip() or type(exc).__name__
