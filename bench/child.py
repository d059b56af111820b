"""Run one measured load in this process and print its figures as one JSON line.

The bench runs every load through `python -m bench.child '<json spec>'` so that each load has
its own process: its peak RSS is its own (`ru_maxrss`), and no state (dlt, GC, caches) carries
over from one measured run to the next. Wall time is taken around `run_load` only, so
interpreter start-up and imports are not counted.

Spec keys: base_url, token, db_path, now (ISO or null: the client's clock for planning; the
sandbox's fixed clock), options (extra LoadOptions fields), pipeline (dlt step timings wanted).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from pipelines.pipeline import LoadOptions, Target, make_pipeline, run_load
from sources.utilityapi.clock import SystemClock
from sources.utilityapi.memory import tune_process


class FixedNowClock(SystemClock):
    """Real monotonic time and sleeps, but `now()` is the sandbox's fixed clock."""

    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_bytes() -> int:
    """This process's peak resident set (VmHWM).

    Not `ru_maxrss`: Linux carries the parent's high-water mark across fork and exec into it,
    so a child of a large parent would report the parent's peak.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _steps(target: Target) -> dict[str, float]:
    """Seconds of each dlt step (extract, normalize, load) of the last run."""
    trace = make_pipeline(target).last_trace
    steps: dict[str, float] = {}
    for step in trace.steps if trace else []:
        if step.started_at and step.finished_at:
            steps[step.step] = (step.finished_at - step.started_at).total_seconds()
    return steps


def run(spec: dict[str, Any]) -> dict[str, Any]:
    given = dict(spec.get("options") or {})
    # LoadOptions' own fields; every other option is a setting of the source
    pipeline_fields = {k: given.pop(k) for k in ("transform", "resources") if k in given}
    if spec.get("now"):
        pipeline_fields["clock"] = FixedNowClock(datetime.fromisoformat(spec["now"]))
    options = LoadOptions(
        target=Target(db_path=Path(spec["db_path"])),
        source={"api_token": spec["token"], "base_url": spec["base_url"], **given},
        **pipeline_fields,
    )
    tune_process()
    cpu0 = _cpu()
    startup_cpu = cpu0
    started = time.perf_counter()
    result = run_load(options)
    wall = time.perf_counter() - started
    cpu = _cpu() - cpu0
    report = result.report.as_dict()
    return {
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "startup_cpu_seconds": startup_cpu + (_cpu() - cpu0 - cpu),
        "peak_rss_bytes": peak_rss_bytes(),
        "row_counts": result.row_counts,
        "requests": report["requests"],
        "plans": report["plans"],
        "rows_fetched": report["rows_fetched"],
        "problems": report["problems"],
        "steps": _steps(options.target),
        "pid": os.getpid(),
        "outcome": result.outcome.status,
        # a load that stopped after some committed steps returns normally, with this set
        "failure": result.failure,
    }


def main() -> None:
    spec = json.loads(sys.argv[1])
    print(json.dumps(run(spec), default=str), flush=True)


if __name__ == "__main__":
    main()
