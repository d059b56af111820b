"""Whole-warehouse snapshots for comparing a load against a clean run's, row for row."""

from __future__ import annotations

from pathlib import Path

import duckdb

SCHEMAS = ("utilityapi", "analytics")
FLOAT_DECIMALS = 6
FLOATS = {"DOUBLE", "FLOAT", "REAL"}
# Columns that differ between two loads of the same data by design: dlt's load and row ids,
# the transform run that wrote a row, and when meter access was checked (the run's clock).
VOLATILE = {
    "_dlt_load_id",
    "_dlt_id",
    "_dlt_parent_id",
    "_dlt_root_id",
    "_transform_run_id",
    "checked_at",
}
# The transforms' run bookkeeping: which loads each run took in and the meter-days it
# recomputed. They name load ids and runs, so two loads of the same data differ there by design.
BOOKKEEPING = {
    "analytics.int_loads_pending",
    "analytics.int_loads_processed",
    "analytics.int_meter_days_in_scope",
}


def snapshot(db: Path) -> dict[str, list[tuple]]:
    """Every data table of the raw and analytics schemas, and every view but the staging ones
    (meter_intervals is one), volatile columns left out, sorted.

    Bookkeeping tables (dlt's `_dlt_*`, the transforms' `_*` and BOOKKEEPING) are not data and
    are skipped.
    """
    tables: dict[str, list[tuple]] = {}
    with duckdb.connect(str(db), read_only=True) as con:
        found = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in (select unnest(?::varchar[])) "
            "and (table_type = 'BASE TABLE' or not starts_with(table_name, 'stg_')) "
            "and not starts_with(table_name, '_') order by all",
            [list(SCHEMAS)],
        ).fetchall()
        for schema, table in found:
            if f"{schema}.{table}" in BOOKKEEPING:
                continue
            columns = [
                (name, kind)
                for name, kind in con.execute(
                    "select column_name, data_type from information_schema.columns "
                    "where table_schema = ? and table_name = ? order by ordinal_position",
                    [schema, table],
                ).fetchall()
                if name not in VOLATILE
            ]
            # Sums come out of a parallel aggregation in any order, so their last bits vary
            # between two builds of the same rows; values are published to 3 decimals.
            select = ", ".join(
                f'round("{name}", {FLOAT_DECIMALS})' if kind in FLOATS else f'"{name}"'
                for name, kind in columns
            )
            # sorted by the database: the same rows give the same list, duplicates kept
            rows = con.execute(f'select {select} from "{schema}"."{table}" order by all')
            tables[f"{schema}.{table}"] = rows.fetchall()
    return tables


def differences(actual: dict[str, list[tuple]], expected: dict[str, list[tuple]]) -> list[str]:
    """One line per table that differs: rows missing, extra (duplicates count as extra)."""
    lines = []
    for table in sorted(set(actual) | set(expected)):
        got, want = actual.get(table), expected.get(table)
        if got == want:
            continue
        if got is None or want is None:
            lines.append(f"{table}: {'missing' if got is None else 'unexpected'} table")
            continue
        missing = _multiset_minus(want, got)
        extra = _multiset_minus(got, want)
        lines.append(f"{table}: {len(missing)} rows missing, {len(extra)} extra")
    return lines


def _multiset_minus(left: list[tuple], right: list[tuple]) -> list[tuple]:
    from collections import Counter

    remaining = Counter(right)
    out = []
    for row in left:
        if remaining[row]:
            remaining[row] -= 1
        else:
            out.append(row)
    return out
