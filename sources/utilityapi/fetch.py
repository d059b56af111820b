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
from typing import Generic, TypeVar

J = TypeVar("J")
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


class Emitter(Generic[J, T]):
    """A worker's way to hand items to the consumer: `emit(item)`, best inside `emit.slot()`."""

    def __init__(
        self,
        job: J,
        results: queue.SimpleQueue[Result[J, T]],
        slots: threading.Semaphore,
        stop: threading.Event,
    ) -> None:
        self._job = job
        self._results = results
        self._slots = slots
        self._stop = stop
        self._reserved = 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a slot while the item is built; `emit` inside hands it over with the item."""
        self._reserve()
        try:
            yield
        finally:
            if self._reserved:
                self._reserved -= 1
                self._slots.release()

    def __call__(self, item: T) -> None:
        if not self._reserved:
            self._reserve()
        self._reserved -= 1
        self._results.put(Result(self._job, item))

    def _reserve(self) -> None:
        while not self._slots.acquire(timeout=_POLL_SECONDS):
            if self._stop.is_set():
                raise Cancelled()
        if self._stop.is_set():
            self._slots.release()
            raise Cancelled()
        self._reserved += 1


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
    pending_jobs = iter(jobs)
    results: queue.SimpleQueue[Result[J, T]] = queue.SimpleQueue()
    slots = threading.Semaphore(max(1, max_pending))
    stop = threading.Event()

    def run(job: J) -> None:
        try:
            if not stop.is_set():
                work(job, Emitter(job, results, slots, stop))
            results.put(Result(job, done=True))
        except Cancelled:
            results.put(Result(job, done=True, error=Cancelled()))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            results.put(Result(job, done=True, error=exc))

    def submit_next() -> bool:
        job = next(pending_jobs, _END)
        if job is _END:
            return False
        executor.submit(run, job)  # type: ignore[arg-type]
        return True

    executor = ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="uapi")
    try:
        running = 0
        while running < max(1, max_workers) and submit_next():
            running += 1
        while running:
            result = results.get()
            if result.done:
                running -= 1
                if submit_next():
                    running += 1
                yield result
            else:
                try:
                    yield result
                finally:
                    slots.release()
    finally:
        stop.set()
        executor.shutdown(wait=True, cancel_futures=True)


_END = object()
