"""Correct under every plausible reading of the API, not only ours (issue 11).

Each sandbox mode behaves as one reading of what UtilityAPI's documentation leaves open (a
capped `limit`, `start` on objects, objects growing in place and re-keyed, `next` dropping
filters, incomplete pages, unexpanded meters, objects repeated across pages). In every one, a
first load, a load after the clock moves, and a load after the objects grow end equal to the
sandbox's truth, or name the meters they could not complete.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from pipelines.pipeline import run_load
from sandbox import Sandbox, SandboxConfig
from tests.support.clock import FakeClock
from tests.support.loads import sandbox_options

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
MODES = {
    "default": {},
    "limit caps the result": {"limit_caps": True},
    "start filters objects": {"start_filters_objects": True},
    "objects grow and are re-keyed": {"growing_objects": True},
    "20-day objects grow, start filters objects": {
        "growing_objects": True,
        "growing_chunk_days": 20,
        "start_filters_objects": True,
    },
    "next drops filters": {"next_drops_filters": True},
    "pages stop early": {"incomplete_after": 7},
    "meters not expanded": {"unexpanded_utilities": ("PG&E", "SRP", "SCE", "DEMO")},
    "objects repeat across pages": {"page_repeat_rate": 0.5},
    "everything at once": {
        "limit_caps": True,
        "start_filters_objects": True,
        "growing_objects": True,
        "next_drops_filters": True,
        "page_repeat_rate": 0.3,
    },
}
RESOLVED = """
select meter_uid, start_at, end_at, type, meter_number, unit, round(value, 6)
from (
    select *, row_number() over (
        partition by meter_uid, start_at, end_at, type, meter_number
        order by interval_updated_at desc, interval_uid desc
    ) as rank
    from utilityapi.interval_readings
)
where rank = 1
"""


def truth(sb: Sandbox) -> set[tuple]:
    rows = set()
    for meter in sb.truth.meters():
        for r in sb.truth.readings(meter["uid"], allow_mixed=True):
            value = None if r["value"] is None else round(float(r["value"]), 6)
            rows.add(
                (
                    r["meter_uid"],
                    datetime.fromisoformat(r["start"]).astimezone(UTC),
                    datetime.fromisoformat(r["end"]).astimezone(UTC),
                    r["type"],
                    r["meter_number"],
                    r["unit"],
                    value,
                )
            )
    return rows


def loaded(db: Path) -> set[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {
            (uid, start.astimezone(UTC), end.astimezone(UTC), *rest)
            for uid, start, end, *rest in con.execute(RESOLVED).fetchall()
        }


def completeness(db: Path) -> dict[tuple[str, str], str]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("select meter_uid, kind, status from utilityapi.meter_completeness")
        return {(uid, kind): status for uid, kind, status in rows.fetchall()}


def assert_complete(sb: Sandbox, db: Path, result) -> None:
    expected, got = truth(sb), loaded(db)
    missing, extra = expected - got, got - expected
    assert (len(missing), len(extra)) == (0, 0), (sorted(missing)[:3], sorted(extra)[:3])
    statuses = completeness(db)
    assert set(statuses.values()) <= {"complete", "not_activated", "empty"}, statuses
    assert {uid for uid, _ in statuses} == {m["uid"] for m in sb.truth.meters()}
    assert result.outcome.status == "ok", (
        result.report.shortfalls,
        result.failure,
        result.report.remaining,
    )


@pytest.mark.parametrize("mode", list(MODES), ids=list(MODES))
def test_loads_end_equal_to_the_truth_under_every_reading(mode, tmp_path):
    config = SandboxConfig(
        seed=17, scale="test", n_meters=4, history_days=30, now=NOW, rate_limit=None, **MODES[mode]
    )
    db = tmp_path / "w.duckdb"
    clock = FakeClock(NOW)
    with Sandbox(config) as sb:
        # small pages, so every reading of paging is exercised
        result = run_load(sandbox_options(sb, db, clock, intervals_page_size=5))
        assert_complete(sb, db, result)
        for _ in range(2):  # the clock moves: new data, and objects grow in place
            sb.advance(timedelta(days=3))
            clock.advance(timedelta(days=3))
            result = run_load(sandbox_options(sb, db, clock, intervals_page_size=5))
            assert_complete(sb, db, result)


def test_unexpanded_meters_are_asked_again_expanded_and_only_those(tmp_path):
    config = SandboxConfig(
        seed=17,
        scale="test",
        n_meters=6,
        history_days=45,
        now=NOW,
        rate_limit=None,
        unexpanded_utilities=("PG&E", "SCE", "SDG&E", "LADWP", "DEMO"),
    )
    db = tmp_path / "w.duckdb"
    with Sandbox(config) as sb:
        run_load(sandbox_options(sb, db, FakeClock(NOW)))
        lazy = {m["uid"] for m in sb.truth.meters() if m["utility"] in config.unexpanded_utilities}
        expanded_asks = [r for r in sb.requests if r.params.get("expand_meter_blocks") == "true"]
    assert lazy
    assert {uid for r in expanded_asks for uid in r.params["uids"].split(",")} == lazy
    with duckdb.connect(str(db), read_only=True) as con:
        blank = con.execute(
            "select count(*) from utilityapi.meters where service_identifier is null"
        ).fetchone()[0]
    assert blank == 0


def test_a_shortfall_the_repair_cannot_close_is_reported_with_counts(tmp_path):
    """A server that never returns a meter's oldest objects: repaired once, then reported."""
    import httpx
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from tests.support.server import serve_asgi

    config = SandboxConfig(seed=17, scale="test", n_meters=6, history_days=45, now=NOW)
    db = tmp_path / "w.duckdb"
    with Sandbox(config) as sb:
        victim = next(m["uid"] for m in sb.truth.meters() if m.get("interval_count"))

        async def forward(request: Request) -> Response:
            upstream = httpx.get(
                sb.base_url.rsplit("/api/v2", 1)[0] + request.url.path,
                params=request.query_params,
                headers={
                    "Authorization": request.headers["authorization"],
                    "Host": request.headers["host"],
                },
            )
            body = upstream.content
            if (
                request.url.path.endswith("/intervals")
                and request.query_params.get("meters") == victim
            ):
                payload = upstream.json()
                payload["intervals"] = payload["intervals"][1:]  # always loses one object
                import json

                body = json.dumps(payload).encode()
            return Response(body, upstream.status_code, media_type="application/json")

        app = Starlette(routes=[Route("/api/v2/{rest:path}", forward)])
        with serve_asgi(app) as root:
            options = sandbox_options(sb, db, FakeClock(NOW))
            options.source["base_url"] = f"{root}/api/v2"
            result = run_load(options)
            victim_asks = [
                r for r in sb.requests if r.path == "/intervals" and victim in r.meter_uids
            ]
    assert result.outcome.status == "partial"
    shortfalls = result.report.completeness["shortfalls"]
    assert [s["meter_uid"] for s in shortfalls] == [victim]
    short = shortfalls[0]
    assert short["kind"] == "intervals" and short["repaired"]
    assert 0 < short["loaded"] < short["expected"]
    assert result.report.shortfalls["intervals_short"] == [victim]
    # fetched, then fetched again once from the start of its history
    starts = [r.params.get("start") for r in victim_asks if "after" not in r.params]
    assert starts.count(None) == 2
    assert completeness(db)[(victim, "intervals")] == "short"


