"""A database loaded from the sandbox exactly as `make demo` loads it, once per session."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`uapi load --sandbox` (what `make demo` runs) into a fresh file; tests only read it.

    Built once per test session even when pytest-xdist runs several workers: the first worker
    to need it builds it under a lock in the session's shared temp folder, the others wait for
    it and read the same file.
    """
    # xdist gives each worker a basetemp below one shared folder; without xdist, our own
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    folder = shared / "demo"
    folder.mkdir(exist_ok=True)
    db = folder / "uapi.duckdb"
    with (folder / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "built").exists():
            _load_demo(db)
            (folder / "built").touch()
    return db


def _load_demo(db: Path) -> None:
    # A process of its own, from the project folder, as `make demo` runs: the same
    # .dlt/config.toml and nothing this test process has set up.
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "load", "--sandbox", "--db", str(db)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture
def demo_copy(demo_db: Path, tmp_path: Path) -> Path:
    """A copy of the demo database a test may change."""
    copy = tmp_path / "uapi.duckdb"
    shutil.copyfile(demo_db, copy)
    return copy


@pytest.fixture
def writer_holding() -> Callable[[Path], AbstractContextManager[None]]:
    """Another process holding a DuckDB file open for writing, as during a `uapi load`."""

    @contextmanager
    def hold(db: Path) -> Iterator[None]:
        code = (
            "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('open', flush=True); "
            "sys.stdin.read()"
        )
        writer = subprocess.Popen(
            [sys.executable, "-c", code, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        try:
            assert writer.stdout is not None and writer.stdout.readline().strip() == b"open"
            yield
        finally:
            assert writer.stdin is not None
            writer.stdin.close()
            writer.wait(timeout=60)

    return hold


@dataclass(frozen=True)
class Enriched:
    """A demo copy with what newer analytics builds add: zones, flags, notes, peaks."""

    db: Path
    meter: str  # has a zone (with an offset mismatch), a flagged day and a strange bill
    flagged_day: object
    strange_bill: str


@pytest.fixture
def enriched(demo_copy: Path) -> Enriched:
    """Columns and tables the dbt marts add, planted on the demo copy the way they read
    (replacing them where the build already has them, so the test knows what they hold)."""
    with duckdb.connect(str(demo_copy)) as con:
        meter, day = con.execute(
            "select meter_uid, min(local_date) from analytics.meter_daily_usage "
            "where channel = 'net' and is_complete and unit = 'kwh' "
            "group by 1 order by 1 limit 1"
        ).fetchone()
        (bill,) = con.execute(
            "select min(bill_uid) from analytics.bill_reconciliation where meter_uid = ?",
            [meter],
        ).fetchone()
        for statement in (
            "alter table analytics.meter_daily_usage add column if not exists time_zone varchar",
            "update analytics.meter_daily_usage set time_zone = 'America/Los_Angeles' "
            "where meter_uid = $meter",
            "alter table analytics.meter_daily_usage "
            "add column if not exists slots_flagged bigint default 0",
            "update analytics.meter_daily_usage set slots_flagged = 4 "
            "where meter_uid = $meter and channel = 'net' and local_date = $day",
            "alter table analytics.bill_reconciliation drop column if exists is_estimated",
            "alter table analytics.bill_reconciliation "
            "add column if not exists has_strange_note boolean default false",
            "alter table analytics.bill_reconciliation add column if not exists note_types varchar",
            "update analytics.bill_reconciliation set has_strange_note = true, "
            "note_types = 'bill_strange' where bill_uid = $bill",
            "create or replace table analytics.meter_time_zones as select $meter as meter_uid, "
            "'America/Los_Angeles' as time_zone, 'offset_mismatch' as time_zone_status, "
            "3 as offset_mismatches",
            PEAKS,
            "update analytics.meter_monthly_peaks set peak_method = 'reported_demand' "
            "where meter_uid = $meter and month_start_local = "
            "(select min(month_start_local) from analytics.meter_monthly_peaks)",
        ):
            names = {"meter": meter, "day": day, "bill": bill}
            con.execute(statement, {k: v for k, v in names.items() if f"${k}" in statement})
    return Enriched(demo_copy, meter, day, bill)


# Peaks as the mart defines them: the highest whole 15-minute kWh x 4, none for other data.
PEAKS = """
create or replace table analytics.meter_monthly_peaks as
select
    meter_uid,
    cast(date_trunc('month', local_date) as date) as month_start_local,
    max(kwh * 4) filter (where not is_gap and not is_spread) as peak_kw,
    case
        when max(kwh) filter (where not is_gap and not is_spread) is null then 'unavailable'
        else 'interval_energy'
    end as peak_method,
    arg_max(interval_start_at, kwh) filter (where not is_gap and not is_spread)
        as peak_interval_start_at
from analytics.meter_intervals_15min
where channel = 'net'
group by all
"""
