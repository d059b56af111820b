"""The model files themselves: headers, dependencies, portability, grain."""

from __future__ import annotations

import sqlglot
from sqlglot.errors import ErrorLevel

from transforms.project import load_models

MODELS = load_models()


def test_every_model_states_its_grain_and_key() -> None:
    assert {m.layer for m in MODELS} == {"staging", "intermediate", "marts"}
    for model in MODELS:
        assert model.grain.startswith("one row per"), model.name
        assert model.unique_key and all(model.unique_key), model.name
        prefix = {"staging": "stg_", "intermediate": "int_"}.get(model.layer)
        assert prefix is None or model.name.startswith(prefix), model.name


def test_models_come_after_what_they_read() -> None:
    seen: set[str] = set()
    for model in MODELS:
        assert set(model.depends_on) <= seen, model.name
        seen.add(model.name)


def test_every_model_transpiles_to_postgres() -> None:
    for model in MODELS:
        [postgres] = sqlglot.transpile(
            model.sql, read="duckdb", write="postgres", unsupported_level=ErrorLevel.RAISE
        )
        # and Postgres' own parser in sqlglot reads the result back
        assert sqlglot.parse_one(postgres, read="postgres") is not None, model.name


def test_each_model_grain_is_unique(world_conn, rows) -> None:
    for model in MODELS:
        key = ", ".join(model.unique_key)
        duplicates = rows(
            world_conn,
            f"select {key}, count(*) as n from {model.relation} group by {key} having count(*) > 1",
        )
        total = rows(world_conn, f"select count(*) as n from {model.relation}")[0]["n"]
        assert total > 0, model.name
        assert duplicates == [], model.name
