"""The sandbox's state: authorizations, meters, forms and events, moved on by scheduled effects.

Everything time-dependent (collections finishing, monitoring refreshes, expiries, test-submit
outcomes) is an effect in a heap ordered by sandbox time. `sync(now)` applies every effect that is
due, in order, so a fixed clock advanced by a day and a real clock that reached the same moment
produce the same world. The generated history before the start is replayed through the same heap.

Interval data is not stored: a meter keeps only the spans of its published chunks (three compact
arrays) and which bill cycles it published; readings are computed when an object is rendered.
"""

from __future__ import annotations

import calendar
import heapq
import threading
from array import array
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from . import bills
from .catalog import (
    CONTACT_NAMES,
    KINDS,
    STREET_NAMES,
    UTILITIES,
    WORLD_KIND_CYCLE,
    WORLD_UTILITIES,
    MeterKind,
    Utility,
)
from .config import SandboxConfig
from .errors import expired_or_revoked, forbidden, invalid_param, not_found
from .events import EventStore
from .localtime import Zone, add_months, from_us, zone
from .readings import ValueModel
from .rng import hex_id, key, randint, uniform

US = 1_000_000
DAY_US = 86400 * US
HOT_ZONES = {"America/Los_Angeles", "America/Phoenix"}
CHUNK_ANCHOR = date(2000, 1, 3)
FREQUENCIES = ("daily", "weekly", "monthly", "off")
PREPAYS = ("month_to_month", "prepay_yearly")


def note(type_: str, msg: str, ts_us: int, **extra: Any) -> dict[str, Any]:
    return {"type": type_, "msg": msg, "ts": ts_us, **extra}


@dataclass
class Monitoring:
    frequency: str = "off"
    prepay: str | None = None
    fixed_refresh_day: int | None = None
    started_us: int | None = None
    next_refresh_us: int | None = None
    next_prepay_us: int | None = None
    since_s: int | None = None  # where data starts for a meter that had none when subscribed
    generation: int = 0


@dataclass
class Job:
    started_us: int
    finish_us: int
    window_start_s: int
    bills_expected: int
    months: int | None


@dataclass
class Authorization:
    uid: str
    created_us: int
    utility: Utility
    customer_email: str
    customer_name: str
    form_uid: str | None
    template_uid: str | None
    is_test: bool
    expires_us: int | None
    expires_preset: str | None = None
    referrals: list[str] = field(default_factory=list)
    declined_us: int | None = None
    revoked_us: int | None = None
    is_archived: bool = False
    nickname: str | None = None
    status: str = "pending"
    status_message: str = "Verifying credentials..."
    status_ts_us: int = 0
    notes: list[dict[str, Any]] = field(default_factory=list)
    scope: dict[str, Any] = field(default_factory=dict)
    scenario: str | None = None
    deleted: bool = False
    meter_uids: list[str] = field(default_factory=list)

    def is_expired(self, now_us: int) -> bool:
        return self.expires_us is not None and self.expires_us <= now_us

    def collectable(self, now_us: int) -> bool:
        return not self.deleted and self.revoked_us is None and not self.is_expired(now_us)


