"""Scenarios 1 and 2: an API-bound backfill, then the requests of incremental runs.

1. A sandbox paced at 50 requests/s, with 250 ms latency per response and one client link of
   50 MB/s that every response shares (`shared_link`); `run_load` with its defaults loads the
   whole world into an empty DuckDB file. The floor is the time the API and the link alone
   allow for what the client chose to ask: max(requests ÷ 50/s, bytes ÷ 50 MB/s) + one
   latency (the meter listing must arrive before the first interval page is asked for). The
   world's own floor is the fewest requests its data allows (lists of 1000 per page).
2. On the same sandbox and database: a run with nothing new, then monitoring switched off
   (free) for all but k meters, the sandbox clock advanced a day, and a run that should fetch
   bills and intervals only for the meters whose listing changed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sandbox import Sandbox, chunks
from sandbox.runtime import Runtime

from .common import (
    API_RATE,
    NOW,
    World,
    api_client,
    fresh_dir,
    list_all,
    min_requests,
    requests_by_endpoint,
    run_child_load,
    sandbox_process,
)

LATENCY_MS = 250.0
BANDWIDTH_MB_S = 50.0  # the sandbox's default, shared by every response (one client link)
# Enough for every page of the 100-meter × 2-year world (~1.4 GB of JSON) to stay rendered.
BACKFILL_CACHE_BYTES = 3 * 1024**3
# run_load also builds the analytics models by default; scenario 5 times that step on its own.
LOAD_ONLY = {"transform": False}
GUIDED = ("/bills", "/intervals")
LISTING_FIELDS = ("bill_count", "bill_coverage", "interval_count", "interval_coverage")


def world_objects(world: World) -> dict[str, int]:
    """How many objects of each list the world serves at NOW (read from a world built here)."""
    cfg = world.config()
    rt = Runtime(cfg)
    now = rt.clock.now_us()
    with rt.world.lock:
        rt.world.sync(now)
        meters = [m for m in rt.world.meters.values() if not m.deleted]
        objects = sum(
            len(chunks.objects(m, cfg.gap_rate, cfg.republish_rate, now, None, None, True))
            for m in meters
        )
        bills = sum(len(m.bill_created) for m in meters)
        return {
            "authorizations": sum(not a.deleted for a in rt.world.authorizations.values()),
            "meters": len(meters),
            "events": len(rt.world.events.items),
            "bills": bills,
            "intervals": objects,
        }


def run_once(
    world: World,
    work: Path,
    *,
    k_changed: int,
    after_backfill: Callable[[Path], dict[str, Any]] | None = None,
    after_increment: Callable[[Path], dict[str, Any]] | None = None,
    profile: Path | None = None,
) -> dict[str, Any]:
    """One backfill and its two incremental runs, each load in its own process."""
    db = fresh_dir(work) / "uapi_bench.duckdb"
    cfg = network_config(world, cache_bytes=BACKFILL_CACHE_BYTES)
    with sandbox_process(cfg) as sb:
        # UtilityAPI's servers render pages on their own CPUs; a sandbox rendering on demand
        # would take ~20 s of this 2-core machine's CPU from the client it is there to measure.
        sb.prerender()
        backfill = _backfill(sb, db, profile)
        extra_backfill = after_backfill(db) if after_backfill else {}
        nothing_new = _incremental(sb, db, unchanged=None, now=NOW)
        changed, unchanged = _change_k_meters(sb, k_changed)
        some_new = _incremental(sb, db, unchanged=unchanged, now=NOW + timedelta(days=1))
        some_new["meters_with_new_data"] = sorted(changed)
        extra_increment = after_increment(db) if after_increment else {}
    return {
        "backfill": backfill,
        "nothing_new": nothing_new,
        "k_new": some_new,
        "after_backfill": extra_backfill,
        "after_increment": extra_increment,
    }


def network_config(world: World, **overrides: Any) -> Any:
    """Scenario 1's sandbox: the API's rate limit, latency and one shared client link."""
    return world.config(
        rate_limit=API_RATE,
        latency_ms=LATENCY_MS,
        bandwidth_mb_s=BANDWIDTH_MB_S,
        shared_link=True,
        **overrides,
    )


def api_floor(requests: int, size: int) -> float:
    """Seconds the API and the link alone allow for `requests` answers of `size` bytes in all."""
    return max(requests / API_RATE, size / (BANDWIDTH_MB_S * 1e6)) + LATENCY_MS / 1000


def _backfill(sb: Sandbox, db: Path, profile: Path | None) -> dict[str, Any]:
    sb.clear_requests()
    load = run_child_load(sb, db, options=LOAD_ONLY, profile=profile)
    requests = load["requests"]["total_requests"]
    size = load["requests"]["bytes_received"]
    floor = api_floor(requests, size)
    log = sb.requests
    return {
        **load,
        "client_requests": requests,
        "bytes_received": size,
        "request_floor_seconds": requests / API_RATE,
        "bytes_floor_seconds": size / (BANDWIDTH_MB_S * 1e6),
        "sandbox_requests_by_endpoint": requests_by_endpoint(log),
        "status_429": sum(r.status == 429 for r in log),
        "floor_seconds": floor,
        "ratio_to_floor": load["wall_seconds"] / floor,
        "client_cpu_ratio_to_floor": load["cpu_seconds"] / floor,
        "readings": load["row_counts"].get("interval_readings", 0),
    }


def _incremental(sb: Sandbox, db: Path, unchanged: set[str] | None, now: Any) -> dict[str, Any]:
    sb.clear_requests()
    load = run_child_load(sb, db, options=LOAD_ONLY, now=now)
    log = sb.requests
    guided = [r for r in log if r.route in GUIDED]
    if unchanged is None:  # nothing new: every meter is unchanged
        for_unchanged = guided
    else:
        for_unchanged = [r for r in guided if set(r.meter_uids) & unchanged]
    return {
        "wall_seconds": load["wall_seconds"],
        "client_requests_by_endpoint": load["requests"]["requests"],
        "sandbox_requests_by_endpoint": requests_by_endpoint(log),
        "bills_intervals_requests": len(guided),
        "unchanged_meter_requests": len(for_unchanged),
        "plans": load["plans"],
        "row_counts": load["row_counts"],
        "guidance_violations": len(sb.guidance_violations()),
    }


def _change_k_meters(sb: Sandbox, k: int) -> tuple[set[str], set[str]]:
    """Monitoring off for all but k monitored meters, then a day passes.

    Returns the meters whose listing (counts, coverage) changed and those whose did not: the
    sandbox's truth for "unchanged", whatever the monitoring switch was meant to do.
    """
    with api_client(sb) as client:
        before = {m["uid"]: m for m in list_all(client, "meters", "meters", {})}
        monitored = sorted(
            uid
            for uid, m in before.items()
            if m.get("is_activated")
            and (m.get("ongoing_monitoring") or {}).get("frequency") not in (None, "off")
        )
        off = monitored[k:]
        for i in range(0, len(off), 100):
            response = client.post(
                "meters/ongoing-monitoring", json={"meters": off[i : i + 100], "frequency": "off"}
            )
            response.raise_for_status()
        sb.advance(timedelta(days=1))
        after = {m["uid"]: m for m in list_all(client, "meters", "meters", {})}
    changed = {
        uid
        for uid, m in after.items()
        if any(m.get(f) != before.get(uid, {}).get(f) for f in LISTING_FIELDS)
    }
    return changed, set(after) - changed


def world_floor(world: World) -> dict[str, Any]:
    objects = world_objects(world)
    return {"objects": objects, "min_requests": min_requests(objects)}
