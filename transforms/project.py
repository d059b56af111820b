"""The SQL models on disk: their headers, their dependencies and the order to build them in."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from graphlib import TopologicalSorter
from pathlib import Path

import sqlglot
from sqlglot import exp

MODELS_DIR = Path(__file__).parent / "models"
LAYERS = ("staging", "intermediate", "marts")
TARGET_SCHEMA = "analytics"
SOURCE_SCHEMA = "utilityapi"
SCOPES = ("meter_days", "bills")

_HEADER = re.compile(r"^--\s*(grain|unique_key|materialized):\s*(.*)$")
_MATERIALIZED = re.compile(r"^(view|incremental \(scope: (\w+)\))$")


class ModelError(ValueError):
    """A model file breaks the header or dependency rules; fix the file."""


@dataclass(frozen=True)
class Model:
    """One SQL file: a select statement plus the header lines that say how to build it."""

    name: str
    layer: str
    path: Path
    sql: str
    grain: str
    unique_key: tuple[str, ...]
    materialized: str  # "view" or "incremental"
    scope: str | None  # for incremental models: which scope table limits a run
    depends_on: tuple[str, ...]  # other models
    sources: tuple[str, ...]  # raw tables in SOURCE_SCHEMA

    @property
    def relation(self) -> str:
        return f"{TARGET_SCHEMA}.{self.name}"


def load_models(models_dir: Path = MODELS_DIR) -> list[Model]:
    """Every model under models_dir, in an order where each comes after what it reads."""
    models = {}
    for layer in LAYERS:
        for path in sorted((models_dir / layer).glob("*.sql")):
            model = _parse(path, layer)
            if model.name in models:
                raise ModelError(f"two models are named {model.name}")
            models[model.name] = model
    for model in models.values():
        unknown = set(model.depends_on) - set(models)
        if unknown:
            raise ModelError(f"{model.name} reads unknown models: {', '.join(sorted(unknown))}")
    sorter = TopologicalSorter({name: sorted(models[name].depends_on) for name in sorted(models)})
    return [models[name] for name in sorter.static_order()]


def models_hash(models: list[Model]) -> str:
    """A fingerprint of all model SQL: a change to any model forces a full rebuild."""
    digest = hashlib.sha256()
    for model in sorted(models, key=lambda m: m.name):
        digest.update(model.name.encode())
        digest.update(model.sql.encode())
    return digest.hexdigest()[:16]


def _parse(path: Path, layer: str) -> Model:
    sql = path.read_text()
    header = _header(sql)
    missing = {"grain", "unique_key", "materialized"} - set(header)
    if missing:
        raise ModelError(f"{path.name}: header lacks {', '.join(sorted(missing))}")
    match = _MATERIALIZED.match(header["materialized"])
    if not match:
        raise ModelError(f"{path.name}: materialized must be 'view' or 'incremental (scope: ...)'")
    scope = match.group(2)
    if scope is not None and scope not in SCOPES:
        raise ModelError(f"{path.name}: unknown scope {scope}")
    depends_on, sources = _references(sql, path.name)
    return Model(
        name=path.stem,
        layer=layer,
        path=path,
        sql=sql,
        grain=header["grain"],
        unique_key=tuple(k.strip() for k in header["unique_key"].split(",")),
        materialized="view" if scope is None else "incremental",
        scope=scope,
        depends_on=depends_on,
        sources=sources,
    )


def _header(sql: str) -> dict[str, str]:
    header: dict[str, str] = {}
    last = None
    for line in sql.splitlines():
        if not line.startswith("--"):
            break
        match = _HEADER.match(line)
        if match:
            last = match.group(1)
            header[last] = match.group(2).strip()
        elif last is not None:
            header[last] += " " + line.lstrip("-").strip()
    return header


def _references(sql: str, filename: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError as error:
        raise ModelError(f"{filename}: {error}") from error
    models, sources = set(), set()
    for table in tree.find_all(exp.Table):
        if table.db == TARGET_SCHEMA and not table.name.startswith("_"):
            models.add(table.name)
        elif table.db == SOURCE_SCHEMA:
            sources.add(table.name)
    return tuple(sorted(models)), tuple(sorted(sources))
