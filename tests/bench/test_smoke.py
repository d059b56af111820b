"""The benchmark suite still runs: `make bench-smoke` (tiny sizes, one run) writes its files.

Benchmarks are not timed tests: this asserts what is produced, never how fast.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEADLINES = (
    "backfill_ratio_to_floor",
    "requests_to_fewest_ratio",
    "unchanged_meter_requests",
    "speedup_vs_rest_api",
    "ratio_to_duckdb_json",
    "memory_growth",
    "peak_rss_mib_10m",
    "transform_ratio",
)


@pytest.mark.slow
def test_bench_smoke_writes_results(tmp_path: Path) -> None:
    # The same command as `make bench-smoke`, with its output kept out of the work tree.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--smoke",
            "--out",
            str(tmp_path),
            "--work",
            str(tmp_path / "work"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    results = json.loads((tmp_path / "results.json").read_text())
    for key in HEADLINES:
        assert key in results
        assert isinstance(results[key], int | float), key
    assert results["unchanged_meter_requests"] == 0
    assert results["mode"] == "smoke"
    assert results["machine"]["cores"] >= 1
    assert results["backfill_runs"][0]["backfill"]["readings"] > 0
    # the floor counts the link: the client's bytes, not only its requests
    backfill = results["backfill_runs"][0]["backfill"]
    assert backfill["bytes_received"] > 0
    assert backfill["floor_seconds"] >= backfill["bytes_floor_seconds"]
    assert len(results["memory_large_runs"]) == len(results["memory_small_runs"]) == 1
    assert results["memory_large_runs"][0]["readings"] > results["memory_small_runs"][0]["readings"]
    assert results["throughput"]["rest_api"][0]["datapoint_rows"] > 0
    assert (
        results["throughput"]["duckdb_json"][0]["readings"]
        == (results["throughput"]["ours"][0]["readings"])
    )

    markdown = (tmp_path / "results.md").read_text()
    assert "| figure | median | min – max | target | met |" in markdown
    assert "wall ÷ floor" in markdown


def test_the_append_probe_decodes_and_inserts_every_reading() -> None:
    """`python -m bench.probe_append` (bench/README.md, "What would close each missed target")."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.probe_append", "--meters", "1", "--days", "20"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    readings = next(line for line in lines if " readings in " in line)
    assert int(readings.split()[0].replace(",", "")) > 0
    labels = ("decode", "insert from Arrow, one statement", "a statement per batch", "read_json")
    for label in labels:
        assert any(label in line for line in lines), (label, lines)


def test_the_direct_probe_accounts_for_every_reading_in_each_arm() -> None:
    """`python -m bench.probe_direct` (bench/README.md, "What would close each missed target"):
    the readings kept out of dlt are appended or counted, never lost."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.probe_direct",
            "--meters",
            "1",
            "--days",
            "20",
            "--runs",
            "1",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    arms = {line.split()[0]: line for line in done.stdout.splitlines() if " readings " in line}
    assert set(arms) == {"dlt", "direct", "drop"}, done.stdout
    counts = {
        arm: int(line.split(" CPU s")[1].split()[0].replace(",", "")) for arm, line in arms.items()
    }
    assert len(set(counts.values())) == 1 and counts["dlt"] > 0, counts
