"""Scheduled runs that can be trusted: `uapi load` as real processes, killed with real signals.

One writer at a time, runs killed at any moment and rerun once, a killed backfill resumed,
another program holding the database: every time the warehouse ends equal to a clean run's.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dlt.common.versioned_state import decompress_state

from sandbox import Sandbox, SandboxConfig
from tests.support.warehouse import differences, snapshot

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
TIMEOUT = 180


def small_world(**overrides) -> SandboxConfig:
    values = {
        "seed": 11,
        "scale": "test",
        "n_meters": 4,
        "history_days": 30,
        "now": NOW,
        "rate_limit": None,
        "latency_ms": 0,
    }
    values.update(overrides)
    return SandboxConfig(**values)


def uapi(sb: Sandbox, db: Path | None, command: str = "load", *extra: str) -> list[str]:
    """The command line of a run against the sandbox, into DuckDB file `db` (None: no --db)."""
    return [
        sys.executable,
        "-m",
        "pipelines.cli",
        "-v",
        command,
        "--base-url",
        sb.base_url,
        "--token",
        sb.token,
        *(["--db", str(db)] if db is not None else []),
        "--rate-limit",
        "0",
        *extra,
    ]


def run(cmd: list[str], **options: Any) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=TIMEOUT, check=False, **options
    )


class Child:
    """A `uapi` process whose stderr is read line by line as it runs."""

    def __init__(self, cmd: list[str]) -> None:
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._seen = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._seen:
                self.lines.append(line)
                self._seen.notify_all()
        with self._seen:
            self._seen.notify_all()

    def wait_for(self, text: str, timeout: float = TIMEOUT) -> bool:
        """True once a stderr line contains `text`; False if the process ended first."""
        deadline = time.monotonic() + timeout
        with self._seen:
            while not any(text in line for line in self.lines):
                if self.proc.poll() is not None and not self._reader.is_alive():
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no '{text}' from {self.proc.args}")
                self._seen.wait(min(left, 0.5))
            return True

    def last_phase(self) -> str | None:
        phases = [line.rsplit("phase: ", 1)[1].strip() for line in self.lines if "phase: " in line]
        return phases[-1] if phases else None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.finish()

    def finish(self) -> int:
        code = self.proc.wait(timeout=TIMEOUT)
        self._reader.join(timeout=10)
        return code

    @property
    def stderr(self) -> str:
        return "".join(self.lines)


@pytest.fixture(scope="module")
def world():
    with Sandbox(small_world()) as sb:
        yield sb


@pytest.fixture(scope="module")
def clean(world, tmp_path_factory) -> dict:
    db = tmp_path_factory.mktemp("clean") / "clean.duckdb"
    done = run(uapi(world, db))
    assert done.returncode == 0, done.stderr
    return snapshot(db)


def assert_no_duplicate_readings(db: Path) -> None:
    with duckdb.connect(str(db), read_only=True) as con:
        rows, keys = con.execute(
            "select count(*), count(distinct (interval_uid, start_at, type, meter_number)) "
            "from utilityapi.interval_readings"
        ).fetchone()
    assert rows == keys > 0


def test_a_second_run_exits_with_the_lock_status_naming_the_holder_and_a_waiting_run_follows(
    world, clean, tmp_path
):
    db = tmp_path / "w.duckdb"
    first = Child(uapi(world, db))
    assert first.wait_for("phase: fetching")
    first.proc.send_signal(signal.SIGSTOP)  # holds the lock for as long as the test needs
    try:
        second = run(uapi(world, db))  # no --wait: exits at once
        waiting = Child(uapi(world, db, "load", "--wait", str(TIMEOUT)))
    finally:
        first.proc.send_signal(signal.SIGCONT)
    assert first.finish() == 0, first.stderr
    assert waiting.finish() == 0, waiting.stderr
    assert second.returncode == 75, second.stderr
    assert "another run is writing to" in second.stderr
    assert f"pid {first.proc.pid}" in second.stderr and "uapi -v load" in second.stderr
    assert "--token ***" in second.stderr and world.token not in second.stderr
    assert_no_duplicate_readings(db)
    assert differences(snapshot(db), clean) == []


def test_two_runs_started_together_both_with_wait_leave_one_clean_copy(world, clean, tmp_path):
    db = tmp_path / "w.duckdb"
    children = [Child(uapi(world, db, "load", "--wait", str(TIMEOUT))) for _ in range(2)]
    assert [c.finish() for c in children] == [0, 0], [c.stderr for c in children]
    assert_no_duplicate_readings(db)
    assert differences(snapshot(db), clean) == []


def test_a_database_held_open_by_another_program_gets_a_clear_message_and_no_leftovers(
    world, clean, tmp_path
):
    db = tmp_path / "w.duckdb"
    # the analyst's database exists with the meter listing only; the data is still to come
    assert run(uapi(world, db, "load", "--resources", "meters")).returncode == 0
    analyst = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
            "print('open', flush=True); sys.stdin.read()",
            str(db),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert analyst.stdout.readline().strip() == "open"
        world.clear_requests()
        blocked = run(uapi(world, db))
        asked = list(world.requests)
    finally:
        analyst.communicate("", timeout=TIMEOUT)
    assert blocked.returncode == 75, blocked.stderr
    assert "is open in another program" in blocked.stderr
    assert "nothing was fetched" in blocked.stderr
    assert asked == []
    assert not _pending_packages(db)
    after = run(uapi(world, db))
    assert after.returncode == 0, after.stderr
    assert_no_duplicate_readings(db)
    assert differences(snapshot(db), clean) == []


def _pending_packages(db: Path) -> list[Path]:
    work = db.with_name(db.name + ".pipelines")
    return [
        package
        for folder in ("normalize/extracted", "load/normalized", "load/new")
        for package in (work / "utilityapi" / folder).glob("*")
    ]


# Dies right after DuckDB committed a copy of readings into the staging dataset, before dlt
# recorded that job as done: the one moment a resumed package would stage a file twice.
# Dies right after the job that loaded the readings did its work, before dlt recorded it as
# done. In DuckDB that job merged its file (duckdb_destination.py): the resumed load runs it again.
# Elsewhere it copied the file into the staging dataset, which a resumed load would do twice.
DIE_AFTER_LOADING_READINGS = """
import os, sys
from dlt.common.destination.client import RunnableLoadJob
run_managed = RunnableLoadJob.run_managed
def die_after_readings(self, *args, **kwargs):
    if self.load_table_name == "interval_readings":
        run = self.run
        def run_then_die():
            run()
            os._exit(9)
        self.run = run_then_die
    return run_managed(self, *args, **kwargs)
