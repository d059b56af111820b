"""Bills of many meters at once: one request covers up to a hundred meters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from . import settings
from .context import SourceContext
from .errors import ends_the_run
from .fetch import run_concurrently
from .pages import Page, Walk, json_page
from .planning import MeterPlan, backfill_done, record_fetch, track_latest
from .records import ShapeProblems, shape_bill


def fetch_bills(
    context: SourceContext, resource_state: dict[str, Any]
) -> Iterator[list[dict[str, Any]]]:
    """This step's meters' bills, each meter's cursor recorded once its batch is in."""
    problems = ShapeProblems()
    latest: dict[str, datetime] = {}

    def fetch(batch: list[MeterPlan], emit: Callable[[list[dict[str, Any]]], None]) -> None:
        query: dict[str, Any] = {
            "meters": [p.meter_uid for p in batch],
            "limit": settings.MAX_PAGE_SIZE,
            "order": "earliest_first",
        }
        starts = [p.start for p in batch]
        start = None if None in starts else min(s for s in starts if s is not None)
        seen: set[str] = set()
        while True:
            if start is not None:
                query["start"] = start.isoformat(timespec="microseconds")
            walk = Walk(settings.MAX_PAGE_SIZE)
            for page in context.client.decoded_pages("bills", query, _bills_page):
                rows = [shape_bill(b, problems) for b in page.items if isinstance(b, dict)]
                fresh = [r for r in rows if r.get("uid") not in seen]
                seen.update(r.get("uid") for r in fresh)
                walk.page(len(rows), len(fresh), page.incomplete)
                for row in rows:
                    walk.span(row.get("bill_start_at"), row.get("bill_end_at"))
                emit(fresh)
            start = walk.continue_from(start)
            if start is None:
                return

    for result in run_concurrently(
        _batches(context.plan("bills", resource_state)),
        fetch,
        max_workers=context.scope.max_concurrency,
        max_pending=8,
    ):
        if not result.done:
            rows = result.item or []
            for row in rows:
                track_latest(latest, row.get("meter_uid"), row.get("bill_start_at"))
            context.report.count_rows("bills", len(rows))
            yield rows
        elif result.error is not None:
            if ends_the_run(result.error):
                raise result.error
            for plan in result.job:
                context.report.meter_failed("bills", plan.meter_uid, str(result.error))
        else:
            for plan in result.job:
                _done(context, resource_state, plan, latest.get(plan.meter_uid))
    context.report.add_problems("bills", problems.counts, problems.examples)


def _bills_page(content: bytes) -> Page[list[dict[str, Any]]]:
    return json_page(content, "bills")


def _done(
    context: SourceContext,
    resource_state: dict[str, Any],
    plan: MeterPlan,
    latest: datetime | None,
) -> None:
    record_fetch(resource_state["meters"], plan, latest, context.clock.now())
    backfill_done(resource_state, plan.meter_uid)
    context.report.meter_fetched("bills", plan.meter_uid)


def _batches(plans: Iterator[MeterPlan]) -> Iterator[list[MeterPlan]]:
    """Group meters into bills requests: whole-history meters together, the rest by start."""
    taken = list(plans)
    whole = [p for p in taken if p.start is None]
    dated = sorted((p for p in taken if p.start is not None), key=_start)
    size = settings.BILLS_METERS_PER_REQUEST
    for group in (whole, dated):
        for i in range(0, len(group), size):
            yield group[i : i + size]


def _start(plan: MeterPlan) -> datetime:
    assert plan.start is not None
    return plan.start
