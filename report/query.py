"""`uapi query` output: an aligned table for people, CSV or JSON for programs."""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from .warehouse import Result

FORMATS = ("table", "csv", "json")
# Table cells show floats to this many decimals (CSV and JSON keep every digit).
TABLE_DECIMALS = 6


def format_result(result: Result, fmt: str) -> str:
    """The result as text in `fmt` (one of FORMATS), ending with a newline."""
    if fmt == "csv":
        return _csv(result)
    if fmt == "json":
        return _json(result)
    return _table(result)


def _table(result: Result) -> str:
    if not result.columns:
        return "(statement ran; it returns no rows)\n"
    cells = [[_cell(value) for value in row] for row in result.rows]
    numeric = [
        all(isinstance(row[i], int | float | Decimal) for row in result.rows if row[i] is not None)
        for i in range(len(result.columns))
    ]
    widths = [
        max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(result.columns)
    ]

    def line(values: list[str]) -> str:
        return "  ".join(
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric, strict=True)
        ).rstrip()

    lines = [line(list(result.columns)), line(["-" * width for width in widths])]
    lines += [line(row) for row in cells]
    count = len(result.rows)
    lines.append(f"({count} row{'' if count == 1 else 's'})")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return repr(round(value, TABLE_DECIMALS))
    if isinstance(value, datetime | date | time):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    return str(value)


def _csv(result: Result) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow(["" if value is None else _plain(value) for value in row])
    return out.getvalue()


def _json(result: Result) -> str:
    records = [
        {name: _jsonable(value) for name, value in zip(result.columns, row, strict=True)}
        for row in result.rows
    ]
    return json.dumps(records, indent=2, ensure_ascii=False) + "\n"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinity
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)
