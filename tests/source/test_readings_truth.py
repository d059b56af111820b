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
