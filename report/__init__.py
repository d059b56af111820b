"""What analysts read: the `uapi report` HTML page and the `uapi query` command.

Modules:
    warehouse.py  read-only connections (a DuckDB file, or any dlt destination's SQL client)
    catalog.py    which tables and columns the warehouse has
    queries.py    every SQL statement the report runs
    data.py       the report's content as records; sections whose data is missing say so
    quality.py    the account page's data-quality summary
    charts.py     Plotly figures
    page.py       one self-contained HTML file (Plotly's JavaScript embedded)
    query.py      `uapi query` output: table, CSV or JSON
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .catalog import Catalog
from .data import Account, UnknownMeters, read_account
from .page import render
from .warehouse import (
    QueryFailed,
    Warehouse,
    WarehouseBusy,
    WarehouseError,
    WarehouseMissing,
    open_warehouse,
)

__all__ = [
    "QueryFailed",
    "ReportSummary",
    "UnknownMeters",
    "WarehouseBusy",
    "WarehouseError",
    "WarehouseMissing",
    "build_report",
    "open_warehouse",
    "write_report",
]

DEFAULT_OUT = Path("data/report.html")


@dataclass(frozen=True)
class ReportSummary:
    path: Path
    meters: int
    meters_with_data: int
    bytes: int


def build_report(
    warehouse: Warehouse,
    *,
    raw_schema: str,
    source: str,
    meter_uids: Sequence[str] | None = None,
    generated_at: datetime | None = None,
) -> tuple[str, Account]:
    """The report's HTML and the content it shows."""
    catalog = Catalog.read(warehouse, raw_schema)
    account = read_account(warehouse, catalog, meter_uids)
    page = render(account, source=source, generated_at=generated_at or datetime.now(UTC))
    return page, account


def write_report(page: str, account: Account, out: Path) -> ReportSummary:
    """Write the page to `out` whole: a reader never sees half a report."""
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(page)
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return ReportSummary(
        path=out,
        meters=len(account.meters),
        meters_with_data=len(account.meter_data),
        bytes=out.stat().st_size,
    )
