"""test-submit: every documented scenario, found again through its referral."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from sandbox import Sandbox


def _submit(client: httpx.Client, scenario: str, utility: str = "DEMO") -> str:
    form = client.post("/forms", json={"utility": utility}).json()
    response = client.post(
        f"/forms/{form['uid']}/test-submit", json={"utility": utility, "scenario": scenario}
    )
    assert response.status_code == 200, response.text
    return response.json()["referral"]


def _find(client: httpx.Client, referral: str) -> dict:
    body = client.get("/authorizations", params={"referrals": referral, "include": "meters"}).json()
    assert len(body["authorizations"]) == 1
    return body["authorizations"][0]


def _event_types(sb: Sandbox, auth_uid: str) -> list[str]:
    return [
        e["type"] for e in reversed(sb.truth.events()) if e.get("authorization_uid") == auth_uid
    ]


@pytest.mark.parametrize(
    ("scenario", "n_meters", "status", "note"),
    [
        ("residential", 1, "updated", "access_valid"),
        ("commercial", 4, "updated", "access_valid"),
        ("badlogin", 0, "errored", "access_invalid"),
        ("websitedown", 0, "errored", "retrying"),
        ("utilityerror", 0, "errored", "utility_error"),
        ("badlogin_after", 1, "updated", "access_valid"),
        ("websitedown_after", 1, "updated", "access_valid"),
    ],
)
def test_scenario_outcome(
    sandbox: Sandbox, client: httpx.Client, scenario: str, n_meters: int, status: str, note: str
) -> None:
    referral = _submit(client, scenario, "PG&E")
    pending = _find(client, referral)
    assert pending["status"] == "pending" and pending["is_test"] is True
    assert pending["referrals"] == [referral] and pending["meters"]["meters"] == []
    assert pending["utility"] == "PG&E"
    sandbox.advance(timedelta(minutes=5))
    auth = _find(client, referral)
    assert auth["status"] == status
    assert note in [n["type"] for n in auth["notes"]]
    meters = auth["meters"]["meters"]
    assert len(meters) == n_meters
    for meter in meters:
        assert (
            meter["is_activated"] is False
            and meter["status_message"] == "Service exists, but no logs yet."
        )
        assert meter["base"]["service_class"] == (
            "comm-electric" if scenario == "commercial" else "res-electric"
        )
    events = _event_types(sandbox, auth["uid"])
    assert events[:2] == ["authorization_created", "authorization_update_started"]
    final = (
        "authorization_update_finished_successful"
        if status == "updated"
        else "authorization_update_finished_errored"
    )
    assert events[-1] == final
    assert events.count("meter_created") == n_meters


@pytest.mark.parametrize(
    ("scenario", "note"),
    [("badlogin_after", "access_invalid"), ("websitedown_after", "bills_errored")],
)
def test_after_scenarios_fail_at_collection(
    sandbox: Sandbox, client: httpx.Client, scenario: str, note: str
) -> None:
    referral = _submit(client, scenario)
    sandbox.advance(timedelta(minutes=5))
    meter = _find(client, referral)["meters"]["meters"][0]
    started = client.post("/meters/historical-collection", json={"meters": [meter["uid"]]})
    assert started.status_code == 200
    assert client.get(f"/meters/{meter['uid']}").json()["status"] == "pending"
    sandbox.advance(timedelta(minutes=10))
    after = client.get(f"/meters/{meter['uid']}").json()
    assert after["status"] == "errored" and [n["type"] for n in after["notes"]] == [note]
    assert after["bill_count"] == 0 and after["interval_count"] == 0
    types = [
        e["type"] for e in reversed(sandbox.truth.events()) if e.get("meter_uid") == meter["uid"]
    ]
    assert types[-2:] == [
        "meter_historical_collection_started",
        "meter_historical_collection_finished_errored",
    ]
    assert client.get("/intervals", params={"meters": meter["uid"]}).json()["intervals"] == []


def test_unknown_scenario_or_utility_is_invalid(client: httpx.Client) -> None:
    form = client.post("/forms").json()
    bad = client.post(
        f"/forms/{form['uid']}/test-submit", json={"utility": "DEMO", "scenario": "moon"}
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_param"
    bad = client.post(
        f"/forms/{form['uid']}/test-submit", json={"utility": "NOPE", "scenario": "residential"}
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_param"
    missing = client.post(f"/forms/{form['uid']}/test-submit", json={"utility": "DEMO"})
    assert missing.status_code == 400 and missing.json()["error"] == "required_param_missing"
    assert (
        client.post(
            "/forms/nope/test-submit", json={"utility": "DEMO", "scenario": "residential"}
        ).status_code
        == 404
    )


def test_test_authorizations_can_be_deleted(sandbox: Sandbox, client: httpx.Client) -> None:
    referral = _submit(client, "residential")
    sandbox.advance(timedelta(minutes=5))
    auth = _find(client, referral)
    meter_uid = auth["meters"]["meters"][0]["uid"]
    deleted = client.delete(f"/authorizations/{auth['uid']}")
    assert deleted.status_code == 200 and deleted.json() == {"success": True}
    assert client.get(f"/authorizations/{auth['uid']}").status_code == 404
    assert client.get(f"/meters/{meter_uid}").status_code == 404


def test_forms_crud(sandbox: Sandbox, client: httpx.Client) -> None:
    created = client.post(
        "/forms", json={"customer_email": "a@example.com", "scope": {"expires": "until_revoked"}}
    )
    assert created.status_code == 200
    form = created.json()
    assert form["customer_email"] == "a@example.com" and form["utility"] == ""
    assert client.get(f"/forms/{form['uid']}").json() == form
    patched = client.patch(f"/forms/{form['uid']}", json={"is_archived": True, "utility": "SCE"})
    assert patched.json()["is_archived"] is True and patched.json()["utility"] == "SCE"
    archived = client.get("/forms", params={"is_archived": "true"}).json()["forms"]
    assert [f["uid"] for f in archived] == [form["uid"]]
    referral = client.post(
        f"/forms/{form['uid']}/test-submit", json={"utility": "SCE", "scenario": "residential"}
    ).json()["referral"]
    auth = _find(client, referral)
    assert auth["form_uid"] == form["uid"] and auth["expires"] == "until_revoked"
    assert auth["is_expired"] is False
    assert "form_created" in [
        e["type"] for e in sandbox.truth.events() if e.get("form_uid") == form["uid"]
    ]
    assert client.delete(f"/forms/{form['uid']}").json() == {"success": True}
    assert client.get(f"/forms/{form['uid']}").status_code == 404
    disabled = client.post("/forms", json={"disabled": True}).json()
    refused = client.post(
        f"/forms/{disabled['uid']}/test-submit", json={"utility": "DEMO", "scenario": "residential"}
    )
    assert refused.status_code == 400
