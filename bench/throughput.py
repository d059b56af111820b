"""Scenario 3: local throughput, against dlt's `rest_api_source` and DuckDB's JSON reader.

The sandbox is unthrottled, adds no latency and has every page rendered ahead of time, so what
is measured is the client's own cost: readings (rows of `interval_readings`, one per reading and
datapoint) per second from the first request to the committed load.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
import orjson

from sandbox import Sandbox
from sources.utilityapi import settings

from . import isolated, rest_api_baseline
from .common import (
    World,
    api_client,
    fresh_dir,
    list_all,
    run_child_load,
    sandbox_process,
)

# Room for every rendered page of the worlds used here (the default cache is 256 MiB).
CACHE_BYTES = 6 << 30
# What the connector asks per intervals request on a first load.
CLIENT_PAGE_PARAMS = {"limit": settings.INTERVALS_PAGE_SIZE, "allow_mixed": "true"}

_DATAPOINT = "STRUCT(type VARCHAR, unit VARCHAR, value DOUBLE, meter_number VARCHAR)"
_READING = f'STRUCT(start VARCHAR, "end" VARCHAR, kwh DOUBLE, datapoints {_DATAPOINT}[])'
_INTERVAL = (
    "STRUCT(uid VARCHAR, meter_uid VARCHAR, authorization_uid VARCHAR, created VARCHAR, "
    f"updated VARCHAR, readings {_READING}[])"
)
# The same flattening as the connector: one row per reading and datapoint, instants in UTC,
# the published offsets kept as minutes.
DUCKDB_FLATTEN = """
create table interval_readings as
with objects as (
    select unnest(intervals) as o
    from read_json(
        '{pages}',
        columns = {{'intervals': '{interval}[]', 'next': 'VARCHAR'}},
        maximum_object_size = 536870912
    )
),
readings as (
    select
        o.meter_uid, o.authorization_uid, o.uid, o.updated, o.created,
        unnest(o.readings) as r
    from objects
),
datapoints as (
    select *, unnest(r.datapoints) as d from readings
)
select
    meter_uid,
    authorization_uid,
    uid as interval_uid,
    r.start::timestamptz as start_at,
    r."end"::timestamptz as end_at,
    date_diff('minute', r.start::timestamptz::timestamp, r.start[1:19]::timestamp)::smallint
        as utc_offset_minutes,
    date_diff('minute', r."end"::timestamptz::timestamp, r."end"[1:19]::timestamp)::smallint
        as end_utc_offset_minutes,
    coalesce(lower(d.type), 'unknown') as type,
    lower(d.unit) as unit,
    d.value,
    coalesce(d.meter_number, '') as meter_number,
    updated::timestamptz as interval_updated_at,
    created::timestamptz as interval_created_at
from datapoints
"""


def run(world: World, work: Path, *, runs: int, rest_meters: int) -> dict[str, Any]:
    work = fresh_dir(work)
    cfg = world.config(cache_bytes=CACHE_BYTES)
    with sandbox_process(cfg) as sb:
        started = time.perf_counter()
        rendered = sb.prerender()
        rendered["seconds"] = time.perf_counter() - started
        meters = _active_meters(sb)
        ours = [_ours(sb, work / f"ours-{i}") for i in range(runs)]
        pages = _save_pages(sb, meters, work / "pages")
        floor = [
            isolated.call(
                "bench.throughput:duckdb_json",
                pages=str(pages["dir"]),
                db_path=str(work / f"duckdb-{i}.duckdb"),
            )
            for i in range(runs)
        ]
        chosen = _mixed_meters(meters, rest_meters)
        baseline = [_rest_api(sb, chosen, work / f"rest-{i}" / "rest.duckdb") for i in range(runs)]
        correctness = _rest_api_incremental(sb, chosen, work / f"rest-{runs - 1}" / "rest.duckdb")
    return {
        "prerender": rendered,
        "ours": ours,
        "pages": {k: v for k, v in pages.items() if k != "dir"},
        "duckdb_json": floor,
        "rest_api": baseline,
        "rest_api_meters": chosen,
        "rest_api_incremental": correctness,
    }


def _ours(sb: Sandbox, work: Path) -> dict[str, Any]:
    db = fresh_dir(work) / "uapi_bench.duckdb"
    load = run_child_load(sb, db, options={"rate_limit": 0, "transform": False})
    rows = load["row_counts"].get("interval_readings", 0)
    return {**load, "readings": rows, "readings_per_second": rows / load["wall_seconds"]}


def _active_meters(sb: Sandbox) -> list[dict[str, Any]]:
    with api_client(sb) as client:
        meters = list_all(client, "meters", "meters", {})
    return [m for m in meters if m.get("interval_count")]


def _mixed_meters(meters: list[dict[str, Any]], n: int) -> list[str]:
    """n meters spread over the world's sizes: 15-minute and hourly meters alike.

    The meters at evenly spaced quantiles of `interval_count` (for two: the 25th and 75th).
    """
    ordered = sorted(meters, key=lambda m: (m["interval_count"], str(m["uid"])))
    picks = [int(len(ordered) * (2 * i + 1) / (2 * n)) for i in range(n)]
    return [str(ordered[min(i, len(ordered) - 1)]["uid"]) for i in picks]


def _save_pages(sb: Sandbox, meters: list[dict[str, Any]], out: Path) -> dict[str, Any]:
    """The intervals pages the connector asks for on a first load, as bytes on disk."""
    out = fresh_dir(out)
    count = size = 0
    with api_client(sb) as client:
        for page in client_pages(client, meters):
            count += 1
            size += len(page)
            (out / f"page-{count:05d}.json").write_bytes(page)
    return {"dir": out, "files": count, "bytes": size}


def client_pages(client: httpx.Client, meters: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """Each meter's intervals pages, as the connector asks for them on a first load."""
    for meter in meters:
        url: str | None = "intervals"
        query: dict[str, Any] | None = {"meters": meter["uid"], **CLIENT_PAGE_PARAMS}
        while url:
            response = client.get(url, params=query)
            response.raise_for_status()
            yield response.content
            url, query = orjson.loads(response.content).get("next"), None


