"""Generated data: deterministic, internally consistent, realistic where it matters."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest

from sandbox import Sandbox, chunks

from .conftest import active_meter, client_for, make_config, meter_kind, walk


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _resolved(objects: list[dict]) -> dict[tuple[float, float], dict]:
    """Per reading span, the reading from the latest-updated object (as consumers resolve)."""
    best: dict[tuple[float, float], tuple[str, dict]] = {}
    for obj in objects:
        for reading in obj["readings"]:
            span = (_ts(reading["start"]), _ts(reading["end"]))
            if span not in best or obj["updated"] > best[span][0]:
                best[span] = (obj["updated"], reading)
    return {span: reading for span, (_, reading) in best.items()}


def _net(reading: dict) -> float:
    return next(d["value"] for d in reading["datapoints"] if d["type"] == "net")


def test_same_seed_same_bytes_other_seed_other_data() -> None:
    def grab(seed: int) -> list[bytes]:
        with Sandbox(make_config(seed=seed)) as sb, client_for(sb) as client:
            meters = client.get("/meters")
            uids = ",".join(m["uid"] for m in meters.json()["meters"])
            pages = [
                client.get("/authorizations", params={"include": "meters"}).content,
                meters.content,
                client.get("/bills", params={"meters": uids}).content,
                client.get("/intervals", params={"meters": uids, "allow_mixed": "true"}).content,
                client.get("/events").content,
            ]
            # `next` links name the server's port, which differs between runs.
            return [page.replace(sb.origin.encode(), b"ORIGIN") for page in pages]

    first, again, other = grab(7), grab(7), grab(8)
    assert first == again
    assert all(a != b for a, b in zip(first, other, strict=True))


def test_readings_are_latest_first_rounded_and_kwh_is_net(shared_sandbox: Sandbox) -> None:
    for kind in ("res15", "res60", "comm15", "solar15", "gas60"):
        meter = active_meter(shared_sandbox, kind)
        objects = shared_sandbox.truth.intervals(meter["uid"], allow_mixed=False)
        duration = 900 if kind.endswith("15") else 3600
        for obj in objects[:20]:
            starts = [_ts(r["start"]) for r in obj["readings"]]
            assert starts == sorted(starts, reverse=True)
            start_s, end_s = obj["uid"].rsplit("-", 2)[2], obj["uid"].rsplit("-", 2)[1]
            assert min(starts) >= int(start_s) and max(starts) + duration <= int(end_s)
            for reading in obj["readings"]:
                assert _ts(reading["end"]) - _ts(reading["start"]) == duration
                values = {d["type"]: d for d in reading["datapoints"]}
                for dp in values.values():
                    assert round(dp["value"], 3) == dp["value"]
                if kind == "gas60":
                    assert reading["kwh"] is None and values["net"]["unit"] == "therms"
                    assert values["net"]["value"] >= 0
                else:
                    assert reading["kwh"] == values["net"]["value"]
                    assert values["net"]["unit"] == "kwh"
                if "max" in values:
                    assert values["max"]["unit"] == "kw"
                    assert values["max"]["value"] >= values["net"]["value"] * 3600 / duration


def test_solar_exports_and_net_is_fwd_minus_rev(shared_sandbox: Sandbox) -> None:
    meter = active_meter(shared_sandbox, "solar15")
    negative = 0
    for obj in shared_sandbox.truth.intervals(meter["uid"]):
        for reading in obj["readings"]:
            v = {d["type"]: d["value"] for d in reading["datapoints"]}
            assert v["fwd"] >= 0 and v["rev"] >= 0
            assert round(v["fwd"] - v["rev"], 3) == v["net"]
            negative += v["net"] < 0
    assert negative > 100


@pytest.mark.parametrize(
    ("day", "offsets", "hours"),
    [("2026-03-08", {"-08:00", "-07:00"}, 23), ("2025-11-02", {"-07:00", "-08:00"}, 25)],
)
def test_dst_days_have_23_or_25_local_hours(day: str, offsets: set[str], hours: int) -> None:
    # 400 days of history include both DST changes before 2026-06-01.
    with Sandbox(make_config(history_days=400, n_meters=5)) as sb, client_for(sb) as client:
        checked = 0
        for meter in sb.truth.meters():
            if not meter["interval_count"] or meter["utility"] not in ("PG&E", "SCE"):
                continue
            native = sb.runtime.world.meters[meter["uid"]]
            next_day = (datetime.fromisoformat(day) + timedelta(days=1)).date().isoformat()
            objects = walk(
                client, "/intervals", "intervals", meters=meter["uid"], start=day, end=next_day
            )
            readings = _resolved(objects)
            start = native.zone.midnight(datetime.fromisoformat(day).date())
            end = native.zone.midnight(datetime.fromisoformat(next_day).date())
            assert end - start == hours * 3600
            missing = chunks.gaps(native, sb.runtime.cfg.gap_rate, start, end)
            expected = chunks.present_starts(native, start, end, native.duration, missing)
            assert sorted(s for s, _ in readings) == expected.tolist()
            assert {r["start"][-6:] for r in readings.values()} <= offsets
            assert all(r["start"].startswith(day) for r in readings.values())
            if not missing:
                assert {r["start"][-6:] for r in readings.values()} == offsets
            checked += 1
        assert checked >= 2


def test_phoenix_has_no_dst(shared_sandbox: Sandbox) -> None:
    srp = [
        m for m in shared_sandbox.truth.meters() if m["utility"] == "SRP" and m["interval_count"]
    ]
    assert srp
    for obj in shared_sandbox.truth.intervals(srp[0]["uid"]):
        assert {r["start"][-6:] for r in obj["readings"]} == {"-07:00"}


def test_interval_count_counts_primary_readings(shared_sandbox: Sandbox) -> None:
    for meter in shared_sandbox.truth.meters():
        if not meter["interval_count"]:
            continue
        primary = _resolved(shared_sandbox.truth.intervals(meter["uid"], allow_mixed=False))
        assert len(primary) == meter["interval_count"]


def test_republished_chunks_overlap_with_later_updates(shared_sandbox: Sandbox) -> None:
    meter = active_meter(shared_sandbox, "res15")
    objects = shared_sandbox.truth.intervals(meter["uid"], allow_mixed=False)
    owners: dict[tuple[float, float], list[dict]] = defaultdict(list)
    for obj in objects:
        for reading in obj["readings"]:
            owners[(_ts(reading["start"]), _ts(reading["end"]))].append(obj)
    overlaps = [objs for objs in owners.values() if len(objs) > 1]
    assert overlaps, "expected re-published readings"
    corrected = 0
    for objs in overlaps:
        assert len({o["uid"] for o in objs}) == len(objs)
        assert len({o["updated"] for o in objs}) == len(objs)
    by_uid = {o["uid"]: o for o in objects}
    for obj in objects:
        spans = {(_ts(r["start"]), _ts(r["end"])): r for r in obj["readings"]}
        for other in owners[next(iter(spans))]:
            if other["uid"] != obj["uid"] and other["updated"] > obj["updated"]:
                newer = {(_ts(r["start"]), _ts(r["end"])): r for r in other["readings"]}
                corrected += sum(_net(spans[s]) != _net(newer[s]) for s in spans if s in newer)
    assert corrected > 0 and by_uid


def test_fill_ins_only_with_allow_mixed(
    shared_sandbox: Sandbox, shared_client: httpx.Client
) -> None:
    meter = active_meter(shared_sandbox, "res15")
    mixed = walk(shared_client, "/intervals", "intervals", meters=meter["uid"], allow_mixed="true")
    plain = walk(shared_client, "/intervals", "intervals", meters=meter["uid"])
    hourly = [
        o for o in mixed if _ts(o["readings"][0]["end"]) - _ts(o["readings"][0]["start"]) == 3600
    ]
    assert hourly and len(mixed) == len(plain) + len(hourly)
    assert {o["uid"] for o in plain} == {o["uid"] for o in mixed} - {o["uid"] for o in hourly}
    primary = _resolved(plain)
    for fill in hourly:
        spans = [(_ts(r["start"]), _ts(r["end"])) for r in fill["readings"]]
        covered = [
            all((s + q * 900, s + q * 900 + 900) in primary for q in range(4)) for s, _ in spans
        ]
        assert not all(covered) and any(covered), "a fill-in covers a gap and readings around it"
        for (s, _), reading, full in zip(spans, fill["readings"], covered, strict=True):
            if full:
                quarter = sum(_net(primary[(s + q * 900, s + q * 900 + 900)]) for q in range(4))
                assert abs(quarter - _net(reading)) < 1e-6


@pytest.fixture(scope="module")
def year_sandbox() -> Iterator[Sandbox]:
    with Sandbox(make_config(history_days=400)) as sb:
        sb.advance(timedelta(days=5))  # let pending re-publications of recent data appear
        yield sb


def test_bills_agree_with_intervals_except_estimated(year_sandbox: Sandbox) -> None:
    sandbox = year_sandbox
    exact = estimated = 0
    for meter in sandbox.truth.meters():
        if not meter["bill_count"]:
            continue
        readings = _resolved(sandbox.truth.intervals(meter["uid"], allow_mixed=True))
        native = 900 if meter_kind(sandbox, meter["uid"]).endswith("15") else 3600
        for bill in sandbox.truth.bills(meter["uid"]):
            start, end = _ts(bill["base"]["bill_start_date"]), _ts(bill["base"]["bill_end_date"])
            inside = {
                span: r for span, r in readings.items() if span[0] >= start and span[1] <= end
            }
            total = sum(_net(r) for r in inside.values())
            fine = {span for span in inside if span[1] - span[0] == native}
            complete = (
                len(fine) == (end - start) / native
                or sum(span[1] - span[0] for span in _without_overlap(inside)) == end - start
            )
            days = (end - start) / 86400
            assert 27.9 < days < 33.1
            notes = [n["type"] for n in bill["notes"]]
            if "estimated" in notes:
                if complete:  # otherwise a gap nobody filled hides part of the usage
                    estimated += 1
                    assert 0.019 < abs(bill["base"]["bill_total_volume"] / total - 1) < 0.051
            elif complete:
                exact += 1
                assert abs(bill["base"]["bill_total_volume"] - _exact(inside, native)) < 1e-6
    assert exact >= 40 and estimated >= 1


def _without_overlap(readings: dict[tuple[float, float], dict]) -> list[tuple[float, float]]:
    spans = sorted(readings)
    merged: list[tuple[float, float]] = []
    for s, e in spans:
        if merged and s < merged[-1][1]:
            continue
        merged.append((s, e))
    return merged


def _exact(readings: dict[tuple[float, float], dict], native: int) -> float:
    """Sum of net over the period: native readings, hourly fill-ins only where no native exist."""
    native_spans = {s for s in readings if s[1] - s[0] == native}
    total = sum(_net(readings[s]) for s in native_spans)
    for span, reading in readings.items():
        if span in native_spans:
            continue
        parts = [
            (span[0] + q * native, span[0] + (q + 1) * native)
            for q in range(int((span[1] - span[0]) // native))
        ]
        if not any(p in native_spans for p in parts):
            total += _net(reading)
    return round(total, 3)


def test_advancing_equals_starting_later_the_same_day() -> None:
    def pages(sb: Sandbox) -> list[bytes]:
        with client_for(sb) as client:
            meters = client.get("/meters")
            uids = ",".join(m["uid"] for m in meters.json()["meters"])
            got = [
                meters.content,
                client.get("/events").content,
                client.get("/authorizations").content,
            ]
            got += [
                client.get(
                    "/intervals", params={"meters": uids, "limit": 1000, "allow_mixed": "true"}
                ).content,
                client.get("/bills", params={"meters": uids}).content,
            ]
            return [page.replace(sb.origin.encode(), b"ORIGIN") for page in got]

    later = make_config().now + timedelta(hours=20)  # type: ignore[operator]
    with Sandbox(make_config()) as early:
        early.advance(timedelta(hours=20))
        advanced = pages(early)
    with Sandbox(make_config(now=later)) as started:
        assert pages(started) == advanced
