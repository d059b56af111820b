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

from sandbox.cli import add_subcommands as add_sandbox_subcommands
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
    _add_backfill(commands)
    _add_test_submit(commands)
    _add_collect(commands)
    _add_webhooks(commands)
    _add_events(commands)
    _add_transform(commands)
    add_sandbox_subcommands(commands)
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
        help="comma-separated subset of authorizations,meters,bills,intervals,events,meter_access",
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


def _add_transform(commands: Any) -> None:
    transform = commands.add_parser(
        "transform",
        help="build the analytics tables (incrementally unless --full-refresh)",
        description="Bring the `analytics` tables up to date with the raw tables: only the "
        "meters and days that loads since the last run touched are recomputed.",
    )
    from .pipeline import DEFAULT_DB

    transform.add_argument(
        "--db", type=Path, default=DEFAULT_DB, help=f"DuckDB file ({DEFAULT_DB})"
    )
    transform.add_argument(
        "--full-refresh", action="store_true", help="rebuild every table from the raw tables"
    )
    transform.set_defaults(func=cmd_transform)


def cmd_transform(args: argparse.Namespace) -> int:
    from transforms import TransformError, run

    from .pipeline import make_pipeline
    from .summary import format_transform

    if not args.db.exists():
        print(f"no database at {args.db}: run `uapi load` first")
        return EXIT_FAILED
    try:
        result = run(make_pipeline(args.db), full_refresh=args.full_refresh)
    except TransformError as error:
        print(f"uapi: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(format_transform(result))
    return 0


def _add_backfill(commands: Any) -> None:
    backfill = commands.add_parser(
        "backfill",
        help="reload chosen meters' bills and intervals without touching other meters' state",
    )
    _add_api_options(backfill)
    _add_db_options(backfill)
    backfill.add_argument("--meters", type=_csv, required=True, help="comma-separated meter uids")
    backfill.add_argument("--since", help="reload from this date (default: whole history)")
    backfill.set_defaults(func=cmd_backfill)


def _add_test_submit(commands: Any) -> None:
    from sources.utilityapi.actions import SCENARIOS

    submit = commands.add_parser(
        "test-submit",
        help="create a test authorization for a scenario (residential, commercial, badlogin, ...)",
    )
    _add_api_options(submit)
    submit.add_argument("--scenario", required=True, choices=SCENARIOS)
    submit.add_argument("--utility", default="DEMO", help="utility to fake (default DEMO)")
    submit.add_argument("--form", help="existing form uid (default: create one)")
    submit.set_defaults(func=cmd_test_submit)


def _add_collect(commands: Any) -> None:
    from sources.utilityapi.actions import FREQUENCIES

    collect = commands.add_parser(
        "collect", help="start charged collections: historical data or ongoing monitoring"
    )
    kinds = collect.add_subparsers(dest="collect_kind", required=True, metavar="KIND")
    historical = kinds.add_parser(
        "historical", help="collect past bills and intervals (charged per meter)"
    )
    monitoring = kinds.add_parser(
        "monitoring", help="start, change or stop scheduled refreshes (each refresh is charged)"
    )
    for parser in (historical, monitoring):
        _add_api_options(parser)
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--meters", type=_csv, help="comma-separated meter uids")
        which.add_argument("--authorization", help="every meter of this authorization")
        if parser is historical:
            which.add_argument(
                "--not-activated", action="store_true", help="every meter not activated yet"
            )
        parser.add_argument(
            "--dry-run", action="store_true", help="list the meters and stop; nothing is sent"
        )
        parser.add_argument(
            "--yes", action="store_true", help="do not ask for confirmation (needed in scripts)"
        )
    historical.add_argument(
        "--months", type=int, choices=range(1, 37), metavar="1..36", help="months to collect"
    )
    historical.set_defaults(func=cmd_collect_historical, not_activated=False)
    monitoring.add_argument("--frequency", required=True, choices=FREQUENCIES)
    monitoring.set_defaults(func=cmd_collect_monitoring, not_activated=False)


def _add_webhooks(commands: Any) -> None:
    webhooks = commands.add_parser("webhooks", help="receive UtilityAPI webhooks")
    actions = webhooks.add_subparsers(dest="webhooks_action", required=True, metavar="ACTION")
    serve = actions.add_parser(
        "serve",
        help="verify and store webhooks, then load only the meters they name",
        description="Events are stored durably and deduplicated before the 200; bursts are "
        "debounced into one load of the named meters.",
    )
    _add_api_options(serve)
    _add_db_options(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8787)
    serve.add_argument(
        "--secret",
        help="webhook secret from UtilityAPI's webhook settings "
        "(default: UAPI_WEBHOOK_SECRET or [webhooks] secret in .dlt/secrets.toml)",
    )
    serve.add_argument(
        "--quiet-seconds",
        type=float,
        default=5.0,
        help="wait this long after the last event of a burst before loading (default 5)",
    )
    serve.set_defaults(func=cmd_webhooks_serve)


def _add_events(commands: Any) -> None:
    events = commands.add_parser("events", help="work with UtilityAPI's /events list")
    actions = events.add_subparsers(dest="events_action", required=True, metavar="ACTION")
    sync = actions.add_parser(
        "sync",
        help="poll undelivered events, load the meters they name, mark them delivered",
        description="For deployments without a public webhook endpoint.",
    )
    _add_api_options(sync)
    _add_db_options(sync)
    sync.set_defaults(func=cmd_events_sync)


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
    parser.add_argument("--concurrency", type=int, help="requests in flight at once (default 32)")


def _add_db_options(parser: argparse.ArgumentParser) -> None:
    from .pipeline import DEFAULT_DATASET, DEFAULT_DB

    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"DuckDB file ({DEFAULT_DB})")
    parser.add_argument(
        "--dataset", default=DEFAULT_DATASET, help=f"schema for raw tables ({DEFAULT_DATASET})"
    )


