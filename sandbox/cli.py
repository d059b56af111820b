"""`uapi sandbox serve`: run the sandbox until interrupted."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from .config import DEFAULT_TOKEN, MAX_PAGE_SIZE, SCALES, SandboxConfig
from .modes import DEFAULT_UNEXPANDED, SIGNATURE_FORMS, UNEXPANDED_STYLES


def _rate(value: str) -> float | None:
    return None if value.lower() in ("none", "off", "0") else float(value)


def _bandwidth(value: str) -> float | None:
    return None if value.lower() in ("none", "inf") else float(value)


def _utilities(value: str) -> tuple[str, ...]:
    return tuple(u for u in value.split(",") if u)


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", choices=sorted(SCALES), default="demo")
    parser.add_argument("--n-meters", type=int, help="override the scale's number of meters")
    parser.add_argument("--history-days", type=int, help="override the scale's days of history")
    parser.add_argument(
        "--now",
        type=datetime.fromisoformat,
        help="fix the clock at this ISO time (default: real time)",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="wait this long plus the body's transfer time before each response (0: no wait)",
    )
    parser.add_argument(
        "--bandwidth-mb-s",
        type=_bandwidth,
        default=50.0,
        help="MB/s a response is sent at when --latency-ms > 0 ('none' for infinite; default 50)",
    )
    parser.add_argument(
        "--shared-link",
        action="store_true",
        help="responses share the bandwidth, as on one client's link (default: each has it all)",
    )
    parser.add_argument(
        "--rate-limit",
        type=_rate,
        default=50.0,
        help="requests per second per token ('none' for unlimited)",
    )
    parser.add_argument("--page-cap", type=int, default=MAX_PAGE_SIZE)
    parser.add_argument("--unfunded", action="store_true", help="answer 402 to collections")
    parser.add_argument(
        "--webhook",
        nargs=2,
        action="append",
        metavar=("URL", "SECRET"),
        default=[],
        help="a webhook endpoint (repeatable: each event is copied once per endpoint)",
    )
    add_mode_arguments(parser.add_argument_group("readings of the API (sandbox/README.md)"))
    parser.add_argument("--config-json", help=argparse.SUPPRESS)
    parser.add_argument("--ready-json", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(func=serve)


def add_mode_arguments(group: Any) -> None:
    """One flag per mode; without any, the sandbox answers as it always has."""
    group.add_argument(
        "--limit-caps",
        action="store_true",
        help="limit on /bills and /intervals caps the result: at most limit objects, no next",
    )
    group.add_argument(
        "--start-filters-objects",
        action="store_true",
        help="start on /intervals keeps whole objects whose first reading starts on/after it",
    )
    group.add_argument(
        "--growing-objects",
        action="store_true",
        help="refreshes extend the latest Interval object in place and re-key it",
    )
    group.add_argument(
        "--growing-chunk-days",
        type=int,
        metavar="DAYS",
        help="days a growing object spans before a new one starts (default: 4, hourly 7)",
    )
    group.add_argument(
        "--next-drops-filters",
        action="store_true",
        help="next links keep only after (and meters/authorizations on bills and intervals)",
    )
    group.add_argument(
        "--incomplete-after",
        type=int,
        metavar="N",
        help="/intervals gives up after N objects per query: is_incomplete true, next null",
    )
    group.add_argument(
        "--unexpanded-meters",
        nargs="?",
        type=_utilities,
        const=DEFAULT_UNEXPANDED,
        default=(),
        metavar="UTILITIES",
        help="meters of these utilities (comma-separated; default "
        f"{','.join(DEFAULT_UNEXPANDED)}) are unexpanded unless expand_meter_blocks=true",
    )
    group.add_argument(
        "--unexpanded-style",
        choices=UNEXPANDED_STYLES,
        default="absent",
        help="an unexpanded meter has no base block (absent) or one of nulls (nulls)",
    )
    group.add_argument(
        "--events-require-webhook",
        action="store_true",
        help="events exist only for configured webhook endpoints (/events empty without one)",
    )
    group.add_argument(
        "--webhook-signature",
        choices=SIGNATURE_FORMS,
        default="raw",
        help="raw: sign the bytes sent; indented: send compact JSON, sign its indent-4 form",
    )
    group.add_argument(
        "--page-repeat-rate",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share of after-pages that list the previous page's last object again (0..1)",
    )


def add_subcommands(subparsers: Any) -> None:
    """Register `sandbox serve` on the `uapi` command."""
    sandbox = subparsers.add_parser("sandbox", help="the local UtilityAPI v2 sandbox")
    commands = sandbox.add_subparsers(dest="sandbox_command", required=True)
    add_serve_arguments(commands.add_parser("serve", help="serve the sandbox until interrupted"))


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    if args.config_json:
        return SandboxConfig.from_json(json.loads(args.config_json))
    return SandboxConfig(
        seed=args.seed,
        scale=args.scale,
        now=args.now,
        rate_limit=args.rate_limit,
        latency_ms=args.latency_ms,
        token=args.token,
        n_meters=args.n_meters,
        history_days=args.history_days,
        page_cap=args.page_cap,
        funded=not args.unfunded,
        host=args.host,
        port=args.port,
        bandwidth_mb_s=args.bandwidth_mb_s,
        shared_link=args.shared_link,
        webhooks=tuple((url, secret) for url, secret in args.webhook),
        limit_caps=args.limit_caps,
        start_filters_objects=args.start_filters_objects,
        next_drops_filters=args.next_drops_filters,
        incomplete_after=args.incomplete_after,
        unexpanded_utilities=args.unexpanded_meters,
        unexpanded_style=args.unexpanded_style,
        webhook_signature=args.webhook_signature,
        page_repeat_rate=args.page_repeat_rate,
        growing_objects=args.growing_objects,
        growing_chunk_days=args.growing_chunk_days,
        events_require_webhook=args.events_require_webhook,
    )


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .control import SandboxApp
    from .runtime import Runtime
    from .server import bind, uvicorn_config

    cfg = config_from_args(args)
    runtime = Runtime(cfg)
    sock = bind(cfg.host, cfg.port)
    port = sock.getsockname()[1]
    origin = f"http://{cfg.host}:{port}"
    if args.ready_json:
        print(
            json.dumps(
                {"origin": origin, "base_url": f"{origin}/api/v2", "token": cfg.token, "port": port}
            ),
            flush=True,
        )
    else:
        world = runtime.world
        print(
            f"UtilityAPI sandbox: {sum(not a.deleted for a in world.authorizations.values())} "
            f"authorizations, {sum(not m.deleted for m in world.meters.values())} meters "
            f"(seed {cfg.seed}, scale {cfg.scale})"
        )
        print(f"base URL: {origin}/api/v2")
        print(f"token:    {cfg.token}")
        print(f"control:  {origin}/_sandbox")
        print("Press Ctrl+C to stop.", flush=True)
    try:
        uvicorn.Server(uvicorn_config(SandboxApp(runtime), cfg.host)).run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the interrupt after its graceful shutdown
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    add_serve_arguments(commands.add_parser("serve", help="serve the sandbox until interrupted"))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