@dataclass
class Meter:
    uid: str
    auth_uid: str
    index: int
    created_us: int
    kind: MeterKind
    utility: Utility
    zone: Zone
    stream: int
    model: ValueModel
    meter_number: str
    service_identifier: str
    service_tariff: str
    service_address: str
    billing_account: str
    billing_contact: str
    bill_anchor_day: int
    is_archived: bool = False
    is_activated: bool = False
    status: str = "updated"
    status_message: str = "Service exists, but no logs yet."
    status_ts_us: int = 0
    notes: list[dict[str, Any]] = field(default_factory=list)
    monitoring: Monitoring = field(default_factory=Monitoring)
    job: Job | None = None
    fail_mode: str | None = None
    deleted: bool = False
    # Published primary chunks, sorted by start and never overlapping; epoch seconds / µs.
    chunk_start: array = field(default_factory=lambda: array("q"))
    chunk_end: array = field(default_factory=lambda: array("q"))
    chunk_created: array = field(default_factory=lambda: array("q"))
    chunk_updated: array = field(default_factory=lambda: array("q"))
    # Chunks that grew in place: start -> [(end, when it first reached that end), ...].
    chunk_growth: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    bill_created: dict[int, int] = field(default_factory=dict)
    # Start of the first data ever published; re-publications never reach before it.
    history_floor: int | None = None
    version: int = 0
    cycle_cache: dict[int, tuple[int, int]] = field(default_factory=dict, repr=False)

    @property
    def duration(self) -> int:
        return self.kind.duration

    @property
    def first_data(self) -> int | None:
        return self.chunk_start[0] if self.chunk_start else None

    @property
    def frontier(self) -> int | None:
        return self.chunk_end[-1] if self.chunk_end else None

    def base_block(self) -> dict[str, Any]:
        return {
            "service_identifier": self.service_identifier,
            "service_tariff": self.service_tariff,
            "service_class": self.kind.service_class,
            "service_address": self.service_address,
            "meter_numbers": [self.meter_number],
            "billing_contact": self.billing_contact,
            "billing_address": self.service_address,
            "billing_account": self.billing_account,
        }

    def coverage(self) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        for s, e in zip(self.chunk_start, self.chunk_end, strict=True):
            if spans and spans[-1][1] == s:
                spans[-1] = (spans[-1][0], e)
            else:
                spans.append((s, e))
        return spans

    def add_chunk(self, start: int, end: int, created_us: int) -> None:
        i = bisect_left(self.chunk_start, start)
        self.chunk_start.insert(i, start)
        self.chunk_end.insert(i, end)
        self.chunk_created.insert(i, created_us)
        self.chunk_updated.insert(i, created_us)
        if self.history_floor is None:
            self.history_floor = start
        self.version += 1

    def grow_last(self, end: int, at_us: int) -> None:
        """Extend the latest chunk to `end` in place; its uid, which encodes the end, changes."""
        start = self.chunk_start[-1]
        log = self.chunk_growth.setdefault(start, [(self.chunk_end[-1], self.chunk_created[-1])])
        at_us = max(at_us, self.chunk_updated[-1])
        log.append((end, at_us))
        self.chunk_end[-1] = end
        self.chunk_updated[-1] = at_us
        self.version += 1


@dataclass
class Form:
    uid: str
    created_us: int
    updated_us: int
    template_uid: str
    authorization_uid: str | None = None
    is_archived: bool = False
    disabled: bool = False
    customer_email: str = ""
    utility: str | None = None
    scope: dict[str, Any] = field(default_factory=dict)
    deleted: bool = False


@dataclass
class Template:
    uid: str
    created_us: int
    updated_us: int
    disabled: bool = False


