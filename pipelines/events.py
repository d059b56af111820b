"""Event-driven loads: a durable inbox of UtilityAPI events and the processor that drains it.

Webhooks and `/events` polling both write into the inbox (SQLite, deduplicated by event uid,
committed before the webhook is acknowledged). The processor waits for a burst to go quiet,
folds every pending event into one plan and runs one load of only the meters it names.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sources.utilityapi.clock import SYSTEM_CLOCK, Clock
from sources.utilityapi.notifications import EventPlan, plan_events
from sources.utilityapi.records import to_instant

from .pipeline import LoadOptions, LoadResult, make_pipeline, run_load

logger = logging.getLogger(__name__)

EVENT_LOAD_RESOURCES = ("authorizations", "meters", "bills", "interval_readings", "meter_access")
DEFAULT_QUIET_SECONDS = 5.0
DEFAULT_MAX_WAIT_SECONDS = 60.0
RETRY_SECONDS = (60.0, 300.0, 1800.0, 3600.0)


class Inbox:
    """Received events, one row per event uid; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("pragma journal_mode=wal")
            self._db.execute("pragma synchronous=full")
            self._db.execute(
                """
                create table if not exists events (
                    uid text primary key,
                    type text not null,
                    ts text,
                    authorization_uid text,
                    meter_uid text,
                    body text not null,
                    origin text not null,
                    received_at text not null,
                    attempts integer not null default 0,
                    next_attempt_at text,
                    processed_at text,
                    outcome text
                )
                """
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, events: Iterable[Mapping[str, Any]], origin: str, now: datetime) -> int:
        """Store events not seen before; returns how many were new. Durable on return."""
        rows = [
            (
                str(e["uid"]),
                str(e["type"]),
                _text(e.get("ts")),
                _text(e.get("authorization_uid")),
                _text(e.get("meter_uid")),
                json.dumps(e, default=str),
                origin,
                now.isoformat(),
            )
            for e in events
        ]
        with self._lock:
            before = self._db.total_changes
            self._db.execute("begin immediate")
            self._db.executemany(
                "insert or ignore into events (uid, type, ts, authorization_uid, meter_uid, "
                "body, origin, received_at) values (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._db.execute("commit")
            return self._db.total_changes - before

    def pending(self, now: datetime) -> list[dict[str, Any]]:
        """Unprocessed events whose retry time (if any) has come, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "select uid, body, origin, received_at from events where processed_at is null "
                "and (next_attempt_at is null or next_attempt_at <= ?) order by received_at, uid",
                (now.isoformat(),),
            ).fetchall()
        return [
            {"uid": uid, "event": json.loads(body), "origin": origin, "received_at": received}
            for uid, body, origin, received in rows
        ]

    def mark_processed(self, uids: Iterable[str], outcome: str, now: datetime) -> None:
        with self._lock:
            self._db.executemany(
                "update events set processed_at = ?, outcome = ? where uid = ?",
                [(now.isoformat(), outcome, uid) for uid in uids],
            )

    def postpone(self, uids: Iterable[str], outcome: str, now: datetime) -> None:
        """Keep events pending but retry them later, backing off with each attempt."""
        with self._lock:
            for uid in uids:
                (attempts,) = self._db.execute(
                    "select attempts from events where uid = ?", (uid,)
                ).fetchone()
                delay = RETRY_SECONDS[min(attempts, len(RETRY_SECONDS) - 1)]
                self._db.execute(
                    "update events set attempts = attempts + 1, next_attempt_at = ?, outcome = ? "
                    "where uid = ?",
                    ((now + timedelta(seconds=delay)).isoformat(), outcome, uid),
                )

    def processed(self, uids: Iterable[str]) -> set[str]:
        """Which of these events have been handled."""
        wanted = list(uids)
        with self._lock:
            rows = self._db.execute(
                "select uid from events where processed_at is not null and uid in "
                "(select value from json_each(?))",
                (json.dumps(wanted),),
            ).fetchall()
        return {uid for (uid,) in rows}

    def counts(self) -> dict[str, int]:
        with self._lock:
            total, pending = self._db.execute(
                "select count(*), count(*) filter (where processed_at is null) from events"
            ).fetchone()
        return {"total": total, "pending": pending}


@dataclass
class ProcessOutcome:
    """One processor pass: the events it handled and the load it ran (if any)."""

    event_uids: list[str]
    plan: EventPlan
    result: LoadResult | None
    deferred_meters: list[str]


Loader = Callable[[LoadOptions], LoadResult]


class EventProcessor:
    """Turns pending inbox events into one debounced load of only the meters they name."""

    def __init__(
        self,
        inbox: Inbox,
        base_options: LoadOptions,
        *,
        clock: Clock = SYSTEM_CLOCK,
        quiet_seconds: float = DEFAULT_QUIET_SECONDS,
        max_wait_seconds: float = DEFAULT_MAX_WAIT_SECONDS,
        loader: Loader = run_load,
    ) -> None:
        self.inbox = inbox
        self.base_options = base_options
        self.clock = clock
        self.quiet = timedelta(seconds=quiet_seconds)
        self.max_wait = timedelta(seconds=max_wait_seconds)
        self.loader = loader
        self.loads = 0

    def is_due(self, pending: list[dict[str, Any]], now: datetime) -> bool:
        """A burst is done when it has been quiet for a while, or has waited long enough."""
        if not pending:
            return False
        received = [datetime.fromisoformat(p["received_at"]) for p in pending]
        return now - max(received) >= self.quiet or now - min(received) >= self.max_wait

    def process(self, force: bool = False) -> ProcessOutcome | None:
        """Handle every pending event in one load if the burst is due (or `force`)."""
        now = self.clock.now()
        pending = self.inbox.pending(now)
        if not pending or not (force or self.is_due(pending, now)):
            return None
        events = [p["event"] for p in pending]
        uids = [p["uid"] for p in pending]
        plan = plan_events(events)
        if plan.is_empty:
            self.inbox.mark_processed(uids, "nothing to load", now)
            return ProcessOutcome(uids, plan, None, [])
        try:
            result = self.loader(self._options(plan))
        except Exception as exc:  # noqa: BLE001 - kept pending and retried later
            logger.warning("event-driven load failed; will retry: %s", exc)
            self.inbox.postpone(uids, f"load failed: {exc}", now)
            raise
        self.loads += 1
        deferred = _deferred_meters(result)
        waiting = [p["uid"] for p in pending if p["event"].get("meter_uid") in deferred]
        done = [uid for uid in uids if uid not in set(waiting)]
        outcome = f"loaded {','.join(result.load_ids) or 'nothing new'}"
        self.inbox.mark_processed(done, outcome, now)
        if waiting:
            self.inbox.postpone(waiting, "meter fetched less than a minute ago", now)
        return ProcessOutcome(done, plan, result, sorted(deferred))

    def _options(self, plan: EventPlan) -> LoadOptions:
        meters = plan.refresh_meters | plan.backfill_meters
        source = {
            **self.base_options.source,
            "meters": sorted(meters) or None,
            # a revoked meter's events arrive after the API forgot it
            "strict_meters": False,
            "authorizations_filter": sorted(plan.authorizations | set(plan.access)) or None,
            "refresh": sorted(plan.refresh_meters),
            "backfill": {uid: None for uid in sorted(plan.backfill_meters)},
            "access_changes": self._access_changes(plan),
        }
        return dataclasses.replace(
            self.base_options,
            resources=EVENT_LOAD_RESOURCES,
            source={k: v for k, v in source.items() if v or v is False},
            clock=self.clock,
        )

    def _access_changes(self, plan: EventPlan) -> list[dict[str, Any]]:
        """Rows for `meter_access` marking every known meter of a revoked/expired authorization."""
        if not plan.access:
            return []
        known = _known_meters(self.base_options, list(plan.access))
        changes = []
        for authorization_uid, (access, event_uid, ts) in sorted(plan.access.items()):
            for meter_uid in known.get(authorization_uid, []):
                changes.append(
                    {
                        "meter_uid": meter_uid,
                        "authorization_uid": authorization_uid,
                        "access": access,
                        "source": "event",
                        "event_uid": event_uid,
                        "checked_at": to_instant(ts) or self.clock.now(),
                    }
                )
        return changes


def _deferred_meters(result: LoadResult) -> set[str]:
    deferred: set[str] = set()
    for progress in result.report.kinds.values():
        deferred.update(progress.deferred)
    return deferred


def _known_meters(options: LoadOptions, authorization_uids: list[str]) -> dict[str, list[str]]:
    """Meters the warehouse holds for these authorizations (the API deletes revoked ones)."""
    target = options.target
    if target.is_duckdb and not target.db_path.exists():
        return {}
    dataset = make_pipeline(target).dataset()
    if "meters" not in dataset.schema.tables:
        return {}
    # Errors (the warehouse busy or unreachable) propagate: the events stay pending and are
    # retried, rather than losing the mark on the revoked meters.
    rows = dataset["meters"].select("authorization_uid", "uid").fetchall()
    wanted = set(authorization_uids)
    known: dict[str, list[str]] = {}
    for authorization_uid, meter_uid in rows:
        if str(authorization_uid) in wanted:
            known.setdefault(str(authorization_uid), []).append(str(meter_uid))
    return known


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def is_for_us(event: Mapping[str, Any], delivery_targets: Iterable[str]) -> bool:
    """Whether an event is ours to mark delivered: addressed to no delivery target (the
    account has no webhook), or to one of ours. UtilityAPI makes one copy of an event per
    delivery target, and marking another target's copy delivered may stop its retries there."""
    target = event.get("delivery_target")
    if target is None or (isinstance(target, str) and not target.strip()):
        return True
    return isinstance(target, str) and target.strip() in {t.strip() for t in delivery_targets}


@dataclass
class SyncOutcome:
    fetched: int
    new: int
    processed: ProcessOutcome | None
    marked_delivered: int
    # Handled (their meters loaded) but left undelivered: copies for another delivery target.
    left_for_other_targets: int = 0


def sync_events(
    client: Any, processor: EventProcessor, delivery_targets: Iterable[str] = ()
) -> SyncOutcome:
    """Poll undelivered events, load what they name, then mark ours delivered at UtilityAPI.

    Every undelivered event is loaded from (copies of one change for several targets have
    their own uids but name the same meters; the load folds them, and loading twice is
    harmless). Only events for no target or one of `delivery_targets` are marked delivered,
    and only once handled, so a failed load leaves them for next time.
    """
    fetched: dict[str, dict[str, Any]] = {}
    for page in client.pages("events", "events", {"is_delivered": False, "limit": 1000}):
        for event in page:
            if isinstance(event, dict) and event.get("uid") and event.get("type"):
                # an event repeated on a later page (the list moved while we paged) is one
                fetched.setdefault(str(event["uid"]), event)
    new = processor.inbox.add(fetched.values(), "poll", processor.clock.now())
    outcome = processor.process(force=True)
    handled = processor.inbox.processed(fetched)
    ours = sorted(uid for uid in handled if is_for_us(fetched[uid], delivery_targets))
    for uid in ours:
        client.patch(f"events/{uid}", {"is_delivered": True})
    return SyncOutcome(len(fetched), new, outcome, len(ours), len(handled) - len(ours))
