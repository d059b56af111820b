"""`uapi load` against the sandbox over real HTTP: exact, incremental, robust, secret-safe."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa
import pytest

from pipelines.pipeline import LoadOptions, Target, make_pipeline, run_load
from sandbox import FaultConfig, Sandbox, SandboxConfig
from sources.utilityapi.records import is_not_activated
from tests.support.clock import FakeClock
from tests.support.loads import sandbox_options
from tests.support.truth import (
    BILL_CHILD_KEY,
    BILL_CHILDREN,
    BILL_COLUMNS,
    BILLS_KEY,
    READING_COLUMNS,
    READINGS_KEY,
    bill_child_relation,
    bill_child_rows,
    bill_rows,
    compare_table,
    interval_rows,
)

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
READING_KEY = "interval_uid, start_at, type, meter_number"


def sandbox_config(**overrides) -> SandboxConfig:
    values = {"seed": 11, "scale": "test", "now": NOW, "rate_limit": None, "latency_ms": 0}
    values.update(overrides)
    return SandboxConfig(**values)


def options(sb: Sandbox, db: Path, clock: FakeClock, **source) -> LoadOptions:
    return sandbox_options(sb, db, clock, **source)


def truth_objects(sb: Sandbox) -> list[dict]:
    """Every Interval object the sandbox has published (the raw table keeps all of them)."""
    return [o for m in sb.truth.meters() for o in sb.truth.intervals(m["uid"], allow_mixed=True)]


def truth_bills(sb: Sandbox) -> list[dict]:
    return [b for m in sb.truth.meters() for b in sb.truth.bills(m["uid"])]


DLT_COLUMNS = {"_dlt_load_id", "_dlt_id"}


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {row[0] for row in con.execute(f"describe utilityapi.{table}").fetchall()}


def loaded_readings(db: Path) -> pa.Table:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.sql(
            f"select * exclude (_dlt_load_id) from utilityapi.interval_readings order by {READING_KEY}"
        ).to_arrow_table()


def assert_readings_match_truth(sb: Sandbox, db: Path) -> None:
    """interval_readings holds exactly the independent truth's rows, every column equal."""
    expected = interval_rows(truth_objects(sb))
    with duckdb.connect(str(db), read_only=True) as con:
        # A column the truth does not know would go unchecked: the truth must grow with it.
        assert table_columns(con, "interval_readings") == {*READING_COLUMNS, "_dlt_load_id"}
        result = compare_table(con, "utilityapi.interval_readings", expected, READINGS_KEY)
    assert result.ok, result.summary()
    assert result.actual_rows == len(expected) > 0


def assert_bills_match_truth(sb: Sandbox, db: Path) -> None:
    """bills and its child tables hold exactly the independent truth's rows, every column."""
    bills = truth_bills(sb)
    assert bills
    with duckdb.connect(str(db), read_only=True) as con:
        assert table_columns(con, "bills") == {*BILL_COLUMNS, *DLT_COLUMNS}
        result = compare_table(con, "utilityapi.bills", bill_rows(bills), BILLS_KEY)
        assert result.ok, result.summary()
        assert result.actual_rows == len(bills)
        for child in BILL_CHILDREN:
            expected = bill_child_rows(bills, child)
            relation = bill_child_relation("utilityapi", child)
            result = compare_table(con, relation, expected, BILL_CHILD_KEY)
            assert result.ok, f"bills__{child}: {result.summary()}"
            assert result.actual_rows == len(expected) > 0


def requests_for(sb: Sandbox, path: str) -> list:
    return [r for r in sb.requests if r.path == path]


@pytest.fixture
def sb():
    with Sandbox(sandbox_config()) as sandbox:
        yield sandbox


def test_first_run_loads_exactly_what_the_sandbox_holds(sb, tmp_path):
    db = tmp_path / "w.duckdb"
    result = run_load(options(sb, db, FakeClock(NOW)))
    assert_readings_match_truth(sb, db)
    assert_bills_match_truth(sb, db)
    with duckdb.connect(str(db), read_only=True) as con:
        meters = con.execute("select count(*) from utilityapi.meters").fetchone()[0]
        max_units = con.execute(
            "select distinct unit from utilityapi.interval_readings where type = 'max'"
        ).fetchall()
    assert meters == len(sb.truth.meters())
    assert max_units == [("kw",)]
    not_activated = {m["uid"] for m in sb.truth.meters() if is_not_activated(m)}
    assert not_activated and {m.uid for m in result.report.not_activated} == not_activated
    asked = {uid for r in requests_for(sb, "/intervals") for uid in r.meter_uids}
    assert not (asked & not_activated)


def test_every_table_loads_into_duckdb_from_parquet_files(sb, tmp_path):
    # INSERT statements cost seconds per step: interval_objects, a second table of the readings'
    # resource, once missed the parquet format the pipeline asks for its own table
    db = tmp_path / "w.duckdb"
    run_load(options(sb, db, FakeClock(NOW)))
    pipeline = make_pipeline(Target(db_path=db))
    formats: dict[str, set[str]] = {}
    for load_id in pipeline.list_completed_load_packages():
        for job in pipeline.get_load_package_info(load_id).jobs["completed_jobs"]:
            info = job.job_file_info
            if not info.table_name.startswith("_dlt") and info.file_format != "sql":
                formats.setdefault(info.table_name, set()).add(info.file_format)
    assert {"interval_readings", "interval_objects", "meters", "bills"} <= formats.keys()
    assert {t: f for t, f in formats.items() if f != {"parquet"}} == {}


