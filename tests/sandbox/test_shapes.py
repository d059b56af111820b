"""Objects have the keys and formats of the real/documented payloads in shared/fixtures."""

from __future__ import annotations

import re

import httpx

from sandbox import Sandbox
from tests.support.fixtures import load_fixture

from .conftest import active_meter

LOCAL_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}[+-]\d{2}:\d{2}$")
UTC_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$")
# Keys the sandbox adds beyond a fixture, each documented in the reference.
EXTRA = {
    "authorization": {"referrals", "exports_list"},  # §5.4 (eddie's copy predates them)
    "meter": {"exports_list"},  # §5.5
    "bill": {"notes"},  # §5.6: the docs example has no notes
}


def fixture(name: str) -> object:
    return load_fixture(name)


def test_authorization_keys(shared_sandbox: Sandbox, shared_client: httpx.Client) -> None:
    expected = set(fixture("authorization-eddie-1.json"))  # type: ignore[arg-type]
    auth = shared_client.get("/authorizations").json()["authorizations"][0]
    assert set(auth) == expected | EXTRA["authorization"]
    assert UTC_TS.match(auth["created"]) and UTC_TS.match(auth["status_ts"])
    assert set(auth["customer_signature"]) == {"type", "ts", "full_name"}
    for note in auth["notes"]:
        assert set(note) >= {"type", "msg", "ts"}
    listed = fixture("authorizations-ryoung-1.json")["authorizations"][0]  # type: ignore[index]
    with_meters = shared_client.get("/authorizations", params={"include": "meters"}).json()
    embedded = with_meters["authorizations"][0]["meters"]
    assert set(embedded) == set(listed["meters"]) == {"meters", "next"}
    assert embedded["next"] is None


def test_meter_keys(shared_client: httpx.Client) -> None:
    sample = fixture("meters-ryoung-1.json")["meters"][0]  # type: ignore[index]
    meters = shared_client.get("/meters").json()["meters"]
    for meter in meters:
        assert set(meter) == set(sample) | EXTRA["meter"]
        assert set(meter["base"]) == set(sample["base"])
        assert set(meter["ongoing_monitoring"]) == set(sample["ongoing_monitoring"])
        assert UTC_TS.match(meter["created"]) and UTC_TS.match(meter["status_ts"])
        for span in meter["interval_coverage"] + meter["bill_coverage"]:
            assert len(span) == 2 and all(LOCAL_TS.match(t) for t in span)
    collected = next(m for m in meters if m["is_activated"])
    assert set(collected["exports"]) == set(sample["exports"])
    assert collected["interval_count"] > 0 and collected["bill_count"] > 0


def test_never_collected_meter_looks_like_the_live_one(shared_client: httpx.Client) -> None:
    live = fixture("authorizations-ryoung-1.json")["authorizations"][0]["meters"]["meters"][0]  # type: ignore[index]
    meter = next(m for m in shared_client.get("/meters").json()["meters"] if not m["is_activated"])
    assert meter["status"] == live["status"] == "updated"
    assert meter["status_message"] == live["status_message"]
    assert meter["bill_count"] == meter["interval_count"] == 0
    assert meter["bill_coverage"] == meter["interval_coverage"] == []
    assert meter["exports"] == {} and meter["exports_list"] == []
    assert [n["type"] for n in meter["notes"]] == [n["type"] for n in live["notes"]]
    assert re.fullmatch(
        r"Data appears to be available through \d{4}-\d{2}-\d{2}", meter["notes"][0]["msg"]
    )


