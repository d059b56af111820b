"""StepwiseFetch: each job's results in one step, steps within their budget, the next step's
jobs fetched while the current one finishes, and a clean stop.

Real threads, coordinated with events (no sleeping): each assertion holds however the threads
are scheduled.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sources.utilityapi.fetch import Result, StepwiseFetch

WAIT = 30  # seconds an event may take before the test fails instead of hanging


class JobsBudget:
    """At most `limit` jobs a step."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.jobs: list[str] = []

    @property
    def spent(self) -> bool:
        return len(self.jobs) >= self.limit

    def take(self, job: str) -> None:
        self.jobs.append(job)


def one_job_a_step(jobs: list[str], work: Callable, *, max_pending: int) -> StepwiseFetch:
    """Two workers, steps of one job each, one item ahead of its step at most."""
    return StepwiseFetch(
        jobs,
        work,
        max_workers=2,
        max_pending=max_pending,
        max_ahead=1,
        new_budget=lambda: JobsBudget(1),
    )


def results_of(fetch: StepwiseFetch, count: int) -> list[list[Result]]:
    """`count` steps' results, consumed on a thread: a stuck step fails the test, not hangs it."""
    steps: list[list[Result]] = []

    def consume() -> None:
        for _ in range(count):
            steps.append(list(fetch.step()))

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    consumer.join(WAIT)
    assert not consumer.is_alive(), f"step {len(steps)} never ended"
    return steps


def steps_of(fetch: StepwiseFetch, count: int) -> list[list[tuple[str, object, bool]]]:
    return [[(r.job, r.item, r.done) for r in step] for step in results_of(fetch, count)]


def test_each_step_takes_jobs_within_its_budget_and_all_of_their_results() -> None:
    def work(job: str, emit: Callable[[str], None]) -> None:
        for i in range(3):
            emit(f"{job}{i}")

    jobs = ["a", "b", "c", "d", "e"]
    fetch = StepwiseFetch(
        jobs, work, max_workers=3, max_pending=2, max_ahead=1, new_budget=lambda: JobsBudget(2)
    )
    try:
        steps = steps_of(fetch, 3)
        assert fetch.finished
    finally:
        fetch.close()
    # jobs start in order, two a step; every item of a job, then its done, in its own step
    assert [sorted({job for job, _, _ in step}) for step in steps] == [
        ["a", "b"],
        ["c", "d"],
        ["e"],
    ]
    for step in steps:
        for job in {job for job, _, _ in step}:
            mine = [(item, done) for j, item, done in step if j == job]
            assert mine == [
                (f"{job}0", False),
                (f"{job}1", False),
                (f"{job}2", False),
                (None, True),
            ]


def test_the_next_steps_jobs_start_while_the_current_step_is_still_running() -> None:
    next_started = threading.Event()
    seen: dict[str, bool] = {}

    def work(job: str, emit: Callable[[str], None]) -> None:
        if job == "first":
            # the only job of step 0: it ends once the next step's job has begun fetching
            seen["first"] = next_started.wait(WAIT)
        else:
            next_started.set()
        emit(job)

    fetch = one_job_a_step(["first", "second"], work, max_pending=2)
    try:
        steps = steps_of(fetch, 2)
    finally:
        fetch.close()
    assert seen == {"first": True}, "the second step's job waited for the first step to end"
    assert steps == [
        [("first", "first", False), ("first", None, True)],
        [("second", "second", False), ("second", None, True)],
    ]


def test_a_failing_job_hands_its_error_to_its_own_step() -> None:
    def work(job: str, emit: Callable[[str], None]) -> None:
        emit(job)
        if job == "bad":
            raise ValueError("page 2 failed")

    fetch = one_job_a_step(["ok", "bad"], work, max_pending=1)
    try:
        first, second = results_of(fetch, 2)
    finally:
        fetch.close()
    assert [(r.job, r.item, r.error) for r in first] == [("ok", "ok", None), ("ok", None, None)]
    assert [(r.job, r.item, r.done) for r in second] == [("bad", "bad", False), ("bad", None, True)]
    assert isinstance(second[-1].error, ValueError)


def test_the_next_steps_jobs_hold_their_own_few_slots_and_close_stops_them() -> None:
    emitted: dict[str, int] = {"now": 0, "later": 0}

    def work(job: str, emit: Callable[[int], None]) -> None:
        for i in range(200):
            with emit.slot():
                emitted[job] += 1
                emit(i)

    fetch = one_job_a_step(["now", "later"], work, max_pending=4)
    items: list[int] = []
    # "later" must not take the slots "now" needs to finish its step
    consumer = threading.Thread(
        target=lambda: items.extend(r.item for r in fetch.step() if not r.done), daemon=True
    )
    try:
        consumer.start()
        consumer.join(WAIT)
        assert not consumer.is_alive(), "the first step never ended: its job ran out of slots"
        assert len(items) == 200
        assert emitted["later"] <= 1  # one item ahead of its step, no more
    finally:
        fetch.close()  # "later" waits for its step: close must stop it, not hang
