"""The `uapi` command: thin argument parsing over the pipeline and sandbox packages.

Every command ends with an exit status a scheduler can act on (README "Exit statuses"); loads
also write a JSON run report whose `status` says the same, and `--json` prints it on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

from sandbox.cli import add_subcommands as add_sandbox_subcommands
from sources.utilityapi.errors import UtilityAPIError

from . import arguments
from .outcome import Outcome


class UsageError(Exception):
    """Bad input: the message names the flag and what it accepts."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="uapi",
        description="Load UtilityAPI bills and interval data into DuckDB or any dlt destination.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log requests and retries")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    _add_load(commands)
    _add_backfill(commands)
    _add_transform(commands)
    _add_test_submit(commands)
    _add_collect(commands)
    _add_webhooks(commands)
    _add_events(commands)
    _add_report(commands)
    _add_query(commands)
    add_sandbox_subcommands(commands)
    return parser


def _add_load(commands: Any) -> None:
    load = commands.add_parser(
        "load",
        help="load authorizations, meters, bills, intervals and events",
        description="Load UtilityAPI data incrementally: only meters whose data changed are "
        "asked for bills and intervals. Downloads are free; nothing here triggers a collection.",
    )
    arguments.add_api_options(load)
    arguments.add_target_options(load)
    arguments.add_output_options(load)
    arguments.add_checkpoint_options(load)
    load.add_argument(
        "--resources",
        type=arguments.resource_list,
        help="comma-separated subset of authorizations,meters,bills,intervals,events,meter_access",
    )
    load.add_argument(
        "--meters", type=arguments.csv_list("meter uids"), help="comma-separated meter uids"
    )
    load.add_argument(
        "--start-date",
        type=arguments.start_date,
        help="earliest data to fetch for meters loaded for the first time (YYYY-MM-DD or ISO 8601)",
    )
    load.add_argument(
        "--full-refresh",
        action="store_true",
        help="drop the loaded tables and state, then reload everything",
    )
    load.add_argument(
        "--lookback-days",
        type=arguments.non_negative(float, "number of days"),
        help="re-read this many days before each meter's cursor (default 7)",
    )
    _add_no_transform(load)
    _add_keep_reports(load)
    load.set_defaults(func=cmd_load)


def _add_backfill(commands: Any) -> None:
    backfill = commands.add_parser(
        "backfill",
        help="reload chosen meters' bills and intervals without touching other meters' state",
    )
    arguments.add_api_options(backfill)
    arguments.add_target_options(backfill)
    arguments.add_output_options(backfill)
    arguments.add_checkpoint_options(backfill)
    backfill.add_argument(
        "--meters",
        type=arguments.csv_list("meter uids"),
        required=True,
        help="comma-separated meter uids",
    )
    backfill.add_argument(
        "--since", type=arguments.start_date, help="reload from this date (default: all history)"
    )
    _add_no_transform(backfill)
    _add_keep_reports(backfill)
    backfill.set_defaults(func=cmd_backfill)


def _add_no_transform(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-transform",
        action="store_true",
        help="load the raw tables only; `uapi transform` builds the analytics tables later "
        "(e.g. once after several loads)",
    )


def _add_keep_reports(parser: argparse.ArgumentParser) -> None:
    from .summary import REPORT_RETENTION_DAYS

    parser.add_argument(
        "--keep-reports",
        type=arguments.non_negative(float, "number of days"),
        default=REPORT_RETENTION_DAYS,
        metavar="DAYS",
        help=f"delete run reports older than this (default {REPORT_RETENTION_DAYS:g} days)",
    )


def _add_transform(commands: Any) -> None:
    transform = commands.add_parser(
        "transform",
        help="build the analytics tables (incrementally unless --full-refresh)",
        description="Bring the `analytics` tables up to date with the raw tables: only the "
        "meters and days that loads since the last run touched are recomputed.",
    )
    arguments.add_target_options(transform)
    transform.add_argument(
        "--full-refresh", action="store_true", help="rebuild every table from the raw tables"
    )
    transform.set_defaults(func=cmd_transform)


