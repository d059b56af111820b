"""Scenario 4: peak RSS of a load at ≈1 M, ≈10 M and ≈30 M readings.

Each load runs in its own process (bench/child.py) and reports its own peak RSS. The ≈10 M
point is scenario 1's backfill (same sandbox settings); the ≈1 M and ≈30 M points are the same
backfill of worlds a tenth and three times the size, so the three differ only in how much data
passes through.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .backfill import LOAD_ONLY, network_config
from .common import World, fresh_dir, run_child_load, sandbox_process


def run_point(world: World, work: Path) -> dict[str, Any]:
    with sandbox_process(network_config(world)) as sb:
        load = run_child_load(sb, fresh_dir(work) / "uapi_bench.duckdb", options=LOAD_ONLY)
    return {
        "wall_seconds": load["wall_seconds"],
        "peak_rss_bytes": load["peak_rss_bytes"],
        "readings": load["row_counts"].get("interval_readings", 0),
        "steps": load["steps"],
        "other_cpu_seconds": load["other_cpu_seconds"],
    }
