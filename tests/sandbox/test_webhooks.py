"""Signed webhook deliveries to a local receiver, retried hourly until it answers 200."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta

import httpx
import orjson
import pytest

from sandbox import Sandbox
from tests.support.webhooks import WebhookReceiver

from .conftest import client_for, make_config

SECRET = "s3cret"


class Receiver(WebhookReceiver):
    """The shared loopback receiver, checking each delivery against the sandbox's secret."""

    def verified_events(self) -> list[list[dict]]:
        batches = []
        for headers, body in self.received:
            salt = headers["X-UtilityAPI-Webhook-Salt"]
            expected = hashlib.sha256(f"{SECRET}.{salt}.".encode() + body).hexdigest()
            assert headers["X-UtilityAPI-Webhook-Signature"] == expected
            assert headers["Content-Type"] == "application/json"
            payload = orjson.loads(body)
            assert set(payload) == {"events", "next"} and payload["next"] is None
            assert body.startswith(b'{\n    "events": [')  # pretty-printed, indent 4
            batches.append(payload["events"])
        return batches


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def _submit(client: httpx.Client) -> str:
    form = client.post("/forms").json()
    client.post(
        f"/forms/{form['uid']}/test-submit", json={"utility": "DEMO", "scenario": "residential"}
    )
    return form["uid"]


def test_signed_delivery_marks_events_delivered(
    sandbox: Sandbox, client: httpx.Client, receiver: Receiver
) -> None:
    sandbox.set_webhook(receiver.url, SECRET)
    form_uid = _submit(client)
    attempts = sandbox.deliver_webhooks()
    assert [a["status"] for a in attempts] == [200]
    (batch,) = receiver.verified_events()
    assert [e["type"] for e in batch] == [
        "form_created",
        "authorization_created",
        "authorization_update_started",
    ]
    assert batch[0]["form_uid"] == form_uid and all(not e["is_delivered"] for e in batch)
    assert all(e["delivery_target"] == receiver.url for e in batch)
    stored = client.get(f"/events/{batch[0]['uid']}").json()
    assert stored["is_delivered"] is True
    # Advancing delivers what happens on the way: the verification five sandbox minutes later.
    sandbox.advance(timedelta(minutes=5))
    types = [e["type"] for e in receiver.verified_events()[1]]
    assert types == ["meter_created", "authorization_update_finished_successful"]
    assert (
        client.get("/events", params={"is_delivered": "false"}).json()["events"][0][
            "delivery_target"
        ]
        is None
    )  # events from before the webhook was set stay undelivered


def test_retries_hourly_until_200(
    sandbox: Sandbox, client: httpx.Client, receiver: Receiver
) -> None:
    sandbox.set_webhook(receiver.url, SECRET)
    receiver.statuses = [500, 404, 503]
    _submit(client)
    first = sandbox.deliver_webhooks()
    assert [a["status"] for a in first] == [500]
    pending = client.get("/events", params={"is_delivered": "false"}).json()["events"]
    assert {e["type"] for e in pending} >= {"form_created"}
    attempts = sandbox.advance(timedelta(hours=3, minutes=30))
    statuses = [a["status"] for a in attempts]
    # Verification events (5 min) get their own first attempt; retries run hourly.
    assert statuses.count(200) >= 1 and 404 in statuses and 503 in statuses
    times = [a["at"] for a in attempts]
    assert times == sorted(times)
    assert (
        client.get("/events", params={"is_delivered": "false"}).json()["events"][0][
            "delivery_target"
        ]
        is None
    )
    assert all(len(b) >= 1 for b in receiver.verified_events())


def test_unreachable_endpoint_gives_up_after_72_hours(
    sandbox: Sandbox, client: httpx.Client
) -> None:
    sandbox.set_webhook("http://127.0.0.1:9/unreachable", SECRET)
    form_uid = _submit(client)
    created = next(e for e in sandbox.truth.events() if e.get("form_uid") == form_uid)
    attempts = sandbox.advance(timedelta(hours=80))
    carrying = [a for a in attempts if created["uid"] in a["event_uids"]]
    assert all(a["status"] is None and a["error"] for a in attempts)
    # First try at once, then at least hourly (new events also flush what is pending); the
    # last one no later than 72 hours after the event.
    assert len(carrying) >= 72
    assert carrying[-1]["at"] <= "2026-06-04T00:00:00.000000+00:00"
    later = sandbox.advance(timedelta(hours=5))
    assert later and all(created["uid"] not in a["event_uids"] for a in later)
    undelivered = client.get("/events", params={"is_delivered": "false"}).json()["events"]
    assert created["uid"] in [e["uid"] for e in undelivered]


def test_patch_event_stops_retries(
    sandbox: Sandbox, client: httpx.Client, receiver: Receiver
) -> None:
    sandbox.set_webhook(receiver.url, SECRET)
    receiver.statuses = [500]
    _submit(client)
    sandbox.deliver_webhooks()
    pending = client.get("/events", params={"is_delivered": "false", "limit": 3}).json()
    for event in pending["events"]:
        patched = client.patch(f"/events/{event['uid']}", json={"is_delivered": True})
        assert patched.json()["is_delivered"] is True
    assert sandbox.deliver_webhooks() == []
    assert client.patch("/events/nope", json={"is_delivered": True}).status_code == 404


def test_process_mode_webhooks_and_controls(receiver: Receiver) -> None:
    with Sandbox(make_config(), mode="process") as sb, client_for(sb) as client:
        sb.set_webhook(receiver.url, SECRET)
        _submit(client)
        attempts = sb.advance(timedelta(minutes=6))
        assert [a["status"] for a in attempts] == [200, 200]
        assert len(receiver.verified_events()) == 2
        assert sb.now() == make_config().now + timedelta(minutes=6)  # type: ignore[operator]
        counts = sb.request_counts()
        assert counts[("POST", "/forms", 200)] == 1
        assert counts[("POST", "/forms/{uid}/test-submit", 200)] == 1
        assert [r.path for r in sb.requests][:1] == ["/forms"]
        sb.clear_requests()
        assert sb.requests == []
        sb.set_funded(False)
        meter = client.get("/meters", params={"is_activated": "false"}).json()["meters"][0]
        assert (
            client.post(
                "/meters/historical-collection", json={"meters": [meter["uid"]]}
            ).status_code
            == 402
        )
        sb.set_latency(0)
        sb.set_rate_limit(None)
        assert sb.prerender()["objects"] > 0
