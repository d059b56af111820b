"""One running sandbox: world, clock, renderer and server-side settings, with the control actions.

Both the HTTP control surface (/_sandbox) and the in-process `Sandbox` facade call these methods,
so the two behave the same.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from . import chunks, webhooks
from .chunks import ObjRef
from .clock import SandboxClock
from .config import FaultConfig, SandboxConfig
from .events import Event
from .faults import FaultInjector
from .localtime import utc_iso_us
from .modes import Modes
from .ratelimit import RateLimiter
from .render import Renderer
from .requestlog import RequestLog
from .world import Meter, World

log = logging.getLogger(__name__)

US = 1_000_000
HOUR_US = 3600 * US


@dataclass
class _Listing:
    version: int
    valid_until_us: int | None
    refs: list[ObjRef]
    keys: list[tuple[int, int, str]]


class Runtime:
    def __init__(self, cfg: SandboxConfig) -> None:
        self.cfg = cfg
        self.clock = SandboxClock(cfg.now)
        self.world = World(cfg, self.clock.now_us())
        self.renderer = Renderer(self.world)
        self.log = RequestLog()
        self.limiter = RateLimiter(cfg.rate_limit)
        self.faults = FaultInjector(cfg.faults)
        self.latency_ms = cfg.latency_ms
        self.bandwidth_mb_s = cfg.bandwidth_mb_s
        self.shared_link = cfg.shared_link
        self._link_free_at = 0.0  # monotonic time the shared link finishes its queued bytes
        self._link_lock = threading.Lock()
        self.modes = cfg.modes
        # Awaited before each response (tests inject a recorder instead of waiting).
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self.attempts: list[webhooks.Attempt] = []
        self._listings: dict[Any, _Listing] = {}
        self._delivery_lock = threading.Lock()
        self._webhook_client: httpx.Client | None = None

    # --- time ---------------------------------------------------------------------------------

    @contextmanager
    def synced(self) -> Iterator[int]:
        """Hold the world lock with every effect due by now applied; yields now (µs)."""
        with self.world.lock:
            now = self.clock.now_us()
            self.world.sync(now)
            yield now

    def advance(self, seconds: float | None = None, to_us: int | None = None) -> list[dict]:
        """Move the clock, applying effects and webhook deliveries in time order."""
        with self.world.lock:
            start = self.clock.now_us()
        target = to_us if to_us is not None else start + int((seconds or 0) * US)
        hourly = self.clock.is_fixed
        return [a.to_json() for a in self._run_until(max(target, start), hourly=hourly)]

    def _run_until(self, target_us: int, hourly: bool) -> list[webhooks.Attempt]:
        done: list[webhooks.Attempt] = []
        with self._delivery_lock:
            while True:
                with self.world.lock:
                    now = self.clock.now_us()
                    due = [
                        t
                        for t in (self.world.next_effect_us(), self._next_delivery_us())
                        if t is not None and t <= target_us
                    ]
                    if not due:
                        self.clock.set_us(target_us)
                        self.world.sync(target_us)
                        return done
                    at = max(min(due), now)
                    self.clock.set_us(at)
                    self.world.sync(at)
                    found = self._due_batch(at)
                    if found is None:
                        continue
                    url, secret, batch = found
                    body, signed = webhooks.body_for(batch, self.modes.webhook_signature)
                status, error = self._post(url, secret, body, signed)
                with self.world.lock:
                    done.append(self._record(batch, at, url, status, error, hourly))

    def deliver_webhooks(self) -> list[dict]:
        """Attempt delivery of every due event now; returns the attempts made."""
        attempts: list[webhooks.Attempt] = []
        failed: set[str] = set()
        with self._delivery_lock:
            while True:
                with self.synced() as now:
                    found = self._due_batch(now, skip=failed)
                    if found is None:
                        break
                    url, secret, batch = found
                    body, signed = webhooks.body_for(batch, self.modes.webhook_signature)
                status, error = self._post(url, secret, body, signed)
                with self.world.lock:
                    attempts.append(
                        self._record(batch, now, url, status, error, self.clock.is_fixed)
                    )
                if status != 200:
                    failed.add(url)  # the rest stays due; retry on the schedule
        return [a.to_json() for a in attempts]

    def tick(self) -> None:
        """Real-time housekeeping: apply due effects and deliver due webhooks with backoff."""
        if self.clock.is_fixed:
            return
        self.deliver_webhooks()

    # --- webhooks -----------------------------------------------------------------------------

    def _post(
        self, url: str, secret: str, body: bytes, signed: bytes
    ) -> tuple[int | None, str | None]:
        if self._webhook_client is None:
            self._webhook_client = httpx.Client(timeout=webhooks.TIMEOUT_SECONDS, trust_env=False)
        return webhooks.post(self._webhook_client, url, secret, body, signed)

    def close(self) -> None:
        if self._webhook_client is not None:
            self._webhook_client.close()
            self._webhook_client = None

    def _pending_for(self, url: str) -> list[Event]:
        return [e for e in self.world.events.pending.values() if e.target == url]

    def _next_delivery_us(self) -> int | None:
        urls = {url for url, _ in self.world.webhooks}
        times = [
            e.next_attempt_us
            for e in self.world.events.pending.values()
            if e.target in urls and e.next_attempt_us is not None
        ]
        return min(times) if times else None

    def _due_batch(
        self, at_us: int, skip: set[str] | None = None
    ) -> tuple[str, str, list[Event]] | None:
        """The first endpoint with a due event and every event pending for it: one POST
        carries them all and failed ones retry together, an hour later."""
        for url, secret in self.world.webhooks:
            if skip and url in skip:
                continue
            batch = self._endpoint_batch(url, at_us)
            if batch:
                return url, secret, batch
        return None

    def _endpoint_batch(self, url: str, at_us: int) -> list[Event]:
        deliverable = self._pending_for(url)
        if not any(
            e.next_attempt_us is not None and e.next_attempt_us <= at_us for e in deliverable
        ):
            return []
        batch = []
        for event in deliverable:
            if at_us - event.ts_us > webhooks.GIVE_UP_US:
                self.world.events.pending.pop(event.uid, None)
                continue
            batch.append(event)
            if len(batch) >= webhooks.BATCH:
                break
        return batch

    def _record(
        self,
        batch: list[Event],
        at_us: int,
        url: str,
        status: int | None,
        error: str | None,
        hourly: bool,
    ) -> webhooks.Attempt:
        pending = self.world.events.pending
        for event in batch:
            event.attempts += 1
            if status == 200:
                event.is_delivered = True
                event.next_attempt_us = None
                pending.pop(event.uid, None)
                continue
            # Fixed clock: hourly like the API; real time: back off from 1 s up to an hour.
            delay = HOUR_US if hourly else min(HOUR_US, US * 2 ** min(event.attempts - 1, 12))
            event.next_attempt_us = at_us + delay
            if event.next_attempt_us - event.ts_us > webhooks.GIVE_UP_US:
                event.next_attempt_us = None
                pending.pop(event.uid, None)
        self.world.version += 1
        attempt = webhooks.Attempt(
            utc_iso_us(at_us), url, tuple(e.uid for e in batch), status, error
        )
        self.attempts.append(attempt)
        return attempt

    # --- settings -----------------------------------------------------------------------------

    def set_funded(self, funded: bool) -> None:
        with self.world.lock:
            self.world.funded = funded

    def set_faults(self, faults: FaultConfig) -> None:
        self.faults.configure(faults)

    def set_rate_limit(self, rate: float | None) -> None:
        self.limiter.rate = rate

    def set_latency(self, ms: float) -> None:
        if ms < 0:
            raise ValueError("latency must be >= 0")
        self.latency_ms = ms

    def set_bandwidth(self, mb_s: float | None) -> None:
        """MB/s a response is sent at when latency is on; None = infinite."""
        if mb_s is not None and mb_s <= 0:
            raise ValueError("bandwidth_mb_s must be positive or None")
        self.bandwidth_mb_s = mb_s

    def response_delay(self, size: int) -> float:
        """Seconds a response of `size` bytes waits before it is sent (0 without latency).

        On a shared link the response also waits for the bytes queued before it.
        """
        if self.latency_ms <= 0:
            return 0.0
        transfer = 0.0 if self.bandwidth_mb_s is None else size / (self.bandwidth_mb_s * 1e6)
        latency = self.latency_ms / 1000.0
        if not self.shared_link:
            return latency + transfer
        now = time.monotonic()
        with self._link_lock:
            self._link_free_at = max(now + latency, self._link_free_at) + transfer
            return self._link_free_at - now

    def set_modes(self, changes: dict[str, Any]) -> Modes:
        """Switch readings of the API while serving; returns the modes now in force."""
        with self.world.lock:
            self.modes = self.modes.updated(changes)
            self._listings.clear()  # listings depend on start_filters_objects
            return self.modes

    def set_webhook(self, url: str | None, secret: str | None) -> None:
        """One endpoint (url None: none); an endpoint without a secret receives nothing."""
        self.set_webhooks([(url, secret)] if url and secret else [])

    def set_webhooks(self, endpoints: list[tuple[str, str]]) -> None:
        """Every webhook endpoint as (url, secret); events are copied once per endpoint."""
        with self.world.lock:
            self.world.webhooks = [(url, secret) for url, secret in endpoints]
            urls = {url for url, _ in endpoints}
            # Events are addressed to the endpoints configured when they happened.
            pending = self.world.events.pending
            for uid in [u for u, e in pending.items() if e.target not in urls]:
                pending.pop(uid)

    def expire(self, auth_uid: str) -> None:
        with self.synced() as now:
            self.world.expire(auth_uid, now)

    # --- intervals listing --------------------------------------------------------------------

    def interval_refs(
        self,
        meters: list[Meter],
        start: dict[str, int | None],
        end: dict[str, int | None],
        allow_mixed: bool,
        now_us: int,
        start_on_object: bool = False,
    ) -> tuple[list[ObjRef], list[tuple[int, int, str]]]:
        """Visible Interval objects of `meters` (ascending by key), cached until data changes."""
        cache_key = (
            tuple(m.uid for m in meters),
            tuple(sorted(start.items())),
            tuple(sorted(end.items())),
            allow_mixed,
            start_on_object,
        )
        found = self._listings.get(cache_key)
        if (
            found is not None
            and found.version == self.world.version
            and (found.valid_until_us is None or now_us < found.valid_until_us)
        ):
            return found.refs, found.keys
        cfg = self.cfg
        refs: list[ObjRef] = []
        for meter in meters:
            refs.extend(
                chunks.objects(
                    meter,
                    cfg.gap_rate,
                    cfg.republish_rate,
                    now_us,
                    start.get(meter.uid),
                    end.get(meter.uid),
                    allow_mixed,
                    start_on_object=start_on_object,
                )
            )
        refs.sort(key=lambda r: r.sort_key)
        pending = [m for m in meters if m.chunk_start]
        valid_until = self._next_visibility_change(pending, now_us) if pending else None
        keys = [r.sort_key for r in refs]
        if len(self._listings) > 64:
            self._listings.clear()
        self._listings[cache_key] = _Listing(self.world.version, valid_until, refs, keys)
        return refs, keys

    def _next_visibility_change(self, meters: list[Meter], now_us: int) -> int | None:
        """Re-publications and fill-ins appear at their own times; recompute when one is due."""
        cfg = self.cfg
        soonest: int | None = None
        horizon = now_us + 5 * 86400 * US
        for meter in meters:
            # Objects appear at most ~3.5 days after the data they cover was published.
            if max(meter.chunk_updated) < now_us - 4 * 86400 * US:
                continue
            for ref in chunks.objects(
                meter, cfg.gap_rate, cfg.republish_rate, horizon, None, None, True
            ):
                if ref.created_us > now_us and (soonest is None or ref.created_us < soonest):
                    soonest = ref.created_us
        return soonest if soonest is not None else horizon

    # --- benchmarks ---------------------------------------------------------------------------

    def prerender(self, meter_uids: list[str] | None = None) -> dict[str, int]:
        """Render every visible Interval object and bill into the cache (bounded by its size)."""
        objects = 0
        with self.synced() as now:
            meters = [
                m
                for m in self.world.meters.values()
                if not m.deleted and (meter_uids is None or m.uid in meter_uids)
            ]
            for meter in meters:
                for ref in chunks.objects(
                    meter, self.cfg.gap_rate, self.cfg.republish_rate, now, None, None, True
                ):
                    self.renderer.rendered_interval(meter, ref)
                    objects += 1
                for k in meter.bill_created:
                    self.renderer.bill(meter, k)
                    objects += 1
        cache = self.renderer.cache
        return {"objects": objects, "cached_objects": len(cache), "cached_bytes": cache.size}