def _add_test_submit(commands: Any) -> None:
    from sources.utilityapi.actions import SCENARIOS

    submit = commands.add_parser(
        "test-submit",
        help="create a test authorization for a scenario (residential, commercial, badlogin, ...)",
    )
    arguments.add_api_options(submit)
    submit.add_argument("--scenario", required=True, choices=SCENARIOS)
    submit.add_argument("--utility", default="DEMO", help="utility to fake (default DEMO)")
    submit.add_argument("--form", help="existing form uid (default: create one)")
    submit.set_defaults(func=cmd_test_submit)


def _add_collect(commands: Any) -> None:
    from sources.utilityapi.actions import FREQUENCIES

    collect = commands.add_parser(
        "collect", help="start charged collections: historical data or ongoing monitoring"
    )
    kinds = collect.add_subparsers(
        dest="collect_kind", required=True, metavar="KIND", parser_class=_Parser
    )
    historical = kinds.add_parser(
        "historical", help="collect past bills and intervals (charged per meter)"
    )
    monitoring = kinds.add_parser(
        "monitoring", help="start, change or stop scheduled refreshes (each refresh is charged)"
    )
    for parser in (historical, monitoring):
        arguments.add_api_options(parser)
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument(
            "--meters", type=arguments.csv_list("meter uids"), help="comma-separated meter uids"
        )
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
    actions = webhooks.add_subparsers(
        dest="webhooks_action", required=True, metavar="ACTION", parser_class=_Parser
    )
    serve = actions.add_parser(
        "serve",
        help="verify and store webhooks, then load only the meters they name",
        description="Events are stored durably and deduplicated before the 200; bursts are "
        "debounced into one load of the named meters.",
    )
    arguments.add_api_options(serve)
    arguments.add_target_options(serve, locking=False)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8787)
    serve.add_argument(
        "--secret",
        help="webhook secret from UtilityAPI's webhook settings "
        "(default: UAPI_WEBHOOK_SECRET or [webhooks] secret in .dlt/secrets.toml)",
    )
    serve.add_argument(
        "--quiet-seconds",
        type=arguments.non_negative(float, "number of seconds"),
        default=5.0,
        help="wait this long after the last event of a burst before loading (default 5)",
    )
    serve.set_defaults(func=cmd_webhooks_serve)


def _add_events(commands: Any) -> None:
    events = commands.add_parser("events", help="work with UtilityAPI's /events list")
    actions = events.add_subparsers(
        dest="events_action", required=True, metavar="ACTION", parser_class=_Parser
    )
    sync = actions.add_parser(
        "sync",
        help="poll undelivered events, load the meters they name, mark them delivered",
    )
    arguments.add_api_options(sync)
    arguments.add_target_options(sync)
    sync.add_argument(
        "--delivery-target",
        action="append",
        metavar="URL",
        help="a webhook URL of ours, as events show it in delivery_target (repeatable; default: "
        "[webhooks] target in .dlt/config.toml). Only events for no target or for one of ours "
        "are marked delivered; copies for other targets are loaded from but left alone",
    )
    sync.set_defaults(func=cmd_events_sync)


def _add_report(commands: Any) -> None:
    from report import DEFAULT_OUT

    report = commands.add_parser(
        "report",
        help="write an HTML report of the loaded data (one file that works offline)",
        description="Read the analytics tables (read-only) and write one self-contained HTML "
        "page: the account's meters, coverage and data quality, and per meter its daily usage, "
        "load shape, coverage calendar, bills against interval data and solar export.",
    )
    arguments.add_target_options(report, locking=False)
    report.add_argument(
        "--meters",
        type=arguments.csv_list("meter uids"),
        help="comma-separated meter uids (default: every meter)",
    )
    report.add_argument(
        "--out",
        type=_report_path,
        default=DEFAULT_OUT,
        metavar="PATH",
        help=f"the HTML file to write (default {DEFAULT_OUT})",
    )
    report.set_defaults(func=cmd_report)


