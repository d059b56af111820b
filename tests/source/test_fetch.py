"""run_concurrently: per-job results in order, errors handed over, a bound on workers and on
results waiting, jobs taken only as workers free up, and a clean stop when the consumer leaves.

Real threads, coordinated with events (no sleeping): each assertion holds however the threads
are scheduled.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from sources.utilityapi.fetch import Result, run_concurrently

WAIT = 30  # seconds an event may take before the test fails instead of hanging


def collect(results: Iterator[Result]) -> list[Result]:
    return list(results)


def test_each_job_yields_its_items_in_order_then_done() -> None:
    def work(job: int, emit: Callable[[int], None]) -> None:
        for i in range(3):
            emit(job * 10 + i)

    results = collect(run_concurrently([1, 2, 3, 4], work, max_workers=2, max_pending=4))
    for job in (1, 2, 3, 4):
        mine = [r for r in results if r.job == job]
        assert [r.item for r in mine] == [job * 10, job * 10 + 1, job * 10 + 2, None]
        assert [r.done for r in mine] == [False, False, False, True]
        assert mine[-1].error is None
    assert len(results) == 16


def test_an_error_ends_its_job_only_and_reaches_the_consumer() -> None:
    def work(job: str, emit: Callable[[str], None]) -> None:
        emit(f"{job}-first")
        if job == "bad":
            raise ValueError("page 2 failed")
        emit(f"{job}-second")

    results = collect(run_concurrently(["ok1", "bad", "ok2"], work, max_workers=1, max_pending=1))
    by_job = {job: [r for r in results if r.job == job] for job in ("ok1", "bad", "ok2")}
    assert [r.item for r in by_job["bad"]] == ["bad-first", None]
    (done,) = [r for r in by_job["bad"] if r.done]
    assert isinstance(done.error, ValueError) and str(done.error) == "page 2 failed"
    for job in ("ok1", "ok2"):
        assert [r.item for r in by_job[job]] == [f"{job}-first", f"{job}-second", None]
        assert by_job[job][-1].done and by_job[job][-1].error is None


def test_no_more_than_max_workers_run_at_once_and_that_many_do() -> None:
    lock = threading.Lock()
    running, peak = 0, 0
    two_running = threading.Event()

    def work(job: int, emit: Callable[[int], None]) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            if running == 2:
                two_running.set()
        if job < 2:  # the first two wait for each other: both must be running together
            assert two_running.wait(WAIT)
        emit(job)
        with lock:
            running -= 1

    results = collect(run_concurrently(range(6), work, max_workers=2, max_pending=8))
    assert peak == 2 and sorted(r.item for r in results if not r.done) == list(range(6))


@pytest.mark.parametrize(("workers", "at_once"), [(2, 2), (1, 1), (0, 1)])
def test_jobs_are_taken_only_as_workers_free_up(workers: int, at_once: int) -> None:
    taken: list[int] = []

    def jobs() -> Iterator[int]:
        for job in range(5):
            taken.append(job)
            yield job

    def work(job: int, emit: Callable[[int], None]) -> None:
        emit(job)

    seen: list[tuple[int, bool, int]] = []
    for result in run_concurrently(jobs(), work, max_workers=workers, max_pending=4):
        seen.append((result.job, result.done, len(taken)))
    # never more jobs taken than were finished, plus the workers' count
    finished = 0
    for _, done, taken_then in seen:
        finished += done
        assert taken_then <= finished + at_once
    assert taken == list(range(5))


def test_a_consumer_that_stops_taking_jobs_leaves_the_rest_untouched() -> None:
    taken: list[int] = []

    def budget() -> Iterator[int]:  # a checkpoint's budget: two jobs, then it stops
        for job in range(2):
            taken.append(job)
            yield job

    def work(job: int, emit: Callable[[int], None]) -> None:
        emit(job)

    results = collect(run_concurrently(budget(), work, max_workers=4, max_pending=4))
    assert taken == [0, 1] and sorted(r.job for r in results if r.done) == [0, 1]


@pytest.mark.parametrize(("pending", "bound"), [(3, 3), (1, 1), (0, 1)])
def test_results_waiting_are_bounded(pending: int, bound: int) -> None:
    emitted = 0
    lock = threading.Lock()

    def work(job: int, emit: Callable[[int], None]) -> None:
        nonlocal emitted
        for i in range(50):
            emit(i)
            with lock:
                emitted += 1

    received = 0
    for _result in run_concurrently([0], work, max_workers=1, max_pending=pending):
        received += 1
        with lock:
            # emitted items are received, or waiting in a queue of at most `bound`
            assert emitted <= received + bound
    assert received == 51


@pytest.mark.parametrize("size", [0, -1])
def test_zero_workers_or_queue_still_run_one(size: int) -> None:
    def work(job: int, emit: Callable[[int], None]) -> None:
        emit(job)

    results = collect(run_concurrently([1, 2], work, max_workers=size, max_pending=size))
    assert sorted(r.item for r in results if not r.done) == [1, 2]


def test_leaving_early_cancels_running_jobs_and_starts_no_more() -> None:
    started: list[int] = []
    stopped = threading.Event()
    emitted_after_leaving: list[int] = []
    left = threading.Event()

    def work(job: int, emit: Callable[[int], None]) -> None:
        started.append(job)
        try:
            for i in range(1000):
                emit(i)
                if left.is_set():
                    emitted_after_leaving.append(i)
        finally:
            stopped.set()

    results = run_concurrently(range(10), work, max_workers=1, max_pending=1)
    first = next(results)
    assert first.item == 0
    left.set()
    results.close()  # the consumer leaves (an exception in the resource, a break)
    assert stopped.wait(WAIT)
    assert started == [0]
    assert len(emitted_after_leaving) <= 2  # the queue held one; the next put saw the stop


def test_a_slow_consumer_loses_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from sources.utilityapi import fetch

    # Workers wait for room in the queue in short polls (to notice a stop); a consumer slower
    # than a poll must still get every item. The pauses below only make this consumer slow:
    # the assertion holds however long they take.
    monkeypatch.setattr(fetch, "_POLL_SECONDS", 0.001)

    def work(job: int, emit: Callable[[int], None]) -> None:
        for i in range(10):
            emit(job * 100 + i)

    received = []
    for result in run_concurrently([1, 2], work, max_workers=2, max_pending=1):
        time.sleep(0.01)
        if not result.done:
            received.append(result.item)
    assert sorted(received) == [*range(100, 110), *range(200, 210)]
