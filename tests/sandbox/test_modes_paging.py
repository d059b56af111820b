"""Paging readings: `limit` as a cap, `next` without filters, pages that give up, repeated objects.

Each mode is shown against the default on the same world: the default keeps paging, the mode
answers as the other reading of the docs would.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sandbox import Sandbox

from .conftest import client_for, make_config, walk


@pytest.fixture(scope="module")
def world() -> Iterator[Sandbox]:
    """A read-only test world whose modes each test switches on and back off."""
    with Sandbox(make_config()) as sb:
        yield sb


@pytest.fixture
def api(world: Sandbox) -> Iterator[httpx.Client]:
    with client_for(world) as client:
        yield client
    world.set_modes(**world.cfg.modes.to_json())  # back to the defaults for the next test


def _pages(client: httpx.Client, path: str, **params: object) -> list[dict]:
    """Every page body, following `next` verbatim."""
    bodies = []
    url: str | None = path
    query: dict[str, object] | None = dict(params)
    while url is not None:
        response = client.get(url, params=query)
        assert response.status_code == 200, response.text
        bodies.append(response.json())
        url, query = bodies[-1]["next"], None
        assert len(bodies) < 500, "paging does not end"
    return bodies


def _meter(sb: Sandbox, min_objects: int) -> str:
    for meter in sb.truth.meters():
        if meter["interval_count"] and len(sb.truth.intervals(meter["uid"])) >= min_objects:
            return str(meter["uid"])
    raise LookupError(min_objects)


def _uids(items: list[dict]) -> list[str]:
    return [item["uid"] for item in items]


def _first_start(uid: str) -> int:
    return int(uid.rsplit("-", 2)[2])


def test_limit_caps_bills_and_intervals_only_when_limit_is_sent(
    world: Sandbox, api: httpx.Client
) -> None:
    meter = _meter(world, 20)
    default = api.get("/intervals", params={"meters": meter, "limit": 5}).json()
    assert len(default["intervals"]) == 5 and default["next"] is not None
    world.set_modes(limit_caps=True)
    capped = api.get("/intervals", params={"meters": meter, "limit": 5}).json()
    assert _uids(capped["intervals"]) == _uids(default["intervals"]) and capped["next"] is None
    # The docs' "latest bill" example: limit=1&order=latest_first is the latest bill, and all.
    bills = api.get("/bills", params={"meters": meter, "limit": 1, "order": "latest_first"})
    assert _uids(bills.json()["bills"]) == [world.truth.bills(meter)[0]["uid"]]
    assert bills.json()["next"] is None
    # Without `limit` the listing still pages; other lists still read limit as a page size.
    unlimited = walk(api, "/intervals", "intervals", meters=meter, allow_mixed="true")
    assert sorted(_uids(unlimited)) == sorted(_uids(world.truth.intervals(meter)))
    meters = api.get("/meters", params={"limit": 2}).json()
    assert len(meters["meters"]) == 2 and meters["next"] is not None


def test_next_drops_filters_and_following_it_changes_the_result(
    world: Sandbox, api: httpx.Client
) -> None:
    meter = _meter(world, 20)
    window = {
        "meters": meter,
        "start": "2026-04-01T00:00:00+00:00",
        "end": "2026-05-01T00:00:00+00:00",
        "allow_mixed": "true",
        "limit": 3,
        "order": "earliest_first",
    }
    kept = api.get("/intervals", params=window).json()
    assert set(parse_qs(urlsplit(kept["next"]).query)) == set(window) | {"after"}
    within = walk(api, "/intervals", "intervals", **window)
    world.set_modes(next_drops_filters=True)
    first = api.get("/intervals", params=window).json()
    query = parse_qs(urlsplit(first["next"]).query)
    assert query == {"meters": [meter], "after": [first["intervals"][-1]["uid"]]}
    followed = [o for page in _pages(api, "/intervals", **window) for o in page["intervals"]]
    # The second page is read latest_first from the cursor, without the window: it goes back
    # over objects already received and never reaches the rest of the window.
    assert len(set(_uids(followed))) < len(followed)
    assert not {o["uid"] for o in within} <= {o["uid"] for o in followed}
    # Every list keeps only `after`; /meters would otherwise lose its filters quietly.
    meters = api.get("/meters", params={"is_archived": "false", "limit": 2}).json()
    assert parse_qs(urlsplit(meters["next"]).query) == {"after": [meters["meters"][-1]["uid"]]}
    bills = api.get(
        "/bills",
        params={
            "authorizations": first["intervals"][0]["authorization_uid"],
            "limit": 1,
            "start": "2026-01-01",
        },
    ).json()
    assert set(parse_qs(urlsplit(bills["next"]).query)) == {"authorizations", "after"}


def test_incomplete_pages_give_up_and_start_past_the_last_object_continues(
    world: Sandbox, api: httpx.Client
) -> None:
    meter = _meter(world, 20)
    truth = world.truth.intervals(meter, allow_mixed=False)
    default = api.get("/intervals", params={"meters": meter}).json()
    assert set(default) == {"intervals", "next"}  # the default listing has no is_incomplete
    world.set_modes(incomplete_after=7)
    params = {"meters": meter, "order": "earliest_first", "limit": 3}
    pages = _pages(api, "/intervals", **params)
    assert [len(p["intervals"]) for p in pages] == [3, 3, 1]
    assert [p["is_incomplete"] for p in pages] == [False, False, True]
    assert pages[-1]["next"] is None
    # A client that notices asks again from the start of the last object it received (objects
    # overlap: a re-publication starts inside the chunk before it) and drops what it has.
    received = {o["uid"]: o for p in pages for o in p["intervals"]}
    last = pages[-1]["intervals"][-1]
    queries = 1
    while pages[-1]["is_incomplete"]:
        since = min((r["start"] for r in last["readings"]), key=datetime.fromisoformat)
        pages = _pages(api, "/intervals", **params, start=since)
        fresh = [o for p in pages for o in p["intervals"] if o["uid"] not in received]
        assert fresh, "a continuation must bring new objects"
        received.update((o["uid"], o) for o in fresh)
        last = pages[-1]["intervals"][-1]
        queries += 1
    assert sorted(received) == sorted(_uids(truth)) and queries > len(truth) // 7
    # latest_first gives up on the oldest objects: the newest 7 arrive, then nothing.
    newest = [o for p in _pages(api, "/intervals", meters=meter) for o in p["intervals"]]
    assert _uids(newest) == _uids(truth[:7])


def test_repeated_objects_across_pages_are_deterministic(world: Sandbox, api: httpx.Client) -> None:
    meter = _meter(world, 20)
    default = [o for p in _pages(api, "/intervals", meters=meter, limit=4) for o in p["intervals"]]
    assert len(set(_uids(default))) == len(default)
    world.set_modes(page_repeat_rate=0.5)
    pages = _pages(api, "/intervals", meters=meter, limit=4)
    repeats = [
        i
        for i, (before, page) in enumerate(zip(pages, pages[1:], strict=False), start=1)
        if page["intervals"] and page["intervals"][0]["uid"] == before["intervals"][-1]["uid"]
    ]
    assert 0 < len(repeats) < len(pages) - 1
    listed = [o for p in pages for o in p["intervals"]]
    assert len(listed) == len(default) + len(repeats)
    assert list(dict.fromkeys(_uids(listed))) == _uids(default)  # dropping repeats restores it
    again = _pages(api, "/intervals", meters=meter, limit=4)
    assert [_uids(p["intervals"]) for p in again] == [_uids(p["intervals"]) for p in pages]
    world.set_modes(page_repeat_rate=1.0)
    bills = _pages(api, "/bills", meters=meter, limit=2, order="earliest_first")
    for before, page in zip(bills, bills[1:], strict=False):
        assert page["bills"][0]["uid"] == before["bills"][-1]["uid"]
    starts = [
        datetime.fromisoformat(b["base"]["bill_start_date"]) for p in bills for b in p["bills"]
    ]
    assert starts == sorted(starts)
    # A page of one object never repeats: it would never move on.
    singles = [b for p in _pages(api, "/bills", meters=meter, limit=1) for b in p["bills"]]
    assert _uids(singles) == _uids(world.truth.bills(meter))


def test_modes_switch_over_the_control_api_in_a_child_process() -> None:
    with Sandbox(make_config(), mode="process") as sb, client_for(sb) as client:
        meter = client.get("/meters", params={"is_activated": "true"}).json()["meters"][0]["uid"]
        assert client.get("/intervals", params={"meters": meter, "limit": 2}).json()["next"]
        modes = sb.set_modes(limit_caps=True, incomplete_after=50)
        assert modes.limit_caps and modes.incomplete_after == 50
        body = client.get("/intervals", params={"meters": meter, "limit": 2}).json()
        assert body["next"] is None and body["is_incomplete"] is False
        state = httpx.get(f"{sb.control_url}/modes", trust_env=False).json()
        assert state["limit_caps"] is True and state["next_drops_filters"] is False
        wrong = httpx.post(
            f"{sb.control_url}/modes", json={"growing_objects": True}, trust_env=False
        )
        assert wrong.status_code == 400 and "not a switchable mode" in wrong.text
        bad = httpx.post(f"{sb.control_url}/modes", json={"limit_caps": "yes"}, trust_env=False)
        assert bad.status_code == 400
