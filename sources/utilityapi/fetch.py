"""Run per-meter fetches on a thread pool and hand their results back in one thread.

dlt resources are generators driven by one thread, and dlt state may only be touched there.
Workers fetch and parse; the generator receives their results through a queue, and it alone
yields rows and updates state. Memory stays flat however much data there is: an item takes
one of `max_pending` slots from before it is built (`with emit.slot(): ...`) until the consumer
has taken it, so workers that run ahead wait before parsing rather than holding parsed pages.
A failing job ends only itself: its error reaches the consumer with the job's `done` result.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Generic, Protocol, TypeVar

J = TypeVar("J")
J_contra = TypeVar("J_contra", contravariant=True)
T = TypeVar("T")

_POLL_SECONDS = 0.2


class Cancelled(Exception):
    """Raised inside a worker when the run is being abandoned."""


@dataclass(frozen=True)
class Result(Generic[J, T]):
    """One item a worker produced for `job`, or the end of that job (`done`, with the `error`
    that ended it early, if any)."""

    job: J
    item: T | None = None
    done: bool = False
    error: BaseException | None = None
    # the slot an item holds until the consumer has taken it
    slot: threading.Semaphore | None = None


class Emitter(Generic[J, T]):
    """A worker's way to hand items to the consumer: `emit(item)`, best inside `emit.slot()`."""

    def __init__(
        self,
        job: J,
        results: queue.SimpleQueue[Result[J, T]],
        slots: Callable[[], threading.Semaphore],
        stop: threading.Event,
    ) -> None:
        self._job = job
        self._results = results
        # where to take a slot from, asked again while waiting (a job's step may begin)
        self._slots = slots
        self._stop = stop
        self._reserved: list[threading.Semaphore] = []

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a slot while the item is built; `emit` inside hands it over with the item."""
        self._reserve()
        try:
            yield
        finally:
            if self._reserved:
                self._reserved.pop().release()

    def __call__(self, item: T) -> None:
        if not self._reserved:
            self._reserve()
        self._results.put(Result(self._job, item, slot=self._reserved.pop()))

    def _reserve(self) -> None:
        while True:
            slots = self._slots()
            if slots.acquire(timeout=_POLL_SECONDS):
                break
            if self._stop.is_set():
                raise Cancelled()
        if self._stop.is_set():
            slots.release()
            raise Cancelled()
        self._reserved.append(slots)


def run_concurrently(
    jobs: Iterable[J],
    work: Callable[[J, Emitter[J, T]], None],
    *,
    max_workers: int,
    max_pending: int,
) -> Iterator[Result[J, T]]:
    """Run `work(job, emit)` for every job, at most `max_workers` at once.

    Jobs are taken from `jobs` only as workers free up, so an iterable that stops early (a
    checkpoint's budget spent) leaves the rest untouched. Yields each emitted item as it
    arrives (at most `max_pending` exist at once), then a `done` result once a job has
    finished, carrying its error if it raised; the consumer decides whether that error ends
    the run. Leaving the loop early cancels the jobs still running.
    """
    fetch = StepwiseFetch(jobs, work, max_workers=max_workers, max_pending=max_pending)
    try:
        yield from fetch.step()
    finally:
        fetch.close()


class Budget(Protocol[J_contra]):
    """What one step may take (checkpoint limits)."""

    @property
    def spent(self) -> bool: ...

    def take(self, job: J_contra) -> None: ...


class StepwiseFetch(Generic[J, T]):
    """`run_concurrently` for work consumed in steps, whose fetching goes on between them.

    Each job belongs to one step, the first whose budget (`new_budget()`, one per step) is
    not spent when a worker is free to start it; `step()` yields the results of the next
    step's jobs and ends once they are all done, so a job's results all land in one step.
    Jobs of later steps fetch on meanwhile, but hold at most `max_ahead` items between them,
    kept until their step begins: it starts with answers already arriving instead of waiting
    for them. Without `new_budget` one step takes every job (`run_concurrently`). `close()`
    cancels what runs.
    """

    def __init__(
        self,
        jobs: Iterable[J],
        work: Callable[[J, Emitter[J, T]], None],
        *,
        max_workers: int,
        max_pending: int,
        max_ahead: int = 1,
        new_budget: Callable[[], Budget[J]] | None = None,
    ) -> None:
        self._jobs = iter(jobs)
        self._work = work
        self._max_workers = max(1, max_workers)
        self._new_budget = new_budget
        self._results: queue.SimpleQueue[Result[J, T]] = queue.SimpleQueue()
        self._slots = threading.Semaphore(max(1, max_pending))
        self._ahead_slots = threading.Semaphore(max(1, max_ahead))
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._step = -1  # the step being consumed
        self._budgets: dict[int, tuple[Budget[J], int]] = {}  # step → its budget, jobs taken
        self._step_of: dict[int, int] = {}  # id(job) → its step, while it runs
        self._waiting: list[Result[J, T]] = []  # results of later steps' jobs
        self._running = 0
        self._exhausted = False
        self._executor = ThreadPoolExecutor(self._max_workers, thread_name_prefix="uapi")

    @property
    def finished(self) -> bool:
        """Every job has been started and every result consumed."""
        return self._exhausted and not self._running

    def step(self) -> Iterator[Result[J, T]]:
        """The next step's results: items, then each of its jobs' `done`, as they arrive."""
        with self._lock:
            self._step += 1
            self._budgets.pop(self._step - 1, None)
        waiting, self._waiting = self._waiting, []
        for result in waiting:
            if self._step_of[id(result.job)] == self._step:
                yield from self._handed(result)
            else:
                self._waiting.append(result)
        self._fill()
        while self._current_running():
            result = self._results.get()
            if self._step_of[id(result.job)] != self._step:
                self._waiting.append(result)
                continue
            yield from self._handed(result)
            self._fill()

    def close(self) -> None:
        self._stop.set()
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._waiting.clear()

    def _handed(self, result: Result[J, T]) -> Iterator[Result[J, T]]:
        try:
            yield result
        finally:
            if result.slot is not None:
                result.slot.release()
            if result.done:
                self._running -= 1
                with self._lock:
                    del self._step_of[id(result.job)]

    def _current_running(self) -> int:
        with self._lock:
            return sum(1 for s in self._step_of.values() if s == self._step)

    def _fill(self) -> None:
        """Start jobs while workers are free, each in the first step with budget left."""
        while not self._exhausted and self._running < self._max_workers:
            job = next(self._jobs, _END)
            if job is _END:
                self._exhausted = True
                return
            step = self._step_for(job)
            with self._lock:
                self._step_of[id(job)] = step
            self._running += 1
            self._executor.submit(self._run, job)

    def _step_for(self, job: J) -> int:
        """The first step, from the current one, whose budget is not spent (each takes one job
        at least); the job is taken from that budget."""
        step = self._step
        if self._new_budget is None:
            return step
        while True:
            if step not in self._budgets:
                self._budgets[step] = (self._new_budget(), 0)
            budget, taken = self._budgets[step]
            if not taken or not budget.spent:
                budget.take(job)
                self._budgets[step] = (budget, taken + 1)
                return step
            step += 1

    def _run(self, job: J) -> None:
        emit = Emitter(job, self._results, partial(self._slots_for, job), self._stop)
        try:
            if not self._stop.is_set():
                self._work(job, emit)
            self._results.put(Result(job, done=True))
        except Cancelled:
            self._results.put(Result(job, done=True, error=Cancelled()))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            self._results.put(Result(job, done=True, error=exc))

    def _slots_for(self, job: J) -> threading.Semaphore:
        with self._lock:
            ahead = self._step_of.get(id(job), self._step) > self._step
        return self._ahead_slots if ahead else self._slots


_END = object()
