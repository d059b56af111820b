"""The dbt project that turns the raw UtilityAPI tables into the tables analysts query.

`run(pipeline)` builds it on the pipeline's own destination, dataset and credentials through
dlt's dbt runner's configuration, with dbt running in this process.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Any

import dlt

from transforms import invocation
from transforms.results import (
    MeterDays,
    ModelResult,
    TestResult,
    TransformError,
    TransformResult,
    failure_message,
    node_results,
    warnings_of,
)

__all__ = [
    "ANALYTICS_SCHEMA",
    "PROJECT_DIR",
    "MeterDays",
    "ModelResult",
    "TestResult",
    "TransformError",
    "TransformResult",
    "docs_command",
    "run",
]

logger = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).parent
ANALYTICS_SCHEMA = "analytics"
# the destinations whose dbt profile is ./profiles.yml; others use the profiles dlt ships
OWN_PROFILES = ("duckdb", "postgres")
# tables an incremental run updates in place: if one is missing, the run is a full one
INCREMENTAL_MODELS = (
    "meter_time_zones",
    "meter_intervals_15min",
    "int_longer_reading_intervals",
    "meter_daily_usage",
    "bill_reconciliation",
    "meter_hourly_usage",
    "meter_monthly_peaks",
    "meter_daily_solar",
    "int_loads_processed",
)
PROCESSED_LOADS = "int_loads_processed"
# each meter and its utility as the last build knew them (models/intermediate)
METER_UTILITIES = "int_meter_utilities"
# tables earlier versions of the project built and this one no longer does: a full build drops
# them, so that analysts never query rows nothing keeps up to date
RETIRED_TABLES = ("int_slots_resolved",)
# the dbt source of the raw tables and those of its tables a load may not have created yet
# (models/staging/_sources.yml)
SOURCE = "utilityapi"
RAW_TABLES = ("interval_readings", "interval_objects", "bills", "meters")
SCOPE = "int_meter_days_in_scope"


def run(pipeline: dlt.Pipeline, *, full_refresh: bool = False) -> TransformResult:
    """Bring the `analytics` tables up to date with the pipeline's raw tables.

    Only the meter-days that loads not yet processed touched are recomputed; a full rebuild
    happens when asked, on the first run, when a table is missing or when the project changed.
    Raises TransformError when a model or an error-severity dbt test fails.
    """
    started = time.perf_counter()
    fingerprint = project_fingerprint()
    # one client for the questions asked before dbt starts and after it ends (connected only
    # then): each new client resolves the destination's configuration again (~0.2 s)
    client = pipeline.sql_client()
    with client:
        raw = _existing_tables(client, pipeline.dataset_name)
        mode, reason = _plan(pipeline, client, raw, full_refresh, fingerprint)
    result = TransformResult(mode=mode, reason=reason)
    if mode != "noop":
        missing = [name for name in RAW_TABLES if name not in raw]
        _build(pipeline, client, result, fingerprint, missing)
    result.seconds = time.perf_counter() - started
    logger.info("transform (%s) in %.2fs: %s", result.mode, result.seconds, result.reason)
    return result


def docs_command(pipeline: dlt.Pipeline | None = None) -> str:
    """The shell command that generates dbt's documentation site for a DuckDB database."""
    database = "../data/uapi.duckdb"
    if pipeline is not None:
        database = str(pipeline.destination_client().config.credentials.database)  # type: ignore[attr-defined]
    return (
        f"cd {PROJECT_DIR} && DLT__CREDENTIALS__DATABASE={database} "
        "dbt docs generate --profiles-dir . --profile duckdb && "
        "dbt docs serve --profiles-dir . --profile duckdb"
    )