def _report_path(value: str) -> Path:
    path = Path(value)
    if path.is_dir():
        raise argparse.ArgumentTypeError(
            f"{value} is a folder; give a file name such as report.html"
        )
    return path


def _add_query(commands: Any) -> None:
    from report.query import FORMATS

    query = commands.add_parser(
        "query",
        help="run SQL against the warehouse and print the result (read-only for DuckDB)",
        description="Run one SQL statement against the warehouse and print its rows. Name "
        "tables with their schema: analytics.meter_daily_usage, utilityapi.meters, ...",
    )
    query.add_argument("sql", metavar="SQL", help="the statement to run")
    arguments.add_target_options(query, locking=False)
    query.add_argument(
        "--format", choices=FORMATS, default="table", help="output format (default table)"
    )
    query.set_defaults(func=cmd_query)


def cmd_report(args: argparse.Namespace) -> int:
    from report import build_report, open_warehouse, write_report

    target = _target(args)
    try:
        with open_warehouse(target) as warehouse:
            page, account = build_report(
                warehouse, raw_schema=target.dataset, source=target.label, meter_uids=args.meters
            )
    except Exception as exc:  # noqa: BLE001 - mapped to a message and exit status
        return _reading_failure(exc, "report")
    written = write_report(page, account, args.out)
    print(
        f"Report of {written.meters} meter(s), {written.meters_with_data} with interval data, "
        f"written to {written.path} ({written.bytes / 1e6:.1f} MB; opens offline in any browser)."
    )
    return Outcome.OK.exit_code


def cmd_query(args: argparse.Namespace) -> int:
    from report import open_warehouse
    from report.query import format_result

    target = _target(args)
    try:
        with open_warehouse(target) as warehouse:
            result = warehouse.query(args.sql)
    except Exception as exc:  # noqa: BLE001 - mapped to a message and exit status
        return _reading_failure(exc, "query")
    sys.stdout.write(format_result(result, args.format))
    return Outcome.OK.exit_code


def _reading_failure(exc: Exception, what: str) -> int:
    """Exit status and message of a report or query that could not read the warehouse."""
    from report import QueryFailed, UnknownMeters, WarehouseBusy, WarehouseError

    if isinstance(exc, UnknownMeters) or (isinstance(exc, QueryFailed) and what == "query"):
        _err(str(exc))
        return Outcome.USAGE.exit_code
    if isinstance(exc, WarehouseBusy):
        _err(str(exc))
        return Outcome.LOCKED.exit_code
    if isinstance(exc, WarehouseError):
        _err(f"{what} failed: {exc}")
        return Outcome.FAILED.exit_code
    raise exc


def cmd_load(args: argparse.Namespace) -> int:
    extra = {
        "meters": args.meters,
        "start_date": args.start_date,
        "lookback_days": args.lookback_days,
    }
    return _load_and_report(args, extra, resources=args.resources, full_refresh=args.full_refresh)


def cmd_backfill(args: argparse.Namespace) -> int:
    extra = {"meters": args.meters, "backfill": {uid: args.since for uid in args.meters}}
    return _load_and_report(args, extra, resources=("meters", "bills", "interval_readings"))


def _load_and_report(
    args: argparse.Namespace,
    extra: dict[str, Any],
    *,
    resources: Any,
    full_refresh: bool = False,
) -> int:
    """Run a load with live progress; print the summary (or `--json` report); exit status."""
    from sources.utilityapi import LoadReport

    from .config import source_settings
    from .pipeline import LoadOptions, run_load
    from .progress import Progress
    from .summary import format_summary, report_dict, reports_dir, write_report

    target = _target(args)
    report = LoadReport()
    with api_endpoint(args) as endpoint:
        source = {**endpoint, **_source_flags(args), **{k: v for k, v in extra.items() if v}}
        base_url = str(source_settings(source).base_url)
        options = LoadOptions(
            target=target,
            source=source,
            resources=resources or (),
            full_refresh=full_refresh,
            lock_wait_seconds=args.wait,
            transform=not args.no_transform,
            **_checkpoints(args),
        )
        try:
            with Progress(report, interval=args.progress_every) as progress:
                result = run_load(options, report, on_phase=progress.phase)
        except Exception as exc:  # noqa: BLE001 - mapped to an outcome and reported
            return _report_failure(args, exc, base_url, target, report)
    summary = report_dict(result, base_url=base_url, target=target)
    path = write_report(summary, reports_dir(target), keep_days=args.keep_reports)
    if args.json:
        _print_json(summary)
        return result.outcome.exit_code
    print(format_summary(summary))
    print()
    _print_transform(result)
    print(f"\nRun report: {path}")
    if result.transform_error:
        _err(
            f"the load is committed, but the transform failed: {result.transform_error}. "
            "Run `uapi transform` to retry it."
        )
    return result.outcome.exit_code


