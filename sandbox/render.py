"""Objects as the API serves them: dicts for metadata, cached JSON bytes for bills and intervals.

Interval objects dominate the traffic, so each is rendered once into JSON bytes together with the
byte offset of every reading; a request trimmed to [start, end) slices those bytes instead of
rendering again. The cache is an LRU bounded by bytes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from . import bills, chunks
from .catalog import FILES_BASE, USER_EMAIL, USER_UID
from .chunks import ObjRef
from .localtime import utc_iso_us
from .readings import milli_texts, slot_values
from .world import Authorization, Form, Meter, Template, World

US = 1_000_000


class ByteCache:
    """LRU of rendered objects, bounded by their size in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item[0]

    def put(self, key: Any, value: Any, size: int) -> None:
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.size -= old[1]
            self._items[key] = (value, size)
            self.size += size
            while self.size > self.max_bytes:
                _, (_, dropped) = self._items.popitem(last=False)
                self.size -= dropped

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.size = 0

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class RenderedInterval:
    """One Interval object's JSON and where each (latest-first) reading sits in it."""

    data: bytes
    head_len: int
    offsets: np.ndarray  # offsets[i] = start of reading i within the readings text; n + 1 items
    starts: np.ndarray  # reading starts, latest first
    duration: int

    def trimmed(self, start: int | None, end: int | None) -> bytes:
        n = len(self.starts)
        # starts are descending: readings with start >= `start` come first.
        first = 0 if end is None else int(np.searchsorted(-self.starts, -(end - self.duration)))
        last = n if start is None else int(np.searchsorted(-self.starts, -start, side="right"))
        if first == 0 and last == n:
            return self.data
        head = self.data[: self.head_len]
        body_start = self.head_len + int(self.offsets[first])
        body_end = self.head_len + int(self.offsets[last]) - 1
        body = self.data[body_start:body_end] if last > first else b""
        return head + body + b"]}"