class World:
    """All mutable sandbox state. Callers hold `lock` and call `sync(now)` before reading."""

    def __init__(self, cfg: SandboxConfig, start_us: int) -> None:
        self.cfg = cfg
        self.seed = cfg.seed
        self.lock = threading.RLock()
        self.authorizations: dict[str, Authorization] = {}
        self.meters: dict[str, Meter] = {}
        self.forms: dict[str, Form] = {}
        self.templates: dict[str, Template] = {}
        self.events = EventStore(cfg.seed)
        self.funded = cfg.funded
        # Webhook endpoints as (url, secret); each event is copied once per endpoint.
        self.webhooks: list[tuple[str, str]] = cfg.webhook_endpoints
        self.now_us = start_us
        # The generated history is laid out from the UTC midnight before the start, so a
        # real-time sandbox restarted the same day generates the same world.
        self.plan_us = start_us - start_us % DAY_US
        self.version = 0
        self._heap: list[tuple[int, int, str, tuple[Any, ...]]] = []
        self._seq = 0
        self._counters = {"auth": 0, "meter": 0, "form": 0, "referral": 0}
        self._uid_base = {
            "auth": randint(100_000, 400_000, self.seed, "auth-base"),
            "meter": randint(1_000_000, 4_000_000, self.seed, "meter-base"),
            "form": randint(10_000, 40_000, self.seed, "form-base"),
        }
        self._plan(self.plan_us)
        self.sync(start_us)

    # --- time ---------------------------------------------------------------------------------

    def schedule(self, at_us: int, name: str, *args: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at_us, self._seq, name, args))

    def next_effect_us(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def sync(self, now_us: int) -> None:
        """Apply every effect due at or before `now_us`, in time order."""
        while self._heap and self._heap[0][0] <= now_us:
            at_us, _, name, args = heapq.heappop(self._heap)
            getattr(self, f"_fx_{name}")(at_us, *args)
            self.version += 1
        if now_us > self.now_us:
            self.now_us = now_us

    def emit(
        self,
        at_us: int,
        type_: str,
        *,
        authorization_uid: str | None = None,
        meter_uid: str | None = None,
        form_uid: str | None = None,
    ) -> None:
        targets: list[str | None] = [url for url, _ in self.webhooks]
        if not targets and not self.cfg.events_require_webhook:
            targets = [None]  # the default reading: events exist without a webhook
        for target in targets:
            self.events.add(
                type_,
                at_us,
                target,
                authorization_uid=authorization_uid,
                meter_uid=meter_uid,
                form_uid=form_uid,
            )
        self.version += 1

    def lag_frontier(self, meter: Meter, at_us: int) -> int:
        """End of the data a utility has published by `at_us` (whole readings only)."""
        seconds = at_us // US - int(self.cfg.publication_lag_hours * 3600)
        return seconds // meter.duration * meter.duration

    # --- uids ---------------------------------------------------------------------------------

    def _next_uid(self, what: str) -> str:
        n = self._counters[what]
        self._counters[what] = n + 1
        strides = {"auth": 17, "meter": 13, "form": 7}
        return str(self._uid_base[what] + n * strides[what])

    def _referral(self) -> str:
        n = self._counters["referral"]
        self._counters["referral"] = n + 1
        return hex_id(10, self.seed, "referral", n)

    # --- building blocks ----------------------------------------------------------------------

    def _new_authorization(
        self,
        created_us: int,
        utility: Utility,
        *,
        is_test: bool,
        form: Form | None,
        expires_us: int | None,
        expires_preset: str | None = None,
        scenario: str | None = None,
    ) -> Authorization:
        uid = self._next_uid("auth")
        name = CONTACT_NAMES[randint(0, len(CONTACT_NAMES) - 1, self.seed, "contact", uid)]
        auth = Authorization(
            uid=uid,
            created_us=created_us,
            utility=utility,
            customer_email=f"customer-{uid}@example.com",
            customer_name=name.title(),
            form_uid=form.uid if form else None,
            template_uid=form.template_uid if form else self._default_template().uid,
            is_test=is_test,
            expires_us=expires_us,
            expires_preset=expires_preset,
            status_ts_us=created_us,
            scope=dict(form.scope) if form else {},
            scenario=scenario,
        )
        self.authorizations[uid] = auth
        self.emit(created_us, "authorization_created", authorization_uid=uid)
        self.emit(created_us, "authorization_update_started", authorization_uid=uid)
        return auth

    def _new_meter(self, auth: Authorization, kind: MeterKind, created_us: int) -> Meter:
        uid = self._next_uid("meter")
        stream = key(self.seed, "meter", uid)
        utility = auth.utility
        if kind.is_gas and utility.gas_tariff is None:
            kind = KINDS["res60"]  # this utility sells no gas
        zone_ = zone(utility.zone)
        lo, hi = kind.base_kw
        base_kw = lo + (hi - lo) * uniform(stream, "base")
        s_lo, s_hi = kind.solar_kw
        solar_kw = s_lo + (s_hi - s_lo) * uniform(stream, "solar") if s_hi else 0.0
        model = ValueModel(stream, kind, zone_, base_kw, solar_kw, utility.zone in HOT_ZONES)
        street = STREET_NAMES[randint(0, len(STREET_NAMES) - 1, stream, "street")]
        if kind.is_gas:
            tariff = utility.gas_tariff or "GR"
        elif kind.is_commercial:
            tariff = utility.comm_tariff
        else:
            tariff = utility.res_tariff
        contact = (
            CONTACT_NAMES[randint(0, 7, stream, "contact")]
            if kind.is_commercial
            else auth.customer_name.upper()
        )
        meter = Meter(
            uid=uid,
            auth_uid=auth.uid,
            index=len(self.meters),
            created_us=created_us,
            kind=kind,
            utility=utility,
            zone=zone_,
            stream=stream,
            model=model,
            meter_number=f"{randint(10**9, 10**10 - 1, stream, 'mn1')}-"
            f"{randint(10**7, 10**8 - 1, stream, 'mn2')}",
            service_identifier=str(randint(10**9, 10**10 - 1, stream, "said")),
            service_tariff=tariff,
            service_address=f"{randint(1, 9999, stream, 'addr')} {street}, {utility.city}",
            billing_account=f"{randint(10**9, 10**10 - 1, stream, 'acct')}-"
            f"{randint(0, 9, stream, 'acct2')}",
            billing_contact=contact,
            bill_anchor_day=randint(1, 26, stream, "anchor"),
            status_ts_us=created_us,
        )
        last_bill = bills.cycle(meter, bills.cycle_containing(meter, created_us // US) - 1)[1]
        meter.notes = [
            note(
                "latest_known_bill",
                f"Data appears to be available through {meter.zone.local_date(last_bill)}",
                created_us,
            ),
            note("meters_full", "All meter details were successfully collected", created_us),
        ]
        self.meters[uid] = meter
        auth.meter_uids.append(uid)
        self.emit(created_us, "meter_created", authorization_uid=auth.uid, meter_uid=uid)
        return meter

    def _default_template(self) -> Template:
        if not self.templates:
            uid = hex_id(8, self.seed, "template")
            created = self.plan_us - 400 * DAY_US
            self.templates[uid] = Template(uid, created, created)
        return next(iter(self.templates.values()))

    def _authorized(self, auth: Authorization, at_us: int) -> None:
        auth.status = "updated"
        auth.status_message = "Meters found!"
        auth.status_ts_us = at_us
        auth.notes = [
            note("access_valid", "Successfully registered with account number.", at_us),
            note("meters_full", "Found all meters available.", at_us),
        ]

    # --- the generated history -----------------------------------------------------------------

    def _plan(self, start_us: int) -> None:
        scale = self.cfg.world_scale
        pattern = (1, 2, 1, 4, 3, 1, 6, 2)
        counts: list[int] = []
        while sum(counts) < scale.n_meters:
            counts.append(pattern[len(counts) % len(pattern)])
        if counts:
            counts[-1] -= sum(counts) - scale.n_meters
        template = self._default_template()
        form_created = start_us - 300 * DAY_US
        form = Form(self._next_uid("form"), form_created, form_created, template.uid)
        self.forms[form.uid] = form
        self.emit(form_created, "form_created", form_uid=form.uid)
        first_meter = 0
        for i, count in enumerate(counts):
            days_ago = 30 if i == 1 else randint(12, 40, self.seed, "auth-age", i)
            at = start_us - days_ago * DAY_US - randint(0, 86399 * US, self.seed, "auth-at", i)
            self.schedule(
                at, "generated_auth", i, count, first_meter, form.uid, i == len(counts) - 1
            )
            first_meter += count
        if len(counts) >= 4:
            self.schedule(start_us - 15 * DAY_US - 3600 * US, "generated_declined", form.uid)
            self.schedule(start_us - 25 * DAY_US - 7200 * US, "generated_revoked", form.uid)

    def _fx_generated_auth(
        self, at: int, i: int, count: int, first: int, form_uid: str, last: bool
    ) -> None:
        utility = UTILITIES[WORLD_UTILITIES[i % len(WORLD_UTILITIES)]]
        expires = self.plan_us - 3 * DAY_US if i == 1 else at + 3 * 365 * DAY_US
        # DEMO authorizations are test ones; so is the last one, so every world has one.
        auth = self._new_authorization(
            at,
            utility,
            is_test=utility.uid == "DEMO" or last,
            form=self.forms[form_uid],
            expires_us=expires,
        )
        auth.is_archived = i == 2
        auth.referrals.append(self._referral())
        found = at + 90 * US
        history_days = self.cfg.world_scale.history_days
        for j in range(first, first + count):
            kind = KINDS[WORLD_KIND_CYCLE[j % len(WORLD_KIND_CYCLE)]]
            meter = self._new_meter(auth, kind, found + (j - first) * US)
            meter.is_archived = j == 3
            if j % 7 == 5:
                continue  # discovered, never collected
            started = found + 600 * US + (j - first) * US
            day = meter.zone.local_date(self.plan_us // US) - timedelta(days=history_days)
            self.schedule(started, "hist_start", meter.uid, meter.zone.midnight(day), None)
            self.schedule(started + 60 * US, "monitor_start", meter.uid, "daily")
        self._authorized(auth, found)
        self.emit(found, "authorization_update_finished_successful", authorization_uid=auth.uid)
        if auth.expires_us is not None and auth.expires_us > at:
            self.schedule(auth.expires_us, "expire", auth.uid)

    def _fx_generated_declined(self, at: int, form_uid: str) -> None:
        auth = self._new_authorization(
            at,
            UTILITIES["PG&E"],
            is_test=False,
            form=self.forms[form_uid],
            expires_us=at + 3 * 365 * DAY_US,
        )
        auth.declined_us = at + 45 * US
        auth.status = "updated"
        auth.status_message = "Customer declined the authorization."
        auth.status_ts_us = auth.declined_us
        self.emit(auth.declined_us, "authorization_declined", authorization_uid=auth.uid)

    def _fx_generated_revoked(self, at: int, form_uid: str) -> None:
        auth = self._new_authorization(
            at,
            UTILITIES["SCE"],
            is_test=False,
            form=self.forms[form_uid],
            expires_us=at + 3 * 365 * DAY_US,
        )
        auth.referrals.append(self._referral())
        meter = self._new_meter(auth, KINDS["res15"], at + 90 * US)
        self._authorized(auth, at + 90 * US)
        self.emit(
            at + 90 * US, "authorization_update_finished_successful", authorization_uid=auth.uid
        )
        self.schedule(at + 700 * US, "hist_start", meter.uid, None, 12)
        self.schedule(at + 16 * DAY_US, "revoke", auth.uid)

    def _fx_revoke(self, at: int, auth_uid: str) -> None:
        self.revoke(auth_uid, at)

    # --- collection and monitoring -------------------------------------------------------------

    def _fx_hist_start(
        self, at: int, meter_uid: str, window_start: int | None, months: int | None
    ) -> None:
        meter = self.meters[meter_uid]
        auth = self.authorizations[meter.auth_uid]
        if meter.deleted or not auth.collectable(at):
            return
        if window_start is None:
            day = add_months(meter.zone.local_date(at // US), -(months or 12))
            window_start = meter.zone.midnight(day)
        finish = at + int(self.cfg.collection_seconds * US)
        expected = sum(
            1
            for k in range(
                bills.cycle_containing(meter, window_start),
                bills.cycle_containing(meter, finish // US) + 1,
            )
            if bills.cycle(meter, k)[0] >= window_start
            and bills.available_at(meter, k) <= finish // US
        )
        meter.job = Job(at, finish, window_start, expected, months)
        meter.status = "pending"
        meter.status_ts_us = at
        self.emit(
            at,
            "meter_historical_collection_started",
            authorization_uid=auth.uid,
            meter_uid=meter.uid,
        )
        self.schedule(finish, "hist_finish", meter.uid, at)

    def _fx_hist_finish(self, at: int, meter_uid: str, job_started: int) -> None:
        meter = self.meters[meter_uid]
        job = meter.job
        if job is None or job.started_us != job_started or meter.deleted:
            return
        meter.job = None
        auth = self.authorizations[meter.auth_uid]
        refs = {"authorization_uid": auth.uid, "meter_uid": meter.uid}
        if meter.fail_mode is not None:
            self._collection_failed(meter, at)
            self.emit(at, "meter_historical_collection_finished_errored", **refs)
            return
        frontier = self.lag_frontier(meter, at)
        new_chunks = 0
        if meter.first_data is None:
            new_chunks += self._publish_history(meter, job.window_start_s, frontier, at)
        else:
            if job.window_start_s < meter.first_data:
                new_chunks += self._publish_history(meter, job.window_start_s, meter.first_data, at)
            last = meter.frontier
            if last is not None and frontier > last:
                new_chunks += self._publish_tail(meter, last, frontier, at, one_chunk=False)
        new_bills = self._publish_bills(meter, job.window_start_s, at)
        meter.is_activated = meter.is_activated or bool(meter.chunk_start) or bool(new_bills)
        meter.status = "updated"
        meter.status_message = "Data refreshed"
        meter.status_ts_us = at
        meter.notes = [
            note("access_valid", "Logged in!", at),
            note("meters_full", "All meter details were successfully collected", at),
            note("bills_full", "Successfully collected bills.", at),
            note("intervals_full", "Successfully collected intervals.", at),
        ]
        if new_bills:
            self.emit(at, "meter_bills_added", **refs)
        if new_chunks:
            self.emit(at, "meter_intervals_added", **refs)
        self.emit(at, "meter_historical_collection_finished_successful", **refs)

    def _collection_failed(self, meter: Meter, at: int) -> None:
        meter.status = "errored"
        meter.status_ts_us = at
        if meter.fail_mode == "badlogin":
            meter.status_message = "Invalid login credentials"
            meter.notes = [
                note("access_invalid", "The utility rejected the login credentials.", at)
            ]
        else:
            meter.status_message = "Utility website is down"
            meter.notes = [
                note(
                    "bills_errored", "The utility website is down; no data could be collected.", at
                )
            ]

    def _chunk_days(self, meter: Meter) -> int:
        if self.cfg.growing_objects and self.cfg.growing_chunk_days is not None:
            return self.cfg.growing_chunk_days
        return meter.kind.chunk_days

    def _chunk_boundaries(self, meter: Meter, start: int, end: int) -> list[int]:
        """Local-midnight boundaries every `chunk_days` days, clipped to [start, end]."""
        days = self._chunk_days(meter)
        first = meter.zone.local_date(start)
        n = (first - CHUNK_ANCHOR).days // days
        points = [start]
        while True:
            n += 1
            b = meter.zone.midnight(CHUNK_ANCHOR + timedelta(days=n * days))
            if b >= end:
                break
            if b > start:
                points.append(b)
        points.append(end)
        return points

    def _on_chunk_boundary(self, meter: Meter, moment: int) -> bool:
        day = meter.zone.local_date(moment)
        return (
            meter.zone.midnight(day) == moment
            and (day - CHUNK_ANCHOR).days % self._chunk_days(meter) == 0
        )

    def _publish_history(self, meter: Meter, start: int, end: int, at: int) -> int:
        if end <= start:
            return 0
        points = self._chunk_boundaries(meter, start, end)
        for i, (s, e) in enumerate(zip(points, points[1:], strict=False)):
            created = at - randint(0, 59 * US, meter.stream, "created", s) - i
            meter.add_chunk(s, e, created)
        return len(points) - 1

    def _publish_tail(self, meter: Meter, start: int, end: int, at: int, one_chunk: bool) -> int:
        """Publish [start, end) at the meter's frontier; returns the objects added or grown.

        By default a monitoring refresh publishes one new object (`one_chunk`) and a collection
        new chunk-aligned ones. Growing objects extend the open latest object to its chunk
        boundary first, and start new objects at each boundary after it.
        """
        if end <= start:
            return 0
        if not self.cfg.growing_objects:
            if one_chunk:
                created = at - randint(0, 59 * US, meter.stream, "created", start)
                meter.add_chunk(start, end, created)
                return 1
            return self._publish_history(meter, start, end, at)
        points = self._chunk_boundaries(meter, start, end)
        for i, (s, e) in enumerate(zip(points, points[1:], strict=False)):
            stamp = at - randint(0, 59 * US, meter.stream, "created", s) - i
            if i == 0 and meter.frontier == s and not self._on_chunk_boundary(meter, s):
                meter.grow_last(e, stamp)
            else:
                meter.add_chunk(s, e, stamp)
        return len(points) - 1

    def _publish_bills(self, meter: Meter, not_before: int, at: int, resume: bool = False) -> int:
        if resume and meter.bill_created:
            first = max(meter.bill_created) + 1  # refreshes only add newer bills
        else:
            first = bills.cycle_containing(meter, not_before)
        last = bills.cycle_containing(meter, at // US)
        added = 0
        for k in range(first, last + 1):
            if k in meter.bill_created:
                continue
            start, _ = bills.cycle(meter, k)
            if start >= not_before and bills.available_at(meter, k) <= at // US:
                meter.bill_created[k] = at - randint(0, 59 * US, meter.stream, "bill-created", k)
                added += 1
        if added:
            meter.version += 1
        return added

    def _fx_monitor_start(self, at: int, meter_uid: str, frequency: str) -> None:
        self.set_monitoring(self.meters[meter_uid], frequency, None, "month_to_month", at)

    def set_monitoring(
        self, meter: Meter, frequency: str, fixed_day: int | None, prepay: str | None, at: int
    ) -> bool:
        mon = meter.monitoring
        if frequency == mon.frequency:
            return False  # an active subscription keeps its schedule (and refresh day)
        if frequency == "off":
            meter.monitoring = Monitoring(generation=mon.generation + 1)
            return True
        since = None if meter.frontier is not None else self.lag_frontier(meter, at)
        meter.monitoring = Monitoring(
            frequency=frequency,
            prepay=prepay or "month_to_month",
            fixed_refresh_day=fixed_day if frequency == "monthly" else None,
            started_us=at,
            since_s=since,
            generation=mon.generation + 1,
        )
        if prepay == "prepay_yearly":
            meter.monitoring.next_prepay_us = self._add_months_us(at, 12)
        self._schedule_refresh(meter, at)
        return True

    def _add_months_us(self, at: int, months: int) -> int:
        moment = from_us(at)
        day = add_months(moment.date(), months)
        return at + (day - moment.date()).days * DAY_US

    def _schedule_refresh(self, meter: Meter, after: int) -> None:
        mon = meter.monitoring
        if mon.frequency == "daily":
            nxt = after + DAY_US
        elif mon.frequency == "weekly":
            nxt = after + 7 * DAY_US
        elif mon.fixed_refresh_day is None:
            nxt = self._add_months_us(after, 1)
        else:
            day = from_us(after).date()
            candidate = day
            for months in range(0, 3):
                first = add_months(day.replace(day=1), months)
                last = calendar.monthrange(first.year, first.month)[1]
                candidate = first.replace(day=min(mon.fixed_refresh_day, last))
                if candidate > day:
                    break
            nxt = after + (candidate - day).days * DAY_US
        mon.next_refresh_us = nxt
        self.schedule(nxt, "refresh", meter.uid, mon.generation)

    def _fx_refresh(self, at: int, meter_uid: str, generation: int) -> None:
        meter = self.meters[meter_uid]
        mon = meter.monitoring
        if mon.generation != generation or meter.deleted:
            return
        auth = self.authorizations[meter.auth_uid]
        if not auth.collectable(at):
            meter.monitoring = Monitoring(generation=mon.generation + 1)
            return
        self._schedule_refresh(meter, at)
        refs = {"authorization_uid": auth.uid, "meter_uid": meter.uid}
        if meter.fail_mode is not None:
            self._collection_failed(meter, at)
            return
        start = meter.frontier if meter.frontier is not None else mon.since_s
        end = self.lag_frontier(meter, at)
        new_chunks = 0
        if start is not None:
            new_chunks = self._publish_tail(meter, start, end, at, one_chunk=True)
        new_bills = 0
        if meter.first_data is not None:
            new_bills = self._publish_bills(meter, meter.first_data, at, resume=True)
        meter.is_activated = meter.is_activated or new_chunks > 0 or new_bills > 0
        if meter.job is None:
            meter.status = "updated"
            meter.status_message = "Data refreshed"
            meter.status_ts_us = at
        if new_bills:
            self.emit(at, "meter_bills_added", **refs)
        if new_chunks:
            self.emit(at, "meter_intervals_added", **refs)

    # --- authorizations ------------------------------------------------------------------------

    def _fx_expire(self, at: int, auth_uid: str) -> None:
        auth = self.authorizations[auth_uid]
        if auth.deleted or auth.revoked_us is not None or auth.expires_us != at:
            return
        self.emit(at, "authorization_expired", authorization_uid=auth.uid)

    def expire(self, auth_uid: str, now_us: int) -> Authorization:
        auth = self.get_authorization(auth_uid)
        if not auth.is_expired(now_us):
            auth.expires_us = now_us
            auth.expires_preset = None
            self.schedule(now_us, "expire", auth.uid)
            self.sync(now_us)
        return auth

    def revoke(self, auth_uid: str, now_us: int) -> Authorization:
        auth = self.get_authorization(auth_uid)
        if auth.revoked_us is None:
            auth.revoked_us = now_us
            for meter_uid in auth.meter_uids:
                meter = self.meters[meter_uid]
                meter.deleted = True  # revocation deletes meters, bills and intervals
                meter.job = None
                meter.monitoring = Monitoring(generation=meter.monitoring.generation + 1)
            self.emit(now_us, "authorization_revoked", authorization_uid=auth.uid)
        self.version += 1
        return auth

    def delete_authorization(self, auth_uid: str) -> None:
        auth = self.get_authorization(auth_uid)
        if not (auth.is_test or auth.utility.uid == "DEMO"):
            raise forbidden("Only test authorizations can be deleted; revoke real ones instead.")
        auth.deleted = True
        for meter_uid in auth.meter_uids:
            meter = self.meters[meter_uid]
            meter.deleted = True
            meter.monitoring = Monitoring(generation=meter.monitoring.generation + 1)
        self.version += 1

    def get_authorization(self, uid: str) -> Authorization:
        auth = self.authorizations.get(uid)
        if auth is None or auth.deleted:
            raise not_found(f"Authorization {uid}")
        return auth

    def get_meter(self, uid: str) -> Meter:
        meter = self.meters.get(uid)
        if meter is None or meter.deleted:
            raise not_found(f"Meter {uid}")
        return meter

    def live_meters(self, auth: Authorization) -> list[Meter]:
        return [m for m in (self.meters[u] for u in auth.meter_uids) if not m.deleted]

    # --- API actions ---------------------------------------------------------------------------

    def historical_collection(self, meter_uids: list[str], months: int, now_us: int) -> list[str]:
        unknown = [u for u in meter_uids if u not in self.meters]
        if unknown:
            raise invalid_param(f"meters: unknown meter uid(s) {', '.join(unknown)}")
        accepted: list[str] = []
        for uid in dict.fromkeys(meter_uids):
            meter = self.meters[uid]
            auth = self.authorizations[meter.auth_uid]
            if meter.deleted or not auth.collectable(now_us):
                continue  # silently dropped, as the API does
            accepted.append(uid)
            if meter.job is None:
                self._fx_hist_start(now_us, uid, None, months)
        if not accepted:
            raise expired_or_revoked()
        self.version += 1
        return accepted

    def ongoing_monitoring(
        self,
        meter_uids: list[str],
        frequency: str,
        fixed_day: int | None,
        prepay: str | None,
        now_us: int,
    ) -> list[str]:
        unknown = [u for u in meter_uids if u not in self.meters]
        if unknown:
            raise invalid_param(f"meters: unknown meter uid(s) {', '.join(unknown)}")
        changed: list[str] = []
        live = 0
        for uid in dict.fromkeys(meter_uids):
            meter = self.meters[uid]
            auth = self.authorizations[meter.auth_uid]
            if meter.deleted or not auth.collectable(now_us):
                continue
            live += 1
            if self.set_monitoring(meter, frequency, fixed_day, prepay, now_us):
                changed.append(uid)
        if not live:
            raise expired_or_revoked()
        self.version += 1
        return changed

    def create_form(self, body: dict[str, Any], now_us: int) -> Form:
        template_uid = body.get("template_uid") or self._default_template().uid
        if template_uid not in self.templates:
            raise invalid_param(f"template_uid: unknown template {template_uid}")
        form = Form(self._next_uid("form"), now_us, now_us, template_uid)
        self._apply_form_fields(form, body)
        self.forms[form.uid] = form
        self.emit(now_us, "form_created", form_uid=form.uid)
        return form

    def _apply_form_fields(self, form: Form, body: dict[str, Any]) -> None:
        if "authorization_uid" in body:
            value = body["authorization_uid"]
            if value is not None and value not in self.authorizations:
                raise invalid_param(f"authorization_uid: unknown authorization {value}")
            form.authorization_uid = value
        if "customer_email" in body:
            form.customer_email = body["customer_email"] or ""
        if "utility" in body:
            value = body["utility"]
            if value is not None and value not in UTILITIES:
                raise invalid_param(f"utility: unknown utility {value}")
            form.utility = value
        if "scope" in body:
            form.scope = dict(body["scope"] or {})
        for flag in ("is_archived", "disabled"):
            if flag in body:
                setattr(form, flag, body[flag])
        if "template_uid" in body and body["template_uid"] is not None:
            if body["template_uid"] not in self.templates:
                raise invalid_param(f"template_uid: unknown template {body['template_uid']}")
            form.template_uid = body["template_uid"]

    def patch_form(self, uid: str, body: dict[str, Any], now_us: int) -> Form:
        form = self.get_form(uid)
        self._apply_form_fields(form, body)
        form.updated_us = now_us
        self.version += 1
        return form

    def get_form(self, uid: str) -> Form:
        form = self.forms.get(uid)
        if form is None or form.deleted:
            raise not_found(f"Form {uid}")
        return form

    def test_submit(self, form_uid: str, utility_id: str, scenario: str, now_us: int) -> str:
        form = self.get_form(form_uid)
        if form.disabled:
            raise invalid_param("This form is disabled and cannot be submitted.")
        scope_expires = form.scope.get("expires", "3y")
        expires_us, preset = self._expiry(scope_expires, now_us)
        auth = self._new_authorization(
            now_us,
            UTILITIES[utility_id],
            is_test=True,
            form=form,
            expires_us=expires_us,
            expires_preset=preset,
            scenario=scenario,
        )
        referral = self._referral()
        auth.referrals.append(referral)
        verify_at = now_us + int(self.cfg.verification_seconds * US)
        self.schedule(verify_at, "verify", auth.uid)
        if expires_us is not None:
            self.schedule(expires_us, "expire", auth.uid)
        self.version += 1
        return referral

    def _expiry(self, value: Any, now_us: int) -> tuple[int | None, str | None]:
        if value == "until_revoked":
            return None, "until_revoked"
        if isinstance(value, str) and value[:-1].isdigit() and value[-1:] in ("d", "y", "m"):
            n = int(value[:-1])
            if value.endswith("d"):
                return now_us + n * DAY_US, None
            return self._add_months_us(now_us, n * (12 if value.endswith("y") else 1)), None
        return self._add_months_us(now_us, 36), None

    def _fx_verify(self, at: int, auth_uid: str) -> None:
        auth = self.authorizations[auth_uid]
        if auth.deleted or auth.revoked_us is not None:
            return
        scenario = auth.scenario
        refs = {"authorization_uid": auth.uid}
        if scenario in ("badlogin", "websitedown", "utilityerror"):
            auth.status = "errored"
            auth.status_ts_us = at
            if scenario == "badlogin":
                auth.status_message = "Invalid login credentials"
                auth.notes = [
                    note("access_invalid", "The utility rejected the login credentials.", at)
                ]
            elif scenario == "websitedown":
                auth.status_message = "Utility website is down"
                auth.notes = [note("retrying", "The utility website is down.", at, eta=None)]
            else:
                auth.status_message = "Utility error"
                auth.notes = [note("utility_error", "The utility's website returned an error.", at)]
            self.emit(at, "authorization_update_finished_errored", **refs)
            return
        kinds = ["comm15"] * 4 if scenario == "commercial" else ["res15"]
        for n, kind in enumerate(kinds):
            meter = self._new_meter(auth, KINDS[kind], at + n * US)
            if scenario == "badlogin_after":
                meter.fail_mode = "badlogin"
            elif scenario == "websitedown_after":
                meter.fail_mode = "websitedown"
        self._authorized(auth, at)
        self.emit(at, "authorization_update_finished_successful", **refs)
