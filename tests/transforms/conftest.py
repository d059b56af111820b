from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest

import transforms
from tests.transforms import world
from tests.transforms.builders import RawLoader


@pytest.fixture
def loader(tmp_path: Path) -> RawLoader:
    return RawLoader(tmp_path / "uapi.duckdb", tmp_path / "dlt")


@pytest.fixture(scope="session")
def world_build(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, transforms.TransformResult]:
    """The test world loaded once and transformed in full; tests only read it (or copy it:
    `built`)."""
    tmp = tmp_path_factory.mktemp("world")
    loader = RawLoader(tmp / "uapi.duckdb", tmp / "dlt")
    loader.load(world.initial_intervals(), world.initial_bills(), world.initial_meters())
    result = transforms.run(loader.pipeline)
    assert (result.mode, result.reason) == ("full", "first run")
    assert loader.db_path is not None
    with duckdb.connect(str(loader.db_path)) as conn:
        conn.execute("checkpoint")  # everything in the file, nothing in a WAL: copies are whole
    return loader.db_path, result


@pytest.fixture
def built(world_build: tuple[Path, transforms.TransformResult], tmp_path: Path) -> RawLoader:
    """A private copy of the built world (database and dlt's pipeline folder), as if this test
    had loaded the world and run the first full build itself: later loads and runs see the
    state that first run left."""
    db, _ = world_build
    shutil.copyfile(db, tmp_path / "uapi.duckdb")
    shutil.copytree(db.parent / "dlt", tmp_path / "dlt")
    return RawLoader(tmp_path / "uapi.duckdb", tmp_path / "dlt")


@pytest.fixture(scope="session")
def world_db(world_build: tuple[Path, transforms.TransformResult]) -> Path:
    return world_build[0]


@pytest.fixture
def world_conn(world_db: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    conn = duckdb.connect(str(world_db), read_only=True)
    yield conn
    conn.close()


def fetch(conn: duckdb.DuckDBPyConnection, sql: str, *params: object) -> list[dict]:
    cursor = conn.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.fixture
def rows() -> Callable[..., list[dict]]:
    return fetch
