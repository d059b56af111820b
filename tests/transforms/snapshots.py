"""The analytics tables as comparable values, on DuckDB or through any dlt sql client."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import dlt

MARTS = (
    "meter_intervals",
    "int_longer_reading_intervals",
    "meter_intervals_15min",
    "meter_daily_usage",
    "bill_reconciliation",
    "meter_time_zones",
    "meter_hourly_usage",
    "meter_monthly_peaks",
    "meter_daily_solar",
)
# where the rows of each model lie, for checking what an incremental run rewrote
METER_DAY_MODELS = {
    "meter_intervals": "local_date",
    "meter_intervals_15min": "local_date",
    "meter_daily_usage": "local_date",
    "meter_hourly_usage": "local_date",
    "meter_daily_solar": "local_date",
}


def table(pipeline: dlt.Pipeline, name: str, schema: str = "analytics") -> list[dict[str, Any]]:
    """Every row of a table, values made comparable across warehouses, in a stable order."""
    with pipeline.sql_client() as client, client.with_alternative_dataset_name(schema):
        with client.execute_query(
            f"select * from {client.make_qualified_table_name(name)}"
        ) as cursor:
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, map(_plain, row), strict=True)) for row in cursor.fetchall()]
    return sorted(rows, key=lambda row: repr(sorted(row.items())))


def tables(pipeline: dlt.Pipeline, names: tuple[str, ...] = MARTS) -> dict[str, list[dict]]:
    return {name: table(pipeline, name) for name in names}


def rounded(rows: list[dict[str, Any]], digits: int = 9) -> list[dict[str, Any]]:
    """Floats rounded past summation-order noise (warehouses add in parallel, in no order)."""
    return sorted(
        (
            {k: round(v, digits) if isinstance(v, float) else v for k, v in row.items()}
            for row in rows
        ),
        key=lambda row: repr(sorted(row.items())),
    )


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    return value