def test_bill_keys(shared_sandbox: Sandbox, shared_client: httpx.Client) -> None:
    sample = fixture("bill-docs-1.json")
    listed = fixture("bills-ryoung-1.json")["bills"][0]  # type: ignore[index]
    meter = active_meter(shared_sandbox, "res15")
    bill = shared_client.get("/bills", params={"meters": meter["uid"]}).json()["bills"][0]
    assert set(bill) == set(sample) | EXTRA["bill"]  # type: ignore[arg-type]
    assert set(bill["base"]) == set(listed["base"])
    assert bill["blocks"] == sample["blocks"]  # type: ignore[index]
    assert [set(li) for li in bill["line_items"]] == [set(sample["line_items"][0])] * len(  # type: ignore[index]
        bill["line_items"]
    )
    assert all(set(t) == set(sample["tiers"][0]) for t in bill["tiers"])  # type: ignore[index]
    tax = bill["line_items"][-1]
    assert tax["volume"] is None and tax["rate"] is None and tax["unit"] is None
    for item in bill["line_items"]:
        assert UTC_TS.match(item["start"]) and UTC_TS.match(item["end"])
    base = bill["base"]
    for name in ("bill_start_date", "bill_end_date", "bill_statement_date"):
        assert LOCAL_TS.match(base[name]) and "T00:00:00.000000" in base[name]
    assert base["bill_total_kwh"] == base["bill_total_volume"] and base["bill_total_unit"] == "kwh"
    assert bill["sources"][0]["type"] == "pdf" and bill["sources"][0]["raw_url"].startswith("https")
    assert round(sum(li["cost"] for li in bill["line_items"]), 2) == base["bill_total_cost"]


def test_interval_keys_match_the_live_payload(
    shared_sandbox: Sandbox, shared_client: httpx.Client
) -> None:
    live = fixture("intervals-pyiu-1.json")[0]  # type: ignore[index]
    meter = active_meter(shared_sandbox, "res15")
    body = shared_client.get("/intervals", params={"meters": meter["uid"], "limit": 3}).json()
    assert set(body) == {"intervals", "next"}
    for obj in body["intervals"]:
        assert list(obj) == list(live)  # same keys in the same order
        assert set(obj["base"]) == set(live["base"])
        assert re.fullmatch(rf"{meter['uid']}-\d+-\d+", obj["uid"])
        assert UTC_TS.match(obj["created"]) and UTC_TS.match(obj["updated"])
        reading = obj["readings"][0]
        assert set(reading) == set(live["readings"][0])
        assert [d["type"] for d in reading["datapoints"]] == [
            d["type"] for d in live["readings"][0]["datapoints"]
        ]  # net, max, fwd
        for dp in reading["datapoints"]:
            assert set(dp) == set(live["readings"][0]["datapoints"][0])
            assert dp["meter_number"] == meter["base"]["meter_numbers"][0]
        assert LOCAL_TS.match(reading["start"]) and LOCAL_TS.match(reading["end"])


def test_event_form_and_action_results(
    shared_sandbox: Sandbox, shared_client: httpx.Client
) -> None:
    docs_event = fixture("webhook-docs-1.json")["events"][0]  # type: ignore[index]
    events = shared_client.get("/events").json()["events"]
    by_type = {e["type"]: e for e in events}
    assert set(by_type["authorization_created"]) == set(docs_event)
    meter_event = fixture("webhook-ryoung-1.json")["events"][0]  # type: ignore[index]
    assert set(by_type["meter_intervals_added"]) == set(meter_event)
    assert set(by_type["form_created"]) == set(docs_event) - {"authorization_uid"} | {"form_uid"}
    form = shared_client.get("/forms").json()["forms"][0]
    assert set(form) == set(fixture("form-docs-1.json"))  # type: ignore[arg-type]
    assert set(shared_client.get("/templates").json()["templates"][0]) >= {
        "uid",
        "created",
        "updated",
        "user_email",
        "user_uid",
        "disabled",
        "portal",
        "base_url",
        "redirect_uris",
        "company_logo",
        "company_name",
    }


def test_action_results(sandbox: Sandbox, client: httpx.Client) -> None:
    meter = next(m for m in sandbox.truth.meters() if not m["is_activated"])["uid"]
    collected = client.post("/meters/historical-collection", json={"meters": [meter]}).json()
    assert set(collected) == set(fixture("historical-collection-docs-1.json"))  # type: ignore[arg-type]
    assert collected["collection_duration"] == 12
    monitored = client.post(
        "/meters/ongoing-monitoring", json={"meters": [meter], "frequency": "daily"}
    ).json()
    assert set(monitored) == set(fixture("ongoing-monitoring-docs-1.json"))  # type: ignore[arg-type]
