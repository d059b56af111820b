"""Run per-meter fetches on a thread pool and hand their results back in one thread.

dlt resources are generators driven by one thread, and dlt state may only be touched there.
Workers fetch and parse; the generator receives their results through a bounded queue, so
memory stays flat however much data there is, and it alone yields rows and updates state.
A failing job ends only itself: its error reaches the consumer with the job's `done` result.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
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


def run_concurrently(
    jobs: Iterable[J],
    work: Callable[[J, Callable[[T], None]], None],
    *,
    max_workers: int,
    max_pending: int,
) -> Iterator[Result[J, T]]:
    """Run `work(job, emit)` for every job, at most `max_workers` at once.

    Jobs are taken from `jobs` only as workers free up, so an iterable that stops early (a
    checkpoint's budget spent) leaves the rest untouched. Yields each emitted item as it
    arrives, then a `done` result once a job has finished, carrying its error if it raised;
    the consumer decides whether that error ends the run. Leaving the loop early cancels the
    jobs still running.
    """
    pending_jobs = iter(jobs)
    results: queue.Queue[Result[J, T]] = queue.Queue(maxsize=max(1, max_pending))
    stop = threading.Event()

    def put(result: Result[J, T]) -> None:
        while True:
            if stop.is_set():
                raise Cancelled()
            try:
                results.put(result, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                continue

    def run(job: J) -> None:
        try:
            if stop.is_set():
                return
            work(job, lambda item: put(Result(job, item)))
            put(Result(job, done=True))
        except Cancelled:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            try:
                put(Result(job, done=True, error=exc))
            except Cancelled:
                pass

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
    finally:
        stop.set()
        executor.shutdown(wait=True, cancel_futures=True)


_END = object()