def test_second_run_asks_nothing_for_unchanged_meters(sb, tmp_path):
    db = tmp_path / "w.duckdb"
    clock = FakeClock(NOW)
    run_load(options(sb, db, clock))
    before = loaded_readings(db)
    sb.clear_requests()
    clock.advance(timedelta(minutes=5))
    result = run_load(options(sb, db, clock))
    assert requests_for(sb, "/intervals") == [] and requests_for(sb, "/bills") == []
    assert "interval_readings" not in result.row_counts
    assert loaded_readings(db).equals(before)


def test_the_events_cursor_is_committed_with_the_load(sb, tmp_path):
    # events are read on dlt's worker threads (parallelized): their state must still be kept
    db = tmp_path / "w.duckdb"
    run_load(options(sb, db, FakeClock(NOW)))
    state = make_pipeline(Target(db_path=db)).state["sources"]["utilityapi"]["resources"]["events"]
    with duckdb.connect(str(db), read_only=True) as con:
        newest = con.execute("select max(event_at) from utilityapi.events").fetchone()[0]
    assert newest is not None
    assert datetime.fromisoformat(state["latest_ts"]) == newest


def test_after_the_clock_moves_only_changed_meters_are_asked(sb, tmp_path):
    db = tmp_path / "w.duckdb"
    clock = FakeClock(NOW)
    run_load(options(sb, db, clock))
    meters_before = {m["uid"]: (m["interval_count"], m["bill_count"]) for m in sb.truth.meters()}
    count_before = loaded_readings(db).num_rows
    sb.advance(timedelta(days=2))
    clock.advance(timedelta(days=2))
    changed = {
        m["uid"]
        for m in sb.truth.meters()
        if (m["interval_count"], m["bill_count"]) != meters_before.get(m["uid"])
    }
    assert changed, "the sandbox's monitoring should add data over two days"
    sb.clear_requests()
    run_load(options(sb, db, clock))
    asked = {uid for r in requests_for(sb, "/intervals") for uid in r.meter_uids}
    assert asked == {uid for uid in changed if meters_before[uid][0] != sb_count(sb, uid)}
    assert loaded_readings(db).num_rows > count_before
    assert_readings_match_truth(sb, db)
    assert_bills_match_truth(sb, db)


def sb_count(sb: Sandbox, meter_uid: str) -> int:
    return next(m["interval_count"] for m in sb.truth.meters() if m["uid"] == meter_uid)


def table_snapshot(db: Path) -> dict[str, list]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {
            "readings": con.execute(
                f"select * exclude (_dlt_load_id) from utilityapi.interval_readings order by {READING_KEY}"
            ).fetchall(),
            "bills": con.execute(
                "select * exclude (_dlt_load_id, _dlt_id) from utilityapi.bills order by uid"
            ).fetchall(),
            "meters": con.execute(
                "select uid, interval_count, bill_count from utilityapi.meters order by uid"
            ).fetchall(),
        }


def test_faults_and_429_bursts_end_in_the_same_tables_as_a_clean_run(tmp_path):
    with Sandbox(sandbox_config()) as clean:
        run_load(options(clean, tmp_path / "clean.duckdb", FakeClock(NOW)))
    faults = FaultConfig(
        seed=3,
        error_500=0.05,
        error_503=0.05,
        error_504=0.05,
        reset=0.05,
        close=0.05,
        truncate=0.05,
        burst_429=0.05,
    )
    with Sandbox(sandbox_config(faults=faults)) as faulty:
        clock = FakeClock(NOW)
        # Small pages make enough requests for every kind of fault to show up.
        result = run_load(options(faulty, tmp_path / "faulty.duckdb", clock, intervals_page_size=5))
        statuses = {r.status for r in faulty.requests}
    assert {429, 500, 503, 504} <= statuses
    assert result.report.client_stats.as_dict()["retries"]
    assert table_snapshot(tmp_path / "faulty.duckdb") == table_snapshot(tmp_path / "clean.duckdb")


