"""Interval pages as the sandbox serves them, decoded by the loader, against the independent truth
(tests/support/truth.py): every column of every row, on the fast (Arrow) path and on the
tolerant path, across the meter kinds, DST changes, fill-ins and re-publications."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pyarrow as pa
import pytest

from sandbox import Sandbox, SandboxConfig
from sources.utilityapi.readings import (
    READINGS_SCHEMA,
    ReadingProblems,
    _Layout,
    decode_intervals_page,
    readings_table,
    unique_readings,
)
from tests.support.truth import READINGS_KEY, compare, interval_rows

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)  # 21 days back include the spring-forward


@pytest.fixture(scope="module")
def pages() -> Iterator[list[bytes]]:
    """Every intervals page of one meter of each kind, 10 objects a page, as bytes."""
    config = SandboxConfig(seed=7, scale="test", now=NOW, rate_limit=None, history_days=21)
    found: list[bytes] = []
    with (
        Sandbox(config) as sb,
        httpx.Client(headers={"Authorization": f"Bearer {sb.token}"}, trust_env=False) as client,
    ):
        kinds: dict[str, dict] = {}
        for meter in sb.truth.meters():
            if meter["interval_count"]:
                kinds.setdefault(sb.runtime.world.meters[meter["uid"]].kind.name, meter)
        assert len(kinds) == 5  # residential 15/60 min, commercial, solar, gas
        for meter in kinds.values():
            url: str | None = f"{sb.base_url}/intervals"
            params: dict | None = {"meters": meter["uid"], "limit": 10, "allow_mixed": "true"}
            while url:
                response = client.get(url, params=params).raise_for_status()
                found.append(response.content)
                url, params = response.json()["next"], None
    yield found


def objects_of(content: bytes) -> list[dict]:
    return json.loads(content)["intervals"]


def rows(table: pa.Table) -> list[dict]:
    assert table.schema.equals(READINGS_SCHEMA)
    return table.to_pylist()


def test_the_pages_cover_what_the_loader_must_get_right(pages: list[bytes]) -> None:
    expected = [r for p in pages for r in interval_rows(objects_of(p))]
    assert {r["unit"] for r in expected} >= {"kwh", "kw", "therms"}
    assert {r["type"] for r in expected} >= {"net", "fwd", "rev", "max"}
    offsets = {(r["utc_offset_minutes"], r["end_utc_offset_minutes"]) for r in expected}
    assert any(start != end for start, end in offsets)  # a reading across a DST change
    assert {r["end_at"] - r["start_at"] for r in expected} >= {
        datetime(2026, 1, 1, 1) - datetime(2026, 1, 1, 0),
        datetime(2026, 1, 1, 0, 15) - datetime(2026, 1, 1, 0),
    }
    assert len({r["meter_number"] for r in expected}) > 1


def test_every_page_decodes_to_the_truth_every_column(pages: list[bytes]) -> None:
    for content in pages:
        problems = ReadingProblems()
        page = decode_intervals_page(content, problems)
        expected = interval_rows(objects_of(content))
        result = compare(expected, rows(page.items.readings), READINGS_KEY)
        assert result.ok, result.summary()
        assert result.actual_rows == len(expected)
        assert not problems
        assert [o["uid"] for o in page.items.objects] == [o["uid"] for o in objects_of(content)]
        assert page.next == json.loads(content)["next"]


def test_the_tolerant_path_gives_the_same_rows(pages: list[bytes]) -> None:
    for content in pages[:: max(1, len(pages) // 4)]:
        objects = objects_of(content)
        expected = interval_rows(objects)
        result = compare(expected, rows(readings_table(objects)), READINGS_KEY)
        assert result.ok, result.summary()
        # numbers sent as strings force the tolerant path of the page decoder too
        as_strings = copy.deepcopy(objects)
        for obj in as_strings:
            for reading in obj["readings"]:
                for dp in reading["datapoints"]:
                    dp["value"] = None if dp["value"] is None else str(dp["value"])
        body = json.dumps({"intervals": as_strings, "next": None}).encode()
        page = decode_intervals_page(body, ReadingProblems())
        result = compare(expected, rows(page.items.readings), READINGS_KEY)
        assert result.ok, result.summary()
        assert page.next is None


def test_legacy_kwh_readings_and_upper_case_labels(pages: list[bytes]) -> None:
    objects = copy.deepcopy(objects_of(pages[0]))
    objects[0]["readings"] = [
        {"start": r["start"], "end": r["end"], "kwh": 0.25 + i}
        for i, r in enumerate(objects[0]["readings"])
    ]
    for reading in objects[1]["readings"]:
        for dp in reading["datapoints"]:
            dp["type"], dp["unit"] = dp["type"].upper(), dp["unit"].upper()
            dp.pop("meter_number", None)
    expected = interval_rows(objects)
    assert {r["unit"] for r in expected if r["interval_uid"] == objects[0]["uid"]} == {"kwh"}
    body = json.dumps({"intervals": objects, "next": "https://x/api/v2/intervals?after=1"})
    page = decode_intervals_page(body.encode(), ReadingProblems())
    result = compare(expected, rows(page.items.readings), READINGS_KEY)
    assert result.ok, result.summary()
    assert page.next == "https://x/api/v2/intervals?after=1"


def test_a_datapoint_sent_twice_is_one_row(pages: list[bytes]) -> None:
    objects = copy.deepcopy(objects_of(pages[0]))
    reading = objects[0]["readings"][0]
    reading["datapoints"] = reading["datapoints"] + reading["datapoints"]
    body = json.dumps({"intervals": objects, "next": None}).encode()
    decoded = rows(decode_intervals_page(body, ReadingProblems()).items.readings)
    # the truth computes every row; the table keeps the first of each key
    unique = {tuple(r[c] for c in READINGS_KEY): r for r in reversed(interval_rows(objects))}
    assert compare(list(unique.values()), decoded, READINGS_KEY).ok
    table = readings_table(objects)
    assert unique_readings(table).num_rows == len(unique) < table.num_rows
    assert unique_readings(unique_readings(table)).equals(unique_readings(table))


def test_object_rows_describe_the_readings_received(pages: list[bytes]) -> None:
    for content in pages[:3]:
        decoded = decode_intervals_page(content, ReadingProblems()).items
        for obj, row in zip(objects_of(content), decoded.objects, strict=True):
            mine = [r for r in interval_rows([obj])]
            assert (row["uid"], row["meter_uid"]) == (obj["uid"], obj["meter_uid"])
            assert row["reading_count"] == len({r["start_at"] for r in mine}) > 0
            assert row["first_start_at"] == min(r["start_at"] for r in mine)
            assert row["last_end_at"] == max(r["end_at"] for r in mine)


def test_a_page_of_one_datapoint_or_without_types(pages: list[bytes]) -> None:
    obj = copy.deepcopy(objects_of(pages[0])[0])
    obj["readings"] = obj["readings"][:1]
    obj["readings"][0]["datapoints"] = obj["readings"][0]["datapoints"][:1]
    del obj["readings"][0]["datapoints"][0]["type"]
    body = json.dumps({"intervals": [obj], "next": None}).encode()
    (row,) = rows(decode_intervals_page(body, ReadingProblems()).items.readings)
    (expected,) = interval_rows([obj])
    assert row == expected and row["type"] == "unknown"


def test_malformed_parts_are_dropped_counted_and_named_the_rest_loads(
    pages: list[bytes],
) -> None:
    good = copy.deepcopy(objects_of(pages[0])[:2])
    template = copy.deepcopy(good[0])
    reading = template["readings"][0]
    bad: list[object] = [
        {**template, "uid": None},  # no uid
        {**template, "uid": "no-meter", "meter_uid": None},
        {**template, "uid": "readings-text", "readings": "lots"},
        {**template, "uid": "reading-text", "readings": ["x", reading]},
        {**template, "uid": "dps-text", "readings": [{**reading, "datapoints": "x"}]},
        {**template, "uid": "dp-text", "readings": [{**reading, "datapoints": ["x"]}]},
        {**template, "uid": "naive", "readings": [{**reading, "start": "2026-03-19T11:45:00"}]},
        {**template, "uid": "no-end", "readings": [{**reading, "end": None}]},
        {
            **template,
            "uid": "text-value",
            "readings": [{**reading, "datapoints": [{**reading["datapoints"][0], "value": "abc"}]}],
        },
        {
            **template,
            "uid": "bool-value",
            "readings": [{**reading, "datapoints": [{**reading["datapoints"][0], "value": True}]}],
        },
        {**template, "uid": "no-updated", "updated": None, "created": "yesterday"},
        {**template, "uid": "number-meter", "meter_uid": 12345},
    ]
    problems = ReadingProblems()
    body = json.dumps({"intervals": [*good, *bad], "next": None}).encode()
    decoded = rows(decode_intervals_page(body, problems).items.readings)
    by_object: dict[str, list[dict]] = {}
    for row in decoded:
        by_object.setdefault(row["interval_uid"], []).append(row)
    # the good objects load whole, exactly
    for obj in good:
        assert compare(interval_rows([obj]), by_object.pop(obj["uid"]), READINGS_KEY).ok
    # the parts that are fine in a damaged object load; values that are not numbers are null
    one = reading["datapoints"][0]
    assert [r["type"] for r in by_object.pop("reading-text")] == [
        d["type"].lower() for d in reading["datapoints"]
    ]
    assert [(r["type"], r["value"]) for r in by_object.pop("text-value")] == [(one["type"], None)]
    assert [(r["type"], r["value"]) for r in by_object.pop("bool-value")] == [(one["type"], None)]
    dated = by_object.pop("no-updated")
    assert {(r["interval_updated_at"], r["interval_created_at"]) for r in dated} == {(None, None)}
    assert {r["meter_uid"] for r in by_object.pop("number-meter")} == {"12345"}
    assert by_object == {}
    assert problems.counts == {
        "interval without uid or meter_uid": 2,
        "readings is not a list": 1,
        "reading is not an object": 1,
        "datapoints is not a list": 1,
        "datapoint is not an object": 1,
        "unreadable reading start '2026-03-19T11:45:00'": 1,
        "missing reading end": 1,
        "non-numeric datapoint value 'abc'": 1,
        "unreadable interval created 'yesterday'": 1,
    }
    assert problems.examples == [
        "interval without uid or meter_uid in None",
        "interval without uid or meter_uid in 'no-meter'",
        "readings is not a list in readings-text",
        "reading is not an object in reading-text",
        "datapoints is not a list in dps-text",
    ]
    assert bool(problems) and not ReadingProblems()


@pytest.mark.parametrize("missing", ["uid", "meter_uid"])
def test_an_object_without_identity_in_a_well_formed_page_is_set_aside(
    pages: list[bytes], missing: str
) -> None:
    good = copy.deepcopy(objects_of(pages[0])[:2])
    anonymous = {**copy.deepcopy(good[0]), "uid": "anonymous", missing: None}
    problems = ReadingProblems()
    body = json.dumps({"intervals": [good[0], anonymous, good[1]], "next": None}).encode()
    decoded = decode_intervals_page(body, problems).items
    assert compare(interval_rows(good), rows(decoded.readings), READINGS_KEY).ok
    assert [o["uid"] for o in decoded.objects] == [good[0]["uid"], good[1]["uid"]]
    assert problems.counts == {"interval without uid or meter_uid": 1}


def test_a_bad_part_never_hides_the_good_parts_after_it(pages: list[bytes]) -> None:
    template = copy.deepcopy(objects_of(pages[0])[0])
    first, second = template["readings"][:2]
    dp = first["datapoints"][0]
    objects = [
        {**template, "uid": "empty", "readings": []},
        {
            **template,
            "uid": "bad-reading-first",
            "readings": [{**first, "datapoints": "x"}, second],
        },
        {**template, "uid": "bad-dp-first", "readings": [{**first, "datapoints": ["x", dp]}]},
        {
            **template,
            "uid": "nothing-first",
            "readings": [{"start": first["start"], "end": first["end"]}, second],
        },
        {**template, "uid": "number-start", "readings": [{**first, "start": 12345}, second]},
        {
            **template,
            "uid": "odd-labels",
            "authorization_uid": 7,
            "updated": "soon",
            "created": None,
            "readings": [
                {
                    **first,
                    "datapoints": [{**dp, "meter_number": 42}, {**dp, "type": "x", "unit": None}],
                }
            ],
        },
    ]
    problems = ReadingProblems()
    table = readings_table(objects, problems)
    got = {(r["interval_uid"], r["start_at"], r["type"]): r for r in rows(table)}
    start = lambda reading: datetime.fromisoformat(reading["start"]).astimezone(UTC)  # noqa: E731
    for uid in ("bad-reading-first", "nothing-first", "number-start"):
        assert {k[1] for k in got if k[0] == uid} == {start(second)}, uid
    assert [k for k in got if k[0] == "bad-dp-first"] == [
        ("bad-dp-first", start(first), dp["type"].lower())
    ]
    odd = [r for k, r in got.items() if k[0] == "odd-labels"]
    assert {(r["meter_number"], r["unit"], r["authorization_uid"]) for r in odd} == {
        ("42", dp["unit"].lower(), "7"),
        (dp.get("meter_number") or "", None, "7"),
    }
    assert {(r["interval_updated_at"], r["interval_created_at"]) for r in odd} == {(None, None)}
    assert problems.counts == {
        "datapoints is not a list": 1,
        "datapoint is not an object": 1,
        "unreadable reading start '12345'": 1,
        "unreadable interval updated 'soon'": 1,
    }
    # without a problems collector the same payload loads the same rows
    assert readings_table(objects).equals(table)
    # an object with no readings in this page is described with none
    body = json.dumps({"intervals": [objects[0], template], "next": None}).encode()
    decoded = decode_intervals_page(body, ReadingProblems()).items
    assert [o["reading_count"] for o in decoded.objects][0] == 0


def _reshaped(objects: list[dict], how: str) -> list[dict]:
    """A page's objects rearranged the ways a payload could break the layout shortcut."""
    out = copy.deepcopy(objects)
    first, second = out[0], out[1]
    if how == "as sent":
        pass
    elif how == "readings rising":
        for obj in out:
            obj["readings"].reverse()
    elif how == "one object rising":
        second["readings"].reverse()
    elif how == "a reading out of order":
        first["readings"].append(first["readings"].pop(0))
    elif how == "a reading sent twice apart":
        first["readings"].append(copy.deepcopy(first["readings"][0]))
    elif how == "a reading sent twice together":
        first["readings"].insert(1, copy.deepcopy(first["readings"][0]))
    elif how == "an object sent twice apart":
        out.append(copy.deepcopy(first))
    elif how == "an object sent twice together":
        out.insert(1, copy.deepcopy(first))
    elif how == "a datapoint sent twice":
        dps = first["readings"][2]["datapoints"]
        dps.append(copy.deepcopy(dps[0]))
    elif how == "every datapoint sent twice":
        for obj in out:
            for reading in obj["readings"]:
                reading["datapoints"] = reading["datapoints"] * 2
    elif how == "a datapoint sent in place of another":
        dps = first["readings"][1]["datapoints"]
        dps[-1] = copy.deepcopy(dps[0])
    elif how == "datapoints reordered in one reading":
        first["readings"][1]["datapoints"].reverse()
    elif how == "one reading with a datapoint fewer":
        second["readings"][0]["datapoints"].pop()
    elif how == "two meter numbers":
        for reading in first["readings"]:
            extra = copy.deepcopy(reading["datapoints"][0])
            extra["meter_number"] = "second-meter"
            reading["datapoints"].append(extra)
    else:
        raise AssertionError(how)
    return out


