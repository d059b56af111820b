"""Real-time mode: the clock follows the wall clock (plus advances); effects apply lazily.

The wall clock is replaced by one moved by hand (starting at the real time, when the world was
built), so no assertion depends on how fast this machine runs.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from sandbox import Sandbox

from .conftest import client_for, make_config
from .test_webhooks import SECRET, Receiver

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Wall:
    """A wall clock (`time.time_ns`'s stand-in) that moves only when told."""

    def __init__(self) -> None:
        self.ns = time.time_ns()
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            return self.ns

    def move(self, delta: timedelta) -> None:
        with self._lock:
            self.ns += int(delta / timedelta(microseconds=1)) * 1000

    def now(self) -> datetime:
        return EPOCH + timedelta(microseconds=self() // 1000)


def by_hand(sb: Sandbox) -> Wall:
    wall = Wall()
    sb.runtime.clock.wall_ns = wall
    return wall


def _collect(client, meter_uid: str) -> None:  # type: ignore[no-untyped-def]
    client.post(
        "/meters/historical-collection", json={"meters": [meter_uid], "collection_duration": 2}
    )


def test_real_clock_follows_the_wall_and_applies_effects_when_time_moves() -> None:
    with (
        Sandbox(make_config(now=None, background_delivery=False)) as sb,
        client_for(sb) as client,
    ):
        wall = by_hand(sb)
        assert not sb.runtime.clock.is_fixed and sb.now() == wall.now()
        meter = client.get("/meters", params={"is_activated": "false"}).json()["meters"][0]
        _collect(client, meter["uid"])
        assert client.get(f"/meters/{meter['uid']}").json()["status"] == "pending"
        # The wall moves: the sandbox's clock with it, and the collection finishes lazily.
        wall.move(timedelta(minutes=6))
        assert sb.now() == wall.now()
        done = client.get(f"/meters/{meter['uid']}").json()
        assert done["status"] == "updated" and done["interval_count"] > 0
        # Collected again: an advance moves the clock ahead of the wall, and it stays ahead.
        _collect(client, meter["uid"])
        assert client.get(f"/meters/{meter['uid']}").json()["status"] == "pending"
        sb.advance(timedelta(minutes=6))
        assert sb.now() == wall.now() + timedelta(minutes=6)
        wall.move(timedelta(seconds=30))
        assert sb.now() == wall.now() + timedelta(minutes=6)
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
            wall = by_hand(sb)
            sb.set_webhook(receiver.url, SECRET)
            receiver.statuses = [500, 502]
            client.post("/forms")
            assert [a["status"] for a in sb.deliver_webhooks()] == [500]
            wall.move(timedelta(milliseconds=999))
            assert sb.deliver_webhooks() == []  # next try a second later, not an hour
            wall.move(timedelta(milliseconds=1))
            assert [a["status"] for a in sb.deliver_webhooks()] == [502]
            wall.move(timedelta(milliseconds=1999))
            assert sb.deliver_webhooks() == []  # then two seconds later
            attempts = sb.advance(timedelta(milliseconds=1))
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
            # The sandbox's ticker runs on real time (once a second) by design; wait until it
            # has delivered. The bound only ends a broken run: nothing here measures speed.
            deadline = time.monotonic() + 60
            while not receiver.received and time.monotonic() < deadline:
                time.sleep(0.05)
            assert [e["type"] for e in receiver.verified_events()[0]] == ["form_created"]
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
