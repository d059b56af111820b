"""The webhook receiver: verify, store durably, answer 200 fast; a worker loads what changed."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from sources.utilityapi.clock import SYSTEM_CLOCK, Clock
from sources.utilityapi.notifications import (
    SALT_HEADER,
    SIGNATURE_HEADER,
    MalformedWebhook,
    parse_webhook,
    signed_form,
)

from .events import EventProcessor, Inbox

logger = logging.getLogger(__name__)

# Docs show ~0.5 KB per event; a body this large is not a UtilityAPI delivery.
MAX_BODY_BYTES = 5 * 1024 * 1024
WEBHOOK_PATH = "/webhook"


class BodyTooLarge(Exception):
    pass


def receiver_app(
    inbox: Inbox,
    secret: str,
    *,
    clock: Clock = SYSTEM_CLOCK,
    max_body_bytes: int = MAX_BODY_BYTES,
    on_stored: Callable[[int], None] | None = None,
) -> Starlette:
    """An ASGI app that accepts signed UtilityAPI webhooks at POST /webhook."""
    if not secret:
        raise ValueError("a webhook secret is required to verify signatures")
    # Which text UtilityAPI signs is unconfirmed: count each form, and say the first of each.
    forms: dict[str, int] = {}

    async def webhook(request: Request) -> PlainTextResponse | JSONResponse:
        try:
            body = await _read_body(request, max_body_bytes)
        except BodyTooLarge:
            return PlainTextResponse("body too large", status_code=413)
        form = signed_form(
            secret,
            request.headers.get(SALT_HEADER),
            request.headers.get(SIGNATURE_HEADER),
            body,
        )
        if form is None:
            logger.warning("refused a webhook with a missing or wrong signature")
            return PlainTextResponse("bad signature", status_code=401)
        forms[form] = forms.get(form, 0) + 1
        logger.log(
            logging.INFO if forms[form] == 1 else logging.DEBUG,
            "webhook signature matched the %s body (%s)",
            form,
            "as received" if form == "raw" else "re-serialised with 4-space indentation",
        )
        try:
            events = parse_webhook(body)
        except MalformedWebhook as exc:
            return PlainTextResponse(f"malformed body: {exc}", status_code=400)
        new = inbox.add(events, "webhook", clock.now())
        if on_stored is not None:
            on_stored(new)
        return JSONResponse({"received": len(events), "new": new})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, **inbox.counts(), "signatures": dict(forms)})

    return Starlette(
        routes=[
            Route(WEBHOOK_PATH, webhook, methods=["POST"]),
            Route("/", webhook, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ]
    )


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


class ProcessingLoop:
    """Runs the processor every `interval` seconds in a thread until stopped."""

    def __init__(self, processor: EventProcessor, interval: float = 1.0) -> None:
        self._processor = processor
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="uapi-events", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                outcome = self._processor.process()
            except Exception as exc:  # noqa: BLE001 - logged; events stay pending for retry
                logger.error("event-driven load failed (events kept for retry): %s", exc)
                continue
            if outcome is not None and outcome.result is not None:
                rows = sum(outcome.result.row_counts.values())
                logger.info(
                    "loaded %d rows for %d events (%d meters)",
                    rows,
                    len(outcome.event_uids),
                    len(outcome.plan.refresh_meters | outcome.plan.backfill_meters),
                )