class Renderer:
    def __init__(self, world: World) -> None:
        self.world = world
        self.cache = ByteCache(world.cfg.cache_bytes)
        self._meter_stats: dict[str, tuple[int, tuple[Any, ...]]] = {}

    # --- intervals ----------------------------------------------------------------------------

    def interval(
        self, meter: Meter, ref: ObjRef, start: int | None = None, end: int | None = None
    ) -> bytes:
        return self.rendered_interval(meter, ref).trimmed(start, end)

    def rendered_interval(self, meter: Meter, ref: ObjRef) -> RenderedInterval:
        cache_key = ("interval", ref.meter_uid, ref.kind, ref.start, ref.end)
        found = self.cache.get(cache_key)
        if found is None:
            found = self._render_interval(meter, ref)
            self.cache.put(cache_key, found, len(found.data) + found.offsets.nbytes * 2)
        return found

    def _render_interval(self, meter: Meter, ref: ObjRef) -> RenderedInterval:
        cfg = self.world.cfg
        if ref.kind == "f":
            starts = chunks.present_starts(meter, ref.start, ref.end, ref.duration, [])
            errors = None
        else:
            missing = chunks.gaps(meter, cfg.gap_rate, ref.start, ref.end)
            starts = chunks.present_starts(meter, ref.start, ref.end, ref.duration, missing)
            errors = None
            if ref.kind == "p":
                marked = chunks.zones(meter, cfg.republish_rate, ref.start, ref.end)
                if marked:
                    errors = np.zeros(len(starts), dtype=bool)
                    for zs, ze in marked:
                        errors |= (starts >= zs) & (starts < ze)
        starts = starts[::-1].copy()  # readings are listed latest first
        texts = self._reading_texts(
            meter, starts, ref.duration, None if errors is None else errors[::-1]
        )
        lengths = np.fromiter((len(t) + 1 for t in texts), dtype=np.int64, count=len(texts))
        offsets = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        source = "website" if ref.kind == "f" else "greenbutton_cmd"
        header = {
            "uid": ref.uid,
            "meter_uid": meter.uid,
            "authorization_uid": meter.auth_uid,
            "created": utc_iso_us(ref.created_us),
            "updated": utc_iso_us(ref.updated_us),
            "notes": [],
            "utility": meter.utility.uid,
            "blocks": ["base", "sources", "readings"],
            "base": {
                "billing_account": meter.billing_account,
                "service_identifier": meter.service_identifier,
                "service_tariff": meter.service_tariff,
                "service_address": meter.service_address,
                "meter_numbers": [meter.meter_number],
                "qualities": ["estimated"] if ref.kind == "f" else ["revenue"],
            },
            "sources": [{"type": source, "raw_url": None}],
        }
        head = orjson.dumps(header)[:-1] + b',"readings":['
        data = head + ",".join(texts).encode() + b"]}"
        return RenderedInterval(data, len(head), offsets, starts, ref.duration)

    def _reading_texts(
        self, meter: Meter, starts: np.ndarray, duration: int, errors: np.ndarray | None
    ) -> list[str]:
        if len(starts) == 0:
            return []
        values = slot_values(meter.model, starts, duration, errors)
        zone = meter.zone
        start_texts = zone.iso_many(starts)
        end_texts = zone.iso_many(starts + duration)
        unit = meter.kind.unit
        number = meter.meter_number
        columns: list[list[str]] = []
        prefixes: list[str] = []
        for dp in meter.kind.datapoints:
            if dp == "max":
                columns.append(milli_texts(values.max_w))
                dp_unit = "kw"
            else:
                columns.append(milli_texts(getattr(values, dp)))
                dp_unit = unit
            prefixes.append(f'{{"type":"{dp}","unit":"{dp_unit}","value":')
        suffix = f',"meter_number":"{number}"}}'
        kwh = ["null"] * len(starts) if meter.kind.is_gas else columns[0]
        texts = []
        for i, (s, e) in enumerate(zip(start_texts, end_texts, strict=True)):
            dps = ",".join(p + col[i] + suffix for p, col in zip(prefixes, columns, strict=True))
            texts.append(f'{{"start":"{s}","end":"{e}","kwh":{kwh[i]},"datapoints":[{dps}]}}')
        return texts

    # --- bills --------------------------------------------------------------------------------

    def bill(self, meter: Meter, k: int) -> bytes:
        cache_key = ("bill", meter.uid, k)
        found = self.cache.get(cache_key)
        if found is None:
            found = orjson.dumps(bills.build(meter, k, meter.bill_created[k]))
            self.cache.put(cache_key, found, len(found))
        return found

    # --- meters -------------------------------------------------------------------------------

    def _stats(self, meter: Meter) -> tuple[Any, ...]:
        cached = self._meter_stats.get(meter.uid)
        if cached is not None and cached[0] == meter.version:
            return cached[1]
        zone = meter.zone
        interval_coverage = [[zone.iso(s), zone.iso(e)] for s, e in meter.coverage()]
        bill_spans: list[list[int]] = []
        for k in sorted(meter.bill_created):
            s, e = bills.cycle(meter, k)
            if bill_spans and bill_spans[-1][1] == s:
                bill_spans[-1][1] = e
            else:
                bill_spans.append([s, e])
        bill_coverage = [[zone.iso(s), zone.iso(e)] for s, e in bill_spans]
        count = chunks.reading_count(meter, self.world.cfg.gap_rate)
        stats = (len(meter.bill_created), bill_coverage, count, interval_coverage)
        self._meter_stats[meter.uid] = (meter.version, stats)
        return stats

    def meter(self, meter: Meter, now_us: int, unexpanded: str | None = None) -> dict[str, Any]:
        """The Meter object; `unexpanded` ("absent" or "nulls") shows it before its blocks load."""
        bill_count, bill_coverage, interval_count, interval_coverage = self._stats(meter)
        mon = meter.monitoring
        status_message = meter.status_message
        if meter.status == "pending" and meter.job is not None:
            job = meter.job
            progress = (now_us - job.started_us) / max(1, job.finish_us - job.started_us)
            if job.bills_expected:
                found = min(job.bills_expected, 1 + int(progress * job.bills_expected))
                status_message = f"Found bill {found} of {job.bills_expected}! Parsing..."
            else:
                status_message = "Collecting interval data..."
        activated = meter.is_activated
        exports: dict[str, str] = {}
        if activated:
            exports = {
                "bills_csv": f"{FILES_BASE}/meters_bills_csv?meters={meter.uid}",
                "bills_zip": f"{FILES_BASE}/meters_bills_zip?meters={meter.uid}",
                "latest_pdf": f"{FILES_BASE}/latest_pdf?meter={meter.uid}",
                "intervals_csv": f"{FILES_BASE}/intervals_csv?meters={meter.uid}",
                "intervals_xml": f"{FILES_BASE}/intervals_xml?meters={meter.uid}",
            }
        return {
            "uid": meter.uid,
            "authorization_uid": meter.auth_uid,
            "created": utc_iso_us(meter.created_us),
            "user_email": USER_EMAIL,
            "user_uid": USER_UID,
            "is_archived": meter.is_archived,
            "is_activated": activated,
            "is_expanded": unexpanded is None,
            "notes": [_note(n) for n in meter.notes],
            "status": meter.status,
            "status_message": status_message,
            "status_ts": utc_iso_us(meter.status_ts_us),
            "ongoing_monitoring": {
                "frequency": mon.frequency,
                "prepay": mon.prepay,
                "next_prepay": _iso_or_none(mon.next_prepay_us),
                "next_refresh": _iso_or_none(mon.next_refresh_us),
                "fixed_refresh_day": mon.fixed_refresh_day,
            },
            "utility": meter.utility.uid,
            "bill_count": bill_count,
            "bill_coverage": bill_coverage,
            "bill_sources": ["pdf"] if bill_count else [],
            "interval_count": interval_count,
            "interval_coverage": interval_coverage,
            "interval_sources": ["greenbutton_cmd"] if interval_count else [],
            "exports": exports,
            "exports_list": [{"name": k, "link": v} for k, v in exports.items()],
            **_blocks(meter, unexpanded),
        }

    # --- authorizations, events, forms, templates ---------------------------------------------

    def authorization(
        self,
        auth: Authorization,
        now_us: int,
        include_meters: bool = False,
        meter_view: Callable[[Meter], str | None] | None = None,
    ) -> dict[str, Any]:
        meters = self.world.live_meters(auth)
        exports: dict[str, str] = {}
        if meters:
            exports = {
                "bills_combined_csv": (
                    f"{FILES_BASE}/meters_bills_csv?meters={','.join(m.uid for m in meters)}"
                ),
                "meters_csv": f"{FILES_BASE}/meters_csv?accounts={auth.uid}",
            }
        if auth.expires_preset is not None:
            expires: str | None = auth.expires_preset
        else:
            expires = _iso_or_none(auth.expires_us)
        data: dict[str, Any] = {
            "uid": auth.uid,
            "created": utc_iso_us(auth.created_us),
            "customer_signature": {
                "type": "text",
                "ts": utc_iso_us(auth.created_us),
                "full_name": auth.customer_name,
            },
            "customer_email": auth.customer_email,
            "declined": _iso_or_none(auth.declined_us),
            "is_declined": auth.declined_us is not None,
            "expires": expires,
            "is_expired": auth.is_expired(now_us),
            "exports": exports,
            "exports_list": [{"name": k, "link": v} for k, v in exports.items()],
            "template_uid": auth.template_uid,
            "form_uid": auth.form_uid,
            "is_archived": auth.is_archived,
            "is_test": auth.is_test,
            "scope": auth.scope,
            "nickname": auth.nickname,
            "notes": [_note(n) for n in auth.notes],
            "referrals": list(auth.referrals),
            "revoked": _iso_or_none(auth.revoked_us),
            "is_revoked": auth.revoked_us is not None,
            "status": auth.status,
            "status_message": auth.status_message,
            "status_ts": utc_iso_us(auth.status_ts_us),
            "user_uid": USER_UID,
            "user_email": USER_EMAIL,
            "user_status": "active",
            "utility": auth.utility.uid,
        }
        if include_meters:
            ordered = sorted(meters, key=lambda m: (m.created_us, m.uid), reverse=True)
            view = meter_view or (lambda m: None)
            data["meters"] = {
                "meters": [self.meter(m, now_us, view(m)) for m in ordered],
                "next": None,
            }
        return data

    def form(self, form: Form) -> dict[str, Any]:
        return {
            "uid": form.uid,
            "created": utc_iso_us(form.created_us),
            "updated": utc_iso_us(form.updated_us),
            "template_uid": form.template_uid,
            "authorization_uid": form.authorization_uid,
            "is_archived": form.is_archived,
            "disabled": form.disabled,
            "user_email": USER_EMAIL,
            "user_uid": USER_UID,
            "url": f"https://utilityapi.com/authorize/sandbox?f={form.uid}",
            "customer_email": form.customer_email,
            "utility": form.utility if form.utility is not None else "",
            "scope": form.scope,
        }

    def template(self, template: Template) -> dict[str, Any]:
        return {
            "uid": template.uid,
            "created": utc_iso_us(template.created_us),
            "updated": utc_iso_us(template.updated_us),
            "user_email": USER_EMAIL,
            "user_uid": USER_UID,
            "disabled": template.disabled,
            "portal": "sandbox",
            "base_url": "https://utilityapi.com/authorize/sandbox",
            "redirect_uris": ["https://example.com/utilityapi/callback"],
            "company_logo": None,
            "company_name": "Sandbox Energy Co.",
        }


def _blocks(meter: Meter, unexpanded: str | None) -> dict[str, Any]:
    if unexpanded is None:
        return {"blocks": ["base"], "base": meter.base_block()}
    if unexpanded == "nulls":
        return {"blocks": ["base"], "base": dict.fromkeys(meter.base_block())}
    return {"blocks": []}


def _note(n: dict[str, Any]) -> dict[str, Any]:
    out = dict(n)
    out["ts"] = utc_iso_us(n["ts"])
    return out


def _iso_or_none(us: int | None) -> str | None:
    return None if us is None else utc_iso_us(us)
