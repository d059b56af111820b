"""Interval readings of many meters at once: paging, parsing, de-duplication and batching.

Each planned meter's Interval objects are paged on a worker thread, as many per page as the API
allows. A page is never held whole: its body is cut into batches of whole objects as it streams
(`page_stream.ListingStream`), and each batch is parsed into columns at once, in the worker
(CPU work: at most `PARSE_THREADS` at a time). A parsed batch takes one of a few slots until
the resource's own thread has taken it, so workers that run ahead stop reading their responses
instead of holding parsed pages. That thread gathers the batches for dlt and, once a meter's
last page is in, records its cursor in the resource state, so a meter's state is committed with
its rows. A meter whose requests keep failing is reported and left for the next run; the others
load. When a load commits in checkpoint steps, the fetching runs on from one step into the next
(`FetchAhead`), so the link does not idle while a step is handed to dlt.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from functools import partial
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc

from . import settings
from .context import SourceContext, StepBudget
from .errors import ends_the_run
from .fetch import Emitter, StepwiseFetch
from .memory import release_free_memory
from .page_stream import ListingStream
from .pages import Walk
from .planning import MeterPlan, backfill_done, record_fetch, track_latest
from .readings import BATCH_BYTES, IntervalsPage, ReadingProblems, decode_batch

READINGS_TABLE = "interval_readings"
OBJECTS_TABLE = "interval_objects"


def fetch_intervals(context: SourceContext, resource_state: dict[str, Any]) -> Iterator[Any]:
    """This step's meters' readings as arrow batches (and their objects' rows).

    With `context.fetch_ahead`, fetching outlives the step (see `FetchAhead`): the step takes
    meters until its budget is spent and ends when they are in, while the next step's first
    meters are already being fetched.
    """
    workers = context.scope.max_concurrency
    # Workers fetching ahead hold their connections while they wait for their step, so they
    # leave one of the client's connections to the step's other requests (listings, bills):
    # with every connection held, those would wait for a step that cannot begin.
    ahead = context.fetch_ahead if workers > 1 else None
    fetch = ahead.fetch if ahead is not None else None
    if fetch is None and ahead is not None:
        plans = context.plan_all("intervals", resource_state)
        budget = partial(context.step_budget, "intervals")
        fetch = ahead.fetch = _Fetch(context, plans, workers - 1, budget, remaining=len(plans))
    elif fetch is None:
        fetch = _Fetch(context, context.plan("intervals", resource_state), workers, None)
    batch = _Batch(settings.READINGS_BATCH_ROWS)
    try:
        for result in fetch.engine.step():
            plan: MeterPlan = result.job
            if not result.done:
                page = _unseen(result.item, fetch.objects)  # type: ignore[arg-type]
                yield from _objects(page)
                if page.readings.num_rows:
                    end_at = pc.max(page.readings["end_at"]).as_py()
                    track_latest(fetch.latest, plan.meter_uid, end_at)
                    context.report.count_rows("interval_readings", page.readings.num_rows)
                    if batch.add(page.readings):
                        yield dlt.mark.with_table_name(batch.take(), READINGS_TABLE)
                        release_free_memory()
                continue
            if result.error is not None:
                if ends_the_run(result.error):
                    raise result.error
                context.report.meter_failed("intervals", plan.meter_uid, str(result.error))
            else:
                now = context.clock.now()
                latest = fetch.latest.pop(plan.meter_uid, None)
                record_fetch(resource_state["meters"], plan, latest, now)
                backfill_done(resource_state, plan.meter_uid)
                context.report.meter_fetched("intervals", plan.meter_uid)
            if ahead is not None:  # per step, `context.plan` counts what the step left
                fetch.remaining -= 1
                context.report.set_remaining("intervals", fetch.remaining)
    except BaseException:
        _end(fetch, ahead)
        raise
    if fetch.engine.finished or ahead is None:
        _end(fetch, ahead)
    if batch.rows:
        yield dlt.mark.with_table_name(batch.take(), READINGS_TABLE)
    release_free_memory()
    counts, examples = fetch.problems.take()
    context.report.add_problems("interval_readings", counts, examples)


def _end(fetch: _Fetch, ahead: FetchAhead | None) -> None:
    if ahead is not None:
        ahead.close()  # holds `fetch`
    else:
        fetch.close()


class FetchAhead:
    """Lets one run's interval fetches go on from one checkpoint step into the next.

    Without it, each step's fetches end with the step: while the step is normalized, and while
    the next step's first requests wait for their answers, nothing arrives (~0.4 s a step on
    `make bench`'s backfill). With it, the meters a step takes are still all its own (a meter's
    readings and cursor commit together, as before), but once the step has taken its budget
    the free workers start the next step's meters; those hold at most
    `settings.READINGS_AHEAD_BATCHES` parsed batches until their step begins. Whoever runs the
    steps closes it.
    """

    def __init__(self) -> None:
        self.fetch: _Fetch | None = None

    def close(self) -> None:
        """Stop the fetches still running (a run that ended early); idempotent."""
        if self.fetch is not None:
            self.fetch.close()
            self.fetch = None


class _Fetch:
    """Planned meters' pages, fetched and parsed on worker threads, with what the consumer
    keeps across steps: cursors seen, objects received, reading problems."""

    def __init__(
        self,
        context: SourceContext,
        plans: Iterable[MeterPlan],
        workers: int,
        new_budget: Callable[[], StepBudget] | None,
        remaining: int = 0,
    ) -> None:
        # meters are taken from `plans` as workers free up (a step's budget may stop it early)
        # across steps: the run's meters not done yet (per step, `context.plan` counts them)
        self.remaining = remaining
        self.problems = ReadingProblems()
        self.latest: dict[str, datetime] = {}
        # Every object once, whichever meter's listing sent it: the warehouse trusts a step's
        # readings to be unique on their key (READINGS_DISPOSITION).
        self.objects: set[str] = set()
        parse = partial(_parse, threading.Semaphore(settings.PARSE_THREADS), self.problems)
        self.engine: StepwiseFetch[MeterPlan, IntervalsPage] = StepwiseFetch(
            plans,
            partial(_fetch_meter, context, parse),
            max_workers=workers,
            max_pending=settings.READINGS_PENDING_BATCHES,
            max_ahead=settings.READINGS_AHEAD_BATCHES,
            new_budget=new_budget,
        )

    def close(self) -> None:
        self.engine.close()


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
    """The page without objects already received (and remember the new ones).

    Every reading's object is among the page's object rows, so only the page's own uids are
    looked up: the cost follows the page, not everything received before it.
    """
    readings, objects = page.readings, page.objects
    repeated = {o["uid"] for o in objects if o["uid"] in seen}
    if repeated:
        uids = pa.array(sorted(repeated), type=pa.string())
        readings = readings.filter(pc.invert(pc.is_in(readings["interval_uid"], uids)))
        objects = [o for o in objects if o["uid"] not in repeated]
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
