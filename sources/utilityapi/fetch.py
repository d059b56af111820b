"""Run per-meter fetches on a thread pool and hand their results back in one thread.

dlt resources are generators driven by one thread, and dlt state may only be touched there.
Workers fetch and parse; the generator receives their results through a bounded queue, so
memory stays flat however much data there is, and it alone yields rows and updates state.
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
    """One item a worker produced for `job`, or the end of that job (`done`)."""

    job: J
    item: T | None = None
    done: bool = False


def run_concurrently(
    jobs: Iterable[J],
    work: Callable[[J, Callable[[T], None]], None],
    *,
    max_workers: int,
    max_pending: int,
) -> Iterator[Result[J, T]]:
    """Run `work(job, emit)` for every job, at most `max_workers` at once.

    Yields each emitted item as it arrives, then a `done` result once a job has finished. The
    first worker error stops the others and is raised here.
    """
    jobs = list(jobs)
    if not jobs:
        return
    results: queue.Queue[tuple[J, T | None, bool, BaseException | None]] = queue.Queue(
        maxsize=max(1, max_pending)
    )
    stop = threading.Event()

    def put(entry: tuple[J, T | None, bool, BaseException | None]) -> None:
        while True:
            if stop.is_set():
                raise Cancelled()
            try:
                results.put(entry, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                continue

    def run(job: J) -> None:
        try:
            if stop.is_set():
                return
            work(job, lambda item: put((job, item, False, None)))
            put((job, None, True, None))
        except Cancelled:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
            try:
                put((job, None, True, exc))
            except Cancelled:
                pass

    executor = ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="uapi")
    try:
        for job in jobs:
            executor.submit(run, job)
        remaining = len(jobs)
        while remaining:
            job, item, done, error = results.get()
            if error is not None:
                raise error
            if done:
                remaining -= 1
                yield Result(job, done=True)
            else:
                yield Result(job, item)
    finally:
        stop.set()
        executor.shutdown(wait=True, cancel_futures=True)