def duckdb_json(pages: str, db_path: str) -> dict[str, Any]:
    """DuckDB's JSON reader flattening the saved pages into a table (run in its own process)."""
    Path(db_path).unlink(missing_ok=True)
    sql = DUCKDB_FLATTEN.format(pages=Path(pages) / "*.json", interval=_INTERVAL)
    with duckdb.connect(str(db_path)) as conn:
        conn.execute("set TimeZone = 'UTC'")
        started = time.perf_counter()
        conn.execute(sql)
        conn.execute("checkpoint")
        wall = time.perf_counter() - started
        rows = conn.execute("select count(*) from interval_readings").fetchone()[0]
    return {"wall_seconds": wall, "readings": rows, "readings_per_second": rows / wall}


def _rest_api(sb: Sandbox, meter_uids: list[str], db_path: Path) -> dict[str, Any]:
    fresh_dir(db_path.parent)
    result = _rest_api_child(sb, meter_uids, db_path)
    result["readings_per_second"] = result["datapoint_rows"] / result["wall_seconds"]
    return result


def _rest_api_child(sb: Sandbox, meter_uids: list[str], db_path: Path) -> dict[str, Any]:
    spec = {
        "base_url": sb.base_url,
        "token": sb.token,
        "db_path": str(db_path),
        "meter_uids": meter_uids,
    }
    cmd = [sys.executable, "-m", "bench.rest_api_baseline", json.dumps(spec)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    if done.returncode != 0:
        raise RuntimeError(f"rest_api baseline failed:\n{done.stderr[-4000:]}")
    return json.loads([ln for ln in done.stdout.splitlines() if ln.startswith("{")][-1])


def _rest_api_incremental(sb: Sandbox, meter_uids: list[str], db_path: Path) -> dict[str, Any]:
    """A day later, the baseline's incremental run; its rows against what the sandbox serves."""
    sb.advance(timedelta(days=1))
    second = _rest_api_child(sb, meter_uids, db_path)
    truth = _served_keys(sb, meter_uids)
    rows, keys = rest_api_baseline.loaded_keys(db_path)
    return {
        "second_run": second,
        "truth_rows": len(truth),
        "loaded_rows": rows,
        "lost_rows": len(truth - keys),
        "duplicated_rows": rows - len(keys),
        "rows_not_served": len(keys - truth),
    }


def _served_keys(sb: Sandbox, meter_uids: list[str]) -> set[tuple[str, str, str, str]]:
    """Reading keys the sandbox serves now for the baseline's query (its default params)."""
    keys: set[tuple[str, str, str, str]] = set()
    with api_client(sb) as client:
        for uid in meter_uids:
            for obj in list_all(client, "intervals", "intervals", {"meters": uid, "limit": 100}):
                for reading in obj.get("readings") or []:
                    start = _utc(reading["start"])
                    for dp in reading.get("datapoints") or []:
                        keys.add((obj["uid"], start, dp.get("type"), dp.get("meter_number") or ""))
    return keys


def _utc(stamp: str) -> str:
    return datetime.fromisoformat(stamp).astimezone(UTC).isoformat()
