"""Event-driven loads end to end: sandbox webhooks → receiver → one load of the named meters."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import duckdb
import httpx
import pytest

from pipelines.events import EventProcessor, Inbox, sync_events
from pipelines.pipeline import run_load
from pipelines.receiver import receiver_app
from sandbox import Sandbox, SandboxConfig
from sources.utilityapi import UtilityAPIClient
from sources.utilityapi.actions import start_historical_collection, submit_test_form
from sources.utilityapi.notifications import SALT_HEADER, SIGNATURE_HEADER, signature
from sources.utilityapi.records import is_not_activated
from tests.support.clock import FakeClock
from tests.support.loads import sandbox_options
from tests.support.server import serve_asgi

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
SECRET = "whsec-sandbox"


@pytest.fixture
def world(tmp_path):
    clock = FakeClock(NOW)
    with Sandbox(SandboxConfig(seed=5, scale="test", now=NOW, rate_limit=None)) as sb:
        inbox = Inbox(tmp_path / "inbox.sqlite")
        options = sandbox_options(sb, tmp_path / "w.duckdb", clock)
        processor = EventProcessor(inbox, options, clock=clock, quiet_seconds=5)
        with serve_asgi(receiver_app(inbox, SECRET, clock=clock)) as root:
            sb.set_webhook(f"{root}/webhook", SECRET)
            client = UtilityAPIClient(sb.token, sb.base_url, rate_limit=None)
            yield sb, client, processor, clock, options, f"{root}/webhook"
            client.close()
        inbox.close()


def meter_requests(sb: Sandbox, path: str) -> set[str]:
    return {uid for r in sb.requests if r.path == path for uid in r.meter_uids}


def advance(sb: Sandbox, clock: FakeClock, delta: timedelta) -> None:
    sb.advance(delta)
    clock.advance(delta)


def test_test_submit_collection_webhooks_load_only_that_meter(world):
    sb, client, processor, clock, options, receiver_url = world
    submission = submit_test_form(client, "residential")
    assert submission.authorization is not None
    advance(sb, clock, timedelta(minutes=5))
    meters = [
        m for m in sb.truth.meters() if m["authorization_uid"] == submission.authorization["uid"]
    ]
    assert len(meters) == 1 and is_not_activated(meters[0])
    meter_uid = meters[0]["uid"]
    start_historical_collection(client, [meter_uid], months=3)
    advance(sb, clock, timedelta(hours=1))
    sb.deliver_webhooks()
    assert processor.inbox.counts()["total"] > 0
    sb.clear_requests()
    clock.advance(timedelta(seconds=10))
    outcome = processor.process()
    assert outcome is not None and meter_uid in outcome.plan.backfill_meters
    assert meter_requests(sb, "/intervals") == {meter_uid}
    assert meter_requests(sb, "/bills") == {meter_uid}
    with duckdb.connect(str(options.target.db_path), read_only=True) as con:
        readings = con.execute(
            "select count(*) from utilityapi.interval_readings where meter_uid = ?", [meter_uid]
        ).fetchone()[0]
        bills = con.execute(
            "select count(*) from utilityapi.bills where meter_uid = ?", [meter_uid]
        ).fetchone()[0]
    truth_intervals = sb.truth.intervals(meter_uid, allow_mixed=True)
    assert readings == sum(len(r["datapoints"]) for i in truth_intervals for r in i["readings"])
    assert bills == len(sb.truth.bills(meter_uid)) > 0


def signed_post(url: str, events: list[dict]) -> httpx.Response:
    body = json.dumps({"events": events, "next": None}, indent=4).encode()
    salt = "salt123"
    headers = {SALT_HEADER: salt, SIGNATURE_HEADER: signature(SECRET, salt, body)}
    return httpx.post(url, content=body, headers=headers)


def test_a_burst_of_50_events_for_5_meters_is_one_load_and_replays_change_nothing(world, tmp_path):
    sb, client, processor, clock, options, receiver_url = world
    run_load(options)
    activated = [m["uid"] for m in sb.truth.meters() if not is_not_activated(m)][:5]
    assert len(activated) == 5
    events = [
        {
            "uid": f"burst-{i}",
            "type": "meter_intervals_added" if i % 2 else "meter_bills_added",
            "ts": NOW.isoformat(),
            "delivery_method": "webhook",
            "delivery_target": "x",
            "is_delivered": False,
            "authorization_uid": "a",
            "meter_uid": activated[i % 5],
        }
        for i in range(50)
    ]
    for chunk in range(0, 50, 10):
        assert signed_post(receiver_url, events[chunk : chunk + 10]).status_code == 200
    sb.clear_requests()
    clock.advance(timedelta(minutes=2))
    outcome = processor.process()
    assert processor.loads == 1 and len(outcome.event_uids) == 50
    assert meter_requests(sb, "/intervals") <= set(activated)
    assert meter_requests(sb, "/intervals") | meter_requests(sb, "/bills")
    per_meter = [r for r in sb.requests if r.path == "/intervals" and "after" not in r.params]
    assert len(per_meter) <= 5
    for chunk in range(0, 50, 10):
        assert signed_post(receiver_url, events[chunk : chunk + 10]).json()["new"] == 0
    clock.advance(timedelta(minutes=2))
    assert processor.process() is None and processor.loads == 1


def test_events_sync_polls_loads_and_marks_delivered(world):
    sb, client, processor, clock, options, receiver_url = world
    sb.set_webhook(None, None)
    submission = submit_test_form(client, "residential")
    advance(sb, clock, timedelta(minutes=5))
    meter_uid = next(
        m["uid"]
        for m in sb.truth.meters()
        if m["authorization_uid"] == submission.authorization["uid"]
    )
    start_historical_collection(client, [meter_uid], months=2)
    advance(sb, clock, timedelta(hours=1))
    undelivered = [e for e in sb.truth.events() if not e["is_delivered"]]
    assert undelivered
    outcome = sync_events(client, processor)
    assert outcome.fetched == len(undelivered) and outcome.marked_delivered == outcome.fetched
    assert [e for e in sb.truth.events() if not e["is_delivered"]] == []
    with duckdb.connect(str(options.target.db_path), read_only=True) as con:
        assert (
            con.execute(
                "select count(*) from utilityapi.interval_readings where meter_uid = ?", [meter_uid]
            ).fetchone()[0]
            > 0
        )
