"""Filters are ANDed; utility ids are URL-encoded; start/end on bills and intervals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from sandbox import Sandbox

from .conftest import active_meter, walk


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_utility_filter_with_ampersand(
    shared_sandbox: Sandbox, shared_client: httpx.Client
) -> None:
    pge = [a["uid"] for a in shared_sandbox.truth.authorizations() if a["utility"] == "PG&E"]
    assert pge
    # httpx encodes & as %26; the raw query shows it.
    response = shared_client.get("/authorizations", params={"utility": "PG&E"})
    assert "utility=PG%26E" in str(response.request.url)
    assert [a["uid"] for a in response.json()["authorizations"]] == pge
    meters = shared_client.get("/meters", params={"utility": "PG&E,SRP"}).json()["meters"]
    assert {m["utility"] for m in meters} == {"PG&E", "SRP"}
    unencoded = shared_client.get(f"{shared_sandbox.base_url}/authorizations?utility=PG&E=1")
    assert unencoded.json()["authorizations"] == []  # "PG" is not a utility


def test_filters_are_anded(shared_sandbox: Sandbox, shared_client: httpx.Client) -> None:
    meters = shared_sandbox.truth.meters()
    archived = [m["uid"] for m in meters if m["is_archived"]]
    some = [m["uid"] for m in meters[:4]]
    body = shared_client.get(
        "/meters", params={"uids": ",".join(some), "is_archived": "true"}
    ).json()
    assert [m["uid"] for m in body["meters"]] == [u for u in some if u in archived]
    active = shared_client.get("/meters", params={"is_activated": "false"}).json()["meters"]
    assert active and all(not m["is_activated"] for m in active)
    auth = shared_sandbox.truth.authorizations()[0]["uid"]
    by_auth = shared_client.get(
        "/meters", params={"authorizations": auth, "is_activated": "true"}
    ).json()["meters"]
    assert all(m["authorization_uid"] == auth and m["is_activated"] for m in by_auth)
    assert shared_client.get("/meters", params={"uids": "nope"}).json() == {
        "meters": [],
        "next": None,
    }


def test_authorization_flags(shared_sandbox: Sandbox, shared_client: httpx.Client) -> None:
    truth = shared_sandbox.truth.authorizations()
    for flag in ("is_test", "is_archived", "is_revoked", "is_expired", "is_declined"):
        for value in (True, False):
            listed = shared_client.get("/authorizations", params={flag: str(value).lower()}).json()
            expected = [a["uid"] for a in truth if a[flag] == value]
            assert [a["uid"] for a in listed["authorizations"]] == expected, flag
    assert any(a["is_revoked"] for a in truth) and any(a["is_expired"] for a in truth)
    assert any(a["is_declined"] for a in truth) and any(a["is_test"] for a in truth)


def test_bill_start_and_end(shared_sandbox: Sandbox, shared_client: httpx.Client) -> None:
    meter = active_meter(shared_sandbox, "res15")
    bills = shared_sandbox.truth.bills(meter["uid"])
    assert len(bills) >= 3
    middle = bills[1]["base"]
    start_day = middle["bill_start_date"][:10]
    # Short dates are read in the meter's zone: the bill starting at local midnight qualifies.
    since = shared_client.get("/bills", params={"meters": meter["uid"], "start": start_day})
    assert [b["uid"] for b in since.json()["bills"]] == [b["uid"] for b in bills[:2]]
    until = shared_client.get(
        "/bills", params={"meters": meter["uid"], "end": middle["bill_end_date"]}
    )
    assert [b["uid"] for b in until.json()["bills"]] == [b["uid"] for b in bills[1:]]
    # One second later in UTC with a Z suffix excludes the middle bill.
    later = datetime.fromtimestamp(_ts(middle["bill_start_date"]) + 1, UTC)
    after = shared_client.get(
        "/bills", params={"meters": meter["uid"], "start": later.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    )
    assert [b["uid"] for b in after.json()["bills"]] == [bills[0]["uid"]]


def test_interval_window_trims_readings(
    shared_sandbox: Sandbox, shared_client: httpx.Client
) -> None:
    meter = active_meter(shared_sandbox, "comm15")
    start = "2026-05-10T06:00:00.000000-07:00"
    end = (datetime.fromisoformat(start) + timedelta(hours=30)).isoformat()
    objects = walk(
        shared_client, "/intervals", "intervals", meters=meter["uid"], start=start, end=end
    )
    assert objects
    spans = [(_ts(r["start"]), _ts(r["end"])) for o in objects for r in o["readings"]]
    assert all(s >= _ts(start) and e <= _ts(end) for s, e in spans)
    truth = shared_sandbox.truth.intervals(meter["uid"], allow_mixed=False)
    full = {o["uid"]: o for o in truth}
    for obj in objects:
        whole = full[obj["uid"]]
        kept = [
            r
            for r in whole["readings"]
            if _ts(r["start"]) >= _ts(start) and _ts(r["end"]) <= _ts(end)
        ]
        assert obj["readings"] == kept  # trimmed, not re-valued, same order
        assert {k: v for k, v in obj.items() if k != "readings"} == {
            k: v for k, v in whole.items() if k != "readings"
        }
    # Fractional seconds and Z are accepted.
    z = shared_client.get(
        "/intervals",
        params={
            "meters": meter["uid"],
            "start": "2026-05-10T13:00:00.5Z",
            "end": "2026-05-10T14:00:00Z",
        },
    )
    readings = [r for o in z.json()["intervals"] for r in o["readings"]]
    assert len({r["start"] for r in readings}) == 3  # 13:15, 13:30, 13:45 UTC


def test_short_dates_use_each_meters_zone(
    shared_sandbox: Sandbox, shared_client: httpx.Client
) -> None:
    east = next(
        m
        for m in shared_sandbox.truth.meters()
        if m["utility"] == "EVRSRCMA" and m["interval_count"]
    )
    west = next(
        m
        for m in shared_sandbox.truth.meters()
        if m["utility"] in ("PG&E", "SCE") and m["interval_count"]
    )
    objects = walk(
        shared_client,
        "/intervals",
        "intervals",
        meters=f"{east['uid']},{west['uid']}",
        start="2026-05-11",
        end="2026-05-12",
    )
    first = {}
    for obj in objects:
        for reading in obj["readings"]:
            first.setdefault(obj["meter_uid"], set()).add(reading["start"])
    assert min(first[east["uid"]]) == "2026-05-11T00:00:00.000000-04:00"
    assert min(first[west["uid"]]) == "2026-05-11T00:00:00.000000-07:00"
    assert max(first[west["uid"]]).startswith("2026-05-11T23")
