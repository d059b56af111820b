"""What appending readings straight from Arrow into DuckDB would cost, on scenario 3's pages.

    .venv/bin/python -m bench.probe_append            # 20 meters x 730 days, as scenario 3
    .venv/bin/python -m bench.probe_append --meters 2

A probe, not a scenario. It answers one question from bench/README.md ("What would close each
missed target"): would dlt's extract, Parquet files and load, replaced by a direct insert of
the decoded batches, free enough CPU for the throughput targets? It fetches every intervals
page the connector would ask for, decodes them with the connector's decoder (one thread), then
inserts the batches into an empty DuckDB table two ways. Beside them, in the same hour, it
times the bench's DuckDB floor (scenario 3's `read_json` flattening) on the same page bytes, so
the decode and the insert, the two parts of any load that no design can skip, can be set
against DuckDB's whole job. It prints the CPU and wall time of each, and the CPU other
processes used meanwhile.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

from sources.utilityapi.page_stream import ListingStream
from sources.utilityapi.readings import BATCH_BYTES, ReadingProblems, decode_batch

from .common import World, api_client, busy_cpu_seconds, list_all, sandbox_process
from .throughput import CACHE_BYTES, client_pages, duckdb_json

T = TypeVar("T")
# dlt adds its load id to every row it loads
LOAD_ID = "1700000000.000001"


def fetch_pages(world: World) -> list[bytes]:
    """Every intervals page of the world, as the connector asks for them on a first load."""
    with sandbox_process(world.config(cache_bytes=CACHE_BYTES)) as sb, api_client(sb) as client:
        return list(client_pages(client, list_all(client, "/meters", "meters", {})))


def decode(pages: list[bytes]) -> list[pa.Table]:
    """The readings of every page, batch by batch, as the fetch workers decode them."""
    problems = ReadingProblems()
    tables: list[pa.Table] = []

    def take(text: bytes, _: Any) -> None:
        tables.append(decode_batch(text, problems).readings)

    for page in pages:
        stream = ListingStream("intervals", take, BATCH_BYTES)
        stream.feed(page)
        stream.close()
    return [t for t in tables if t.num_rows]


def timed(label: str, work: Callable[[], T]) -> T:
    machine, cpu, wall = busy_cpu_seconds(), time.process_time(), time.perf_counter()
    result = work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    other = max(0.0, busy_cpu_seconds() - machine - cpu)
    print(f"{label:<52} {cpu:6.2f} CPU s {wall:6.2f} s  (other processes {other:.1f} CPU s)")
    return result


def insert(tables: list[pa.Table], how: str) -> None:
    """Into an empty table of a new DuckDB file: one statement, or one per batch; every
    decoded reading must arrive."""
    with tempfile.TemporaryDirectory() as folder:
        first = tables[0]  # noqa: F841 - read by DuckDB's replacement scan
        with duckdb.connect(str(Path(folder) / "probe.duckdb")) as con:
            con.execute("set preserve_insertion_order = false")
            con.execute("create table readings as select * from first limit 0")
            if how == "one insert":
                everything = pa.concat_tables(tables)  # noqa: F841 - read by DuckDB
                con.execute("insert into readings select * from everything")
            else:
                con.execute("begin")
                for batch in tables:  # noqa: B007 - read by DuckDB
                    con.execute("insert into readings select * from batch")
                con.execute("commit")
            con.execute("checkpoint")
            (count,) = con.execute("select count(*) from readings").fetchone()
    decoded = sum(t.num_rows for t in tables)
    if count != decoded:
        raise SystemExit(f"{how}: {count} rows inserted, {decoded} decoded")


def duckdb_floor(pages: list[bytes]) -> int:
    """The bench's DuckDB floor on the same pages, saved as files first (not timed): the
    readings it flattened."""
    with tempfile.TemporaryDirectory() as folder:
        saved = Path(folder) / "pages"
        saved.mkdir()
        for number, page in enumerate(pages):
            (saved / f"page-{number:05d}.json").write_bytes(page)
        floor = timed(
            "DuckDB's read_json floor (scenario 3b)",
            lambda: duckdb_json(str(saved), str(Path(folder) / "floor.duckdb")),
        )
        return floor["readings"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=20)
    parser.add_argument("--days", type=int, default=730)
    args = parser.parse_args()

    pages = fetch_pages(World(meters=args.meters, days=args.days))
    print(f"{len(pages)} pages, {sum(map(len, pages)):,} bytes")
    tables = timed("decode (the connector's decoder, one thread)", lambda: decode(pages))
    rows = sum(t.num_rows for t in tables)
    tables = [t.append_column("_dlt_load_id", pa.repeat(LOAD_ID, t.num_rows)) for t in tables]
    print(f"{rows:,} readings in {len(tables)} batches")
    timed("insert from Arrow, one statement", lambda: insert(tables, "one insert"))
    timed("insert from Arrow, a statement per batch", lambda: insert(tables, "per batch"))
    flattened = duckdb_floor(pages)
    if flattened != rows:
        raise SystemExit(f"DuckDB's floor flattened {flattened} readings, the decoder {rows}")


if __name__ == "__main__":
    main()
