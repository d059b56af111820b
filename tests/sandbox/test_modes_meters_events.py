"""Unexpanded meter blocks, events per webhook target (only with one), indented signatures."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from sandbox import Sandbox
from sandbox.modes import DEFAULT_UNEXPANDED
from tests.support.webhooks import WebhookReceiver

from .conftest import client_for, make_config, walk


@pytest.fixture(scope="module")
def world() -> Iterator[Sandbox]:
    with Sandbox(make_config()) as sb:
        yield sb


@pytest.fixture
def api(world: Sandbox) -> Iterator[httpx.Client]:
    with client_for(world) as client:
        yield client
    world.set_modes(unexpanded_utilities=[], unexpanded_style="absent")


def _by_uid(meters: list[dict]) -> dict[str, dict]:
    return {m["uid"]: m for m in meters}


def test_unexpanded_meters_until_expand_meter_blocks(world: Sandbox, api: httpx.Client) -> None:
    truth = _by_uid(world.truth.meters())
    assert all(m["is_expanded"] and m["base"]["meter_numbers"] for m in truth.values())
    assert _by_uid(api.get("/meters").json()["meters"]) == truth  # the default: all expanded
    world.set_modes(unexpanded_utilities=DEFAULT_UNEXPANDED)
    listed = _by_uid(walk(api, "/meters", "meters"))
    lazy = {uid for uid, m in listed.items() if m["utility"] in DEFAULT_UNEXPANDED}
    assert lazy and len(lazy) < len(listed)
    for uid, meter in listed.items():
        if uid in lazy:
            assert meter["is_expanded"] is False and meter["blocks"] == []
            assert "base" not in meter
            assert {
                k: v for k, v in truth[uid].items() if k not in ("is_expanded", "blocks", "base")
            } == {k: v for k, v in meter.items() if k not in ("is_expanded", "blocks")}
        else:
            assert meter == truth[uid]
    some = sorted(lazy)[0]
    assert api.get(f"/meters/{some}").json()["is_expanded"] is False
    expanded = {"expand_meter_blocks": "true"}
    assert _by_uid(walk(api, "/meters", "meters", **expanded)) == truth
    assert api.get(f"/meters/{some}", params=expanded).json() == truth[some]
    embedded = api.get("/authorizations", params={"include": "meters"}).json()
    inner = _by_uid([m for a in embedded["authorizations"] for m in a["meters"]["meters"]])
    assert {uid for uid, m in inner.items() if not m["is_expanded"]} == lazy
    embedded = api.get("/authorizations", params={"include": "meters", **expanded}).json()
    inner = _by_uid([m for a in embedded["authorizations"] for m in a["meters"]["meters"]])
    assert all(m == truth[uid] for uid, m in inner.items())
    world.set_modes(unexpanded_style="nulls")
    nulls = api.get(f"/meters/{some}").json()
    assert nulls["is_expanded"] is False and nulls["blocks"] == ["base"]
    assert nulls["base"] == dict.fromkeys(truth[some]["base"])
    # Bills keep their base block whatever the meter listing shows.
    bill = api.get("/bills", params={"meters": some, "limit": 1}).json()["bills"]
    assert (
        not bill
        or bill[0]["base"]["service_identifier"] == truth[some]["base"]["service_identifier"]
    )


def _submit(client: httpx.Client) -> None:
    form = client.post("/forms").json()
    response = client.post(
        f"/forms/{form['uid']}/test-submit", json={"utility": "DEMO", "scenario": "residential"}
    )
    assert response.status_code == 200


def test_events_exist_only_with_a_webhook_and_are_copied_per_target() -> None:
    with (
        Sandbox(make_config(events_require_webhook=True)) as sb,
        client_for(sb) as client,
        WebhookReceiver() as one,
        WebhookReceiver() as two,
    ):
        assert walk(client, "/events", "events") == []  # a whole generated history, no events
        _submit(client)
        assert client.get("/events").json() == {"events": [], "next": None}
        sb.set_webhooks([(one.url, "s1"), (two.url, "s2")])
        _submit(client)
        events = walk(client, "/events", "events")
        assert Counter(e["type"] for e in events) == {
            "form_created": 2,
            "authorization_created": 2,
            "authorization_update_started": 2,
        }
        assert Counter(e["delivery_target"] for e in events) == {one.url: 3, two.url: 3}
        assert len({e["uid"] for e in events}) == 6
        # Marking one target's copy delivered leaves the other target's copy alone.
        mine = next(e for e in events if e["delivery_target"] == one.url)
        twin = next(
            e for e in events if e["type"] == mine["type"] and e["delivery_target"] == two.url
        )
        assert (
            client.patch(f"/events/{mine['uid']}", json={"is_delivered": True}).status_code == 200
        )
        assert client.get(f"/events/{twin['uid']}").json()["is_delivered"] is False
        attempts = sb.deliver_webhooks()
        assert sorted(a["url"] for a in attempts) == sorted([one.url, two.url])
        assert {e["delivery_target"] for e in one.events()} == {one.url}
        assert {e["delivery_target"] for e in two.events()} == {two.url}
        assert mine["uid"] not in {e["uid"] for e in one.events()} and len(one.events()) == 2
        assert len(two.events()) == 3
        assert one.signed_over("s1") == ["raw"] and two.signed_over("s2") == ["raw"]
        assert two.signed_over("s1") == ["neither"]
        pending = walk(client, "/events", "events", is_delivered="false")
        assert pending == []


def test_several_endpoints_in_the_default_reading() -> None:
    with Sandbox(make_config()) as sb, client_for(sb) as client:
        before = len(walk(client, "/events", "events"))
        assert before > 0 and sb.truth.events()[0]["delivery_target"] is None
        sb.set_webhooks([("http://127.0.0.1:9/a", "x"), ("http://127.0.0.1:9/b", "y")])
        _submit(client)
        events = walk(client, "/events", "events")
        new = events[: len(events) - before]
        assert len(new) == 6 and {e["delivery_target"] for e in new} == {
            "http://127.0.0.1:9/a",
            "http://127.0.0.1:9/b",
        }
        sb.set_webhook(None)
        _submit(client)
        assert walk(client, "/events", "events")[0]["delivery_target"] is None


@pytest.mark.parametrize("form", ["raw", "indented"])
def test_webhook_signature_forms(form: str) -> None:
    with (
        Sandbox(make_config(webhook_signature=form)) as sb,
        client_for(sb) as client,
        WebhookReceiver() as receiver,
    ):
        sb.set_webhook(receiver.url, "s3cret")
        _submit(client)
        assert [a["status"] for a in sb.deliver_webhooks()] == [200]
        ((headers, body),) = receiver.received
        assert receiver.signed_over("s3cret") == [form]
        assert receiver.signed_over("wrong") == ["neither"]
        if form == "indented":
            assert b"\n" not in body and body.startswith(b'{"events":[{')
        else:
            assert body.startswith(b'{\n    "events": [')
        assert [e["type"] for e in receiver.events()][0] == "form_created"