def _print_transform(result: Any) -> None:
    from .summary import format_transform

    if result.transform is not None:
        print(format_transform(result.transform))
    elif result.transform_skipped:
        print(f"transform skipped: {result.transform_skipped}")


def _report_failure(
    args: argparse.Namespace, exc: BaseException, base_url: str | None, target: Any, report: Any
) -> int:
    """A load that committed nothing: say why, write the report, pick the exit status."""
    from .summary import failure_dict, reports_dir, write_report

    outcome, message = classify_failure(exc)
    summary = failure_dict(
        outcome, message, base_url=base_url, target=target, extra=report.as_dict()
    )
    with contextlib.suppress(OSError):
        write_report(summary, reports_dir(target), keep_days=args.keep_reports)
    if args.json:
        _print_json(summary)
    prefix = "" if outcome is not Outcome.FAILED else "load failed, nothing was committed: "
    _err(prefix + message)
    return outcome.exit_code


def classify_failure(exc: BaseException) -> tuple[Outcome, str]:
    """The outcome of a run that raised, and the message a user can act on."""
    from sources.utilityapi import UnknownMeterError

    from .lock import LockBusy
    from .pipeline import DestinationUnavailable, describe_failure

    cause = _find(exc, (UnknownMeterError, LockBusy, DestinationUnavailable, UtilityAPIError))
    if isinstance(cause, UnknownMeterError | ValueError | UsageError):
        return Outcome.USAGE, str(cause)
    if isinstance(cause, LockBusy):
        return Outcome.LOCKED, str(cause)
    if isinstance(cause, DestinationUnavailable) and "open in another program" in str(cause):
        return Outcome.LOCKED, str(cause)
    if cause is not None:
        return Outcome.FAILED, str(cause)
    if isinstance(exc, ValueError | UsageError):
        return Outcome.USAGE, str(exc)
    return Outcome.FAILED, describe_failure(exc)


