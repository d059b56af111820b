"""`uapi transform`: build the analytics tables from what `uapi load` wrote."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_DB = Path("data/utilityapi.duckdb")


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "transform",
        help="build the analytics tables (incrementally unless --full-refresh)",
        description=__doc__,
    )
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"DuckDB file ({DEFAULT_DB})")
    parser.add_argument(
        "--full-refresh", action="store_true", help="rebuild every table from the raw tables"
    )
    parser.set_defaults(func=transform)


def transform(args: argparse.Namespace) -> int:
    # imported here so other `uapi` subcommands start without loading duckdb and sqlglot
    from transforms.runner import run

    if not args.db.exists():
        print(f"no database at {args.db}: run `uapi load` first")
        return 1
    summary = run(args.db, full_refresh=args.full_refresh)
    print(
        f"transform run {summary.run_id}: {summary.mode} ({summary.reason}) "
        f"in {summary.seconds:.2f}s"
    )
    if summary.meter_days:
        days = sum((s.to_local_date - s.from_local_date).days + 1 for s in summary.meter_days)
        print(
            f"  recomputed {len(summary.meter_days)} meters, {days} meter-days, "
            f"{summary.bills_in_scope} bills"
        )
    for model in summary.models:
        if model.materialized != "view":
            print(f"  {model.name:<24} {model.rows_inserted:>10} rows  {model.seconds:6.2f}s")
    for name, why in summary.skipped.items():
        print(f"  {name:<24} skipped: {why}")
    return 0
