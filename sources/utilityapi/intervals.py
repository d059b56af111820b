"""Interval readings of many meters at once: paging, parsing, de-duplication and batching.

Each planned meter's Interval objects are paged on a worker thread, as many per page as the API
allows. A page is never held whole: its body is cut into batches of whole objects as it streams
(`page_stream.ListingStream`), and each batch is parsed into columns at once, in the worker
(CPU work: at most `PARSE_THREADS` at a time). A parsed batch takes one of a few slots until
the resource's own thread has taken it, so workers that run ahead stop reading their responses
instead of holding parsed pages. That thread gathers the batches for dlt and, once a meter's
last page is in, records its cursor in the resource state, so a meter's state is committed with
its rows. A meter whose requests keep failing is reported and left for the next run; the others
load.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import partial
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc

from . import settings
from .context import SourceContext
from .errors import ends_the_run
from .fetch import Emitter, run_concurrently
from .memory import release_free_memory
from .page_stream import ListingStream
from .pages import Walk
from .planning import MeterPlan, backfill_done, record_fetch, track_latest
from .readings import BATCH_BYTES, IntervalsPage, ReadingProblems, decode_batch

READINGS_TABLE = "interval_readings"
OBJECTS_TABLE = "interval_objects"


def fetch_intervals(context: SourceContext, resource_state: dict[str, Any]) -> Iterator[Any]:
    """This step's meters' readings as arrow batches (and their objects' rows)."""
    problems = ReadingProblems()
    latest: dict[str, datetime] = {}
    batch = _Batch(settings.READINGS_BATCH_ROWS)
    parse_slots = threading.Semaphore(settings.PARSE_THREADS)
    # Every object once per step, whichever meter's listing sent it: the warehouse trusts a
    # step's readings to be unique on their key (READINGS_DISPOSITION).
    step_objects: set[str] = set()
    for result in run_concurrently(
        context.plan("intervals", resource_state),
        partial(_fetch_meter, context, partial(_parse, parse_slots, problems)),
        max_workers=context.scope.max_concurrency,
        max_pending=settings.READINGS_PENDING_BATCHES,
    ):
        plan: MeterPlan = result.job
        if not result.done:
            page = _unseen(result.item, step_objects)  # type: ignore[arg-type]
            yield from _objects(page)
            if page.readings.num_rows:
                track_latest(latest, plan.meter_uid, pc.max(page.readings["end_at"]).as_py())
                context.report.count_rows("interval_readings", page.readings.num_rows)
                if batch.add(page.readings):
                    yield dlt.mark.with_table_name(batch.take(), READINGS_TABLE)
                    release_free_memory()
        elif result.error is not None:
            if ends_the_run(result.error):
                raise result.error
            context.report.meter_failed("intervals", plan.meter_uid, str(result.error))
        else:
            now = context.clock.now()
            record_fetch(resource_state["meters"], plan, latest.get(plan.meter_uid), now)
            backfill_done(resource_state, plan.meter_uid)
            context.report.meter_fetched("intervals", plan.meter_uid)
    if batch.rows:
        yield dlt.mark.with_table_name(batch.take(), READINGS_TABLE)
    release_free_memory()
    context.report.add_problems("interval_readings", problems.counts, problems.examples)


def _fetch_meter(
    context: SourceContext,
    parse: Callable[[bytes], IntervalsPage],
    plan: MeterPlan,
    emit: Emitter[MeterPlan, IntervalsPage],
) -> None:
    """Page through one meter's Interval objects from its planned start, oldest first.

    A listing cut short (a capped `limit`, an incomplete page) is asked again from where it
    stopped; objects listed twice (the listing moved while we paged, a repeat query, a page
    asked again after its body broke off) are loaded once.
    """
    limit = context.scope.intervals_page_size
    query: dict[str, Any] = {
        "meters": plan.meter_uid,
        "limit": limit,
        "allow_mixed": context.scope.allow_mixed,
        "order": "earliest_first",
    }
    reader = _MeterReader(parse, emit)
    start = plan.start
    while True:
        if start is not None:
            query["start"] = start.isoformat(timespec="microseconds")
        reader.walk = Walk(limit)
        for page in context.client.streamed_pages("intervals", query, reader.decoder):
            reader.page_done(page.items, page.incomplete)
        start = reader.walk.continue_from(start)
        if start is None:
            return


class _MeterReader:
    """One meter's pages as they stream: each batch parsed, its repeats dropped, walked."""

    def __init__(
        self, parse: Callable[[bytes], IntervalsPage], emit: Emitter[MeterPlan, IntervalsPage]
    ) -> None:
        self.parse = parse
        self.emit = emit
        self.walk = Walk(0)
        self.seen: set[str] = set()
        # objects first received on the current page, across attempts: a retried page repeats
        # the ones its broken attempt already delivered, which were new all the same
        self.new_on_page = 0

    def decoder(self) -> ListingStream:
        return ListingStream("intervals", self._batch, BATCH_BYTES)

    def page_done(self, items: int, incomplete: bool) -> None:
        self.walk.page(items, self.new_on_page, incomplete)
        self.new_on_page = 0

    def _batch(self, text: bytes, count: int) -> None:
        with self.emit.slot():
            page = self.parse(text)
            for obj in page.objects:
                self.walk.span(obj["first_start_at"], obj["last_end_at"])
            fresh = _unseen(page, self.seen)
            self.new_on_page += len(fresh.objects)
            if fresh.readings.num_rows or fresh.objects:
                self.emit(fresh)


def _parse(slots: threading.Semaphore, problems: ReadingProblems, text: bytes) -> IntervalsPage:
    # Parsing is CPU work: more at once than the machine has cores only adds memory.
    with slots:
        return decode_batch(text, problems)


def _unseen(page: IntervalsPage, seen: set[str]) -> IntervalsPage:
    """The page without objects already received (and remember the new ones)."""
    readings, objects = page.readings, page.objects
    if seen:
        repeated = pa.array(sorted(seen), type=pa.string())
        readings = readings.filter(pc.invert(pc.is_in(readings["interval_uid"], repeated)))
        objects = [o for o in objects if o["uid"] not in seen]
    seen.update(o["uid"] for o in objects)
    return IntervalsPage(readings, objects)


def _objects(page: IntervalsPage) -> Iterator[Any]:
    if page.objects:
        yield dlt.mark.with_table_name(page.objects, OBJECTS_TABLE)


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