def test_steps_loaded_while_the_next_is_fetched_end_equal_to_the_truth(tmp_path):
    config = SandboxConfig(
        seed=17, scale="test", n_meters=4, history_days=30, now=NOW, rate_limit=None
    )
    db = tmp_path / "w.duckdb"
    with Sandbox(config) as sb:
        options = sandbox_options(sb, db, FakeClock(NOW), intervals_page_size=5)
        options.checkpoint_readings = 1  # every meter a step of its own
        result = run_load(options)
        assert_complete(sb, db, result)
    fetched = result.report.kinds["intervals"].fetched
    assert len(fetched) > 1
    assert len(result.steps) >= len(fetched)
    assert len(set(result.load_ids)) == len(result.load_ids)
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("select load_id from utilityapi._dlt_loads").fetchall()
    committed = {row[0] for row in rows}
    assert set(result.load_ids) <= committed


def test_a_step_whose_load_fails_is_discarded_with_its_cursors_and_a_rerun_completes(
    tmp_path, monkeypatch
):
    from dlt.common.destination.exceptions import DestinationTerminalException

    from pipelines.duckdb_destination import MergeFromFileJob

    config = SandboxConfig(
        seed=17, scale="test", n_meters=4, history_days=30, now=NOW, rate_limit=None
    )
    db = tmp_path / "w.duckdb"
    copy = MergeFromFileJob.run
    readings_copies: list[str] = []

    def failing_second_readings_copy(job: MergeFromFileJob) -> None:
        if job.load_table_name == "interval_readings":
            readings_copies.append(job.file_name())
            if len(readings_copies) == 2:
                raise DestinationTerminalException("injected: the warehouse refused the copy")
        copy(job)

    with Sandbox(config) as sb:
        clock = FakeClock(NOW)
        options = sandbox_options(sb, db, clock, intervals_page_size=5)
        options.checkpoint_readings = 1  # every meter a step of its own
        options.checkpoint_meters = None
        monkeypatch.setattr(MergeFromFileJob, "run", failing_second_readings_copy)
        failed = run_load(options)
        monkeypatch.setattr(MergeFromFileJob, "run", copy)
        assert failed.failure is not None and "injected" in failed.failure
        assert len(failed.steps) >= 1
        assert not _pending_packages(db)
        # the warehouse's committed cursors name only meters whose readings it holds in full
        expected, got = truth(sb), loaded(db)
        cursors = _committed_interval_cursors(db)
        assert cursors, "the first step was committed with its cursor"
        for uid in cursors:
            mine = {r for r in expected if r[0] == uid}
            assert mine <= got, uid
        assert not {r for r in got if r not in expected}
        clock.advance(timedelta(minutes=2))  # one request per meter per minute
        rerun = run_load(options)
        assert_complete(sb, db, rerun)
    with duckdb.connect(str(db), read_only=True) as con:
        [(copies,)] = con.execute(
            "select count(*) - count(distinct (interval_uid, start_at, type, meter_number)) "
            "from utilityapi.interval_readings"
        ).fetchall()
    assert copies == 0


def _pending_packages(db: Path) -> list[Path]:
    work = db.with_name(db.name + ".pipelines") / "utilityapi"
    return [
        p
        for f in ("normalize/extracted", "load/normalized", "load/new")
        for p in (work / f).glob("*")
    ]


def _committed_interval_cursors(db: Path) -> dict[str, object]:
    """Per-meter interval cursors of the latest load the warehouse completed."""
    from dlt.common.versioned_state import decompress_state

    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute(
            "select s.state from utilityapi._dlt_pipeline_state as s "
            "join utilityapi._dlt_loads as l on l.load_id = s._dlt_load_id and l.status = 0 "
            "order by s.version desc limit 1"
        ).fetchone()
    state = decompress_state(row[0]) if row else {}
    resources = state.get("sources", {}).get("utilityapi", {}).get("resources", {})
    meters = resources.get("interval_readings", {}).get("meters", {})
    return {uid: entry.get("cursor") for uid, entry in meters.items()}
