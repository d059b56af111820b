"""Interval pages → one arrow row per reading and datapoint, on the fast and tolerant paths."""

from __future__ import annotations

import copy
import json

import pyarrow as pa
import pytest

from sources.utilityapi.errors import MalformedResponseError
from sources.utilityapi.pages import PayloadError
from sources.utilityapi.readings import (
    READINGS_SCHEMA,
    ReadingProblems,
    decode_intervals_page,
    readings_table,
    unique_readings,
)
from tests.support.fixtures import load_fixture


def page(intervals, next_link=None, indent=None) -> bytes:
    return json.dumps({"intervals": intervals, "next": next_link}, indent=indent).encode()


def sorted_rows(table: pa.Table) -> list[dict]:
    return sorted(table.to_pylist(), key=lambda r: (r["interval_uid"], r["start_at"], r["type"]))


@pytest.fixture
def live():
    return load_fixture("intervals-pyiu-1.json")


@pytest.fixture
def docs():
    return load_fixture("interval-docs-1.json")


def test_fast_path_equals_the_tolerant_path(live, docs):
    problems = ReadingProblems()
    fast = decode_intervals_page(
        page([*live, docs], "https://x/api/v2/intervals?after=1"), problems
    )
    slow = readings_table([*live, docs], problems)
    assert fast.next == "https://x/api/v2/intervals?after=1"
    assert fast.items.readings.schema == READINGS_SCHEMA
    assert sorted_rows(fast.items.readings) == sorted_rows(slow)
    assert not problems


def test_pretty_printed_pages_parse(live):
    decoded = decode_intervals_page(page(live, indent=4), ReadingProblems())
    assert decoded.items.readings.num_rows == 3 and decoded.next is None


def test_offsets_and_instants_come_from_the_published_strings(docs):
    rows = readings_table([docs]).to_pylist()
    assert {r["utc_offset_minutes"] for r in rows} == {-420}
    first = min(rows, key=lambda r: r["start_at"])
    assert first["start_at"].isoformat() == "2015-01-07T15:00:00+00:00"


def test_numbers_sent_as_strings_are_coerced_and_bad_ones_reported(live):
    weird = copy.deepcopy(live)
    weird[0]["readings"][0]["datapoints"][0]["value"] = "0.5"
    weird[0]["readings"][0]["datapoints"][1]["value"] = "n/a"
    problems = ReadingProblems()
    table = decode_intervals_page(page(weird), problems).items.readings
    values = {r["type"]: r["value"] for r in table.to_pylist()}
    assert values == {"net": 0.5, "max": None, "fwd": 0.166}
    assert problems.counts == {"non-numeric datapoint value 'n/a'": 1}


def test_legacy_kwh_only_readings_become_net_rows(docs):
    legacy = copy.deepcopy(docs)
    for reading in legacy["readings"]:
        del reading["datapoints"]
    table = decode_intervals_page(page([legacy]), ReadingProblems()).items.readings
    assert table.column("type").to_pylist() == ["net"] * 3
    assert table.column("unit").to_pylist() == ["kwh"] * 3


def test_a_list_where_the_listing_object_belongs_is_refused_by_name(live):
    # The published sample is the value of `intervals`, not a body; a bare list is not a page.
    with pytest.raises(MalformedResponseError, match="no 'intervals' list \\(got list\\)"):
        decode_intervals_page(json.dumps(live).encode(), ReadingProblems())


def test_readings_without_usable_times_are_dropped_and_reported(live):
    broken = copy.deepcopy(live)
    broken[0]["readings"][0]["start"] = "yesterday"
    problems = ReadingProblems()
    assert decode_intervals_page(page(broken), problems).items.readings.num_rows == 0
    assert problems.counts == {"unreadable reading start 'yesterday'": 1}


def test_truncated_pages_raise_payload_error_so_they_are_retried(live):
    body = page(live)
    with pytest.raises(PayloadError):
        decode_intervals_page(body[: len(body) // 2], ReadingProblems())


def test_unique_readings_drops_repeated_datapoints(live):
    repeated = copy.deepcopy(live)
    reading = repeated[0]["readings"][0]
    reading["datapoints"].append(dict(reading["datapoints"][0]))
    table = readings_table(repeated)
    assert table.num_rows == 4
    unique = unique_readings(table)
    assert unique.num_rows == 3
    assert sorted(unique.column("type").to_pylist()) == ["fwd", "max", "net"]


def test_objects_keep_their_notes_and_qualities_on_both_paths(live, docs):
    strange = copy.deepcopy(docs)
    strange["notes"] = [
        {"type": "interval_strange", "msg": "no DST info", "ts": "2015-03-20T00:00:00+00:00"}
    ]
    fast = decode_intervals_page(page([*live, strange]), ReadingProblems()).items.objects
    legacy = copy.deepcopy(strange)
    for reading in legacy["readings"]:
        del reading["datapoints"]
    slow = decode_intervals_page(page([legacy]), ReadingProblems()).items.objects
    by_uid = {o["uid"]: o for o in fast}
    assert set(by_uid) == {live[0]["uid"], docs["uid"]}
    docs_row = by_uid[docs["uid"]]
    assert docs_row["note_types"] == "interval_strange" and docs_row["has_strange_note"]
    assert docs_row["qualities"] == ["revenue"]
    assert docs_row["source_types"] == ["greenbutton_cmd"]
    assert docs_row["reading_count"] == 3
    assert docs_row["updated_at"].isoformat() == "2015-03-19T20:50:41.206253+00:00"
    assert by_uid[live[0]["uid"]]["note_types"] == ""
    assert not by_uid[live[0]["uid"]]["has_strange_note"]
    assert [(o["note_types"], o["reading_count"]) for o in slow] == [("interval_strange", 3)]
