"""Command-line values, checked where they are parsed: a bad value is a usage error (exit 2)
naming the flag and what it accepts, before anything is fetched or written."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import date, datetime
from pathlib import Path

from sources.utilityapi import settings

from .pipeline import DEFAULT_DATASET, DEFAULT_DB, DEFAULT_DESTINATION, TABLE_FORMATS

# A warehouse identifier every destination accepts unquoted.
DATASET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
MAX_CONCURRENCY = 256
DUCKDB_MAGIC = b"DUCK"


def csv_list(what: str):  # noqa: ANN201 - an argparse type
    """A comma-separated list that must name at least one item."""

    def parse(value: str) -> list[str]:
        items = [part.strip() for part in value.split(",") if part.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"expected one or more {what}, comma-separated")
        return items

    return parse


def resource_list(value: str) -> list[str]:
    from .pipeline import resolve_resources

    try:
        return resolve_resources(csv_list("resource names")(value))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def start_date(value: str) -> str:
    """YYYY-MM-DD or an ISO 8601 timestamp (with or without offset; naive means UTC)."""
    text = value.strip()
    try:
        if len(text) == 10:
            date.fromisoformat(text)
        else:
            datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{value}' is not a date: use YYYY-MM-DD or an ISO 8601 timestamp "
            "such as 2025-01-31T00:00:00-08:00"
        ) from None
    return text


def non_negative(kind: type[float] | type[int], what: str):  # noqa: ANN201
    def parse(value: str) -> float | int:
        try:
            number = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{value}' is not a {what}") from None
        if number < 0 or number != number:
            raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
        return number

    return parse


def positive_int(maximum: int | None = None):  # noqa: ANN201
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{value}' is not a whole number") from None
        if number < 1 or (maximum is not None and number > maximum):
            bound = f"1 to {maximum}" if maximum else "1 or more"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return number

    return parse


def positive_float(value: str) -> float:
    number = non_negative(float, "number")(value)
    if number == 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return float(number)


def dataset_name(value: str) -> str:
    if not DATASET_NAME.match(value):
        raise argparse.ArgumentTypeError(
            f"'{value}' is not a dataset name: use letters, digits and underscores, starting "
            "with a letter or underscore (at most 63 characters)"
        )
    return value


def add_api_options(parser: argparse.ArgumentParser) -> None:
    """Where the API is and how hard to use it; each maps onto the source's configuration."""
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="start the embedded sandbox with demo data and use it instead of UtilityAPI",
    )
    parser.add_argument(
        "--base-url",
        help=f"API root ending in /api/v2 (default {settings.BASE_URL}, or "
        "sources.utilityapi.base_url in .dlt/config.toml)",
    )
    token = parser.add_mutually_exclusive_group()
    token.add_argument(
        "--token-file",
        type=Path,
        help="read the API token from this file ('-': standard input)",
    )
    token.add_argument(
        "--token",
        help="API token; visible to other users in `ps` and kept in shell history, so prefer "
        "SOURCES__UTILITYAPI__API_TOKEN, .dlt/secrets.toml or --token-file",
    )
    parser.add_argument(
        "--rate-limit",
        type=non_negative(float, "number"),
        help=f"requests per second for the account (default {settings.DEFAULT_RATE_LIMIT:g}; "
        "0 for none)",
    )
    parser.add_argument(
        "--concurrency",
        type=positive_int(MAX_CONCURRENCY),
        help=f"requests in flight at once (default {settings.DEFAULT_MAX_CONCURRENCY})",
    )


def add_target_options(parser: argparse.ArgumentParser, *, locking: bool = True) -> None:
    """Which warehouse and dataset, and how to behave when another run is writing it."""
    parser.add_argument(
        "--destination",
        default=DEFAULT_DESTINATION,
        help="any dlt destination name: duckdb (default), motherduck, postgres, bigquery, "
        "snowflake, databricks, filesystem, ...; credentials come from dlt's configuration",
    )
    parser.add_argument(
        "--db",
        type=Path,
        help=f"DuckDB file (default {DEFAULT_DB}); for the filesystem destination, the DuckDB "
        "file its analytics tables are built in (default: lake.duckdb in its working folder)",
    )
    parser.add_argument(
        "--dataset",
        type=dataset_name,
        default=DEFAULT_DATASET,
        help=f"dataset (schema) of the raw tables (default {DEFAULT_DATASET})",
    )
    parser.add_argument(
        "--table-format",
        choices=TABLE_FORMATS,
        help="table format for the filesystem destination (plain parquet cannot merge)",
    )
    if locking:
        parser.add_argument(
            "--wait",
            type=non_negative(float, "number of seconds"),
            default=0.0,
            metavar="SECONDS",
            help="if another run holds the database, wait up to this long (default: exit "
            "at once with status 75)",
        )


def add_output_options(parser: argparse.ArgumentParser) -> None:
    from .progress import LOG_INTERVAL_SECONDS

    parser.add_argument(
        "--json",
        action="store_true",
        help="print the run report as JSON on standard output, and nothing else there",
    )
    parser.add_argument(
        "--progress-every",
        type=positive_float,
        default=LOG_INTERVAL_SECONDS,
        metavar="SECONDS",
        help="without a terminal, log a progress line this often (default "
        f"{LOG_INTERVAL_SECONDS:g})",
    )


def add_checkpoint_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint-meters",
        type=positive_int(),
        help=f"commit after this many meters (default {settings.CHECKPOINT_METERS})",
    )
    parser.add_argument(
        "--checkpoint-minutes",
        type=positive_float,
        help=f"commit after this many minutes of fetching (default "
        f"{settings.CHECKPOINT_MINUTES:g})",
    )
    parser.add_argument(
        "--checkpoint-readings",
        type=positive_int(),
        help=f"commit after meters listing this many readings (default "
        f"{settings.CHECKPOINT_READINGS:,})",
    )


def check_db_path(path: Path) -> str | None:
    """Why a DuckDB path cannot be used, or None."""
    if path.exists():
        if not path.is_file():
            return f"--db {path} is not a file"
        try:
            with path.open("rb") as handle:
                header = handle.read(12)
        except OSError as exc:
            return f"--db {path} cannot be read: {exc.strerror}"
        if header and header[8:12] != DUCKDB_MAGIC:
            return f"--db {path} is not a DuckDB database (choose a new file name to create one)"
        return None
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if str(path.resolve()).startswith("/proc/") or not _writable_dir(parent):
        return f"--db {path}: cannot create files in {parent}"
    return None


def read_token_file(path: Path) -> str:
    """The token from a file or standard input ('-'), stripped; an empty one is an error."""
    if str(path) == "-":
        text = sys.stdin.read()
    else:
        try:
            text = path.read_text()
        except OSError as exc:
            raise argparse.ArgumentTypeError(f"--token-file {path}: {exc.strerror}") from None
    token = text.strip()
    if not token:
        raise argparse.ArgumentTypeError(f"--token-file {path} is empty")
    return token


def _writable_dir(folder: Path) -> bool:
    import os

    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)
