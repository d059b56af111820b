"""Which tables and columns the warehouse has, so readers can leave out what is missing.

The analytics tables change between versions (columns such as `time_zone` or `slots_flagged`
appear, `is_estimated` goes); a report built on an older or newer database says a section's
data is not available instead of failing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from . import queries
from .warehouse import Warehouse


@dataclass(frozen=True)
class Catalog:
    """Columns of each table, by `schema.table` (lower case)."""

    raw_schema: str
    tables: dict[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def read(cls, warehouse: Warehouse, raw_schema: str) -> Catalog:
        result = warehouse.query(queries.catalog((raw_schema, queries.ANALYTICS)))
        columns: dict[str, set[str]] = {}
        for schema, table, column in result.rows:
            columns.setdefault(f"{schema}.{table}".lower(), set()).add(str(column).lower())
        return cls(raw_schema, {name: frozenset(found) for name, found in columns.items()})

    def has(self, table: str, *columns: str) -> bool:
        """Whether `table` (`schema.table`) exists with every one of `columns`."""
        found = self.tables.get(table.lower())
        return found is not None and all(column.lower() in found for column in columns)

    def missing(self, table: str, columns: Iterable[str]) -> list[str]:
        """What of `table` and `columns` is absent, as names a reader recognises."""
        found = self.tables.get(table.lower())
        if found is None:
            return [table]
        return [f"{table}.{column}" for column in columns if column.lower() not in found]

    def raw(self, table: str) -> str:
        return f"{self.raw_schema}.{table}"
