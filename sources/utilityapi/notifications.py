"""UtilityAPI notifications: signed webhook bodies and what each event type asks us to load.

Events only decide *which* meters the next load asks for; loading reuses the source.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

SALT_HEADER = "X-UtilityAPI-Webhook-Salt"
SIGNATURE_HEADER = "X-UtilityAPI-Webhook-Signature"

# New data for one meter: re-read it from its cursor.
METER_DATA_EVENTS = frozenset(
    {
        "meter_created",
        "meter_bills_added",
        "meter_intervals_added",
        "meter_historical_collection_finished_errored",
    }
)
# A finished historical collection may have filled any part of the meter's window.
METER_BACKFILL_EVENTS = frozenset({"meter_historical_collection_finished_successful"})
# The authorization's meter list may have changed.
AUTHORIZATION_REFRESH_EVENTS = frozenset(
    {
        "authorization_created",
        "authorization_renewed",
        "authorization_update_finished_successful",
        "authorization_update_finished_errored",
    }
)
ACCESS_EVENTS = {
    "authorization_revoked": "revoked",
    "authorization_update_finished_revoked": "revoked",
    "authorization_expired": "expired",
    "authorization_update_finished_expired": "expired",
}


class MalformedWebhook(ValueError):
    """The body is not an event listing."""


SignedForm = Literal["raw", "indented"]


def signature(secret: str, salt: str, body: bytes) -> str:
    """Reference §6.3: sha256 hex of `secret.salt.body` (a plain hash, not an HMAC)."""
    return hashlib.sha256(secret.encode() + b"." + salt.encode() + b"." + body).hexdigest()


def indented(body: bytes) -> bytes | None:
    """The body's JSON re-serialised with 4-space indentation (None if it is not JSON).

    The docs' example body is indented this way, and one open-source receiver hashes this text
    rather than the bytes received; which one UtilityAPI signs is unconfirmed (issue 11).
    """
    try:
        return json.dumps(json.loads(body), indent=4).encode()
    except (ValueError, UnicodeDecodeError):
        return None


def signed_form(
    secret: str, salt: str | None, claimed: str | None, body: bytes
) -> SignedForm | None:
    """Which text a webhook's signature covers: "raw" (the bytes received) or "indented" (the
    same JSON indented by 4 spaces); None when it covers neither, or anything is missing.

    Both forms need the secret; each comparison takes constant time.
    """
    if not secret or not salt or not claimed:
        return None
    wanted = claimed.strip().lower().encode()
    if hmac.compare_digest(signature(secret, salt, body).encode(), wanted):
        return "raw"
    text = indented(body)
    if text is not None and hmac.compare_digest(signature(secret, salt, text).encode(), wanted):
        return "indented"
    return None


def parse_webhook(body: bytes) -> list[dict[str, Any]]:
    """The events of a webhook body (`{"events": [...], "next": null}`)."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedWebhook(f"body is not JSON: {exc}") from exc
    events = payload.get("events") if isinstance(payload, dict) else None
    if not isinstance(events, list):
        raise MalformedWebhook("body has no 'events' list")
    for event in events:
        if not isinstance(event, dict) or not event.get("uid") or not event.get("type"):
            raise MalformedWebhook("every event needs a uid and a type")
    return events


@dataclass
class EventPlan:
    """What a batch of events asks the next load to do."""

    refresh_meters: set[str] = field(default_factory=set)
    backfill_meters: set[str] = field(default_factory=set)
    authorizations: set[str] = field(default_factory=set)
    access: dict[str, tuple[str, str, Any]] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (
            self.refresh_meters or self.backfill_meters or self.authorizations or self.access
        )


def plan_events(events: Iterable[Mapping[str, Any]]) -> EventPlan:
    """Fold events into one plan; unknown types are kept but ask for nothing."""
    plan = EventPlan()
    for event in events:
        kind = str(event.get("type"))
        meter = event.get("meter_uid")
        authorization = event.get("authorization_uid")
        if kind in METER_BACKFILL_EVENTS and meter:
            plan.backfill_meters.add(str(meter))
        elif kind in METER_DATA_EVENTS and meter:
            plan.refresh_meters.add(str(meter))
        elif kind in AUTHORIZATION_REFRESH_EVENTS and authorization:
            plan.authorizations.add(str(authorization))
        elif kind in ACCESS_EVENTS and authorization:
            plan.access[str(authorization)] = (
                ACCESS_EVENTS[kind],
                str(event.get("uid")),
                event.get("ts"),
            )
        else:
            plan.ignored.append(str(event.get("uid")))
    plan.refresh_meters -= plan.backfill_meters
    return plan