RunnableLoadJob.run_managed = die_after_readings
from pipelines.cli import main
sys.exit(main(sys.argv[1:]))
"""

# Dies inside the readings' merge, its delete done and its insert not begun: the transaction
# was never committed, so DuckDB rolls the delete back when the file is next opened.
DIE_INSIDE_MERGING_READINGS = """
import os, sys
from dlt.destinations.impl.duckdb.sql_client import DuckDbSqlClient
execute_sql = DuckDbSqlClient.execute_sql
def die_before_inserting_readings(self, sql, *args, **kwargs):
    if sql.startswith("INSERT INTO") and "interval_readings" in sql and "read_parquet" in sql:
        os._exit(9)
    return execute_sql(self, sql, *args, **kwargs)
DuckDbSqlClient.execute_sql = die_before_inserting_readings
from pipelines.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    "die", [DIE_AFTER_LOADING_READINGS, DIE_INSIDE_MERGING_READINGS], ids=["after", "inside"]
)
def test_a_run_killed_while_merging_readings_is_resumed_and_holds_each_reading_once(
    world, clean, tmp_path, die
):
    db = tmp_path / "w.duckdb"
    cmd = uapi(world, db)
    killed = run([sys.executable, "-c", die, *cmd[3:]])
    assert killed.returncode == 9, killed.stderr
    rerun = run(cmd)
    assert rerun.returncode == 0, rerun.stderr
    assert_no_duplicate_readings(db)
    assert differences(snapshot(db), clean) == []
    out = rerun.stdout + rerun.stderr
    assert re.search(r"completed \d", out) and not re.search(r"discarded \d", out), out


