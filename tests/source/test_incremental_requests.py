"""What incremental loads ask the API for: each meter from its latest cursor, once per listing.

The request log of the sandbox holds every query's parameters, so these tests read the `start`
each load sent and how often each meter was asked, not only the rows that ended up loaded
(dlt's merge would hide a meter fetched twice, and a cursor stuck in the past costs requests
and time but still loads the right rows).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import httpx
import pytest

from pipelines.pipeline import run_load
from sandbox import Sandbox, SandboxConfig
from sandbox.requestlog import RequestRecord
from tests.support.clock import FakeClock
from tests.support.loads import sandbox_options
from tests.support.truth import READINGS_KEY, compare_table, instant, interval_rows

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
LOOKBACK = timedelta(days=1)


def world(**overrides: object) -> SandboxConfig:
    values: dict[str, object] = {
        "seed": 11,
        "scale": "test",
        "n_meters": 6,
        "history_days": 30,
        "now": NOW,
        "rate_limit": None,
    }
    values.update(overrides)
    return SandboxConfig(**values)  # type: ignore[arg-type]


def first_pages(sb: Sandbox, path: str) -> list[RequestRecord]:
    """The requests that start a listing (not `after` pages following `next`)."""
    return [r for r in sb.requests if r.path == path and "after" not in r.params]


def reading_cursor(sb: Sandbox, meter_uid: str) -> datetime:
    """The end of the latest reading the sandbox has published for a meter."""
    return max(
        instant(r["end"])
        for o in sb.truth.intervals(meter_uid, allow_mixed=True)
        for r in o["readings"]
    )


def bill_cursor(sb: Sandbox, meter_uid: str) -> datetime | None:
    starts = [instant(b["base"]["bill_start_date"]) for b in sb.truth.bills(meter_uid)]
    return max(starts) if starts else None


def sent_start(record: RequestRecord) -> datetime | None:
    start = record.params.get("start")
    return None if start is None else datetime.fromisoformat(str(start))


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(world()) as sandbox:
        yield sandbox


def test_every_later_load_asks_each_meter_from_its_latest_cursor(sb: Sandbox, tmp_path: Path):
    db, clock = tmp_path / "w.duckdb", FakeClock(NOW)

    def load() -> None:
        sb.clear_requests()
        run_load(sandbox_options(sb, db, clock, lookback_days=LOOKBACK.days))

    def advance() -> None:
        sb.advance(timedelta(days=2))
        clock.advance(timedelta(days=2))

    load()
    first = first_pages(sb, "/intervals")
    assert first and all(sent_start(r) is None for r in first)  # a first load reads everything
    meters = sorted({uid for r in first for uid in r.meter_uids})
    cursors = [{m: reading_cursor(sb, m) for m in meters}]
    bill_cursors = {m: bill_cursor(sb, m) for m in meters}
    for _ in range(2):
        advance()
        load()
        asked = first_pages(sb, "/intervals")
        assert asked, "monitoring adds data every two days: some meters must be asked"
        for record in asked:
            (meter,) = record.meter_uids
            # what the previous loads received ends at the meter's cursor
            assert sent_start(record) == cursors[-1][meter] - LOOKBACK, meter
        for record in first_pages(sb, "/bills"):
            # one request for many meters starts at the earliest of their cursors
            latest = [bill_cursors[m] for m in record.meter_uids]
            if None in latest:
                assert sent_start(record) is None
            else:
                assert sent_start(record) == min(latest) - LOOKBACK  # type: ignore[type-var]
        cursors.append({m: reading_cursor(sb, m) for m in meters})
        bill_cursors = {m: bill_cursor(sb, m) for m in meters}
    # The cursors moved between the loads, so a cursor stuck at its first value is caught.
    moved = [m for m in meters if cursors[2][m] > cursors[1][m] > cursors[0][m]]
    assert moved


def test_a_load_reads_each_meter_once_even_when_pages_repeat_objects(tmp_path: Path):
    # A third of `after` pages start with the previous page's last object again, as an
    # offset-paged listing does when objects are published while a client pages.
    with Sandbox(world(n_meters=8, page_repeat_rate=0.5, page_cap=3)) as sb:
        # the mode must repeat meters and Interval objects for this test to mean anything
        assert set(repeated_objects(sb)) == {"meters", "intervals"}
        sb.clear_requests()
        db = tmp_path / "w.duckdb"
        result = run_load(sandbox_options(sb, db, FakeClock(NOW), intervals_page_size=3))
        meters = sb.truth.meters()
        objects = [o for m in meters for o in sb.truth.intervals(m["uid"], allow_mixed=True)]
        expected = interval_rows(objects)
        queries = Counter(
            (r.meter_uids, tuple(sorted(r.params.items()))) for r in first_pages(sb, "/intervals")
        )
    # What the run reports it loaded is what it loaded: each reading and object once.
    assert result.row_counts["interval_readings"] == len(expected)
    assert result.row_counts["interval_objects"] == len(objects)
    assert result.row_counts["meters"] == len(meters)
    assert result.report.meters_listed == len(meters)
    # No meter's query sent twice (a meter listed twice would be fetched twice).
    assert queries and set(queries.values()) == {1}
    with duckdb.connect(str(db), read_only=True) as con:
        comparison = compare_table(con, "utilityapi.interval_readings", expected, READINGS_KEY)
    assert comparison.ok, comparison.summary()


def repeated_objects(sb: Sandbox) -> Counter[str]:
    """How many objects a plain walk of the meters listing and of one meter's intervals gets
    twice, by listing."""
    seen: Counter[tuple[str, str]] = Counter()
    with httpx.Client(headers={"Authorization": f"Bearer {sb.token}"}, trust_env=False) as client:
        meter = next(m["uid"] for m in sb.truth.meters() if m["interval_count"])
        for url, key in (
            (f"{sb.base_url}/meters?limit=3", "meters"),
            (f"{sb.base_url}/intervals?meters={meter}&limit=3", "intervals"),
        ):
            next_url: str | None = url
            while next_url:
                body = client.get(next_url).raise_for_status().json()
                seen.update((key, o["uid"]) for o in body[key])
                next_url = body["next"]
    return Counter(key for (key, _), n in seen.items() if n > 1)
