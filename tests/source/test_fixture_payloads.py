"""Every payload in ../shared/fixtures loads through the real client, source and DuckDB.

A small Starlette app serves the fixtures the way the API would (listing envelopes, filters by
meter), so the whole path — HTTP, paging, shaping, arrow, dlt, DuckDB — is exercised.
"""

from __future__ import annotations

import copy
from pathlib import Path

import duckdb
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pipelines.pipeline import LoadOptions, Target, run_load
from tests.support.clock import FakeClock
from tests.support.fixtures import fixture_names, load_fixture
from tests.support.server import serve_asgi

TOKEN = "fixture-token"


def _meter_like(template: dict, uid: str, authorization_uid: str) -> dict:
    meter = copy.deepcopy(template)
    meter["uid"] = uid
    meter["authorization_uid"] = authorization_uid
    return meter


def fixture_api() -> Starlette:
    meters_listing = load_fixture("meters-ryoung-1.json")
    auth_listing = load_fixture("authorizations-ryoung-1.json")
    activated = meters_listing["meters"][0]
    hand_meter = copy.deepcopy(auth_listing["authorizations"][0]["meters"]["meters"][0])
    hand_meter["uid"] = "meter_hand_not_activated"
    meters = [
        activated,
        _meter_like(activated, "58", "23"),
        _meter_like(activated, "2061339", "579849"),
        hand_meter,
    ]
    bills = load_fixture("bills-ryoung-1.json")["bills"] + [load_fixture("bill-docs-1.json")]
    intervals = load_fixture("intervals-pyiu-1.json") + [load_fixture("interval-docs-1.json")]
    authorizations = auth_listing["authorizations"] + [load_fixture("authorization-eddie-1.json")]
    events = [
        event
        for name in ("webhook-docs-1.json", "webhook-ryoung-1.json", "webhook-ryoung-2.json")
        for event in load_fixture(name)["events"]
    ]

    def authorized(request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {TOKEN}"

    def listing(key: str, items: list, meter_filtered: bool = False):
        async def endpoint(request: Request):
            if not authorized(request):
                return JSONResponse(
                    {"error": "invalid_token", "error_description": "no", "url": None}, 401
                )
            selected = items
            if meter_filtered:
                wanted = set(request.query_params["meters"].split(","))
                selected = [i for i in items if i["meter_uid"] in wanted]
            return JSONResponse({key: selected, "next": None})

        return endpoint

    return Starlette(
        routes=[
            Route("/api/v2/authorizations", listing("authorizations", authorizations)),
            Route("/api/v2/meters", listing("meters", meters)),
            Route("/api/v2/bills", listing("bills", bills, meter_filtered=True)),
            Route("/api/v2/intervals", listing("intervals", intervals, meter_filtered=True)),
            Route("/api/v2/events", listing("events", events)),
        ]
    )


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> tuple[Path, object]:
    db = tmp_path_factory.mktemp("fixtures") / "fixtures.duckdb"
    with serve_asgi(fixture_api()) as root:
        result = run_load(
            LoadOptions(
                target=Target(db_path=db),
                source={"api_token": TOKEN, "base_url": f"{root}/api/v2"},
                # a repair waits a minute after a meter's fetch: on this clock, at once
                clock=FakeClock(),
            )
        )
    return db, result


def query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_the_fixture_set_is_the_one_this_test_was_written_for():
    assert {
        "intervals-pyiu-1.json",
        "interval-docs-1.json",
        "bill-docs-1.json",
        "bills-ryoung-1.json",
        "meters-ryoung-1.json",
        "authorizations-ryoung-1.json",
        "authorization-eddie-1.json",
        "webhook-docs-1.json",
        "webhook-ryoung-1.json",
        "webhook-ryoung-2.json",
    } <= set(fixture_names())


def test_live_interval_payload_keeps_demand_in_kw(loaded):
    db, _ = loaded
    rows = query(
        db,
        "select type, unit, value, meter_number, utc_offset_minutes, start_at "
        "from utilityapi.interval_readings where meter_uid = '2061339' order by type",
    )
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("fwd", "kwh", 0.166),
        ("max", "kw", 0.664),
        ("net", "kwh", 0.166),
    ]
    assert {r[3] for r in rows} == {"0000000000-00000000"}
    assert {r[4] for r in rows} == {-240}
    assert str(rows[0][5].astimezone(__import__("datetime").UTC)) == "2026-05-27 11:45:00+00:00"


def test_docs_interval_payload_loads_every_reading(loaded):
    db, _ = loaded
    assert query(
        db,
        "select count(*), sum(value) filter (where type = 'net') "
        "from utilityapi.interval_readings where meter_uid = '58'",
    ) == [(6, pytest.approx(40.7))]


def test_bills_load_with_line_items_tiers_and_local_dates(loaded):
    db, _ = loaded
    assert query(db, "select count(*) from utilityapi.bills") == [(7,)]
    bill = query(
        db,
        "select bill_total_kwh, bill_total_unit, bill_start_local, bill_utc_offset_minutes, "
        "bill_statement_at is null from utilityapi.bills where uid = '12382'",
    )
    assert bill == [(837.0, "kwh", __import__("datetime").date(2015, 1, 7), -480, True)]
    items = query(
        db,
        "select count(*), count(volume), sum(cost) from utilityapi.bills__line_items li "
        "join utilityapi.bills b on li._dlt_parent_id = b._dlt_id where b.uid = '12382'",
    )
    assert items == [(5, 4, pytest.approx(194.78))]
    assert query(db, "select count(*) from utilityapi.bills__tiers") == [(28,)]


def test_hand_typed_placeholders_are_coerced_not_crashed(loaded):
    db, _ = loaded
    auth = query(
        db,
        "select declined_at, revoked_at, nickname from utilityapi.authorizations where uid = 'auth_12345'",
    )
    assert auth == [(None, None, None)]
    assert query(db, "select count(*) from utilityapi.authorizations") == [(2,)]


def test_not_activated_meter_is_reported_not_fetched(loaded):
    db, result = loaded
    assert [m.uid for m in result.report.not_activated] == ["meter_hand_not_activated"]
    assert query(
        db, "select is_not_activated from utilityapi.meters where uid = 'meter_hand_not_activated'"
    ) == [(True,)]
    asked = {
        uid for uid, _ in query(db, "select meter_uid, kind from utilityapi.meter_completeness")
    }
    assert "meter_hand_not_activated" in asked
    assert query(
        db,
        "select status from utilityapi.meter_completeness "
        "where meter_uid = 'meter_hand_not_activated' and kind = 'intervals'",
    ) == [("not_activated",)]


def test_samples_short_of_their_listing_are_repaired_once_then_reported(loaded):
    # The fixture meters list 71,808 readings (the docs' meter); the published samples hold a
    # few, so each meter is fetched, found short, fetched once more, and reported with counts.
    db, result = loaded
    assert result.report.client_stats.requests["GET /intervals"] == 6
    shortfalls = {s["meter_uid"]: s for s in result.report.completeness["shortfalls"]
                  if s["kind"] == "intervals"}  # fmt: skip
    assert len(shortfalls) == 3
    assert all(s["expected"] == 71808 and s["repaired"] for s in shortfalls.values())
    assert result.outcome.status == "partial"


def test_events_from_webhook_bodies_load_by_uid(loaded):
    db, _ = loaded
    assert query(db, "select count(distinct uid), count(*) from utilityapi.events") == [(3, 3)]
