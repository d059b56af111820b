from __future__ import annotations

from pipelines.cli import main
from tests.transforms import world
from tests.transforms.builders import RawLoader


def test_uapi_transform_builds_then_updates(loader: RawLoader, capsys) -> None:
    loader.load(world.initial_intervals(), world.initial_bills(), world.initial_meters())

    assert main(["transform", "--db", str(loader.db_path)]) == 0
    out = capsys.readouterr().out
    assert "transform: full (first run)" in out
    assert "meter_daily_usage" in out
    assert "dbt tests: " in out

    loader.load(world.second_load_intervals())
    assert main(["transform", "--db", str(loader.db_path)]) == 0
    assert "recomputed 3 meters, 18 meter-days" in capsys.readouterr().out

    assert main(["transform", "--db", str(loader.db_path)]) == 0
    assert "transform: noop (nothing loaded since the last run)" in capsys.readouterr().out

    assert main(["transform", "--db", str(loader.db_path), "--full-refresh"]) == 0
    assert "full (full refresh requested)" in capsys.readouterr().out


def test_uapi_transform_without_a_database(tmp_path, capsys) -> None:
    assert main(["transform", "--db", str(tmp_path / "none.duckdb")]) == 1
    assert "run `uapi load` first" in capsys.readouterr().err