def cmd_load(args: argparse.Namespace) -> int:
    with api_endpoint(args) as (base_url, token):
        options = _load_options(
            args,
            base_url,
            token,
            resources=args.resources or (),
            meters=args.meters,
            start_date=args.start_date,
            full_refresh=args.full_refresh,
            lookback_days=args.lookback_days,
        )
        return _load_and_report(options, args)


def _load_options(args: argparse.Namespace, base_url: str, token: str, **extra: Any) -> Any:
    from .pipeline import LoadOptions

    return LoadOptions(
        api_token=token,
        base_url=base_url,
        db_path=args.db,
        dataset=args.dataset,
        rate_limit=args.rate_limit,
        max_concurrency=args.concurrency,
        **extra,
    )


def cmd_backfill(args: argparse.Namespace) -> int:
    with api_endpoint(args) as (base_url, token):
        options = _load_options(
            args,
            base_url,
            token,
            resources=("meters", "bills", "interval_readings"),
            meters=args.meters,
            backfill={uid: args.since for uid in args.meters},
        )
        return _load_and_report(options, args)


def _load_and_report(options: Any, args: argparse.Namespace) -> int:
    """Run a load with progress on a terminal; print the summary or the failure."""
    from sources.utilityapi import LoadReport

    from .pipeline import run_load
    from .summary import Progress

    report = LoadReport()
    try:
        with Progress(report):
            result = run_load(options, report)
    except Exception as exc:  # noqa: BLE001 - reported, then the exit status says failed
        return _fail(exc, options.base_url, args.db, args.dataset, report)
    return _print_load(result, options.base_url, args)