RESHAPES = [
    "as sent",
    "readings rising",
    "one object rising",
    "a reading out of order",
    "a reading sent twice apart",
    "a reading sent twice together",
    "an object sent twice apart",
    "an object sent twice together",
    "a datapoint sent twice",
    "every datapoint sent twice",
    "a datapoint sent in place of another",
    "datapoints reordered in one reading",
    "one reading with a datapoint fewer",
    "two meter numbers",
]


@pytest.mark.parametrize("how", RESHAPES)
def test_reshaped_pages_keep_each_key_once_and_describe_their_objects(
    pages: list[bytes], how: str
) -> None:
    """A page whose rows come as the API sends them skips the group-by (`_Layout`); any other
    arrangement must still give one row per key and the same object rows."""
    datapoints = set()
    for content in pages[:: max(1, len(pages) // 6)]:
        if len(objects_of(content)) < 2:
            continue
        datapoints.add(len(objects_of(content)[-1]["readings"][-1]["datapoints"]))
        objects = _reshaped(objects_of(content), how)
        body = json.dumps({"intervals": objects, "next": None}).encode()
        page = decode_intervals_page(body, ReadingProblems()).items
        truth = interval_rows(objects)
        first_of_key = {tuple(r[c] for c in READINGS_KEY): r for r in reversed(truth)}
        result = compare(list(first_of_key.values()), rows(page.readings), READINGS_KEY)
        assert result.ok, result.summary()
        assert [o["uid"] for o in page.objects] == [o["uid"] for o in objects]
        for obj, row in zip(objects, page.objects, strict=True):
            mine = [r for r in truth if r["interval_uid"] == obj["uid"]]
            assert row["reading_count"] == len({r["start_at"] for r in mine})
            assert row["first_start_at"] == min(r["start_at"] for r in mine)
            assert row["last_end_at"] == max(r["end_at"] for r in mine)
        # the tolerant path's table, deduplicated on its own
        table = readings_table(objects)
        assert unique_readings(table).num_rows == len(first_of_key)
    assert {1, 3} <= datapoints  # gas meters send one datapoint a reading, electric ones three


def test_pages_as_the_sandbox_sends_them_skip_the_group_by(pages: list[bytes]) -> None:
    """The shortcut is taken for what the API sends (readings newest first, a few datapoints
    each), not only for the shapes of a test."""
    for content in pages:
        table = readings_table(objects_of(content))
        assert _Layout.of(table) is not None
        assert _Layout.of(table.take(list(range(table.num_rows))[::-1])) is not None