class RevokeTokenAfter(httpx.HTTPTransport):
    """A transport whose token is revoked after `n` requests: the server answers a real 401."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.left = n

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.left -= 1
        if self.left < 0:
            request.headers["Authorization"] = "Bearer revoked-token"
        return super().handle_request(request)


def dlt_state(db: Path) -> list:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "select version, state from utilityapi._dlt_pipeline_state order by version"
        ).fetchall()


def test_a_run_that_fails_midway_changes_nothing_and_the_next_run_recovers(
    sb, tmp_path, monkeypatch
):
    db = tmp_path / "w.duckdb"
    clock = FakeClock(NOW)
    run_load(options(sb, db, clock))
    sb.advance(timedelta(days=2))
    clock.advance(timedelta(days=2))
    before_tables, before_state = table_snapshot(db), dlt_state(db)

    import sources.utilityapi as source_module

    real_client = source_module.UtilityAPIClient

    def client_with_revoked_token(*args, **kwargs):
        return real_client(*args, transport=RevokeTokenAfter(4), **kwargs)

    monkeypatch.setattr(source_module, "UtilityAPIClient", client_with_revoked_token)
    with pytest.raises(Exception) as caught:
        run_load(options(sb, db, clock))
    assert "401" in str(caught.value) or "401" in repr(caught.value.__cause__)
    assert table_snapshot(db) == before_tables
    assert dlt_state(db) == before_state

    monkeypatch.setattr(source_module, "UtilityAPIClient", real_client)
    run_load(options(sb, db, clock))
    assert_readings_match_truth(sb, db)


def test_the_token_appears_in_no_log_error_state_report_or_table(tmp_path, caplog):
    from pipelines.summary import report_dict, reports_dir, write_report

    token = "tok-very-SECRET-4242"
    db = tmp_path / "w.duckdb"
    caplog.set_level(logging.DEBUG)
    with Sandbox(sandbox_config(token=token, faults=FaultConfig(seed=1, error_503=0.1))) as sb:
        result = run_load(options(sb, db, FakeClock(NOW)))
        target = Target(db_path=db)
        write_report(report_dict(result, base_url=sb.base_url, target=target), reports_dir(target))
        with pytest.raises(Exception) as caught:
            run_load(options(sb, db, FakeClock(NOW), api_token="wrong-" + token))
    assert token not in str(caught.value) and token not in repr(caught.value)
    assert token not in caplog.text
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


class AuthorizationsAnswerAfterMetersAsked(httpx.HTTPTransport):
    """Holds the authorizations' answer until the meters have been asked for (or 20 s pass)."""

    def __init__(self) -> None:
        super().__init__()
        self.meters_asked = threading.Event()
        self.meters_asked_in_time: bool | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/meters"):
            self.meters_asked.set()
        elif request.url.path.endswith("/authorizations") and self.meters_asked_in_time is None:
            self.meters_asked_in_time = self.meters_asked.wait(timeout=20)
        return super().handle_request(request)


class IntervalsAnsweredAfterEvents(httpx.HTTPTransport):
    """Holds every intervals answer until the events listing's `pages` pages have all been
    asked for (or 20 s pass)."""

    def __init__(self, pages: int) -> None:
        super().__init__()
        self.pages = pages
        self.events_asked = 0
        self.all_events_asked = threading.Event()
        self.held_in_time: list[bool] = []
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/events"):
            with self._lock:
                self.events_asked += 1
                if self.events_asked >= self.pages:
                    self.all_events_asked.set()
        elif request.url.path.endswith("/intervals"):
            self.held_in_time.append(self.all_events_asked.wait(timeout=20))
        return super().handle_request(request)


def test_the_events_pages_are_read_while_the_readings_wait(sb, tmp_path, monkeypatch):
    # each events page used to be asked for only when dlt next turned to the events resource,
    # which waits for the readings' pages: on a shared link that held a first load's step
    import sources.utilityapi as source_module
    from sources.utilityapi import settings
    from sources.utilityapi.client import UtilityAPIClient

    monkeypatch.setattr(settings, "MAX_PAGE_SIZE", 100)
    with UtilityAPIClient(sb.token, sb.base_url) as lister:
        pages = len(list(lister.pages("events", "events", {"limit": settings.MAX_PAGE_SIZE})))
    assert pages >= 3
    transport = IntervalsAnsweredAfterEvents(pages)
    real_client = source_module.UtilityAPIClient

    def client(*args, **kwargs):
        return real_client(*args, transport=transport, **kwargs)

    monkeypatch.setattr(source_module, "UtilityAPIClient", client)
    db = tmp_path / "w.duckdb"
    result = run_load(options(sb, db, FakeClock(NOW)))
    assert transport.held_in_time and all(transport.held_in_time)
    assert transport.events_asked == pages
    assert result.failure is None
    assert_readings_match_truth(sb, db)
    with duckdb.connect(str(db), read_only=True) as con:
        events = con.execute("select count(distinct uid), count(*) from utilityapi.events")
        assert events.fetchone() == (261, 261)


def test_the_meters_are_listed_while_the_authorizations_are(sb, tmp_path, monkeypatch):
    # every other resource waits for the meters: listed after the authorizations' answer, they
    # came one round trip later
    import sources.utilityapi as source_module

    transport = AuthorizationsAnswerAfterMetersAsked()
    real_client = source_module.UtilityAPIClient

    def client(*args, **kwargs):
        return real_client(*args, transport=transport, **kwargs)

    monkeypatch.setattr(source_module, "UtilityAPIClient", client)
    result = run_load(options(sb, tmp_path / "w.duckdb", FakeClock(NOW)))
    assert transport.meters_asked_in_time is True
    assert result.failure is None
    assert_readings_match_truth(sb, tmp_path / "w.duckdb")
