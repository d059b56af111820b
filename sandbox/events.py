"""Events: what changed, when, and whether the webhook received it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .localtime import utc_iso_us
from .rng import hex_id


@dataclass
class Event:
    uid: str
    seq: int
    type: str
    ts_us: int
    target: str | None
    authorization_uid: str | None = None
    meter_uid: str | None = None
    form_uid: str | None = None
    is_delivered: bool = False
    attempts: int = 0
    next_attempt_us: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "uid": self.uid,
            "type": self.type,
            "ts": utc_iso_us(self.ts_us),
            "delivery_method": "webhook",
            "delivery_target": self.target,
            "is_delivered": self.is_delivered,
        }
        if self.authorization_uid is not None:
            data["authorization_uid"] = self.authorization_uid
        if self.meter_uid is not None:
            data["meter_uid"] = self.meter_uid
        if self.form_uid is not None:
            data["form_uid"] = self.form_uid
        return data


class EventStore:
    """Events in the order they happened; uids are 8 hex digits derived from the seed."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self.items: list[Event] = []
        self.by_uid: dict[str, Event] = {}
        # Undelivered events addressed to a webhook, in order; delivery and give-up remove them.
        self.pending: dict[str, Event] = {}

    def add(
        self,
        type_: str,
        ts_us: int,
        target: str | None,
        *,
        authorization_uid: str | None = None,
        meter_uid: str | None = None,
        form_uid: str | None = None,
    ) -> Event:
        seq = len(self.items)
        if self.items and ts_us < self.items[-1].ts_us:
            ts_us = self.items[-1].ts_us  # keep ts monotone so reverse-ts order is the list order
        uid = hex_id(8, self._seed, "event", seq)
        salt = 0
        while uid in self.by_uid:
            salt += 1
            uid = hex_id(8, self._seed, "event", seq, salt)
        event = Event(uid, seq, type_, ts_us, target, authorization_uid, meter_uid, form_uid)
        if target is not None:
            event.next_attempt_us = ts_us
            self.pending[uid] = event
        self.items.append(event)
        self.by_uid[uid] = event
        return event

    def mark_delivered(self, event: Event, delivered: bool) -> None:
        event.is_delivered = delivered
        if delivered:
            self.pending.pop(event.uid, None)
            event.next_attempt_us = None
