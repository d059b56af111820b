"""Build the `analytics` models in dependency order: all of them, or only what new loads touch."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from transforms import state
from transforms.project import (
    MODELS_DIR,
    SOURCE_SCHEMA,
    TARGET_SCHEMA,
    Model,
    load_models,
    models_hash,
)

logger = logging.getLogger(__name__)

RUN_ID_COLUMN = "_transform_run_id"


class TransformError(RuntimeError):
    """A model failed to build; the message names it. Nothing of the run was kept."""


@dataclass(frozen=True)
class ModelRun:
    """What one model did in a run."""

    name: str
    materialized: str
    rows_deleted: int
    rows_inserted: int
    seconds: float


@dataclass
class RunSummary:
    """What a run did: its mode and why, what it recomputed, and what each model wrote."""

    run_id: int
    mode: str  # "full", "incremental" or "noop"
    reason: str
    meter_days: list[state.MeterDays] = field(default_factory=list)  # incremental runs only
    bills_in_scope: int = 0
    models: list[ModelRun] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # model -> why
    seconds: float = 0.0

    @property
    def meters(self) -> list[str]:
        return [scope.meter_uid for scope in self.meter_days]

    def model(self, name: str) -> ModelRun:
        return next(m for m in self.models if m.name == name)


def run(
    db: str | Path | duckdb.DuckDBPyConnection,
    full_refresh: bool = False,
    *,
    models_dir: Path = MODELS_DIR,
) -> RunSummary:
    """Bring the `analytics` tables up to date with the raw `utilityapi` tables.

    db: a DuckDB file path or an open connection (left open). full_refresh rebuilds every
    table; otherwise only the meters and days that rows loaded since the last run touch are
    recomputed (a full rebuild happens anyway when there is no usable previous run).
    """
    models = load_models(models_dir)
    with _connection(db) as conn, _unordered_inserts(conn):
        conn.begin()
        try:
            summary = _run(conn, models, full_refresh)
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
    logger.info(
        "transform run %s (%s) in %.2fs: %s",
        summary.run_id,
        summary.mode,
        summary.seconds,
        summary.reason,
    )
    return summary


@contextmanager
def _connection(
    db: str | Path | duckdb.DuckDBPyConnection,
) -> Iterator[duckdb.DuckDBPyConnection]:
    if isinstance(db, duckdb.DuckDBPyConnection):
        yield db
        return
    conn = duckdb.connect(str(db))
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def _unordered_inserts(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """No model relies on row order (ORDER BY still holds), and keeping it costs parallelism."""
    before = state.scalar(conn, "select current_setting('preserve_insertion_order')")
    conn.execute("set preserve_insertion_order = false")
    try:
        yield
    finally:
        conn.execute(f"set preserve_insertion_order = {str(before).lower()}")


def _run(conn: duckdb.DuckDBPyConnection, models: list[Model], full_refresh: bool) -> RunSummary:
    started = time.perf_counter()
    started_at = datetime.now(UTC)
    state.ensure_tables(conn)
    tables = _existing_tables(conn)
    active, skipped = _active_models(models, tables)
    fingerprint = models_hash(models)
    previous = state.last_run(conn)
    run_id = previous.run_id + 1 if previous else 1
    readings_load_id = _max_load_id(conn, tables, state.READINGS)
    bills_load_id = _max_load_id(conn, tables, state.BILLS)

    reason = _full_refresh_reason(conn, full_refresh, previous, fingerprint, active, tables)
    summary = RunSummary(run_id=run_id, mode="full", reason=reason or "", skipped=skipped)
    if reason:
        state.scope_everything(
            conn,
            has_readings=state.READINGS in tables,
            has_bills=state.BILLS in tables,
        )
    else:
        assert previous is not None
        state.scope_new_rows(
            conn,
            readings_after=_after(previous.readings_load_id, readings_load_id),
            bills_after=_after(previous.bills_load_id, bills_load_id),
        )
        summary.meter_days = state.meter_days(conn)
        summary.bills_in_scope = state.bills_in_scope(conn)
        has_work = summary.meter_days or summary.bills_in_scope
        summary.mode = "incremental" if has_work else "noop"
        summary.reason = "rows loaded since the last run" if has_work else "nothing new"

    if summary.mode != "noop":
        for model in active:
            summary.models.append(_build(conn, model, run_id, full=summary.mode == "full"))
    if summary.mode == "full":
        summary.bills_in_scope = state.bills_in_scope(conn)

    summary.seconds = time.perf_counter() - started
    state.record_run(
        conn,
        run_id=run_id,
        started_at=started_at,
        finished_at=datetime.now(UTC),
        mode=summary.mode,
        reason=summary.reason,
        readings_load_id=readings_load_id,
        bills_load_id=bills_load_id,
        models_hash=fingerprint,
        meters_in_scope=len(summary.meter_days),
        meter_days_in_scope=sum(
            (s.to_local_date - s.from_local_date).days + 1 for s in summary.meter_days
        ),
        bills_in_scope=summary.bills_in_scope,
        seconds=summary.seconds,
    )
    return summary


def _full_refresh_reason(
    conn: duckdb.DuckDBPyConnection,
    full_refresh: bool,
    previous: state.LastRun | None,
    fingerprint: str,
    active: list[Model],
    tables: set[str],
) -> str | None:
    if full_refresh:
        return "full refresh requested"
    if previous is None:
        return "first run"
    if previous.models_hash != fingerprint:
        return "models changed since the last run"
    missing = [m.name for m in active if m.relation not in tables]
    if missing:
        return f"not built yet: {', '.join(missing)}"
    for table in (state.READINGS, state.BILLS):
        if table in tables and not _has_column(conn, table, state.LOAD_ID):
            return f"{table} has no {state.LOAD_ID} column to find new rows by"
    return None


def _build(conn: duckdb.DuckDBPyConnection, model: Model, run_id: int, full: bool) -> ModelRun:
    started = time.perf_counter()
    deleted = inserted = 0
    select = f"select model.*, {run_id} as {RUN_ID_COLUMN} from (\n{model.sql}\n) as model"
    if model.scope == "meter_days":
        # rows stored in meter and day order let later runs skip most of the table by zone maps
        select += "\norder by model.meter_uid, model.local_date"
    try:
        if model.materialized == "view":
            if full:
                conn.execute(f"create or replace view {model.relation} as\n{model.sql}")
        elif full:
            conn.execute(f"create or replace table {model.relation} as\n{select}")
            inserted = state.scalar(conn, f"select count(*) from {model.relation}")
        elif _scope_has_rows(conn, model.scope):
            deleted = state.scalar(
                conn, f"delete from {model.relation} as target where {_in_scope(model.scope)}"
            )
            inserted = state.scalar(conn, f"insert into {model.relation}\n{select}")
    except duckdb.Error as error:
        raise TransformError(f"model {model.name} ({model.path}) failed: {error}") from error
    seconds = time.perf_counter() - started
    return ModelRun(model.name, model.materialized, deleted, inserted, seconds)


def _in_scope(scope: str | None) -> str:
    if scope == "meter_days":
        return (
            f"exists (select 1 from {state.SCOPE_METER_DAYS} as scope "
            "where scope.meter_uid = target.meter_uid "
            "and target.local_date between scope.from_local_date and scope.to_local_date)"
        )
    if scope == "bills":
        return f"target.bill_uid in (select bill_uid from {state.SCOPE_BILLS})"
    raise ValueError(f"unknown scope {scope}")


def _scope_has_rows(conn: duckdb.DuckDBPyConnection, scope: str | None) -> bool:
    table = state.SCOPE_METER_DAYS if scope == "meter_days" else state.SCOPE_BILLS
    return state.scalar(conn, f"select count(*) from {table}") > 0


def _active_models(models: list[Model], tables: set[str]) -> tuple[list[Model], dict[str, str]]:
    """Models whose raw tables exist; the others wait for a load that creates them."""
    active: list[Model] = []
    skipped: dict[str, str] = {}
    for model in models:
        missing = [s for s in model.sources if f"{SOURCE_SCHEMA}.{s}" not in tables]
        blocked = [d for d in model.depends_on if d in skipped]
        if missing:
            skipped[model.name] = f"no table {SOURCE_SCHEMA}.{missing[0]} yet"
        elif blocked:
            skipped[model.name] = f"depends on skipped {blocked[0]}"
        else:
            active.append(model)
    return active, skipped


def _existing_tables(conn: duckdb.DuckDBPyConnection) -> set[str]:
    rows = conn.execute(
        "select table_schema || '.' || table_name from information_schema.tables "
        "where table_schema in (?, ?)",
        [SOURCE_SCHEMA, TARGET_SCHEMA],
    ).fetchall()
    return {row[0] for row in rows}


def _has_column(conn: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    schema, name = table.split(".")
    return bool(
        state.scalar(
            conn,
            "select count(*) from information_schema.columns "
            "where table_schema = ? and table_name = ? and column_name = ?",
            [schema, name, column],
        )
    )


def _max_load_id(conn: duckdb.DuckDBPyConnection, tables: set[str], table: str) -> str | None:
    if table not in tables or not _has_column(conn, table, state.LOAD_ID):
        return None
    return state.max_load_id(conn, table)


def _after(previous: str | None, current: str | None) -> str | None:
    """The load id after which rows are new; None when the table has nothing new to offer."""
    if current is None:
        return None
    return previous if previous is not None else ""