def _find(exc: BaseException | None, kinds: tuple[type[BaseException], ...]) -> Any:
    """The first exception of `kinds` in the chain dlt wraps around the real one."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, kinds):
            return exc
        seen.add(id(exc))
        exc = getattr(exc, "exception", None) or exc.__cause__ or exc.__context__
    return None


def cmd_transform(args: argparse.Namespace) -> int:
    from .lock import writer_lock
    from .pipeline import describe_failure, make_pipeline, transform
    from .summary import format_transform

    target = _target(args)
    if target.transform_problem:
        _err(target.transform_problem)
        return Outcome.USAGE.exit_code
    if target.is_duckdb and not target.db_path.exists():
        _err(f"no database at {target.db_path}: run `uapi load` first")
        return Outcome.FAILED.exit_code
    with writer_lock(target.lock_path, target.label, wait_seconds=args.wait):
        try:
            result = transform(make_pipeline(target), target, full_refresh=args.full_refresh)
        except Exception as exc:  # noqa: BLE001 - reported with its exit status
            _err(f"transform failed: {describe_failure(exc)}")
            return Outcome.TRANSFORM_FAILED.exit_code
    print(format_transform(result))
    return Outcome.PARTIAL.exit_code if result.warnings else Outcome.OK.exit_code


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
            return Outcome.USAGE.exit_code
        uids = [str(m.get("uid")) for m in meters]
        try:
            result = act(client, uids)
        except ExpiredOrRevokedError as exc:
            _err(f"{exc}\nDropped (revoked or expired): {', '.join(uids)}")
            return Outcome.FAILED.exit_code
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
        _err(
            "refusing to start a charged collection without confirmation; "
            "pass --yes when running non-interactively."
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
    from .pipeline import LoadOptions
    from .receiver import WEBHOOK_PATH, ProcessingLoop, receiver_app

    secret = args.secret or os.environ.get("UAPI_WEBHOOK_SECRET") or _secret("webhooks.secret")
    if not secret:
        raise UsageError(
            "No webhook secret: pass --secret, set UAPI_WEBHOOK_SECRET, or put [webhooks] "
            "secret in .dlt/secrets.toml (the secret is in UtilityAPI's webhook settings)."
        )
    logging.getLogger("pipelines").setLevel(logging.INFO)
    target = _target(args)
    with api_endpoint(args) as endpoint:
        source = {**endpoint, **_source_flags(args)}
        inbox = Inbox(inbox_path(target))
        processor = EventProcessor(
            inbox, LoadOptions(target=target, source=source), quiet_seconds=args.quiet_seconds
        )
        loop = ProcessingLoop(processor)
        app = receiver_app(inbox, secret)
        print(f"Receiving UtilityAPI webhooks at http://{args.host}:{args.port}{WEBHOOK_PATH}")
        print(f"Events are stored in {inbox_path(target)}; loads go to {target.label}.")
        loop.start()
        try:
            uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
        finally:
            loop.stop()
            inbox.close()
    return 0


def cmd_events_sync(args: argparse.Namespace) -> int:
    from .events import EventProcessor, Inbox, sync_events
    from .pipeline import LoadOptions

    target = _target(args)
    with api_endpoint(args) as endpoint:
        source = {**endpoint, **_source_flags(args)}
        inbox = Inbox(inbox_path(target))
        options = LoadOptions(target=target, source=source, lock_wait_seconds=args.wait)
        try:
            with api_client(args, endpoint) as client:
                outcome = sync_events(
                    client, EventProcessor(inbox, options), _delivery_targets(args)
                )
        except Exception as exc:  # noqa: BLE001 - mapped to an outcome
            status, message = classify_failure(exc)
            _err(f"events sync failed: {message}")
            return status.exit_code
        finally:
            inbox.close()
    print(f"Fetched {outcome.fetched} undelivered event(s), {outcome.new} new.")
    result = outcome.processed.result if outcome.processed else None
    if result is not None:
        rows = result.row_counts
        print(
            f"Loaded: {', '.join(f'{t} {n:,}' for t, n in sorted(rows.items())) or 'nothing new'}"
        )
    print(f"Marked {outcome.marked_delivered} event(s) delivered at UtilityAPI.")
    if outcome.left_for_other_targets:
        print(
            f"Left {outcome.left_for_other_targets} event(s) for other delivery targets "
            "undelivered (loaded from, not marked; --delivery-target names ours)."
        )
    return result.outcome.exit_code if result is not None else 0


def inbox_path(target: Any) -> Path:
    if target.is_duckdb:
        return target.db_path.with_name(target.db_path.stem + ".events.sqlite")
    return target.working_dir / "events.sqlite"


@contextlib.contextmanager
def api_client(args: argparse.Namespace, endpoint: dict[str, Any] | None = None) -> Iterator[Any]:
    """A client configured like the source: flags first, then dlt's configuration."""
    from .config import api_client as configured_client

    if endpoint is None:
        with api_endpoint(args) as found:
            with api_client(args, found) as client:
                yield client
        return
    client = configured_client({**endpoint, **_source_flags(args)})
    try:
        yield client
    finally:
        client.close()


