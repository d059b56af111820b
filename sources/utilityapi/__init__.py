"""The UtilityAPI v2 dlt source: authorizations → meters → bills, intervals; events.

Bills and intervals are fetched only for meters whose listing changed since the last run, each
meter from its own cursor (minus a lookback for late corrections), many meters at once under
one account-wide rate limit. Readings reach dlt as pyarrow tables.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.sources import DltResource

from . import settings
from .client import UtilityAPIClient
from .clock import SYSTEM_CLOCK, Clock
from .fetch import run_concurrently
from .planning import FIRST_LOAD, MeterPlan, plan_meters, record_fetch
from .readings import (
    READINGS_KEY,
    READINGS_SCHEMA,
    ReadingProblems,
    decode_intervals_page,
    release_free_memory,
    system_memory_pool,
)
from .records import (
    ACCESS_HINTS,
    AUTHORIZATION_HINTS,
    BILL_HINTS,
    EVENT_HINTS,
    METER_HINTS,
    ShapeProblems,
    access_row,
    is_not_activated,
    shape_authorization,
    shape_bill,
    shape_event,
    shape_meter,
    to_instant,
)
from .report import LoadReport

__all__ = ["utilityapi", "LoadReport", "UtilityAPIClient"]


@dlt.source(name="utilityapi", max_table_nesting=1)
def utilityapi(
    api_token: str = dlt.secrets.value,
    base_url: str = settings.BASE_URL,
    rate_limit: float | None = settings.DEFAULT_RATE_LIMIT,
    max_concurrency: int = settings.DEFAULT_MAX_CONCURRENCY,
    meters: list[str] | None = None,
    authorizations_filter: list[str] | None = None,
    start_date: str | None = None,
    lookback_days: float = settings.DEFAULT_LOOKBACK_DAYS,
    allow_mixed: bool = True,
    intervals_page_size: int = settings.INTERVALS_PAGE_SIZE,
    backfill: dict[str, str | None] | None = None,
    refresh: list[str] | None = None,
    access_changes: list[dict[str, Any]] | None = None,
    report: LoadReport | None = None,
    client: UtilityAPIClient | None = None,
    clock: Clock | None = None,
) -> Sequence[DltResource]:
    """UtilityAPI authorizations, meters, bills, interval readings, events and meter access.

    Args:
        meters: only these meter uids (all meters when empty).
        authorizations_filter: only the meters of these authorizations.
        start_date: earliest data to fetch for meters loaded for the first time.
        lookback_days: how far before a meter's cursor to re-read, for late corrections.
        backfill: meter uid → start (None: whole history) to reload regardless of state.
        refresh: meters to re-read from their cursor even if their listing looks unchanged
            (an event said they have new data).
        access_changes: revocations/expiries learnt from events, for `meter_access`.
        report: collects what happened (skipped meters, requests, problems) for the summary.
        client / clock: injected by tests and the CLI; built from the arguments otherwise.
    """
    client = client or UtilityAPIClient(
        api_token, base_url, rate_limit=rate_limit or None, max_concurrency=max_concurrency
    )
    context = _Context(
        client=client,
        clock=clock or SYSTEM_CLOCK,
        report=report if report is not None else LoadReport(),
        meter_uids=[str(m) for m in meters] if meters else None,
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
    )
    context.report.client_stats = client.stats
    return (
        authorizations(context),
        meters_resource(context),
        bills(context),
        intervals(context),
        events(context),
        meter_access(context),
    )


@dataclass
class _Context:
    """What every resource of one source instance shares: the client and the listings."""

    client: UtilityAPIClient
    clock: Clock
    report: LoadReport
    meter_uids: list[str] | None
    authorization_uids: list[str] | None
    start_date: datetime | None
    lookback: timedelta
    allow_mixed: bool
    intervals_page_size: int
    max_concurrency: int
    backfill: dict[str, datetime | None]
    refresh: frozenset[str]
    access_changes: list[dict[str, Any]]
    _meters: list[dict[str, Any]] | None = None
    _authorizations: list[dict[str, Any]] | None = None
    # resources run on several threads (bills and events are parallelized)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def meters(self) -> list[dict[str, Any]]:
        """The account's meters (or the requested ones), listed once per run."""
        with self._lock:
            if self._meters is None:
                self._meters = self._list_meters()
                self.report.meters_listed = len(self._meters)
                self.report.note_not_activated([m for m in self._meters if is_not_activated(m)])
            return self._meters

    def authorizations(self) -> list[dict[str, Any]]:
        """The account's authorizations, listed once per run."""
        with self._lock:
            if self._authorizations is None:
                self._authorizations = self._list("authorizations", {})
            return self._authorizations

    def _list_meters(self) -> list[dict[str, Any]]:
        if self.meter_uids is None and self.authorization_uids is None:
            return self._list("meters", {})
        meters: dict[str, dict[str, Any]] = {}
        for key, uids in (("uids", self.meter_uids), ("authorizations", self.authorization_uids)):
            for chunk in _chunks(uids or [], settings.UIDS_PER_FILTER):
                for meter in self._list("meters", {key: chunk}):
                    meters[str(meter["uid"])] = meter
        return list(meters.values())

    def _list(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        query = {"limit": settings.MAX_PAGE_SIZE, **params}
        return [
            item
            for page in self.client.pages(path, path, query)
            for item in page
            if isinstance(item, dict) and item.get("uid") is not None
        ]


def authorizations(context: _Context) -> DltResource:
    @dlt.resource(
        name="authorizations",
        write_disposition="merge",
        primary_key="uid",
        columns=AUTHORIZATION_HINTS,
    )
    def authorizations_resource() -> Iterator[list[dict[str, Any]]]:
        yield [shape_authorization(a) for a in context.authorizations()]

    return authorizations_resource


def meters_resource(context: _Context) -> DltResource:
    @dlt.resource(name="meters", write_disposition="merge", primary_key="uid", columns=METER_HINTS)
    def meters() -> Iterator[list[dict[str, Any]]]:
        yield [shape_meter(m) for m in context.meters()]

    return meters


def bills(context: _Context) -> DltResource:
    # parallelized: dlt runs it on a worker thread, so the interval pages (the bulk of a run)
    # start as soon as the meters are listed instead of after the first page of bills
    @dlt.resource(
        name="bills",
        write_disposition="merge",
        primary_key="uid",
        columns=BILL_HINTS,
        parallelized=True,
    )
    def bills_resource() -> Iterator[list[dict[str, Any]]]:
        state = dlt.current.resource_state().setdefault("meters", {})
        summary = _plan(context, "bills", state)
        problems = ShapeProblems()
        batches = _bill_batches(summary.planned)
        latest: dict[str, datetime] = {}

        def fetch(batch: list[MeterPlan], emit: Any) -> None:
            starts = [p.start for p in batch]
            params: dict[str, Any] = {
                "meters": [p.meter_uid for p in batch],
                "limit": settings.MAX_PAGE_SIZE,
            }
            if None not in starts:
                params["start"] = _iso(min(s for s in starts if s is not None))
            for page in context.client.pages("bills", "bills", params):
                emit([shape_bill(b, problems) for b in page if isinstance(b, dict)])

        for result in run_concurrently(
            batches, fetch, max_workers=context.max_concurrency, max_pending=8
        ):
            if not result.done:
                rows = result.item or []
                for row in rows:
                    _track_latest(latest, row.get("meter_uid"), row.get("bill_start_at"))
                context.report.rows_fetched["bills"] += len(rows)
                yield rows
                continue
            now = context.clock.now()
            for plan in result.job:
                record_fetch(state, plan, latest.get(plan.meter_uid), now)
        context.report.add_problems("bills", problems.counts, problems.examples)

    return bills_resource


def intervals(context: _Context) -> DltResource:
    @dlt.resource(
        name="interval_readings",
        write_disposition="merge",
        primary_key=READINGS_KEY,
        columns=_arrow_hints(READINGS_SCHEMA),
    )
    def intervals_resource() -> Iterator[pa.Table]:
        state = dlt.current.resource_state().setdefault("meters", {})
        summary = _plan(context, "intervals", state)
        problems = ReadingProblems()
        latest: dict[str, datetime] = {}
        batch = _Batch(settings.READINGS_BATCH_ROWS)
        # Many requests wait on the network at once, but pages are parsed by a few threads:
        # parsing is CPU work, and allocating from few threads keeps memory from fragmenting
        # across many per-thread heaps as the data grows.
        parsers = ThreadPoolExecutor(settings.PARSE_THREADS, thread_name_prefix="uapi-parse")
        # Meters loaded for the first time have no rows yet: appending them skips the costly
        # delete-insert. Any re-read (lookback, backfill) merges on the reading key.
        hints = (
            dlt.mark.make_hints(write_disposition="append")
            if summary.planned and all(p.reason == FIRST_LOAD for p in summary.planned)
            else None
        )

        def fetch(plan: MeterPlan, emit: Any) -> None:
            params: dict[str, Any] = {
                "meters": plan.meter_uid,
                "limit": context.intervals_page_size,
                "allow_mixed": context.allow_mixed,
            }
            if plan.start is not None:
                params["start"] = _iso(plan.start)
            seen: pa.Array = pa.array([], type=pa.string())
            decode = partial(_decode_in, parsers, problems=problems)
            for page in context.client.decoded_pages("intervals", params, decode):
                table = page.items
                if len(seen):
                    # An object listed again on a later page is loaded once.
                    table = table.filter(pc.invert(pc.is_in(table["interval_uid"], seen)))
                seen = pa.concat_arrays([seen, pc.unique(table["interval_uid"])])
                if table.num_rows:
                    emit(table)

        def flush() -> Iterator[Any]:
            nonlocal hints
            table = batch.take()
            release_free_memory()
            if hints is not None:
                yield dlt.mark.with_hints(table, hints)
                hints = None
            else:
                yield table

        with parsers, system_memory_pool():
            for result in run_concurrently(
                summary.planned,
                fetch,
                max_workers=context.max_concurrency,
                max_pending=settings.READINGS_PENDING_PAGES,
            ):
                if not result.done:
                    table = result.item
                    _track_latest(latest, result.job.meter_uid, pc.max(table["end_at"]).as_py())
                    context.report.rows_fetched["interval_readings"] += table.num_rows
                    if batch.add(table):
                        yield from flush()
                    continue
                now = context.clock.now()
                record_fetch(state, result.job, latest.get(result.job.meter_uid), now)
        if batch.rows:
            yield from flush()
        release_free_memory()
        context.report.add_problems("interval_readings", problems.counts, problems.examples)

    return intervals_resource


def _decode_in(parsers: ThreadPoolExecutor, content: bytes, *, problems: ReadingProblems) -> Any:
    return parsers.submit(decode_intervals_page, content, problems).result()


class _Batch:
    """Gathers page tables into batches big enough that dlt's per-item cost stays small."""

    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self.tables: list[pa.Table] = []
        self.rows = 0

    def add(self, table: pa.Table) -> bool:
        """Add a table; True when the batch is full."""
        self.tables.append(table)
        self.rows += table.num_rows
        return self.rows >= self.max_rows

    def take(self) -> pa.Table:
        table = pa.concat_tables(self.tables).combine_chunks()
        self.tables, self.rows = [], 0
        return table


def events(context: _Context) -> DltResource:
    # parallelized, like bills: its pages are read one after another, and on dlt's main thread
    # they would stall the interval pages queued behind them
    @dlt.resource(
        name="events",
        write_disposition="merge",
        primary_key="uid",
        columns=EVENT_HINTS,
        parallelized=True,
    )
    def events_resource() -> Iterator[list[dict[str, Any]]]:
        state = dlt.current.resource_state()
        since = to_instant(state.get("latest_ts"))
        # Events arrive newest first; stop a day past the newest seen, since order across
        # deliveries is not guaranteed.
        stop_before = since - timedelta(days=1) if since else None
        newest = since
        for page in context.client.pages("events", "events", {"limit": settings.MAX_PAGE_SIZE}):
            rows = [shape_event(e) for e in page if isinstance(e, dict)]
            stamps = [r["ts"] for r in rows if r.get("ts") is not None]
            if stamps and (newest is None or max(stamps) > newest):
                newest = max(stamps)
            context.report.rows_fetched["events"] += len(rows)
            yield rows
            if stop_before is not None and stamps and max(stamps) < stop_before:
                break
        if newest is not None:
            state["latest_ts"] = newest.isoformat()

    return events_resource


def meter_access(context: _Context) -> DltResource:
    @dlt.resource(
        name="meter_access",
        write_disposition="merge",
        primary_key="meter_uid",
        columns=ACCESS_HINTS,
    )
    def meter_access_resource() -> Iterator[list[dict[str, Any]]]:
        """Whether each meter's data may still be collected: active, expired or revoked.

        Revoked meters vanish from the API with their data; this table keeps the mark.
        """
        now = context.clock.now()
        by_uid = {str(a["uid"]): a for a in context.authorizations()}
        changed = {str(c["meter_uid"]) for c in context.access_changes}
        rows = [
            access_row(meter, by_uid.get(str(meter.get("authorization_uid"))), now)
            for meter in context.meters()
            if str(meter.get("uid")) not in changed
        ]
        yield rows + [dict(change) for change in context.access_changes]

    return meter_access_resource


def _plan(context: _Context, kind: str, state: dict[str, Any]) -> Any:
    summary = plan_meters(
        context.meters(),
        kind,  # type: ignore[arg-type]
        state,
        now=context.clock.now(),
        lookback=context.lookback,
        start_date=context.start_date,
        backfill=context.backfill,
        refresh=context.refresh,
    )
    context.report.add_plan(kind, summary)
    return summary


def _bill_batches(plans: list[MeterPlan]) -> list[list[MeterPlan]]:
    """Group meters into bills requests: whole-history meters together, the rest by start."""
    whole = [p for p in plans if p.start is None]
    dated = sorted((p for p in plans if p.start is not None), key=lambda p: p.start)  # type: ignore[arg-type,return-value]
    size = settings.BILLS_METERS_PER_REQUEST
    return [group[i : i + size] for group in (whole, dated) for i in range(0, len(group), size)]


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _track_latest(latest: dict[str, datetime], meter_uid: Any, value: Any) -> None:
    if meter_uid is None or not isinstance(value, datetime):
        return
    key = str(meter_uid)
    if key not in latest or value > latest[key]:
        latest[key] = value


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="microseconds")


def _arrow_hints(schema: pa.Schema) -> dict[str, Any]:
    """Column hints matching the arrow schema, so dlt does not warn about differing hints."""
    types = {
        pa.string(): "text",
        pa.float64(): "double",
    }
    hints: dict[str, Any] = {}
    for f in schema:
        hints[f.name] = {"nullable": f.nullable}
        if pa.types.is_timestamp(f.type):
            hints[f.name]["data_type"] = "timestamp"
        elif pa.types.is_int16(f.type):
            hints[f.name].update(data_type="bigint", precision=16)
        else:
            hints[f.name]["data_type"] = types[f.type]
    return hints
