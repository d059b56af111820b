"""One writer per database and dataset: a lock every loading or transforming command holds.

The lock is an exclusive `flock` on a file beside the database (or in the pipeline's working
folder for remote warehouses). The kernel releases it when its process ends, however it ends,
so a lock left by a killed run is simply free; the file also names the holder (pid, host,
command, since when) for the message a second run prints.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sources.utilityapi.clock import SYSTEM_CLOCK, Clock

POLL_SECONDS = 0.2


class LockBusy(Exception):
    """Another run holds the writer lock of this database and dataset."""

    def __init__(self, target: str, holder: dict[str, Any], waited: float) -> None:
        self.target = target
        self.holder = holder
        who = describe_holder(holder)
        waited_text = f" after waiting {waited:.0f} s" if waited else ""
        super().__init__(
            f"another run is writing to {target}{waited_text}: {who}. It will finish on its "
            "own; retry later, or pass --wait SECONDS to queue behind it."
        )


def describe_holder(holder: dict[str, Any]) -> str:
    if not holder:
        return "holder unknown (it is starting or just finished)"
    return (
        f"pid {holder.get('pid')} on {holder.get('host')}, `{holder.get('command')}`, "
        f"since {holder.get('since')}"
    )


@contextlib.contextmanager
def writer_lock(
    path: Path,
    target: str,
    *,
    wait_seconds: float = 0.0,
    command: str | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Iterator[None]:
    """Hold the writer lock at `path` for the block; wait up to `wait_seconds` for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _acquire(fd, path, target, wait_seconds, clock)
        _write_holder(fd, command, clock)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def read_holder(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError:
        return {}
    try:
        holder = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        return {}
    return holder if isinstance(holder, dict) else {}


def _acquire(fd: int, path: Path, target: str, wait_seconds: float, clock: Clock) -> None:
    started = clock.monotonic()
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            waited = clock.monotonic() - started
            if waited >= wait_seconds:
                raise LockBusy(target, read_holder(path), waited) from None
            clock.sleep(min(POLL_SECONDS, wait_seconds - waited))


def _write_holder(fd: int, command: str | None, clock: Clock) -> None:
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": command or " ".join(["uapi", *_redacted(sys.argv[1:])]),
        "since": clock.now().isoformat(timespec="seconds"),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(holder).encode(), 0)


def _redacted(argv: list[str]) -> list[str]:
    """The command line without the value of --token (the lock file is readable by others
    only as far as its permissions allow, but a token never belongs in it)."""
    shown: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            shown.append("***")
            hide_next = False
        elif arg == "--token":
            shown.append(arg)
            hide_next = True
        elif arg.startswith("--token="):
            shown.append("--token=***")
        else:
            shown.append(arg)
    return shown
