"""Run the UtilityAPI source into a destination: one writer at a time, in checkpoint steps.

A load holds the target's writer lock from start to end (extract, normalize, load, transform).
It first settles what an earlier run left behind (a normalized package is completed — every
write is idempotent at its grain, so completing it twice changes nothing —, anything that
cannot be completed is discarded with its state), then runs the source once per step: the
listings and the first meters, then the next meters, each step committed with its meters'
cursors. A step that fails is discarded with its state and ends the load; the steps before it
stay committed.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dlt
from dlt.common.destination.reference import Destination
from dlt.pipeline.pipeline import Pipeline

from sources.utilityapi import FetchAhead, LoadReport, settings, utilityapi
from sources.utilityapi.clock import SYSTEM_CLOCK, Clock
from sources.utilityapi.completeness import COMPLETENESS_HINTS

from . import completeness, duckdb_destination
from .lock import writer_lock
from .outcome import Outcome
from .overlap import BackgroundLoad

if TYPE_CHECKING:
    from transforms import TransformResult

logger = logging.getLogger(__name__)

# Not data/utilityapi.duckdb: DuckDB cannot tell a schema from a database of the same name.
DEFAULT_DB = Path("data/uapi.duckdb")
DEFAULT_DATASET = "utilityapi"
DEFAULT_DESTINATION = "duckdb"
# Working folders of pipelines whose warehouse is not a local DuckDB file.
DEFAULT_WORKING_DIR = Path("data/pipelines")
PIPELINE_NAME = "utilityapi"
# a load asked to leave the analytics tables alone (`uapi load --no-transform`)
NOT_ASKED = "not asked for: `uapi transform` builds the analytics tables"
# why the analytics tables are not built over Iceberg tables (load and transform say it)
NO_TRANSFORM_ON_ICEBERG = (
    "the analytics tables are built over Delta tables only: load the filesystem destination "
    "with --table-format delta to have them (README, Warehouses)"
)
LOAD_MEMORY_LIMIT = "64MB"
RESOURCES = (
    "authorizations",
    "meters",
    "bills",
    "interval_readings",
    "events",
    "meter_access",
)
RESOURCE_ALIASES = {"intervals": "interval_readings", "readings": "interval_readings"}
# What checkpoint steps after the first run: the per-meter data. Listings run once.
STEP_RESOURCES = ("bills", "interval_readings")
TABLE_FORMATS = ("delta", "iceberg")


@dataclass(frozen=True)
class Target:
    """Where a load goes: a dlt destination and dataset (DuckDB: a file)."""

    destination: str = DEFAULT_DESTINATION
    dataset: str = DEFAULT_DATASET
    db_path: Path = DEFAULT_DB
    table_format: str | None = None
    # where the local working folders of non-DuckDB targets live
    pipelines_dir: Path = DEFAULT_WORKING_DIR
    # filesystem destination: the DuckDB file its analytics tables are built in (None: in the
    # working folder)
    lake_db: Path | None = None

    @property
    def is_duckdb(self) -> bool:
        return self.destination == "duckdb"

    @property
    def file_format(self) -> str | None:
        """The load files asked of dlt: Parquet loads into DuckDB far faster than INSERT
        statements; other destinations take dlt's preferred format."""
        return "parquet" if self.is_duckdb else None

    @property
    def working_dir(self) -> Path:
        """The pipeline's local folder; beside a DuckDB file, so its state follows the file."""
        if self.is_duckdb:
            return self.db_path.with_name(self.db_path.name + ".pipelines")
        return self.pipelines_dir / self.destination / self.dataset

    @property
    def analytics_db(self) -> Path | None:
        """The DuckDB file dbt builds the analytics tables in, when the target is not a
        warehouse with SQL of its own (the filesystem destination); else None."""
        if self.destination != "filesystem":
            return None
        # not analytics.duckdb: DuckDB names a database after its file (see _prepare_duckdb)
        return self.lake_db or self.working_dir / "lake.duckdb"

    @property
    def transform_problem(self) -> str | None:
        """Why the analytics tables cannot be built on this target, or None."""
        if self.destination == "filesystem" and self.table_format != "delta":
            return NO_TRANSFORM_ON_ICEBERG
        return None

    @property
    def lock_path(self) -> Path:
        if self.is_duckdb:
            return self.db_path.with_name(self.db_path.name + ".lock")
        return self.working_dir / "writer.lock"

    def problem(self) -> str | None:
        """Why this target cannot hold the data correctly, or None."""
        if self.destination == "filesystem" and self.table_format not in TABLE_FORMATS:
            return (
                "the filesystem destination writes plain parquet files, which cannot merge: "
                "every run would add the same meters, bills and readings again. Load it as "
                'Delta tables (--table-format delta, i.e. table_format="delta"; '
                "pip install '.[delta]')."
            )
        return None

    @property
    def label(self) -> str:
        where = str(self.db_path) if self.is_duckdb else self.destination
        return f"{where} (dataset {self.dataset})"


