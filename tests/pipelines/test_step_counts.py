"""The completeness check reads each step's meters as soon as that step commits.

Each step is loaded on a thread while the next is fetched (overlap.py); the warehouse's counts
for the step's meters are read on that thread right after its load, so the check at the end
reads only what no step counted. What it concludes must be what reading everything at the end
concludes.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

import duckdb
import pytest

from pipelines import completeness
from pipelines.pipeline import run_load
from sandbox import Sandbox, SandboxConfig
from tests.support.clock import FakeClock
from tests.support.loads import sandbox_options

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
ROWS = """
select meter_uid, kind, status, detail, expected_count, loaded_count, missing_count,
    loaded_start_at, loaded_end_at, repaired
from utilityapi.meter_completeness order by meter_uid, kind
"""


@pytest.fixture(scope="module")
def sb():
    config = SandboxConfig(seed=23, scale="test", n_meters=7, history_days=75, now=NOW)
    with Sandbox(config) as sandbox:
        yield sandbox


def load_in_steps(sb, db):
    options = sandbox_options(sb, db, FakeClock(NOW))
    options.checkpoint_meters = 2
    return run_load(options)


def completeness_rows(db):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(ROWS).fetchall()


def read_at_the_end(sb, db):
    """What the check concludes when it reads every meter at the end (no step counts)."""
    real = completeness.StepCounts.reader
    try:
        completeness.StepCounts.reader = lambda self, *a, **k: None
        result = load_in_steps(sb, db)
    finally:
        completeness.StepCounts.reader = real
    return result, completeness_rows(db)


def test_each_step_is_counted_on_the_load_thread_and_the_end_reads_only_the_rest(
    sb, tmp_path, monkeypatch
):
    counted: dict[str, set[tuple[str, str]]] = {}
    at_the_end: set[tuple[str, str]] = set()
    real_loaded, real_counted = completeness.loaded, completeness._loaded

    def spy_counted(query, kind, uids):
        thread = threading.current_thread().name
        counted.setdefault(thread, set()).update((kind, uid) for uid in uids)
        return real_counted(query, kind, uids)

    def spy_loaded(pipeline, kind, uids):
        at_the_end.update((kind, uid) for uid in uids)
        return real_loaded(pipeline, kind, uids)

    monkeypatch.setattr(completeness, "_loaded", spy_counted)
    monkeypatch.setattr(completeness, "loaded", spy_loaded)
    result = load_in_steps(sb, tmp_path / "steps.duckdb")
    monkeypatch.undo()
    assert len(result.steps) >= 3
    fetched = {(k, uid) for k, progress in result.report.kinds.items() for uid in progress.fetched}
    assert {k for k, _ in fetched} == {"bills", "intervals"}
    assert counted.get("uapi-load", set()) >= fetched
    assert not fetched & at_the_end

    expected_result, expected_rows = read_at_the_end(sb, tmp_path / "end.duckdb")
    rows = completeness_rows(tmp_path / "steps.duckdb")
    assert rows == expected_rows
    assert {r[2] for r in rows} <= {"complete", "not_activated", "empty"}
    assert result.report.completeness == expected_result.report.completeness
    assert result.outcome.status == expected_result.outcome.status == "ok"


def test_a_step_count_that_fails_is_read_again_at_the_end(sb, tmp_path, monkeypatch, caplog):
    real_counted = completeness._loaded

    def fails_on_the_load_thread(query, kind, uids):
        if threading.current_thread().name == "uapi-load":
            raise RuntimeError("the warehouse is busy")
        return real_counted(query, kind, uids)

    monkeypatch.setattr(completeness, "_loaded", fails_on_the_load_thread)
    with caplog.at_level(logging.WARNING, logger="pipelines.completeness"):
        result = load_in_steps(sb, tmp_path / "steps.duckdb")
    monkeypatch.undo()
    assert "could not count the step's" in caplog.text
    _, expected_rows = read_at_the_end(sb, tmp_path / "end.duckdb")
    assert completeness_rows(tmp_path / "steps.duckdb") == expected_rows
    assert result.outcome.status == "ok"
