"""What every scenario shares: sandboxes in their own process, child loads, request logs."""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from sandbox import Sandbox, SandboxConfig

# Every scenario's sandbox world stops at this instant (a fixed clock moved only by advance).
NOW = datetime(2026, 6, 1, tzinfo=UTC)
SEED = 7
API_RATE = 50.0  # the account-wide limit of scenario 1 (and UtilityAPI's default)
PAGE_OBJECTS = 1000  # UtilityAPI's largest list page


@dataclass(frozen=True)
class World:
    """Which generated world a scenario loads: meters × days of history."""

    meters: int
    days: int

    def config(self, **overrides: Any) -> SandboxConfig:
        values: dict[str, Any] = {
            "seed": SEED,
            "scale": "bench",
            "n_meters": self.meters,
            "history_days": self.days,
            "now": NOW,
            "rate_limit": None,
            "latency_ms": 0.0,
        }
        values.update(overrides)
        return SandboxConfig(**values)

    def describe(self) -> str:
        return f"{self.meters} meters × {self.days} days"


@contextmanager
def sandbox_process(cfg: SandboxConfig) -> Iterator[Sandbox]:
    """A sandbox serving from its own process (never the client's GIL)."""
    with Sandbox(cfg, mode="process") as sb:
        yield sb


def process_cpu_seconds(sb: Sandbox) -> float:
    """User + system CPU seconds the sandbox's process has used so far (Linux /proc)."""
    proc = sb._process.proc if sb._process else None  # noqa: SLF001 - the pid is all we read
    if proc is None:
        return 0.0
    fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_child_load(
    sb: Sandbox,
    db_path: Path,
    *,
    options: dict[str, Any] | None = None,
    now: datetime | None = None,
    profile: Path | None = None,
    child: tuple[str, ...] = ("bench.child",),
) -> dict[str, Any]:
    """One `run_load` in a child process (see bench/child.py); returns its figures.

    `profile`: record the child with py-spy (all threads, native frames) into this file.
    `child`: the module (and its arguments) that runs the load and prints `bench.child`'s JSON.
    """
    spec = {
        "base_url": sb.base_url,
        "token": sb.token,
        "db_path": str(db_path),
        "now": (now or NOW).isoformat(),
        "options": options or {},
    }
    cmd = [sys.executable, "-m", *child, json.dumps(spec)]
    if profile is not None:
        cmd = _py_spy(profile) + cmd
    cpu0 = process_cpu_seconds(sb)
    machine0 = busy_cpu_seconds()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=_repo_root())
    machine = busy_cpu_seconds() - machine0
    if done.returncode != 0:
        raise RuntimeError(f"load failed ({done.returncode}):\n{done.stderr[-4000:]}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    result = json.loads(lines[-1])
    if result.get("failure"):
        # its figures would describe a truncated load (a 30 M-reading run once stopped at 26 M)
        raise RuntimeError(f"load stopped before its end: {result['failure']}")
    result["sandbox_cpu_seconds"] = process_cpu_seconds(sb) - cpu0
    # CPU the rest of the machine used meanwhile (other work on the box skews every figure).
    result["other_cpu_seconds"] = max(
        0.0, machine - result["sandbox_cpu_seconds"] - result["cpu_seconds"] - _startup(result)
    )
    return result


def _startup(result: dict[str, Any]) -> float:
    """The child's CPU outside `run_load` (interpreter start-up, imports) is not "other"."""
    return float(result.get("startup_cpu_seconds", 0.0))


def busy_cpu_seconds() -> float:
    """CPU seconds every process on the machine has used since boot (/proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _py_spy(out: Path) -> list[str]:
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(exe).exists():
        raise RuntimeError("--profile needs py-spy: .venv/bin/pip install py-spy")
    out.parent.mkdir(parents=True, exist_ok=True)
    fmt = "speedscope" if out.suffix == ".json" else "raw"
    # CPU samples only (no --idle): where the client's cores go, thread by thread.
    return [exe, "record", "--threads", "--native", "-r", "50", "-f", fmt, "-o", str(out), "--"]


def _repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def api_client(sb: Sandbox) -> httpx.Client:
    return httpx.Client(
        base_url=sb.base_url,
        headers={"Authorization": f"Bearer {sb.token}"},
        timeout=300.0,
        trust_env=False,
    )


def list_all(client: httpx.Client, path: str, key: str, params: dict[str, Any]) -> list[dict]:
    """Every object of a list endpoint, following `next` links."""
    items: list[dict] = []
    url: str | None = path
    query: dict[str, Any] | None = {"limit": PAGE_OBJECTS, **params}
    while url:
        response = client.get(url, params=query)
        response.raise_for_status()
        body = response.json()
        items.extend(body[key])
        url, query = body.get("next"), None
    return items


def min_requests(counts: dict[str, int]) -> int:
    """Fewest list requests that carry `counts` objects at 1000 per page.

    Authorizations, meters and events take one request even when empty; bills and intervals
    none when the meter listing says there are none.
    """
    always = {"authorizations", "meters", "events"}
    return sum(
        max(1 if kind in always else 0, math.ceil(n / PAGE_OBJECTS)) for kind, n in counts.items()
    )


def requests_by_endpoint(records: Iterable[Any]) -> dict[str, int]:
    return dict(sorted(Counter(f"{r.method} {r.route}" for r in records).items()))


def stats(values: list[float]) -> dict[str, float]:
    """Median, min and max of a scenario's runs."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": len(values),
    }


class Timer:
    def __enter__(self) -> Timer:
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started