@dataclass
class LoadOptions:
    """What a load asks of the pipeline; the source's own settings travel in `source`.

    `source` holds only the source arguments given explicitly (CLI flags, tests, events); every
    other setting of `sources.utilityapi` comes from dlt's configuration (.dlt/config.toml,
    .dlt/secrets.toml, environment), as for any dlt source.
    """

    target: Target = field(default_factory=Target)
    source: dict[str, Any] = field(default_factory=dict)
    resources: Sequence[str] = RESOURCES
    full_refresh: bool = False
    transform: bool = True
    lock_wait_seconds: float = 0.0
    # commit after this many meters or minutes of fetching (None: no limit of that kind)
    checkpoint_meters: int | None = settings.CHECKPOINT_METERS
    checkpoint_minutes: float | None = settings.CHECKPOINT_MINUTES
    checkpoint_readings: int | None = settings.CHECKPOINT_READINGS
    clock: Clock = SYSTEM_CLOCK

    def source_args(self, **extra: Any) -> dict[str, Any]:
        """The source's arguments for this load: the checkpoint policy, then `source`."""
        steps = {
            "checkpoint_meters": self.checkpoint_meters,
            "checkpoint_minutes": self.checkpoint_minutes,
            "checkpoint_readings": self.checkpoint_readings,
        }
        return {**steps, **self.source, **extra}


@dataclass
class StepResult:
    """One committed checkpoint step."""

    load_id: str
    row_counts: dict[str, int]
    seconds: float


@dataclass
class LoadResult:
    report: LoadReport
    row_counts: dict[str, int] = field(default_factory=dict)
    steps: list[StepResult] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    failure: str | None = None
    duration_seconds: float = 0.0
    transform: Any = None
    transform_skipped: str | None = None
    transform_error: str | None = None

    @property
    def load_ids(self) -> list[str]:
        return [step.load_id for step in self.steps]

    @property
    def outcome(self) -> Outcome:
        if self.transform_error:
            return Outcome.TRANSFORM_FAILED
        if self.failure or self.report.shortfalls or self.report.remaining:
            return Outcome.PARTIAL
        if self.transform is not None and self.transform.warnings:
            return Outcome.PARTIAL  # e.g. a raw reading held twice: not summed, but reported
        return Outcome.OK


class LoadFailed(Exception):
    """Nothing was committed; `__cause__` says why."""


class DestinationUnavailable(Exception):
    """The warehouse cannot be written to (locked by another program, unreachable, ...)."""


def make_pipeline(target: Target) -> Pipeline:
    """The dlt pipeline for a target; its working folder holds local state and packages."""
    if target.is_duckdb:
        _prepare_duckdb(target)
    elif target.problem():
        raise ValueError(target.problem())
    # The package files live a few seconds on local disk: compressing them costs more CPU than
    # the disk it saves.
    dlt.config["data_writer.disable_compression"] = True
    return dlt.pipeline(
        pipeline_name=PIPELINE_NAME,
        pipelines_dir=str(target.working_dir),
        destination=_destination(target),
        dataset_name=target.dataset,
    )


def resolve_resources(names: Sequence[str] | None) -> list[str]:
    if not names:
        return list(RESOURCES)
    resolved = []
    for name in names:
        name = RESOURCE_ALIASES.get(name, name)
        if name not in RESOURCES:
            raise ValueError(
                f"unknown resource '{name}'; choose from {', '.join(RESOURCES)} (or 'intervals')"
            )
        resolved.append(name)
    return resolved


