"""Every list walks each object exactly once, in order, with `next` keeping the filters."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sandbox import Sandbox

from .conftest import client_for, make_config, walk


@pytest.fixture(scope="module")
def small_pages() -> Iterator[Sandbox]:
    with Sandbox(make_config(page_cap=3)) as sb:
        with client_for(sb) as client:
            # Some forms so that the forms list needs several pages.
            for _ in range(5):
                assert client.post("/forms").status_code == 200
        yield sb


@pytest.fixture(scope="module")
def pc(small_pages: Sandbox) -> Iterator[httpx.Client]:
    with client_for(small_pages) as client:
        yield client


def _uids(items: list[dict]) -> list[str]:
    return [item["uid"] for item in items]


def test_authorizations_and_meters_walk_every_object_once(
    small_pages: Sandbox, pc: httpx.Client
) -> None:
    auths = walk(pc, "/authorizations", "authorizations")
    assert _uids(auths) == [a["uid"] for a in small_pages.truth.authorizations()]
    assert len(auths) > 3
    created = [a["created"] for a in auths]
    assert created == sorted(created, reverse=True)
    meters = walk(pc, "/meters", "meters")
    assert _uids(meters) == [m["uid"] for m in small_pages.truth.meters()]
    assert len(set(_uids(meters))) == len(meters) > 3


def test_events_forms_templates_walk_every_object_once(
    small_pages: Sandbox, pc: httpx.Client
) -> None:
    events = walk(pc, "/events", "events")
    assert _uids(events) == [e["uid"] for e in small_pages.truth.events()]
    assert [e["ts"] for e in events] == sorted((e["ts"] for e in events), reverse=True)
    forms = walk(pc, "/forms", "forms")
    assert len(forms) == len(set(_uids(forms))) >= 6
    templates = walk(pc, "/templates", "templates")
    assert len(templates) == 1


@pytest.mark.parametrize("order", ["latest_first", "earliest_first"])
def test_bills_walk_both_orders(small_pages: Sandbox, pc: httpx.Client, order: str) -> None:
    meters = [m["uid"] for m in small_pages.truth.meters() if m["bill_count"]]
    bills = walk(pc, "/bills", "bills", meters=",".join(meters), order=order)
    expected = sum(len(small_pages.truth.bills(m)) for m in meters)
    assert len(bills) == len(set(_uids(bills))) == expected
    starts = [b["base"]["bill_start_date"] for b in bills]
    keys = [(b["base"]["bill_start_date"], b["uid"]) for b in bills]
    assert len(starts) > 3
    if order == "latest_first":
        assert [k[0] for k in keys] == sorted((k[0] for k in keys), reverse=True) or _instants(
            starts
        ) == sorted(_instants(starts), reverse=True)
    else:
        assert _instants(starts) == sorted(_instants(starts))


def _instants(stamps: list[str]) -> list[float]:
    from datetime import datetime

    return [datetime.fromisoformat(s).timestamp() for s in stamps]


@pytest.mark.parametrize("order", ["latest_first", "earliest_first"])
def test_intervals_walk_both_orders(small_pages: Sandbox, pc: httpx.Client, order: str) -> None:
    meter = next(m for m in small_pages.truth.meters() if m["interval_count"])
    objects = walk(
        pc, "/intervals", "intervals", meters=meter["uid"], order=order, allow_mixed="true"
    )
    truth = small_pages.truth.intervals(meter["uid"], allow_mixed=True)
    assert sorted(_uids(objects)) == sorted(_uids(truth))
    assert len(set(_uids(objects))) == len(objects) > 10
    first_starts = [datetime_of(o["uid"]) for o in objects]
    assert first_starts == sorted(first_starts, reverse=order == "latest_first")


def datetime_of(uid: str) -> int:
    return int(uid.rsplit("-", 2)[2])


def test_intervals_by_authorization_cover_all_its_meters(
    small_pages: Sandbox, pc: httpx.Client
) -> None:
    auth = next(
        a
        for a in small_pages.truth.authorizations()
        if len(a["exports"].get("bills_combined_csv", "").split(",")) > 1
    )
    objects = walk(pc, "/intervals", "intervals", authorizations=auth["uid"])
    expected = set()
    for meter in small_pages.truth.meters():
        if meter["authorization_uid"] == auth["uid"]:
            expected |= set(_uids(small_pages.truth.intervals(meter["uid"], allow_mixed=False)))
    assert set(_uids(objects)) == expected and len(objects) == len(expected)


def test_next_is_absolute_keeps_filters_and_never_the_token(small_pages: Sandbox) -> None:
    with httpx.Client(base_url=small_pages.base_url, trust_env=False) as anon:
        first = anon.get(
            "/meters",
            params={"access_token": small_pages.token, "is_archived": "false", "limit": 2},
        )
        assert first.status_code == 200
        nxt = first.json()["next"]
        assert nxt.startswith(small_pages.base_url + "/meters?")
        query = parse_qs(urlsplit(nxt).query)
        assert query["is_archived"] == ["false"] and query["limit"] == ["2"]
        assert "access_token" not in query and query["after"] == [first.json()["meters"][-1]["uid"]]
        assert anon.get(nxt).status_code == 401  # the token is the client's to add
        second = anon.get(nxt, params={"access_token": small_pages.token})
        assert second.status_code == 200


def test_limit_is_capped_and_last_page_has_null_next(
    small_pages: Sandbox, pc: httpx.Client
) -> None:
    body = pc.get("/authorizations", params={"limit": 1000}).json()
    assert len(body["authorizations"]) == 3  # page_cap=3
    everything = walk(pc, "/meters", "meters", limit=1000)
    last = pc.get("/meters", params={"after": everything[-2]["uid"]}).json()
    assert _uids(last["meters"]) == [everything[-1]["uid"]] and last["next"] is None


def test_limit_one_bill_is_the_latest(small_pages: Sandbox, pc: httpx.Client) -> None:
    meter = next(m for m in small_pages.truth.meters() if m["bill_count"] > 1)
    body = pc.get(
        "/bills", params={"meters": meter["uid"], "limit": 1, "order": "latest_first"}
    ).json()
    assert body["bills"][0]["uid"] == small_pages.truth.bills(meter["uid"])[0]["uid"]
    assert body["next"] is not None


def test_unknown_after_is_invalid(pc: httpx.Client) -> None:
    response = pc.get("/meters", params={"after": "no-such-meter"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_param"
