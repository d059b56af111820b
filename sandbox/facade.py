"""`Sandbox`: start a sandbox, point a client at `base_url`, and steer it from the test."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

import httpx
import orjson

from . import chunks
from .config import FaultConfig, SandboxConfig
from .localtime import to_us
from .modes import Modes
from .requestlog import RequestRecord
from .runtime import Runtime
from .server import ServerProcess, ServerThread


class Truth:
    """What a complete, correct load holds now, read directly from the world (in-process
    sandboxes only). It ignores every mode: meters are expanded, objects whole, listings uncut.
    """

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    def authorizations(self) -> list[dict[str, Any]]:
        with self._rt.synced() as now:
            auths = [a for a in self._rt.world.authorizations.values() if not a.deleted]
            auths.sort(key=lambda a: (a.created_us, a.uid), reverse=True)
            return [self._rt.renderer.authorization(a, now) for a in auths]

    def meters(self) -> list[dict[str, Any]]:
        with self._rt.synced() as now:
            meters = [m for m in self._rt.world.meters.values() if not m.deleted]
            meters.sort(key=lambda m: (m.created_us, m.uid), reverse=True)
            return [self._rt.renderer.meter(m, now) for m in meters]

    def bills(self, meter_uid: str) -> list[dict[str, Any]]:
        with self._rt.synced():
            meter = self._rt.world.get_meter(meter_uid)
            return [
                orjson.loads(self._rt.renderer.bill(meter, k))
                for k in sorted(meter.bill_created, reverse=True)
            ]

    def intervals(self, meter_uid: str, allow_mixed: bool = True) -> list[dict[str, Any]]:
        rt = self._rt
        with rt.synced() as now:
            meter = rt.world.get_meter(meter_uid)
            refs = chunks.objects(
                meter, rt.cfg.gap_rate, rt.cfg.republish_rate, now, None, None, allow_mixed
            )
            refs.sort(key=lambda r: r.sort_key, reverse=True)
            return [orjson.loads(rt.renderer.interval(meter, ref)) for ref in refs]

    def readings(self, meter_uid: str, allow_mixed: bool = False) -> list[dict[str, Any]]:
        """The meter's final readings: one row per (start, end, type, meter_number), holding the
        value of the latest publication (latest `updated`), in start order.

        With allow_mixed=False (primary readings only) that is one row per start, type and
        meter_number, and the number of distinct starts equals the listing's interval_count.
        """
        best: dict[tuple[str, str, str, str], tuple[tuple[str, str], dict[str, Any]]] = {}
        for obj in self.intervals(meter_uid, allow_mixed=allow_mixed):
            rank = (obj["updated"], obj["uid"])
            for reading in obj["readings"]:
                for dp in reading["datapoints"]:
                    number = dp.get("meter_number") or ""
                    key = (reading["start"], reading["end"], dp["type"], number)
                    if key in best and best[key][0] >= rank:
                        continue
                    best[key] = (rank, _reading_row(obj, reading, dp, number))
        rows = [row for _, row in best.values()]
        rows.sort(key=lambda r: (datetime.fromisoformat(r["start"]), r["type"], r["meter_number"]))
        return rows

    def meter_counts(self, meter_uid: str) -> dict[str, Any]:
        """What the meter listing publishes about the meter's data: counts and coverage."""
        with self._rt.synced() as now:
            meter = self._rt.renderer.meter(self._rt.world.get_meter(meter_uid), now)
        names = ("interval_count", "interval_coverage", "bill_count", "bill_coverage")
        return {name: meter[name] for name in names}

    def events(self) -> list[dict[str, Any]]:
        with self._rt.synced():
            return [e.to_dict() for e in reversed(self._rt.world.events.items)]


def _reading_row(
    obj: dict[str, Any], reading: dict[str, Any], dp: dict[str, Any], number: str
) -> dict[str, Any]:
    return {
        "meter_uid": obj["meter_uid"],
        "authorization_uid": obj["authorization_uid"],
        "interval_uid": obj["uid"],
        "start": reading["start"],
        "end": reading["end"],
        "type": dp["type"],
        "unit": dp["unit"],
        "value": dp["value"],
        "meter_number": number,
        "interval_created": obj["created"],
        "interval_updated": obj["updated"],
    }