def project_fingerprint() -> str:
    """A hash of the SQL and seeds: when it changes, the next run rebuilds everything."""
    digest = hashlib.sha256()
    files = [PROJECT_DIR / "dbt_project.yml"]
    for folder in ("models", "macros", "seeds", "tests"):
        files += sorted((PROJECT_DIR / folder).rglob("*.sql"))
        files += sorted((PROJECT_DIR / folder).rglob("*.csv"))
    for path in files:
        digest.update(str(path.relative_to(PROJECT_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _plan(
    pipeline: dlt.Pipeline, client: Any, raw: set[str], full_refresh: bool, fingerprint: str
) -> tuple[str, str]:
    """The mode of this run and why, from what earlier runs left in `analytics` (`raw`: the
    tables of the raw dataset)."""
    if full_refresh:
        return "full", "full refresh requested"
    if not client.has_dataset():
        raise TransformError(
            f"no raw tables in dataset '{pipeline.dataset_name}': run `uapi load` first"
        )
    loads = client.make_qualified_table_name("_dlt_loads")
    with client.with_alternative_dataset_name(ANALYTICS_SCHEMA):
        existing = _existing_tables(client, ANALYTICS_SCHEMA)
        missing = [name for name in INCREMENTAL_MODELS if name not in existing]
        if len(missing) == len(INCREMENTAL_MODELS):
            return "full", "first run"
        if missing:
            return "full", f"not built yet: {', '.join(missing)}"
        processed = client.make_qualified_table_name(PROCESSED_LOADS)
        known_meters = (
            client.make_qualified_table_name(METER_UTILITIES)
            if METER_UTILITIES in existing
            else None
        )
    [(last_fingerprint,)] = client.execute_sql(
        f"select max(project_fingerprint) from {processed} "
        f"where processed_at = (select max(processed_at) from {processed})"
    )
    if last_fingerprint != fingerprint:
        return "full", "models changed since the last run"
    pending_loads = (
        f"select loads.load_id from {loads} as loads where loads.status = 0 and not exists "
        f"(select 1 from {processed} as processed where processed.load_id = loads.load_id)"
    )
    [(pending,)] = client.execute_sql(f"select count(*) from ({pending_loads}) as pending")
    if not pending:
        return "noop", "nothing loaded since the last run"
    if not _brought_what_the_models_read(pipeline, client, raw, pending_loads, known_meters):
        # they stay pending: the next run that brings rows takes them in with its own
        reason = f"the {pending} load(s) since the last run brought nothing the models read"
        return "noop", reason
    return "incremental", f"{pending} load(s) since the last run"


def _brought_what_the_models_read(
    pipeline: dlt.Pipeline, client: Any, existing: set[str], pending: str, known: str | None
) -> bool:
    """Whether the loads no run has taken in wrote rows the models read: readings, Interval
    objects or bills, or a meter whose utility the last build did not know (`known`: its
    `int_meter_utilities`, None if it has none).

    dlt gives every row it writes (a merge's too) the id of its load, so a raw row that changed
    since the last build names a pending load. A scheduled run that found nothing new still
    loads the listings (the meters merged again, unchanged) and its completeness rows, which
    alone would start a whole dbt build. `existing`: the tables of the raw dataset.
    """
    # any row of a raw table the models read starts a build, but the meter listing's, which
    # every load merges again: those are compared with what the last build knew
    for name in (t for t in RAW_TABLES if t != "meters"):
        if name in existing and client.execute_sql(
            f"select 1 from {client.make_qualified_table_name(name)} "
            f"where _dlt_load_id in ({pending}) limit 1"
        ):
            return True
    if "meters" not in existing:
        return False
    if known is None:
        return True
    meters = client.make_qualified_table_name("meters")
    # dlt creates no column for a field null in every row; stg_meters reads it as null
    columns = pipeline.default_schema.tables.get("meters", {}).get("columns", {})
    utility = "meters.utility" if "utility" in columns else "null"
    return bool(
        client.execute_sql(
            f"select 1 from {meters} as meters left join {known} as known "
            "on known.meter_uid = meters.uid "
            f"where meters._dlt_load_id in ({pending}) "
            f"and (known.meter_uid is null or known.utility is distinct from {utility}) limit 1"
        )
    )


def _existing_tables(client: object, schema: str) -> set[str]:
    rows = client.execute_sql(  # type: ignore[attr-defined]
        "select table_name from information_schema.tables where table_schema = %s", schema
    )
    return {row[0] for row in rows}


def _build(
    pipeline: dlt.Pipeline,
    client: Any,
    result: TransformResult,
    fingerprint: str,
    missing: list[str],
) -> None:
    """`dbt build` (seeds, models and their tests in dependency order) with dlt's dbt runner's
    profile and credentials, in this process (transforms/invocation.py). `missing`: the raw
    tables no load has created yet."""
    runner = dlt.dbt.package(pipeline, str(PROJECT_DIR))
    profiles_dir = runner.config.package_profiles_dir
    if runner.config.package_profile_name in OWN_PROFILES:
        profiles_dir = str(PROJECT_DIR)
    # dbt's saved parse, compiled SQL and log stay beside the pipeline's state, out of the
    # source tree: always the same folder, so the next process starts from the saved parse
    # (absolute: dbt would resolve a relative one, e.g. the CLI's data/pipelines/..., from the
    # project folder and write into the source tree)
    work = Path(pipeline.working_dir).resolve() / "dbt"
    work.mkdir(parents=True, exist_ok=True)
    # `build`, not run then test: a failing test stops the models downstream of it
    arguments = ["--full-refresh"] if result.mode == "full" else []
    if missing:
        # a raw table not loaded yet (e.g. `uapi load --resources meters`) reads as empty in
        # the staging models; the tests declared on it have nothing to test
        arguments += ["--exclude", *(f"source:{SOURCE}.{name}" for name in missing)]
    variables = {
        "utilityapi_schema": pipeline.dataset_name,
        "analytics_schema": ANALYTICS_SCHEMA,
        "uapi_project_fingerprint": fingerprint,
    }
    outcome = invocation.invoke(runner, "build", arguments, variables, profiles_dir, work)
    result.models, result.tests, result.test_seconds = node_results(outcome.result)
    result.warnings = warnings_of(result.tests)
    if not outcome.success:
        reason = failure_message(result.models, result.tests, outcome.exception)
        raise TransformError(f"transform failed: {reason}", result)
    with client, client.with_alternative_dataset_name(ANALYTICS_SCHEMA):
        if result.mode == "full":
            client.drop_tables(*RETIRED_TABLES)
        result.scope = _scope(client)


def _scope(client: Any) -> list[MeterDays]:
    rows = client.execute_sql(
        "select meter_uid, from_local_date, to_local_date "
        f"from {client.make_qualified_table_name(SCOPE)} order by meter_uid"
    )
    return [MeterDays(*row) for row in rows]