def cmd_test_submit(args: argparse.Namespace) -> int:
    from sources.utilityapi.actions import submit_test_form

    with api_client(args) as client:
        submission = submit_test_form(client, args.scenario, args.utility, args.form)
    auth = submission.authorization
    print(f"Form {submission.form_uid} test-submitted with scenario '{args.scenario}'.")
    if submission.referral:
        print(f"Referral: {submission.referral}")
    if auth is None:
        print("The authorization is not listed yet; run `uapi load` in a moment to see it.")
        return 0
    print(
        f"Authorization {auth.get('uid')}: status {auth.get('status')} "
        f"({auth.get('status_message')})"
    )
    listing = auth.get("meters") if isinstance(auth.get("meters"), dict) else {}
    meters = [m for m in (listing or {}).get("meters", []) if isinstance(m, dict)]
    for meter in meters:
        print(f"  meter {meter.get('uid')}: {meter.get('status_message')}")
    print()
    if auth.get("status") == "errored":
        print(
            "Next: this scenario fails on purpose; see the authorization's notes with `uapi load`."
        )
    elif meters:
        uids = ",".join(str(m.get("uid")) for m in meters)
        print(
            f"Next: collect its history (charged, test meters included):\n"
            f"  uapi collect historical --meters {uids}\nthen load it:  uapi load"
        )
    else:
        print(
            "Next: meters appear once the authorization is verified; run `uapi load` "
            "or watch for authorization_update_finished_successful events."
        )
    return 0


def cmd_collect_historical(args: argparse.Namespace) -> int:
    from sources.utilityapi.actions import start_historical_collection

    months = f"{args.months} months" if args.months else "the account's default window"
    return _collect(
        args,
        what=f"historical collection of {months}",
        act=lambda client, uids: start_historical_collection(client, uids, args.months),
    )


def cmd_collect_monitoring(args: argparse.Namespace) -> int:
    from sources.utilityapi.actions import set_monitoring

    what = (
        "stopping ongoing monitoring"
        if args.frequency == "off"
        else f"{args.frequency} ongoing monitoring (each refresh is charged)"
    )
    return _collect(
        args, what=what, act=lambda client, uids: set_monitoring(client, uids, args.frequency)
    )


def _collect(args: argparse.Namespace, what: str, act: Any) -> int:
    from sources.utilityapi.actions import select_meters
    from sources.utilityapi.errors import ExpiredOrRevokedError

    with api_client(args) as client:
        meters = select_meters(
            client,
            meter_uids=args.meters,
            authorization_uid=args.authorization,
            not_activated=args.not_activated,
        )
        if not meters:
            print("No meters match; nothing to do.")
            return 0
        print(f"{what.capitalize()} for {len(meters)} meter(s):")
        for meter in meters:
            print(
                f"  {meter.get('uid')}  {meter.get('utility')}  authorization "
                f"{meter.get('authorization_uid')}  {meter.get('status_message') or ''}"
            )
        print("UtilityAPI charges for each collection; downloads by `uapi load` are free.")
        if args.dry_run:
            print("Dry run: nothing was sent.")
            return 0
        if not confirm(f"Start {what} for {len(meters)} meter(s)?", args.yes):
            return EXIT_USAGE
        uids = [str(m.get("uid")) for m in meters]
        try:
            result = act(client, uids)
        except ExpiredOrRevokedError as exc:
            print(f"uapi: {exc}\nDropped (revoked or expired): {', '.join(uids)}", file=sys.stderr)
            return EXIT_FAILED
    print(f"UtilityAPI accepted {len(result.accepted)} meter(s): {', '.join(result.accepted)}")
    if result.dropped:
        print(
            f"Dropped {len(result.dropped)} meter(s) whose authorization is revoked or expired "
            f"(not charged): {', '.join(result.dropped)}"
        )
    print("Watch progress with `uapi events sync` or webhooks; then `uapi load` fetches the data.")
    return 0


