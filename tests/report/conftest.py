"""A database loaded from the sandbox exactly as `make demo` loads it, once per session."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`uapi load --sandbox` (what `make demo` runs) into a fresh file; tests only read it."""
    db = tmp_path_factory.mktemp("demo") / "uapi.duckdb"
    # A process of its own, from the project folder, as `make demo` runs: the same
    # .dlt/config.toml and nothing this test process has set up.
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "load", "--sandbox", "--db", str(db)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return db


@pytest.fixture
def demo_copy(demo_db: Path, tmp_path: Path) -> Path:
    """A copy of the demo database a test may change."""
    copy = tmp_path / "uapi.duckdb"
    shutil.copyfile(demo_db, copy)
    return copy


@pytest.fixture
def writer_holding() -> Callable[[Path], AbstractContextManager[None]]:
    """Another process holding a DuckDB file open for writing, as during a `uapi load`."""

    @contextmanager
    def hold(db: Path) -> Iterator[None]:
        code = (
            "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('open', flush=True); "
            "sys.stdin.read()"
        )
        writer = subprocess.Popen(
            [sys.executable, "-c", code, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        try:
            assert writer.stdout is not None and writer.stdout.readline().strip() == b"open"
            yield
        finally:
            assert writer.stdin is not None
            writer.stdin.close()
            writer.wait(timeout=60)

    return hold
