"""`uapi load` killed with SIGKILL at seeded moments of every phase, then rerun once: the
warehouse ends equal to a clean run's every time (issue 10). A file of its own, so the test
runner can give it a worker while the other scheduled-run tests go on beside it."""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sandbox import Sandbox

# the module fixtures `world` (the sandbox) and `clean` (a clean run's snapshot) come along
from tests.pipelines.test_scheduled_runs import Child, clean, run, uapi, world  # noqa: F401
from tests.support.warehouse import differences, snapshot

PHASES = ("fetching", "normalizing", "loading", "transforming")
# Each seed picks a phase (seed % 4) and a delay after that phase begins; a failing seed is
# replayed alone with UAPI_KILL_SEEDS=<seed>; more trials with UAPI_KILL_SEEDS=0,1,...,99.
# Five a phase by default (issue 10 asks for at least 20 trials).
KILL_SEEDS = range(20)
KILL_DELAY = {"fetching": 1.2, "normalizing": 0.3, "loading": 0.8, "transforming": 0.8}


def _kill_trial(
    sb: Sandbox,
    clean: dict,  # noqa: F811 - a snapshot, not the fixture
    folder: Path,
    seed: int,
) -> tuple[int, str, str | None]:
    """Kill a load at a seeded moment, rerun it once: (seed, problem or '', phase hit)."""
    rng = random.Random(seed)
    target = PHASES[seed % len(PHASES)]
    delay = rng.uniform(0, KILL_DELAY[target])
    db = folder / f"seed-{seed}" / "w.duckdb"
    db.parent.mkdir(parents=True)
    child = Child(uapi(sb, db))
    if child.wait_for(f"phase: {target}"):
        time.sleep(delay)  # the moment of the kill inside the phase, not waiting for an effect
    child.kill()
    hit = child.last_phase()
    rerun = run(uapi(sb, db))
    if rerun.returncode != 0:
        return seed, f"rerun exited {rerun.returncode}: {rerun.stderr[-2000:]}", hit
    diff = differences(snapshot(db), clean)
    return seed, "; ".join(diff), hit


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_runs_killed_at_any_moment_are_made_whole_by_one_plain_rerun(
    world,  # noqa: F811 - the fixture imported above
    clean,  # noqa: F811
    tmp_path,
):
    seeds = [int(s) for s in os.environ.get("UAPI_KILL_SEEDS", "").split(",") if s] or list(
        KILL_SEEDS
    )
    with ThreadPoolExecutor(2) as pool:  # the machine's two cores
        outcomes = list(pool.map(lambda s: _kill_trial(world, clean, tmp_path, s), seeds))
    failures = [
        f"seed {seed} (killed in {hit}): {problem}" for seed, problem, hit in outcomes if problem
    ]
    assert failures == [], "replay with UAPI_KILL_SEEDS=<seed>:\n" + "\n".join(failures)
    hit = Counter(phase for _, _, phase in outcomes)
    if len(seeds) == len(KILL_SEEDS):
        # every phase was interrupted in some trial (a phase shorter than its delay may hand
        # the kill to the next one, so only that each was reached is certain)
        assert {"fetching", "loading", "transforming"} <= set(hit), hit
