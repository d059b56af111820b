"""What a complete load must hold, in every mode: `sb.truth` and the independent truth of
tests/support/truth.py, checked against each other and against a table built by DuckDB's own
JSON reader (a second implementation that shares no code with either)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
import orjson
import pytest

from sandbox import Sandbox
from tests.support.truth import (
    BILLS_KEY,
    READINGS_KEY,
    RESOLVED_KEY,
    bill_rows,
    compare,
    compare_table,
    fetch_all,
    instant,
    interval_rows,
    resolved,
)

from .conftest import client_for, make_config, meter_kind

READINGS_SQL = """
create table interval_readings as
with objects as (
    select * from read_json('{path}', format = 'array', columns = {{
        uid: 'varchar', meter_uid: 'varchar', authorization_uid: 'varchar',
        created: 'varchar', updated: 'varchar',
        readings: 'struct("start" varchar, "end" varchar, kwh double, datapoints struct(
            "type" varchar, unit varchar, value double, meter_number varchar)[])[]'
    }})
),
readings as (select objects.*, unnest(readings) as r from objects),
datapoints as (select readings.*, unnest(r.datapoints) as dp from readings)
select
    meter_uid,
    authorization_uid,
    uid as interval_uid,
    r."start"::timestamptz as start_at,
    r."end"::timestamptz as end_at,
    offset_minutes(r."start") as utc_offset_minutes,
    offset_minutes(r."end") as end_utc_offset_minutes,
    lower(dp."type") as "type",
    lower(dp.unit) as unit,
    dp.value as value,
    coalesce(dp.meter_number, '') as meter_number,
    updated::timestamptz as interval_updated_at,
    created::timestamptz as interval_created_at,
    'load-1' as _dlt_load_id
from datapoints
"""
OFFSET_MACRO = """
create macro offset_minutes(t) as
    (case when substr(t, 27, 1) = '-' then -1 else 1 end)
    * (cast(substr(t, 28, 2) as integer) * 60 + cast(substr(t, 31, 2) as integer))
"""
BILLS_SQL = """
create table bills as
with bills as (
    select * from read_json('{path}', format = 'array', columns = {{
        uid: 'varchar', meter_uid: 'varchar', authorization_uid: 'varchar', utility: 'varchar',
        created: 'varchar', updated: 'varchar', base: 'json', notes: 'json', blocks: 'json'
    }})
),
noted as (
    select
        *,
        list_sort(list_distinct(list_transform(
            coalesce(json_extract_string(notes, '$[*].type'), []), lambda t: lower(trim(t))
        ))) as types
    from bills
)
select
    uid, meter_uid, authorization_uid, utility,
    created::timestamptz as created_at, updated::timestamptz as updated_at,
    base ->> 'service_identifier' as service_identifier,
    base ->> 'service_tariff' as service_tariff,
    base ->> 'service_class' as service_class,
    base ->> 'service_address' as service_address,
    base ->> 'billing_contact' as billing_contact,
    base ->> 'billing_address' as billing_address,
    base ->> 'billing_account' as billing_account,
    base ->> 'bill_total_unit' as bill_total_unit,
    base -> 'meter_numbers' as meter_numbers,
    notes,
    blocks,
    null::json as other_blocks,
    array_to_string(types, ',') as note_types,
    coalesce(list_bool_or(list_transform(types, lambda t: contains(t, 'strange'))), false)
        as has_strange_note,
    (base ->> 'bill_start_date')::timestamptz as bill_start_at,
    cast(left(base ->> 'bill_start_date', 10) as date) as bill_start_local,
    offset_minutes(base ->> 'bill_start_date') as bill_utc_offset_minutes,
    (base ->> 'bill_end_date')::timestamptz as bill_end_at,
    cast(left(base ->> 'bill_end_date', 10) as date) as bill_end_local,
    (base ->> 'bill_statement_date')::timestamptz as bill_statement_at,
    (base ->> 'bill_total_cost')::double as bill_total_cost,
    (base ->> 'bill_total_volume')::double as bill_total_volume,
    (base ->> 'bill_total_kwh')::double as bill_total_kwh