class Sandbox:
    """A running sandbox. mode="thread" serves from a background thread of this process;
    mode="process" runs `python -m sandbox serve` and steers it through /_sandbox."""

    def __init__(self, cfg: SandboxConfig | None = None, mode: str = "thread") -> None:
        if mode not in ("thread", "process"):
            raise ValueError("mode must be 'thread' or 'process'")
        self.cfg = cfg or SandboxConfig()
        self.mode = mode
        self._rt: Runtime | None = None
        self._thread: ServerThread | None = None
        self._process: ServerProcess | None = None
        self._http: httpx.Client | None = None
        self.origin = ""

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Sandbox:
        if self.mode == "thread":
            from .control import SandboxApp

            self._rt = Runtime(self.cfg)
            self._thread = ServerThread(SandboxApp(self._rt), self.cfg.host, self.cfg.port)
            self._thread.start()
            self.origin = f"http://{self.cfg.host}:{self._thread.port}"
        else:
            self._process = ServerProcess(self.cfg)
            ready = self._process.start()
            self.origin = ready["origin"]
            self._http = httpx.Client(base_url=self.origin, timeout=120.0, trust_env=False)
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.stop()
            self._thread = None
        if self._rt is not None:
            self._rt.close()
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._process is not None:
            self._process.stop()
            self._process = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- addresses ----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"{self.origin}/api/v2"

    @property
    def control_url(self) -> str:
        return f"{self.origin}/_sandbox"

    @property
    def token(self) -> str:
        return self.cfg.token

    @property
    def runtime(self) -> Runtime:
        if self._rt is None:
            raise RuntimeError("the runtime is only reachable in thread mode")
        return self._rt

    @property
    def truth(self) -> Truth:
        return Truth(self.runtime)

    def _control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        assert self._http is not None, "sandbox is not running"
        response = self._http.request(
            method, f"/_sandbox{path}", content=orjson.dumps(body) if body is not None else None
        )
        response.raise_for_status()
        return response.json()

    # --- control ------------------------------------------------------------------------------

    def now(self) -> datetime:
        if self._rt is not None:
            return self._rt.clock.now()
        return datetime.fromisoformat(self._control("GET", "/clock")["now"])

    def advance(
        self, delta: timedelta | None = None, *, to: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Move the clock; every effect due on the way is applied in order (incl. webhooks)."""
        if self._rt is not None:
            if to is not None:
                return self._rt.advance(to_us=to_us(to))
            return self._rt.advance(seconds=(delta or timedelta()).total_seconds())
        body = (
            {"to": to.isoformat()}
            if to is not None
            else {"advance_seconds": (delta or timedelta()).total_seconds()}
        )
        return list(self._control("POST", "/clock", body)["webhook_attempts"])

    def set_funded(self, funded: bool) -> None:
        if self._rt is not None:
            self._rt.set_funded(funded)
        else:
            self._control("POST", "/funded", {"funded": funded})

    def set_faults(self, faults: FaultConfig | None = None) -> None:
        faults = faults or FaultConfig()
        if self._rt is not None:
            self._rt.set_faults(faults)
        else:
            self._control("POST", "/faults", faults.to_json())

    def set_rate_limit(self, rate: float | None) -> None:
        if self._rt is not None:
            self._rt.set_rate_limit(rate)
        else:
            self._control("POST", "/rate-limit", {"rate": rate})

    def set_latency(self, ms: float) -> None:
        if self._rt is not None:
            self._rt.set_latency(ms)
        else:
            self._control("POST", "/latency", {"ms": ms})

    def set_bandwidth(self, mb_s: float | None) -> None:
        """MB/s responses are sent at while latency is on (None = infinite)."""
        if self._rt is not None:
            self._rt.set_bandwidth(mb_s)
        else:
            self._control("POST", "/latency", {"bandwidth_mb_s": mb_s})

    def set_modes(self, **changes: Any) -> Modes:
        """Switch readings of the API while serving, e.g. set_modes(limit_caps=True)."""
        if self._rt is not None:
            return self._rt.set_modes(changes)
        return Modes.from_values(self._control("POST", "/modes", changes))

    def set_webhook(self, url: str | None, secret: str | None = None) -> None:
        """One webhook endpoint (url None: none), replacing every configured one."""
        if self._rt is not None:
            self._rt.set_webhook(url, secret)
        else:
            self._control("POST", "/webhook", {"url": url, "secret": secret})

    def set_webhooks(self, endpoints: list[tuple[str, str]]) -> None:
        """Several webhook endpoints as (url, secret); each event is copied once per endpoint."""
        if self._rt is not None:
            self._rt.set_webhooks(endpoints)
        else:
            body = {"endpoints": [{"url": u, "secret": s} for u, s in endpoints]}
            self._control("POST", "/webhooks", body)

    def deliver_webhooks(self) -> list[dict[str, Any]]:
        if self._rt is not None:
            return self._rt.deliver_webhooks()
        return list(self._control("POST", "/webhooks/deliver")["attempts"])

    def expire(self, authorization_uid: str) -> None:
        """Expire an authorization now (emits authorization_expired)."""
        if self._rt is not None:
            self._rt.expire(authorization_uid)
        else:
            self._control("POST", f"/authorizations/{authorization_uid}/expire")

    def prerender(self, meter_uids: list[str] | None = None) -> dict[str, int]:
        if self._rt is not None:
            return self._rt.prerender(meter_uids)
        return dict(self._control("POST", "/prerender", {"meters": meter_uids}))

    # --- request log --------------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        if self._rt is not None:
            return self._rt.log.snapshot()
        return [RequestRecord.from_json(r) for r in self._control("GET", "/requests")["requests"]]

    def request_counts(self) -> Counter[tuple[str, str, int]]:
        """Requests by (method, route template, status), e.g. ("GET", "/intervals", 200)."""
        if self._rt is not None:
            return self._rt.log.counts()
        return Counter(
            {
                (c["method"], c["route"], c["status"]): c["count"]
                for c in self._control("GET", "/requests")["counts"]
            }
        )

    def guidance_violations(self) -> list[dict[str, Any]]:
        """New bills/intervals listings of a meter within 60 s of the previous one."""
        if self._rt is not None:
            return [v.__dict__ for v in self._rt.log.violations]
        return list(self._control("GET", "/requests")["guidance_violations"])

    def clear_requests(self) -> None:
        if self._rt is not None:
            self._rt.log.clear()
        else:
            self._control("DELETE", "/requests")
