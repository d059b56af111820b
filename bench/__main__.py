"""`python -m bench`: run the five scenarios and write bench/results.md and results.json.

python -m bench            # the full suite (make bench): 3 runs each, about 10 minutes
python -m bench --smoke    # a tiny version of every scenario, one run (make bench-smoke)
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import backfill, machine, memory, report, throughput, transforms_scenario
from .common import World

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Plan:
    """Sizes of one suite: worlds per scenario, runs, k of N."""

    runs: int
    backfill: World  # scenarios 1, 2, 4 (the ≈10 M point) and 5
    memory_small: World  # scenario 4's ≈1 M point
    memory_large: World  # scenario 4's ≈30 M point
    throughput: World  # scenario 3
    rest_api_meters: int  # how many of scenario 3's meters the rest_api baseline loads
    k_changed: int


FULL = Plan(
    runs=3,
    backfill=World(meters=100, days=730),
    memory_small=World(meters=10, days=730),
    memory_large=World(meters=300, days=730),
    throughput=World(meters=20, days=730),
    rest_api_meters=2,
    k_changed=5,
)
SMOKE = Plan(
    runs=1,
    backfill=World(meters=4, days=20),
    memory_small=World(meters=2, days=20),
    memory_large=World(meters=12, days=20),
    throughput=World(meters=3, days=20),
    rest_api_meters=1,
    k_changed=1,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one run")
    parser.add_argument("--runs", type=int, help="runs per scenario (default 3; smoke 1)")
    parser.add_argument("--out", type=Path, help="where results.md/json go (default bench/)")
    parser.add_argument("--work", type=Path, help="scratch folder (default bench/out/)")
    parser.add_argument(
        "--profile", action="store_true", help="record scenario 1's first load with py-spy"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    plan = SMOKE if args.smoke else FULL
    runs = args.runs or plan.runs
    out = args.out or (HERE / "out" / "smoke" if args.smoke else HERE)
    work = args.work or HERE / "out" / ("smoke-work" if args.smoke else "work")
    started = time.perf_counter()
    results: dict[str, Any] = {"mode": "smoke" if args.smoke else "full", "runs": runs}
    results["machine"] = machine.describe()

    _say(f"world for scenarios 1, 2, 4, 5: {plan.backfill.describe()}")
    results["backfill_world"] = {**vars(plan.backfill), **backfill.world_floor(plan.backfill)}
    backfill_runs = []
    for i in range(runs):
        _say(f"scenario 1+2 (+5): run {i + 1}/{runs}")
        profile = (
            work / "profiles" / "backfill.speedscope.json" if args.profile and i == 0 else None
        )
        backfill_runs.append(
            backfill.run_once(
                plan.backfill,
                work / "backfill",
                k_changed=plan.k_changed,
                after_backfill=transforms_scenario.isolated_after_backfill,
                after_increment=transforms_scenario.isolated_after_increment,
                profile=profile,
            )
        )
    results["backfill_runs"] = backfill_runs

    _say(f"scenario 4: {plan.memory_small.describe()} and {plan.memory_large.describe()}")
    results["memory_small_world"] = vars(plan.memory_small)
    results["memory_small_runs"] = [
        memory.run_point(plan.memory_small, work / "memory") for _ in range(runs)
    ]
    results["memory_large_world"] = vars(plan.memory_large)
    results["memory_large_runs"] = [
        memory.run_point(plan.memory_large, work / "memory") for _ in range(runs)
    ]

    _say(f"scenario 3: {plan.throughput.describe()}")
    results["throughput_world"] = vars(plan.throughput)
    results["throughput"] = throughput.run(
        plan.throughput, work / "throughput", runs=runs, rest_meters=plan.rest_api_meters
    )

    results["total_seconds"] = time.perf_counter() - started
    summary = report.summarize(results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    (out / "results.md").write_text(report.markdown(summary))
    _say(f"done in {results['total_seconds']:.0f} s: {out / 'results.md'}")
    return 0


def _say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
