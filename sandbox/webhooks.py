"""Webhook deliveries: signed POSTs of pending events, retried until a 200 or 72 hours pass."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass

import httpx

from .events import Event

log = logging.getLogger(__name__)

HOUR_US = 3600 * 1_000_000
GIVE_UP_US = 72 * HOUR_US
BATCH = 100
TIMEOUT_SECONDS = 10.0


def signature(secret: str, salt: str, body: bytes) -> str:
    """sha256 hex of `secret.salt.body` — a plain hash of the concatenation, not an HMAC."""
    return hashlib.sha256(secret.encode() + b"." + salt.encode() + b"." + body).hexdigest()


def body_for(events: list[Event], form: str = "raw") -> tuple[bytes, bytes]:
    """(bytes sent, bytes signed) of a POST carrying `events`.

    "raw": pretty-printed JSON (4-space indent, like the docs' example) signed as sent.
    "indented": the same JSON sent compact but signed over its 4-space-indented serialisation
    (`json.dumps(payload, indent=4)`), as one open-source receiver verifies it.
    """
    payload = {"events": [e.to_dict() for e in events], "next": None}
    indented = json.dumps(payload, indent=4).encode()
    if form == "indented":
        return json.dumps(payload, separators=(",", ":")).encode(), indented
    return indented, indented


@dataclass(frozen=True)
class Attempt:
    """One POST to the webhook endpoint."""

    at: str  # sandbox time of the attempt (UTC ISO)
    url: str
    event_uids: tuple[str, ...]
    status: int | None  # None when the endpoint could not be reached
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "at": self.at,
            "url": self.url,
            "event_uids": list(self.event_uids),
            "status": self.status,
            "error": self.error,
        }


def post(
    client: httpx.Client, url: str, secret: str, body: bytes, signed: bytes | None = None
) -> tuple[int | None, str | None]:
    """POST `body` signed over `signed` (default: the body itself); (status, error)."""
    salt = secrets.token_hex(8)
    text = body if signed is None else signed
    headers = {
        "Content-Type": "application/json",
        "X-UtilityAPI-Webhook-Salt": salt,
        "X-UtilityAPI-Webhook-Signature": signature(secret, salt, text),
    }
    try:
        response = client.post(url, content=body, headers=headers)
        return response.status_code, None
    except httpx.HTTPError as exc:
        log.info("webhook delivery to %s failed: %s", url, exc)
        return None, f"{type(exc).__name__}: {exc}"
