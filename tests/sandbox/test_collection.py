"""historical-collection and ongoing-monitoring over an advancing clock, revoke and expire."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import httpx

from sandbox import Sandbox

from .conftest import walk


def _meter_events(sb: Sandbox, meter_uid: str) -> list[str]:
    return [e["type"] for e in reversed(sb.truth.events()) if e.get("meter_uid") == meter_uid]


def _inactive(sb: Sandbox) -> dict:
    return next(m for m in sb.truth.meters() if not m["is_activated"])


def test_historical_collection_goes_pending_then_publishes(
    sandbox: Sandbox, client: httpx.Client
) -> None:
    meter = _inactive(sandbox)
    uid = meter["uid"]
    assert meter["bill_count"] == meter["interval_count"] == 0
    assert meter["bill_coverage"] == meter["interval_coverage"] == []
    assert client.get("/bills", params={"meters": uid}).json()["bills"] == []
    response = client.post(
        "/meters/historical-collection", json={"meters": [uid], "collection_duration": 3}
    )
    assert response.json() == {"success": True, "meters": [uid], "collection_duration": 3}
    pending = client.get(f"/meters/{uid}").json()
    assert pending["status"] == "pending"
    assert re.fullmatch(r"Found bill \d+ of \d+! Parsing\.\.\.", pending["status_message"])
    sandbox.advance(timedelta(minutes=2))
    assert client.get(f"/meters/{uid}").json()["status"] == "pending"
    assert client.get("/intervals", params={"meters": uid}).json()["intervals"] == []
    sandbox.advance(timedelta(minutes=4))
    done = client.get(f"/meters/{uid}").json()
    assert done["status"] == "updated" and done["is_activated"] is True
    assert done["bill_count"] in (2, 3) and done["interval_count"] > 80 * 24
    assert [n["type"] for n in done["notes"]] == [
        "access_valid",
        "meters_full",
        "bills_full",
        "intervals_full",
    ]
    first = datetime.fromisoformat(done["interval_coverage"][0][0])
    assert (sandbox.now() - first).days in range(88, 94) and first.hour == 0
    assert _meter_events(sandbox, uid)[-4:] == [
        "meter_historical_collection_started",
        "meter_bills_added",
        "meter_intervals_added",
        "meter_historical_collection_finished_successful",
    ]
    bills = walk(client, "/bills", "bills", meters=uid)
    assert len(bills) == done["bill_count"]
    readings = sum(len(i["readings"]) for i in walk(client, "/intervals", "intervals", meters=uid))
    assert readings == done["interval_count"]
    # A longer collection later fills in the older months only.
    client.post("/meters/historical-collection", json={"meters": [uid], "collection_duration": 6})
    sandbox.advance(timedelta(minutes=10))
    longer = client.get(f"/meters/{uid}").json()
    assert longer["interval_coverage"][0][0] < done["interval_coverage"][0][0]
    assert longer["bill_count"] > done["bill_count"]


def test_daily_monitoring_adds_data_as_the_clock_moves(
    sandbox: Sandbox, client: httpx.Client
) -> None:
    meter = next(
        m
        for m in sandbox.truth.meters()
        if m["is_activated"] and m["ongoing_monitoring"]["frequency"] == "daily"
    )
    uid = meter["uid"]
    before_count = meter["interval_count"]
    before_end = meter["interval_coverage"][-1][1]
    objects_before = len(sandbox.truth.intervals(uid, allow_mixed=False))
    next_refresh = datetime.fromisoformat(meter["ongoing_monitoring"]["next_refresh"])
    sandbox.advance(next_refresh - sandbox.now() - timedelta(seconds=1))
    assert client.get(f"/meters/{uid}").json()["interval_count"] == before_count
    sandbox.advance(timedelta(seconds=2))
    after = client.get(f"/meters/{uid}").json()
    assert after["interval_count"] > before_count
    assert after["interval_coverage"][-1][1] > before_end
    assert len(sandbox.truth.intervals(uid, allow_mixed=False)) == objects_before + 1
    assert _meter_events(sandbox, uid)[-1] == "meter_intervals_added"
    sandbox.advance(timedelta(days=40))
    later = client.get(f"/meters/{uid}").json()
    assert later["bill_count"] > meter["bill_count"]
    assert "meter_bills_added" in _meter_events(sandbox, uid)


def test_monitoring_frequencies_and_off(sandbox: Sandbox, client: httpx.Client) -> None:
    inactive = _inactive(sandbox)["uid"]
    started = sandbox.now()
    response = client.post(
        "/meters/ongoing-monitoring", json={"meters": [inactive], "frequency": "weekly"}
    )
    assert response.json() == {
        "success": True,
        "meters": [inactive],
        "frequency": "weekly",
        "prepay": "month_to_month",
    }
    meter = client.get(f"/meters/{inactive}").json()
    assert meter["ongoing_monitoring"]["frequency"] == "weekly"
    assert datetime.fromisoformat(
        meter["ongoing_monitoring"]["next_refresh"]
    ) == started + timedelta(days=7)
    assert (
        client.get("/meters", params={"is_monitored": "true", "uids": inactive}).json()["meters"][
            0
        ]["uid"]
        == inactive
    )
    sandbox.advance(timedelta(days=6))
    assert client.get(f"/meters/{inactive}").json()["interval_count"] == 0
    sandbox.advance(timedelta(days=1, seconds=1))
    meter = client.get(f"/meters/{inactive}").json()
    # No backfill: the first refresh publishes only data from the subscription on.
    assert meter["is_activated"] is True and 0 < meter["interval_count"] <= 7 * 96
    first = datetime.fromisoformat(meter["interval_coverage"][0][0])
    assert first >= started - timedelta(hours=7)
    off = client.post("/meters/ongoing-monitoring", json={"meters": [inactive], "frequency": "off"})
    assert off.json()["meters"] == [inactive]
    count = client.get(f"/meters/{inactive}").json()["interval_count"]
    sandbox.advance(timedelta(days=15))
    stopped = client.get(f"/meters/{inactive}").json()
    assert stopped["interval_count"] == count
    assert stopped["ongoing_monitoring"] == {
        "frequency": "off",
        "prepay": None,
        "next_prepay": None,
        "next_refresh": None,
        "fixed_refresh_day": None,
    }
    monthly = client.post(
        "/meters/ongoing-monitoring",
        json={"meters": [inactive], "frequency": "monthly", "fixed_refresh_day": 31},
    )
    assert monthly.json()["fixed_refresh_day"] == 31
    nxt = datetime.fromisoformat(
        client.get(f"/meters/{inactive}").json()["ongoing_monitoring"]["next_refresh"]
    )
    assert nxt.day == 30 and nxt.month == 6  # June has 30 days: the last day runs instead


def test_revoke_deletes_meters_and_emits_event(sandbox: Sandbox, client: httpx.Client) -> None:
    auth = next(
        a
        for a in sandbox.truth.authorizations()
        if a["exports"] and not a["is_revoked"] and not a["is_expired"]
    )
    meters = [m["uid"] for m in sandbox.truth.meters() if m["authorization_uid"] == auth["uid"]]
    revoked = client.post(f"/authorizations/{auth['uid']}/revoke").json()
    assert revoked["is_revoked"] is True
    assert revoked["revoked"] == sandbox.now().isoformat(timespec="microseconds")
    for uid in meters:
        assert client.get(f"/meters/{uid}").status_code == 404
    assert client.get("/intervals", params={"meters": ",".join(meters)}).json()["intervals"] == []
    assert client.get("/bills", params={"authorizations": auth["uid"]}).json()["bills"] == []
    listed = client.get("/authorizations", params={"is_revoked": "true", "include": "meters"})
    assert auth["uid"] in [a["uid"] for a in listed.json()["authorizations"]]
    assert sandbox.truth.events()[0]["type"] == "authorization_revoked"
    sandbox.advance(timedelta(hours=1))
    again = client.post(f"/authorizations/{auth['uid']}/revoke").json()
    assert again["revoked"] == revoked["revoked"]  # the earliest revocation is kept


def test_expire_stops_monitoring(sandbox: Sandbox, client: httpx.Client) -> None:
    auth = next(
        a
        for a in sandbox.truth.authorizations()
        if a["exports"] and not a["is_revoked"] and not a["is_expired"]
    )
    meter = next(
        m
        for m in sandbox.truth.meters()
        if m["authorization_uid"] == auth["uid"] and m["ongoing_monitoring"]["frequency"] == "daily"
    )
    sandbox.expire(auth["uid"])
    assert client.get(f"/authorizations/{auth['uid']}").json()["is_expired"] is True
    assert sandbox.truth.events()[0]["type"] == "authorization_expired"
    sandbox.advance(timedelta(days=3))
    assert client.get(f"/meters/{meter['uid']}").json()["interval_count"] == meter["interval_count"]


def test_patch_archives(sandbox: Sandbox, client: httpx.Client) -> None:
    auth = sandbox.truth.authorizations()[0]
    patched = client.patch(
        f"/authorizations/{auth['uid']}", json={"is_archived": True, "nickname": "north site"}
    ).json()
    assert patched["is_archived"] is True and patched["nickname"] == "north site"
    meter = sandbox.truth.meters()[0]
    assert (
        client.patch(f"/meters/{meter['uid']}", json={"is_archived": True}).json()["is_archived"]
        is True
    )
    archived = client.get("/meters", params={"is_archived": "true"}).json()["meters"]
    assert meter["uid"] in [m["uid"] for m in archived]
