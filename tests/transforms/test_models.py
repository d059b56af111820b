"""The dbt project itself: every model and column documented (the data dictionary), every
grain tested, raw tables read only through source(), warehouse SQL only in dispatch macros."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

import transforms
from tests.transforms.conftest import fetch

PROJECT = transforms.PROJECT_DIR
LAYERS = ("staging", "intermediate", "marts")


def _documented() -> dict[str, dict]:
    models = {}
    for layer in LAYERS:
        for entry in yaml.safe_load((PROJECT / "models" / layer / "schema.yml").read_text())[
            "models"
        ]:
            models[entry["name"]] = {**entry, "layer": layer}
    return models


def _sql_files() -> dict[str, Path]:
    return {p.stem: p for layer in LAYERS for p in (PROJECT / "models" / layer).glob("*.sql")}


def _ephemeral() -> set[str]:
    """Models inlined where they are selected from: no table, so nothing to test on their own."""
    return {
        name
        for name, path in _sql_files().items()
        if re.search(r"materialized\s*=\s*'ephemeral'", path.read_text())
    }


def test_every_model_is_documented_with_its_grain_and_a_unique_grain_test() -> None:
    documented = _documented()
    assert set(documented) == set(_sql_files())
    ephemeral = _ephemeral()
    for name, model in documented.items():
        assert model["description"].strip().startswith("One row per"), name
        tests = model.get("data_tests", [])
        if name in ephemeral:
            # a test would compute the whole model again: the model it is inlined into is tested
            assert not tests and "Ephemeral" in model["description"], name
            assert not any(c.get("data_tests") for c in model["columns"]), name
        else:
            assert any("unique_combination" in t for t in tests if isinstance(t, dict)), name
        prefix = {"staging": "stg_", "intermediate": "int_"}.get(model["layer"])
        assert prefix is None or name.startswith(prefix), name


def test_every_column_built_is_described(world_conn) -> None:
    ephemeral = _ephemeral()
    assert ephemeral == {"int_slots_resolved"}
    for name, model in _documented().items():
        if name in ephemeral:
            continue
        described = {c["name"]: c.get("description", "") for c in model["columns"]}
        built = [
            r["column_name"]
            for r in fetch(
                world_conn,
                "select column_name from information_schema.columns "
                "where table_schema = 'analytics' and table_name = ? order by ordinal_position",
                name,
            )
        ]
        assert built, name
        assert set(built) == set(described), name
        assert all(described[c].strip() for c in built), name


def test_descriptions_are_comments_in_the_warehouse(world_conn) -> None:
    """Every model's and seed's description, and each of its columns', is the comment of its
    table or view (persist_docs, written by macros/persist_docs.sql on DuckDB)."""
    seeds = yaml.safe_load((PROJECT / "seeds" / "_seeds.yml").read_text())["seeds"]
    documented = {**_documented(), **{seed["name"]: seed for seed in seeds}}
    ephemeral = _ephemeral()
    relations = dict(
        world_conn.execute(
            "select table_name, comment from duckdb_tables() where schema_name = 'analytics' "
            "union all "
            "select view_name, comment from duckdb_views() where schema_name = 'analytics'"
        ).fetchall()
    )
    columns = {
        (table, column): comment
        for table, column, comment in world_conn.execute(
            "select table_name, column_name, comment from duckdb_columns() "
            "where schema_name = 'analytics'"
        ).fetchall()
    }
    for name, entry in documented.items():
        if name in ephemeral:
            continue
        assert (relations[name] or "").strip() == entry["description"].strip(), name
        for column in entry["columns"]:
            comment = columns[(name, column["name"])]
            assert (comment or "").strip() == column["description"].strip(), (name, column)
    [(comment,)] = world_conn.execute(
        "select comment from duckdb_columns() where schema_name = 'analytics' "
        "and table_name = 'meter_daily_usage' and column_name = 'slots_expected'"
    ).fetchall()
    assert "92 on spring-forward" in comment


def test_raw_tables_only_through_source_and_models_only_through_ref() -> None:
    for name, path in _sql_files().items():
        sql = path.read_text()
        assert not re.search(r"\butilityapi\.\w+", sql), name
        assert not re.search(r"\banalytics\.\w+", sql), name


def test_warehouse_specific_sql_lives_in_dispatch_macros() -> None:
    """The models spell no function that differs between warehouses; macros/ does, each
    with a default__ version."""
    specific = re.compile(
        r"\b(extract\s*\(\s*epoch|at time zone|generate_series|timezone\(|interval '|"
        r"strftime|date_diff|datediff|filter\s*\(where|qualify|epoch_ms)",
        re.IGNORECASE,
    )
    for path in [*_sql_files().values(), *(PROJECT / "tests").glob("*.sql")]:
        assert not specific.search(path.read_text()), path.name
    macros = (PROJECT / "macros" / "warehouse_sql.sql").read_text()
    for dispatched in re.findall(r"adapter\.dispatch\('(\w+)'", macros):
        assert f"macro default__{dispatched}(" in macros, dispatched
