"""The webhook receiver over real HTTP: signatures, body checks, durable dedup before the 200."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta

import httpx
import pytest

from pipelines.events import EventProcessor, Inbox
from pipelines.pipeline import LoadOptions, Target
from pipelines.receiver import receiver_app
from sources.utilityapi.notifications import (
    SALT_HEADER,
    SIGNATURE_HEADER,
    plan_events,
    signature,
)
from tests.support.clock import FakeClock
from tests.support.fixtures import load_fixture
from tests.support.server import serve_asgi

SECRET = "whsec-test"


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    salt = secrets.token_hex(8)
    return {
        SALT_HEADER: salt,
        SIGNATURE_HEADER: signature(secret, salt, body),
        "Content-Type": "application/json",
    }


def event(uid: str, kind: str = "meter_intervals_added", meter: str | None = "m1") -> dict:
    e = {
        "uid": uid,
        "type": kind,
        "ts": "2026-06-01T00:00:00.000000+00:00",
        "delivery_method": "webhook",
        "delivery_target": "http://127.0.0.1/webhook",
        "is_delivered": False,
        "authorization_uid": "a1",
    }
    if meter:
        e["meter_uid"] = meter
    return e


@pytest.fixture
def receiver(tmp_path):
    inbox = Inbox(tmp_path / "inbox.sqlite")
    with serve_asgi(receiver_app(inbox, SECRET, max_body_bytes=10_000)) as root:
        yield root, inbox, tmp_path / "inbox.sqlite"
    inbox.close()


def post(root: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{root}/webhook", content=body, headers=headers)


def test_signature_is_sha256_of_secret_salt_body():
    import hashlib

    assert signature("s", "salt", b"{}") == hashlib.sha256(b"s.salt.{}").hexdigest()


def test_signed_docs_payload_is_stored_and_acknowledged(receiver):
    root, inbox, path = receiver
    body = json.dumps(load_fixture("webhook-docs-1.json"), indent=4).encode()
    response = post(root, body, signed(body))
    assert response.status_code == 200
    assert response.json() == {"received": 2, "new": 2}
    # Durable before the 200: a fresh connection (as after a crash) sees both events.
    reopened = Inbox(path)
    assert reopened.counts() == {"total": 2, "pending": 2}
    reopened.close()


def test_replayed_events_are_stored_once(receiver):
    root, inbox, _ = receiver
    body = json.dumps({"events": [event("e1"), event("e2")], "next": None}).encode()
    assert post(root, body, signed(body)).json()["new"] == 2
    assert post(root, body, signed(body)).json() == {"received": 2, "new": 0}
    assert inbox.counts()["total"] == 2


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {SALT_HEADER: "abc"},
        {SALT_HEADER: "abc", SIGNATURE_HEADER: "0" * 64},
    ],
)
def test_bad_or_missing_signature_is_refused_and_nothing_stored(receiver, headers):
    root, inbox, _ = receiver
    body = json.dumps({"events": [event("e1")], "next": None}).encode()
    assert post(root, body, headers).status_code == 401
    assert inbox.counts()["total"] == 0


def test_signature_with_another_secret_is_refused(receiver):
    root, inbox, _ = receiver
    body = json.dumps({"events": [event("e1")], "next": None}).encode()
    assert post(root, body, signed(body, "other")).status_code == 401
    assert inbox.counts()["total"] == 0


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"not json", "malformed body: body is not JSON: "),
        (b'{"events": "x"}', "malformed body: body has no 'events' list"),
        (b'[{"uid": "e1", "type": "ping"}]', "malformed body: body has no 'events' list"),
        (b'{"events": [{"type": "ping"}]}', "malformed body: every event needs a uid and a type"),
        (b'{"events": [{"uid": "e1"}]}', "malformed body: every event needs a uid and a type"),
        (b'{"events": ["e1"]}', "malformed body: every event needs a uid and a type"),
    ],
)
def test_malformed_bodies_get_400_saying_why(receiver, body, why):
    root, inbox, _ = receiver
    response = post(root, body, signed(body))
    assert response.status_code == 400 and response.text.startswith(why)
    assert inbox.counts()["total"] == 0


def test_oversized_body_gets_413(receiver):
    root, inbox, _ = receiver
    body = json.dumps({"events": [event(f"e{i}") for i in range(200)], "next": None}).encode()
    assert len(body) > 10_000
    assert post(root, body, signed(body)).status_code == 413
    assert inbox.counts()["total"] == 0


def test_events_plan_loads_only_what_they_name():
    plan = plan_events(
        [
            event("1", "meter_intervals_added", "m1"),
            event("2", "meter_bills_added", "m2"),
            event("3", "meter_historical_collection_finished_successful", "m2"),
            event("4", "authorization_revoked", None),
            event("5", "ping", None),
            event("6", "something_new_from_utilityapi", "m9"),
        ]
    )
    assert plan.refresh_meters == {"m1"}
    assert plan.backfill_meters == {"m2"}
    assert plan.access == {"a1": ("revoked", "4", "2026-06-01T00:00:00.000000+00:00")}
    assert plan.ignored == ["5", "6"]
    assert plan.authorizations == set() and not plan.is_empty


def test_authorization_events_reload_its_meters_and_expiry_marks_them():
    created = event("1", "authorization_created", None)
    expired = {**event("2", "authorization_expired", None), "authorization_uid": "a2"}
    plan = plan_events([created, expired])
    assert plan.authorizations == {"a1"} and plan.refresh_meters == set()
    assert plan.access == {"a2": ("expired", "2", "2026-06-01T00:00:00.000000+00:00")}
    assert plan_events([event("3", "ping", None)]).is_empty


class RecordingLoader:
    """Stands in for run_load: records the options each load was asked for."""

    def __init__(self):
        self.calls: list[LoadOptions] = []

    def __call__(self, options):
        from pipelines.pipeline import LoadResult, StepResult
        from sources.utilityapi import LoadReport

        self.calls.append(options)
        return LoadResult(LoadReport(), steps=[StepResult("load-1", {}, 0.0)])


def test_burst_is_debounced_into_one_load(tmp_path):
    clock = FakeClock()
    inbox = Inbox(tmp_path / "inbox.sqlite")
    loader = RecordingLoader()
    base = LoadOptions(
        target=Target(db_path=tmp_path / "w.duckdb"),
        source={"api_token": "t", "base_url": "http://x/api/v2"},
    )
    processor = EventProcessor(
        inbox, base, clock=clock, quiet_seconds=5, max_wait_seconds=60, loader=loader
    )
    for i in range(50):
        inbox.add([event(f"e{i}", meter=f"m{i % 5}")], "webhook", clock.now())
        clock.advance(timedelta(milliseconds=100))
    assert processor.process() is None  # still inside the burst's quiet period
    clock.advance(timedelta(seconds=5))
    outcome = processor.process()
    assert len(loader.calls) == 1 and len(outcome.event_uids) == 50
    assert loader.calls[0].source["meters"] == [f"m{i}" for i in range(5)]
    assert loader.calls[0].source["refresh"] == [f"m{i}" for i in range(5)]
    assert processor.process(force=True) is None
    inbox.add([event(f"e{i}", meter=f"m{i % 5}") for i in range(50)], "webhook", clock.now())
    assert processor.process(force=True) is None and len(loader.calls) == 1
    inbox.close()


def test_a_long_burst_loads_after_the_maximum_wait(tmp_path):
    clock = FakeClock()
    inbox = Inbox(tmp_path / "inbox.sqlite")
    loader = RecordingLoader()
    base = LoadOptions(
        target=Target(db_path=tmp_path / "w.duckdb"),
        source={"api_token": "t", "base_url": "http://x/api/v2"},
    )
    processor = EventProcessor(
        inbox, base, clock=clock, quiet_seconds=5, max_wait_seconds=60, loader=loader
    )
    for i in range(70):
        inbox.add([event(f"e{i}")], "webhook", clock.now())
        clock.advance(timedelta(seconds=1))
        processor.process()
    assert len(loader.calls) == 1
    inbox.close()


def test_failed_load_keeps_events_for_a_later_retry(tmp_path):
    clock = FakeClock()
    inbox = Inbox(tmp_path / "inbox.sqlite")

    def failing(options):
        raise RuntimeError("warehouse locked")

    base = LoadOptions(
        target=Target(db_path=tmp_path / "w.duckdb"),
        source={"api_token": "t", "base_url": "http://x/api/v2"},
    )
    processor = EventProcessor(inbox, base, clock=clock, loader=failing)
    inbox.add([event("e1")], "webhook", clock.now())
    with pytest.raises(RuntimeError):
        processor.process(force=True)
    assert inbox.counts() == {"total": 1, "pending": 1}
    assert inbox.pending(clock.now()) == []  # backing off
    clock.advance(timedelta(seconds=61))
    assert [p["uid"] for p in inbox.pending(clock.now())] == ["e1"]
    inbox.close()
