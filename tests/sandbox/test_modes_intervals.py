"""Interval readings: `start` on the object's own start, objects that grow in place and re-key."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest

from sandbox import Sandbox

from .conftest import active_meter, client_for, make_config, walk


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _first(obj: dict) -> datetime:
    return min(_ts(r["start"]) for r in obj["readings"])


def _uid_parts(uid: str) -> tuple[str, int, int]:
    meter, end, start = uid.rsplit("-", 2)
    return meter, int(start), int(end)


def _is_correction(uid: str) -> bool:
    """A re-publication: a noon-to-noon UTC span of a day (less a reading if it had to differ
    from a chunk's uid)."""
    _, start, end = _uid_parts(uid)
    return start % 86400 == 43200 and end - start in (86400, 86400 - 900)


def _latest_primary(client: httpx.Client, meter: str) -> dict:
    return client.get("/intervals", params={"meters": meter, "limit": 1}).json()["intervals"][0]


@pytest.fixture(scope="module")
def world() -> Iterator[Sandbox]:
    with Sandbox(make_config()) as sb:
        yield sb


@pytest.fixture
def api(world: Sandbox) -> Iterator[httpx.Client]:
    with client_for(world) as client:
        yield client
    world.set_modes(start_filters_objects=False)


def test_start_selects_whole_objects_by_their_own_start(world: Sandbox, api: httpx.Client) -> None:
    meter = active_meter(world, "comm15")["uid"]
    truth = {o["uid"]: o for o in world.truth.intervals(meter, allow_mixed=False)}
    inside = next(o for o in truth.values() if len(o["readings"]) > 300 and _first(o).day > 3)
    readings = sorted(inside["readings"], key=lambda r: _ts(r["start"]))
    start = readings[2]["start"]  # the object began two readings earlier
    trimmed = {o["uid"]: o for o in walk(api, "/intervals", "intervals", meters=meter, start=start)}
    assert len(trimmed[inside["uid"]]["readings"]) == len(readings) - 2
    world.set_modes(start_filters_objects=True)
    whole = walk(api, "/intervals", "intervals", meters=meter, start=start)
    assert inside["uid"] not in {o["uid"] for o in whole}
    assert {o["uid"] for o in whole} == {uid for uid, o in truth.items() if _first(o) >= _ts(start)}
    assert all(o == truth[o["uid"]] for o in whole)  # untrimmed, identical to the truth
    # From the object's first reading it is listed, whole; `end` still trims the other side.
    end = readings[-5]["end"]
    exact = walk(api, "/intervals", "intervals", meters=meter, start=readings[0]["start"], end=end)
    listed = {o["uid"]: o for o in exact}
    assert len(listed[inside["uid"]]["readings"]) == len(readings) - 4
    assert all(_ts(r["end"]) <= _ts(end) for o in exact for r in o["readings"])


def _collected_daily(sb: Sandbox, kind: str) -> str:
    meter = active_meter(sb, kind)
    assert meter["ongoing_monitoring"]["frequency"] == "daily"
    return str(meter["uid"])


def test_default_refreshes_publish_new_objects_and_keep_every_uid() -> None:
    with Sandbox(make_config()) as sb, client_for(sb) as client:
        meter = _collected_daily(sb, "res15")
        before = {o["uid"] for o in walk(client, "/intervals", "intervals", meters=meter)}
        sb.advance(timedelta(days=2))
        after = {o["uid"] for o in walk(client, "/intervals", "intervals", meters=meter)}
        assert before < after and len(after - before) >= 2


def test_growing_objects_extend_in_place_rekey_then_start_anew() -> None:
    with Sandbox(make_config(growing_objects=True)) as sb, client_for(sb) as client:
        meter = _collected_daily(sb, "res15")
        first = _latest_primary(client, meter)
        counts = sb.truth.meter_counts(meter)
        sb.advance(timedelta(days=1))
        grown = _latest_primary(client, meter)
        _, start, end = _uid_parts(first["uid"])
        _, grown_start, grown_end = _uid_parts(grown["uid"])
        assert grown_start == start and grown_end == end + 86400
        assert grown["created"] == first["created"] and grown["updated"] > first["updated"]
        old = {(r["start"], r["end"]): r for r in first["readings"]}
        new = {(r["start"], r["end"]): r for r in grown["readings"]}
        assert old.items() <= new.items() and len(new) == len(old) + 96
        listed = {o["uid"] for o in walk(client, "/intervals", "intervals", meters=meter)}
        assert first["uid"] not in listed and grown["uid"] in listed
        # A cursor naming the vanished uid still pages (its sort key is in the uid).
        after_old = client.get("/intervals", params={"meters": meter, "after": first["uid"]})
        assert after_old.status_code == 200 and after_old.json()["intervals"]
        # The listing's counts follow the published readings, and the truth holds each once.
        now = sb.truth.meter_counts(meter)
        assert now["interval_count"] == counts["interval_count"] + 96
        assert now["interval_coverage"][-1][1] == grown["readings"][0]["end"]
        starts = [r["start"] for r in sb.truth.readings(meter) if r["type"] == "net"]
        assert len(starts) == len(set(starts)) == now["interval_count"]
        # It grows until it spans its 4-day chunk; then a new object starts at its end.
        for _ in range(5):
            sb.advance(timedelta(days=1))
            latest = _latest_primary(client, meter)
            if _uid_parts(latest["uid"])[1] != start:
                break
        closed = next(
            o
            for o in walk(client, "/intervals", "intervals", meters=meter, limit=5)
            if _uid_parts(o["uid"])[1] == start
        )
        _, _, closed_end = _uid_parts(closed["uid"])
        assert _uid_parts(latest["uid"])[1] == closed_end
        assert closed_end - start in (4 * 86400 - 3600, 4 * 86400, 4 * 86400 + 3600)
        assert _ts(closed["updated"]) - _ts(closed["created"]) > timedelta(days=2)


def test_growing_objects_span_the_configured_chunk_length() -> None:
    cfg = make_config(growing_objects=True, growing_chunk_days=20, n_meters=3)
    with Sandbox(cfg) as sb:
        meter = _collected_daily(sb, "res15")
        objects = [o for o in sb.truth.intervals(meter, allow_mixed=False)]
        spans = [_uid_parts(o["uid"])[2] - _uid_parts(o["uid"])[1] for o in objects]
        assert max(spans) <= 20 * 86400 + 3600 and max(spans) >= 20 * 86400 - 3600
        assert sum(1 for s in spans if s > 19 * 86400) >= 3


def test_start_on_objects_with_growing_objects_loses_the_appended_readings() -> None:
    """The trap issue 11 describes: a cursor at the last reading received never sees what is
    appended to an object that started before it. The truth shows the shortfall."""
    cfg = make_config(growing_objects=True, start_filters_objects=True)
    with Sandbox(cfg) as sb, client_for(sb) as client:
        meter = _collected_daily(sb, "res15")
        objects = walk(client, "/intervals", "intervals", meters=meter)
        cursor = max((r["end"] for o in objects for r in o["readings"]), key=_ts)
        sb.advance(timedelta(days=1))
        later = walk(client, "/intervals", "intervals", meters=meter, start=cursor)
        assert later == []  # the grown object starts before the cursor
        expected = {(r["start"], r["type"]) for r in sb.truth.readings(meter)}
        loaded = {
            (r["start"], d["type"]) for o in objects for r in o["readings"] for d in r["datapoints"]
        }
        assert len(expected - loaded) == 96 * 3  # a day of net, max and fwd readings
        sb.set_modes(start_filters_objects=False)  # the default reading trims instead
        trimmed = walk(client, "/intervals", "intervals", meters=meter, start=cursor)
        loaded |= {
            (r["start"], d["type"]) for o in trimmed for r in o["readings"] for d in r["datapoints"]
        }
        assert expected <= loaded


def test_growing_objects_are_corrected_only_after_the_corrected_span_was_published() -> None:
    """Re-publications correct a span 1-3.5 days after it was complete; in a growing object the
    span completes when the object grows over it, not when the object was created."""
    cfg = make_config(growing_objects=True, republish_rate=0.5)
    with Sandbox(cfg) as sb, client_for(sb) as client:
        meter = _collected_daily(sb, "res15")
        reached: dict[int, list[tuple[int, datetime]]] = {}  # object start -> (end, updated)
        corrections: dict[str, dict] = {}
        for _ in range(8):
            for obj in walk(client, "/intervals", "intervals", meters=meter):
                _, start, end = _uid_parts(obj["uid"])
                if _is_correction(obj["uid"]):
                    corrections[obj["uid"]] = obj
                else:
                    reached.setdefault(start, []).append((end, _ts(obj["updated"])))
            sb.advance(timedelta(days=1))
        checked = 0
        for uid, obj in corrections.items():
            _, start, end = _uid_parts(uid)
            times = []
            for owner, versions in reached.items():
                final = max(e for e, _ in versions)
                if owner >= end or final <= start:
                    continue  # another part of the meter's data
                need = min(end, final)
                if min(versions)[0] >= need:
                    break  # that part was published before we looked: its moment is unknown
                times.append(min(updated for e, updated in versions if e >= need))
            else:
                assert _ts(obj["created"]) >= max(times) + timedelta(days=1), uid
                checked += 1
        assert checked >= 2


def test_an_object_that_ends_on_its_chunk_boundary_grows_no_further() -> None:
    """Refreshes at 06:05 Los Angeles time publish up to local midnight, so every fourth one
    ends exactly on a chunk boundary; the next refresh must start a new object there."""
    with Sandbox(make_config(growing_objects=True)) as sb, client_for(sb) as client:
        sb.advance(to=datetime.fromisoformat("2026-06-01T12:50:00+00:00"))
        form = client.post("/forms").json()
        client.post(
            f"/forms/{form['uid']}/test-submit",
            json={"utility": "DEMO", "scenario": "residential"},
        )
        sb.advance(timedelta(minutes=2))
        (auth,) = client.get("/authorizations", params={"forms": form["uid"]}).json()[
            "authorizations"
        ]
        meter = client.get("/meters", params={"authorizations": auth["uid"]}).json()["meters"][0]
        body = {"meters": [meter["uid"]]}
        assert client.post("/meters/historical-collection", json=body).status_code == 200
        sb.advance(to=datetime.fromisoformat("2026-06-01T13:05:00+00:00"))
        monitoring = {**body, "frequency": "daily"}
        assert client.post("/meters/ongoing-monitoring", json=monitoring).status_code == 200
        sb.advance(timedelta(days=10))
        recent = [
            o
            for o in walk(client, "/intervals", "intervals", meters=meter["uid"])
            if _ts(o["updated"]) > datetime.fromisoformat("2026-06-02T00:00:00+00:00")
            and not _is_correction(o["uid"])
        ]
        spans = sorted(_uid_parts(o["uid"])[1:] for o in recent)
        assert len(spans) >= 2
        for (start, end), (next_start, _) in zip(spans, spans[1:], strict=False):
            assert end == next_start and end - start == 4 * 86400  # closed on the boundary
        assert spans[-1][1] - spans[-1][0] <= 4 * 86400
