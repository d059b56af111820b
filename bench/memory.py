"""Scenario 4: peak RSS of a load at ≈1 M and ≈10 M readings.

Each load runs in its own process (bench/child.py) and reports its own `ru_maxrss`. The
≈10 M point is scenario 1's backfill (same sandbox settings); the ≈1 M point is the same
backfill of a world a tenth the size, so the two differ only in how much data passes through.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .backfill import LATENCY_MS, LOAD_ONLY
from .common import API_RATE, World, fresh_dir, run_child_load, sandbox_process


def run_small(world: World, work: Path) -> dict[str, Any]:
    cfg = world.config(rate_limit=API_RATE, latency_ms=LATENCY_MS)
    with sandbox_process(cfg) as sb:
        load = run_child_load(sb, fresh_dir(work) / "uapi_bench.duckdb", options=LOAD_ONLY)
    return {
        "wall_seconds": load["wall_seconds"],
        "peak_rss_bytes": load["peak_rss_bytes"],
        "readings": load["row_counts"].get("interval_readings", 0),
        "steps": load["steps"],
    }
