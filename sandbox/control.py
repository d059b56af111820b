"""The control surface under /_sandbox (JSON, no token, never limited or faulted) and the app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .app import API_PREFIX, Api
from .config import FaultConfig
from .errors import ApiError, not_found
from .localtime import to_us, utc_iso_us
from .runtime import Runtime

log = logging.getLogger(__name__)
TICK_SECONDS = 1.0


def _ok(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _bad(message: str) -> Response:
    return _ok({"error": "invalid_param", "error_description": message, "url": None}, 400)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    data = orjson.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def control_routes(rt: Runtime) -> list[Route]:
    def info() -> dict[str, Any]:
        with rt.synced() as now:
            world = rt.world
            return {
                "token": rt.cfg.token,
                "seed": rt.cfg.seed,
                "scale": rt.cfg.scale,
                "now": utc_iso_us(now),
                "fixed_clock": rt.clock.is_fixed,
                "authorizations": sum(not a.deleted for a in world.authorizations.values()),
                "meters": sum(not m.deleted for m in world.meters.values()),
                "events": len(world.events.items),
                "modes": rt.modes.to_json(),
                "growing_objects": rt.cfg.growing_objects,
                "events_require_webhook": rt.cfg.events_require_webhook,
                "cache": {
                    "objects": len(rt.renderer.cache),
                    "bytes": rt.renderer.cache.size,
                    "hits": rt.renderer.cache.hits,
                    "misses": rt.renderer.cache.misses,
                },
            }

    async def root(request: Request) -> Response:
        return _ok(await asyncio.to_thread(info))

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            try:
                body = await _body(request)
                if "to" in body:
                    to = to_us(datetime.fromisoformat(body["to"]))
                    attempts = await asyncio.to_thread(rt.advance, None, to)
                else:
                    seconds = float(body.get("advance_seconds", 0))
                    if seconds < 0:
                        return _bad("advance_seconds must be >= 0")
                    attempts = await asyncio.to_thread(rt.advance, seconds)
            except (ValueError, TypeError) as exc:
                return _bad(str(exc))
            return _ok(
                {
                    "now": utc_iso_us(rt.clock.now_us()),
                    "fixed": rt.clock.is_fixed,
                    "webhook_attempts": attempts,
                }
            )
        return _ok({"now": utc_iso_us(rt.clock.now_us()), "fixed": rt.clock.is_fixed})

    async def funded(request: Request) -> Response:
        if request.method == "POST":
            body = await _body(request)
            if not isinstance(body.get("funded"), bool):
                return _bad("funded: expected a boolean")
            rt.set_funded(body["funded"])
        return _ok({"funded": rt.world.funded})

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            try:
                rt.set_faults(FaultConfig.from_json(await _body(request)))
            except (ValueError, TypeError) as exc:
                return _bad(str(exc))
        return _ok(rt.faults.config.to_json())

    async def rate_limit(request: Request) -> Response:
        if request.method == "POST":
            body = await _body(request)
            try:
                rate = body.get("rate")
                rt.set_rate_limit(None if rate is None else float(rate))
            except (ValueError, TypeError) as exc:
                return _bad(str(exc))
        return _ok({"rate": rt.limiter.rate})

    async def latency(request: Request) -> Response:
        if request.method == "POST":
            try:
                body = await _body(request)
                if "ms" in body or "bandwidth_mb_s" not in body:
                    rt.set_latency(float(body.get("ms", 0)))
                if "bandwidth_mb_s" in body:
                    mb_s = body["bandwidth_mb_s"]
                    rt.set_bandwidth(None if mb_s is None else float(mb_s))
            except (ValueError, TypeError) as exc:
                return _bad(str(exc))
        return _ok({"ms": rt.latency_ms, "bandwidth_mb_s": rt.bandwidth_mb_s})

    def endpoints() -> list[dict[str, Any]]:
        return [{"url": url, "has_secret": bool(secret)} for url, secret in rt.world.webhooks]

    async def webhook(request: Request) -> Response:
        if request.method == "POST":
            body = await _body(request)
            url, secret = body.get("url"), body.get("secret")
            if url is not None and not (isinstance(url, str) and isinstance(secret, str)):
                return _bad("url and secret must be strings (or url null to remove)")
            rt.set_webhook(url, secret)
        elif request.method == "DELETE":
            rt.set_webhook(None, None)
        first = rt.world.webhooks[0] if rt.world.webhooks else (None, "")
        return _ok({"url": first[0], "has_secret": bool(first[1])})

    async def webhooks_(request: Request) -> Response:
        if request.method == "POST":
            listed = (await _body(request)).get("endpoints")
            if not isinstance(listed, list) or not all(
                isinstance(e, dict)
                and isinstance(e.get("url"), str)
                and isinstance(e.get("secret"), str)
                and e["secret"]
                for e in listed
            ):
                return _bad('endpoints: expected [{"url": str, "secret": non-empty str}, ...]')
            rt.set_webhooks([(e["url"], e["secret"]) for e in listed])
        return _ok({"endpoints": endpoints()})

    async def modes(request: Request) -> Response:
        if request.method == "POST":
            try:
                rt.set_modes(await _body(request))
            except (ValueError, TypeError) as exc:
                return _bad(str(exc))
        return _ok(rt.modes.to_json())

    async def deliver(request: Request) -> Response:
        return _ok({"attempts": await asyncio.to_thread(rt.deliver_webhooks)})

    async def attempts(request: Request) -> Response:
        return _ok({"attempts": [a.to_json() for a in rt.attempts]})

    async def requests_(request: Request) -> Response:
        if request.method == "DELETE":
            rt.log.clear()
            return _ok({"cleared": True})
        counts = [
            {"method": m, "route": r, "status": s, "count": n}
            for (m, r, s), n in sorted(rt.log.counts().items())
        ]
        return _ok(
            {
                "requests": [r.to_json() for r in rt.log.snapshot()],
                "counts": counts,
                "guidance_violations": [v.__dict__ for v in list(rt.log.violations)],
            }
        )

    async def expire(request: Request) -> Response:
        try:
            await asyncio.to_thread(rt.expire, request.path_params["uid"])
        except ApiError as exc:
            return _ok(exc.body(), exc.status)
        return _ok({"success": True})

    async def prerender(request: Request) -> Response:
        body = await _body(request)
        return _ok(await asyncio.to_thread(rt.prerender, body.get("meters")))

    return [
        Route("/_sandbox", root, methods=["GET"]),
        Route("/_sandbox/clock", clock, methods=["GET", "POST"]),
        Route("/_sandbox/funded", funded, methods=["GET", "POST"]),
        Route("/_sandbox/faults", faults, methods=["GET", "POST"]),
        Route("/_sandbox/rate-limit", rate_limit, methods=["GET", "POST"]),
        Route("/_sandbox/latency", latency, methods=["GET", "POST"]),
        Route("/_sandbox/webhook", webhook, methods=["GET", "POST", "DELETE"]),
        Route("/_sandbox/webhooks", webhooks_, methods=["GET", "POST"]),
        Route("/_sandbox/modes", modes, methods=["GET", "POST"]),
        Route("/_sandbox/webhooks/deliver", deliver, methods=["POST"]),
        Route("/_sandbox/webhooks/attempts", attempts, methods=["GET"]),
        Route("/_sandbox/requests", requests_, methods=["GET", "DELETE"]),
        Route("/_sandbox/authorizations/{uid}/expire", expire, methods=["POST"]),
        Route("/_sandbox/prerender", prerender, methods=["POST"]),
    ]


class SandboxApp:
    """Top-level ASGI app: /api/v2 → Api, /_sandbox → control routes, lifespan → ticker."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.api = Api(rt)
        self.control = Starlette(routes=control_routes(rt))
        self._ticker: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            await self.api(scope, receive, send)
        elif path == "/_sandbox" or path.startswith("/_sandbox/"):
            await self.control(scope, receive, send)
        else:
            body = orjson.dumps(not_found(f"Path {path}").body())
            await send(
                {
                    "type": "http.response.start",
                    "status": 404,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if not self.rt.clock.is_fixed and self.rt.cfg.background_delivery:
                    self._ticker = asyncio.create_task(self._tick())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._ticker is not None:
                    self._ticker.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await self._ticker
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _tick(self) -> None:
        # Real time: effects also apply lazily on each request; this delivers webhooks promptly.
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                await asyncio.to_thread(self.rt.tick)
            except Exception:  # keep ticking; a broken receiver must not stop the sandbox
                log.exception("sandbox tick failed")