from noted
"""


def _duckdb(tmp_path: Path, intervals: list[dict], bills: list[dict]) -> Any:
    con = duckdb.connect()
    con.execute("set TimeZone = 'America/New_York'")  # table_rows must read instants in UTC
    con.execute(OFFSET_MACRO)
    for name, sql, objects in (("i", READINGS_SQL, intervals), ("b", BILLS_SQL, bills)):
        path = tmp_path / f"{name}.json"
        path.write_bytes(orjson.dumps(objects))
        con.execute(sql.format(path=path))
    return con


@pytest.fixture(scope="module")
def world() -> Iterator[Sandbox]:
    # Six weeks of every meter kind keep the comparison in Python quick.
    with Sandbox(make_config(history_days=42)) as sb:
        yield sb


def test_independent_truth_equals_a_duckdb_load_and_names_every_difference(
    world: Sandbox, tmp_path: Path
) -> None:
    meters = [m["uid"] for m in world.truth.meters() if m["interval_count"]]
    assert {meter_kind(world, m) for m in meters} == {
        "res15",
        "res60",
        "comm15",
        "solar15",
        "gas60",
    }
    with client_for(world) as client:
        objects = fetch_all(
            client, "/intervals", "intervals", meters=",".join(meters), allow_mixed="true"
        )
        bills = fetch_all(client, "/bills", "bills", meters=",".join(meters))
    expected = interval_rows(objects)
    # Served over HTTP or read from the world: the same rows.
    truth_objects = [o for m in meters for o in world.truth.intervals(m, allow_mixed=True)]
    assert compare(interval_rows(truth_objects), expected, READINGS_KEY).ok
    assert compare(
        bill_rows(b for m in meters for b in world.truth.bills(m)), bill_rows(bills), BILLS_KEY
    ).ok
    # Notes as the docs show them (this short world may have none): both readings must agree.
    bills[0] = {
        **bills[0],
        "notes": [
            {"type": "estimated", "msg": "m", "ts": bills[0]["created"]},
            {"type": "bills_strange", "msg": "m", "ts": bills[0]["created"]},
            {"type": " Estimated", "msg": "m", "ts": bills[0]["created"]},
        ],
    }
    noted = bill_rows(bills[:1])[0]
    assert (noted["note_types"], noted["has_strange_note"]) == ("bills_strange,estimated", True)
    plain = bill_rows(bills[1:2])[0]
    assert (plain["note_types"], plain["has_strange_note"]) == ("", False)
    con = _duckdb(tmp_path, objects, bills)
    result = compare_table(con, "interval_readings", expected, READINGS_KEY)
    assert result.ok, result.summary()
    assert result.actual_rows == len(expected) > 50_000
    bills_result = compare_table(con, "bills", bill_rows(bills), BILLS_KEY)
    assert bills_result.ok, bills_result.summary()

    # One of each difference a broken load could make, and nothing else reported.
    gas = next(r for r in expected if r["unit"] == "therms")
    dropped, doubled, revalued, relabelled, shifted = (
        expected[10],
        expected[20],
        expected[30],
        gas,
        expected[50],
    )

    def where(row: dict) -> str:
        return (
            f"interval_uid = '{row['interval_uid']}' and start_at = '{row['start_at'].isoformat()}'"
            f" and type = '{row['type']}'"
        )

    con.execute(f"delete from interval_readings where {where(dropped)}")
    con.execute(
        f"insert into interval_readings select * from interval_readings where {where(doubled)}"
    )
    con.execute(f"update interval_readings set value = value * 2 where {where(revalued)}")
    con.execute(f"update interval_readings set unit = 'kwh' where {where(relabelled)}")
    con.execute(
        "update interval_readings set end_utc_offset_minutes = end_utc_offset_minutes + 60, "
        f"end_at = end_at + interval 1 hour where {where(shifted)}"
    )
    con.execute(
        "insert into interval_readings select * replace ('x-1-0' as interval_uid) "
        f"from interval_readings where {where(expected[60])}"
    )
    result = compare_table(con, "interval_readings", expected, READINGS_KEY)
    key = lambda row: tuple(row[c] for c in READINGS_KEY)  # noqa: E731
    assert result.missing == [key(dropped)]
    assert result.duplicated == {key(doubled): 2}
    assert result.extra == [("x-1-0", *key(expected[60])[1:])]
    assert result.changed_counts() == {
        "value": 1,
        "unit": 1,
        "end_at": 1,
        "end_utc_offset_minutes": 1,
    }
    assert result.changed["value"] == [(key(revalued), revalued["value"], revalued["value"] * 2)]
    assert "1 missing, 1 extra, 1 duplicated" in result.summary()
    con.execute("alter table bills drop column bill_total_kwh")
    bills_result = compare_table(con, "bills", bill_rows(bills), BILLS_KEY)
    assert bills_result.absent_columns == ["bill_total_kwh"] and not bills_result.ok


def _careful_intervals(client: httpx.Client, meter: str) -> list[dict]:
    """Every Interval object of a meter whatever the mode: `next` is never followed (it may drop
    filters, repeat objects or be missing); each request asks from the start of the last object
    received, oldest first, until a page brings nothing new."""
    found: dict[str, dict] = {}
    params: dict[str, Any] = {"meters": meter, "allow_mixed": "true", "order": "earliest_first"}
    while True:
        page = client.get("/intervals", params=params).raise_for_status().json()["intervals"]
        fresh = [obj for obj in page if obj["uid"] not in found]
        if not fresh:
            return list(found.values())
        found.update((obj["uid"], obj) for obj in fresh)
        since = min((r["start"] for r in page[-1]["readings"]), key=datetime.fromisoformat)
        params = {**params, "start": since}


MODES: dict[str, dict[str, Any]] = {
    "default": {},
    "limit_caps": {"limit_caps": True},
    "start_filters_objects": {"start_filters_objects": True},
    "growing_objects": {"growing_objects": True},
    "next_drops_filters": {"next_drops_filters": True},
    "incomplete_after": {"incomplete_after": 9},
    "unexpanded": {"unexpanded_utilities": ("PG&E", "SRP")},
    "events_require_webhook": {"events_require_webhook": True},
    "page_repeat_rate": {"page_repeat_rate": 0.5, "page_cap": 7},
    "everything": {
        "limit_caps": True,
        "start_filters_objects": True,
        "growing_objects": True,
        "next_drops_filters": True,
        "incomplete_after": 9,
        "page_repeat_rate": 0.5,
        "page_cap": 7,
    },
}


@pytest.mark.parametrize("mode", list(MODES))
def test_truth_is_what_a_careful_client_gets_in_every_mode(mode: str) -> None:
    cfg = make_config(n_meters=6, history_days=42, **MODES[mode])
    with Sandbox(cfg) as sb, client_for(sb) as client:
        sb.advance(timedelta(days=2, hours=3))  # refreshes grow objects (or add new ones)
        for meter in [m["uid"] for m in sb.truth.meters() if m["interval_count"]]:
            rows = resolved(interval_rows(_careful_intervals(client, meter)))
            primary = [r for r in sb.truth.readings(meter)]
            truth_rows = [
                {
                    "meter_uid": r["meter_uid"],
                    "start_at": instant(r["start"]),
                    "end_at": instant(r["end"]),
                    "type": r["type"],
                    "meter_number": r["meter_number"],
                    "value": r["value"],
                    "interval_uid": r["interval_uid"],
                }
                for r in primary
            ]
            durations = {r["end_at"] - r["start_at"] for r in truth_rows}
            assert len(durations) == 1  # primary readings only
            got = [r for r in rows if r["end_at"] - r["start_at"] in durations]
            result = compare(truth_rows, got, RESOLVED_KEY)
            assert result.ok, f"{mode} {meter}: {result.summary()}"
            counts = sb.truth.meter_counts(meter)
            assert len({r["start_at"] for r in got}) == counts["interval_count"]
            bills = fetch_all(client, "/bills", "bills", meters=meter)
            assert sorted(b["uid"] for b in bills) == sorted(
                b["uid"] for b in sb.truth.bills(meter)
            )
            assert len(bills) == counts["bill_count"]
