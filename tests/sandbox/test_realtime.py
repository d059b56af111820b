"""Real-time mode: the clock follows the wall clock (plus advances); effects apply lazily."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sandbox import Sandbox

from .conftest import client_for, make_config
from .test_webhooks import SECRET, Receiver


def test_real_clock_applies_effects_when_advanced() -> None:
    with Sandbox(make_config(now=None)) as sb, client_for(sb) as client:
        assert abs((sb.now() - datetime.now(UTC)).total_seconds()) < 5
        meter = client.get("/meters", params={"is_activated": "false"}).json()["meters"][0]
        client.post(
            "/meters/historical-collection",
            json={"meters": [meter["uid"]], "collection_duration": 2},
        )
        assert client.get(f"/meters/{meter['uid']}").json()["status"] == "pending"
        sb.advance(timedelta(minutes=6))
        assert abs((sb.now() - datetime.now(UTC)).total_seconds() - 360) < 5
        done = client.get(f"/meters/{meter['uid']}").json()
        assert done["status"] == "updated" and done["interval_count"] > 0


def test_real_time_retries_back_off_in_seconds() -> None:
    receiver = Receiver()
    receiver.thread.start()
    try:
        with (
            Sandbox(make_config(now=None, background_delivery=False)) as sb,
            client_for(sb) as client,
        ):
            sb.set_webhook(receiver.url, SECRET)
            receiver.statuses = [500, 502]
            client.post("/forms")
            assert [a["status"] for a in sb.deliver_webhooks()] == [500]
            assert sb.deliver_webhooks() == []  # next try is a second later, not an hour
            attempts = sb.advance(timedelta(seconds=1.5))
            assert [a["status"] for a in attempts] == [502]
            attempts = sb.advance(timedelta(seconds=2.5))
            assert [a["status"] for a in attempts] == [200]
            assert len(receiver.verified_events()) == 3
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def test_background_delivery_in_real_time() -> None:
    receiver = Receiver()
    receiver.thread.start()
    try:
        with Sandbox(make_config(now=None)) as sb, client_for(sb) as client:
            sb.set_webhook(receiver.url, SECRET)
            client.post("/forms")
            # The ticker runs every second of real time; poll briefly instead of advancing.
            deadline = datetime.now(UTC) + timedelta(seconds=5)
            while not receiver.received and datetime.now(UTC) < deadline:
                time.sleep(0.05)
            assert [e["type"] for e in receiver.verified_events()[0]] == ["form_created"]
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
