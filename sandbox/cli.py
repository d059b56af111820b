"""`uapi sandbox serve`: run the sandbox until interrupted."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from .config import DEFAULT_TOKEN, MAX_PAGE_SIZE, SCALES, SandboxConfig


def _rate(value: str) -> float | None:
    return None if value.lower() in ("none", "off", "0") else float(value)


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
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument(
        "--rate-limit",
        type=_rate,
        default=50.0,
        help="requests per second per token ('none' for unlimited)",
    )
    parser.add_argument("--page-cap", type=int, default=MAX_PAGE_SIZE)
    parser.add_argument("--unfunded", action="store_true", help="answer 402 to collections")
    parser.add_argument("--config-json", help=argparse.SUPPRESS)
    parser.add_argument("--ready-json", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(func=serve)


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
