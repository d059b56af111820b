"""Scenario 3's load with the readings kept out of dlt: appended straight to DuckDB, or dropped.

    .venv/bin/python -m bench.probe_direct            # 20 meters x 730 days, 3 runs, as scenario 3
    .venv/bin/python -m bench.probe_direct --meters 2 --runs 1

A probe, not a scenario. It answers one question from bench/README.md ("What would close each
missed target"): how fast would the load be if the readings did not go through dlt's extract,
Parquet files and load jobs? It runs the connector's own `run_load` on scenario 3's prerendered
sandbox, each load in a child process as the bench does (`bench.child`), in three arms taken in
turn:

- `dlt`: the connector as it ships;
- `direct`: every batch of readings the source would hand to dlt goes instead to a writer
  thread that appends it, in groups of `GROUP_ROWS`, into a DuckDB file of its own; dlt gets
  the batch's empty slice;
- `drop`: the batches are decoded and thrown away, so what is left is the cost of everything
  but storing the readings.

The two patched arms change nothing else: the fetch, the decoder, the other tables and the
completeness check run as shipped. The check cannot see readings kept out of the warehouse, so
its repair (a refetch of every "short" meter) is switched off in those arms. Each arm must
account for every reading the `dlt` arm loaded, or the probe fails.
"""

from __future__ import annotations

import argparse
import json
import queue
import statistics
import threading
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from .common import World, fresh_dir, run_child_load, sandbox_process
from .throughput import CACHE_BYTES

ARMS = ("dlt", "direct", "drop")
# Rows a direct append inserts at once: one statement per 50 k-row batch costs ~1.5x as much.
GROUP_ROWS = 600_000


class _Writer:
    """A thread appending readings to `path`'s table `readings` (or counting them, `drop`)."""

    def __init__(self, path: Path, drop: bool) -> None:
        self.path, self.drop = path, drop
        self.rows = 0
        self._queue: queue.Queue[pa.Table | None] = queue.Queue(maxsize=4)
        self._pending: list[pa.Table] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def put(self, table: pa.Table) -> None:
        self._queue.put(table)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        with duckdb.connect(str(self.path)) as con:
            con.execute("set preserve_insertion_order = false")
            created = False
            while (batch := self._queue.get()) is not None:
                if self.drop:
                    self.rows += batch.num_rows
                    continue
                if not created:
                    con.execute("create table readings as select * from batch limit 0")
                    created = True
                self._pending.append(batch)
                if sum(t.num_rows for t in self._pending) >= GROUP_ROWS:
                    self._flush(con)
            self._flush(con)
            con.execute("checkpoint")
            if created:  # what the table holds, not what was sent to it
                (self.rows,) = con.execute("select count(*) from readings").fetchone()

    def _flush(self, con: duckdb.DuckDBPyConnection) -> None:
        if self._pending:
            appended = pa.concat_tables(self._pending)  # noqa: F841 - read by DuckDB
            con.execute("insert into readings select * from appended")
            self._pending = []


def child(arm: str, spec: dict[str, Any]) -> None:
    """One measured load (`bench.child`), with the readings routed as `arm` says; its figures
    gain `kept_out`, the readings the writer appended or counted."""
    from bench import child as measured
    from pipelines import completeness
    from sources.utilityapi import intervals

    writer = None
    if arm != "dlt":
        writer = _Writer(Path(spec["db_path"] + ".readings.duckdb"), drop=arm == "drop")
        take = intervals._Batch.take  # noqa: SLF001 - the one place batches leave the source

        def routed(batch: Any) -> pa.Table:
            table = take(batch)
            writer.put(table)
            return table.slice(0, 0)

        intervals._Batch.take = routed  # noqa: SLF001
        completeness.needs_repair = lambda rows, previous: set()
        run_load = measured.run_load

        def run_then_close(*args: Any, **kwargs: Any) -> Any:
            result = run_load(*args, **kwargs)
            writer.close()  # inside the measured wall time: the last group is written
            return result

        measured.run_load = run_then_close
    figures = measured.run(spec)
    figures["kept_out"] = writer.rows if writer is not None else 0
    print(json.dumps(figures, default=str), flush=True)


def _load(sb: Any, arm: str, db: Path) -> dict[str, Any]:
    result = run_child_load(
        sb,
        db,
        options={"rate_limit": 0, "transform": False},
        child=("bench.probe_direct", "--child", arm),
    )
    return {
        "wall": result["wall_seconds"],
        "cpu": result["cpu_seconds"],
        "readings": result["row_counts"].get("interval_readings", 0) + result["kept_out"],
        "sandbox": result["sandbox_cpu_seconds"],
        "other": result["other_cpu_seconds"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=20)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("bench/out/probe_direct"))
    parser.add_argument("--child", nargs=2, metavar=("ARM", "SPEC"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], json.loads(args.child[1]))
        return

    work = fresh_dir(args.work)
    runs: dict[str, list[dict[str, Any]]] = {arm: [] for arm in ARMS}
    world = World(meters=args.meters, days=args.days)
    with sandbox_process(world.config(cache_bytes=CACHE_BYTES)) as sb:
        sb.prerender()
        for number in range(args.runs):
            for arm in ARMS:
                figures = _load(sb, arm, fresh_dir(work / f"{arm}-{number}") / "w.duckdb")
                runs[arm].append(figures)
                print(
                    f"{arm:<7} {figures['wall']:6.2f} s {figures['cpu']:6.2f} CPU s "
                    f"{figures['readings']:>11,} readings  (sandbox {figures['sandbox']:.2f}, "
                    f"other processes {figures['other']:.2f} CPU s)",
                    flush=True,
                )
    loaded = {figures["readings"] for arm in ARMS for figures in runs[arm]}
    if len(loaded) != 1 or 0 in loaded:
        raise SystemExit(f"the arms accounted for different readings: {sorted(loaded)}")
    for arm in ARMS:
        walls, cpus = [r["wall"] for r in runs[arm]], [r["cpu"] for r in runs[arm]]
        print(
            f"{arm:<7} median {statistics.median(walls):.2f} s ({min(walls):.2f}-{max(walls):.2f}),"
            f" {statistics.median(cpus):.2f} CPU s ({min(cpus):.2f}-{max(cpus):.2f})"
        )


if __name__ == "__main__":
    main()
