"""Every way a run can end, as the exit status and JSON report a scheduler reads, and bad input
that must change nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pipelines.cli import main
from pipelines.pipeline import run_load
from pipelines.summary import prune_reports
from sandbox import Sandbox, SandboxConfig
from sources.utilityapi.records import is_not_activated
from tests.support.clock import FakeClock
from tests.support.loads import sandbox_options
from tests.support.server import serve_asgi
from tests.support.warehouse import differences, snapshot

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def sb():
    config = SandboxConfig(
        seed=13, scale="test", n_meters=5, history_days=30, now=NOW, rate_limit=None
    )
    with Sandbox(config) as sandbox:
        yield sandbox


@pytest.fixture
def quick_retries(monkeypatch):
    # configuration any dlt user has: retries are a source setting
    monkeypatch.setenv("SOURCES__UTILITYAPI__MAX_RETRIES", "0")


def api(sb: Sandbox) -> list[str]:
    return ["--base-url", sb.base_url, "--token", sb.token, "--rate-limit", "0"]


def load(sb: Sandbox, db: Path, *extra: str) -> int:
    return main(["load", "--db", str(db), *api(sb), *extra])


def last_report(db: Path) -> dict:
    return json.loads((db.parent / "reports" / "last-load.json").read_text())


def activated(sb: Sandbox) -> list[str]:
    return sorted(m["uid"] for m in sb.truth.meters() if not is_not_activated(m))


def failing_proxy(sb: Sandbox, failing: set[str], body: bytes | None = None) -> Starlette:
    """The sandbox, except that /intervals for `failing` meters answers 500 (or `body`)."""
    client = httpx.AsyncClient()

    async def forward(request: Request) -> Response:
        path = request.url.path
        meters = set(request.query_params.get("meters", "").split(","))
        if path.endswith("/intervals") and meters & failing:
            if body is not None:
                return Response(body, 200, media_type="application/json")
            return Response(b"<html>oops</html>", 500, media_type="text/html")
        target = sb.base_url.rsplit("/api/v2", 1)[0] + path
        upstream = await client.request(
            request.method,
            target,
            params=request.query_params,
            # the sandbox builds `next` links from the Host it was asked at: the proxy's
            headers={
                "Authorization": request.headers.get("authorization", ""),
                "Host": request.headers["host"],
            },
            content=await request.body(),
        )
        return Response(upstream.content, upstream.status_code, media_type="application/json")

    return Starlette(routes=[Route("/api/v2/{rest:path}", forward, methods=["GET", "POST"])])


def test_ok_is_exit_0_and_status_ok(sb, tmp_path, capsys):
    db = tmp_path / "w.duckdb"
    assert load(sb, db) == 0
    assert last_report(db)["status"] == "ok"
    assert "OK" in capsys.readouterr().out


def test_a_bad_token_commits_nothing_exit_1(sb, tmp_path, capsys):
    db = tmp_path / "w.duckdb"
    code = main(["load", "--db", str(db), "--base-url", sb.base_url, "--token", "nope"])
    err = capsys.readouterr().err
    assert code == 1 and "nothing was committed" in err and "401" in err
    report = last_report(db)
    assert (report["status"], report["exit_code"]) == ("failed", 1)


def test_failing_meters_are_reported_the_rest_committed_exit_3_then_completed(
    sb, tmp_path, capsys, quick_retries
):
    failing = set(activated(sb)[:2])
    db = tmp_path / "w.duckdb"
    with serve_asgi(failing_proxy(sb, failing)) as root:
        code = main(["load", "--db", str(db), "--base-url", f"{root}/api/v2", "--token", sb.token])
    out = capsys.readouterr().out
    assert code == 3, out
    report = last_report(db)
    assert (report["status"], report["exit_code"]) == ("partial", 3)
    assert set(report["plans"]["intervals"]["failed"]) == failing
    assert sorted(report["shortfalls"]["intervals_failed"]) == sorted(failing)
    for uid in failing:
        assert f"intervals of meter {uid} failed" in out
    loaded = {row[0] for row in snapshot(db)["utilityapi.interval_readings"]}
    assert loaded and not (loaded & failing)  # the healthy meters and the listings are in
    assert len(snapshot(db)["utilityapi.meters"]) == len(sb.truth.meters())
    # the next healthy run gets them (a minute later, as UtilityAPI asks)
    assert load(sb, db) in (0, 3)
    clean = tmp_path / "clean.duckdb"
    assert load(sb, clean) == 0
    final = snapshot(db)
    assert {row[0] for row in final["utilityapi.interval_readings"]} >= failing
    assert (
        differences(
            {"readings": final["utilityapi.interval_readings"]},
            {"readings": snapshot(clean)["utilityapi.interval_readings"]},
        )
        == []
    )


def test_a_list_where_the_listing_object_belongs_fails_that_meter_and_changes_nothing(
    sb, tmp_path, quick_retries
):
    meter = activated(sb)[0]
    db = tmp_path / "w.duckdb"
    assert load(sb, db) == 0
    before = snapshot(db)
    with serve_asgi(failing_proxy(sb, {meter}, body=b"[1, 2, 3]")) as root:
        code = main(
            ["backfill", "--db", str(db), "--base-url", f"{root}/api/v2", "--token", sb.token,
             "--meters", meter]
        )  # fmt: skip
    report = last_report(db)
    assert code == 3
    assert "no 'intervals' list (got list)" in report["plans"]["intervals"]["failed"][meter]
    after = snapshot(db)
    assert after["utilityapi.interval_readings"] == before["utilityapi.interval_readings"]
    assert after["utilityapi.interval_objects"] == before["utilityapi.interval_objects"]


def test_a_meter_with_wrong_field_types_is_set_aside_and_existing_rows_stay(sb, tmp_path):
    db = tmp_path / "w.duckdb"
    clock = FakeClock(NOW)
    run_load(sandbox_options(sb, db, clock))
    before = snapshot(db)
    meter = activated(sb)[0]

    async def meters(request: Request) -> Response:
        upstream = httpx.get(
            sb.base_url + "/meters",
            params=request.query_params,
            headers={"Authorization": f"Bearer {sb.token}"},
        ).json()
        for m in upstream["meters"]:
            if m["uid"] == meter:
                m["interval_count"] = "lots"
                m["is_activated"] = "yes"
        return Response(json.dumps(upstream), media_type="application/json")

    proxy = failing_proxy(sb, set())
    proxy.router.routes.insert(0, Route("/api/v2/meters", meters))
    with serve_asgi(proxy) as root:
        clock.advance(timedelta(minutes=5))
        options = sandbox_options(sb, db, clock)
        options.source["base_url"] = f"{root}/api/v2"
        result = run_load(options)
    assert result.outcome.status == "partial"
    reason = result.report.quarantined["meters"][meter]
    assert "interval_count is 'lots'" in reason and "is_activated is 'yes'" in reason
    after = snapshot(db)
    assert after["utilityapi.meters"] == before["utilityapi.meters"]
    assert after["utilityapi.interval_readings"] == before["utilityapi.interval_readings"]


def test_a_rerun_within_a_minute_defers_changed_meters_and_says_so(tmp_path):
    config = SandboxConfig(seed=13, scale="test", n_meters=5, history_days=30, now=NOW)
    with Sandbox(config) as world:
        db = tmp_path / "w.duckdb"
        clock = FakeClock(NOW)
        run_load(sandbox_options(world, db, clock))
        world.advance(timedelta(days=2))
        clock.advance(timedelta(seconds=20))
        result = run_load(sandbox_options(world, db, clock))
        deferred = result.report.kinds["intervals"].deferred
        assert deferred and result.outcome.status == "partial"
        assert result.report.shortfalls["intervals_deferred"] == sorted(deferred)
        clock.advance(timedelta(minutes=1))
        assert run_load(sandbox_options(world, db, clock)).outcome.status == "ok"


def test_a_failing_transform_keeps_the_load_and_exits_4(sb, tmp_path, monkeypatch, capsys):
    import transforms

    def broken(*args, **kwargs):
        raise RuntimeError("model meter_daily_usage failed: division by zero")

    monkeypatch.setattr(transforms, "run", broken)
    db = tmp_path / "w.duckdb"
    assert load(sb, db) == 4
    report = last_report(db)
    assert (report["status"], report["exit_code"]) == ("transform_failed", 4)
    assert "meter_daily_usage" in report["transform"]["error"]
    assert "the load is committed" in capsys.readouterr().err
    assert snapshot(db)["utilityapi.interval_readings"]


@pytest.fixture(scope="module")
def loaded(sb, tmp_path_factory) -> tuple[Path, dict]:
    """One loaded warehouse and its snapshot, for runs that must change nothing in it."""
    db = tmp_path_factory.mktemp("loaded") / "w.duckdb"
    assert load(sb, db) == 0
    return db, snapshot(db)


@pytest.mark.parametrize(
    ("args", "flag", "says"),
    [
        (["--start-date", "yesterday"], "--start-date", "not a date"),
        (["--start-date", "2026-13-45"], "--start-date", "not a date"),
        (["--lookback-days", "-5"], "--lookback-days", "0 or more"),
        (["--resources", ""], "--resources", "one or more resource names"),
        (["--resources", "bills,payments"], "--resources", "unknown resource 'payments'"),
        (["--meters", ","], "--meters", "one or more meter uids"),
        (["--dataset", "a;drop table x"], "--dataset", "not a dataset name"),
        (["--concurrency", "0"], "--concurrency", "must be 1 to 256"),
        (["--rate-limit", "-1"], "--rate-limit", "0 or more"),
        (["--wait", "soon"], "--wait", "not a number"),
        (["--checkpoint-meters", "0"], "--checkpoint-meters", "1 or more"),
    ],
)
def test_bad_input_is_exit_2_naming_the_flag_and_changes_nothing(
    sb, loaded, capsys, args, flag, says
):
    db, before = loaded
    sb.clear_requests()
    capsys.readouterr()
    assert load(sb, db, *args, "--json") == 2
    out, err = capsys.readouterr()
    assert flag in err and says in err
    assert json.loads(out)["status"] == "usage_error"
    assert sb.requests == []
    assert snapshot(db) == before


def test_unknown_meter_uids_are_named_exit_2_for_load_and_backfill(sb, loaded, capsys):
    db, before = loaded
    known = activated(sb)[0]
    assert load(sb, db, "--meters", f"{known},no-such-meter") == 2
    assert "no-such-meter" in capsys.readouterr().err
    code = main(["backfill", "--db", str(db), *api(sb), "--meters", "no-such-meter"])
    assert code == 2 and "no-such-meter" in capsys.readouterr().err
    assert snapshot(db) == before


@pytest.mark.parametrize("problem", ["text file", "unwritable folder", "proc"])
def test_database_paths_that_cannot_work_are_exit_2_not_tracebacks(sb, tmp_path, capsys, problem):
    if problem == "text file":
        db = tmp_path / "notes.duckdb"
        db.write_text("my notes\n" * 10)
        expected = "is not a DuckDB database"
    elif problem == "unwritable folder":
        folder = tmp_path / "ro"
        folder.mkdir(mode=0o500)
        db = folder / "w.duckdb"
        expected = "cannot create files in"
    else:
        db = Path("/proc/uapi/w.duckdb")
        expected = "cannot create files in"
    if problem == "unwritable folder" and __import__("os").geteuid() == 0:
        pytest.skip("root may write anywhere; the /proc case covers an unwritable path")
    assert load(sb, db) == 2
    assert main(["transform", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err


def test_oversized_and_trickling_pages_fail_their_meter_with_a_clear_message(
    sb, tmp_path, monkeypatch, quick_retries
):
    meter = activated(sb)[0]
    # pages stream, so the bound is on what is held at once: here one 3 MB object
    huge = b'{"intervals": [{"uid": "' + b"x" * (3 * 2**20) + b'"}], "next": null}'
    monkeypatch.setenv("SOURCES__UTILITYAPI__MAX_RESPONSE_MB", "1")
    db = tmp_path / "w.duckdb"
    with serve_asgi(failing_proxy(sb, {meter}, body=huge)) as root:
        code = main(["load", "--db", str(db), "--base-url", f"{root}/api/v2", "--token", sb.token])
    report = last_report(db)
    assert code == 3
    assert "refusing to hold it in memory" in report["plans"]["intervals"]["failed"][meter]


def test_reports_older_than_the_retention_are_pruned(tmp_path):
    from pipelines.summary import write_report

    folder = tmp_path / "reports"
    now = datetime(2026, 11, 30, tzinfo=UTC)
    old = write_report({"status": "ok"}, folder, now=now - timedelta(days=40), keep_days=99)
    recent = write_report({"status": "ok"}, folder, now=now - timedelta(days=5), keep_days=99)
    removed = prune_reports(folder, 30, now)
    assert removed == [old] and recent.exists() and not old.exists()
    assert (folder / "last-load.json").exists()
