"""Incremental runs: recompute what new loads touch, agree with a full rebuild, change nothing
when nothing is new."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

import transforms
from tests.transforms import world
from tests.transforms.builders import RawLoader
from transforms.project import load_models
from transforms.runner import RUN_ID_COLUMN

TABLES = [m for m in load_models() if m.materialized == "incremental"]


def snapshot(db: Path | duckdb.DuckDBPyConnection, with_run_ids: bool = False) -> dict:
    """Every analytics table as sorted rows, floats rounded past summation-order noise."""
    conn = duckdb.connect(str(db), read_only=True) if isinstance(db, Path) else db
    tables = {}
    for model in TABLES:
        columns = "*" if with_run_ids else f"* exclude ({RUN_ID_COLUMN})"
        cursor = conn.execute(f"select {columns} from {model.relation}")
        tables[model.name] = sorted((_comparable(row) for row in cursor.fetchall()), key=repr)
    if isinstance(db, Path):
        conn.close()
    return tables


def _comparable(row: tuple) -> tuple:
    return tuple(
        round(v, 9)
        if isinstance(v, float)
        else v.astimezone(UTC)
        if isinstance(v, datetime) and v.tzinfo
        else v
        for v in row
    )


@pytest.fixture
def loaded(loader: RawLoader) -> RawLoader:
    loader.load(world.initial_intervals(), world.initial_bills())
    first = transforms.run(loader.db_path)
    assert (first.mode, first.reason) == ("full", "first run")
    return loader


def test_incremental_run_recomputes_only_what_the_load_touched(loaded: RawLoader) -> None:
    before = snapshot(loaded.db_path, with_run_ids=True)
    loaded.load(world.second_load_intervals(), world.second_load_bills())

    summary = transforms.run(loaded.db_path)

    assert summary.mode == "incremental"
    scope = {s.meter_uid: (s.from_local_date, s.to_local_date) for s in summary.meter_days}
    assert scope == {
        # a new day, Mar 16, after days without data: Mar 13-15 become gap rows
        world.COMMERCIAL: (date(2024, 3, 12), date(2024, 3, 17)),
        # corrections on Jan 6 and a re-fetched Jan 8 object: two days of context before
        world.MIXED: (date(2024, 1, 4), date(2024, 1, 9)),
        # backfill of May 29: the gap to the known Jun 1 is filled with gap rows
        world.SOLAR: (date(2024, 5, 27), date(2024, 6, 1)),
    }
    after = snapshot(loaded.db_path, with_run_ids=True)
    for model in TABLES:
        rewritten = [r for r in after[model.name] if r[-1] == summary.run_id]
        kept = [r for r in after[model.name] if r[-1] != summary.run_id]
        assert rewritten, model.name
        assert set(kept) <= set(before[model.name]), model.name
        if model.scope == "meter_days":
            columns = _columns(loaded.db_path, model.relation)
            meter, day = columns.index("meter_uid"), columns.index("local_date")
            for row in rewritten:
                first, last = scope[row[meter]]
                assert first <= row[day] <= last, (model.name, row)
    bills = {r[0] for r in after["bill_reconciliation"] if r[-1] == summary.run_id}
    assert bills == {
        "bill-m-com15-2024-03-08",  # its meter's days were recomputed
        "bill-m-com15-2024-03-12",  # new
        "bill-m-gas-2024-01-13",  # new, though the gas meter had no new readings
    }
    assert summary.bills_in_scope == 3

    _assert_grains_unique(loaded.db_path)
    incremental = snapshot(loaded.db_path)
    rebuilt = transforms.run(loaded.db_path, full_refresh=True)
    assert rebuilt.mode == "full"
    assert snapshot(loaded.db_path) == incremental


def test_incremental_result_matches_the_rules(loaded: RawLoader) -> None:
    """The re-fetched Jan 8 object replaced its earlier rows: doubled values, no leftovers."""
    loaded.load(world.second_load_intervals(), world.second_load_bills())
    transforms.run(loaded.db_path)
    conn = duckdb.connect(str(loaded.db_path), read_only=True)
    [day] = conn.execute(
        "select kwh, slots_present, slots_expected from analytics.meter_daily_usage "
        "where meter_uid = ? and local_date = ?",
        [world.MIXED, date(2024, 1, 8)],
    ).fetchall()
    jan_8 = [r for r in world.mixed() if r["start"].startswith("2024-01-08")]
    assert day[0] == pytest.approx(2 * sum(r["datapoints"][0]["value"] for r in jan_8), abs=1e-9)
    assert day[1:] == (92, 96)
    gap_days = conn.execute(
        "select local_date, slots_present, slots_missing from analytics.meter_daily_usage "
        "where meter_uid = ? and local_date > ? order by local_date",
        [world.COMMERCIAL, date(2024, 3, 12)],
    ).fetchall()
    assert gap_days == [
        (date(2024, 3, 13), 0, 96),
        (date(2024, 3, 14), 0, 96),
        (date(2024, 3, 15), 0, 96),
        (date(2024, 3, 16), 96, 0),
    ]
    conn.close()


def test_running_again_without_a_load_changes_nothing(loaded: RawLoader) -> None:
    before = snapshot(loaded.db_path, with_run_ids=True)
    summary = transforms.run(loaded.db_path)
    assert (summary.mode, summary.meter_days, summary.bills_in_scope) == ("noop", [], 0)
    assert summary.models == []
    assert snapshot(loaded.db_path, with_run_ids=True) == before

    loaded.load(world.second_load_intervals(), world.second_load_bills())
    transforms.run(loaded.db_path)
    after_load = snapshot(loaded.db_path, with_run_ids=True)
    assert transforms.run(loaded.db_path).mode == "noop"
    assert snapshot(loaded.db_path, with_run_ids=True) == after_load


def test_full_rebuild_is_repeatable(loaded: RawLoader) -> None:
    first = snapshot(loaded.db_path)
    transforms.run(loaded.db_path, full_refresh=True)
    assert snapshot(loaded.db_path) == first


def test_reloading_the_same_objects_gives_the_same_tables(loaded: RawLoader) -> None:
    """A load that re-fetches what is already there is new rows to the runner, same result."""
    before = snapshot(loaded.db_path)
    loaded.load([o for o in world.initial_intervals() if o["meter_uid"] == world.GAS])
    summary = transforms.run(loaded.db_path)
    assert summary.mode == "incremental" and summary.meters == [world.GAS]
    assert snapshot(loaded.db_path) == before


def test_changed_models_force_a_full_rebuild(loaded: RawLoader, tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    for model in load_models():
        target = models_dir / model.layer / model.path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(model.sql + "\n-- an edit\n")
    summary = transforms.run(loaded.db_path, models_dir=models_dir)
    assert (summary.mode, summary.reason) == ("full", "models changed since the last run")


def _assert_grains_unique(db: Path) -> None:
    conn = duckdb.connect(str(db), read_only=True)
    for model in TABLES:
        key = ", ".join(model.unique_key)
        duplicates = conn.execute(
            f"select {key} from {model.relation} group by {key} having count(*) > 1"
        ).fetchall()
        assert duplicates == [], model.name
    conn.close()


def _columns(db: Path, relation: str) -> list[str]:
    conn = duckdb.connect(str(db), read_only=True)
    names = [d[0] for d in conn.execute(f"select * from {relation} limit 0").description]
    conn.close()
    return names
