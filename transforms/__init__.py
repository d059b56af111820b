"""The dbt project that turns the raw UtilityAPI tables into the tables analysts query.

`run(pipeline)` builds it on the pipeline's own destination, dataset and credentials through
dlt's dbt runner, in the current virtualenv.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import time
from pathlib import Path

import dlt
from dlt.common.runners import Venv
from dlt.helpers.dbt.exceptions import DBTProcessingError

from transforms.results import (
    MeterDays,
    ModelResult,
    TestResult,
    TransformError,
    TransformResult,
    failure_message,
    read_run_results,
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
    "int_slots_resolved",
    "meter_intervals_15min",
    "meter_intervals",
    "meter_daily_usage",
    "bill_reconciliation",
    "meter_hourly_usage",
    "meter_monthly_peaks",
    "meter_daily_solar",
    "int_loads_processed",
)
PROCESSED_LOADS = "int_loads_processed"
SCOPE = "int_meter_days_in_scope"


def run(pipeline: dlt.Pipeline, *, full_refresh: bool = False) -> TransformResult:
    """Bring the `analytics` tables up to date with the pipeline's raw tables.

    Only the meter-days that loads not yet processed touched are recomputed; a full rebuild
    happens when asked, on the first run, when a table is missing or when the project changed.
    Raises TransformError when a model or an error-severity dbt test fails.
    """
    started = time.perf_counter()
    fingerprint = project_fingerprint()
    mode, reason = _plan(pipeline, full_refresh, fingerprint)
    result = TransformResult(mode=mode, reason=reason)
    if mode != "noop":
        _build(pipeline, result, fingerprint)
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


def _plan(pipeline: dlt.Pipeline, full_refresh: bool, fingerprint: str) -> tuple[str, str]:
    """The mode of this run and why, from what earlier runs left in `analytics`."""
    if full_refresh:
        return "full", "full refresh requested"
    with pipeline.sql_client() as client:
        if not client.has_dataset():
            raise TransformError(
                f"no raw tables in dataset '{pipeline.dataset_name}': run `uapi load` first"
            )
        loads = client.make_qualified_table_name("_dlt_loads")
        with client.with_alternative_dataset_name(ANALYTICS_SCHEMA):
            existing = _existing_tables(client)
            missing = [name for name in INCREMENTAL_MODELS if name not in existing]
            if len(missing) == len(INCREMENTAL_MODELS):
                return "full", "first run"
            if missing:
                return "full", f"not built yet: {', '.join(missing)}"
            processed = client.make_qualified_table_name(PROCESSED_LOADS)
        [(last_fingerprint,)] = client.execute_sql(
            f"select max(project_fingerprint) from {processed} "
            f"where processed_at = (select max(processed_at) from {processed})"
        )
        if last_fingerprint != fingerprint:
            return "full", "models changed since the last run"
        [(pending,)] = client.execute_sql(
            f"select count(*) from {loads} as loads where loads.status = 0 and not exists "
            f"(select 1 from {processed} as processed where processed.load_id = loads.load_id)"
        )
    if not pending:
        return "noop", "nothing loaded since the last run"
    return "incremental", f"{pending} load(s) since the last run"


def _existing_tables(client: object) -> set[str]:
    rows = client.execute_sql(  # type: ignore[attr-defined]
        "select table_name from information_schema.tables where table_schema = %s",
        ANALYTICS_SCHEMA,
    )
    return {row[0] for row in rows}


def _build(pipeline: dlt.Pipeline, result: TransformResult, fingerprint: str) -> None:
    """`dbt build` (seeds, models and their tests in dependency order) through dlt's runner."""
    runner = dlt.dbt.package(pipeline, str(PROJECT_DIR), venv=_current_venv())
    if runner.config.package_profile_name in OWN_PROFILES:
        runner.config.package_profiles_dir = str(PROJECT_DIR)
    # dbt's artifacts and logs stay beside the pipeline's state, out of the source tree; the
    # saved parse lets the next run start faster
    work = Path(pipeline.working_dir) / "dbt"
    work.mkdir(parents=True, exist_ok=True)
    run_results = work / "run_results.json"
    run_results.unlink(missing_ok=True)
    arguments = ["--target-path", str(work), "--log-path", str(work)]
    if result.mode == "full":
        arguments.append("--full-refresh")
    variables = {
        "utilityapi_schema": pipeline.dataset_name,
        "analytics_schema": ANALYTICS_SCHEMA,
        "uapi_project_fingerprint": fingerprint,
    }
    error: DBTProcessingError | None = None
    try:
        # `build`, not run then test: a failing test stops the models downstream of it.
        # dlt's runner exposes run/test/run_all; build goes through its command runner.
        runner._run_dbt_command("build", arguments, variables)
    except DBTProcessingError as exc:
        error = exc
    result.models, result.tests, result.test_seconds = read_run_results(run_results)
    result.warnings = warnings_of(result.tests)
    if error is not None:
        reason = failure_message(result.models, result.tests, _logged_error(work / "dbt.log"))
        raise TransformError(f"transform failed: {reason}", result) from error
    result.scope = _scope(pipeline)


def _logged_error(log: Path) -> str:
    """dbt's own words for an error that stopped it before any model (e.g. compilation)."""
    if not log.exists():
        return "no dbt log"
    text = log.read_text(errors="replace")
    start = text.rfind("Encountered an error")
    if start < 0:
        return text[-1500:].strip()
    return " ".join(text[start : start + 1500].split())


def _current_venv() -> Venv:
    """This virtualenv, whether or not it was activated."""
    venv = Venv.restore_current()
    if not venv.context.bin_path:
        # without VIRTUAL_ENV set dlt knows no bin folder and would start whichever `python`
        # comes first on PATH, one without dbt
        venv.context.bin_path = str(Path(sys.executable).parent)
    return venv


def _scope(pipeline: dlt.Pipeline) -> list[MeterDays]:
    with pipeline.sql_client() as client, client.with_alternative_dataset_name(ANALYTICS_SCHEMA):
        rows = client.execute_sql(
            "select meter_uid, from_local_date, to_local_date "
            f"from {client.make_qualified_table_name(SCOPE)} order by meter_uid"
        )
    return [MeterDays(*row) for row in rows]
