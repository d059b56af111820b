"""Settings of a sandbox: the world it generates and how its server misbehaves."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from typing import Any

from .modes import Modes

DEFAULT_TOKEN = "sandbox-token"
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class Scale:
    """How big the generated world is."""

    n_meters: int
    history_days: int
    # Share of meters that were discovered but never collected (is_activated: false).
    inactive_share: float = 0.15


SCALES: dict[str, Scale] = {
    # Small and quick for unit tests; still has every meter kind and a DST change in spring.
    "test": Scale(n_meters=8, history_days=100),
    # About 8 authorizations / 20 meters with 13 months of history.
    "demo": Scale(n_meters=20, history_days=396),
    # Hundreds of meters and two years, for throughput benchmarks.
    "bench": Scale(n_meters=300, history_days=730),
}


@dataclass(frozen=True)
class FaultConfig:
    """Shares (0..1) of /api/v2 requests that misbehave; FaultConfig() means none.

    One draw per request from a generator seeded with `seed`, so a run with the same request
    order sees the same faults.
    """

    seed: int = 0
    error_500: float = 0.0
    error_503: float = 0.0
    error_504: float = 0.0
    # Share of 5xx answers that carry an HTML page; the rest have an empty body.
    html_share: float = 0.5
    # TCP reset (RST) before any response bytes.
    reset: float = 0.0
    # Orderly close (FIN) before any response bytes: "server disconnected".
    close: float = 0.0
    # Content-Length promises the whole body, about half of it is sent, then the connection closes.
    truncate: float = 0.0
    slow: float = 0.0
    slow_seconds: float = 2.0
    # Share of requests that start a burst of `burst_length` consecutive 429s (even under the
    # rate limit), each with Retry-After: retry_after.
    burst_429: float = 0.0
    burst_length: int = 3
    retry_after: int = 1
    # Restrict faults to paths (relative to /api/v2) starting with one of these; empty = all.
    paths: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        shares = (
            self.error_500,
            self.error_503,
            self.error_504,
            self.reset,
            self.close,
            self.truncate,
            self.slow,
            self.burst_429,
        )
        if any(s < 0 for s in shares) or sum(shares) > 1.0 + 1e-9:
            raise ValueError("fault shares must be >= 0 and add up to at most 1")
        if not 0 <= self.html_share <= 1:
            raise ValueError("html_share must be within 0..1")
        if self.burst_length < 1 or self.retry_after < 0 or self.slow_seconds < 0:
            raise ValueError("burst_length >= 1, retry_after >= 0 and slow_seconds >= 0")

    @property
    def active(self) -> bool:
        return (
            self.error_500
            + self.error_503
            + self.error_504
            + self.reset
            + self.close
            + self.truncate
            + self.slow
            + self.burst_429
        ) > 0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["paths"] = list(self.paths)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        values = dict(data)
        if "paths" in values:
            values["paths"] = tuple(values["paths"] or ())
        return cls(**values)


@dataclass(frozen=True)
class SandboxConfig:
    """Everything that decides what a sandbox serves.

    `now=None` runs on real time; a fixed `now` gives a clock that only moves by `advance`.
    `n_meters` / `history_days` override the scale preset.
    """

    seed: int = 0
    scale: str = "demo"
    now: datetime | None = None
    rate_limit: float | None = 50.0
    latency_ms: float = 0.0
    token: str = DEFAULT_TOKEN
    n_meters: int | None = None
    history_days: int | None = None
    # Hard cap of objects per list page (the API's is 1000); lower it to test pagination.
    page_cap: int = MAX_PAGE_SIZE
    funded: bool = True
    faults: FaultConfig = field(default_factory=FaultConfig)
    webhook_url: str | None = None
    webhook_secret: str | None = None
    # How far behind the clock interval data is published (utilities deliver with a delay).
    publication_lag_hours: float = 6.0
    # Sandbox time a historical collection job runs before its data appears.
    collection_seconds: float = 300.0
    # Sandbox time between a test-submit and its authorization's outcome.
    verification_seconds: float = 60.0
    # Bounded cache of rendered JSON (bytes).
    cache_bytes: int = 256 * 1024 * 1024
    # Daily probability of a gap (missing readings) per meter.
    gap_rate: float = 0.04
    # Daily probability that a stretch of published readings is re-published with corrections.
    republish_rate: float = 0.05
    # Real-time mode only: deliver due webhooks from a background task every second. Tests that
    # drive deliveries themselves turn it off to stay deterministic.
    background_delivery: bool = True
    host: str = "127.0.0.1"
    port: int = 0
    # Network model: with latency_ms > 0 each response waits latency_ms + bytes / bandwidth
    # (MB/s, None = infinite) before it is sent; latency_ms = 0 leaves the loopback as it is.
    bandwidth_mb_s: float | None = 50.0
    # The client's link is one pipe: responses share the bandwidth (each waits its latency, then
    # its turn on the link, first come first served), so many responses in flight arrive no
    # faster than bandwidth_mb_s in all. Off: each response is sent at the full bandwidth alone.
    shared_link: bool = False
    # More webhook endpoints as (url, secret), after webhook_url/webhook_secret; every event is
    # copied once per endpoint, each copy with its own uid and delivery state.
    webhooks: tuple[tuple[str, str], ...] = ()
    # --- readings of the API where the reference is silent (see sandbox/README.md) -----------
    # Switchable while serving (see modes.Modes for what each does):
    limit_caps: bool = False
    start_filters_objects: bool = False
    next_drops_filters: bool = False
    incomplete_after: int | None = None
    unexpanded_utilities: tuple[str, ...] = ()
    unexpanded_style: str = "absent"
    webhook_signature: str = "raw"
    page_repeat_rate: float = 0.0
    # Fixed for the world's life:
    # Monitoring refreshes extend the meter's latest Interval object in place (it gets a new
    # uid, the old one disappears) until it spans its chunk length; then a new object starts.
    growing_objects: bool = False
    # Chunk length of growing objects in days (None: the meter kind's, 4 or 7 days).
    growing_chunk_days: int | None = None
    # /events holds only events addressed to a configured webhook endpoint: none without one.
    events_require_webhook: bool = False

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {sorted(SCALES)}")
        if self.now is not None and self.now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if not 1 <= self.page_cap <= MAX_PAGE_SIZE:
            raise ValueError(f"page_cap must be within 1..{MAX_PAGE_SIZE}")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ValueError("rate_limit must be positive or None")
        if self.bandwidth_mb_s is not None and self.bandwidth_mb_s <= 0:
            raise ValueError("bandwidth_mb_s must be positive or None")
        if self.growing_chunk_days is not None and self.growing_chunk_days < 1:
            raise ValueError("growing_chunk_days must be >= 1 or None")
        # JSON round trips turn tuples into lists; keep the frozen config hashable-looking.
        object.__setattr__(self, "webhooks", tuple((u, s) for u, s in self.webhooks))
        object.__setattr__(self, "unexpanded_utilities", tuple(self.unexpanded_utilities))
        Modes.from_values(self)  # validates the switchable modes

    @property
    def modes(self) -> Modes:
        """The switchable readings this sandbox starts with."""
        return Modes.from_values(self)

    @property
    def webhook_endpoints(self) -> list[tuple[str, str]]:
        """Every configured webhook endpoint as (url, secret), the single one first."""
        first = [(self.webhook_url, self.webhook_secret or "")] if self.webhook_url else []
        # An endpoint without a secret cannot sign, so nothing is addressed to it (as before).
        return [(u, s) for u, s in first + list(self.webhooks) if u and s]

    @property
    def world_scale(self) -> Scale:
        base = SCALES[self.scale]
        return replace(
            base,
            n_meters=self.n_meters if self.n_meters is not None else base.n_meters,
            history_days=self.history_days if self.history_days is not None else base.history_days,
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["now"] = self.now.isoformat() if self.now else None
        data["faults"] = self.faults.to_json()
        data["webhooks"] = [list(w) for w in self.webhooks]
        data["unexpanded_utilities"] = list(self.unexpanded_utilities)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SandboxConfig:
        values = dict(data)
        if values.get("now"):
            values["now"] = datetime.fromisoformat(values["now"])
        if isinstance(values.get("faults"), dict):
            values["faults"] = FaultConfig.from_json(values["faults"])
        return cls(**values)
