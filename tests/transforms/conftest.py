from __future__ import annotations

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
    """The test world loaded once and transformed in full; tests only read it."""
    tmp = tmp_path_factory.mktemp("world")
    loader = RawLoader(tmp / "uapi.duckdb", tmp / "dlt")
    loader.load(world.initial_intervals(), world.initial_bills(), world.initial_meters())
    result = transforms.run(loader.pipeline)
    assert loader.db_path is not None
    return loader.db_path, result


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
