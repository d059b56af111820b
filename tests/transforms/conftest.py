from __future__ import annotations

from collections.abc import Callable
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
def world_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test world loaded once and transformed in full; tests only read it."""
    tmp = tmp_path_factory.mktemp("world")
    loader = RawLoader(tmp / "uapi.duckdb", tmp / "dlt")
    loader.load(world.initial_intervals(), world.initial_bills())
    transforms.run(loader.db_path)
    return loader.db_path


@pytest.fixture
def world_conn(world_db: Path):
    conn = duckdb.connect(str(world_db), read_only=True)
    yield conn
    conn.close()


@pytest.fixture
def rows() -> Callable[..., list[dict]]:
    def fetch(conn: duckdb.DuckDBPyConnection, sql: str, *params: object) -> list[dict]:
        cursor = conn.execute(sql, list(params))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    return fetch
