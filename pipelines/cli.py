"""The `uapi` command: thin argument parsing over the pipeline and sandbox packages."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sources.utilityapi import settings
from sources.utilityapi.errors import TOKEN_HELP, UtilityAPIError

EXIT_FAILED = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="uapi", description="Load UtilityAPI bills and interval data into DuckDB."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log requests and retries")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_load(commands)
    return parser


def _add_load(commands: Any) -> None:
    load = commands.add_parser(
        "load",
        help="load authorizations, meters, bills, intervals and events into DuckDB",
        description="Load UtilityAPI data incrementally: only meters whose data changed are "
        "asked for bills and intervals. Downloads are free; nothing here triggers a collection.",
    )
    _add_api_options(load)
    _add_db_options(load)
    load.add_argument(
        "--resources",
        type=_csv,
        help="comma-separated subset of authorizations,meters,bills,intervals,events",
    )
    load.add_argument("--meters", type=_csv, help="comma-separated meter uids (default: all)")
    load.add_argument(
        "--start-date",
        help="earliest data to fetch for meters loaded for the first time (YYYY-MM-DD or ISO 8601)",
    )
    load.add_argument(
        "--full-refresh",
        action="store_true",
        help="drop the loaded tables and state, then reload everything",
    )
    load.add_argument(
        "--lookback-days",
        type=float,
        help=f"re-read this many days before each meter's cursor (default "
        f"{settings.DEFAULT_LOOKBACK_DAYS:g})",
    )
    load.set_defaults(func=cmd_load)


def _add_api_options(parser: argparse.ArgumentParser) -> None:
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
    parser.add_argument(
        "--token",
        help="API token (default: SOURCES__UTILITYAPI__API_TOKEN or .dlt/secrets.toml)",
    )
    parser.add_argument(
        "--rate-limit",
        type=float,
        help=f"requests per second for the account (default {settings.DEFAULT_RATE_LIMIT:g}; "
        "0 for none)",
    )
    parser.add_argument("--concurrency", type=int, help="requests in flight at once (default 16)")


def _add_db_options(parser: argparse.ArgumentParser) -> None:
    from .pipeline import DEFAULT_DATASET, DEFAULT_DB

    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"DuckDB file ({DEFAULT_DB})")
    parser.add_argument(
        "--dataset", default=DEFAULT_DATASET, help=f"schema for raw tables ({DEFAULT_DATASET})"
    )


def cmd_load(args: argparse.Namespace) -> int:
    from sources.utilityapi import LoadReport

    from .pipeline import LoadOptions, run_load
    from .summary import Progress, format_summary, report_dict, write_report

    with api_endpoint(args) as (base_url, token):
        options = LoadOptions(
            api_token=token,
            base_url=base_url,
            db_path=args.db,
            dataset=args.dataset,
            resources=args.resources or (),
            meters=args.meters,
            start_date=args.start_date,
            full_refresh=args.full_refresh,
            rate_limit=args.rate_limit,
            max_concurrency=args.concurrency,
            lookback_days=args.lookback_days,
        )
        report = LoadReport()
        try:
            with Progress(report):
                result = run_load(options, report)
        except Exception as exc:  # noqa: BLE001 - reported, then the exit status says failed
            return _fail(exc, base_url, args.db, args.dataset, report)
        summary = report_dict(result, base_url=base_url, db_path=args.db, dataset=args.dataset)
        path = write_report(summary, args.db)
        print(format_summary(summary))
        print(f"\nRun report: {path}")
    return 0


@contextlib.contextmanager
def api_endpoint(args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    """The API root and token to use: the embedded sandbox, or the configured UtilityAPI."""
    if args.sandbox:
        from sandbox import Sandbox, SandboxConfig

        config: dict[str, Any] = {"scale": "demo"}
        with Sandbox(SandboxConfig(**config)) as sb:
            print(f"Sandbox serving {sb.base_url}", file=sys.stderr)
            yield sb.base_url, sb.token
        return
    token = args.token or _configured("api_token", secret=True)
    if not token:
        raise SystemExit(_usage_error(f"No UtilityAPI token. {TOKEN_HELP} Or try --sandbox."))
    yield (args.base_url or _configured("base_url") or settings.BASE_URL), token


def _configured(name: str, secret: bool = False) -> str | None:
    import dlt

    key = f"sources.utilityapi.{name}"
    try:
        value = (dlt.secrets if secret else dlt.config).get(key)
    except Exception:  # noqa: BLE001 - an unreadable config file means "not configured"
        return None
    return str(value) if value else None


def _fail(exc: BaseException, base_url: str, db: Path, dataset: str, report: Any) -> int:
    from .summary import write_report

    error = find_api_error(exc)
    message = str(error) if error is not None else f"{type(exc).__name__}: {exc}"
    write_report(
        {
            "status": "failed",
            "error": message,
            "base_url": base_url,
            "database": str(db),
            "dataset": dataset,
            **report.as_dict(),
        },
        db,
    )
    print(f"uapi: load failed, nothing was committed: {message}", file=sys.stderr)
    if error is None:
        logging.getLogger(__name__).debug("load failed", exc_info=exc)
    return EXIT_FAILED


def find_api_error(exc: BaseException | None) -> UtilityAPIError | None:
    """The UtilityAPIError behind dlt's wrapping exceptions, if any."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, UtilityAPIError):
            return exc
        seen.add(id(exc))
        exc = getattr(exc, "exception", None) or exc.__cause__ or exc.__context__
    return None


def _usage_error(message: str) -> int:
    print(f"uapi: {message}", file=sys.stderr)
    return EXIT_USAGE


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        # httpx logs every request at INFO; the summary reports them instead.
        logging.getLogger("httpx").setLevel(logging.WARNING)
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