def confirm(question: str, assume_yes: bool) -> bool:
    """Ask on a terminal; refuse when nobody can answer and --yes was not given."""
    if assume_yes:
        return True
    if not sys.stdin.isatty():
        print(
            "uapi: refusing to start a charged collection without confirmation; "
            "pass --yes when running non-interactively.",
            file=sys.stderr,
        )
        return False
    answer = input(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        print("Nothing was sent.")
        return False
    return True


def cmd_webhooks_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .events import EventProcessor, Inbox
    from .receiver import WEBHOOK_PATH, ProcessingLoop, receiver_app

    secret = args.secret or os.environ.get("UAPI_WEBHOOK_SECRET") or _secret("webhooks.secret")
    if not secret:
        return _usage_error(
            "No webhook secret: pass --secret, set UAPI_WEBHOOK_SECRET, or put [webhooks] "
            "secret in .dlt/secrets.toml (the secret is in UtilityAPI's webhook settings)."
        )
    logging.getLogger("pipelines").setLevel(logging.INFO)
    with api_endpoint(args) as (base_url, token):
        inbox = Inbox(inbox_path(args.db))
        processor = EventProcessor(
            inbox, _load_options(args, base_url, token), quiet_seconds=args.quiet_seconds
        )
        loop = ProcessingLoop(processor)
        app = receiver_app(inbox, secret)
        print(f"Receiving UtilityAPI webhooks at http://{args.host}:{args.port}{WEBHOOK_PATH}")
        print(f"Events are stored in {inbox_path(args.db)}; loads go to {args.db}.")
        loop.start()
        try:
            uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
        finally:
            loop.stop()
            inbox.close()
    return 0


def cmd_events_sync(args: argparse.Namespace) -> int:
    from sources.utilityapi import UtilityAPIClient

    from .events import EventProcessor, Inbox, sync_events

    with api_endpoint(args) as (base_url, token):
        inbox = Inbox(inbox_path(args.db))
        options = _load_options(args, base_url, token)
        client = UtilityAPIClient(token, base_url, **_client_args(args))
        try:
            outcome = sync_events(client, EventProcessor(inbox, options))
        except Exception as exc:  # noqa: BLE001
            return _fail(exc, base_url, args.db, args.dataset, None)
        finally:
            client.close()
            inbox.close()
    print(f"Fetched {outcome.fetched} undelivered event(s), {outcome.new} new.")
    if outcome.processed and outcome.processed.result:
        rows = outcome.processed.result.row_counts
        print(
            f"Loaded: {', '.join(f'{t} {n:,}' for t, n in sorted(rows.items())) or 'nothing new'}"
        )
    print(f"Marked {outcome.marked_delivered} event(s) delivered at UtilityAPI.")
    return 0


def inbox_path(db_path: Path) -> Path:
    return Path(db_path).with_name(Path(db_path).stem + ".events.sqlite")


@contextlib.contextmanager
def api_client(args: argparse.Namespace) -> Iterator[Any]:
    from sources.utilityapi import UtilityAPIClient

    with api_endpoint(args) as (base_url, token):
        client = UtilityAPIClient(token, base_url, **_client_args(args))
        try:
            yield client
        finally:
            client.close()


def _client_args(args: argparse.Namespace) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if args.rate_limit is not None:
        extra["rate_limit"] = args.rate_limit or None
    if args.concurrency is not None:
        extra["max_concurrency"] = args.concurrency
    return extra


def _secret(key: str) -> str | None:
    import dlt

    try:
        value = dlt.secrets.get(key)
    except Exception:  # noqa: BLE001
        return None
    return str(value) if value else None


def _print_load(result: Any, base_url: str, args: argparse.Namespace) -> int:
    from .summary import format_summary, format_transform, report_dict, write_report

    summary = report_dict(result, base_url=base_url, db_path=args.db, dataset=args.dataset)
    path = write_report(summary, args.db)
    print(format_summary(summary))
    print()
    if result.transform is not None:
        print(format_transform(result.transform))
    elif result.transform_skipped:
        print(f"transform skipped: {result.transform_skipped}")
    print(f"\nRun report: {path}")
    if result.transform_error:
        print(
            f"uapi: the load is committed, but the transform failed: {result.transform_error}. "
            "Run `uapi transform` to retry it.",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return 0


@contextlib.contextmanager
def api_endpoint(args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    """The API root and token to use: the embedded sandbox, or the configured UtilityAPI."""
    if args.sandbox:
        from sandbox import Sandbox, SandboxConfig

        config: dict[str, Any] = {"scale": "demo"}
        # A separate process serves the sandbox on the other core, off this one's GIL.
        with Sandbox(SandboxConfig(**config), mode="process") as sb:
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


def _fail(exc: BaseException, base_url: str, db: Path, dataset: str, report: Any | None) -> int:
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
            **(report.as_dict() if report is not None else {}),
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
    try:
        return int(args.func(args) or 0)
    except UtilityAPIError as exc:
        print(f"uapi: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
