"""The UtilityAPI v2 dlt source: authorizations → meters → bills, intervals; events.

Bills and intervals are fetched only for meters whose listing changed since the last run, each
meter from its own cursor (minus a lookback for late corrections), many meters at once under
one account-wide rate limit. A load may run the same source instance several times, once per
checkpoint step: each run commits the next meters' data with their cursors.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import dlt
from dlt.sources import DltResource

from . import settings
from .bills import fetch_bills
from .client import UtilityAPIClient
from .clock import SYSTEM_CLOCK, Clock
from .context import LoadScope, SourceContext, UnknownMeterError
from .errors import UtilityAPIError, ends_the_run
from .intervals import OBJECTS_TABLE, READINGS_TABLE, FetchAhead, fetch_intervals
from .pages import read_ahead
from .readings import READINGS_KEY, READINGS_SCHEMA
from .records import (
    ACCESS_HINTS,
    AUTHORIZATION_HINTS,
    BILL_HINTS,
    EVENT_HINTS,
    INTERVAL_OBJECT_HINTS,
    METER_HINTS,
    access_row,
    shape_authorization,
    shape_event,
    shape_meter,
    to_instant,
)
from .report import LoadReport

__all__ = ["FetchAhead", "LoadReport", "UnknownMeterError", "UtilityAPIClient", "utilityapi"]

# Types never change under a loaded table: a payload with a string where a number was loaded
# fails the step instead of growing a `__v_text` variant column beside the real one.
SCHEMA_CONTRACT: Any = {"data_type": "freeze"}
# Readings are merged on their key, and a step never holds a key twice (intervals.py drops
# repeated objects and datapoints), so the warehouse need not deduplicate the staged rows: that
# window function over every staged reading cost three times the rest of the load. DuckDB merges
# such a table straight from each file in one transaction (pipelines/duckdb_destination.py);
# elsewhere a package whose loading was interrupted is discarded rather than resumed
# (pipelines/pipeline.py), since a resumed copy job could stage its file twice.
READINGS_DISPOSITION: Any = {
    "disposition": "merge",
    "deduplicated": True,
}


@dlt.source(name="utilityapi", max_table_nesting=1, schema_contract=SCHEMA_CONTRACT)
def utilityapi(
    api_token: str = dlt.secrets.value,
    base_url: str = settings.BASE_URL,
    rate_limit: float | None = settings.DEFAULT_RATE_LIMIT,
    max_concurrency: int = settings.DEFAULT_MAX_CONCURRENCY,
    meters: list[str] | None = None,
    strict_meters: bool = True,
    authorizations_filter: list[str] | None = None,
    start_date: str | None = None,
    lookback_days: float = settings.DEFAULT_LOOKBACK_DAYS,
    allow_mixed: bool = True,
    intervals_page_size: int = settings.INTERVALS_PAGE_SIZE,
    max_retries: int = settings.MAX_RETRIES,
    max_response_mb: float = settings.MAX_RESPONSE_BYTES / 2**20,
    request_deadline_seconds: float = settings.REQUEST_DEADLINE_SECONDS,
    checkpoint_meters: int | None = None,
    checkpoint_minutes: float | None = None,
    checkpoint_readings: int | None = None,
    backfill: dict[str, str | None] | None = None,
    refresh: list[str] | None = None,
    access_changes: list[dict[str, Any]] | None = None,
    report: LoadReport | None = None,
    clock: Clock | None = None,
    fetch_ahead: FetchAhead | None = None,
) -> Sequence[DltResource]:
    """UtilityAPI authorizations, meters, bills, interval readings, events and meter access.

    Args:
        rate_limit: requests per second for the whole account (0 or None: unlimited).
        max_concurrency: requests in flight at once.
        meters: only these meter uids (all meters when empty).
        strict_meters: an uid of `meters` the API does not list is an error (a typo must not
            look like a meter with nothing new); event-driven loads turn it off, since a
            revoked meter vanishes from the API.
        authorizations_filter: only the meters of these authorizations.
        start_date: earliest data to fetch for meters loaded for the first time.
        lookback_days: how far before a meter's cursor to re-read, for late corrections.
        max_retries: retries of a request failing with 5xx, a timeout or a broken body, with
            jittered exponential backoff, before its meter is reported as failed.
        max_response_mb / request_deadline_seconds: a response larger than this, or still
            arriving after this long, is an error (for that meter) instead of a process that
            grows without bound or hangs.
        checkpoint_meters / checkpoint_minutes / checkpoint_readings: how many meters, minutes
            of fetching, or readings (by the meter listing's counts) one run of the source takes
            before it ends so its data can be committed; the rest wait for the next run of the
            same instance (`LoadReport.remaining` counts them). None (the default): every meter
            in one run, as dlt users expect; the uapi CLI commits in steps of 50 meters, 5
            minutes or 500,000 readings, and loads each step while the next is fetched.
        backfill: meter uid → start (None: whole history) to reload regardless of state.
        refresh: meters to re-read from their cursor even if their listing looks unchanged
            (an event said they have new data).
        access_changes: revocations/expiries learnt from events, for `meter_access`.
        report: collects what happened (skipped meters, requests, problems) for the summary.
        clock: injected by tests; the system clock otherwise.
        fetch_ahead: lets interval fetches run on from one checkpoint step into the next, so
            the link does not idle between steps; the caller running the steps closes it.
    """
    # Arrow rows carry _dlt_load_id like every other row (dlt adds it to dict rows only), so
    # what each load touched can be found in every raw table, however the source is run.
    dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True
    clock = clock or SYSTEM_CLOCK
    client = UtilityAPIClient(
        api_token,
        base_url,
        rate_limit=rate_limit or None,
        max_concurrency=max_concurrency,
        max_retries=max_retries,
        max_response_bytes=int(max_response_mb * 2**20),
        request_deadline=request_deadline_seconds,
        clock=clock,
    )
    context = SourceContext(
        client=client,
        clock=clock,
        report=report if report is not None else LoadReport(),
        scope=_scope(
            meters=meters,
            strict_meters=strict_meters,
            authorizations_filter=authorizations_filter,
            start_date=start_date,
            lookback_days=lookback_days,
            allow_mixed=allow_mixed,
            intervals_page_size=intervals_page_size,
            max_concurrency=max_concurrency,
            checkpoint_meters=checkpoint_meters,
            checkpoint_minutes=checkpoint_minutes,
            checkpoint_readings=checkpoint_readings,
            backfill=backfill,
            refresh=refresh,
            access_changes=access_changes,
        ),
        fetch_ahead=fetch_ahead,
    )
    context.report.client_stats = client.stats
    return (
        authorizations(context),
        meters_resource(context),
        bills(context),
        events(context),
        interval_readings(context),
        meter_access(context),
    )


def authorizations(context: SourceContext) -> DltResource:
    @dlt.resource(write_disposition="merge", primary_key="uid", columns=AUTHORIZATION_HINTS)
    def authorizations() -> Iterator[list[dict[str, Any]]]:
        yield [shape_authorization(a) for a in context.authorizations()]

    return authorizations


def meters_resource(context: SourceContext) -> DltResource:
    @dlt.resource(write_disposition="merge", primary_key="uid", columns=METER_HINTS)
    def meters() -> Iterator[list[dict[str, Any]]]:
        yield [shape_meter(m) for m in context.meters()]

    return meters


def bills(context: SourceContext) -> DltResource:
    # parallelized: dlt runs it on a worker thread, so the interval pages (the bulk of a run)
    # start as soon as the meters are listed instead of after the first page of bills
    @dlt.resource(
        write_disposition="merge", primary_key="uid", columns=BILL_HINTS, parallelized=True
    )
    def bills() -> Iterator[list[dict[str, Any]]]:
        yield from fetch_bills(context, dlt.current.resource_state())

    return bills


def interval_readings(context: SourceContext) -> DltResource:
    # One resource, two tables: the readings and their Interval objects' metadata come from the
    # same pages. Each table has its own hints (a variant); every item names its table.
    @dlt.resource(write_disposition="merge")
    def interval_readings() -> Iterator[Any]:
        yield from fetch_intervals(context, dlt.current.resource_state())

    interval_readings.apply_hints(
        table_name=READINGS_TABLE,
        write_disposition=READINGS_DISPOSITION,
        primary_key=list(READINGS_KEY),
        columns=_arrow_hints(READINGS_SCHEMA),
        create_table_variant=True,
    )
    interval_readings.apply_hints(
        table_name=OBJECTS_TABLE,
        primary_key="uid",
        columns=INTERVAL_OBJECT_HINTS,
        create_table_variant=True,
    )
    return interval_readings


def events(context: SourceContext) -> DltResource:
    # parallelized, like bills: its pages are read one after another, and on dlt's main thread
    # they would stall the interval pages queued behind them. The source lists it before the
    # readings, so its first page is asked for before theirs: on a link shared first come first
    # served, the step waited ~1.7 s longer for the events when they started behind the
    # readings' first pages (a 10.6 M-reading backfill).
    @dlt.resource(
        write_disposition="merge", primary_key="uid", columns=EVENT_HINTS, parallelized=True
    )
    def events() -> Iterator[list[dict[str, Any]]]:
        yield from _fetch_events(context, dlt.current.resource_state())

    return events


def meter_access(context: SourceContext) -> DltResource:
    @dlt.resource(write_disposition="merge", primary_key="meter_uid", columns=ACCESS_HINTS)
    def meter_access() -> Iterator[list[dict[str, Any]]]:
        """Whether each meter's data may still be collected: active, expired or revoked.

        Revoked meters vanish from the API with their data; this table keeps the mark.
        """
        now = context.clock.now()
        by_uid = {str(a["uid"]): a for a in context.authorizations()}
        changed = {str(c["meter_uid"]) for c in context.scope.access_changes}
        rows = [
            access_row(meter, by_uid.get(str(meter.get("authorization_uid"))), now)
            for meter in context.meters()
            if str(meter.get("uid")) not in changed
        ]
        yield rows + [dict(change) for change in context.scope.access_changes]

    return meter_access


def _fetch_events(context: SourceContext, state: dict[str, Any]) -> Iterator[Any]:
    """New events, newest first, until a day past the newest seen last time.

    Events only steer later loads, so a failing events listing is reported and the rest of
    the load goes on; the cursor moves only when the listing was read to its stopping point.
    Its pages are read on a thread of their own, each asked for as soon as the one before
    arrives: read between dlt's turns at the readings, three pages took 5 s of a first load.
    """
    since = to_instant(state.get("latest_ts"))
    newest = since
    try:
        pages = read_ahead(
            _event_pages(context, since), ahead=settings.EVENTS_PAGES_AHEAD, name="uapi-events"
        )
        for rows, stamps in pages:
            if stamps and (newest is None or max(stamps) > newest):
                newest = max(stamps)
            context.report.count_rows("events", len(rows))
            yield rows
    except UtilityAPIError as exc:
        if ends_the_run(exc):
            raise
        context.report.resource_failed("events", str(exc))
        return
    if newest is not None:
        state["latest_ts"] = newest.isoformat()


def _event_pages(
    context: SourceContext, since: datetime | None
) -> Iterator[tuple[list[dict[str, Any]], list[datetime]]]:
    """Each page's rows and event times, up to the first page wholly older than a day before
    `since`. Order across deliveries is not guaranteed, hence the day of margin."""
    stop_before = since - timedelta(days=1) if since else None
    for page in context.client.pages("events", "events", {"limit": settings.MAX_PAGE_SIZE}):
        rows = [shape_event(e) for e in page if isinstance(e, dict)]
        stamps = [r["event_at"] for r in rows if r.get("event_at") is not None]
        yield rows, stamps
        if stop_before is not None and stamps and max(stamps) < stop_before:
            return


def _scope(
    *,
    meters: list[str] | None,
    strict_meters: bool,
    authorizations_filter: list[str] | None,
    start_date: str | None,
    lookback_days: float,
    allow_mixed: bool,
    intervals_page_size: int,
    max_concurrency: int,
    checkpoint_meters: int | None,
    checkpoint_minutes: float | None,
    checkpoint_readings: int | None,
    backfill: dict[str, str | None] | None,
    refresh: list[str] | None,
    access_changes: list[dict[str, Any]] | None,
) -> LoadScope:
    return LoadScope(
        meter_uids=[str(m) for m in meters] if meters else None,
        strict_meters=strict_meters,
        authorization_uids=[str(a) for a in authorizations_filter]
        if authorizations_filter
        else None,
        start_date=to_instant(start_date) if start_date else None,
        lookback=timedelta(days=lookback_days),
        allow_mixed=allow_mixed,
        intervals_page_size=min(intervals_page_size, settings.MAX_PAGE_SIZE),
        max_concurrency=max_concurrency,
        backfill={uid: to_instant(since) for uid, since in (backfill or {}).items()},
        refresh=frozenset(refresh or ()),
        access_changes=list(access_changes or ()),
        step_meters=checkpoint_meters or None,
        step_seconds=checkpoint_minutes * 60 if checkpoint_minutes else None,
        step_readings=checkpoint_readings or None,
    )


def _arrow_hints(schema: Any) -> dict[str, Any]:
    """Column hints matching the arrow schema, so dlt does not warn about differing hints."""
    import pyarrow as pa

    hints: dict[str, Any] = {}
    for f in schema:
        hints[f.name] = {"nullable": f.nullable}
        if pa.types.is_timestamp(f.type):
            hints[f.name]["data_type"] = "timestamp"
        elif pa.types.is_int16(f.type):
            hints[f.name].update(data_type="bigint", precision=16)
        elif pa.types.is_floating(f.type):
            hints[f.name]["data_type"] = "double"
        else:
            hints[f.name]["data_type"] = "text"
    return hints
