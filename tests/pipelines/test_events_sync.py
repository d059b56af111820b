"""`uapi events sync` over real HTTP against the sandbox: it loads what every undelivered event
names, and marks delivered only the events meant for no delivery target or for one of ours
(UtilityAPI makes one copy of an event per webhook endpoint; marking another endpoint's copy
delivered may stop UtilityAPI's retries to it)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from pipelines.cli import main
from pipelines.events import EventProcessor, Inbox, is_for_us, sync_events
from pipelines.pipeline import run_load
from sandbox import Sandbox, SandboxConfig
from sources.utilityapi import UtilityAPIClient
from sources.utilityapi.actions import start_historical_collection, submit_test_form
from tests.support.clock import FakeClock
from tests.support.loads import sandbox_options
from tests.support.truth import READINGS_KEY, compare_table, interval_rows

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
# Nothing listens on port 9: deliveries fail, so the events stay undelivered for polling.
OURS = "http://127.0.0.1:9/ours"
THEIRS = "http://127.0.0.1:9/another-system"


@dataclass
class World:
    sb: Sandbox
    client: UtilityAPIClient
    processor: EventProcessor
    clock: FakeClock
    db: Path

    def advance(self, delta: timedelta) -> None:
        self.sb.advance(delta)
        self.clock.advance(delta)

    def collect_a_new_meter(self) -> str:
        """A test submission and a historical collection: events for its form, authorization
        and meter, one copy per delivery target configured."""
        submission = submit_test_form(self.client, "residential")
        assert submission.authorization is not None
        self.advance(timedelta(minutes=5))
        (meter_uid,) = [
            m["uid"]
            for m in self.sb.truth.meters()
            if m["authorization_uid"] == submission.authorization["uid"]
        ]
        start_historical_collection(self.client, [meter_uid], months=2)
        self.advance(timedelta(hours=1))
        return meter_uid

    def patched(self) -> list[str]:
        return sorted(
            r.path.removeprefix("/events/")
            for r in self.sb.requests
            if r.method == "PATCH" and r.path.startswith("/events/")
        )

    def undelivered(self) -> dict[str, dict]:
        return {e["uid"]: e for e in self.sb.truth.events() if not e["is_delivered"]}


def make_world(tmp_path: Path, **modes: object) -> Iterator[World]:
    clock = FakeClock(NOW)
    config = SandboxConfig(seed=5, scale="test", now=NOW, rate_limit=None, **modes)
    with Sandbox(config) as sb:
        inbox = Inbox(tmp_path / "inbox.sqlite")
        options = sandbox_options(sb, tmp_path / "w.duckdb", clock)
        processor = EventProcessor(inbox, options, clock=clock)
        client = UtilityAPIClient(sb.token, sb.base_url, rate_limit=None)
        try:
            yield World(sb, client, processor, clock, tmp_path / "w.duckdb")
        finally:
            client.close()
            inbox.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from make_world(tmp_path)


def assert_meter_loaded(world: World, meter_uid: str) -> None:
    expected = interval_rows(world.sb.truth.intervals(meter_uid, allow_mixed=True))
    relation = f"(select * from utilityapi.interval_readings where meter_uid = '{meter_uid}')"
    with duckdb.connect(str(world.db), read_only=True) as con:
        result = compare_table(con, relation, expected, READINGS_KEY)
    assert result.ok, result.summary()
    assert result.actual_rows == len(expected) > 0


@pytest.mark.parametrize(
    ("target", "ours", "expected"),
    [
        (None, [], True),
        ("", [], True),
        ("  ", [OURS], True),
        (OURS, [OURS], True),
        (f" {OURS} ", [f"{OURS} "], True),
        (OURS, [], False),
        (THEIRS, [OURS], False),
        (f"{OURS}/", [OURS], False),
        (7, ["7"], False),
    ],
)
def test_whose_event_it_is(target: object, ours: list[str], expected: bool) -> None:
    assert is_for_us({"uid": "e", "delivery_target": target}, ours) is expected


def test_an_event_without_the_field_is_for_us() -> None:
    assert is_for_us({"uid": "e"}, [])


def test_only_our_copies_are_marked_delivered_and_every_copy_is_loaded_from(world: World) -> None:
    world.sb.set_webhooks([(OURS, "s1"), (THEIRS, "s2")])
    meter_uid = world.collect_a_new_meter()
    before = world.undelivered()
    by_target = {
        target: {u for u, e in before.items() if e["delivery_target"] == target}
        for target in (None, OURS, THEIRS)
    }
    assert by_target[OURS] and by_target[THEIRS]  # one copy of each change per endpoint
    assert len(by_target[OURS]) == len(by_target[THEIRS])
    world.sb.clear_requests()

    outcome = sync_events(world.client, world.processor, [OURS])

    assert outcome.fetched == outcome.new == len(before)
    assert world.patched() == sorted(by_target[None] | by_target[OURS])
    assert outcome.marked_delivered == len(by_target[None] | by_target[OURS])
    assert outcome.left_for_other_targets == len(by_target[THEIRS])
    assert set(world.undelivered()) == by_target[THEIRS]
    # two copies of each change, one load of the meter they name
    assert world.processor.loads == 1
    assert outcome.processed is not None and meter_uid in outcome.processed.plan.backfill_meters
    assert_meter_loaded(world, meter_uid)

    # The next sync sees the other target's copies again: stored already, nothing to load,
    # nothing to mark.
    world.clock.advance(timedelta(minutes=2))
    world.sb.clear_requests()
    again = sync_events(world.client, world.processor, [OURS])
    assert (again.fetched, again.new, again.processed, again.marked_delivered) == (
        len(by_target[THEIRS]),
        0,
        None,
        0,
    )
    assert world.patched() == []
    assert [r for r in world.sb.requests if r.path in ("/intervals", "/bills")] == []
    assert set(world.undelivered()) == by_target[THEIRS]


def test_without_a_target_of_ours_events_for_endpoints_are_loaded_but_never_marked(
    world: World,
) -> None:
    world.sb.set_webhook(THEIRS, "s2")
    meter_uid = world.collect_a_new_meter()
    before = world.undelivered()
    addressed = {u for u, e in before.items() if e["delivery_target"] == THEIRS}
    assert addressed
    world.sb.clear_requests()
    outcome = sync_events(world.client, world.processor)
    assert set(world.patched()) == set(before) - addressed
    assert outcome.left_for_other_targets == len(addressed)
    assert set(world.undelivered()) == addressed
    assert_meter_loaded(world, meter_uid)


def test_a_failed_load_marks_nothing_and_the_next_sync_does(world: World) -> None:
    world.sb.set_webhook(OURS, "s1")
    meter_uid = world.collect_a_new_meter()
    before = world.undelivered()

    def failing(options):
        raise RuntimeError("warehouse busy")

    loader = world.processor.loader
    world.processor.loader = failing
    world.sb.clear_requests()
    with pytest.raises(RuntimeError, match="warehouse busy"):
        sync_events(world.client, world.processor, [OURS])
    assert world.patched() == [] and world.undelivered() == before
    world.processor.loader = loader
    world.clock.advance(timedelta(minutes=2))  # the inbox's retry is due
    outcome = sync_events(world.client, world.processor, [OURS])
    assert outcome.new == 0 and outcome.marked_delivered == len(before)
    assert world.undelivered() == {}
    assert_meter_loaded(world, meter_uid)


def test_when_events_exist_only_for_webhooks_polling_needs_one_of_ours(tmp_path: Path) -> None:
    for world in make_world(tmp_path, events_require_webhook=True):
        # No endpoint configured: UtilityAPI (in this reading) keeps no events at all.
        world.collect_a_new_meter()
        assert world.sb.truth.events() == []
        outcome = sync_events(world.client, world.processor, [OURS])
        assert (outcome.fetched, outcome.processed, outcome.marked_delivered) == (0, None, 0)
        # With our endpoint configured, its copies can be polled and are ours to mark.
        world.sb.set_webhook(OURS, "s1")
        meter_uid = world.collect_a_new_meter()
        before = world.undelivered()
        assert before and {e["delivery_target"] for e in before.values()} == {OURS}
        outcome = sync_events(world.client, world.processor, [OURS])
        assert outcome.marked_delivered == len(before) and world.undelivered() == {}
        assert_meter_loaded(world, meter_uid)


def test_the_command_reads_our_targets_from_flag_or_config(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world.sb.set_webhooks([(OURS, "s1"), (THEIRS, "s2")])
    world.collect_a_new_meter()
    before = world.undelivered()
    theirs = {u for u, e in before.items() if e["delivery_target"] == THEIRS}
    api = ["--base-url", world.sb.base_url, "--token", world.sb.token, "--rate-limit", "0"]
    monkeypatch.setenv("WEBHOOKS__TARGET", OURS)  # `[webhooks] target` in .dlt/config.toml
    assert main(["events", "sync", "--db", str(world.db), *api]) == 0
    out = capsys.readouterr().out
    assert f"Marked {len(before) - len(theirs)} event(s) delivered" in out
    assert f"Left {len(theirs)} event(s) for other delivery targets undelivered" in out
    assert set(world.undelivered()) == theirs
    # The flag names ours too (and wins over the configuration).
    assert main(["events", "sync", "--db", str(world.db), *api, "--delivery-target", THEIRS]) == 0
    assert "Marked 0 event(s)" not in capsys.readouterr().out
    assert world.undelivered() == {}


def test_events_of_a_meter_deferred_for_a_minute_are_marked_only_once_loaded(
    world: World,
) -> None:
    sync_events(world.client, world.processor)  # the world's history, backfills and all
    world.sb.set_webhook(OURS, "s1")
    world.advance(timedelta(days=2))  # monitoring: meter_intervals_added for several meters
    run_load(sandbox_options(world.sb, world.db, world.clock))  # every meter fetched just now
    before = world.undelivered()
    world.sb.clear_requests()

    outcome = sync_events(world.client, world.processor, [OURS])

    assert outcome.processed is not None
    deferred = set(outcome.processed.deferred_meters)
    waiting = {u for u, e in before.items() if e.get("meter_uid") in deferred}
    assert deferred and waiting
    assert not waiting & set(world.patched())
    assert set(world.undelivered()) == waiting
    assert outcome.marked_delivered == len(before) - len(waiting)
    world.clock.advance(timedelta(minutes=2))
    world.sb.clear_requests()
    again = sync_events(world.client, world.processor, [OURS])
    assert set(world.patched()) == waiting and again.marked_delivered == len(waiting)
    assert world.undelivered() == {}
