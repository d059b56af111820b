"""Build the dlt pipeline for a DuckDB file and run the UtilityAPI source into it."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.pipeline.pipeline import Pipeline

import transforms
from sources.utilityapi import LoadReport, UtilityAPIClient, utilityapi
from sources.utilityapi.clock import SYSTEM_CLOCK, Clock
from sources.utilityapi.readings import limit_malloc_arenas
from transforms import TransformResult

# Not data/utilityapi.duckdb: DuckDB cannot tell a schema from a database of the same name.
DEFAULT_DB = Path("data/uapi.duckdb")
logger = logging.getLogger(__name__)

DEFAULT_DATASET = "utilityapi"
PIPELINE_NAME = "utilityapi"
LOAD_MEMORY_LIMIT = "256MB"
RESOURCES = ("authorizations", "meters", "bills", "interval_readings", "events", "meter_access")
RESOURCE_ALIASES = {"intervals": "interval_readings", "readings": "interval_readings"}


@dataclass
class LoadOptions:
    """Everything `uapi load` can ask of a run."""

    api_token: str
    base_url: str
    db_path: Path = DEFAULT_DB
    dataset: str = DEFAULT_DATASET
    resources: Sequence[str] = RESOURCES
    meters: Sequence[str] | None = None
    start_date: str | None = None
    full_refresh: bool = False
    rate_limit: float | None = None
    max_concurrency: int | None = None
    lookback_days: float | None = None
    intervals_page_size: int | None = None
    transform: bool = True
    authorizations: Sequence[str] | None = None
    backfill: dict[str, str | None] | None = None
    refresh: Sequence[str] | None = None
    access_changes: list[dict[str, Any]] | None = None
    clock: Clock = SYSTEM_CLOCK


@dataclass
class LoadResult:
    report: LoadReport
    row_counts: dict[str, int]
    duration_seconds: float
    load_ids: list[str] = field(default_factory=list)
    transform: TransformResult | None = None
    transform_skipped: str | None = None
    transform_error: str | None = None


def make_pipeline(db_path: Path, dataset: str = DEFAULT_DATASET) -> Pipeline:
    """A pipeline whose working folder sits beside its DuckDB file, so state follows the file."""
    db_path = Path(db_path)
    if db_path.stem == dataset:
        raise ValueError(
            f"DuckDB names a database after its file, so {db_path.name} holding a schema "
            f"'{dataset}' makes every query ambiguous; choose another --db file name or --dataset."
        )
    db_path.parent.mkdir(parents=True, exist_ok=True)
    working_dir = db_path.with_name(db_path.name + ".pipelines")
    if not db_path.exists() and working_dir.exists():
        # The warehouse was deleted: local state describing it would skip data it no longer has.
        shutil.rmtree(working_dir)
    # Arrow rows carry _dlt_load_id so transforms can find what each load touched.
    dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True
    # DuckDB caches what it writes up to its memory limit (80 % of RAM by default): a load
    # would grow with the data. 256 MB keeps loads below the extraction's own peak. Raw rows
    # have no meaningful order, and keeping it makes DuckDB buffer and copy single-threaded:
    # without it a 10 M-reading load takes 3.3 s instead of 5-8 s, in less memory.
    credentials = DuckDbCredentials(
        str(db_path),
        global_config={"memory_limit": LOAD_MEMORY_LIMIT, "preserve_insertion_order": False},
    )
    return dlt.pipeline(
        pipeline_name=PIPELINE_NAME,
        pipelines_dir=str(working_dir),
        destination=dlt.destinations.duckdb(credentials),
        dataset_name=dataset,
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


def run_load(options: LoadOptions, report: LoadReport | None = None) -> LoadResult:
    """Load UtilityAPI into the DuckDB file; state is committed only with the data."""
    started = time.perf_counter()
    limit_malloc_arenas()
    report = report if report is not None else LoadReport()
    client_args: dict[str, Any] = {}
    if options.rate_limit is not None:
        client_args["rate_limit"] = options.rate_limit or None
    if options.max_concurrency is not None:
        client_args["max_concurrency"] = options.max_concurrency
    client = UtilityAPIClient(
        options.api_token, options.base_url, clock=options.clock, **client_args
    )
    source_args: dict[str, Any] = {}
    if options.lookback_days is not None:
        source_args["lookback_days"] = options.lookback_days
    if options.max_concurrency is not None:
        source_args["max_concurrency"] = options.max_concurrency
    if options.intervals_page_size is not None:
        source_args["intervals_page_size"] = options.intervals_page_size
    pipeline = make_pipeline(options.db_path, options.dataset)
    try:
        source = utilityapi(
            api_token=options.api_token,
            base_url=options.base_url,
            meters=list(options.meters) if options.meters else None,
            authorizations_filter=list(options.authorizations) if options.authorizations else None,
            start_date=options.start_date,
            backfill=options.backfill,
            refresh=list(options.refresh) if options.refresh else None,
            access_changes=options.access_changes,
            report=report,
            client=client,
            clock=options.clock,
            **source_args,
        ).with_resources(*resolve_resources(options.resources))
        info = pipeline.run(
            source,
            refresh="drop_sources" if options.full_refresh else None,
            # Parquet loads into DuckDB far faster than INSERT statements.
            loader_file_format="parquet",
        )
    finally:
        client.close()
    row_counts = dict(pipeline.last_trace.last_normalize_info.row_counts)
    result = LoadResult(
        report=report,
        row_counts={k: v for k, v in row_counts.items() if not k.startswith("_dlt")},
        duration_seconds=0.0,
        load_ids=list(info.loads_ids),
    )
    if options.transform:
        # After the load is committed: if it fails, the next transform run recomputes what
        # this one would have (the loads are marked processed only when every model is built).
        try:
            result.transform = transforms.run(pipeline, full_refresh=options.full_refresh)
        except Exception as exc:  # noqa: BLE001 - the load is committed; reported
            logger.error("transform failed after a committed load: %s", exc)
            result.transform_error = f"{type(exc).__name__}: {exc}"
    result.duration_seconds = time.perf_counter() - started
    return result