def run_load(
    options: LoadOptions,
    report: LoadReport | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> LoadResult:
    """Load UtilityAPI into the target, step by step, holding the target's writer lock.

    Raises LockBusy when another run holds the lock, DestinationUnavailable when the warehouse
    cannot be written, LoadFailed when nothing could be committed.
    """
    started = time.perf_counter()
    report = report if report is not None else LoadReport()

    def phase(name: str) -> None:
        logger.info("phase: %s", name)
        if on_phase is not None:
            on_phase(name)

    target = options.target
    with writer_lock(target.lock_path, target.label, wait_seconds=options.lock_wait_seconds):
        pipeline = make_pipeline(target)
        probe_destination(pipeline, target)
        result = LoadResult(report=report)
        # What the warehouse committed wins over local state (e.g. a new working folder).
        pipeline.sync_destination()
        result.leftovers = settle_leftovers(pipeline)
        ahead = FetchAhead()
        source = utilityapi(
            **options.source_args(report=report, clock=options.clock, fetch_ahead=ahead)
        )
        resources = resolve_resources(options.resources)
        counts = completeness.StepCounts()
        try:
            _run_steps(pipeline, source, resources, options, result, phase, counts=counts)
        except Exception as exc:
            if not (result.steps or _completed(result.leftovers)):
                raise LoadFailed(str(exc)) from exc
            result.failure = describe_failure(exc)
            logger.error("load stopped after %d committed step(s): %s", len(result.steps), exc)
        finally:
            ahead.close()
        try:
            _verify(pipeline, resources, options, result, phase, counts)
        except Exception as exc:  # noqa: BLE001 - the load is committed; the check is reported
            logger.error("completeness check failed: %s", exc)
            result.failure = result.failure or f"completeness check failed: {describe_failure(exc)}"
        if options.transform:
            phase("transforming")
            _transform(pipeline, options, result)
        else:
            result.transform_skipped = NOT_ASKED
    result.duration_seconds = time.perf_counter() - started
    return result


def settle_leftovers(pipeline: Pipeline) -> list[str]:
    """Complete or discard the packages an earlier run left; say which, one line each.

    A run killed after extracting leaves packages whose rows and state belong together:
    loading them exactly once is what that run would have done. A package killed while it was
    copying readings into the staging dataset is discarded instead (the copy may have committed
    unrecorded, and readings are staged without deduplication, see READINGS_DISPOSITION), and
    so is every package after it, whose state includes its cursors. DuckDB does not stage
    readings (duckdb_destination.py), so its packages are always resumed. If they cannot be loaded
    now, they are discarded and the local state goes back to before them, so the data is
    fetched again.
    """
    if not pipeline.has_pending_data:
        return []
    normalized = pipeline.list_normalized_load_packages()
    pending = [*normalized, *pipeline.list_extracted_load_packages()]
    settled = _archive_committed(pipeline, normalized)
    normalized = [load_id for load_id in normalized if load_id not in settled]
    pending = [load_id for load_id in pending if load_id not in settled]
    if not pending:
        return [f"completed {load_id}" for load_id in settled]
    try:
        # only a normalized package can have begun loading
        unsure = any(_staging_unsure(pipeline, load_id) for load_id in normalized)
        if not unsure:
            pipeline.normalize()
            pipeline.load()
    except Exception as exc:  # noqa: BLE001 - reported, then the packages are discarded
        return _discard(pipeline, pending, describe_failure(exc), exc)
    if unsure:
        return _discard(pipeline, pending, "killed while staging readings", None)
    return [f"completed {load_id}" for load_id in [*settled, *pending]]


def _archive_committed(pipeline: Pipeline, normalized: list[str]) -> list[str]:
    """Packages the warehouse already recorded as loaded, archived as such without loading.

    A run killed after dlt wrote a package's row in `_dlt_loads` but before it moved the
    package to its loaded folder leaves it pending; completing it would write that row twice.
    """
    committed = _committed_load_ids(pipeline, normalized)
    storage = pipeline._get_load_storage()  # noqa: SLF001 - dlt has no public way to archive
    archived = []
    for load_id in normalized:
        jobs = storage.normalized_packages.get_load_package_jobs(load_id)
        if load_id in committed and not (jobs["new_jobs"] or jobs["started_jobs"]):
            storage.complete_load_package(load_id, aborted=False)
            archived.append(load_id)
    return archived


def _committed_load_ids(pipeline: Pipeline, load_ids: list[str]) -> set[str]:
    if not load_ids:
        return set()
    try:
        with pipeline.sql_client() as client:
            loads = client.make_qualified_table_name(pipeline.default_schema.loads_table_name)
            marks = ", ".join(["%s"] * len(load_ids))
            rows = client.execute_sql(
                f"select load_id from {loads} where status = 0 and load_id in ({marks})",
                *load_ids,
            )
    except Exception:  # noqa: BLE001 - no loads table (nothing committed) or no SQL to ask
        return set()
    return {str(row[0]) for row in rows or []}


def _discard(
    pipeline: Pipeline, pending: list[str], reason: str, exc: Exception | None
) -> list[str]:
    pipeline.abort_packages()
    if pipeline.has_pending_data:
        raise DestinationUnavailable(
            f"packages left by an earlier run in {pipeline.working_dir} could neither be "
            f"loaded nor discarded ({reason}); delete that folder to start from the state "
            "committed in the warehouse."
        ) from exc
    return [f"discarded {load_id} ({reason})" for load_id in pending]


def _staging_unsure(pipeline: Pipeline, load_id: str) -> bool:
    """Whether a copy of deduplicated rows into staging was running when the run died.

    DuckDB merges such tables straight from their files, one transaction per file that a
    resumed load may repeat (duckdb_destination.py): nothing is unsure there.
    """
    info = pipeline.get_load_package_info(load_id)
    started = info.jobs.get("started_jobs") or []
    # the package's own schema: the one its load uses, whatever the pipeline saved since
    tables = info.schema.tables
    from_file = isinstance(pipeline.destination, duckdb_destination.duckdb)
    staged = {
        name
        for name, table in tables.items()
        if table.get("x-stage-data-deduplicated")
        and not (from_file and duckdb_destination.merges_from_file(table, tables))
    }
    return any(job.job_file_info.table_name in staged for job in started)


def probe_destination(pipeline: Pipeline, target: Target) -> None:
    """Fail before fetching anything when the warehouse cannot be opened for writing."""
    if target.is_duckdb:
        _probe_duckdb(target.db_path)
        return
    if target.destination == "filesystem":
        return
    try:
        with pipeline.sql_client() as client:
            client.execute_sql("select 1")
    except Exception as exc:  # noqa: BLE001 - the driver's message says what is wrong
        raise DestinationUnavailable(
            f"cannot connect to the {target.destination} destination: {describe_failure(exc)}. "
            f"Check its credentials (e.g. DESTINATION__{target.destination.upper()}__"
            "CREDENTIALS, or .dlt/secrets.toml)."
        ) from exc


def describe_failure(exc: BaseException) -> str:
    """The innermost useful message of an exception dlt may have wrapped several times."""
    from sources.utilityapi.errors import UtilityAPIError
    from transforms.results import TransformError

    seen: set[int] = set()
    current: BaseException | None = exc
    last = exc
    while current is not None and id(current) not in seen:
        # our own errors already say what happened and what to do
        if isinstance(current, UtilityAPIError | TransformError):
            return str(current)
        seen.add(id(current))
        last = current
        current = getattr(current, "exception", None) or current.__cause__ or current.__context__
    text = str(last).strip().splitlines()[0] if str(last).strip() else ""
    return f"{type(last).__name__}: {text}" if text else type(last).__name__


def _run_steps(
    pipeline: Pipeline,
    source: Any,
    resources: list[str],
    options: LoadOptions,
    result: LoadResult,
    phase: Callable[[str], None],
    *,
    refresh: bool = True,
    counts: completeness.StepCounts | None = None,
) -> None:
    """Run the source step by step, each step loaded while the next one is fetched.

    `counts` gets each committed step's meter counts, read on the load's thread.
    """
    step_resources = [r for r in resources if r in STEP_RESOURCES]
    selected = resources
    if options.target.table_format:
        _hint_every_table(source, table_format=options.target.table_format)
    if options.target.file_format:
        # extract's `loader_file_format` reaches only a resource's own table, not the others it
        # fills (interval_objects was loaded as INSERT statements: 1.5 s for 3,753 rows)
        _hint_every_table(source, file_format=options.target.file_format)
    loading = BackgroundLoad(pipeline)
    pending: _Step | None = None  # normalized, loading in the background
    taken = 0
    try:
        while True:
            remaining_before = result.report.remaining
            drop = refresh and options.full_refresh and not result.steps and pending is None
            begun = time.perf_counter()
            marks = _fetched_so_far(result.report)
            _extract(pipeline, source.with_resources(*selected), options, phase, drop=drop)
            taken += 1
            if pending is not None:
                _finish(loading, pending, result)
            pending = _normalize(pipeline, phase, begun)
            phase("loading")
            then = None
            if counts is not None:
                fetched = _fetched_since(result.report, marks)
                then = counts.reader(pipeline, fetched, pending.row_counts)
            loading.start(then)
            remaining = result.report.remaining
            if not step_resources or not remaining:
                break
            if taken > 1 and remaining >= remaining_before:
                raise RuntimeError(f"a checkpoint step took none of the {remaining} meters left")
            selected = step_resources
        _finish(loading, pending, result)
    except BaseException:
        # A load still running commits its step if it can; whatever is not committed then is
        # discarded with its state (packages after a failed one hold its cursors too).
        if loading.running and pending is not None:
            try:
                _finish(loading, pending, result)
            except BaseException:  # noqa: BLE001 - the first failure is the one reported
                pass
        if pipeline.has_pending_data:
            pipeline.abort_packages()
        raise


def _fetched_so_far(report: LoadReport) -> dict[str, int]:
    return {kind: len(progress.fetched) for kind, progress in report.kinds.items()}


def _fetched_since(report: LoadReport, marks: dict[str, int]) -> dict[str, list[str]]:
    """The meters of each kind fetched since `marks` (each meter is fetched once per run)."""
    return {
        kind: list(progress.fetched[marks.get(kind, 0) :])
        for kind, progress in report.kinds.items()
    }


@dataclass
class _Step:
    """A normalized step waiting for (or in) its load."""

    row_counts: dict[str, int]
    begun: float


def _extract(
    pipeline: Pipeline,
    source: Any,
    options: LoadOptions,
    phase: Callable[[str], None],
    *,
    drop: bool = False,
    label: str = "fetching",
) -> None:
    phase(label)
    pipeline.extract(
        source,
        refresh="drop_sources" if drop else None,
        table_format=options.target.table_format,  # type: ignore[arg-type]
        loader_file_format=options.target.file_format,  # type: ignore[arg-type]
    )


def _normalize(pipeline: Pipeline, phase: Callable[[str], None], begun: float) -> _Step:
    phase("normalizing")
    normalized = pipeline.normalize()
    counts = dict(normalized.row_counts) if normalized is not None else {}
    return _Step({k: v for k, v in counts.items() if not k.startswith("_dlt")}, begun)


def _finish(loading: BackgroundLoad, step: _Step, result: LoadResult) -> None:
    """Wait for a step's load; record it once committed."""
    loaded = loading.wait()
    load_ids = loaded.loads_ids if loaded is not None else []
    result.steps.append(
        StepResult(
            load_id=load_ids[-1] if load_ids else "",
            row_counts=step.row_counts,
            seconds=time.perf_counter() - step.begun,
        )
    )
    for table, count in step.row_counts.items():
        result.row_counts[table] = result.row_counts.get(table, 0) + count


def _hint_every_table(source: Any, **hints: Any) -> None:
    """The same hints on every table of the source, the tables one resource fills included."""
    for resource in source.resources.values():
        resource.apply_hints(**hints)
        for table in resource._hints_variants:  # noqa: SLF001 - dlt has no public accessor
            resource.apply_hints(table_name=table, create_table_variant=True, **hints)


def _run_step(
    pipeline: Pipeline,
    source: Any,
    options: LoadOptions,
    phase: Callable[[str], None],
    *,
    drop: bool = False,
    label: str = "fetching",
) -> StepResult:
    """Extract, normalize and load one step; a failed step is discarded with its state."""
    begun = time.perf_counter()
    try:
        _extract(pipeline, source, options, phase, drop=drop, label=label)
        step = _normalize(pipeline, phase, begun)
        phase("loading")
        loaded = pipeline.load()
    except Exception:
        # Rows and cursors of a failed step go together: the next run fetches them again.
        if pipeline.has_pending_data:
            pipeline.abort_packages()
        raise
    return StepResult(
        load_id=loaded.loads_ids[-1] if loaded.loads_ids else "",
        row_counts=step.row_counts,
        seconds=time.perf_counter() - begun,
    )


def _verify(
    pipeline: Pipeline,
    resources: list[str],
    options: LoadOptions,
    result: LoadResult,
    phase: Callable[[str], None],
    counts: completeness.StepCounts | None = None,
) -> None:
    """Check each fetched meter against its listing; repair a shortfall once; keep the rows.

    A repair refetches the meter's whole window (a backfill, walking the listing with whatever
    paging works), then the meter is checked again; what is still missing is reported with
    expected against loaded counts, and the run is partial.
    """
    report = result.report
    kinds = [k for k, r in completeness.RESOURCE_OF.items() if r in resources]
    if not report.listing or not kinds:
        return
    phase("checking")
    previous = completeness.previous_rows(pipeline)
    rows = _assess(pipeline, kinds, report, previous, options.clock.now(), counts=counts)
    repair = completeness.needs_repair(rows, previous)
    if repair:
        _repair(pipeline, kinds, sorted(repair), options, result, phase)
        fixed = _assess(pipeline, kinds, report, {}, options.clock.now(), only=repair)
        rows = [r for r in rows if r["meter_uid"] not in repair] + [
            {**r, "repaired": True} for r in fixed
        ]
    _run_step(
        pipeline,
        dlt.resource(
            rows,
            name=completeness.TABLE,
            write_disposition="merge",
            primary_key=["meter_uid", "kind"],
            columns=COMPLETENESS_HINTS,
        ),
        options,
        phase,
        label="checking",
    )
    report.completeness = completeness.summary(rows)


def _assess(
    pipeline: Pipeline,
    kinds: list[str],
    report: LoadReport,
    previous: dict[tuple[str, str], Any],
    now: Any,
    only: set[str] | None = None,
    counts: completeness.StepCounts | None = None,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for kind in kinds:
        state = completeness.meter_state(pipeline, kind)  # type: ignore[arg-type]
        progress = report.kinds.get(kind)
        fetched = set(progress.fetched) if progress else set()
        meters = [m for m in report.listing if only is None or str(m.get("uid")) in only]
        if only is None:
            meters = completeness.to_check(meters, kind, state, fetched, previous)  # type: ignore[arg-type]
        uids = [str(m["uid"]) for m in meters]
        read = counts.loaded if counts is not None else completeness.loaded
        found = read(pipeline, kind, uids)  # type: ignore[arg-type]
        rows += completeness.assess_meters(meters, kind, found, state, now=now)  # type: ignore[arg-type]
    return rows


def _repair(
    pipeline: Pipeline,
    kinds: list[str],
    meter_uids: list[str],
    options: LoadOptions,
    result: LoadResult,
    phase: Callable[[str], None],
) -> None:
    """Fetch short meters' whole window again, a minute after their last fetch at the earliest
    (UtilityAPI asks for at most one request per meter per minute)."""
    phase("repairing")
    _wait_for_refetch(pipeline, kinds, meter_uids, options.clock)
    repair_report = LoadReport()
    ahead = FetchAhead()
    source = utilityapi(
        **options.source_args(
            meters=meter_uids,
            strict_meters=False,
            backfill={uid: None for uid in meter_uids},
            report=repair_report,
            clock=options.clock,
            fetch_ahead=ahead,
        )
    )
    resources = [completeness.RESOURCE_OF[k] for k in kinds]
    repaired = LoadResult(report=repair_report)
    try:
        _run_steps(pipeline, source, resources, options, repaired, phase, refresh=False)
    finally:
        ahead.close()
        result.steps += repaired.steps
        for table, count in repaired.row_counts.items():
            result.row_counts[table] = result.row_counts.get(table, 0) + count
        result.report.absorb(repair_report)


def _wait_for_refetch(
    pipeline: Pipeline, kinds: list[str], meter_uids: list[str], clock: Clock
) -> None:
    from sources.utilityapi.records import to_instant
    from sources.utilityapi.settings import METER_REFETCH_SECONDS

    latest = None
    for kind in kinds:
        state = completeness.meter_state(pipeline, kind)  # type: ignore[arg-type]
        for uid in meter_uids:
            fetched = to_instant((state.get(uid) or {}).get("fetched_at"))
            if fetched is not None and (latest is None or fetched > latest):
                latest = fetched
    if latest is not None:
        clock.sleep(METER_REFETCH_SECONDS - (clock.now() - latest).total_seconds())


def _completed(leftovers: list[str]) -> bool:
    return any(line.startswith("completed") for line in leftovers)


def _transform(pipeline: Pipeline, options: LoadOptions, result: LoadResult) -> None:
    """Bring the analytics tables up to date; if that fails, the load stays committed.

    Loads are marked processed only when every model is built, so a failed or killed transform
    is caught up by the next run.
    """
    if options.target.transform_problem:
        result.transform_skipped = options.target.transform_problem
        return
    try:
        result.transform = transform(pipeline, options.target, full_refresh=options.full_refresh)
    except Exception as exc:  # noqa: BLE001 - the load is committed; reported
        logger.error("transform failed after a committed load: %s", exc)
        result.transform_error = describe_failure(exc)


def transform(pipeline: Pipeline, target: Target, *, full_refresh: bool = False) -> TransformResult:
    """Build the analytics tables: in the warehouse itself, or for files in a DuckDB file."""
    from transforms import lake
    from transforms import run as run_transforms

    if target.analytics_db is not None:
        check_duckdb_name(target.analytics_db, target.dataset)
        return lake.run(pipeline, target.analytics_db, full_refresh=full_refresh)
    return run_transforms(pipeline, full_refresh=full_refresh)


def _destination(target: Target) -> Any:
    if target.is_duckdb:
        from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

        # DuckDB caches what it writes up to its memory limit (80 % of RAM by default): a load
        # would grow with the data. 64 MB keeps loads below the extraction's own peak, with no
        # loss of speed: scenario 1's 10.6 M-reading backfill peaked at 532-563 MiB instead of
        # 585-596 at 128 MB (32.7 s vs 32.5, 3 runs each), the 32 M one at 563 instead of 608
        # (94.7 s vs 95.2), and scenario 3 ran at 305-329 k readings/s either way (256 MB had
        # peaked 54 MiB above 128 MB in an earlier round). Raw rows have no meaningful order,
        # and keeping it makes DuckDB buffer and copy single-threaded: without it a 10 M-reading
        # load takes 3.3 s instead of 5-8 s.
        credentials = DuckDbCredentials(
            str(target.db_path),
            global_config={"memory_limit": LOAD_MEMORY_LIMIT, "preserve_insertion_order": False},
        )
        return duckdb_destination.duckdb(credentials)
    return Destination.from_reference(target.destination)


def _prepare_duckdb(target: Target) -> None:
    db_path = target.db_path
    check_duckdb_name(db_path, target.dataset)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    working_dir = target.working_dir
    if not db_path.exists() and working_dir.exists():
        # The warehouse was deleted: local state describing it would skip data it no longer has.
        shutil.rmtree(working_dir)


def check_duckdb_name(db_path: Path, dataset: str) -> None:
    """Refuse a DuckDB file named like one of its schemas (raw dataset or analytics)."""
    from transforms import ANALYTICS_SCHEMA

    for schema in (dataset, ANALYTICS_SCHEMA):
        if db_path.stem == schema:
            raise ValueError(
                f"DuckDB names a database after its file, so {db_path.name} holding a schema "
                f"'{schema}' makes every query ambiguous; choose another --db file name "
                "or --dataset."
            )


def _probe_duckdb(db_path: Path) -> None:
    import duckdb

    try:
        duckdb.connect(str(db_path)).close()
    except duckdb.IOException as exc:
        raise DestinationUnavailable(
            f"{db_path} is open in another program, which keeps DuckDB from writing it "
            f"({str(exc).strip()}). Close that session (or open it read-only) and retry; "
            "nothing was fetched."
        ) from exc