def test_a_postgres_run_killed_after_staging_readings_is_refetched_not_staged_twice(
    world, clean, tmp_path, postgres_server
):
    # Postgres merges the way dlt does: the readings' job copies them into the staging dataset,
    # and that copy may have committed unrecorded, so the package is discarded, not resumed.
    dataset = "killed_staging"
    env = {
        **os.environ,
        "DESTINATION__POSTGRES__CREDENTIALS": postgres_server.dsn,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    cmd = uapi(
        world, None, "load", "--no-transform", "--destination", "postgres", "--dataset", dataset
    )
    killed = run(
        [sys.executable, "-c", DIE_AFTER_LOADING_READINGS, *cmd[3:]], cwd=tmp_path, env=env
    )
    assert killed.returncode == 9, killed.stderr
    rerun = run(cmd, cwd=tmp_path, env=env)
    assert rerun.returncode == 0, rerun.stderr
    assert "killed while staging readings" in rerun.stdout + rerun.stderr
    import psycopg2

    with psycopg2.connect(postgres_server.dsn) as con, con.cursor() as cur:
        cur.execute(
            "select count(*), count(distinct (interval_uid, start_at, type, meter_number)) "
            f"from {dataset}.interval_readings"
        )
        rows, keys = cur.fetchone()
        cur.execute(f"drop schema {dataset} cascade; drop schema {dataset}_staging cascade")
    assert rows == keys == len(clean["utilityapi.interval_readings"])


# Dies right after dlt recorded a load in `_dlt_loads`, before it moved the package to its
# loaded folder: completing that package again would record the load twice.
DIE_AFTER_RECORDING_A_LOAD = """
import os, sys
from dlt.destinations.job_client_impl import SqlJobClientBase
record = SqlJobClientBase.complete_load
def complete_load(self, load_id):
    record(self, load_id)
    os._exit(9)
SqlJobClientBase.complete_load = complete_load
from pipelines.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_run_killed_after_recording_a_load_does_not_record_it_twice(world, clean, tmp_path):
    db = tmp_path / "w.duckdb"
    cmd = uapi(world, db)
    killed = run([sys.executable, "-c", DIE_AFTER_RECORDING_A_LOAD, *cmd[3:]])
    assert killed.returncode == 9, killed.stderr
    rerun = run(cmd)
    assert rerun.returncode == 0, rerun.stderr
    with duckdb.connect(str(db), read_only=True) as con:
        [(loads, distinct)] = con.execute(
            "select count(*), count(distinct load_id) from utilityapi._dlt_loads"
        ).fetchall()
    assert loads == distinct
    assert_no_duplicate_readings(db)
    assert differences(snapshot(db), clean) == []


def _destination_state(db: Path) -> dict:
    """The state of the latest load that completed (a killed load may have written its row)."""
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute(
            "select s.state from utilityapi._dlt_pipeline_state as s "
            "join utilityapi._dlt_loads as l on l.load_id = s._dlt_load_id and l.status = 0 "
            "order by s.version desc limit 1"
        ).fetchone()
    return decompress_state(row[0]) if row else {}


def _backfills_owed(db: Path) -> set[str] | None:
    """Meters the committed state still owes a backfill (None: no backfill committed yet)."""
    if not db.exists():
        return None
    resources = _destination_state(db).get("sources", {}).get("utilityapi", {}).get("resources", {})
    requests = resources.get("interval_readings", {}).get("backfills")
    if requests is None:
        return None
    return {uid for request in requests.values() for uid in request.get("pending", {})}


def test_a_killed_backfill_resumes_with_only_the_meters_it_had_not_committed(tmp_path):
    with Sandbox(small_world(n_meters=8, latency_ms=30)) as sb:
        meters = sorted(m["uid"] for m in sb.truth.meters() if m.get("interval_count"))
        args = ("--meters", ",".join(meters), "--checkpoint-meters", "1", "--concurrency", "2")
        args += ("--no-transform",)  # what is fetched again is the point, not the analytics
        reference = tmp_path / "reference.duckdb"
        assert run(uapi(sb, reference, "backfill", *args)).returncode == 0
        per_meter = Counter(
            uid for r in sb.requests if r.path == "/intervals" for uid in r.meter_uids
        )
        total = sum(per_meter.values())
        sb.clear_requests()

        db = tmp_path / "w.duckdb"
        child = Child(uapi(sb, db, "backfill", *args))
        while child.proc.poll() is None:
            if sum(1 for r in sb.requests if r.path == "/intervals") >= 0.8 * total:
                break
            time.sleep(0.01)  # polling the request log, not waiting for time to pass
        child.kill()
        owed = _backfills_owed(db)
        sb.clear_requests()
        rerun = run(uapi(sb, db, "backfill", *args))
        assert rerun.returncode == 0, rerun.stderr
        asked = Counter(uid for r in sb.requests if r.path == "/intervals" for uid in r.meter_uids)
    uncommitted = set(meters) if owed is None else owed
    assert set(asked) <= uncommitted
    assert sum(asked.values()) <= sum(per_meter[uid] for uid in uncommitted)
    assert sum(asked.values()) < total
    assert_no_duplicate_readings(db)
    assert differences(snapshot(db), snapshot(reference)) == []


def test_json_report_is_alone_on_stdout_and_matches_the_exit_status(world, tmp_path):
    db = tmp_path / "w.duckdb"
    done = run(uapi(world, db, "load", "--json", "--no-transform"))
    report = json.loads(done.stdout)
    assert (done.returncode, report["status"], report["exit_code"]) == (0, "ok", 0)
    assert report["rows_loaded"]["interval_readings"] > 0
    assert "uapi transform" in report["transform"]["skipped"]
    with duckdb.connect(str(db), read_only=True) as con:
        schemas = {
            row[0] for row in con.execute("select schema_name from duckdb_schemas()").fetchall()
        }
    assert "utilityapi" in schemas and "analytics" not in schemas
    locked = tmp_path / "locked.duckdb"
    holder = Child(uapi(world, locked, "load", "--no-transform"))
    assert holder.wait_for("phase: fetching")
    holder.proc.send_signal(signal.SIGSTOP)
    try:
        busy = run(uapi(world, locked, "load", "--json"))
    finally:
        holder.proc.send_signal(signal.SIGCONT)
    holder.finish()
    report = json.loads(busy.stdout)
    assert (busy.returncode, report["status"], report["exit_code"]) == (75, "locked", 75)


def test_without_a_terminal_progress_is_logged_while_the_run_moves(tmp_path):
    with Sandbox(small_world(latency_ms=40)) as sb:
        done = run(
            uapi(sb, tmp_path / "w.duckdb", "load", "--progress-every", "0.2", "--concurrency", "1")
            + ["--no-transform"]
        )
    assert done.returncode == 0, done.stderr
    progress = [
        line for line in done.stderr.splitlines() if " uapi: " in line and "meters " in line
    ]
    assert progress, done.stderr
    assert any("fetching" in line and "requests" in line for line in progress)
    assert any("ETA" in line for line in progress)


def test_files_holding_customer_data_are_readable_by_their_owner_only(world, tmp_path):
    db = tmp_path / "data" / "w.duckdb"
    assert run(uapi(world, db)).returncode == 0
    paths = [db, *(db.parent / "reports").glob("*.json")]
    assert len(paths) >= 3
    for path in paths:
        assert path.stat().st_mode & 0o077 == 0, f"{path} is {oct(path.stat().st_mode)}"


def test_token_file_and_standard_input(world, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(world.token + "\n")
    cmd = uapi(world, tmp_path / "a.duckdb", "load", "--no-transform")
    at = cmd.index("--token")
    from_file = cmd[:at] + ["--token-file", str(token_file)] + cmd[at + 2 :]
    assert run(from_file).returncode == 0
    from_stdin = cmd[:at] + ["--token-file", "-"] + cmd[at + 2 :]
    from_stdin[from_stdin.index(str(tmp_path / "a.duckdb"))] = str(tmp_path / "b.duckdb")
    done = subprocess.run(
        from_stdin, input=world.token, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert done.returncode == 0, done.stderr


def test_on_a_terminal_a_progress_bar_shows_phase_meters_and_counts(tmp_path):
    import pty

    with Sandbox(small_world(latency_ms=40)) as sb:
        cmd = uapi(sb, tmp_path / "w.duckdb", "load", "--concurrency", "1", "--no-transform")
        cmd.remove("-v")
        output = bytearray()

        def read(fd: int) -> bytes:
            data = os.read(fd, 4096)
            output.extend(data)
            return data

        status = pty.spawn(cmd, read)
    assert os.waitstatus_to_exitcode(status) == 0
    screen = output.decode(errors="replace")
    assert "fetching" in screen and "meters" in screen and "requests" in screen
    assert "━" in screen  # rich's bar
    assert "Loaded UtilityAPI" in screen