@contextlib.contextmanager
def api_endpoint(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """Token and base URL given on the command line (or the embedded sandbox's); whatever is
    not given here comes from dlt's configuration."""
    if args.sandbox:
        from sandbox import Sandbox, SandboxConfig

        # A separate process serves the sandbox on the other core, off this one's GIL.
        with Sandbox(SandboxConfig(scale="demo"), mode="process") as sb:
            print(f"Sandbox serving {sb.base_url}", file=sys.stderr)
            yield {"api_token": sb.token, "base_url": sb.base_url}
        return
    given: dict[str, Any] = {}
    if args.token_file is not None:
        try:
            given["api_token"] = arguments.read_token_file(args.token_file)
        except argparse.ArgumentTypeError as exc:
            raise UsageError(str(exc)) from None
    elif args.token:
        given["api_token"] = args.token
    if args.base_url:
        given["base_url"] = args.base_url
    yield given


def _checkpoints(args: argparse.Namespace) -> dict[str, Any]:
    given = {
        "checkpoint_meters": args.checkpoint_meters,
        "checkpoint_minutes": args.checkpoint_minutes,
        "checkpoint_readings": args.checkpoint_readings,
    }
    return {name: value for name, value in given.items() if value is not None}


def _source_flags(args: argparse.Namespace) -> dict[str, Any]:
    """Source settings given as flags (only those given: the rest come from dlt config)."""
    flags = {"rate_limit": args.rate_limit, "max_concurrency": args.concurrency}
    return {name: value for name, value in flags.items() if value is not None}


def _target(args: argparse.Namespace) -> Any:
    from .pipeline import Target

    if args.db is not None and args.destination not in ("duckdb", "filesystem"):
        raise UsageError(
            f"--db is for the duckdb and filesystem destinations, not {args.destination}"
        )
    db_path = args.db if args.db is not None else arguments.DEFAULT_DB
    if args.destination == "duckdb" or args.db is not None:
        problem = arguments.check_db_path(db_path)
        if problem:
            raise UsageError(problem)
    target = Target(
        destination=args.destination,
        dataset=args.dataset,
        db_path=db_path,
        table_format=args.table_format,
        lake_db=args.db if args.destination == "filesystem" else None,
    )
    if target.problem():
        raise UsageError(target.problem())
    return target


def _delivery_targets(args: argparse.Namespace) -> list[str]:
    """Our webhook URLs: --delivery-target, else `[webhooks] target` (a string or a list)."""
    if args.delivery_target:
        return list(args.delivery_target)
    import dlt

    try:
        value = dlt.config.get("webhooks.target")
    except Exception:  # noqa: BLE001
        return []
    if isinstance(value, str):
        return [t for t in value.split(",") if t.strip()]
    return [str(t) for t in value or []]


def _secret(key: str) -> str | None:
    import dlt

    try:
        value = dlt.secrets.get(key)
    except Exception:  # noqa: BLE001
        return None
    return str(value) if value else None


def _print_json(report: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(report, indent=2, default=str) + "\n")
    sys.stdout.flush()


def _err(message: str) -> None:
    print(f"uapi: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # The database, reports and event inbox hold customers' energy data.
    os.umask(0o077)
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        return _usage(str(exc), "--json" in argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        # httpx logs every request at INFO; the summary reports them instead.
        logging.getLogger("httpx").setLevel(logging.WARNING)
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    from sources.utilityapi.memory import tune_process

    tune_process()
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        return _usage(str(exc), getattr(args, "json", False))
    except Exception as exc:  # noqa: BLE001 - every failure ends in a message and a status
        outcome, message = classify_failure(exc)
        if outcome is Outcome.USAGE:
            return _usage(message, getattr(args, "json", False))
        _err(message)
        if outcome is Outcome.FAILED and not isinstance(exc, UtilityAPIError):
            logging.getLogger(__name__).debug("command failed", exc_info=exc)
        return outcome.exit_code


def _usage(message: str, as_json: bool) -> int:
    from .summary import failure_dict

    if as_json:
        _print_json(failure_dict(Outcome.USAGE, message, base_url=None, target=None, extra=None))
    print(f"uapi: {message}" if not message.startswith("uapi") else message, file=sys.stderr)
    return Outcome.USAGE.exit_code


if __name__ == "__main__":
    sys.exit(main())
