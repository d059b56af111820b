"""Live progress of a load: a progress bar on a terminal, a log line every few seconds off one.

Both read the run's LoadReport (filled in by the source's threads) and the phase the pipeline
announces (fetching, normalizing, loading, transforming), so cron and orchestrator logs show a
long run moving, and a person at a terminal sees meters done of total and an ETA.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from sources.utilityapi import LoadReport

LOG_INTERVAL_SECONDS = 5.0


@dataclass(frozen=True)
class Snapshot:
    """Where a load stands, from its report."""

    phase: str
    meters_done: int
    meters_total: int
    requests: int
    readings: int
    elapsed: float

    @property
    def rate(self) -> float:
        return self.readings / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        if not self.meters_total or not self.meters_done or self.phase != "fetching":
            return None
        left = self.meters_total - self.meters_done
        return self.elapsed / self.meters_done * left

    def line(self) -> str:
        eta = self.eta_seconds
        return (
            f"{self.phase:<12} meters {self.meters_done}/{self.meters_total}  "
            f"requests {self.requests:,}  readings {self.readings:,} ({self.rate:,.0f}/s)"
            + (f"  ETA {_duration(eta)}" if eta is not None else "")
        )


def snapshot(report: LoadReport, phase: str, elapsed: float) -> Snapshot:
    data = report.as_dict()
    intervals = data["plans"].get("intervals") or data["plans"].get("bills") or {}
    done = intervals.get("fetched", 0) + len(intervals.get("failed") or {})
    return Snapshot(
        phase=phase,
        meters_done=done,
        meters_total=intervals.get("planned", 0),
        requests=(data.get("requests") or {}).get("total_requests", 0),
        readings=data["rows_fetched"].get("interval_readings", 0),
        elapsed=elapsed,
    )


class Progress:
    """Shows a load's progress while the block runs; `phase()` is the pipeline's callback."""

    def __init__(
        self,
        report: LoadReport,
        stream: TextIO | None = None,
        *,
        interval: float = LOG_INTERVAL_SECONDS,
        enabled: bool = True,
    ) -> None:
        self._report = report
        self._stream = stream or sys.stderr
        self._interval = interval
        self._enabled = enabled
        self._phase = "starting"
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bar: Any = None

    def phase(self, name: str) -> None:
        self._phase = name

    def __enter__(self) -> Progress:
        if not self._enabled:
            return self
        target = self._run_bar if self._stream.isatty() else self._run_log
        self._thread = threading.Thread(target=target, name="uapi-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()

    def _snapshot(self) -> Snapshot:
        return snapshot(self._report, self._phase, time.monotonic() - self._started)

    def log_line(self) -> None:
        """Write one progress line (what a scheduler's log gets every few seconds)."""
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        self._stream.write(f"{stamp} uapi: {self._snapshot().line()}\n")
        self._stream.flush()

    def _run_log(self) -> None:
        while not self._stop.wait(self._interval):
            self.log_line()

    def _run_bar(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar

        console = Console(file=self._stream)
        with Bar(
            TextColumn("{task.description:<12}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("meters"),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("starting", total=None, stats="")
            while not self._stop.wait(0.25):
                now = self._snapshot()
                bar.update(
                    task,
                    description=now.phase,
                    total=now.meters_total or None,
                    completed=now.meters_done,
                    stats=f"requests {now.requests:,}  readings {now.readings:,} "
                    f"({now.rate:,.0f}/s)",
                )


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
