"""The writer lock: one holder at a time, a clear message naming it, waiting on an injected
clock (the real flock, no sleeping)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipelines.lock import LockBusy, describe_holder, read_holder, writer_lock
from tests.support.clock import FakeClock

NOW = datetime(2026, 3, 20, 12, 0, 30, 123456, tzinfo=UTC)


class ReleasingClock(FakeClock):
    """A FakeClock that runs `after(n)` once `n` sleeps have passed (another run finishing)."""

    def __init__(self, after: int, action: Callable[[], None]) -> None:
        super().__init__(NOW)
        self.after, self.action = after, action

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if len(self.sleeps) == self.after:
            self.action()


def test_the_holder_is_named_in_the_file_while_held_and_the_file_emptied_after(
    tmp_path: Path,
) -> None:
    path = tmp_path / "deeper" / "w.lock"
    with writer_lock(path, "w.duckdb", command="uapi load", clock=FakeClock(NOW)):
        holder = read_holder(path)
        assert holder == {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": "uapi load",
            "since": "2026-03-20T12:00:30+00:00",
        }
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == "" and read_holder(path) == {}


def test_a_second_writer_is_refused_at_once_with_the_holder_named(tmp_path: Path) -> None:
    path = tmp_path / "w.lock"
    clock = FakeClock(NOW)
    with writer_lock(path, "w.duckdb", command="uapi load --meters m1", clock=clock):
        with pytest.raises(LockBusy) as caught:
            with writer_lock(path, "w.duckdb", clock=clock):
                pytest.fail("two writers at once")
    busy = caught.value
    assert busy.target == "w.duckdb" and busy.holder["command"] == "uapi load --meters m1"
    message = str(busy)
    assert message.startswith("another run is writing to w.duckdb: pid ")
    assert f"pid {os.getpid()} on {socket.gethostname()}, `uapi load --meters m1`" in message
    assert "since 2026-03-20T12:00:30+00:00" in message
    assert "after waiting" not in message
    assert message.endswith(
        ". It will finish on its own; retry later, or pass --wait SECONDS to queue behind it."
    )
    assert clock.sleeps == []


def test_a_waiting_writer_polls_until_the_holder_finishes(tmp_path: Path) -> None:
    path = tmp_path / "w.lock"
    first = contextlib.ExitStack()
    first.enter_context(writer_lock(path, "w.duckdb", command="first", clock=FakeClock(NOW)))
    clock = ReleasingClock(after=3, action=first.close)
    with writer_lock(path, "w.duckdb", wait_seconds=60, command="second", clock=clock):
        assert read_holder(path)["command"] == "second"
    assert clock.sleeps == pytest.approx([0.2, 0.2, 0.2])


@pytest.mark.parametrize(
    ("wait", "sleeps", "said"),
    [(1.0, [0.2] * 5, "after waiting 1 s"), (0.3, [0.2, 0.1], "after waiting 0 s")],
)
def test_a_writer_that_waited_in_vain_says_how_long(
    tmp_path: Path, wait: float, sleeps: list[float], said: str
) -> None:
    path = tmp_path / "w.lock"
    # from 0, sums of these sleeps reach the wait exactly (from 1000 the last bits may not)
    clock = FakeClock(NOW, monotonic=0.0)
    with writer_lock(path, "w.duckdb", command="first", clock=clock):
        with pytest.raises(LockBusy, match=said):
            with writer_lock(path, "w.duckdb", wait_seconds=wait, clock=clock):
                pytest.fail("two writers at once")
    assert clock.sleeps == pytest.approx(sleeps)
    assert sum(clock.sleeps) == pytest.approx(wait)


def test_the_lock_is_free_after_a_failed_block_or_a_dead_holder(tmp_path: Path) -> None:
    path = tmp_path / "w.lock"
    with pytest.raises(RuntimeError):
        with writer_lock(path, "w.duckdb", clock=FakeClock(NOW)):
            raise RuntimeError("the load failed")
    # a holder that died without releasing: the kernel drops its lock with its descriptor
    import fcntl

    fd = os.open(path, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, b'{"pid": 1}')
    os.close(fd)
    with writer_lock(path, "w.duckdb", command="next", clock=FakeClock(NOW)):
        assert read_holder(path)["command"] == "next"


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (["load", "--token", "tok-SECRET", "--db", "x"], "uapi load --token *** --db x"),
        (["load", "--token=tok-SECRET"], "uapi load --token=*** "),
        (["backfill", "--meters", "m1"], "uapi backfill --meters m1"),
    ],
)
def test_the_command_line_is_recorded_without_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], shown: str
) -> None:
    monkeypatch.setattr(sys, "argv", ["uapi", *argv])
    path = tmp_path / "w.lock"
    with writer_lock(path, "w.duckdb", clock=FakeClock(NOW)):
        assert (read_holder(path)["command"] + " ").startswith(shown)
        assert "SECRET" not in path.read_text()


@pytest.mark.parametrize("text", [None, "", "  \n", "{not json", "[1, 2]", '"pid"'])
def test_an_unreadable_holder_is_unknown(tmp_path: Path, text: str | None) -> None:
    path = tmp_path / "w.lock"
    if text is not None:
        path.write_text(text)
    assert read_holder(path) == {}
    assert describe_holder({}) == "holder unknown (it is starting or just finished)"


def test_a_holder_is_described_in_one_line() -> None:
    holder = json.loads('{"pid": 7, "host": "h", "command": "uapi load", "since": "s"}')
    assert describe_holder(holder) == "pid 7 on h, `uapi load`, since s"
